"""Setup: everything the simulation of an EB derives from the parameters (no CASA MS yet).

:func:`build_setup` turns the demo MOUS parameters (``resources/demo_mous.yaml``) and one of its
EBs into a plain dict:

* antennas: ALMA 12 m antennas (or ACA 7 m antennas, per EB ``array``) on real pads of a casadata
  simmos configuration (LOC -> ITRF with simutil), with their true positions, the positions used
  online (true pad position + the EB's ``antenna_position_errors_m``) and their East/North/Up
  offsets from the array centre;
* spectral windows: Band 6 TDM (Tsys/ATMOSPHERE) and FDM (science) windows, XX/YY; 12 m EBs with
  ``wvr: true`` also get the 4-channel WVR window (``WVR#NOMINAL``, 183.3 GHz double sideband),
  observed in every scan;
* fields, with an optional bright extended line (Gaussian in frequency); a solar-system flux
  calibrator (``solar_system_flux_calibrator``) is added as a field at the body's casadata
  JPL-Horizons position at the EB start, with its ATMOSPHERE and observing scans;
* the scan timeline: scans 1..N with their ALMA intents, spws, integrations and times (MJD
  seconds, UTC), and the online flags.
"""

import datetime as _dt
import importlib.util
import math
import os
from typing import Any

import numpy as np

DAY_S = 86400.0


def _casadata_dir() -> str:
    spec = importlib.util.find_spec("casadata")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("python package casadata not found (needed for the array configuration)")
    return os.path.join(list(spec.submodule_search_locations)[0], "__data__")


def _utc_to_mjd_s(iso: str) -> float:
    t = _dt.datetime.fromisoformat(str(iso).replace("Z", ""))
    mjd0 = _dt.datetime(1858, 11, 17)
    return (t - mjd0).total_seconds()


def mjd_s_to_casa(t: float) -> str:
    d = _dt.datetime(1858, 11, 17) + _dt.timedelta(seconds=t)
    return d.strftime("%Y/%m/%d/%H:%M:%S.") + f"{d.microsecond // 1000:03d}"


def _add_solar_system_flux_calibrator(
    sso: dict, ebp: dict, fields: list[dict], scans: list[dict]
) -> tuple[list[dict], list[dict]]:
    """A solar-system body as the EB's flux calibrator: a field at the body's J2000 position
    (casadata JPL-Horizons ephemeris, at the EB start) with CALIBRATE_FLUX, its ATMOSPHERE and
    observing scans after scan ``after_scan``; the other fields lose CALIBRATE_FLUX. Its
    visibilities are CASA's Butler-JPL-Horizons 2012 model (see data.solar_system_model)."""
    body = str(sso["body"])
    ra_deg, dec_deg = _ephemeris_position(body, _utc_to_mjd_s(ebp["start_utc"]) / DAY_S)
    for f in fields:
        f["intents"] = [i for i in f["intents"] if i != "CALIBRATE_FLUX"]
    fields = fields + [
        {
            "id": len(fields),
            "name": body,
            "role": "flux",
            "ra": f"{ra_deg!r}deg",
            "dec": f"{dec_deg!r}deg",
            "intents": ["CALIBRATE_FLUX"],
            "flux_jy": None,
            "spix": None,
            "line": None,
            "model": "Butler-JPL-Horizons 2012",
        }
    ]
    after = int(sso["after_scan"])
    added = [
        {"field": body, "kind": "atm", "duration_s": 20},
        {"field": body, "kind": "obs", "duration_s": float(sso["duration_s"])},
    ]
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
    raise ValueError(
        f"no casadata JPL-Horizons ephemeris of {body} covers MJD {mjd:.2f} ({pattern})"
    )


def _line_params(field: dict) -> dict[str, float] | None:
    """The optional bright extended line of a field (Gaussian in frequency), in SI units."""
    line = field.get("line")
    if not line:
        return None
    missing = {"centre_ghz", "fwhm_mhz", "flux_jy", "antenna_temperature_k"} - set(line)
    if missing:
        raise ValueError(f"field {field['name']}: line needs {sorted(missing)}")
    return {
        "centre_hz": float(line["centre_ghz"]) * 1e9,
        "fwhm_hz": float(line["fwhm_mhz"]) * 1e6,
        "flux_jy": float(line["flux_jy"]),
        "antenna_temperature_k": float(line["antenna_temperature_k"]),
    }


def line_profile(line: dict | None, freqs: np.ndarray) -> np.ndarray:
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
    rot = np.array(
        [
            [-math.sin(lon), math.cos(lon), 0.0],
            [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)],
            [math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)],
        ]
    )
    return (np.asarray(itrf) - ref) @ rot.T


