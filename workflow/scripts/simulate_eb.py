"""Simulate one built-in ALMA execution block (EB) as a real ASDM, with the truth beside it.

Pipeline of :func:`simulate_eb` (all parameters come from ``resources/demo_mous.yaml``):

1. ``casatools.simulator`` writes an empty MS: ALMA 12 m antennas (or ACA 7 m antennas, per EB
   ``array``) on real pads, at the positions used online (true pad position + the EB's
   ``antenna_position_errors_m``), Band 6 TDM (Tsys/ATMOSPHERE) and FDM (science) spectral windows,
   XX/YY, autocorrelations, one ``observe`` call per scan and spw; 12 m EBs with ``wvr: true``
   also get the 4-channel WVR window (``WVR#NOMINAL``, 183.3 GHz double sideband) in every scan.
2. The MS is repaired so that it looks like an imported ALMA MS: rows sorted by time, one
   SCAN_NUMBER per scan (1..N) for all its spws, a STATE table with ALMA intents, POLARIZATION rows
   XX,YY (correlator) and XX (WVR), no MODEL/CORRECTED columns, SPECTRAL_WINDOW.NAME/BBC_NO, the
   WVR window's uneven channels, PROCESSOR rows CORRELATOR and RADIOMETER (WVR rows), and a
   POINTING table in AZELGEO (the antennas' azimuth/elevation, as ALMA's; wvrgcal reads it).
3. DATA is computed with numpy from the corruption model (documented in the yaml and in the
   truth file): gains, bandpasses, Tsys from casatools.atmosphere (ATM: opacity with the O3 line
   at 226.055 GHz, sky brightness, per-antenna receiver temperature and forward efficiency), the
   phase of a turbulent wet-path screen (frozen flow over the array) and of the antenna-position
   errors; WVR rows get ATM sky brightness temperatures of the same wet path (what wvrgcal
   retrieves). A SYSCAL subtable with per-antenna Tsys spectra of the TDM spws at the times of
   the ATMOSPHERE scans is created and linked to the MS.
4. ``exportasdm`` writes the ASDM. It ignores MS scan numbers and intents (every ExecBlock is
   one OBSERVE_TARGET scan; ExecBlocks are cut by the OBSERVATION time range), so the MS is
   exported with one OBSERVATION_ID per scan (one ExecBlock per scan) and the XML tables are
   then rewritten: one ExecBlock/SBSummary, Scan rows 1..N with the real intents, one Subscan
   per scan, Main rows renumbered, the BDF headers' project paths fixed, spectral window names
   added, a Flag table with the configured online flags. The per-channel BDF flags that
   exportasdm writes (all zero, ~35% of the volume) are removed. The visibilities are stored
   as they are (FLOAT32, no conjugation: the round trip is exact). exportasdm accepts neither a
   second processor nor autocorrelation-only data nor a window of another receiver band at the
   same time, so the WVR window is exported as correlator data with placeholder Band-6 channels
   and zero cross-correlations; its SpectralWindow row (real channels, DSB), ConfigDescription
   (RADIOMETER processor, AUTO_ONLY) and BDFs (AUTO_ONLY radiometer data, cross data removed)
   are then rewritten as ALMA writes radiometer data.
5. ``importasdm`` re-imports the ASDM; scans, fields, spws per scan, intents, row counts, BBC_NO,
   processor types (RADIOMETER for the WVR window), autocorrelation-only WVR rows, POINTING
   azimuth/elevation, the online antenna positions, SYSCAL (read back with
   ``gencal(caltype='tsys')``), autocorrelations and every visibility (WVR data included) are
   compared with the MS that was written. Any mismatch raises ``RuntimeError``.

Outputs (moved into place only after the verification passed): the ASDM directory, the truth
JSON and an antenna-position JSON in the format of ALMA's position service (``getantposalma``)
with the TRUE positions (the ASDM carries the online ones, as ALMA's do), which
``gencal(caltype='antpos', infile=...)`` accepts.

Sign convention (checked with CASA): antenna i's excess path P_i (wet path plus
(online - true position) . source direction) appears in DATA of baseline (i, j) as
exp(1j * _PHASE_SIGN * 2 pi nu / c * (P_i - P_j)), _PHASE_SIGN = -1; with it, wvrgcal and
gencal(caltype='antpos') tables remove the injected phases.
"""

# (no "from __future__ import annotations": Snakemake's script directive writes its preamble before
# the first line of the file, where a __future__ import would no longer be legal)
import datetime as _dt
import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import tempfile
import time as _time
from typing import Any

import numpy as np

_DAY_S = 86400.0
_CORR_TYPE = {"XX": 9, "XY": 10, "YX": 11, "YY": 12}
_AUTO_REF_K = 100.0  # autocorrelation DATA = gains * total power / _AUTO_REF_K
_MODEL_TEXT = (
    "Cross-correlations (i=ANTENNA1, j=ANTENNA2, pol p, channel frequency nu, time t, field f): "
    "DATA = g_ip(t) * conj(g_jp(t)) * B_ip(nu) * conj(B_jp(nu)) * exp(1j * phase_sign * 2 pi nu / c * "
    "(P_i(t, nu) - P_j(t, nu))) * (S_f(nu) + n) / sqrt(Tsys_ip(nu,f) * Tsys_jp(nu,f)), with "
    "S_f(nu) = S0_f * (nu/nu0)^spix_f + line.flux_jy * L_f(nu) (point source at the phase centre, real; "
    "L_f = exp(-4 ln2 ((nu - line.centre_hz)/line.fwhm_hz)^2) for a field with a line, else 0) and n "
    "complex gaussian noise with sigma noise_sigma_jy per real and imaginary part. In the FDM (science) "
    "spws the correlator normalisation divides by the total power, which also carries the field's "
    "extended line: there Tsys_ip(nu,f) in the denominator reads Tsys_ip(nu,f) + Tline_f(nu), "
    "Tline_f = line.antenna_temperature_k * L_f(nu) (the Tsys of the ATMOSPHERE scans does not "
    "see the line, so the Tsys calibration leaves the line channels depressed by sqrt(Tsys_i Tsys_j / "
    "((Tsys_i + Tline)(Tsys_j + Tline))): ALMA's renormalisation problem). g = amp * exp(1j*radians(phase_deg)), "
    "B = amp * exp(1j*radians(phase_deg)). P_i = excess path of antenna i: wet_path.path_m * r(nu) + "
    "antenna_positions.path_error_m (see wet_path.description). "
    "Autocorrelations: DATA = |g_ip(t)|^2 |B_ip(nu)|^2 (Tsys_ip(nu,f) + Tline_f(nu)) / auto_ref_k "
    "(real; total power). Tsys_ip(nu,f) is constant in time "
    "within the EB for each field (elevation of the field at its ATMOSPHERE scan) and is written "
    "to SYSCAL.TSYS_SPECTRUM for the TDM spws at the ATMOSPHERE scans. Applying CASA's Tsys "
    "calibration (gencal caltype='tsys', applycal with spwmap TDM->FDM) multiplies DATA by "
    "sqrt(Tsys_i Tsys_j) and removes the Tsys term. WVR window (12 m EBs with WVR): autocorrelation "
    "rows with the WVR sky brightness (see wvr.description)."
)


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------
def simulate_eb(*, params: dict, eb: str, asdm: str, truth: str, antpos_json: str, log: str) -> None:
    """Simulate execution block ``eb`` of the demo MOUS described by ``params``.

    Parameters
    ----------
    params : dict
        The demo MOUS parameters (content of ``resources/demo_mous.yaml``).
    eb : str
        Name of the EB; must be one of ``params['execution_blocks'][*]['name']``.
    asdm : str
        Output ASDM directory.
    truth : str
        Output truth JSON file.
    antpos_json : str
        Output antenna-position JSON file (``getantposalma`` format, true positions).
    log : str
        CASA log file.

    Raises
    ------
    RuntimeError
        If the ASDM, once re-imported with ``importasdm``, does not match the simulated MS.
    """
    from casatasks import casalog

    asdm, truth, antpos_json, log = (os.path.abspath(p) for p in (asdm, truth, antpos_json, log))
    for path in (asdm, truth, antpos_json, log):
        os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    casalog.setlogfile(os.path.abspath(log))
    casalog.origin("simulate_eb")
    t_start = _time.time()

    setup = _build_setup(params, eb)
    outdir = os.path.dirname(os.path.abspath(asdm))
    work = tempfile.mkdtemp(prefix=f".simulate_{eb}_", dir=outdir)
    cwd = os.getcwd()
    try:
        os.chdir(work)  # CASA tasks drop stray files in the working directory
        ms = os.path.join(work, f"{eb}.sim.ms")
        _simulate_empty_ms(setup, ms)
        _repair_ms(setup, ms)
        model = _draw_corruptions(setup)
        model["sso_vis"], model["sso_flux"] = _solar_system_model(setup, ms)
        _write_data(setup, model, ms)
        _write_syscal(setup, model, ms)
        casalog.post(f"simulated MS {ms} ready after {_elapsed(t_start)}", "INFO")

        asdm_tmp = os.path.join(work, eb)
        _export_asdm(setup, ms, asdm_tmp, work)
        _drop_wvr_cross_rows(setup, ms)
        casalog.post(f"ASDM exported and repaired after {_elapsed(t_start)}", "INFO")

        _verify_asdm(setup, model, ms, asdm_tmp, work)
        casalog.post(f"ASDM verified after {_elapsed(t_start)}", "INFO")

        truth_tmp = os.path.join(work, "truth.json")
        antpos_tmp = os.path.join(work, "antpos.json")
        _write_truth(setup, model, truth_tmp)
        _write_antpos(setup, antpos_tmp, os.path.basename(antpos_json))

        # move the verified results into place (replacing previous outputs)
        for src, dst in ((asdm_tmp, asdm), (truth_tmp, truth), (antpos_tmp, antpos_json)):
            dst = os.path.abspath(dst)
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            elif os.path.lexists(dst):
                os.remove(dst)
            shutil.move(src, dst)
        casalog.post(f"simulate_eb {eb} done in {_elapsed(t_start)}", "INFO")
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def _elapsed(t0: float) -> str:
    return f"{_time.time() - t0:.1f} s"


# ----------------------------------------------------------------------------------------------
# Setup: everything derived from params (no CASA state)
# ----------------------------------------------------------------------------------------------
def _casadata_dir() -> str:
    spec = importlib.util.find_spec("casadata")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python package casadata not found (needed for the array configuration)")
    return os.path.join(list(spec.submodule_search_locations)[0], "__data__")


def _utc_to_mjd_s(iso: str) -> float:
    t = _dt.datetime.fromisoformat(str(iso).replace("Z", ""))
    mjd0 = _dt.datetime(1858, 11, 17)
    return (t - mjd0).total_seconds()


def _mjd_s_to_casa(t: float) -> str:
    d = _dt.datetime(1858, 11, 17) + _dt.timedelta(seconds=t)
    return d.strftime("%Y/%m/%d/%H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def _add_solar_system_flux_calibrator(sso: dict, ebp: dict, fields: list[dict],
                                      scans: list[dict]) -> tuple[list[dict], list[dict]]:
    """A solar-system body as the EB's flux calibrator: a field at the body's J2000 position
    (casadata JPL-Horizons ephemeris, at the EB start) with CALIBRATE_FLUX, its ATMOSPHERE and
    observing scans after scan ``after_scan``; the other fields lose CALIBRATE_FLUX. Its
    visibilities are CASA's Butler-JPL-Horizons 2012 model (see _solar_system_model)."""
    body = str(sso["body"])
    ra_deg, dec_deg = _ephemeris_position(body, _utc_to_mjd_s(ebp["start_utc"]) / _DAY_S)
    for f in fields:
        f["intents"] = [i for i in f["intents"] if i != "CALIBRATE_FLUX"]
    fields = fields + [{"id": len(fields), "name": body, "role": "flux", "ra": f"{ra_deg!r}deg",
                        "dec": f"{dec_deg!r}deg", "intents": ["CALIBRATE_FLUX"], "flux_jy": None,
                        "spix": None, "line": None, "model": "Butler-JPL-Horizons 2012"}]
    after = int(sso["after_scan"])
    added = [{"field": body, "kind": "atm", "duration_s": 20},
             {"field": body, "kind": "obs", "duration_s": float(sso["duration_s"])}]
    return fields, scans[:after] + added + scans[after:]


def _ephemeris_position(body: str, mjd: float) -> tuple[float, float]:
    """Geocentric J2000 RA, Dec (deg) of ``body`` at ``mjd`` from casadata's JPL-Horizons tables."""
    import glob

    from casatools import table

    pattern = os.path.join(_casadata_dir(), "ephemerides", "JPL-Horizons", f"{body}_*J2000.tab")
    tb = table()
    for path in sorted(glob.glob(pattern)):
        tb.open(path)
        mjds, ra, dec = tb.getcol("MJD"), tb.getcol("RA"), tb.getcol("DEC")
        tb.close()
        if mjds.min() <= mjd <= mjds.max():
            return float(np.interp(mjd, mjds, ra)), float(np.interp(mjd, mjds, dec))
    raise ValueError(f"no casadata JPL-Horizons ephemeris of {body} covers MJD {mjd:.2f} ({pattern})")


def _line_params(field: dict) -> dict[str, float] | None:
    """The optional bright extended line of a field (Gaussian in frequency), in SI units."""
    line = field.get("line")
    if not line:
        return None
    missing = {"centre_ghz", "fwhm_mhz", "flux_jy", "antenna_temperature_k"} - set(line)
    if missing:
        raise ValueError(f"field {field['name']}: line needs {sorted(missing)}")
    return {"centre_hz": float(line["centre_ghz"]) * 1e9, "fwhm_hz": float(line["fwhm_mhz"]) * 1e6,
            "flux_jy": float(line["flux_jy"]), "antenna_temperature_k": float(line["antenna_temperature_k"])}


def _line_profile(line: dict | None, freqs: np.ndarray) -> np.ndarray:
    """Peak-normalised Gaussian profile of ``line`` at ``freqs`` (zeros without a line)."""
    if line is None:
        return np.zeros_like(freqs)
    return np.exp(-4.0 * math.log(2.0) * ((freqs - line["centre_hz"]) / line["fwhm_hz"]) ** 2)


