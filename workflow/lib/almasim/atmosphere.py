"""Atmosphere: the ATM model (casatools.atmosphere), the Tsys spectra and the WVR brightness.

* :func:`geometry` / :func:`field_elevations`: azimuth, elevation and airmass of the observed
  fields (per integration; per field at its ATMOSPHERE scan).
* :func:`atm_model`: for the EB's zenith PWV, the zenith opacity per channel (with the O3 line at
  226.055 GHz), the sky brightness per field airmass, the ratio of total (dispersive +
  non-dispersive) to non-dispersive wet path per channel, the O3 lines inside the spectral
  windows and, with WVR data, the WVR channel brightness on a grid of airmass and water column.
* :func:`tsys_spectra`: Tsys = (Trx + eta*Tsky + (1-eta)*Tamb) / (eta*exp(-tau*A)), with the
  per-antenna receiver temperature and forward efficiency, A = airmass of the field at its
  ATMOSPHERE scan.
* :func:`wvr_data`: the WVR rows' ATM sky brightness temperatures of the same wet path as the
  visibilities (what wvrgcal retrieves).
"""

import math
from typing import Any

import numpy as np

from almasim.setup import DAY_S


def geometry(setup: dict) -> dict[str, np.ndarray]:
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
        me.doframe(me.epoch("UTC", f"{t / DAY_S}d"))
        m = me.measure(dirs[int(f)], "AZELGEO")
        az[i], el[i] = m["m0"]["value"], m["m1"]["value"]
        m = me.measure(dirs[int(f)], "ITRF")
        lon, lat = m["m0"]["value"], m["m1"]["value"]
        s_itrf[:, i] = (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))
    me.done()
    if np.min(el) < math.radians(15):
        raise ValueError(
            f"elevation down to {math.degrees(np.min(el)):.1f} deg: choose another start time"
        )
    return {"field_id": fid, "az": az, "el": el, "airmass": 1.0 / np.sin(el), "s_itrf": s_itrf}


def field_elevations(setup: dict) -> dict[int, float]:
    from casatools import measures, quanta

    me, qa = measures(), quanta()
    me.doframe(me.observatory("ALMA"))
    elev = {}
    for f in setup["fields"]:
        # the elevation of the field's Tsys (setup._tsys_sources): at its first ATMOSPHERE
        # scan; a mosaic pointing without them: that of the pointing with them; a field without
        # ATMOSPHERE scans (atm_scans: false): its own at its first scan
        source = f.get("tsys_source", "atm")
        if source == "mosaic":
            continue
        kinds = ("atm",) if source == "atm" else ("atm", "obs", "pointing", "sideband")
        atm = [s for s in setup["scans"] if s["field_id"] == f["id"] and s["kind"] in kinds][0]
        me.doframe(me.epoch("UTC", f"{(atm['start'] + atm['end']) / 2 / DAY_S}d"))
        azel = me.measure(me.direction("J2000", f["ra"], f["dec"]), "AZEL")
        elev[f["id"]] = float(qa.convert(azel["m1"], "deg")["value"])
        if elev[f["id"]] < 15:
            raise ValueError(
                f"field {f['name']} at elevation {elev[f['id']]:.1f} deg: choose another start time"
            )
    for f in setup["fields"]:
        if f.get("tsys_source") == "mosaic":
            elev[f["id"]] = elev[f["tsys_field_id"]]
    return elev


def _atm_init(at, ap: dict, pwv_mm: float) -> None:
    at.initAtmProfile(
        altitude={"value": float(ap["altitude_m"]), "unit": "m"},
        temperature={"value": float(ap["ground_temperature_k"]), "unit": "K"},
        pressure={"value": float(ap["ground_pressure_mbar"]), "unit": "mbar"},
        humidity=float(ap["relative_humidity_percent"]),
        maxAltitude={"value": 48.0, "unit": "km"},
        h0={"value": float(ap["water_scale_height_km"]), "unit": "km"},
        atmType=int(ap.get("atm_type", 1)),
    )


def atm_model(setup: dict, elev: dict[int, float], geo: dict) -> dict[str, Any]:
    """Atmosphere from casatools.atmosphere (ATM) for the EB's zenith PWV.

    Band-6 windows: zenith opacity per channel, sky brightness (Tebb) per field airmass, the ratio
    of total (dispersive + non-dispersive) to non-dispersive wet path per channel and the
    atmospheric lines (O3) inside the spectral windows. WVR: channel brightness on a grid of
    airmass and water column (see wvr_data)."""
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
    at.initSpectralWindow(
        nbands=1,
        fCenter={"value": (lo + hi) / 2, "unit": "Hz"},
        fWidth={"value": hi - lo, "unit": "Hz"},
        fRes={"value": res, "unit": "Hz"},
    )
    at.setUserWH2O({"value": pwv, "unit": "mm"})  # (needs the spectral window)
    n = at.getNumChan(0)
    freq = np.array([float(np.ravel(at.getChanFreq(c, 0)["value"])[0]) for c in range(n)]) * 1e9
    dry = np.asarray(at.getDryOpacitySpec(0)[1], float)
    wet = np.asarray(at.getWetOpacitySpec(0)[1]["value"], float)
    o3 = np.array([at.getO3LinesOpacity(c, 0) for c in range(n)], float)
    nd = float(np.ravel(at.getNonDispersiveWetPathLength(0, 0)["value"])[0])
    disp = np.array(
        [float(np.ravel(at.getDispersiveWetPathLength(c, 0)["value"])[0]) for c in range(n)]
    )
    tebb = {}
    for f in setup["fields"]:
        at.setAirMass(1.0 / math.sin(math.radians(elev[f["id"]])))
        tebb[f["id"]] = np.asarray(
            at.getTebbSkySpec(spwid=0, wh2o={"value": pwv, "unit": "mm"})[1]["value"], float
        )
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
    out = {
        "pwv_mm": pwv,
        "k_nd_m_per_mm": k_nd,
        "tau_zenith": tau,
        "tsky": tsky,
        "wet_path_ratio": ratio,
        "lines": _atm_lines(setup, g),
        "atm_version": str(at.getAtmVersion()),
    }
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
                lines.append(
                    {
                        "species": "O3",
                        "freq_hz": float(freq[i]),
                        "fwhm_hz": float(fwhm),
                        "peak_zenith_opacity": float(o3[i]),
                        "total_zenith_opacity_at_peak": float(g["dry"][i] + g["wet"][i]),
                        "spw_channels_within_fwhm": inside,
                    }
                )
    return lines


