"""The MS: an empty MS written by ``casatools.simulator``, repaired to look like an imported ALMA MS.

:func:`simulate_empty_ms` writes the antennas at the positions used online, the spectral windows
(XX/YY; XX for the WVR window), the fields, autocorrelations and one ``observe`` call per scan
and spw. :func:`repair_ms` then makes it look like an imported ALMA MS: rows sorted by time, one
SCAN_NUMBER per scan (1..N) for all its spws, a STATE table with ALMA intents, POLARIZATION rows
XX,YY (correlator) and XX (WVR), no MODEL/CORRECTED columns, SPECTRAL_WINDOW.NAME/BBC_NO, the
WVR window's uneven channels, PROCESSOR rows CORRELATOR and RADIOMETER (WVR rows), and a
POINTING table in AZELGEO (the antennas' azimuth/elevation, as ALMA's; wvrgcal reads it). The
WVR window keeps (zero) cross-correlation rows for exportasdm; :func:`drop_wvr_cross_rows`
removes them after the export, with the WVR rows of antennas without a radiometer (7 m). The
pointings of a mosaic are simulated as fields of distinct names and given their common name
and one SOURCE_ID in repair_ms.
"""

import os
import shutil

import numpy as np

from almasim.setup import DAY_S, mjd_s_to_casa

_CORR_TYPE = {"XX": 9, "XY": 10, "YX": 11, "YY": 12}


def simulate_empty_ms(setup: dict, ms: str) -> None:
    from casatools import measures, simulator

    me = measures()
    sm = simulator()
    p = setup["params"]
    ants = setup["antennas"]
    t0 = setup["scans"][0]["start"]
    if not sm.open(ms):
        raise RuntimeError(f"simulator could not create {ms}")
    try:
        # the MS (and the ASDM) carry the positions used online, which may be in error; the
        # visibilities are computed with the true ones (see corruptions.excess_path)
        pos = [a["itrf_online"] for a in ants]
        sm.setconfig(
            telescopename=p.get("telescope", "ALMA"),
            x=[q[0] for q in pos],
            y=[q[1] for q in pos],
            z=[q[2] for q in pos],
            dishdiameter=[a["dish_m"] for a in ants],
            mount=["ALT-AZ"] * len(ants),
            antname=[a["name"] for a in ants],
            padname=[a["pad"] for a in ants],
            coordsystem="global",
            referencelocation=me.observatory("ALMA"),
        )
        for s in setup["spws"]:
            # WVR: an evenly spaced placeholder; repair_ms writes the real (uneven) channels
            sm.setspwindow(
                spwname=s["name"],
                freq=f"{s['freqs'][0]:.3f}Hz",
                deltafreq=f"{s['width']:.6f}Hz",
                freqresolution=f"{s['width']:.6f}Hz",
                nchannels=s["nchan"],
                stokes=" ".join(s["corr"]),
                refcode="TOPO",
            )
        sm.setfeed(mode="perfect X Y", pol=[""])
        for f in setup["fields"]:
            # (the pointings of a mosaic get their common name in repair_ms)
            sm.setfield(
                sourcename=f["key"], sourcedirection=me.direction("J2000", f["ra"], f["dec"])
            )
        sm.setlimits(shadowlimit=0.001, elevationlimit="3deg")
        sm.setauto(autocorrwt=1.0)
        # The simulator converts the reference epoch to TAI and then writes those seconds as UTC
        # (TIME would be 37 s late): give it the UTC start labelled as TAI.
        sm.settimes(
            integrationtime=f"{setup['tint']}s",
            usehourangle=False,
            referencetime=me.epoch("TAI", mjd_s_to_casa(t0)),
        )
        for sc in setup["scans"]:
            for spw in sc["spws"]:
                ok = sm.observe(
                    sourcename=sc["field_key"],
                    spwname=setup["spws"][spw]["name"],
                    starttime=f"{sc['start'] - t0:.3f}s",
                    stoptime=f"{sc['end'] - t0:.3f}s",
                )
                if not ok:
                    raise RuntimeError(f"simulator observe failed for scan {sc['scan']} spw {spw}")
    finally:
        sm.close()
        sm.done()