def _array_params(params: dict, array: str) -> dict:
    """Antenna configuration of array ``array`` ('12m' or '7m').

    ``params['arrays'][array]`` holds ``array_config``, ``dish_diameter_m`` and ``antennas``; for
    the 12 m array the top-level keys of the same names are accepted too (older parameter files)."""
    arrays = dict(params.get("arrays") or {})
    if "12m" not in arrays and "antennas" in params:
        arrays["12m"] = {k: params[k] for k in ("array_config", "dish_diameter_m", "antennas")}
    if array not in arrays:
        raise ValueError(f"array {array!r} not in params['arrays'] ({sorted(arrays)})")
    return arrays[array]


def _itrf_to_enu(itrf: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """East/North/Up offsets (m) of ITRF positions [n, 3] from the ITRF point ``ref``."""
    x, y, z = ref
    lon = math.atan2(y, x)
    lat = math.atan2(z, math.hypot(x, y))  # geocentric latitude: fine for a local tangent plane
    rot = np.array([[-math.sin(lon), math.cos(lon), 0.0],
                    [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)],
                    [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)]])
    return (np.asarray(itrf) - ref) @ rot.T


def _build_setup(params: dict, eb: str) -> dict[str, Any]:
    """Derive antennas, spws, fields and the scan timeline of EB ``eb`` from ``params``."""
    from casatasks.private.simutil import simutil

    ebs = {e["name"]: e for e in params["execution_blocks"]}
    if eb not in ebs:
        raise ValueError(f"EB {eb!r} not in params['execution_blocks'] ({sorted(ebs)})")
    ebp = ebs[eb]
    array = str(ebp.get("array", "12m"))
    if array not in ("12m", "7m"):
        raise ValueError(f"EB {eb}: array must be 12m or 7m, not {array!r}")
    arr = _array_params(params, array)
    has_wvr = bool(ebp.get("wvr", array == "12m"))
    if has_wvr and array != "12m":
        raise ValueError(f"EB {eb}: the ACA 7 m antennas have no water-vapour radiometers (wvr: false)")

    # antennas: pads of a casadata simmos configuration, LOC -> ITRF with simutil
    cfg = os.path.join(_casadata_dir(), "alma", "simmos", arr["array_config"])
    if not os.path.exists(cfg):
        raise FileNotFoundError(cfg)
    x, y, z, _d, pads, _names, _tel, _obs = simutil().readantenna(cfg)
    padpos = {str(p): (float(a), float(b), float(c)) for p, a, b, c in zip(pads, x, y, z)}
    errors = {str(k): [float(v) for v in val] for k, val in (ebp.get("antenna_position_errors_m") or {}).items()}
    antennas = []
    for a in arr["antennas"]:
        if a["pad"] not in padpos:
            raise ValueError(f"pad {a['pad']} of antenna {a['name']} not in {cfg}")
        err = errors.pop(a["name"], [0.0, 0.0, 0.0])
        if len(err) != 3:
            raise ValueError(f"EB {eb}: antenna_position_errors_m[{a['name']}] must be [dx, dy, dz] (ITRF, m)")
        true = np.array(padpos[a["pad"]])
        antennas.append({"name": a["name"], "pad": a["pad"], "itrf": tuple(true.tolist()),
                         "itrf_online": tuple((true + np.array(err)).tolist()), "pos_error": np.array(err)})
    if errors:
        raise ValueError(f"EB {eb}: antenna_position_errors_m for antennas not in the array: {sorted(errors)}")
    itrf = np.array([a["itrf"] for a in antennas])
    centre = itrf.mean(axis=0)
    for a, enu in zip(antennas, _itrf_to_enu(itrf, centre)):
        a["enu"] = enu
    ant_names = [a["name"] for a in antennas]
    bad_wvr = [str(n) for n in (ebp.get("wvr_bad_antennas") or [])]
    for n in bad_wvr:
        if n not in ant_names:
            raise ValueError(f"EB {eb}: wvr_bad_antennas: unknown antenna {n}")
    if bad_wvr and not has_wvr:
        raise ValueError(f"EB {eb}: wvr_bad_antennas given but the EB has no WVR data")

    # spectral windows (correlator), then the WVR window (4 channels, autocorrelations only)
    spws = []
    for i, s in enumerate(params["spectral_windows"]):
        nchan = int(s["nchan"])
        bw = float(s["bandwidth_ghz"]) * 1e9
        width = bw / nchan
        centre_f = float(s["centre_ghz"]) * 1e9
        freqs = centre_f - bw / 2 + (np.arange(nchan) + 0.5) * width
        spws.append({"id": i, "name": s["name"], "type": s["type"].upper(), "baseband": int(s["baseband"]),
                     "nchan": nchan, "width": width, "bandwidth": bw, "centre": centre_f, "freqs": freqs,
                     "widths": np.full(nchan, width), "corr": None})
    tdm = [s["id"] for s in spws if s["type"] == "TDM"]
    fdm = [s["id"] for s in spws if s["type"] == "FDM"]
    if not tdm or not fdm:
        raise ValueError("need at least one TDM and one FDM spectral window")
    if len(tdm) + len(fdm) != len(spws):
        raise ValueError("spectral_windows: type must be TDM or FDM")
    for f in fdm:
        bb_tdm = [t for t in tdm if spws[t]["baseband"] == spws[f]["baseband"]]
        if not bb_tdm:
            raise ValueError(f"FDM spw {f} has no TDM spw in its baseband")
        lo, hi = spws[bb_tdm[0]]["freqs"][[0, -1]]
        if spws[f]["freqs"][0] < lo or spws[f]["freqs"][-1] > hi:
            raise ValueError(f"FDM spw {f} is not inside the TDM coverage of its baseband")
    wvr_spw = None
    if has_wvr:
        wp = params["wvr"]
        cf = np.array([float(v) for v in wp["if_centre_ghz"]]) * 1e9
        bws = np.array([float(v) for v in wp["bandwidth_ghz"]]) * 1e9
        if len(cf) != 4 or len(bws) != 4:
            raise ValueError("wvr: four channels (if_centre_ghz, bandwidth_ghz)")
        freqs = float(wp["lo_ghz"]) * 1e9 + cf
        wvr_spw = len(spws)
        spws.append({"id": wvr_spw, "name": str(wp.get("spw_name", "WVR#NOMINAL")), "type": "WVR", "baseband": 0,
                     "nchan": 4, "width": float(bws[0]), "bandwidth": float(bws.sum()),
                     "centre": float((freqs[0] + freqs[-1]) / 2), "freqs": freqs, "widths": bws, "corr": ["XX"]})
    corr_spws = sorted(tdm + fdm)

    fields = []
    for i, f in enumerate(params["fields"]):
        fields.append({"id": i, "name": f["name"], "role": f["role"], "ra": f["ra"], "dec": f["dec"],
                       "intents": list(f["intents"]), "flux_jy": float(f["flux_jy"]), "spix": float(f["spix"]),
                       "line": _line_params(f)})
    scan_list = list(params["scans"])
    sso = ebp.get("solar_system_flux_calibrator")
    if sso:
        fields, scan_list = _add_solar_system_flux_calibrator(sso, ebp, fields, scan_list)
    fid = {f["name"]: f["id"] for f in fields}

    tint = float(params["integration_s"])
    slew = float(params["slew_s"])
    t = _utc_to_mjd_s(ebp["start_utc"])
    scans = []
    for k, sc in enumerate(scan_list, start=1):
        if sc["field"] not in fid:
            raise ValueError(f"scan {k}: unknown field {sc['field']}")
        nint = int(math.floor(float(sc["duration_s"]) / tint + 1e-9))
        if nint < 1:
            raise ValueError(f"scan {k}: shorter than one integration")
        f = fields[fid[sc["field"]]]
        if sc["kind"] == "atm":
            intents = ["CALIBRATE_ATMOSPHERE"]
            sspw = list(tdm)
        elif sc["kind"] == "obs":
            intents = list(f["intents"])
            sspw = list(fdm)
        else:
            raise ValueError(f"scan {k}: kind must be atm or obs")
        if wvr_spw is not None:
            sspw.append(wvr_spw)  # the WVRs observe all the time
        scans.append({"scan": k, "field": f["name"], "field_id": f["id"], "kind": sc["kind"],
                      "intents": intents, "obs_mode": ",".join(f"{i}#ON_SOURCE" for i in intents),
                      "spws": sspw, "nint": nint, "start": t, "end": t + nint * tint,
                      "times": t + (np.arange(nint) + 0.5) * tint})
        t = t + nint * tint + slew
    for f in fields:
        if not any(s["field_id"] == f["id"] and s["kind"] == "atm" for s in scans):
            raise ValueError(f"field {f['name']} has no atm scan (needed for its Tsys)")

    online_flags = []
    # per-EB online_flags (e.g. for a 7 m EB, whose antennas differ) replace the global list
    for fl in (ebp["online_flags"] if "online_flags" in ebp else params.get("online_flags")) or []:
        if fl["antenna"] not in ant_names:
            raise ValueError(f"EB {eb}: online flag: unknown antenna {fl['antenna']}")
        sc = scans[int(fl["scan"]) - 1]
        start = sc["start"] + float(fl["start_offset_s"])
        online_flags.append({"antenna": fl["antenna"], "scan": sc["scan"], "start": start,
                             "end": start + float(fl["duration_s"]), "reason": str(fl["reason"]).replace(" ", "_")})

    corr = [c.upper() for c in params.get("correlations", ["XX", "YY"])]
    if corr not in (["XX", "YY"], ["XX"]):
        raise ValueError(f"correlations {corr}: the model supports the parallel hands XX, YY only")
    for s in spws:
        if s["corr"] is None:
            s["corr"] = corr
    dish = float(arr["dish_diameter_m"])
    noise_scale = (float(_array_params(params, "12m")["dish_diameter_m"]) / dish) ** 2 if array != "12m" else 1.0
    return {"params": params, "eb": eb, "ebp": ebp, "seed": int(params["seed"]) + int(ebp["seed_offset"]),
            "array": array, "array_config": arr["array_config"], "dish_diameter_m": dish, "noise_scale": noise_scale,
            "has_wvr": has_wvr, "wvr_spw": wvr_spw, "wvr_bad_antennas": bad_wvr,
            "antennas": antennas, "array_centre_itrf": centre, "spws": spws, "tdm": tdm, "fdm": fdm,
            "corr_spws": corr_spws, "fields": fields, "scans": scans,
            "tint": tint, "corr": corr, "npol": len(corr), "nu0": float(params["ref_freq_ghz"]) * 1e9,
            "online_flags": online_flags, "times": np.concatenate([s["times"] for s in scans])}


# ----------------------------------------------------------------------------------------------
# 1. simulator
# ----------------------------------------------------------------------------------------------
def _simulate_empty_ms(setup: dict, ms: str) -> None:
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
        # visibilities are computed with the true ones (see _excess_path)
        pos = [a["itrf_online"] for a in ants]
        sm.setconfig(telescopename=p.get("telescope", "ALMA"),
                     x=[q[0] for q in pos], y=[q[1] for q in pos], z=[q[2] for q in pos],
                     dishdiameter=[setup["dish_diameter_m"]] * len(ants), mount=["ALT-AZ"] * len(ants),
                     antname=[a["name"] for a in ants], padname=[a["pad"] for a in ants],
                     coordsystem="global", referencelocation=me.observatory("ALMA"))
        for s in setup["spws"]:
            # WVR: an evenly spaced placeholder; _repair_ms writes the real (uneven) channels
            sm.setspwindow(spwname=s["name"], freq=f"{s['freqs'][0]:.3f}Hz", deltafreq=f"{s['width']:.6f}Hz",
                           freqresolution=f"{s['width']:.6f}Hz", nchannels=s["nchan"],
                           stokes=" ".join(s["corr"]), refcode="TOPO")
        sm.setfeed(mode="perfect X Y", pol=[""])
        for f in setup["fields"]:
            sm.setfield(sourcename=f["name"], sourcedirection=me.direction("J2000", f["ra"], f["dec"]))
        sm.setlimits(shadowlimit=0.001, elevationlimit="3deg")
        sm.setauto(autocorrwt=1.0)
        # The simulator converts the reference epoch to TAI and then writes those seconds as UTC
        # (TIME would be 37 s late): give it the UTC start labelled as TAI.
        sm.settimes(integrationtime=f"{setup['tint']}s", usehourangle=False,
                    referencetime=me.epoch("TAI", _mjd_s_to_casa(t0)))
        for sc in setup["scans"]:
            for spw in sc["spws"]:
                ok = sm.observe(sourcename=sc["field"], spwname=setup["spws"][spw]["name"],
                                starttime=f"{sc['start'] - t0:.3f}s", stoptime=f"{sc['end'] - t0:.3f}s")
                if not ok:
                    raise RuntimeError(f"simulator observe failed for scan {sc['scan']} spw {spw}")
    finally:
        sm.close()
        sm.done()


# ----------------------------------------------------------------------------------------------
# 2. repair the MS
# ----------------------------------------------------------------------------------------------
def _repair_ms(setup: dict, ms: str) -> None:
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
        expected = _scan_rows(setup, sc)
        if sel.sum() != expected:
            raise RuntimeError(f"scan {sc['scan']}: simulator wrote {sel.sum()} rows, expected {expected} "
                               "(elevation or shadow limit?)")
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
    rows = {c: [tb.getcell(c, r) for r in keep] for c in ("CORR_TYPE", "CORR_PRODUCT", "NUM_CORR", "FLAG_ROW")}
    tb.removerows(list(range(tb.nrows())))
    tb.addrows(len(keep))
    for c, vals in rows.items():
        for r, v in enumerate(vals):
            tb.putcell(c, r, v)
    tb.close()

    # SPECTRAL_WINDOW: ALMA names and baseband numbers; the WVR window's uneven channels
    tb.open(ms + "/SPECTRAL_WINDOW", nomodify=False)
    if "BBC_NO" not in tb.colnames():
        tb.addcols({"BBC_NO": {"valueType": "int", "dataManagerType": "StandardStMan",
                               "dataManagerGroup": "StandardStMan", "option": 0, "maxlen": 0,
                               "comment": "Baseband converter number", "keywords": {}}})
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
            raise RuntimeError(f"simulator channel frequencies of spw {s['id']} differ from the setup")
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
        azel = _pointing_azel(setup, ptime)  # [2, n] rad
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


