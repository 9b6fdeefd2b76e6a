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

The ALMA raw layout of resources/real_layout_mous.yaml (optional keys; the demo uses none of
them, ``setup['features']`` lists those an EB uses): the WVR window at the place of a
``{type: WVR}`` entry (spw 0), 1-channel ``...#CH_AVG`` twins of ``ch_avg: true`` windows,
TDM windows for pointing and sideband-ratio scans (``scan_kinds``), antennas with another dish
(7 m antennas in a 12 m array: no WVR), mosaics (``mosaic_offsets_arcsec``: one field per
pointing, all of one name, visited in multi-field scans with one subscan per pointing: the
entries of ``setup['scans']`` are subscans, see :func:`scan_groups`), fields without ATMOSPHERE
scans (``atm_scans: false``: Tsys at their own elevation) and point sources off the phase centre
(``position_offset_arcsec``).
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
            "key": body,
            "pointing": None,
            "mosaic_offset_arcsec": None,
            "atm_scans": True,
            "position_offset_arcsec": None,
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


# scan kinds: atm (CALIBRATE_ATMOSPHERE, the Tsys windows), obs (the field's intents, the science
# windows), pointing and sideband (CALIBRATE_POINTING / CALIBRATE_SIDEBAND_RATIO on a calibrator,
# in the TDM windows that name them, as ALMA's calibration spectral setup)
SCAN_KINDS = ("atm", "obs", "pointing", "sideband")
KIND_INTENTS = {"pointing": "CALIBRATE_POINTING", "sideband": "CALIBRATE_SIDEBAND_RATIO"}


def _spectral_windows(params: dict, has_wvr: bool):
    """Spectral windows in MS/ASDM id order: the correlator windows of params['spectral_windows']
    (each ``ch_avg: true`` one followed by its 1-channel ``...#CH_AVG`` twin, as ALMA writes
    them) and, with WVR data, the 4-channel WVR window, at the place of a ``{type: WVR}`` entry
    (ALMA: spw 0) or else last. Returns (spws, tdm, fdm, wvr_spw, ch_avg): tdm/fdm are the
    FULL_RES windows; ch_avg maps a FULL_RES window to its twin."""
    items = []  # ("corr", entry) | ("wvr", None), in id order
    for s in params["spectral_windows"]:
        if str(s.get("type", "")).upper() == "WVR":
            if has_wvr:
                items.append(("wvr", None))
            continue
        items.append(("corr", s))
    if has_wvr and not any(kind == "wvr" for kind, _ in items):
        items.append(("wvr", None))
    spws: list[dict] = []
    ch_avg: dict[int, int] = {}
    wvr_spw = None
    for kind, s in items:
        if kind == "wvr":
            wvr_spw = len(spws)
            spws.append(_wvr_window(params, wvr_spw))
            continue
        i = len(spws)
        nchan = int(s["nchan"])
        bw = float(s["bandwidth_ghz"]) * 1e9
        width = bw / nchan
        centre_f = float(s["centre_ghz"]) * 1e9
        freqs = centre_f - bw / 2 + (np.arange(nchan) + 0.5) * width
        stype = s["type"].upper()
        spws.append(
            {
                "id": i,
                "name": s["name"],
                "type": stype,
                "baseband": int(s["baseband"]),
                "nchan": nchan,
                "width": width,
                "bandwidth": bw,
                "centre": centre_f,
                "freqs": freqs,
                "widths": np.full(nchan, width),
                "corr": None,
                "scan_kinds": [
                    str(k) for k in s.get("scan_kinds", ["atm"] if stype == "TDM" else ["obs"])
                ],
                "ch_avg_of": None,
            }
        )
        bad = sorted(set(spws[i]["scan_kinds"]) - set(SCAN_KINDS))
        if bad:
            raise ValueError(f"spw {s['name']}: unknown scan_kinds {bad} (known: {SCAN_KINDS})")
        if s.get("ch_avg"):
            if not str(s["name"]).endswith("#FULL_RES"):
                raise ValueError(
                    f"spw {s['name']}: a window with ch_avg must be named ...#FULL_RES"
                )
            twin = dict(spws[i])
            twin.update(
                id=i + 1,
                name=str(s["name"])[: -len("FULL_RES")] + "CH_AVG",
                nchan=1,
                width=bw,
                freqs=np.array([float(np.mean(freqs))]),
                widths=np.array([bw]),
                ch_avg_of=i,
            )
            spws.append(twin)
            ch_avg[i] = i + 1
    full_res = [s for s in spws if s["type"] != "WVR" and s["ch_avg_of"] is None]
    tdm = [s["id"] for s in full_res if s["type"] == "TDM"]
    fdm = [s["id"] for s in full_res if s["type"] == "FDM"]
    if not tdm or not fdm:
        raise ValueError("need at least one TDM and one FDM spectral window")
    if len(tdm) + len(fdm) != len(full_res):
        raise ValueError("spectral_windows: type must be TDM or FDM")
    for f in fdm:
        bb_tdm = [
            t
            for t in tdm
            if spws[t]["baseband"] == spws[f]["baseband"] and "atm" in spws[t]["scan_kinds"]
        ]
        if not bb_tdm:
            raise ValueError(f"FDM spw {f} has no TDM spw in its baseband")
        lo, hi = spws[bb_tdm[0]]["freqs"][[0, -1]]
        if spws[f]["freqs"][0] < lo or spws[f]["freqs"][-1] > hi:
            raise ValueError(f"FDM spw {f} is not inside the TDM coverage of its baseband")
    return spws, tdm, fdm, wvr_spw, ch_avg