def repair_ms(setup: dict, ms: str) -> None:
    from casatools import table

    tb = table()
    wvr = setup["wvr_spw"]
    # sort rows by time (exportasdm assumes it), then data description and baseline. The WVR
    # window keeps its (zero) cross-correlations until after the export (exportasdm needs them)
    sorted_ms = ms + ".sorted"
    tb.open(ms)
    if not np.array_equal(np.unique(tb.getcol("DATA_DESC_ID")), np.arange(len(setup["spws"]))):
        raise RuntimeError("DATA_DESC_ID does not equal spw id")
    q = tb.query("", sortlist="TIME,DATA_DESC_ID,ANTENNA1,ANTENNA2")
    q.copy(sorted_ms, deep=True, valuecopy=True)
    q.close()
    tb.close()
    shutil.rmtree(ms)
    os.rename(sorted_ms, ms)

    tb.open(ms, nomodify=False)
    for col in ("MODEL_DATA", "CORRECTED_DATA"):
        if col in tb.colnames():
            tb.removecols([col])
    times = tb.getcol("TIME")
    ddid = tb.getcol("DATA_DESC_ID")
    fieldcol = tb.getcol("FIELD_ID")
    scan = np.zeros(len(times), dtype=np.int32)
    state = np.zeros(len(times), dtype=np.int32)
    modes = list(dict.fromkeys(s["obs_mode"] for s in setup["scans"]))  # distinct, in order of use
    for sc in setup["scans"]:
        sel = (times > sc["start"]) & (times < sc["end"])
        if not np.all(fieldcol[sel] == sc["field_id"]):
            raise RuntimeError(f"scan {sc['scan']}: simulator rows with the wrong field")
        expected = scan_rows(setup, sc)
        if sel.sum() != expected:
            raise RuntimeError(
                f"scan {sc['scan']}: simulator wrote {sel.sum()} rows, expected {expected} "
                "(elevation or shadow limit?)"
            )
        scan[sel] = sc["scan"]
        state[sel] = modes.index(sc["obs_mode"])
    if np.any(scan == 0):
        raise RuntimeError("simulator rows outside the scan timeline")
    tb.putcol("SCAN_NUMBER", scan)
    tb.putcol("STATE_ID", state)
    # PROCESSOR 0: correlator; 1: the WVRs (flagdata autocorr=True flags only CORRELATOR data)
    tb.putcol("PROCESSOR_ID", np.where(ddid == (-1 if wvr is None else wvr), 1, 0).astype(np.int32))
    tb.putcol("OBSERVATION_ID", np.zeros(len(times), dtype=np.int32))
    tb.close()

    _name_mosaic_fields(setup, ms)

    # POLARIZATION: one row for the correlator windows (XX, YY), one for the WVR window (XX)
    tb.open(ms + "/POLARIZATION", nomodify=False)
    ctypes = [list(tb.getcell("CORR_TYPE", r)) for r in range(tb.nrows())]
    tb.close()
    tb.open(ms + "/DATA_DESCRIPTION", nomodify=False)
    spw_ids = tb.getcol("SPECTRAL_WINDOW_ID")
    if not np.array_equal(spw_ids, np.arange(len(setup["spws"]))):
        raise RuntimeError(f"unexpected DATA_DESCRIPTION spw ids {spw_ids}")
    keep: list[int] = []  # old POLARIZATION rows to keep, in the order of the new ids
    new_pol = []
    for s in setup["spws"]:
        want = [_CORR_TYPE[c] for c in s["corr"]]
        if want not in ctypes:
            raise RuntimeError(f"simulator wrote no POLARIZATION row {s['corr']} for spw {s['id']}")
        old = ctypes.index(want)
        if old not in keep:
            keep.append(old)
        new_pol.append(keep.index(old))
    tb.putcol("POLARIZATION_ID", np.array(new_pol, dtype=np.int32))
    tb.close()
    tb.open(ms + "/POLARIZATION", nomodify=False)
    rows = {
        c: [tb.getcell(c, r) for r in keep]
        for c in ("CORR_TYPE", "CORR_PRODUCT", "NUM_CORR", "FLAG_ROW")
    }
    tb.removerows(list(range(tb.nrows())))
    tb.addrows(len(keep))
    for c, vals in rows.items():
        for r, v in enumerate(vals):
            tb.putcell(c, r, v)
    tb.close()

    # SPECTRAL_WINDOW: ALMA names and baseband numbers; the WVR window's uneven channels
    tb.open(ms + "/SPECTRAL_WINDOW", nomodify=False)
    if "BBC_NO" not in tb.colnames():
        tb.addcols(
            {
                "BBC_NO": {
                    "valueType": "int",
                    "dataManagerType": "StandardStMan",
                    "dataManagerGroup": "StandardStMan",
                    "option": 0,
                    "maxlen": 0,
                    "comment": "Baseband converter number",
                    "keywords": {},
                }
            }
        )
    tb.putcol("BBC_NO", np.array([s["baseband"] for s in setup["spws"]], dtype=np.int32))
    tb.putcol("NAME", np.array([s["name"] for s in setup["spws"]]))
    if wvr is not None:
        s = setup["spws"][wvr]
        tb.putcell("CHAN_FREQ", wvr, s["freqs"])
        for c in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
            tb.putcell(c, wvr, s["widths"])
        tb.putcell("TOTAL_BANDWIDTH", wvr, s["bandwidth"])
        tb.putcell("REF_FREQUENCY", wvr, s["freqs"][0])
    for s in setup["spws"]:
        if not np.allclose(tb.getcell("CHAN_FREQ", s["id"]), s["freqs"], rtol=0, atol=1.0):
            raise RuntimeError(
                f"simulator channel frequencies of spw {s['id']} differ from the setup"
            )
    tb.close()

    # STATE: one row per distinct OBS_MODE
    tb.open(ms + "/STATE", nomodify=False)
    if tb.nrows():
        tb.removerows(list(range(tb.nrows())))
    n = len(modes)
    tb.addrows(n)
    tb.putcol("OBS_MODE", np.array(modes))
    tb.putcol("SIG", np.ones(n, bool))
    tb.putcol("REF", np.zeros(n, bool))
    tb.putcol("CAL", np.zeros(n))
    tb.putcol("LOAD", np.zeros(n))
    tb.putcol("SUB_SCAN", np.ones(n, np.int32))
    tb.putcol("FLAG_ROW", np.zeros(n, bool))
    tb.close()

    # PROCESSOR: the correlator (as in ALMA data) and, with WVR data, the radiometers
    tb.open(ms + "/PROCESSOR", nomodify=False)
    nproc = 2 if wvr is not None else 1
    if tb.nrows() < nproc:
        tb.addrows(nproc - tb.nrows())
    procs = [("CORRELATOR", "ALMA_CORRELATOR_MODE"), ("RADIOMETER", "ALMA_RADIOMETER")][:nproc]
    for r, (ptype, sub) in enumerate(procs):
        tb.putcell("TYPE", r, ptype)
        tb.putcell("SUB_TYPE", r, sub)
        tb.putcell("TYPE_ID", r, 0)
        tb.putcell("MODE_ID", r, 0)
        tb.putcell("FLAG_ROW", r, False)
    tb.close()

    # POINTING: the simulator writes one row per antenna, time and observe call (i.e. per spw),
    # with J2000 directions; ALMA's POINTING holds the antennas' azimuth and elevation (AZELGEO),
    # which wvrgcal reads for the elevation of each WVR measurement
    tb.open(ms + "/POINTING", nomodify=False)
    if tb.nrows():
        key = np.stack([tb.getcol("ANTENNA_ID").astype(float), tb.getcol("TIME")], axis=1)
        _, first = np.unique(key, axis=0, return_index=True)
        dup = sorted(set(range(tb.nrows())) - set(first.tolist()))
        if dup:
            tb.removerows(dup)
        ptime = tb.getcol("TIME")
        azel = pointing_azel(setup, ptime)  # [2, n] rad
        for col in ("DIRECTION", "TARGET"):
            if col in tb.colnames():
                d = tb.getcol(col)
                d[:, 0, :] = azel
                tb.putcol(col, d)
                kw = tb.getcolkeyword(col, "MEASINFO")
                kw["Ref"] = "AZELGEO"
                tb.putcolkeyword(col, "MEASINFO", kw)
    tb.close()

    # OBSERVATION: full time range
    tb.open(ms + "/OBSERVATION", nomodify=False)
    tb.putcell("TIME_RANGE", 0, np.array([setup["scans"][0]["start"], setup["scans"][-1]["end"]]))
    tb.putcell("TELESCOPE_NAME", 0, setup["params"].get("telescope", "ALMA"))
    tb.putcell("OBSERVER", 0, "simulate_eb")
    tb.putcell("PROJECT", 0, "demo")
    tb.putcell("SCHEDULE_TYPE", 0, "ALMA")
    tb.close()