def _scan_rows(setup: dict, sc: dict, wvr_autos_only: bool = False) -> int:
    """MS rows of scan ``sc``: all baselines (cross + auto) of each spw; with ``wvr_autos_only``
    the autocorrelations only of the WVR window (ALMA radiometer data)."""
    nant = len(setup["antennas"])
    per_int = sum(nant if (setup["spws"][w]["type"] == "WVR" and wvr_autos_only) else _nbaselines(setup)
                  for w in sc["spws"])
    return sc["nint"] * per_int


def _drop_wvr_cross_rows(setup: dict, ms: str) -> None:
    """Remove the WVR window's cross-correlation rows (kept only for exportasdm)."""
    from casatools import table

    if setup["wvr_spw"] is None:
        return
    tb = table()
    tb.open(ms)
    q = tb.query(f"!(DATA_DESC_ID=={setup['wvr_spw']} && ANTENNA1!=ANTENNA2)")
    q.copy(ms + ".autos", deep=True, valuecopy=True)  # the storage managers cannot remove rows
    q.close()
    tb.close()
    shutil.rmtree(ms)
    os.rename(ms + ".autos", ms)
    tb.open(ms, nomodify=False)
    if "SYSCAL" in tb.keywordnames():  # keep the link to the (moved) SYSCAL subtable
        tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(os.path.join(ms, "SYSCAL")))
    tb.close()


def _pointing_azel(setup: dict, times: np.ndarray) -> np.ndarray:
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
        me.doframe(me.epoch("UTC", f"{t / _DAY_S}d"))
        m = me.measure(d, "AZELGEO")
        az[i], el[i] = m["m0"]["value"], m["m1"]["value"]
    me.done()
    return az, el


def _nbaselines(setup: dict) -> int:
    n = len(setup["antennas"])
    return n * (n + 1) // 2  # cross + auto


# ----------------------------------------------------------------------------------------------
# 3. corruption model
# ----------------------------------------------------------------------------------------------
def _uniform(rng: np.random.Generator, lohi, size=None):
    lo, hi = (float(v) for v in lohi)
    return rng.uniform(lo, hi, size)


def _draw_corruptions(setup: dict) -> dict[str, Any]:
    """Draw gains, bandpasses, Tsys, wet path, WVR data and the noise generator; all per EB seed.

    The draws of the original model (gains, bandpasses, Trx, noise) come from default_rng(seed) in
    the same order as before the atmospheric effects were added; those use separate streams."""
    p = setup["params"]
    rng = np.random.default_rng(setup["seed"])
    nant, npol = len(setup["antennas"]), setup["npol"]
    t_ref = setup["scans"][0]["start"]
    times = setup["times"]
    dt = times - t_ref

    # gains g[ant, pol, time]
    gp = p["gains"]
    amp0 = _uniform(rng, gp["amp_range"], (nant, npol))
    d_amp = rng.uniform(-1, 1, (nant, npol)) * float(gp["amp_drift_frac"])
    p_amp = _uniform(rng, gp["amp_drift_period_min"], (nant, npol)) * 60.0
    ph_amp = rng.uniform(0, 2 * np.pi, (nant, npol))
    amp = amp0[..., None] * (1 + d_amp[..., None] * np.sin(2 * np.pi * dt / p_amp[..., None] + ph_amp[..., None]))
    off = rng.uniform(-1, 1, (nant, npol)) * float(gp["phase_offset_deg"])
    phase = np.broadcast_to(off[..., None], (nant, npol, len(times))).copy()
    for _ in range(int(gp["phase_terms"])):
        a = _uniform(rng, gp["phase_term_amp_deg"], (nant, npol))
        per = _uniform(rng, gp["phase_term_period_min"], (nant, npol)) * 60.0
        ph = rng.uniform(0, 2 * np.pi, (nant, npol))
        phase += a[..., None] * np.sin(2 * np.pi * dt / per[..., None] + ph[..., None])
    phase = (phase + 180.0) % 360.0 - 180.0
    gains = amp * np.exp(1j * np.radians(phase))

    # bandpass B[spw][ant, pol, chan] (correlator spws)
    bp = p["bandpass"]
    bandpass = {}
    for s in (setup["spws"][w] for w in setup["corr_spws"]):
        x = (s["freqs"] - s["centre"]) / (s["bandwidth"] / 2)
        bamp = np.ones((nant, npol, s["nchan"]))
        for _ in range(int(bp["amp_ripple_terms"])):
            a = _uniform(rng, bp["amp_ripple_frac"], (nant, npol, 1))
            c = _uniform(rng, bp["ripple_cycles"], (nant, npol, 1))
            ph = rng.uniform(0, 2 * np.pi, (nant, npol, 1))
            bamp += a * np.cos(np.pi * c * x + ph)
        slope = rng.uniform(-1, 1, (nant, npol, 1)) * float(bp["phase_slope_deg"]) / 2
        a = _uniform(rng, bp["phase_ripple_deg"], (nant, npol, 1))
        c = _uniform(rng, bp["ripple_cycles"], (nant, npol, 1))
        ph = rng.uniform(0, 2 * np.pi, (nant, npol, 1))
        bphase = slope * x + a * np.cos(np.pi * c * x + ph)
        bandpass[s["id"]] = {"amp": bamp, "phase_deg": bphase, "B": bamp * np.exp(1j * np.radians(bphase))}

    # Tsys[field][spw][ant, pol, chan] (elevation of the field at its first atm scan):
    # Tsys = (Trx + eta*Tsky + (1-eta)*Tamb) / (eta*exp(-tau*A)), tau and Tsky from ATM
    tp = p["tsys"]
    trx0 = _uniform(rng, tp["trx_k"], (nant, npol, 1))
    trx1 = rng.uniform(-1, 1, (nant, npol, 1)) * float(tp["trx_slope_k_per_ghz"])
    trx2 = rng.uniform(-1, 1, (nant, npol, 1)) * float(tp["trx_curv_k_per_ghz2"])
    rng_atm = np.random.default_rng([setup["seed"], 1])  # atmosphere, WVR, efficiencies
    eta = _uniform(rng_atm, tp["forward_efficiency"], (nant, 1, 1))
    elev = _field_elevations(setup)
    geo = _geometry(setup)
    atm = _atm_model(setup, elev, geo)
    t_amb = float(p["atmosphere"]["ground_temperature_k"])
    fmin = min(setup["spws"][w]["freqs"][0] for w in setup["corr_spws"])
    fmax = max(setup["spws"][w]["freqs"][-1] for w in setup["corr_spws"])
    nu_c = (fmin + fmax) / 2  # Trx polynomial about the centre of the frequency coverage
    tsys, trx_all, tsky_all = {}, {}, {}
    for f in setup["fields"]:
        airmass = 1.0 / math.sin(math.radians(elev[f["id"]]))
        tsys[f["id"]], trx_all[f["id"]], tsky_all[f["id"]] = {}, {}, {}
        for w in setup["corr_spws"]:
            s = setup["spws"][w]
            dnu = (s["freqs"] - nu_c) / 1e9
            trx = trx0 + trx1 * dnu + trx2 * dnu ** 2
            tau = atm["tau_zenith"][w]  # [chan]
            ext = np.exp(-tau * airmass)
            tsky = eta * atm["tsky"][f["id"]][w] + (1 - eta) * t_amb  # [ant, 1, chan]
            ts = (trx + tsky) / (eta * ext)
            tsys[f["id"]][w] = ts
            trx_all[f["id"]][w] = np.broadcast_to(trx, ts.shape).copy()
            tsky_all[f["id"]][w] = np.broadcast_to(tsky, ts.shape).copy()

    # wet path: frozen turbulent screen over the array; slant path = airmass * zenith path
    screen = _wet_path_screen(setup, rng_atm)  # zenith path fluctuation [ant, time] (m)
    wet_zenith = screen["path_m"]
    slant_wet = geo["airmass"][None, :] * wet_zenith  # non-dispersive slant wet path [ant, time] (m)
    # geometric path error of the online antenna positions: (r_online - r_true) . s(t)
    err = np.array([a["pos_error"] for a in setup["antennas"]])  # [ant, 3]
    geo_path = err @ geo["s_itrf"]  # [ant, time] (m)
    wvr = _wvr_data(setup, atm, geo, wet_zenith, rng_atm) if setup["has_wvr"] else None
    return {"gains": gains, "gain_amp": amp, "gain_phase_deg": phase, "bandpass": bandpass,
            "tsys": tsys, "trx": trx_all, "tsky": tsky_all, "elevation_deg": elev, "eta": eta[:, 0, 0],
            "atm": atm, "geo": geo, "screen": screen, "wet_path_zenith_m": wet_zenith, "wet_path_m": slant_wet,
            "geo_path_m": geo_path, "wvr": wvr,
            "noise_sigma": float(p["noise_sigma_jy"]) * setup["noise_scale"], "rng": rng}


def _excess_path(setup: dict, model: dict, spw: int) -> np.ndarray:
    """Excess path [ant, time, chan] (m) of every antenna in the channels of ``spw``.

    Wet path (non-dispersive, scaled per channel by ATM's dispersive/non-dispersive ratio) plus the
    geometric error of the online antenna positions. Visibility phase of baseline (i, j):
    2 pi nu / c * (P_i - P_j) * _PHASE_SIGN."""
    scale = model["atm"]["wet_path_ratio"][spw]  # [chan]: (nondispersive + dispersive) / nondispersive
    return model["wet_path_m"][:, :, None] * scale[None, None, :] + model["geo_path_m"][:, :, None]


# sign of the excess-path phase in DATA (ANTENNA1 - ANTENNA2), fixed so that CASA's corrections
# (wvrgcal, gencal caltype='antpos') remove it; see the module docstring
_PHASE_SIGN = -1.0
_C = 299792458.0


def _geometry(setup: dict) -> dict[str, np.ndarray]:
    """Per integration: field, azimuth/elevation and airmass at the array centre, and the unit
    vector of the field's direction in the ITRF frame (for the position-error delay)."""
    from casatools import measures

    times = setup["times"]
    fid = np.concatenate([np.full(s["nint"], s["field_id"]) for s in setup["scans"]])
    me = measures()
    me.doframe(me.position("ITRF", *[f"{v}m" for v in setup["array_centre_itrf"]]))
    az, el = np.zeros(len(times)), np.zeros(len(times))
    s_itrf = np.zeros((3, len(times)))
    dirs = {f["id"]: me.direction("J2000", f["ra"], f["dec"]) for f in setup["fields"]}
    for i, (t, f) in enumerate(zip(times, fid)):
        me.doframe(me.epoch("UTC", f"{t / _DAY_S}d"))
        m = me.measure(dirs[int(f)], "AZELGEO")
        az[i], el[i] = m["m0"]["value"], m["m1"]["value"]
        m = me.measure(dirs[int(f)], "ITRF")
        lon, lat = m["m0"]["value"], m["m1"]["value"]
        s_itrf[:, i] = (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))
    me.done()
    if np.min(el) < math.radians(15):
        raise ValueError(f"elevation down to {math.degrees(np.min(el)):.1f} deg: choose another start time")
    return {"field_id": fid, "az": az, "el": el, "airmass": 1.0 / np.sin(el), "s_itrf": s_itrf}


def _atm_init(at, ap: dict, pwv_mm: float) -> None:
    at.initAtmProfile(altitude={"value": float(ap["altitude_m"]), "unit": "m"},
                      temperature={"value": float(ap["ground_temperature_k"]), "unit": "K"},
                      pressure={"value": float(ap["ground_pressure_mbar"]), "unit": "mbar"},
                      humidity=float(ap["relative_humidity_percent"]),
                      maxAltitude={"value": 48.0, "unit": "km"},
                      h0={"value": float(ap["water_scale_height_km"]), "unit": "km"},
                      atmType=int(ap.get("atm_type", 1)))


def _atm_model(setup: dict, elev: dict[int, float], geo: dict) -> dict[str, Any]:
    """Atmosphere from casatools.atmosphere (ATM) for the EB's zenith PWV.

    Band-6 windows: zenith opacity per channel, sky brightness (Tebb) per field airmass, the ratio
    of total (dispersive + non-dispersive) to non-dispersive wet path per channel and the
    atmospheric lines (O3) inside the spectral windows. WVR: channel brightness on a grid of
    airmass and water column (see _wvr_data)."""
    from casatools import atmosphere

    p = setup["params"]
    ap = p["atmosphere"]
    pwv = float(setup["ebp"].get("pwv_mm", ap["pwv_mm"]))
    res = float(ap.get("resolution_mhz", 2.0)) * 1e6
    at = atmosphere()
    _atm_init(at, ap, pwv)
    w_ground = float(np.ravel(at.getGroundWH2O()["value"])[0])

    # one ATM window covering all correlator spws (ATM recomputes every window whenever one is added)
    lo = min(setup["spws"][w]["freqs"][0] - setup["spws"][w]["width"] for w in setup["corr_spws"])
    hi = max(setup["spws"][w]["freqs"][-1] + setup["spws"][w]["width"] for w in setup["corr_spws"])
    res = max(res, (hi - lo) / 8000.0)
    at.initSpectralWindow(nbands=1, fCenter={"value": (lo + hi) / 2, "unit": "Hz"},
                          fWidth={"value": hi - lo, "unit": "Hz"}, fRes={"value": res, "unit": "Hz"})
    at.setUserWH2O({"value": pwv, "unit": "mm"})  # (needs the spectral window)
    n = at.getNumChan(0)
    freq = np.array([float(np.ravel(at.getChanFreq(c, 0)["value"])[0]) for c in range(n)]) * 1e9
    dry = np.asarray(at.getDryOpacitySpec(0)[1], float)
    wet = np.asarray(at.getWetOpacitySpec(0)[1]["value"], float)
    o3 = np.array([at.getO3LinesOpacity(c, 0) for c in range(n)], float)
    nd = float(np.ravel(at.getNonDispersiveWetPathLength(0, 0)["value"])[0])
    disp = np.array([float(np.ravel(at.getDispersiveWetPathLength(c, 0)["value"])[0]) for c in range(n)])
    tebb = {}
    for f in setup["fields"]:
        at.setAirMass(1.0 / math.sin(math.radians(elev[f["id"]])))
        tebb[f["id"]] = np.asarray(at.getTebbSkySpec(spwid=0, wh2o={"value": pwv, "unit": "mm"})[1]["value"], float)
    at.setAirMass(1.0)
    g = {"freq": freq, "dry": dry, "wet": wet, "o3": o3, "ratio": 1.0 + disp / nd, "tebb": tebb}
    k_nd = nd / w_ground  # non-dispersive wet path per mm of precipitable water (m/mm)

    tau, tsky, ratio = {}, {}, {}
    for f in setup["fields"]:
        tsky[f["id"]] = {}
    for w in setup["corr_spws"]:
        s = setup["spws"][w]
        tau[w] = np.interp(s["freqs"], g["freq"], g["dry"] + g["wet"])
        ratio[w] = np.interp(s["freqs"], g["freq"], g["ratio"])
        for f in setup["fields"]:
            tsky[f["id"]][w] = np.interp(s["freqs"], g["freq"], g["tebb"][f["id"]])
    out = {"pwv_mm": pwv, "k_nd_m_per_mm": k_nd, "tau_zenith": tau, "tsky": tsky, "wet_path_ratio": ratio,
           "lines": _atm_lines(setup, g), "atm_version": str(at.getAtmVersion())}
    at.done()
    if setup["has_wvr"]:
        at = atmosphere()
        _atm_init(at, ap, pwv)
        out["wvr"] = _wvr_grid(setup, at, pwv, geo)
        at.done()
    return out