def tsys_spectra(
    setup: dict,
    atm: dict,
    elev: dict[int, float],
    eta: np.ndarray,
    trx_poly: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[dict, dict, dict]:
    """Tsys, Trx and Tsky[field][spw][ant, pol, chan] (K) of the correlator spws.

    Tsys = (Trx + eta*Tsky + (1-eta)*Tamb) / (eta*exp(-tau*A)), tau and Tsky from ATM (``atm``),
    A = airmass of the field at its atm scan (``elev``), eta[ant, 1, 1] the forward efficiencies,
    Trx = trx0 + trx1 dnu + trx2 dnu^2 (``trx_poly``, [ant, pol, 1] each; dnu in GHz from the
    centre of the frequency coverage), Tamb = the ground temperature. Tsky is the sky seen
    through the forward efficiency: eta*Tsky + (1-eta)*Tamb."""
    trx0, trx1, trx2 = trx_poly
    t_amb = float(setup["params"]["atmosphere"]["ground_temperature_k"])
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
            trx = trx0 + trx1 * dnu + trx2 * dnu**2
            tau = atm["tau_zenith"][w]  # [chan]
            ext = np.exp(-tau * airmass)
            tsky = eta * atm["tsky"][f["id"]][w] + (1 - eta) * t_amb  # [ant, 1, chan]
            ts = (trx + tsky) / (eta * ext)
            if not np.all(np.isfinite(ts)) or np.min(trx) <= 0:
                raise ValueError(
                    f"spw {w}: receiver temperature down to {np.min(trx):.1f} K: narrow "
                    "tsys.trx_slope_k_per_ghz / trx_curv_k_per_ghz2 for this frequency coverage"
                )
            tsys[f["id"]][w] = ts
            trx_all[f["id"]][w] = np.broadcast_to(trx, ts.shape).copy()
            tsky_all[f["id"]][w] = np.broadcast_to(tsky, ts.shape).copy()
    return tsys, trx_all, tsky_all


def _wvr_grid(setup: dict, at, pwv: float, geo: dict) -> dict[str, Any]:
    """WVR channel sky brightness (double sideband, passband average) on an airmass x water grid."""
    wp = setup["params"]["wvr"]
    lo = float(wp["lo_ghz"]) * 1e9
    cf = np.array([float(v) for v in wp["if_centre_ghz"]]) * 1e9
    bw = np.array([float(v) for v in wp["bandwidth_ghz"]]) * 1e9
    res = float(wp.get("resolution_mhz", 25.0)) * 1e6
    half = float(np.max(cf + bw / 2)) + res
    at.initSpectralWindow(
        nbands=1,
        fCenter={"value": lo, "unit": "Hz"},
        fWidth={"value": 2 * half, "unit": "Hz"},
        fRes={"value": res, "unit": "Hz"},
    )
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
        out[..., ch] = t[1] + 0.5 * (t[2] - t[0]) * x + 0.5 * (t[2] - 2 * t[1] + t[0]) * x**2
    return out


def wvr_data(setup: dict, atm: dict, geo: dict, wet_zenith: np.ndarray, rng) -> dict[str, Any]:
    """WVR brightness TObs [ant, time, 4] (K): coupling * Tsky + (1 - coupling) * Tspill + noise.

    Tsky for the zenith water pwv + delta_w_i(t), delta_w = zenith wet path / k_nd, at the airmass
    of the field observed at t. Antennas in wvr_bad_antennas get extra noise and a drift; with
    wvr_noise_only every radiometer sees a steady sky (no wet path) and gets that noise and drift."""
    wp = setup["params"]["wvr"]
    if setup["wvr_noise_only"]:
        wet_zenith = np.zeros_like(wet_zenith)
    water = atm["pwv_mm"] + wet_zenith / atm["k_nd_m_per_mm"]
    tsky = _wvr_sky(atm["wvr"], np.broadcast_to(geo["airmass"], water.shape), water)
    c = float(wp["coupling"])
    tobs = c * tsky + (1 - c) * float(wp["spill_temperature_k"])
    clean = tobs.copy()
    tobs = tobs + rng.standard_normal(tobs.shape) * float(wp["noise_k"])
    names = [a["name"] for a in setup["antennas"]]
    nt = tobs.shape[1]
    noisy = names if setup["wvr_noise_only"] else setup["wvr_bad_antennas"]
    for n in noisy:
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
    return {
        "tobs": tobs.astype(np.float32),
        "tobs_clean": clean,
        "dtdl_k_per_m": dtdl,
        "airmass_ref": a_med,
    }