def _name_mosaic_fields(setup: dict, ms: str) -> None:
    """The pointings of a mosaic: FIELD rows of one name and one SOURCE_ID (that of the first
    pointing), as in ALMA data; the other pointings' SOURCE rows are removed."""
    from casatools import table

    mosaic = [f for f in setup["fields"] if f["pointing"]]
    if not mosaic:
        return
    tb = table()
    tb.open(ms + "/FIELD", nomodify=False)
    names, source_ids = list(tb.getcol("NAME")), tb.getcol("SOURCE_ID")
    first = {}
    drop = []
    for f in mosaic:
        if names[f["id"]] != f["key"]:
            raise RuntimeError(f"FIELD {f['id']} is {names[f['id']]}, expected {f['key']}")
        names[f["id"]] = f["name"]
        if f["name"] in first:
            drop.append(int(source_ids[f["id"]]))
            source_ids[f["id"]] = first[f["name"]]
        else:
            first[f["name"]] = int(source_ids[f["id"]])
    # contiguous source ids in field order, as importasdm numbers them
    renumber = {int(k): i for i, k in enumerate(dict.fromkeys(source_ids.tolist()))}
    tb.putcol("NAME", np.array(names))
    tb.putcol("SOURCE_ID", np.array([renumber[int(k)] for k in source_ids], dtype=np.int32))
    tb.close()
    tb.open(ms + "/SOURCE", nomodify=False)
    sid = tb.getcol("SOURCE_ID")
    rows = [int(r) for r in np.nonzero(np.isin(sid, drop))[0]]
    if rows:
        tb.removerows(rows)
    snames = list(tb.getcol("NAME"))
    sid = tb.getcol("SOURCE_ID")
    for name, k in first.items():
        for r in np.nonzero(sid == k)[0]:
            snames[int(r)] = name
    tb.putcol("NAME", np.array(snames))
    tb.putcol("SOURCE_ID", np.array([renumber[int(k)] for k in sid], dtype=np.int32))
    tb.close()