def _atm_lines(setup: dict, g: dict) -> list[dict[str, Any]]:
    """Ozone lines of the ATM spectrum inside the correlator spws (for the truth file)."""
    thr = float(setup["params"]["atmosphere"].get("line_min_opacity", 0.005))
    lines = []
    for _ in (0,):
        o3, freq = g["o3"], g["freq"]
        for i in range(1, len(o3) - 1):
            if not (o3[i] >= o3[i - 1] and o3[i] > o3[i + 1] and o3[i] > thr):
                continue
            half = o3 > o3[i] / 2
            lo, hi = i, i
            while lo > 0 and half[lo - 1]:
                lo -= 1
            while hi < len(o3) - 1 and half[hi + 1]:
                hi += 1
            fwhm = freq[hi] - freq[lo]
            inside = {}
            for w in setup["corr_spws"]:
                s = setup["spws"][w]
                if s["freqs"][0] <= freq[i] <= s["freqs"][-1]:
                    chans = np.nonzero(np.abs(s["freqs"] - freq[i]) <= fwhm)[0]
                    inside[str(w)] = [int(chans[0]), int(chans[-1])]
            if inside:
                lines.append({"species": "O3", "freq_hz": float(freq[i]), "fwhm_hz": float(fwhm),
                              "peak_zenith_opacity": float(o3[i]),
                              "total_zenith_opacity_at_peak": float(g["dry"][i] + g["wet"][i]),
                              "spw_channels_within_fwhm": inside})
    return lines


def _wvr_grid(setup: dict, at, pwv: float, geo: dict) -> dict[str, Any]:
    """WVR channel sky brightness (double sideband, passband average) on an airmass x water grid."""
    wp = setup["params"]["wvr"]
    lo = float(wp["lo_ghz"]) * 1e9
    cf = np.array([float(v) for v in wp["if_centre_ghz"]]) * 1e9
    bw = np.array([float(v) for v in wp["bandwidth_ghz"]]) * 1e9
    res = float(wp.get("resolution_mhz", 25.0)) * 1e6
    half = float(np.max(cf + bw / 2)) + res
    at.initSpectralWindow(nbands=1, fCenter={"value": lo, "unit": "Hz"}, fWidth={"value": 2 * half, "unit": "Hz"},
                          fRes={"value": res, "unit": "Hz"})
    n = at.getNumChan(0)
    freq = np.array([float(np.ravel(at.getChanFreq(c, 0)["value"])[0]) for c in range(n)]) * 1e9
    masks = []  # [channel][sideband] -> grid channels inside the filter
    for c, b in zip(cf, bw):
        masks.append([np.abs(freq - (lo + sb * c)) <= b / 2 for sb in (-1, 1)])
        if min(m.sum() for m in masks[-1]) < 10:
            raise ValueError("wvr.resolution_mhz too coarse for the WVR filters")
    planck = str(wp.get("brightness", "rayleigh_jeans")) == "planck"
    get = at.getTebbSkySpec if planck else at.getTrjSkySpec
    amin, amax = float(np.min(geo["airmass"])), float(np.max(geo["airmass"]))
    a_nodes = np.linspace(max(amin - 0.01, 1.0), amax + 0.01, 9)  # ATM needs airmass >= 1
    dw = float(wp.get("water_step_mm", 0.05))
    w_nodes = pwv + np.array([-dw, 0.0, dw])
    grid = np.zeros((len(a_nodes), len(w_nodes), 4))
    for i, a in enumerate(a_nodes):
        at.setAirMass(float(a))
        for j, wv in enumerate(w_nodes):
            t = np.asarray(get(spwid=0, wh2o={"value": float(wv), "unit": "mm"})[1]["value"], float)
            for ch in range(4):  # equal sideband gains, flat passbands
                grid[i, j, ch] = 0.5 * (t[masks[ch][0]].mean() + t[masks[ch][1]].mean())
    at.setAirMass(1.0)
    return {"airmass_nodes": a_nodes, "water_nodes_mm": w_nodes, "tsky_k": grid, "planck": planck}


def _wvr_sky(grid: dict, airmass: np.ndarray, water_mm: np.ndarray) -> np.ndarray:
    """Sky brightness [..., 4] of the WVR channels at airmass and zenith water (quadratic in water)."""
    a_nodes, w_nodes, g = grid["airmass_nodes"], grid["water_nodes_mm"], grid["tsky_k"]
    dw = w_nodes[2] - w_nodes[1]
    out = np.zeros(np.shape(airmass) + (4,))
    for ch in range(4):
        t = [np.interp(airmass, a_nodes, g[:, j, ch]) for j in range(3)]
        x = (water_mm - w_nodes[1]) / dw
        out[..., ch] = t[1] + 0.5 * (t[2] - t[0]) * x + 0.5 * (t[2] - 2 * t[1] + t[0]) * x ** 2
    return out


def _wvr_data(setup: dict, atm: dict, geo: dict, wet_zenith: np.ndarray, rng) -> dict[str, Any]:
    """WVR brightness TObs [ant, time, 4] (K): coupling * Tsky + (1 - coupling) * Tspill + noise.

    Tsky for the zenith water pwv + delta_w_i(t), delta_w = zenith wet path / k_nd, at the airmass
    of the field observed at t. Antennas in wvr_bad_antennas get extra noise and a drift."""
    wp = setup["params"]["wvr"]
    water = atm["pwv_mm"] + wet_zenith / atm["k_nd_m_per_mm"]
    tsky = _wvr_sky(atm["wvr"], np.broadcast_to(geo["airmass"], water.shape), water)
    c = float(wp["coupling"])
    tobs = c * tsky + (1 - c) * float(wp["spill_temperature_k"])
    clean = tobs.copy()
    tobs = tobs + rng.standard_normal(tobs.shape) * float(wp["noise_k"])
    names = [a["name"] for a in setup["antennas"]]
    nt = tobs.shape[1]
    for n in setup["wvr_bad_antennas"]:
        i = names.index(n)
        bad = float(wp["bad_noise_k"])
        drift = np.cumsum(rng.standard_normal((nt, 4)), axis=0) * bad / math.sqrt(nt)
        tobs[i] += rng.standard_normal((nt, 4)) * bad + drift
    # dTobs/dL (K per m of slant wet path) at the median airmass: what wvrgcal has to retrieve
    a_med = float(np.median(geo["airmass"]))
    dw = 1e-3
    t_hi = _wvr_sky(atm["wvr"], np.array(a_med), np.array(atm["pwv_mm"] + dw))
    t_lo = _wvr_sky(atm["wvr"], np.array(a_med), np.array(atm["pwv_mm"] - dw))
    dtdl = c * (t_hi - t_lo) / (2 * dw * atm["k_nd_m_per_mm"] * a_med)
    return {"tobs": tobs.astype(np.float32), "tobs_clean": clean, "dtdl_k_per_m": dtdl, "airmass_ref": a_med}


def _wet_path_screen(setup: dict, rng) -> dict[str, Any]:
    """Zenith wet-path fluctuation [ant, time] (m) of a frozen von Karman screen moving with the wind.

    The screen is generated by FFT on a grid aligned with the wind, scaled so that the rms path
    difference between two points 300 m apart is wet_path.rms_um_at_300m; antenna i at time t sees
    the screen at (along_i - v (t - t0), across_i)."""
    wp = setup["params"]["wet_path"]
    rms300 = float(setup["ebp"].get("wet_path_rms_um_at_300m", wp["rms_um_at_300m"])) * 1e-6
    nant, times = len(setup["antennas"]), setup["times"]
    if rms300 <= 0:
        return {"path_m": np.zeros((nant, len(times))), "rms_um_at_300m": 0.0}
    cell = float(wp.get("cell_m", 10.0))
    v = float(wp["wind_speed_m_s"])
    th = math.radians(float(wp["wind_toward_deg"]))
    enu = np.array([a["enu"] for a in setup["antennas"]])
    along = enu[:, 0] * math.sin(th) + enu[:, 1] * math.cos(th)
    across = enu[:, 0] * math.cos(th) - enu[:, 1] * math.sin(th)
    t = times - times[0]
    a_pos = along[:, None] - v * t[None, :]  # [ant, time]
    c_pos = np.broadcast_to(across[:, None], a_pos.shape)
    l0 = float(wp["outer_scale_m"])
    span_a = float(a_pos.max() - a_pos.min()) + 4 * l0
    span_c = float(np.ptp(across)) + 4 * l0
    na = int(2 ** math.ceil(math.log2(span_a / cell)))
    nc = int(2 ** math.ceil(math.log2(span_c / cell)))
    ka = 2 * np.pi * np.fft.fftfreq(na, cell)
    kc = 2 * np.pi * np.fft.fftfreq(nc, cell)
    k2 = ka[:, None] ** 2 + kc[None, :] ** 2
    amp = (k2 + (2 * np.pi / l0) ** 2) ** (-11.0 / 12.0)
    amp[0, 0] = 0.0
    noise = rng.standard_normal((na, nc)) + 1j * rng.standard_normal((na, nc))
    scr = np.fft.ifft2(noise * amp).real
    lag = int(round(300.0 / cell))
    d300 = 0.5 * (np.mean((np.roll(scr, lag, axis=0) - scr) ** 2) + np.mean((np.roll(scr, lag, axis=1) - scr) ** 2))
    scr *= rms300 / math.sqrt(d300)
    # bilinear interpolation (grid origin at the minimum coordinates, 2 l0 margin)
    ia = (a_pos - a_pos.min()) / cell + 2 * l0 / cell
    ic = (c_pos - across.min()) / cell + 2 * l0 / cell
    i0, j0 = np.floor(ia).astype(int), np.floor(ic).astype(int)
    fa, fc = ia - i0, ic - j0
    path = ((1 - fa) * (1 - fc) * scr[i0, j0] + fa * (1 - fc) * scr[i0 + 1, j0]
            + (1 - fa) * fc * scr[i0, j0 + 1] + fa * fc * scr[i0 + 1, j0 + 1])
    return {"path_m": path, "rms_um_at_300m": rms300 * 1e6, "wind_speed_m_s": v,
            "wind_toward_deg": float(wp["wind_toward_deg"]), "outer_scale_m": l0, "cell_m": cell}


def _field_elevations(setup: dict) -> dict[int, float]:
    from casatools import measures, quanta

    me, qa = measures(), quanta()
    me.doframe(me.observatory("ALMA"))
    elev = {}
    for f in setup["fields"]:
        atm = [s for s in setup["scans"] if s["field_id"] == f["id"] and s["kind"] == "atm"][0]
        me.doframe(me.epoch("UTC", f"{(atm['start'] + atm['end']) / 2 / _DAY_S}d"))
        azel = me.measure(me.direction("J2000", f["ra"], f["dec"]), "AZEL")
        elev[f["id"]] = float(qa.convert(azel["m1"], "deg")["value"])
        if elev[f["id"]] < 15:
            raise ValueError(f"field {f['name']} at elevation {elev[f['id']]:.1f} deg: choose another start time")
    return elev