def _wvr_window(params: dict, spw_id: int) -> dict:
    """The 4-channel WVR window (183 GHz double sideband, autocorrelations only)."""
    wp = params["wvr"]
    cf = np.array([float(v) for v in wp["if_centre_ghz"]]) * 1e9
    bws = np.array([float(v) for v in wp["bandwidth_ghz"]]) * 1e9
    if len(cf) != 4 or len(bws) != 4:
        raise ValueError("wvr: four channels (if_centre_ghz, bandwidth_ghz)")
    freqs = float(wp["lo_ghz"]) * 1e9 + cf
    return {
        "id": spw_id,
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
        "scan_kinds": list(SCAN_KINDS),
        "ch_avg_of": None,
    }


def _fields(params: dict) -> list[dict]:
    """Fields in FIELD id order. A field with ``mosaic_offsets_arcsec`` ([[east, north], ...]
    offsets of its pointing centres from ra/dec) becomes one field per pointing, all of its name
    (ALMA's mosaic: one source, several fields). ``atm_scans: false``: the field has no
    ATMOSPHERE scans (its Tsys is that at its own elevation, see _tsys_sources);
    ``position_offset_arcsec: [east, north]``: the point source lies that far from the phase
    centre (a check source's position error)."""
    names = [f["name"] for f in params["fields"]]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"fields: duplicate names {dup} (a mosaic is one entry)")
    fields = []
    for f in params["fields"]:
        offsets = f.get("mosaic_offsets_arcsec")
        pointings = [list(map(float, o)) for o in offsets] if offsets else [None]
        if offsets is not None and len(pointings) < 2:
            raise ValueError(f"field {f['name']}: a mosaic has at least 2 pointings")
        offset = f.get("position_offset_arcsec")
        for k, off in enumerate(pointings, start=1):
            ra, dec = f["ra"], f["dec"]
            if off is not None and any(off):
                ra, dec = offset_direction(ra, dec, off)
            fields.append(
                {
                    "id": len(fields),
                    "name": f["name"],
                    "role": f["role"],
                    "ra": ra,
                    "dec": dec,
                    "intents": list(f["intents"]),
                    "flux_jy": float(f["flux_jy"]),
                    "spix": float(f["spix"]),
                    "line": _line_params(f),
                    # unique within the EB: the simulator's field name (renamed after)
                    "key": f["name"] if off is None else f"{f['name']}#{k}",
                    "pointing": None if off is None else k,
                    "mosaic_offset_arcsec": off,
                    "atm_scans": bool(f.get("atm_scans", True)),
                    "position_offset_arcsec": (
                        None if offset is None else [float(v) for v in offset]
                    ),
                }
            )
            if offset is not None and len(offset) != 2:
                raise ValueError(f"field {f['name']}: position_offset_arcsec is [east, north]")
    return fields


def offset_direction(ra: str, dec: str, offset_arcsec) -> tuple[str, str]:
    """J2000 ra, dec (CASA strings, in degrees) ``offset_arcsec`` = [east, north] (tangent-plane
    offsets, arcsec) away from ``ra``, ``dec``."""
    from casatools import measures, quanta

    me, qa = measures(), quanta()
    d = me.direction("J2000", ra, dec)
    ra0, dec0 = d["m0"]["value"], d["m1"]["value"]
    # direction cosines l (east), m (north) about (ra0, dec0): the inverse SIN projection
    east, north = (math.radians(float(v) / 3600.0) for v in offset_arcsec)
    n = math.sqrt(1.0 - east**2 - north**2)
    dec1 = math.asin(north * math.cos(dec0) + n * math.sin(dec0))
    ra1 = ra0 + math.atan2(east, n * math.cos(dec0) - north * math.sin(dec0))
    me.done()
    qa.done()
    return f"{math.degrees(ra1) % 360.0!r}deg", f"{math.degrees(dec1)!r}deg"