def scan_rows(setup: dict, sc: dict, wvr_autos_only: bool = False) -> int:
    """MS rows of scan ``sc``: all baselines (cross + auto) of each spw; with ``wvr_autos_only``
    the autocorrelations only of the WVR window (ALMA radiometer data)."""
    nwvr = len(setup["wvr_antennas"])  # antennas with a radiometer (not the 7 m ones)
    per_int = sum(
        nwvr if (setup["spws"][w]["type"] == "WVR" and wvr_autos_only) else _nbaselines(setup)
        for w in sc["spws"]
    )
    return sc["nint"] * per_int


def drop_wvr_cross_rows(setup: dict, ms: str) -> None:
    """Remove the WVR window's cross-correlation rows (kept only for exportasdm) and the rows of
    antennas without a radiometer (7 m antennas; export_asdm removes them from the ASDM)."""
    from casatools import table

    if setup["wvr_spw"] is None:
        return
    tb = table()
    tb.open(ms)
    no_wvr = sorted(set(range(len(setup["antennas"]))) - set(setup["wvr_antennas"]))
    drop = "ANTENNA1!=ANTENNA2" + "".join(f" || ANTENNA1=={a}" for a in no_wvr)
    q = tb.query(f"!(DATA_DESC_ID=={setup['wvr_spw']} && ({drop}))")
    q.copy(ms + ".autos", deep=True, valuecopy=True)  # the storage managers cannot remove rows
    q.close()
    tb.close()
    shutil.rmtree(ms)
    os.rename(ms + ".autos", ms)
    tb.open(ms, nomodify=False)
    if "SYSCAL" in tb.keywordnames():  # keep the link to the (moved) SYSCAL subtable
        tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(os.path.join(ms, "SYSCAL")))
    tb.close()


def pointing_azel(setup: dict, times: np.ndarray) -> np.ndarray:
    """Azimuth/elevation (rad, [2, n]) at ``times`` of the field observed then (or next/last)."""
    starts = np.array([s["start"] for s in setup["scans"]])
    k = np.clip(np.searchsorted(starts, times + 1e-3, side="right") - 1, 0, len(starts) - 1)
    out = np.zeros((2, len(times)))
    for f in setup["fields"]:
        sel = np.array([setup["scans"][i]["field_id"] == f["id"] for i in k])
        if sel.any():
            az, el = _azel(setup, f, times[sel])
            out[0, sel], out[1, sel] = az, el
    return out


def _azel(setup: dict, field: dict, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (rad) of ``field`` at the array centre at ``times`` (MJD s, UTC)."""
    from casatools import measures

    me = measures()
    me.doframe(me.position("ITRF", *[f"{v}m" for v in setup["array_centre_itrf"]]))
    d = me.direction("J2000", field["ra"], field["dec"])
    az, el = np.zeros(len(times)), np.zeros(len(times))
    for i, t in enumerate(times):
        me.doframe(me.epoch("UTC", f"{t / DAY_S}d"))
        m = me.measure(d, "AZELGEO")
        az[i], el[i] = m["m0"]["value"], m["m1"]["value"]
    me.done()
    return az, el


def _nbaselines(setup: dict) -> int:
    n = len(setup["antennas"])
    return n * (n + 1) // 2  # cross + auto