def _write_data(setup: dict, model: dict, ms: str) -> None:
    """Write DATA/FLAG/WEIGHT/SIGMA from the corruption model (rows grouped by spw)."""
    from casatools import table

    tb = table()
    tb.open(ms, nomodify=False)
    times_all = setup["times"]
    rng = model["rng"]
    sigma = model["noise_sigma"]
    for s in (setup["spws"][w] for w in setup["corr_spws"]):
        sub = tb.query(f"DATA_DESC_ID=={s['id']}")
        nrow = sub.nrows()
        if nrow == 0:
            sub.close()
            continue
        t = sub.getcol("TIME")
        a1 = sub.getcol("ANTENNA1")
        a2 = sub.getcol("ANTENNA2")
        f = sub.getcol("FIELD_ID")
        ti = _time_index(times_all, t)
        g = model["gains"]  # [ant, pol, time]
        B = model["bandpass"][s["id"]]["B"]  # [ant, pol, chan]
        g1 = g[a1, :, ti].T[:, None, :]  # [pol, 1, row]
        g2 = g[a2, :, ti].T[:, None, :]
        B1 = np.transpose(B[a1], (1, 2, 0))  # [pol, chan, row]
        B2 = np.transpose(B[a2], (1, 2, 0))
        path = _excess_path(setup, model, s["id"])  # [ant, time, chan]
        dpath = (path[a1, ti, :] - path[a2, ti, :]).T  # [chan, row]
        atmph = np.exp(1j * _PHASE_SIGN * 2 * np.pi * s["freqs"][:, None] / _C * dpath)[None, :, :]
        flux = np.zeros((s["nchan"], nrow))
        tline = np.zeros((s["nchan"], nrow))
        tsys1 = np.zeros((setup["npol"], s["nchan"], nrow))
        tsys2 = np.zeros_like(tsys1)
        for fld in setup["fields"]:
            sel = f == fld["id"]
            if not sel.any():
                continue
            if fld.get("model"):  # solar-system body: resolved disc, per baseline and channel
                flux[:, sel] = model["sso_vis"][s["id"]][:, sel]
            else:
                flux[:, sel] = _field_flux(setup, fld, s)[:, None]
            if s["type"] == "FDM":  # the ATMOSPHERE scans (TDM) do not see the extended line
                tline[:, sel] = _field_line_temperature(fld, s)[:, None]
            ts = model["tsys"][fld["id"]][s["id"]]  # [ant, pol, chan]
            tsys1[:, :, sel] = np.transpose(ts[a1[sel]], (1, 2, 0))
            tsys2[:, :, sel] = np.transpose(ts[a2[sel]], (1, 2, 0))
        shape = (setup["npol"], s["nchan"], nrow)
        noise = sigma * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
        # the correlator normalises by the total power, which includes the extended line
        power1, power2 = tsys1 + tline[None], tsys2 + tline[None]
        cross = (g1 * np.conj(g2) * B1 * np.conj(B2) * atmph * (flux[None, :, :] + noise)
                 / np.sqrt(power1 * power2))
        auto = (np.abs(g1) ** 2 * np.abs(B1) ** 2 * power1 / _AUTO_REF_K).astype(complex)
        is_auto = (a1 == a2)[None, None, :]
        data = np.where(is_auto, auto, cross).astype(np.complex64)
        sub.putcol("DATA", data)
        sub.putcol("FLAG", np.zeros(shape, bool))
        sub.putcol("WEIGHT", np.ones((setup["npol"], nrow), np.float32))
        sub.putcol("SIGMA", np.ones((setup["npol"], nrow), np.float32))
        sub.putcol("FLAG_ROW", np.zeros(nrow, bool))
        sub.close()
    if setup["wvr_spw"] is not None:
        # WVR: sky brightness temperatures (K) in the real part, one correlation, autocorrelations
        # (zero cross-correlations: removed after the export)
        sub = tb.query(f"DATA_DESC_ID=={setup['wvr_spw']}")
        a1, a2 = sub.getcol("ANTENNA1"), sub.getcol("ANTENNA2")
        ti = _time_index(times_all, sub.getcol("TIME"))
        tobs = np.where((a1 == a2)[None, None, :], model["wvr"]["tobs"][a1, ti, :].T[None, :, :], 0.0)
        nrow = sub.nrows()
        sub.putcol("DATA", tobs.astype(np.complex64))
        sub.putcol("FLAG", np.zeros(tobs.shape, bool))
        sub.putcol("WEIGHT", np.ones((1, nrow), np.float32))
        sub.putcol("SIGMA", np.ones((1, nrow), np.float32))
        sub.putcol("FLAG_ROW", np.zeros(nrow, bool))
        sub.close()
    tb.close()


def _field_flux(setup: dict, fld: dict, s: dict) -> np.ndarray:
    """S_f(nu) in Jy at the channels of spw ``s``: continuum plus the compact part of the line."""
    cont = fld["flux_jy"] * (s["freqs"] / setup["nu0"]) ** fld["spix"]
    line = fld["line"]
    return cont + (0.0 if line is None else line["flux_jy"] * _line_profile(line, s["freqs"]))


def _field_line_temperature(fld: dict, s: dict) -> np.ndarray:
    """Antenna temperature (K) of the field's extended line at the channels of spw ``s``."""
    line = fld["line"]
    return np.zeros_like(s["freqs"]) if line is None else line["antenna_temperature_k"] * _line_profile(line, s["freqs"])


def _solar_system_model(setup: dict, ms: str) -> tuple[dict, dict]:
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
        fluxes[f["name"]] = {str(spw): float(v["fluxd"][0]) for spw, v in result[str(f["id"])].items()
                             if spw.isdigit()}
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


def _write_syscal(setup: dict, model: dict, ms: str) -> None:
    """Create MS/SYSCAL with Tsys/Trx/Tsky/Tcal spectra of the TDM spws at every atm scan."""
    from casatools import table

    tb = table()
    path = os.path.join(ms, "SYSCAL")

    def col(vtype, comment, ndim=0, units=None, measinfo=None):
        d = {"valueType": vtype, "dataManagerType": "StandardStMan", "dataManagerGroup": "StandardStMan",
             "option": 0, "maxlen": 0, "comment": comment, "keywords": {}}
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
        "TIME": col("double", "Midpoint of time for which this set of parameters is accurate", units=["s"],
                    measinfo={"type": "epoch", "Ref": "UTC"}),
        "INTERVAL": col("double", "Interval for which this set of parameters is accurate", units=["s"]),
        "TCAL_FLAG": col("boolean", "Flag for TCAL"),
        "TCAL_SPECTRUM": col("float", "Calibration temp", ndim=2, units=["K"]),
        "TRX_FLAG": col("boolean", "Flag for TRX"),
        "TRX_SPECTRUM": col("float", "Receiver temperature", ndim=2, units=["K"]),
        "TSKY_FLAG": col("boolean", "Flag for TSKY"),
        "TSKY_SPECTRUM": col("float", "Sky temperature", ndim=2, units=["K"]),
        "TSYS_FLAG": col("boolean", "Flag for TSYS"),
        "TSYS_SPECTRUM": col("float", "System temp. for each of the two receptors", ndim=2, units=["K"]),
    }
    tb.create(path, desc)
    rows = []
    for sc in setup["scans"]:
        if sc["kind"] != "atm":
            continue
        for spw in sc["spws"]:
            if spw == setup["wvr_spw"]:
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
        for name, val in (("TSYS", ts), ("TRX", model["trx"][fid][spw][ia].astype(np.float32)),
                          ("TSKY", model["tsky"][fid][spw][ia].astype(np.float32)), ("TCAL", ts)):
            tb.putcell(f"{name}_SPECTRUM", r, val)
            tb.putcell(f"{name}_FLAG", r, False)
    tb.putinfo({"type": "SysCal", "subType": "", "readme": "simulated by simulate_eb.py"})
    tb.close()
    tb.open(ms, nomodify=False)
    tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(path))
    tb.close()
    setup["n_syscal"] = len(rows)


# ----------------------------------------------------------------------------------------------
# 4. export and repair the ASDM
# ----------------------------------------------------------------------------------------------
def _export_asdm(setup: dict, ms: str, asdm: str, work: str) -> None:
    from casatasks import exportasdm
    from casatools import table

    tb = table()
    # exportasdm starts a new ExecBlock (= one scan) whenever the duration given by the
    # OBSERVATION time range is reached; give every scan its own observation id.
    ms_exp = os.path.join(work, "export.ms")
    shutil.copytree(ms, ms_exp, symlinks=True)
    tb.open(ms_exp + "/OBSERVATION", nomodify=False)
    nscan = len(setup["scans"])
    tb.addrows(nscan - 1)
    for c in ("TELESCOPE_NAME", "OBSERVER", "PROJECT", "SCHEDULE_TYPE", "RELEASE_DATE", "FLAG_ROW"):
        v = tb.getcell(c, 0)
        for r in range(1, nscan):
            tb.putcell(c, r, v)
    for sc in setup["scans"]:
        # end beyond the last integration: exportasdm closes an ExecBlock as soon as a row reaches
        # the end, which would cut the last timestamp's second spw into a new ExecBlock
        tb.putcell("TIME_RANGE", sc["scan"] - 1, np.array([sc["start"], sc["end"] + 2 * setup["tint"]]))
    tb.close()
    tb.open(ms_exp, nomodify=False)
    tb.putcol("OBSERVATION_ID", tb.getcol("SCAN_NUMBER") - 1)
    # exportasdm accepts a single processor: the WVR rows get their RADIOMETER processor back in
    # _repair_asdm
    tb.putcol("PROCESSOR_ID", np.zeros(tb.nrows(), dtype=np.int32))
    tb.close()
    if setup["wvr_spw"] is not None:
        # exportasdm refuses windows of different receiver bands at the same time: the WVR window
        # (183 GHz) is exported with placeholder Band-6 channels, replaced in SpectralWindow.xml
        w = setup["wvr_spw"]
        tb.open(ms_exp + "/SPECTRAL_WINDOW", nomodify=False)
        ph = _WVR_PLACEHOLDER_HZ + np.arange(4) * _WVR_PLACEHOLDER_STEP_HZ
        tb.putcell("CHAN_FREQ", w, ph)
        for c in ("CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"):
            tb.putcell(c, w, np.full(4, _WVR_PLACEHOLDER_STEP_HZ))
        tb.putcell("TOTAL_BANDWIDTH", w, 4 * _WVR_PLACEHOLDER_STEP_HZ)
        tb.putcell("REF_FREQUENCY", w, ph[0])
        tb.close()
    tb.open(ms_exp, nomodify=False)
    # SYSCAL keyword must point into the copy
    tb.putkeyword("SYSCAL", "Table: " + os.path.abspath(os.path.join(ms_exp, "SYSCAL")))
    tb.close()

    # a distinct (valid, hexadecimal) ASDM/ExecBlock UID per EB: uid://A002/X<hash>/X1
    rangeid = "X" + hashlib.sha1(setup["eb"].encode()).hexdigest()[:6]
    ok = exportasdm(vis=ms_exp, asdm=asdm, datacolumn="DATA", archiveid="A002", rangeid=rangeid,
                    subscanduration="24h", sbduration="86400s", apcorrected=False, verbose=False)
    if ok is False or not os.path.exists(os.path.join(asdm, "Main.xml")):
        raise RuntimeError(f"exportasdm failed for {ms_exp} (see {setup['eb']} log)")
    shutil.rmtree(ms_exp)
    _repair_asdm(setup, asdm)
    _write_source_fluxes(setup, asdm)


def _write_source_fluxes(setup: dict, asdm: str) -> None:
    """Calibrator catalogue fluxes in Source.xml, as ALMA writes them: one row per calibrator
    (bandpass and phase roles) and science spw, Stokes I Q U V at the spw centre frequency."""
    path = os.path.join(asdm, "Source.xml")
    text = _read(path)
    rows = _xml_rows(text)
    calibrators = {f["name"]: f for f in setup["fields"] if f["role"] in ("bandpass", "phase")}
    new_rows = list(rows)
    for row in rows:
        field = calibrators.get(_xml_get(row, "sourceName"))
        if field is None:
            continue
        for spw in (setup["spws"][w] for w in setup["corr_spws"] if setup["spws"][w]["type"] == "FDM"):
            flux = float(field["flux_jy"] * (spw["centre"] / setup["nu0"]) ** field["spix"])
            extra = (f"<numFreq> 1 </numFreq> <numStokes> 4 </numStokes> "
                     f"<frequency> 1 1 {spw['centre']!r} </frequency> "
                     f"<stokesParameter> 1 4 I Q U V</stokesParameter> "
                     f"<flux> 2 1 4 {flux!r} 0.0 0.0 0.0 </flux> <size> 2 1 2 0.0 0.0 </size>")
            new = row.replace("</directionCode>", "</directionCode>" + extra, 1)
            new_rows.append(_xml_set(new, "spectralWindowId", f"SpectralWindow_{spw['id']}"))
    _write(path, _xml_replace_rows(text, new_rows))
    _set_numrows(asdm, "Source", len(new_rows))


_WVR_PLACEHOLDER_HZ = 250.0e9
_WVR_PLACEHOLDER_STEP_HZ = 2.0e9


# ---- minimal text-preserving editing of ASDM XML tables (the ASDM parser is format sensitive)
_ROW_RE = re.compile(r"<row>.*?</row>", re.S)


def _xml_rows(text: str) -> list[str]:
    return _ROW_RE.findall(text)


def _xml_get(row: str, tag: str) -> str:
    m = re.search(rf"<{tag}>(.*?)</{tag}>", row, re.S)
    if m is None:
        raise KeyError(tag)
    return m.group(1).strip()


def _xml_set(row: str, tag: str, value: str) -> str:
    new, n = re.subn(rf"<{tag}>.*?</{tag}>", lambda _m: f"<{tag}> {value} </{tag}>", row, count=1, flags=re.S)
    if n != 1:
        raise KeyError(tag)
    return new


def _xml_replace_rows(text: str, rows: list[str]) -> str:
    first = text.find("<row>")
    last = text.rfind("</row>") + len("</row>")
    if first < 0:
        raise RuntimeError("XML table without rows")
    return text[:first] + "\n  ".join(rows) + text[last:]


def _read(path: str) -> str:
    with open(path, encoding="ISO-8859-1") as fh:
        return fh.read()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ISO-8859-1") as fh:
        fh.write(text)


def _set_numrows(asdm: str, table: str, n: int) -> None:
    path = os.path.join(asdm, "ASDM.xml")
    text = _read(path)
    text, k = re.subn(rf"(<Name> {table} </Name> <NumberRows> )\d+( </NumberRows>)", rf"\g<1>{n}\g<2>", text)
    if k != 1:
        raise RuntimeError(f"ASDM.xml: table {table} not found")
    _write(path, text)


