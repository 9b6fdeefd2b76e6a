"""Truth: the truth JSON of an EB and its antenna-position JSON.

:func:`write_truth` writes everything that was injected (model text, antennas and their position
errors, fields, spws, scans, online flags, gains, bandpasses, Tsys, ATM, wet path, WVR data).
:func:`write_antpos` writes the TRUE antenna positions in the format of ALMA's position service
(``getantposalma``), which ``gencal(caltype='antpos', infile=...)`` accepts; the ASDM carries the
online ones, as ALMA's do. An EB with the ALMA raw layout (setup['features']) gets schema 3:
the keys of :func:`_add_layout` on top of schema 2 (the demo's).
"""

import json
from typing import Any

import numpy as np

from almasim.corruptions import PHASE_SIGN, C, channel_noise_sigma
from almasim.data import AUTO_REF_K

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


def _r(a, digits: int = 7):
    """Nested lists with limited significant digits (keeps the JSON small)."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[float])(np.asarray(a)).tolist()


def write_truth(setup: dict, model: dict, path: str) -> None:
    p = setup["params"]
    pols = [c[0] for c in setup["corr"]]
    corr_spws = [setup["spws"][w] for w in setup["corr_spws"]]
    tsys_out: dict[str, Any] = {}
    for f in setup["fields"]:
        if f["name"] in tsys_out:  # a mosaic's pointings share the Tsys of its first
            continue
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
        wet_phase[str(s["id"])] = _r(
            np.degrees(PHASE_SIGN * 2 * np.pi * s["centre"] / C * model["wet_path_m"] * ratio), 5
        )
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
        **(
            {
                "noise_radiometer": dict(p["noise_radiometer"]),
                "noise_sigma_jy_per_spw": {
                    str(s["id"]): channel_noise_sigma(setup, model, s) for s in corr_spws
                },
            }
            if p.get("noise_radiometer")
            else {}
        ),
        "nu0_hz": setup["nu0"],
        "correlations": setup["corr"],
        "antennas": [
            {
                "id": i,
                "name": a["name"],
                "station": a["pad"],
                "position_itrf_m": list(a["itrf"]),
                "position_online_itrf_m": list(a["itrf_online"]),
                "position_error_m": [float(v) for v in a["pos_error"]],
                "dish_diameter_m": setup["dish_diameter_m"],
            }
            for i, a in enumerate(setup["antennas"])
        ],
        "fields": [
            {
                "id": f["id"],
                "name": f["name"],
                "role": f["role"],
                "ra": f["ra"],
                "dec": f["dec"],
                "intents": [f"{i}#ON_SOURCE" for i in f["intents"]],
                "S0_jy": f["flux_jy"],
                "spix": f["spix"],
                "nu0_hz": setup["nu0"],
                "line": f["line"],
                "model": f.get("model"),
                "model_flux_jy": model["sso_flux"].get(f["name"]),
            }
            for f in setup["fields"]
        ],
        "auto_ref_k": AUTO_REF_K,
        "spws": [
            {
                "id": s["id"],
                "name": s["name"],
                "type": s["type"],
                "baseband": s["baseband"],
                "nchan": s["nchan"],
                "chan_width_hz": (s["width"] if s["type"] != "WVR" else s["widths"].tolist()),
                "chan_freq_hz": s["freqs"].tolist(),
            }
            for s in setup["spws"]
        ],
        "scans": [
            {
                "scan": s["scan"],
                "field": s["field"],
                "field_id": s["field_id"],
                "intents": [f"{i}#ON_SOURCE" for i in s["intents"]],
                "spws": s["spws"],
                "start_mjd_s": s["start"],
                "end_mjd_s": s["end"],
                "n_integrations": s["nint"],
            }
            for s in setup["scans"]
        ],
        "online_flags": [
            {
                "antenna": f["antenna"],
                "scan": f["scan"],
                "start_mjd_s": f["start"],
                "end_mjd_s": f["end"],
                "reason": f["reason"],
            }
            for f in setup["online_flags"]
        ],
        "gains": {
            "description": "g[ant][pol][time] = amp * exp(1j*radians(phase_deg)); time = MS TIME (MJD s, UTC)",
            "pols": pols,
            "times_mjd_s": setup["times"].tolist(),
            "amp": _r(model["gain_amp"]),
            "phase_deg": _r(model["gain_phase_deg"]),
        },
        "bandpass": {
            "description": "B[spw][ant][pol][chan] = amp * exp(1j*radians(phase_deg)), at spws[].chan_freq_hz",
            "spw": {
                str(s["id"]): {
                    "amp": _r(model["bandpass"][s["id"]]["amp"]),
                    "phase_deg": _r(model["bandpass"][s["id"]]["phase_deg"]),
                    **(
                        {
                            "spw_phase_offset_deg": _r(
                                model["bandpass"][s["id"]]["spw_phase_offset_deg"]
                            )
                        }
                        if "spw_phase_offset_deg" in model["bandpass"][s["id"]]
                        else {}
                    ),
                }
                for s in corr_spws
            },
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
            "errors_m": {
                a["name"]: [float(v) for v in a["pos_error"]]
                for a in setup["antennas"]
                if np.any(a["pos_error"] != 0)
            },
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
            "phase_sign": PHASE_SIGN,
            "times_mjd_s": setup["times"].tolist(),
            "field_id": geo["field_id"].tolist(),
            "elevation_deg": _r(np.degrees(geo["el"]), 6),
            "airmass": _r(geo["airmass"], 6),
            "zenith_path_m": _r(model["wet_path_zenith_m"], 6),
            "path_m": _r(model["wet_path_m"], 6),
            "dispersive_ratio_at_centre": {
                str(s["id"]): float(
                    np.interp(s["centre"], s["freqs"], atm_m["wet_path_ratio"][s["id"]])
                )
                for s in corr_spws
            },
            "dispersive_ratio": {
                str(s["id"]): _r(atm_m["wet_path_ratio"][s["id"]], 9) for s in corr_spws
            },
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
            "noise bad_noise_k and a drift): wvrgcal must flag them (wvrflag) and interpolate. With "
            "noise_only every radiometer sees a steady sky and carries that noise and drift: the "
            "WVR correction is noise and must not be applied.",
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
            "noise_only": setup["wvr_noise_only"],
            "bad_noise_k": float(wp["bad_noise_k"]),
            "airmass_ref": w["airmass_ref"],
            "dtdl_k_per_m": [float(v) for v in w["dtdl_k_per_m"]],
            "times_mjd_s": setup["times"].tolist(),
            "tobs_k": _r(np.transpose(w["tobs"], (0, 2, 1)), 7),
        }
    if setup.get("features"):
        _add_layout(setup, model, truth)
    if model.get("faults"):  # almasim.faults: the injected antenna faults
        truth["faults"] = model["faults"]
    with open(path, "w") as fh:
        json.dump(truth, fh, indent=1)


def _deg(ra: str, dec: str) -> dict[str, float]:
    from casatools import measures

    me = measures()
    d = me.direction("J2000", ra, dec)
    me.done()
    return {
        "ra_deg": float(np.degrees(d["m0"]["value"]) % 360.0),
        "dec_deg": float(np.degrees(d["m1"]["value"])),
    }


def _add_layout(setup: dict, model: dict, truth: dict) -> None:
    """Schema 3: the keys of an EB with the ALMA raw layout (setup['features']): per antenna its
    dish and radiometer, per field its pointing, Tsys source and true position, per spw its
    CH_AVG twin and the scans observing it, the check sources and the Tsys ratios by field."""
    from almasim.setup import offset_direction

    truth["schema_version"] = 3
    truth["layout_features"] = list(setup["features"])
    ants = setup["antennas"]
    for a, entry in zip(ants, truth["antennas"]):
        entry["dish_diameter_m"] = a["dish_m"]
        entry["has_wvr"] = a["has_wvr"]
    truth["antennas_without_wvr"] = [a["name"] for a in ants if not a["has_wvr"]]
    if "wvr" in truth:
        truth["wvr"]["antennas_without_data"] = truth["antennas_without_wvr"]
        truth["wvr"]["note"] = (
            "tobs_k has a row for every antenna; those of antennas_without_data (7 m antennas, "
            "no radiometer) are not in the data: wvrgcal interpolates their correction"
        )
    truth["antennas_7m"] = [a["name"] for a in ants if a["dish_m"] == 7.0]
    if setup["noise_factor"] is not None:
        truth["noise_factor_per_antenna"] = {
            a["name"]: float(v) for a, v in zip(ants, setup["noise_factor"])
        }
        truth["noise_description"] = (
            "noise of baseline (i, j): noise_sigma_jy * f_i * f_j, f = 12 m / dish diameter "
            "(a 12 m array with 7 m antennas)"
        )
    scan_intents: dict[int, set] = {}
    spw_intents: dict[int, set] = {}
    spw_scans: dict[int, set] = {}
    for sc in setup["scans"]:
        ints = {f"{i}#ON_SOURCE" for i in sc["intents"]}
        scan_intents.setdefault(sc["field_id"], set()).update(ints)
        for w in sc["spws"]:
            spw_intents.setdefault(w, set()).update(ints)
            spw_scans.setdefault(w, set()).add(sc["scan"])
    for f, entry in zip(setup["fields"], truth["fields"]):
        entry["key"] = f["key"]
        entry["pointing"] = f["pointing"]
        entry["mosaic_offset_arcsec"] = f["mosaic_offset_arcsec"]
        entry["phase_centre"] = _deg(f["ra"], f["dec"])
        entry["scan_intents"] = sorted(scan_intents.get(f["id"], ()))
        entry["atm_scans"] = f["tsys_source"] == "atm"
        entry["tsys_source"] = f["tsys_source"]
        entry["tsys_field_id"] = f["tsys_field_id"]
        entry["elevation_deg_of_tsys"] = round(model["elevation_deg"][f["id"]], 4)
        off = f["position_offset_arcsec"]
        entry["position_offset_arcsec"] = off
        entry["true_position"] = (
            entry["phase_centre"] if not off else _deg(*offset_direction(f["ra"], f["dec"], off))
        )
    roles: dict[str, list[str]] = {}
    for f in setup["fields"]:
        names = roles.setdefault(f["role"], [])
        if f["name"] not in names:
            names.append(f["name"])
    truth["field_roles"] = roles
    truth["mosaics"] = {
        name: [f["id"] for f in setup["fields"] if f["name"] == name]
        for name in dict.fromkeys(f["name"] for f in setup["fields"] if f["pointing"])
    }
    twins = {v: k for k, v in setup["ch_avg"].items()}
    for s, entry in zip(setup["spws"], truth["spws"]):
        entry["ch_avg"] = s["id"] in twins
        entry["full_res_spw"] = twins.get(s["id"])
        entry["ch_avg_spw"] = setup["ch_avg"].get(s["id"])
        entry["scan_kinds"] = list(s["scan_kinds"])
        entry["intents"] = sorted(spw_intents.get(s["id"], ()))
        entry["scans"] = sorted(spw_scans.get(s["id"], ()))
    truth["ch_avg_description"] = (
        "A CH_AVG window (spws[].ch_avg, one channel at the mean channel frequency of its "
        "FULL_RES window spws[].full_res_spw, width = its bandwidth) is observed in the same "
        "scans as its FULL_RES window; its DATA (cross and auto) = the mean over all channels of "
        "the FULL_RES DATA of the same row (time, baseline, correlation), in complex64."
    )
    for sc, entry in zip(setup["scans"], truth["scans"]):
        entry["subscan"] = sc["subscan"]
        entry["kind"] = sc["kind"]
    truth["check_sources"] = [
        {
            "field_id": f["id"],
            "name": f["name"],
            "S0_jy": f["flux_jy"],
            "spix": f["spix"],
            "nu0_hz": setup["nu0"],
            "position_offset_arcsec": f["position_offset_arcsec"],
            "phase_centre": truth["fields"][f["id"]]["phase_centre"],
            "true_position": truth["fields"][f["id"]]["true_position"],
        }
        for f in setup["fields"]
        if f["role"] == "check"
    ]
    truth["position_offset_description"] = (
        "fields[].position_offset_arcsec = [east, north]: the point source lies at the direction "
        "cosines l = east, m = north (arcsec) from the phase centre (FIELD PHASE_DIR = the "
        "catalogue position), at fields[].true_position: its visibilities are S(nu) * the "
        "visibility CASA's ft predicts for a 1 Jy point there, exp(+2 pi i (u l + v m + "
        "w (n - 1))) with u, v, w the MS UVW in wavelengths (CASA's sign convention: tclean "
        "images it at true_position), instead of S(nu)."
    )
    _add_tsys_ratios(setup, model, truth)


def _add_tsys_ratios(setup: dict, model: dict, truth: dict) -> None:
    """Per field and FULL_RES correlator spw: median over antennas, polarizations and channels
    of its true Tsys divided by that of the first target field."""
    fields = setup["fields"]
    ref = next((f for f in fields if f["role"] == "target"), None)
    if ref is None:
        return
    ratios: dict[str, dict[str, float]] = {}
    for f in fields:
        if f["name"] in ratios:
            continue
        ratios[f["name"]] = {
            str(w): float(np.median(model["tsys"][f["id"]][w] / model["tsys"][ref["id"]][w]))
            for w in setup["corr_spws"]
        }
        truth["tsys"]["field"][f["name"]]["tsys_source"] = f["tsys_source"]
        truth["tsys"]["field"][f["name"]]["field_ids"] = [
            g["id"] for g in fields if g["name"] == f["name"]
        ]
    truth["tsys"]["reference_field"] = ref["name"]
    truth["tsys"]["ratio_to_reference"] = ratios
    truth["tsys"]["ratio_description"] = (
        "ratio_to_reference[field][spw]: median over antennas, polarizations and channels of "
        "Tsys(field) / Tsys(reference_field) (the first target). A field without ATMOSPHERE "
        "scans (tsys_source own_elevation) carries in its data the Tsys at its own elevation "
        "(tsys.field[...].elevation_deg); the Tsys table has none for it: calibrated with "
        "another field's Tsys, its amplitudes are off by sqrt(Tsys_true_i Tsys_true_j) / "
        "sqrt(Tsys_applied_i Tsys_applied_j), i.e. about ratio(field) / ratio(applied field)."
    )
    bp = next((f for f in fields if f["role"] == "bandpass"), None)
    if bp is not None:
        r = ratios[bp["name"]]
        truth["tsys"]["bandpass_to_target"] = r
        truth["tsys"]["bandpass_to_target_min"] = min(r.values())


def write_antpos(setup: dict, path: str, outfile: str) -> None:
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