def build_setup(params: dict, eb: str) -> dict[str, Any]:
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
        raise ValueError(
            f"EB {eb}: the ACA 7 m antennas have no water-vapour radiometers (wvr: false)"
        )

    # antennas: pads of a casadata simmos configuration, LOC -> ITRF with simutil
    cfg = os.path.join(_casadata_dir(), "alma", "simmos", arr["array_config"])
    if not os.path.exists(cfg):
        raise FileNotFoundError(cfg)
    x, y, z, _d, pads, _names, _tel, _obs = simutil().readantenna(cfg)
    padpos = {str(p): (float(a), float(b), float(c)) for p, a, b, c in zip(pads, x, y, z)}
    errors = {
        str(k): [float(v) for v in val]
        for k, val in (ebp.get("antenna_position_errors_m") or {}).items()
    }
    antennas = []
    for a in arr["antennas"]:
        if a["pad"] not in padpos:
            raise ValueError(f"pad {a['pad']} of antenna {a['name']} not in {cfg}")
        err = errors.pop(a["name"], [0.0, 0.0, 0.0])
        if len(err) != 3:
            raise ValueError(
                f"EB {eb}: antenna_position_errors_m[{a['name']}] must be [dx, dy, dz] (ITRF, m)"
            )
        true = np.array(padpos[a["pad"]])
        antennas.append(
            {
                "name": a["name"],
                "pad": a["pad"],
                "itrf": tuple(true.tolist()),
                "itrf_online": tuple((true + np.array(err)).tolist()),
                "pos_error": np.array(err),
            }
        )
    if errors:
        raise ValueError(
            f"EB {eb}: antenna_position_errors_m for antennas not in the array: {sorted(errors)}"
        )
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
        spws.append(
            {
                "id": i,
                "name": s["name"],
                "type": s["type"].upper(),
                "baseband": int(s["baseband"]),
                "nchan": nchan,
                "width": width,
                "bandwidth": bw,
                "centre": centre_f,
                "freqs": freqs,
                "widths": np.full(nchan, width),
                "corr": None,
            }
        )
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
        spws.append(
            {
                "id": wvr_spw,
                "name": str(wp.get("spw_name", "WVR#NOMINAL")),
                "type": "WVR",
                "baseband": 0,
                "nchan": 4,
                "width": float(bws[0]),
                "bandwidth": float(bws.sum()),
                "centre": float((freqs[0] + freqs[-1]) / 2),
                "freqs": freqs,
                "widths": bws,
                "corr": ["XX"],
            }
        )
    corr_spws = sorted(tdm + fdm)

    fields = []
    for i, f in enumerate(params["fields"]):
        fields.append(
            {
                "id": i,
                "name": f["name"],
                "role": f["role"],
                "ra": f["ra"],
                "dec": f["dec"],
                "intents": list(f["intents"]),
                "flux_jy": float(f["flux_jy"]),
                "spix": float(f["spix"]),
                "line": _line_params(f),
            }
        )
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
        scans.append(
            {
                "scan": k,
                "field": f["name"],
                "field_id": f["id"],
                "kind": sc["kind"],
                "intents": intents,
                "obs_mode": ",".join(f"{i}#ON_SOURCE" for i in intents),
                "spws": sspw,
                "nint": nint,
                "start": t,
                "end": t + nint * tint,
                "times": t + (np.arange(nint) + 0.5) * tint,
            }
        )
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
        online_flags.append(
            {
                "antenna": fl["antenna"],
                "scan": sc["scan"],
                "start": start,
                "end": start + float(fl["duration_s"]),
                "reason": str(fl["reason"]).replace(" ", "_"),
            }
        )

    corr = [c.upper() for c in params.get("correlations", ["XX", "YY"])]
    if corr not in (["XX", "YY"], ["XX"]):
        raise ValueError(f"correlations {corr}: the model supports the parallel hands XX, YY only")
    for s in spws:
        if s["corr"] is None:
            s["corr"] = corr
    dish = float(arr["dish_diameter_m"])
    noise_scale = (
        (float(_array_params(params, "12m")["dish_diameter_m"]) / dish) ** 2
        if array != "12m"
        else 1.0
    )
    return {
        "params": params,
        "eb": eb,
        "ebp": ebp,
        "seed": int(params["seed"]) + int(ebp["seed_offset"]),
        "array": array,
        "array_config": arr["array_config"],
        "dish_diameter_m": dish,
        "noise_scale": noise_scale,
        "has_wvr": has_wvr,
        "wvr_spw": wvr_spw,
        "wvr_bad_antennas": bad_wvr,
        "antennas": antennas,
        "array_centre_itrf": centre,
        "spws": spws,
        "tdm": tdm,
        "fdm": fdm,
        "corr_spws": corr_spws,
        "fields": fields,
        "scans": scans,
        "tint": tint,
        "corr": corr,
        "npol": len(corr),
        "nu0": float(params["ref_freq_ghz"]) * 1e9,
        "online_flags": online_flags,
        "times": np.concatenate([s["times"] for s in scans]),
    }