def _repair_asdm(setup: dict, asdm: str) -> None:
    """One ExecBlock holding scans 1..N with the real intents; one Subscan per scan."""
    scans = setup["scans"]

    # ---- ExecBlock / SBSummary: exportasdm wrote one per scan (by time order)
    eb_text = _read(os.path.join(asdm, "ExecBlock.xml"))
    eb_rows = _xml_rows(eb_text)
    if len(eb_rows) != len(scans):
        raise RuntimeError(f"exportasdm wrote {len(eb_rows)} ExecBlocks, expected one per scan ({len(scans)})")
    eb_rows.sort(key=lambda r: int(_xml_get(r, "startTime")))
    eb_ids = [_xml_get(r, "execBlockId") for r in eb_rows]
    scan_of_eb = {e: i + 1 for i, e in enumerate(eb_ids)}
    keep = eb_rows[0]
    keep_id = eb_ids[0]
    sbs_id = _xml_get(keep, "sBSummaryId")
    keep = _xml_set(keep, "endTime", _xml_get(eb_rows[-1], "endTime"))
    keep = _xml_set(keep, "execBlockNum", "1")
    keep = _xml_set(keep, "baseRangeMin", str(min(float(_xml_get(r, "baseRangeMin")) for r in eb_rows)))
    keep = _xml_set(keep, "baseRangeMax", str(max(float(_xml_get(r, "baseRangeMax")) for r in eb_rows)))
    keep = _xml_set(keep, "configName", setup["array_config"].replace(".cfg", ""))
    keep = _xml_set(keep, "observerName", "simulate_eb")
    _write(os.path.join(asdm, "ExecBlock.xml"), _xml_replace_rows(eb_text, [keep]))
    _set_numrows(asdm, "ExecBlock", 1)

    sb_text = _read(os.path.join(asdm, "SBSummary.xml"))
    sb_rows = [r for r in _xml_rows(sb_text) if _xml_get(r, "sBSummaryId") == sbs_id]
    if len(sb_rows) != 1:
        raise RuntimeError("SBSummary row of the first ExecBlock not found")
    dur = int(_xml_get(eb_rows[-1], "endTime")) - int(_xml_get(eb_rows[0], "startTime"))
    sb_row = _xml_set(sb_rows[0], "sbDuration", str(dur))
    _write(os.path.join(asdm, "SBSummary.xml"), _xml_replace_rows(sb_text, [sb_row]))
    _set_numrows(asdm, "SBSummary", 1)

    # ---- Main: scan number from the ExecBlock, one subscan per scan
    main_text = _read(os.path.join(asdm, "Main.xml"))
    main_rows = []
    bdf_paths = {}
    nint_of_scan: dict[int, set] = {}
    for r in _xml_rows(main_text):
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        r = _xml_set(r, "scanNumber", str(k))
        r = _xml_set(r, "subscanNumber", "1")
        r = _xml_set(r, "execBlockId", keep_id)
        uid = re.search(r'entityId="([^"]+)"', r.split("<dataUID>")[1]).group(1)
        bdf_paths[uid] = f"1/{k}/1/"
        nint_of_scan.setdefault(k, set()).add(int(_xml_get(r, "numIntegration")))
        main_rows.append(r)
    _write(os.path.join(asdm, "Main.xml"), _xml_replace_rows(main_text, main_rows))

    # ---- Scan
    scan_text = _read(os.path.join(asdm, "Scan.xml"))
    srows = _xml_rows(scan_text)
    if len(srows) != len(scans):
        raise RuntimeError(f"exportasdm wrote {len(srows)} scans, expected {len(scans)}")
    new_scans = []
    for r in srows:
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        sc = scans[k - 1]
        n = len(sc["intents"])
        r = _xml_set(r, "scanNumber", str(k))
        r = _xml_set(r, "execBlockId", keep_id)
        r = _xml_set(r, "numIntent", str(n))
        r = _xml_set(r, "numSubscan", "1")
        r = _xml_set(r, "scanIntent", f"1 {n} " + " ".join(sc["intents"]))
        r = _xml_set(r, "calDataType", f"1 {n} " + " ".join(["FULL_RESOLUTION_CROSS"] * n))
        r = _xml_set(r, "calibrationOnLine", f"1 {n} " + " ".join(["false"] * n))
        new_scans.append((k, r))
    new_scans.sort()
    _write(os.path.join(asdm, "Scan.xml"), _xml_replace_rows(scan_text, [r for _, r in new_scans]))

    # ---- Subscan: merge the per-spw subscans of each scan
    sub_text = _read(os.path.join(asdm, "Subscan.xml"))
    merged: dict[int, str] = {}
    for r in _xml_rows(sub_text):
        k = scan_of_eb[_xml_get(r, "execBlockId")]
        if k in merged:
            m = merged[k]
            m = _xml_set(m, "startTime", str(min(int(_xml_get(m, "startTime")), int(_xml_get(r, "startTime")))))
            m = _xml_set(m, "endTime", str(max(int(_xml_get(m, "endTime")), int(_xml_get(r, "endTime")))))
            merged[k] = m
        else:
            r = _xml_set(r, "scanNumber", str(k))
            r = _xml_set(r, "subscanNumber", "1")
            r = _xml_set(r, "execBlockId", keep_id)
            merged[k] = r
    sub_rows = []
    for k in sorted(merged):
        nint = nint_of_scan[k]
        if len(nint) != 1 or nint != {scans[k - 1]["nint"]}:
            raise RuntimeError(f"scan {k}: integrations per Main row {nint} != {scans[k - 1]['nint']}")
        n = scans[k - 1]["nint"]
        r = _xml_set(merged[k], "numIntegration", str(n))
        r = _xml_set(r, "numSubintegration", f"1 {n} " + " ".join(["0"] * n))
        r = _xml_set(r, "subscanIntent", "ON_SOURCE")
        sub_rows.append(r)
    _write(os.path.join(asdm, "Subscan.xml"), _xml_replace_rows(sub_text, sub_rows))
    _set_numrows(asdm, "Subscan", len(sub_rows))

    # ---- BDF headers: projectPath execBlockNum/scanNum/subscanNum
    bindir = os.path.join(asdm, "ASDMBinary")
    for uid, newpath in bdf_paths.items():
        fn = os.path.join(bindir, uid.replace(":", "_").replace("/", "_"))
        with open(fn, "rb") as fh:
            blob = fh.read()
        m = re.search(rb'projectPath="(\d+/\d+/\d+/)"', blob)
        if m is None:
            raise RuntimeError(f"no projectPath in BDF {fn}")
        old = m.group(1)
        new = newpath.encode()
        # replace in the global header and in every integration path "old<n>/"
        blob = blob.replace(b'projectPath="' + old + b'"', b'projectPath="' + new + b'"')
        blob = re.sub(rb"(Content-Location: |projectPath=\"|xlink:href= \")" + re.escape(old),
                      lambda mm: mm.group(1) + new, blob)
        blob = _strip_bdf_flags(blob, fn)
        with open(fn, "wb") as fh:
            fh.write(blob)

    # ---- spectral window names (exportasdm does not write them; importasdm reads <name>)
    spw_text = _read(os.path.join(asdm, "SpectralWindow.xml"))
    spw_rows = _xml_rows(spw_text)
    if len(spw_rows) != len(setup["spws"]):
        raise RuntimeError("SpectralWindow.xml: unexpected number of rows")
    spw_rows = [r.replace("</row>", f"<name> {s['name']} </name> </row>") if "<name>" not in r else r
                for r, s in zip(spw_rows, setup["spws"])]
    _write(os.path.join(asdm, "SpectralWindow.xml"), _xml_replace_rows(spw_text, spw_rows))

    # ---- WVR window: real channels, radiometer processor, autocorrelation-only BDFs
    if setup["wvr_spw"] is not None:
        _repair_asdm_wvr(setup, asdm)

    # ---- online flags (Flag.xml): real ASDMs always have this table
    _write_flag_table(setup, asdm)

    # ---- reproducible ASDM.xml: creation time = end of the EB instead of the wall clock
    end = _dt.datetime(1858, 11, 17) + _dt.timedelta(seconds=scans[-1]["end"])
    asdm_xml = _read(os.path.join(asdm, "ASDM.xml"))
    asdm_xml = re.sub(r"<TimeOfCreation>.*?</TimeOfCreation>",
                      f"<TimeOfCreation> {end.strftime('%Y-%m-%dT%H:%M:%S')}.000000000 </TimeOfCreation>", asdm_xml)
    _write(os.path.join(asdm, "ASDM.xml"), asdm_xml)


def _xml_array(values) -> str:
    """ASDM 1-D array literal: '1 n v1 ... vn'."""
    return f"1 {len(values)} " + " ".join(f"{float(v):.17g}" for v in values)


def _repair_asdm_wvr(setup: dict, asdm: str) -> None:
    """Turn the exported WVR window into ALMA radiometer data.

    exportasdm writes every data description as CROSS_AND_AUTO correlator data and refuses
    windows of a second receiver band: the WVR window was exported with placeholder Band-6
    channels and zero cross-correlations. Here its SpectralWindow row gets the real channels, its
    ConfigDescription the RADIOMETER processor and AUTO_ONLY, and its BDFs lose the cross data."""
    s = setup["spws"][setup["wvr_spw"]]
    spw_tag = f"SpectralWindow_{s['id']}"
    # SpectralWindow: real frequencies (uneven channels), double sideband
    spw_text = _read(os.path.join(asdm, "SpectralWindow.xml"))
    rows = _xml_rows(spw_text)
    k = [i for i, r in enumerate(rows) if _xml_get(r, "spectralWindowId") == spw_tag]
    if len(k) != 1:
        raise RuntimeError(f"SpectralWindow.xml: no row {spw_tag}")
    r = rows[k[0]]
    for tag, vals in (("chanFreqArray", s["freqs"]), ("chanWidthArray", s["widths"]),
                      ("effectiveBwArray", s["widths"]), ("resolutionArray", s["widths"])):
        r = _xml_set(r, tag, _xml_array(vals))
    r = _xml_set(r, "refFreq", f"{s['freqs'][0]:.17g}")
    r = _xml_set(r, "totBandwidth", f"{s['bandwidth']:.17g}")
    r = re.sub(r"<netSideband>\w+</netSideband>", "<netSideband>DSB</netSideband>", r)
    rows[k[0]] = r
    _write(os.path.join(asdm, "SpectralWindow.xml"), _xml_replace_rows(spw_text, rows))

    # Processor: the radiometer row (exportasdm copies the MS PROCESSOR table)
    proc_text = _read(os.path.join(asdm, "Processor.xml"))
    radiometer = [_xml_get(r, "processorId") for r in _xml_rows(proc_text) if "<processorType>RADIOMETER<" in r]
    if len(radiometer) != 1:
        raise RuntimeError("Processor.xml: no RADIOMETER processor")
    # DataDescription -> ConfigDescription of the WVR window
    dd_text = _read(os.path.join(asdm, "DataDescription.xml"))
    dd = [_xml_get(r, "dataDescriptionId") for r in _xml_rows(dd_text) if _xml_get(r, "spectralWindowId") == spw_tag]
    cd_text = _read(os.path.join(asdm, "ConfigDescription.xml"))
    cd_rows = _xml_rows(cd_text)
    wvr_cd = []
    for i, r in enumerate(cd_rows):
        if _xml_get(r, "dataDescriptionId").split()[2:] == dd:
            r = re.sub(r"<correlationMode>\w+</correlationMode>", "<correlationMode>AUTO_ONLY</correlationMode>", r)
            r = re.sub(r"<processorType>\w+</processorType>", "<processorType>RADIOMETER</processorType>", r)
            cd_rows[i] = _xml_set(r, "processorId", radiometer[0])
            wvr_cd.append(_xml_get(r, "configDescriptionId"))
    if len(dd) != 1 or len(wvr_cd) != 1:
        raise RuntimeError(f"WVR window: {len(dd)} data descriptions, {len(wvr_cd)} config descriptions (want 1, 1)")
    _write(os.path.join(asdm, "ConfigDescription.xml"), _xml_replace_rows(cd_text, cd_rows))

    # BDFs of the WVR Main rows: AUTO_ONLY radiometer data; Main.dataSize = autoData bytes
    main_text = _read(os.path.join(asdm, "Main.xml"))
    main_rows = _xml_rows(main_text)
    nwvr = 0
    for i, r in enumerate(main_rows):
        if _xml_get(r, "configDescriptionId") != wvr_cd[0]:
            continue
        uid = re.search(r'entityId="([^"]+)"', r.split("<dataUID>")[1]).group(1)
        fn = os.path.join(asdm, "ASDMBinary", uid.replace(":", "_").replace("/", "_"))
        with open(fn, "rb") as fh:
            blob, nbytes = _bdf_auto_only(fh.read(), fn)
        with open(fn, "wb") as fh:
            fh.write(blob)
        main_rows[i] = _xml_set(r, "dataSize", str(nbytes))
        nwvr += 1
    if nwvr != len(setup["scans"]):
        raise RuntimeError(f"WVR window: {nwvr} Main rows, expected one per scan")
    _write(os.path.join(asdm, "Main.xml"), _xml_replace_rows(main_text, main_rows))


_CROSS_PART = re.compile(rb"--MIME_boundary-2\nContent-Type: binary/octet-stream\n"
                         rb"Content-Location: [^\n]*crossData\.bin\n\n.*?\n(?=--MIME_boundary-2)", re.S)
_AUTO_PART = re.compile(rb"Content-Location: [^\n]*autoData\.bin\n\n(.*?)\n(?=--MIME_boundary-2)", re.S)


def _bdf_auto_only(blob: bytes, name: str) -> tuple[bytes, int]:
    """CROSS_AND_AUTO correlator BDF -> AUTO_ONLY radiometer BDF (cross data removed)."""
    nint = len(re.findall(rb"<sdmDataSubsetHeader", blob))
    subs = [
        (rb"<correlationMode>CROSS_AND_AUTO</correlationMode>", b"<correlationMode>AUTO_ONLY</correlationMode>", 1),
        (rb"<processorType>CORRELATOR</processorType>", b"<processorType>RADIOMETER</processorType>", 1),
        (rb'crossPolProducts="(\w+)" sdPolProducts="" scaleFactor="[^"]*" ', rb'sdPolProducts="\1" ', 1),
        (rb'<crossData size="\d+" axes="[A-Z ]+"/>\n', b"", 1),
        (rb'xsi:type="BinaryCrossAndAutoData"', b'xsi:type="BinaryAutoData"', nint),
        (rb'<crossData xlink:href= "[^"]*" type="\w+"/>\n', b"", nint),
        (rb'<zeroLags xlink:href= "[^"]*"/>\n', b"", nint),
    ]
    for pat, rep, want in subs:
        blob, n = re.subn(pat, rep, blob)
        if n != want:
            raise RuntimeError(f"{name}: unexpected BDF layout ({pat!r}: {n} matches, want {want})")
    blob, n = _CROSS_PART.subn(b"", blob)
    if n != nint:
        raise RuntimeError(f"{name}: {n} crossData attachments, expected {nint}")
    nbytes = sum(len(m) for m in _AUTO_PART.findall(blob))
    return blob, nbytes


