"""Data: DATA of the MS from the corruption model, the SYSCAL subtable, a solar-system body's model.

:func:`write_data` computes DATA with numpy (model: ``truth`` module, ``_MODEL_TEXT``): gains,
bandpasses, Tsys from ATM, the phase of the turbulent wet-path screen and of the
antenna-position errors, complex gaussian noise; autocorrelations carry the total power; WVR rows
the WVR sky brightness. :func:`write_syscal` creates a SYSCAL subtable with per-antenna Tsys
spectra of the TDM spws at the times of the ATMOSPHERE scans and links it to the MS.
:func:`solar_system_model` gives a solar-system flux calibrator's visibilities: CASA's setjy
Butler-JPL-Horizons 2012 model; :func:`offset_source_model` the visibility of a point source off
the phase centre (CASA's ft of a component list). CH_AVG windows get the channel average of their
FULL_RES window's DATA.
"""

import os
import shutil

import numpy as np

from almasim.corruptions import PHASE_SIGN, C, channel_noise_sigma, excess_path
from almasim.setup import line_profile

AUTO_REF_K = 100.0  # autocorrelation DATA = gains * total power / AUTO_REF_K


# rows of one spw computed and written at a time: at most this many visibilities (npol x nchan x
# rows), so that the simulator's memory stays bounded for EBs of many GB (the demo's spws fit
# in one chunk)
CHUNK_VISIBILITIES = 2**24