def _tsys_sources(fields: list[dict], scans: list[dict]) -> None:
    """Where each field's (true, time-constant) Tsys comes from: ``atm`` its own ATMOSPHERE
    scans (elevation at the first); ``mosaic`` another pointing of its mosaic that has them
    (``tsys_field_id``; the pointings are a few arcsec apart); ``own_elevation`` a field marked
    ``atm_scans: false`` (no ATMOSPHERE scans, e.g. ALMA's phase calibrator): the Tsys at its
    own elevation at its first scan. Any other field without ATMOSPHERE scans is an error."""
    with_atm = {s["field_id"] for s in scans if s["kind"] == "atm"}
    for f in fields:
        f["tsys_field_id"] = f["id"]
        if f["id"] in with_atm:
            if not f.get("atm_scans", True):
                raise ValueError(f"field {f['name']} is marked atm_scans: false but has atm scans")
            f["tsys_source"] = "atm"
        elif not f.get("atm_scans", True):
            if not any(s["field_id"] == f["id"] for s in scans):
                raise ValueError(f"field {f['name']} is never observed")
            f["tsys_source"] = "own_elevation"
        else:
            sib = [
                g["id"]
                for g in fields
                if g["name"] == f["name"] and g["id"] in with_atm and f.get("pointing")
            ]
            if not sib:
                raise ValueError(f"field {f['name']} has no atm scan (needed for its Tsys)")
            f["tsys_source"] = "mosaic"
            f["tsys_field_id"] = sib[0]


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
        dish_m = float(a.get("dish_diameter_m", arr["dish_diameter_m"]))
        antennas.append(
            {
                "name": a["name"],
                "pad": a["pad"],
                "itrf": tuple(true.tolist()),
                "itrf_online": tuple((true + np.array(err)).tolist()),
                "pos_error": np.array(err),
                "dish_m": dish_m,
                # ACA 7 m antennas (CMxx) carry no water-vapour radiometer
                "has_wvr": has_wvr and dish_m == 12.0 and bool(a.get("wvr", True)),
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
    wvr_noise_only = bool(ebp.get("wvr_noise_only", False))
    if wvr_noise_only and not has_wvr:
        raise ValueError(f"EB {eb}: wvr_noise_only given but the EB has no WVR data")
    for n in bad_wvr:
        if n not in ant_names:
            raise ValueError(f"EB {eb}: wvr_bad_antennas: unknown antenna {n}")
    if bad_wvr and not has_wvr:
        raise ValueError(f"EB {eb}: wvr_bad_antennas given but the EB has no WVR data")
    wvr_antennas = [i for i, a in enumerate(antennas) if a["has_wvr"]]
    no_wvr = [a["name"] for a in antennas if has_wvr and not a["has_wvr"]]
    for n in bad_wvr:
        if n in no_wvr:
            raise ValueError(f"EB {eb}: wvr_bad_antennas: {n} has no WVR (7 m antenna)")
    if has_wvr and not wvr_antennas:
        raise ValueError(f"EB {eb}: no antenna with a WVR")
    dishes = {a["dish_m"] for a in antennas}

    spws, tdm, fdm, wvr_spw, ch_avg = _spectral_windows(params, has_wvr)
    corr_spws = sorted(tdm + fdm)

    fields = _fields(params)
    scan_list = list(params["scans"])
    sso = ebp.get("solar_system_flux_calibrator")
    if sso:
        fields, scan_list = _add_solar_system_flux_calibrator(sso, ebp, fields, scan_list)
    by_name: dict[str, list[int]] = {}
    for f in fields:
        by_name.setdefault(f["name"], []).append(f["id"])

    tint = float(params["integration_s"])
    slew = float(params["slew_s"])
    gap = float(params.get("subscan_gap_s", 0.0))
    t = _utc_to_mjd_s(ebp["start_utc"])
    scans = []
    full_res = sorted(tdm + fdm)
    for k, sc in enumerate(scan_list, start=1):
        if sc["field"] not in by_name:
            raise ValueError(f"scan {k}: unknown field {sc['field']}")
        nint = int(math.floor(float(sc["duration_s"]) / tint + 1e-9))
        if nint < 1:
            raise ValueError(f"scan {k}: shorter than one integration")
        kind = sc["kind"]
        if kind not in SCAN_KINDS:
            raise ValueError(f"scan {k}: kind must be atm or obs (or pointing, sideband)")
        ids = by_name[sc["field"]]
        # a mosaic: its observing scans visit every pointing (one subscan each), the other
        # scans the first pointing, unless the scan names its pointings (1-based)
        pointings = sc.get("pointings", range(1, len(ids) + 1) if kind == "obs" else [1])
        try:
            sub_fields = [fields[ids[int(j) - 1]] for j in pointings]
        except IndexError:
            raise ValueError(f"scan {k}: {sc['field']} has {len(ids)} pointing(s)") from None
        if kind == "atm":
            intents = ["CALIBRATE_ATMOSPHERE"]
        elif kind == "obs":
            intents = list(sub_fields[0]["intents"])
        else:
            intents = [KIND_INTENTS[kind]]
        sspw = [w for w in full_res if kind in spws[w]["scan_kinds"]]
        if not sspw and kind in KIND_INTENTS:  # no window of their own: the Tsys windows
            sspw = [w for w in tdm if "atm" in spws[w]["scan_kinds"]]
        if not sspw:
            raise ValueError(f"scan {k}: no spectral window observes {kind} scans")
        sspw = sorted(sspw + [ch_avg[w] for w in sspw if w in ch_avg])
        if wvr_spw is not None:
            sspw.append(wvr_spw)  # the WVRs observe all the time
            sspw.sort()
        for j, f in enumerate(sub_fields, start=1):
            if j > 1:
                t = t + gap
            scans.append(
                {
                    "scan": k,
                    "field": f["name"],
                    "field_id": f["id"],
                    "kind": kind,
                    "intents": intents,
                    "obs_mode": ",".join(f"{i}#ON_SOURCE" for i in intents),
                    "spws": list(sspw),
                    "nint": nint,
                    "start": t,
                    "end": t + nint * tint,
                    "times": t + (np.arange(nint) + 0.5) * tint,
                    "subscan": j,
                    "field_key": f["key"],
                }
            )
            t = t + nint * tint
        t = t + slew
    _tsys_sources(fields, scans)

    online_flags = []
    # per-EB online_flags (e.g. for a 7 m EB, whose antennas differ) replace the global list
    for fl in (ebp["online_flags"] if "online_flags" in ebp else params.get("online_flags")) or []:
        if fl["antenna"] not in ant_names:
            raise ValueError(f"EB {eb}: online flag: unknown antenna {fl['antenna']}")
        first = [s for s in scans if s["scan"] == int(fl["scan"])]
        if not first:
            raise ValueError(f"EB {eb}: online flag: no scan {fl['scan']}")
        sc = first[0]
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
    # per-antenna noise factor of an array with dishes of another size (a 12 m array with 7 m
    # antennas): baseline (i, j) has noise_sigma * noise_scale * f_i * f_j, f = dish / D_i
    noise_factor = np.array([dish / a["dish_m"] for a in antennas]) if len(dishes) > 1 else None
    features = [
        name
        for name, used in (
            ("wvr_spw_not_last", wvr_spw is not None and wvr_spw != len(spws) - 1),
            ("ch_avg_twins", bool(ch_avg)),
            ("mixed_dish_sizes", len(dishes) > 1),
            ("mosaic", any(f["pointing"] for f in fields)),
            ("fields_without_atm_scans", any(f["tsys_source"] == "own_elevation" for f in fields)),
            ("source_position_offsets", any(f["position_offset_arcsec"] for f in fields)),
            ("pointing_sideband_scans", any(sc["kind"] in KIND_INTENTS for sc in scans)),
            ("multi_field_scans", any(sc["subscan"] > 1 for sc in scans)),
        )
        if used
    ]
    return {
        "features": features,
        "ch_avg": ch_avg,
        "wvr_antennas": wvr_antennas,
        "noise_factor": noise_factor,
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
        "wvr_noise_only": wvr_noise_only,
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


def scan_groups(setup: dict) -> dict[int, list[dict]]:
    """Scan number -> its entries of ``setup['scans']`` (subscans, one field each, in time
    order); one entry per scan unless a scan visits several fields (a mosaic)."""
    groups: dict[int, list[dict]] = {}
    for sc in setup["scans"]:
        groups.setdefault(sc["scan"], []).append(sc)
    return groups