_FLAGS_PART = re.compile(rb"--MIME_boundary-2\nContent-Type: binary/octet-stream\n"
                         rb"Content-Location: [^\n]*flags\.bin\n\n\x00*\n(?=--MIME_boundary-2)")


def _strip_bdf_flags(blob: bytes, name: str) -> bytes:
    """Remove the (all-zero, per channel) BDF flags written by exportasdm: ~35% of the volume.

    The flags attachment is optional in the BDF format; the ALMA correlator writes a much smaller
    one (no spectral axis). Without it importasdm(bdfflags=True) finds nothing to flag."""
    nint = len(re.findall(rb"<sdmDataSubsetHeader", blob))
    blob, n1 = _FLAGS_PART.subn(b"", blob)
    blob, n2 = re.subn(rb'<flags xlink:href= "[^"]*"/>\n', b"", blob)
    blob, n3 = re.subn(rb'<flags size="\d+" axes="[A-Z ]+"/>\n', b"", blob, count=1)
    if not (n1 == n2 == nint and n3 == 1):
        raise RuntimeError(f"{name}: unexpected BDF flag layout ({n1}, {n2}, {n3}, {nint} integrations)")
    return blob


def _write_flag_table(setup: dict, asdm: str) -> None:
    """Write Flag.xml with the online flags of params['online_flags'] (may be empty)."""
    asdm_xml = _read(os.path.join(asdm, "ASDM.xml"))
    container = re.search(r'<Entity entityId="([^"]+)"', asdm_xml).group(1)
    entity = container + "ff"  # a new, valid uid in the range of the ASDM (uid://A002/X<hash>/X1ff)
    ant_xml = _read(os.path.join(asdm, "Antenna.xml"))
    ant_tag = {_xml_get(r, "name"): _xml_get(r, "antennaId") for r in _xml_rows(ant_xml)}
    rows = []
    for k, fl in enumerate(setup["online_flags"]):
        rows.append(
            f"<row> \n<flagId> Flag_{k} </flagId> <startTime> {int(round(fl['start'] * 1e9))} </startTime> "
            f"<endTime> {int(round(fl['end'] * 1e9))} </endTime> <reason> {fl['reason']} </reason> "
            f"<numAntenna> 1 </numAntenna> <antennaId> 1 1 {ant_tag[fl['antenna']]} </antennaId> "
            "<numPolarizationType> 0 </numPolarizationType> <numSpectralWindow> 0 </numSpectralWindow> "
            "<numPairedAntenna> 0 </numPairedAntenna> </row>")
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?> <FlagTable xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:flag="http://Alma/XASDM/FlagTable" xsi:schemaLocation="http://Alma/XASDM/FlagTable '
        'http://almaobservatory.org/XML/XASDM/4/FlagTable.xsd" schemaVersion="4" schemaRevision="-1">\n'
        f'<Entity entityId="{entity}" entityIdEncrypted="na" entityTypeName="FlagTable" schemaVersion="1" '
        'documentVersion="1"/>'
        f'<ContainerEntity entityId="{container}" entityIdEncrypted="na" entityTypeName="ASDM" schemaVersion="1" '
        'documentVersion="1"/> ' + "\n  ".join(rows) + "\n  </FlagTable> \n"
    )
    _write(os.path.join(asdm, "Flag.xml"), text)
    new_entry = (f"<Table> <Name> Flag </Name> <NumberRows> {len(rows)} </NumberRows> "
                 f'<Entity entityId="{entity}" entityIdEncrypted="na" entityTypeName="FlagTable" '
                 'schemaVersion="1" documentVersion="1"/> </Table>')
    asdm_xml, n = re.subn(r"<Table> <Name> Flag </Name> <NumberRows> \d+ </NumberRows>.*?</Table>",
                          lambda _m: new_entry, asdm_xml, count=1, flags=re.S)
    if n != 1:
        raise RuntimeError("ASDM.xml: no Flag table entry")
    _write(os.path.join(asdm, "ASDM.xml"), asdm_xml)


# ----------------------------------------------------------------------------------------------
# 5. verification by re-import
# ----------------------------------------------------------------------------------------------
def _ms_summary(ms: str) -> dict[str, Any]:
    from casatools import msmetadata, table

    msmd = msmetadata()
    tb = table()
    msmd.open(ms)
    try:
        scans = [int(s) for s in msmd.scannumbers()]
        out: dict[str, Any] = {"scans": scans, "nrows": int(msmd.nrows()), "per_scan": {}}
        for s in scans:
            out["per_scan"][s] = {
                "fields": sorted(int(f) for f in msmd.fieldsforscan(s)),
                "spws": sorted(int(w) for w in msmd.spwsforscan(s)),
                "intents": sorted(msmd.intentsforscan(s)),
            }
        out["field_names"] = [str(n) for n in msmd.fieldnames()]
        out["antenna_names"] = [str(n) for n in msmd.antennanames()]
    finally:
        msmd.close()
    tb.open(ms)
    a1, a2, scan = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"), tb.getcol("SCAN_NUMBER")
    out["n_auto"] = int(np.sum(a1 == a2))
    for s in out["scans"]:
        out["per_scan"][s]["nrows"] = int(np.sum(scan == s))
    tb.close()
    tb.open(ms + "/SPECTRAL_WINDOW")
    out["bbc_no"] = [int(v) for v in tb.getcol("BBC_NO")] if "BBC_NO" in tb.colnames() else None
    out["spw_names"] = [str(n) for n in tb.getcol("NAME")]
    out["chan_freq"] = [tb.getcell("CHAN_FREQ", r) for r in range(tb.nrows())]
    tb.close()
    tb.open(ms + "/ANTENNA")
    out["positions"] = tb.getcol("POSITION").T
    tb.close()
    tb.open(ms + "/PROCESSOR")
    ptype = [str(v) for v in tb.getcol("TYPE")]
    tb.close()
    tb.open(ms + "/DATA_DESCRIPTION")
    dd_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(ms)
    spw_row = dd_spw[tb.getcol("DATA_DESC_ID")]
    proc = tb.getcol("PROCESSOR_ID")
    out["processor_of_spw"] = {int(w): sorted({ptype[p] for p in proc[spw_row == w]}) for w in np.unique(spw_row)}
    out["autos_only_spws"] = sorted(int(w) for w in np.unique(spw_row) if np.all((a1 == a2)[spw_row == w]))
    tb.close()
    tb.open(ms + "/POINTING")
    out["pointing"] = (tb.getcol("TIME"), tb.getcol("DIRECTION")[:, 0, :],
                       tb.getcolkeyword("DIRECTION", "MEASINFO")["Ref"]) if tb.nrows() else None
    tb.close()
    if "SYSCAL" in _keywords(ms):
        tb.open(ms + "/SYSCAL")
        out["syscal_rows"] = int(tb.nrows())
        out["syscal"] = {(int(a), int(w), round(float(t), 3)): tb.getcell("TSYS_SPECTRUM", r)
                         for r, (a, w, t) in enumerate(zip(tb.getcol("ANTENNA_ID"), tb.getcol("SPECTRAL_WINDOW_ID"),
                                                           tb.getcol("TIME")))}
        tb.close()
    else:
        out["syscal_rows"] = 0
        out["syscal"] = {}
    return out


def _keywords(ms: str) -> list[str]:
    from casatools import table

    tb = table()
    tb.open(ms)
    k = list(tb.keywordnames())
    tb.close()
    return k


def _read_vis(ms: str) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """DATA per spw, rows sorted by (TIME, ANTENNA1, ANTENNA2); also returns FLAG any()."""
    from casatools import table

    tb = table()
    tb.open(ms + "/DATA_DESCRIPTION")
    dd_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(ms)
    out = {}
    anyflag = False
    for dd, spw in enumerate(dd_spw):
        q = tb.query(f"DATA_DESC_ID=={dd}", sortlist="TIME,ANTENNA1,ANTENNA2")
        if q.nrows():
            out[int(spw)] = {"time": q.getcol("TIME"), "a1": q.getcol("ANTENNA1"), "a2": q.getcol("ANTENNA2"),
                             "data": q.getcol("DATA")}
            anyflag = anyflag or bool(q.getcol("FLAG").any())
        q.close()
    tb.close()
    return anyflag, out