def row_chunks(nrow: int, per_row: int) -> list[tuple[int, int]]:
    """(start, count) of consecutive row chunks of at most CHUNK_VISIBILITIES visibilities."""
    step = max(1, CHUNK_VISIBILITIES // max(1, per_row))
    return [(start, min(step, nrow - start)) for start in range(0, nrow, step)]


def write_data(setup: dict, model: dict, ms: str) -> None:
    """Write DATA/FLAG/WEIGHT/SIGMA from the corruption model (rows grouped by spw, in chunks)."""
    from casatools import table

    tb = table()
    tb.open(ms, nomodify=False)
    for s in (setup["spws"][w] for w in setup["corr_spws"]):
        sub = tb.query(f"DATA_DESC_ID=={s['id']}")
        path = excess_path(setup, model, s["id"])  # [ant, time, chan]
        for start, nrow in row_chunks(sub.nrows(), setup["npol"] * s["nchan"]):
            data = _chunk_data(setup, model, s, path, sub, start, nrow)
            sub.putcol("DATA", data, startrow=start, nrow=nrow)
            sub.putcol("FLAG", np.zeros(data.shape, bool), startrow=start, nrow=nrow)
            weight = np.ones((setup["npol"], nrow), np.float32)
            sub.putcol("WEIGHT", weight, startrow=start, nrow=nrow)
            sub.putcol("SIGMA", weight, startrow=start, nrow=nrow)
            sub.putcol("FLAG_ROW", np.zeros(nrow, bool), startrow=start, nrow=nrow)
            if s["id"] in setup.get("ch_avg", {}):
                _write_ch_avg(tb, setup["ch_avg"][s["id"]], sub, start, data)
        sub.close()
    if setup["wvr_spw"] is not None:
        # WVR: sky brightness temperatures (K) in the real part, one correlation, autocorrelations
        # (zero cross-correlations: removed after the export)
        sub = tb.query(f"DATA_DESC_ID=={setup['wvr_spw']}")
        a1, a2 = sub.getcol("ANTENNA1"), sub.getcol("ANTENNA2")
        ti = _time_index(setup["times"], sub.getcol("TIME"))
        tobs = np.where(
            (a1 == a2)[None, None, :], model["wvr"]["tobs"][a1, ti, :].T[None, :, :], 0.0
        )
        nrow = sub.nrows()
        sub.putcol("DATA", tobs.astype(np.complex64))
        sub.putcol("FLAG", np.zeros(tobs.shape, bool))
        sub.putcol("WEIGHT", np.ones((1, nrow), np.float32))
        sub.putcol("SIGMA", np.ones((1, nrow), np.float32))
        sub.putcol("FLAG_ROW", np.zeros(nrow, bool))
        sub.close()
    tb.close()


def _chunk_data(
    setup: dict, model: dict, s: dict, path: np.ndarray, sub, start: int, nrow: int
) -> np.ndarray:
    """DATA [pol, chan, row] of rows start..start+nrow of spw ``s`` (the query ``sub``); ``path``
    the excess path [ant, time, chan] of the spw."""
    t = sub.getcol("TIME", startrow=start, nrow=nrow)
    a1 = sub.getcol("ANTENNA1", startrow=start, nrow=nrow)
    a2 = sub.getcol("ANTENNA2", startrow=start, nrow=nrow)
    f = sub.getcol("FIELD_ID", startrow=start, nrow=nrow)
    rows = slice(start, start + nrow)
    ti = _time_index(setup["times"], t)
    g = model["gains"]  # [ant, pol, time]
    B = model["bandpass"][s["id"]]["B"]  # [ant, pol, chan]
    g1 = g[a1, :, ti].T[:, None, :]  # [pol, 1, row]
    g2 = g[a2, :, ti].T[:, None, :]
    B1 = np.transpose(B[a1], (1, 2, 0))  # [pol, chan, row]
    B2 = np.transpose(B[a2], (1, 2, 0))
    dpath = (path[a1, ti, :] - path[a2, ti, :]).T  # [chan, row]
    atmph = np.exp(1j * PHASE_SIGN * 2 * np.pi * s["freqs"][:, None] / C * dpath)[None, :, :]
    flux = np.zeros((s["nchan"], nrow))
    tline = np.zeros((s["nchan"], nrow))
    tsys1 = np.zeros((setup["npol"], s["nchan"], nrow))
    tsys2 = np.zeros_like(tsys1)
    for fld in setup["fields"]:
        sel = f == fld["id"]
        if not sel.any():
            continue
        if fld.get("model"):  # solar-system body: resolved disc, per baseline and channel
            flux[:, sel] = model["sso_vis"][s["id"]][:, rows][:, sel]
        elif fld.get("position_offset_arcsec"):  # point source off the phase centre
            if not np.iscomplexobj(flux):
                flux = flux.astype(complex)
            flux[:, sel] = (
                _field_flux(setup, fld, s)[:, None] * model["offset_vis"][s["id"]][:, rows][:, sel]
            )
        else:
            flux[:, sel] = _field_flux(setup, fld, s)[:, None]
        if s["type"] == "FDM":  # the ATMOSPHERE scans (TDM) do not see the extended line
            tline[:, sel] = _field_line_temperature(fld, s)[:, None]
        ts = model["tsys"][fld["id"]][s["id"]]  # [ant, pol, chan]
        tsys1[:, :, sel] = np.transpose(ts[a1[sel]], (1, 2, 0))
        tsys2[:, :, sel] = np.transpose(ts[a2[sel]], (1, 2, 0))
    shape = (setup["npol"], s["nchan"], nrow)
    sigma = channel_noise_sigma(setup, model, s)
    noise = sigma * (model["rng"].standard_normal(shape) + 1j * model["rng"].standard_normal(shape))
    if setup.get("noise_factor") is not None:  # dishes of two sizes (12 m and 7 m)
        noise = noise * (setup["noise_factor"][a1] * setup["noise_factor"][a2])[None, None, :]
    # the correlator normalises by the total power, which includes the extended line
    power1, power2 = tsys1 + tline[None], tsys2 + tline[None]
    cross = (
        g1
        * np.conj(g2)
        * B1
        * np.conj(B2)
        * atmph
        * (flux[None, :, :] + noise)
        / np.sqrt(power1 * power2)
    )
    auto = (np.abs(g1) ** 2 * np.abs(B1) ** 2 * power1 / AUTO_REF_K).astype(complex)
    is_auto = (a1 == a2)[None, None, :]
    return np.where(is_auto, auto, cross).astype(np.complex64)


def _write_ch_avg(tb, twin: int, full, start: int, data: np.ndarray) -> None:
    """The 1-channel CH_AVG twin of a FULL_RES window: the channel average of its DATA, rows
    start..start+nrow (the same rows: same scans, times and baselines)."""
    npol, _, nrow = data.shape
    sub = tb.query(f"DATA_DESC_ID=={twin}")
    if not all(
        np.array_equal(
            sub.getcol(col, startrow=start, nrow=nrow), full.getcol(col, startrow=start, nrow=nrow)
        )
        for col in ("TIME", "ANTENNA1", "ANTENNA2")
    ):
        raise RuntimeError(f"CH_AVG spw {twin}: rows differ from its FULL_RES window")
    avg = data.astype(np.complex128).mean(axis=1, keepdims=True).astype(np.complex64)
    sub.putcol("DATA", avg, startrow=start, nrow=nrow)
    sub.putcol("FLAG", np.zeros(avg.shape, bool), startrow=start, nrow=nrow)
    sub.putcol("WEIGHT", np.ones((npol, nrow), np.float32), startrow=start, nrow=nrow)
    sub.putcol("SIGMA", np.ones((npol, nrow), np.float32), startrow=start, nrow=nrow)
    sub.putcol("FLAG_ROW", np.zeros(nrow, bool), startrow=start, nrow=nrow)
    sub.close()


def offset_source_model(setup: dict, ms: str) -> dict:
    """Visibility of a 1 Jy point source at each offset field's true position (its phase centre
    moved by position_offset_arcsec), predicted by CASA (ft of a component list, exact DFT, on
    the MS's UVW): per correlator spw the complex [chan, row] of the spw's rows (1 elsewhere).
    MODEL_DATA is removed again (exportasdm must not see it)."""
    from casatasks import ft
    from casatools import componentlist, measures, table

    from almasim.setup import offset_direction

    offset = [f for f in setup["fields"] if f.get("position_offset_arcsec")]
    if not offset:
        return {}
    me = measures()
    for f in offset:
        ra, dec = offset_direction(f["ra"], f["dec"], f["position_offset_arcsec"])
        path = os.path.join(os.path.dirname(os.path.abspath(ms)), f"offset_field{f['id']}.cl")
        shutil.rmtree(path, ignore_errors=True)
        cl = componentlist()
        cl.addcomponent(
            dir=me.direction("J2000", ra, dec),
            flux=1.0,
            fluxunit="Jy",
            freq=f"{setup['nu0']}Hz",
            shape="point",
            spectrumtype="constant",
        )
        cl.rename(path)
        cl.close()
        cl.done()
        spw = ",".join(str(w) for w in setup["corr_spws"])
        ft(vis=ms, field=str(f["id"]), spw=spw, complist=path, usescratch=True)
    me.done()
    tb = table()
    tb.open(ms, nomodify=False)
    vis = {}
    for w in setup["corr_spws"]:
        sub = tb.query(f"DATA_DESC_ID=={w}")
        model_data = sub.getcol("MODEL_DATA")  # [pol, chan, row]; unpolarised: XX = YY = I
        rows = np.isin(sub.getcol("FIELD_ID"), [f["id"] for f in offset])
        vis[w] = np.where(rows[None, :], model_data[0], 1.0 + 0.0j)
        if np.any(np.abs(np.abs(vis[w][:, rows]) - 1.0) > 1e-5):
            raise RuntimeError(f"ft: offset point-source model of spw {w} is not of unit amplitude")
        sub.close()
    tb.removecols(["MODEL_DATA"])
    tb.close()
    return vis


def _field_flux(setup: dict, fld: dict, s: dict) -> np.ndarray:
    """S_f(nu) in Jy at the channels of spw ``s``: continuum plus the compact part of the line."""
    cont = fld["flux_jy"] * (s["freqs"] / setup["nu0"]) ** fld["spix"]
    line = fld["line"]
    return cont + (0.0 if line is None else line["flux_jy"] * line_profile(line, s["freqs"]))


def _field_line_temperature(fld: dict, s: dict) -> np.ndarray:
    """Antenna temperature (K) of the field's extended line at the channels of spw ``s``."""
    line = fld["line"]
    return (
        np.zeros_like(s["freqs"])
        if line is None
        else line["antenna_temperature_k"] * line_profile(line, s["freqs"])
    )


def solar_system_model(setup: dict, ms: str) -> tuple[dict, dict]:
    """Visibilities of a solar-system flux calibrator: CASA's setjy Butler-JPL-Horizons 2012
    model (resolved disc from the shipped ephemeris and brightness model) on the simulated MS.
    Returns per spw the real model [chan, row] of the spw's rows (0 for other fields) and the
    zero-spacing flux density per spw; MODEL_DATA is removed again (exportasdm must not see it)."""
    from casatasks import setjy
    from casatools import table

    bodies = [f for f in setup["fields"] if f.get("model")]
    if not bodies:
        return {}, {}
    vis, fluxes = {}, {}
    for f in bodies:
        result = setjy(vis=ms, field=f["name"], standard=f["model"], usescratch=True)
        if not result or str(f["id"]) not in result:
            raise RuntimeError(f"setjy({f['model']}) gave no model for {f['name']}: {result}")
        fluxes[f["name"]] = {
            str(spw): float(v["fluxd"][0])
            for spw, v in result[str(f["id"])].items()
            if spw.isdigit()
        }
    tb = table()
    tb.open(ms, nomodify=False)
    for w in setup["corr_spws"]:
        sub = tb.query(f"DATA_DESC_ID=={w}")
        model_data = sub.getcol("MODEL_DATA")  # [pol, chan, row]
        sso_rows = np.isin(sub.getcol("FIELD_ID"), [f["id"] for f in bodies])
        vis[w] = np.where(sso_rows[None, :], model_data[0].real, 0.0)
        sub.close()
    tb.removecols(["MODEL_DATA"])
    tb.close()
    return vis, fluxes


def _time_index(times_all: np.ndarray, t: np.ndarray) -> np.ndarray:
    ti = np.clip(np.searchsorted(times_all, t - 1e-3), 0, len(times_all) - 1)
    if np.max(np.abs(times_all[ti] - t)) > 1e-3:
        raise RuntimeError("MS times do not match the scan timeline")
    return ti


def write_syscal(setup: dict, model: dict, ms: str) -> None:
    """Create MS/SYSCAL with Tsys/Trx/Tsky/Tcal spectra of the TDM spws at every atm scan."""
    from casatools import table

    tb = table()
    path = os.path.join(ms, "SYSCAL")

    def col(vtype, comment, ndim=0, units=None, measinfo=None):
        d = {
            "valueType": vtype,
            "dataManagerType": "StandardStMan",
            "dataManagerGroup": "StandardStMan",
            "option": 0,
            "maxlen": 0,
            "comment": comment,
            "keywords": {},
        }
        if ndim:
            d["ndim"] = ndim
        if units:
            d["keywords"]["QuantumUnits"] = np.array(units)
        if measinfo:
            d["keywords"]["MEASINFO"] = measinfo
        return d

    desc = {
        "ANTENNA_ID": col("int", "ID of antenna in this array"),
        "FEED_ID": col("int", "Feed id"),
        "SPECTRAL_WINDOW_ID": col("int", "ID for this spectral window setup"),
        "TIME": col(
            "double",
            "Midpoint of time for which this set of parameters is accurate",
            units=["s"],
            measinfo={"type": "epoch", "Ref": "UTC"},
        ),
        "INTERVAL": col(
            "double", "Interval for which this set of parameters is accurate", units=["s"]
        ),
        "TCAL_FLAG": col("boolean", "Flag for TCAL"),
        "TCAL_SPECTRUM": col("float", "Calibration temp", ndim=2, units=["K"]),
        "TRX_FLAG": col("boolean", "Flag for TRX"),
        "TRX_SPECTRUM": col("float", "Receiver temperature", ndim=2, units=["K"]),
        "TSKY_FLAG": col("boolean", "Flag for TSKY"),
        "TSKY_SPECTRUM": col("float", "Sky temperature", ndim=2, units=["K"]),
        "TSYS_FLAG": col("boolean", "Flag for TSYS"),
        "TSYS_SPECTRUM": col(
            "float", "System temp. for each of the two receptors", ndim=2, units=["K"]
        ),
    }
    tb.create(path, desc)
    rows = []
    for sc in setup["scans"]:
        if sc["kind"] != "atm":
            continue
        for spw in sc["spws"]:
            if spw == setup["wvr_spw"] or setup["spws"][spw]["ch_avg_of"] is not None:
                continue
            for ia in range(len(setup["antennas"])):
                rows.append((sc, spw, ia))
    tb.addrows(len(rows))
    for r, (sc, spw, ia) in enumerate(rows):
        fid = sc["field_id"]
        tb.putcell("ANTENNA_ID", r, ia)
        tb.putcell("FEED_ID", r, 0)
        tb.putcell("SPECTRAL_WINDOW_ID", r, spw)
        tb.putcell("TIME", r, (sc["start"] + sc["end"]) / 2)
        tb.putcell("INTERVAL", r, sc["end"] - sc["start"])
        ts = model["tsys"][fid][spw][ia].astype(np.float32)
        for name, val in (
            ("TSYS", ts),
            ("TRX", model["trx"][fid][spw][ia].astype(np.float32)),
            ("TSKY", model["tsky"][fid][spw][ia].astype(np.float32)),
            ("TCAL", ts),
        ):
            tb.putcell(f"{name}_SPECTRUM", r, val)
            tb.putcell(f"{name}_FLAG", r, False)
    tb.putinfo({"type": "SysCal", "subType": "", "readme": "simulated by simulate_eb.py"})
    tb.close()
    tb.open(ms, nomodify=False)
    tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(path))
    tb.close()
    setup["n_syscal"] = len(rows)