def _verify_asdm(setup: dict, model: dict, ms: str, asdm: str, work: str) -> None:
    """Re-import the ASDM and compare it with the simulated MS; raise RuntimeError on mismatch."""
    from casatasks import casalog, gencal, importasdm
    from casatools import table

    vis = os.path.join(work, "verify.ms")
    flagfile = os.path.join(work, "verify.flagonline.txt")
    importasdm(asdm=asdm, vis=vis, savecmds=True, outfile=flagfile, overwrite=True, asis="Source")
    if not os.path.isdir(vis):
        raise RuntimeError(f"importasdm did not produce {vis}")
    problems: list[str] = []
    # the calibrator fluxes of Source.xml (a malformed row would silently empty SOURCE)
    tb = table()
    tb.open(os.path.join(vis, "ASDM_SOURCE"))
    n_flux = sum(1 for i in range(tb.nrows()) if tb.iscelldefined("flux", i))
    tb.close()
    n_calibrators = sum(1 for f in setup["fields"] if f["role"] in ("bandpass", "phase"))
    n_fdm = sum(1 for w in setup["corr_spws"] if setup["spws"][w]["type"] == "FDM")
    if n_flux != n_calibrators * n_fdm:
        problems.append(f"ASDM_SOURCE has {n_flux} rows with flux, want {n_calibrators * n_fdm}")

    ref = _ms_summary(ms)
    imp = _ms_summary(vis)
    for key in ("scans", "nrows", "n_auto", "field_names", "antenna_names", "bbc_no", "spw_names", "syscal_rows"):
        if ref[key] != imp[key]:
            problems.append(f"{key}: written {ref[key]} != imported {imp[key]}")
    if ref["scans"] != list(range(1, len(setup["scans"]) + 1)):
        problems.append(f"scan numbers {ref['scans']} are not 1..{len(setup['scans'])}")
    for s in ref["scans"]:
        if s in imp["per_scan"] and ref["per_scan"][s] != imp["per_scan"][s]:
            problems.append(f"scan {s}: written {ref['per_scan'][s]} != imported {imp['per_scan'].get(s)}")
        sc = setup["scans"][s - 1]
        want = {"fields": [sc["field_id"]], "spws": sorted(sc["spws"]),
                "intents": sorted(f"{i}#ON_SOURCE" for i in sc["intents"]),
                "nrows": _scan_rows(setup, sc, wvr_autos_only=True)}
        if ref["per_scan"][s] != want:
            problems.append(f"scan {s}: MS has {ref['per_scan'][s]}, setup wants {want}")
    if ref["n_auto"] == 0:
        problems.append("no autocorrelations")
    if imp["bbc_no"] != [s["baseband"] for s in setup["spws"]]:
        problems.append(f"BBC_NO {imp['bbc_no']} != basebands of the setup")
    for w, (f0, f1) in enumerate(zip(ref["chan_freq"], imp["chan_freq"])):
        if f0.shape != f1.shape or np.max(np.abs(f0 - f1)) > 1.0:
            problems.append(f"spw {w}: channel frequencies changed")
    if np.max(np.abs(ref["positions"] - imp["positions"])) > 1e-4:
        problems.append("antenna positions changed")
    online = np.array([a["itrf_online"] for a in setup["antennas"]])
    if np.max(np.abs(imp["positions"] - online)) > 1e-4:
        problems.append("imported antenna positions are not the online (error-carrying) ones")
    want_proc = {s["id"]: ["RADIOMETER" if s["type"] == "WVR" else "CORRELATOR"] for s in setup["spws"]}
    if imp["processor_of_spw"] != want_proc:
        problems.append(f"processor types per spw {imp['processor_of_spw']} != {want_proc}")
    want_autos = [] if setup["wvr_spw"] is None else [setup["wvr_spw"]]
    if imp["autos_only_spws"] != want_autos:
        problems.append(f"spws with autocorrelations only: {imp['autos_only_spws']}, want {want_autos}")
    if imp["pointing"] is None or imp["pointing"][2] != "AZELGEO":
        problems.append("imported POINTING is missing or not AZELGEO")
    else:
        ptime, pdir, _ = imp["pointing"]
        azel = _pointing_azel(setup, ptime)
        derr = np.degrees(np.max(np.abs(np.angle(np.exp(1j * (pdir - azel))))))
        casalog.post(f"verify POINTING: max |imported - computed| az/el = {derr:.2e} deg", "INFO")
        if derr > 0.01:
            problems.append(f"imported POINTING az/el differ from the fields' az/el by up to {derr:.3f} deg")
    if set(ref["syscal"]) != set(imp["syscal"]):
        problems.append("SYSCAL antenna/spw/time keys differ")
    else:
        for k, v in ref["syscal"].items():
            if v.shape != imp["syscal"][k].shape or np.max(np.abs(v - imp["syscal"][k])) > 1e-3:
                problems.append(f"SYSCAL TSYS_SPECTRUM differs for (ant, spw, time) {k}")
                break

    # visibilities (cross and auto), to float32 precision
    rtol = float(setup["params"].get("verify_rtol", 1e-5))
    flag_ref, vref = _read_vis(ms)
    flag_imp, vimp = _read_vis(vis)
    if flag_imp:
        problems.append("imported MS has flagged data (FLAG column)")
    if sorted(vref) != sorted(vimp):
        problems.append(f"spws with data: written {sorted(vref)} != imported {sorted(vimp)}")
    for spw in vref:
        if spw not in vimp:
            continue
        r, i = vref[spw], vimp[spw]
        if r["data"].shape != i["data"].shape:
            problems.append(f"spw {spw}: DATA shape {r['data'].shape} != imported {i['data'].shape}")
            continue
        if (np.max(np.abs(r["time"] - i["time"])) > 1e-3 or not np.array_equal(r["a1"], i["a1"])
                or not np.array_equal(r["a2"], i["a2"])):
            problems.append(f"spw {spw}: row metadata (TIME/ANTENNA1/ANTENNA2) differ")
            continue
        scale = np.max(np.abs(r["data"]))
        err = np.max(np.abs(r["data"] - i["data"])) / scale
        errc = np.max(np.abs(np.conj(r["data"]) - i["data"])) / scale
        casalog.post(f"verify spw {spw}: max |imported - written| / max|written| = {err:.2e} "
                     f"(conjugated: {errc:.2e})", "INFO")
        if err > rtol:
            hint = " (the round trip conjugates the data)" if errc <= rtol else ""
            problems.append(f"spw {spw}: DATA differs after the round trip, rel. error {err:.2e}{hint}")

    # online flags
    nflags = len(setup["online_flags"])
    if nflags:
        if not os.path.exists(flagfile):
            problems.append("importasdm wrote no online flag commands")
        else:
            with open(flagfile) as fh:
                ncmd = sum(1 for line in fh if line.strip())
            if ncmd != nflags:
                problems.append(f"{ncmd} online flag commands, expected {nflags}")

    # gencal(caltype='tsys') must read the imported SYSCAL and give the true Tsys per field
    caltable = os.path.join(work, "verify.tsys")
    gencal(vis=vis, caltable=caltable, caltype="tsys")
    tb = table()
    tb.open(caltable)
    fp, fld, spw, ant = (tb.getcol("FPARAM"), tb.getcol("FIELD_ID"), tb.getcol("SPECTRAL_WINDOW_ID"),
                         tb.getcol("ANTENNA1"))
    tb.close()
    if fp.shape[2] != setup["n_syscal"]:
        problems.append(f"gencal tsys: {fp.shape[2]} solutions, expected {setup['n_syscal']}")
    else:
        worst = 0.0
        for r in range(fp.shape[2]):
            true = model["tsys"][int(fld[r])][int(spw[r])][int(ant[r])]
            worst = max(worst, float(np.max(np.abs(fp[:, :, r] - true) / true)))
        casalog.post(f"verify gencal tsys: max relative error vs truth {worst:.2e}", "INFO")
        if worst > 1e-5:
            problems.append(f"gencal tsys differs from the true Tsys (rel. error {worst:.2e}; wrong field?)")

    if problems:
        raise RuntimeError(f"ASDM verification failed for {setup['eb']}:\n  " + "\n  ".join(problems))
    shutil.rmtree(vis, ignore_errors=True)
    shutil.rmtree(vis + ".flagversions", ignore_errors=True)
    shutil.rmtree(caltable, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# 6. truth and antenna positions
# ----------------------------------------------------------------------------------------------
def _r(a, digits: int = 7):
    """Nested lists with limited significant digits (keeps the JSON small)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(np.asarray(a)).tolist()


def _write_truth(setup: dict, model: dict, path: str) -> None:
    p = setup["params"]
    pols = [c[0] for c in setup["corr"]]
    corr_spws = [setup["spws"][w] for w in setup["corr_spws"]]
    tsys_out: dict[str, Any] = {}
    for f in setup["fields"]:
        atm = [s for s in setup["scans"] if s["field_id"] == f["id"] and s["kind"] == "atm"]
        tsys_out[f["name"]] = {
            "field_id": f["id"],
            "elevation_deg": round(model["elevation_deg"][f["id"]], 4),
            "atm_scans": [s["scan"] for s in atm],
            "spw": {str(s["id"]): _r(model["tsys"][f["id"]][s["id"]]) for s in corr_spws},
        }
    geo, atm_m, scr = model["geo"], model["atm"], model["screen"]
    names = [a["name"] for a in setup["antennas"]]
    wet_phase = {}
    for s in corr_spws:  # wet-path phase at the spw centre (dispersive part included)
        ratio = float(np.interp(s["centre"], s["freqs"], atm_m["wet_path_ratio"][s["id"]]))
        wet_phase[str(s["id"])] = _r(np.degrees(_PHASE_SIGN * 2 * np.pi * s["centre"] / _C
                                                * model["wet_path_m"] * ratio), 5)
    truth = {
        "schema_version": 2,
        "eb": setup["eb"],
        "mous": p.get("mous"),
        "seed": int(p["seed"]),
        "seed_offset": int(setup["ebp"]["seed_offset"]),
        "rng_seed": setup["seed"],
        "model": _MODEL_TEXT,
        "start_utc": str(setup["ebp"]["start_utc"]),
        "array": setup["array"],
        "array_config": setup["array_config"],
        "has_wvr": setup["has_wvr"],
        "integration_s": setup["tint"],
        "noise_sigma_jy": model["noise_sigma"],
        "nu0_hz": setup["nu0"],
        "correlations": setup["corr"],
        "antennas": [{"id": i, "name": a["name"], "station": a["pad"], "position_itrf_m": list(a["itrf"]),
                      "position_online_itrf_m": list(a["itrf_online"]),
                      "position_error_m": [float(v) for v in a["pos_error"]],
                      "dish_diameter_m": setup["dish_diameter_m"]} for i, a in enumerate(setup["antennas"])],
        "fields": [{"id": f["id"], "name": f["name"], "role": f["role"], "ra": f["ra"], "dec": f["dec"],
                    "intents": [f"{i}#ON_SOURCE" for i in f["intents"]], "S0_jy": f["flux_jy"], "spix": f["spix"],
                    "nu0_hz": setup["nu0"], "line": f["line"], "model": f.get("model"),
                    "model_flux_jy": model["sso_flux"].get(f["name"])} for f in setup["fields"]],
        "auto_ref_k": _AUTO_REF_K,
        "spws": [{"id": s["id"], "name": s["name"], "type": s["type"], "baseband": s["baseband"],
                  "nchan": s["nchan"], "chan_width_hz": (s["width"] if s["type"] != "WVR" else s["widths"].tolist()),
                  "chan_freq_hz": s["freqs"].tolist()}
                 for s in setup["spws"]],
        "scans": [{"scan": s["scan"], "field": s["field"], "field_id": s["field_id"],
                   "intents": [f"{i}#ON_SOURCE" for i in s["intents"]], "spws": s["spws"],
                   "start_mjd_s": s["start"], "end_mjd_s": s["end"], "n_integrations": s["nint"]}
                  for s in setup["scans"]],
        "online_flags": [{"antenna": f["antenna"], "scan": f["scan"], "start_mjd_s": f["start"],
                          "end_mjd_s": f["end"], "reason": f["reason"]} for f in setup["online_flags"]],
        "gains": {
            "description": "g[ant][pol][time] = amp * exp(1j*radians(phase_deg)); time = MS TIME (MJD s, UTC)",
            "pols": pols,
            "times_mjd_s": setup["times"].tolist(),
            "amp": _r(model["gain_amp"]),
            "phase_deg": _r(model["gain_phase_deg"]),
        },
        "bandpass": {
            "description": "B[spw][ant][pol][chan] = amp * exp(1j*radians(phase_deg)), at spws[].chan_freq_hz",
            "spw": {str(s["id"]): {"amp": _r(model["bandpass"][s["id"]]["amp"]),
                                   "phase_deg": _r(model["bandpass"][s["id"]]["phase_deg"])}
                    for s in corr_spws},
        },
        "tsys": {
            "description": "Tsys[field][spw][ant][pol][chan] in K at spws[].chan_freq_hz, constant in time; "
                           "TDM values are in SYSCAL at the field's atm scans. "
                           "Tsys = (Trx + eta*Tsky + (1-eta)*Tamb) / (eta*exp(-tau*A)), tau(nu) and Tsky(nu, A) "
                           "from casatools.atmosphere (ATM) at the EB's PWV, A = 1/sin(elevation_deg)",
            "field": tsys_out,
            "forward_efficiency": {n: round(float(e), 6) for n, e in zip(names, model["eta"])},
            "t_amb_k": float(p["atmosphere"]["ground_temperature_k"]),
            "tau_zenith": {str(s["id"]): _r(atm_m["tau_zenith"][s["id"]], 6) for s in corr_spws},
            "atm_lines": atm_m["lines"],
        },
        "atmosphere": {
            "description": "casatools.atmosphere (ATM) model of the site; k_nd = non-dispersive wet path per mm "
                           "of zenith PWV",
            "atm_version": atm_m["atm_version"],
            "pwv_mm": atm_m["pwv_mm"],
            "k_nd_m_per_mm": atm_m["k_nd_m_per_mm"],
            "parameters": {k: v for k, v in p["atmosphere"].items()},
        },
        "antenna_positions": {
            "description": "The ASDM/MS carry the online positions position_online_itrf_m = position_itrf_m + "
                           "position_error_m; the position-service JSON (<eb>.antennapos.json) the true ones. "
                           "path_error_m[ant][time] = position_error_m . s(t), s = unit vector of the observed "
                           "field in ITRF: the excess path the data carry (see wet_path.description for the phase)",
            "errors_m": {a["name"]: [float(v) for v in a["pos_error"]] for a in setup["antennas"]
                         if np.any(a["pos_error"] != 0)},
            "times_mjd_s": setup["times"].tolist(),
            "path_error_m": _r(model["geo_path_m"], 6),
        },
        "wet_path": {
            "description": "Excess path P_i(t, nu) = path_m[i][t] * r(nu) + antenna_positions.path_error_m[i][t]; "
                           "DATA(i, j) carries exp(1j * phase_sign * 2 pi nu / c * (P_i - P_j)). path_m: slant, "
                           "non-dispersive wet path = airmass(t) * zenith_path_m (frozen turbulent screen, "
                           "fluctuation about the EB mean PWV); r(nu) = (non-dispersive + dispersive) / "
                           "non-dispersive wet path from ATM (dispersive_ratio[spw][chan]). "
                           "phase_deg[spw][ant][time]: the wet-path phase term at the spw centre frequency "
                           "(includes phase_sign). Only differences between antennas reach the visibilities.",
            "phase_sign": _PHASE_SIGN,
            "times_mjd_s": setup["times"].tolist(),
            "field_id": geo["field_id"].tolist(),
            "elevation_deg": _r(np.degrees(geo["el"]), 6),
            "airmass": _r(geo["airmass"], 6),
            "zenith_path_m": _r(model["wet_path_zenith_m"], 6),
            "path_m": _r(model["wet_path_m"], 6),
            "dispersive_ratio_at_centre": {str(s["id"]): float(np.interp(s["centre"], s["freqs"],
                                                                       atm_m["wet_path_ratio"][s["id"]]))
                                           for s in corr_spws},
            "dispersive_ratio": {str(s["id"]): _r(atm_m["wet_path_ratio"][s["id"]], 9) for s in corr_spws},
            "phase_deg": wet_phase,
            "screen": {k: v for k, v in scr.items() if k != "path_m"},
        },
    }
    if setup["has_wvr"]:
        w, wp = model["wvr"], p["wvr"]
        s = setup["spws"][setup["wvr_spw"]]
        truth["wvr"] = {
            "description": "ALMA WVR data in spw 'spw' (autocorrelation rows, processor RADIOMETER, one "
                           "correlation): TObs = coupling * Tsky + (1 - coupling) * spill_temperature_k + noise, "
                           "Tsky = ATM brightness of the four double-sideband channels for zenith water "
                           "pwv_mm + zenith_path_m / k_nd_m_per_mm at the airmass of the observed field. "
                           "tobs_k[ant][chan][time] as written to the ASDM; dtdl_k_per_m[chan]: dTObs/d(slant "
                           "wet path) at airmass_ref. Antennas in bad_antennas have unusable WVR data (extra "
                           "noise bad_noise_k and a drift): wvrgcal must flag them (wvrflag) and interpolate.",
            "spw": s["id"],
            "spw_name": s["name"],
            "chan_freq_hz": s["freqs"].tolist(),
            "chan_width_hz": s["widths"].tolist(),
            "lo_hz": float(wp["lo_ghz"]) * 1e9,
            "if_centre_hz": [float(v) * 1e9 for v in wp["if_centre_ghz"]],
            "brightness": "planck" if atm_m["wvr"]["planck"] else "rayleigh_jeans",
            "coupling": float(wp["coupling"]),
            "spill_temperature_k": float(wp["spill_temperature_k"]),
            "noise_k": float(wp["noise_k"]),
            "bad_antennas": list(setup["wvr_bad_antennas"]),
            "bad_noise_k": float(wp["bad_noise_k"]),
            "airmass_ref": w["airmass_ref"],
            "dtdl_k_per_m": [float(v) for v in w["dtdl_k_per_m"]],
            "times_mjd_s": setup["times"].tolist(),
            "tobs_k": _r(np.transpose(w["tobs"], (0, 2, 1)), 7),
        }
    with open(path, "w") as fh:
        json.dump(truth, fh, indent=1)


def _write_antpos(setup: dict, path: str, outfile: str) -> None:
    """Antenna positions as returned by ALMA's position service (task getantposalma)."""
    data = {a["name"]: [float(v) for v in a["itrf"]] for a in setup["antennas"]}
    meta = {
        "caltype": "ALMA antenna positions",
        "description": "ALMA ITRF antenna positions in meters",
        "product_code": "antposalma",
        "outfile": outfile,
        "hosts": ["simulated"],
        "asdm": setup["eb"].replace("___", "://").replace("_", "/"),
        "search": "both_latest",
        "successful_url": "simulated by workflow/scripts/simulate_eb.py (true positions; the ASDM carries the "
                          "online positions, in error by the EB's antenna_position_errors_m)",
        "timestamp": str(setup["ebp"]["start_utc"]).replace("T", " "),
    }
    with open(path, "w") as fh:
        json.dump({"data": data, "metadata": meta}, fh, indent=1)


if "snakemake" in globals():
    import yaml

    with open(snakemake.input.parameters) as stream:  # noqa: F821
        demo = yaml.safe_load(stream)
    simulate_eb(params=demo, eb=snakemake.wildcards.eb, asdm=snakemake.output.asdm,  # noqa: F821
                truth=snakemake.output.truth, antpos_json=snakemake.output.antpos, log=snakemake.log[0])  # noqa: F821
    from casa_job import CasaSevereError, severe_lines

    if severe_lines(snakemake.log[0]):  # noqa: F821  (CASA can fail without raising)
        raise CasaSevereError(f"CASA logged SEVERE messages, see {snakemake.log[0]}")  # noqa: F821
