"""Corruption model: the random draws of one EB, all from the EB's seed.

:func:`draw_corruptions` draws the complex gains (amplitude drifts, slow phase terms), the
bandpasses (amplitude ripples, phase slope and ripple), the receiver-temperature polynomial and
forward efficiencies of the Tsys model (the spectra themselves: ``atmosphere.tsys_spectra``), the
turbulent wet-path screen (frozen von Karman flow over the array), the geometric path of the
antenna-position errors and the WVR data; the visibility noise is drawn later, in
``data.write_data``, from the same generator. The draws of the original model (gains, bandpasses,
Trx, noise) come from ``default_rng(seed)``; the atmospheric ones (efficiencies, screen, WVR) from
``default_rng([seed, 1])``. The order of the draws is part of the demo's truth: do not change it.
Optional per-spw instrumental phase offsets (``gains.spw_phase_offset_deg``: real ALMA spws
differ by tens of degrees) come from a third stream, ``default_rng([seed, 2])``, drawn only when
the key is given, so files without it are simulated exactly as before.

Sign convention (checked with CASA): antenna i's excess path P_i (wet path plus
(online - true position) . source direction) appears in DATA of baseline (i, j) as
exp(1j * PHASE_SIGN * 2 pi nu / c * (P_i - P_j)), PHASE_SIGN = -1; with it, wvrgcal and
gencal(caltype='antpos') tables remove the injected phases.
"""

import math
from typing import Any

import numpy as np

from almasim.atmosphere import atm_model, field_elevations, geometry, tsys_spectra, wvr_data

# sign of the excess-path phase in DATA (ANTENNA1 - ANTENNA2), fixed so that CASA's corrections
# (wvrgcal, gencal caltype='antpos') remove it; see the module docstring
PHASE_SIGN = -1.0
C = 299792458.0  # speed of light (m/s)


def _uniform(rng: np.random.Generator, lohi, size=None):
    lo, hi = (float(v) for v in lohi)
    return rng.uniform(lo, hi, size)


def draw_corruptions(setup: dict) -> dict[str, Any]:
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
    amp = amp0[..., None] * (
        1 + d_amp[..., None] * np.sin(2 * np.pi * dt / p_amp[..., None] + ph_amp[..., None])
    )
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
        bandpass[s["id"]] = {
            "amp": bamp,
            "phase_deg": bphase,
            "B": bamp * np.exp(1j * np.radians(bphase)),
        }

    _add_spw_phase_offsets(setup, bandpass)

    # Tsys[field][spw][ant, pol, chan] (elevation of the field at its first atm scan): the Trx
    # polynomial and the forward efficiencies are drawn here, the spectra computed with ATM
    tp = p["tsys"]
    trx0 = _uniform(rng, tp["trx_k"], (nant, npol, 1))
    trx1 = rng.uniform(-1, 1, (nant, npol, 1)) * float(tp["trx_slope_k_per_ghz"])
    trx2 = rng.uniform(-1, 1, (nant, npol, 1)) * float(tp["trx_curv_k_per_ghz2"])
    rng_atm = np.random.default_rng([setup["seed"], 1])  # atmosphere, WVR, efficiencies
    eta = _uniform(rng_atm, tp["forward_efficiency"], (nant, 1, 1))
    elev = field_elevations(setup)
    geo = geometry(setup)
    atm = atm_model(setup, elev, geo)
    tsys, trx_all, tsky_all = tsys_spectra(setup, atm, elev, eta, (trx0, trx1, trx2))

    # wet path: frozen turbulent screen over the array; slant path = airmass * zenith path
    screen = _wet_path_screen(setup, rng_atm)  # zenith path fluctuation [ant, time] (m)
    wet_zenith = screen["path_m"]
    slant_wet = (
        geo["airmass"][None, :] * wet_zenith
    )  # non-dispersive slant wet path [ant, time] (m)
    # geometric path error of the online antenna positions: (r_online - r_true) . s(t)
    err = np.array([a["pos_error"] for a in setup["antennas"]])  # [ant, 3]
    geo_path = err @ geo["s_itrf"]  # [ant, time] (m)
    wvr = wvr_data(setup, atm, geo, wet_zenith, rng_atm) if setup["has_wvr"] else None
    return {
        "gains": gains,
        "gain_amp": amp,
        "gain_phase_deg": phase,
        "bandpass": bandpass,
        "tsys": tsys,
        "trx": trx_all,
        "tsky": tsky_all,
        "elevation_deg": elev,
        "eta": eta[:, 0, 0],
        "atm": atm,
        "geo": geo,
        "screen": screen,
        "wet_path_zenith_m": wet_zenith,
        "wet_path_m": slant_wet,
        "geo_path_m": geo_path,
        "wvr": wvr,
        "noise_sigma": float(p["noise_sigma_jy"]) * setup["noise_scale"],
        "rng": rng,
    }


def _add_spw_phase_offsets(setup: dict, bandpass: dict) -> None:
    """Per-spw instrumental phase offsets per antenna and polarization, uniform in [-x, x] with
    x = gains.spw_phase_offset_deg, added to the bandpass phases (time-independent, so the truth's
    bandpass carries them); also kept as ``spw_phase_offset_deg`` [ant, pol] per spw. From their
    own stream default_rng([seed, 2]), drawn only when the key is given."""
    limit = setup["params"]["gains"].get("spw_phase_offset_deg")
    if not limit:
        return
    rng = np.random.default_rng([setup["seed"], 2])
    nant, npol = len(setup["antennas"]), setup["npol"]
    for spw in sorted(bandpass):
        offset = rng.uniform(-1, 1, (nant, npol)) * float(limit)
        entry = bandpass[spw]
        entry["phase_deg"] = entry["phase_deg"] + offset[..., None]
        entry["B"] = entry["amp"] * np.exp(1j * np.radians(entry["phase_deg"]))
        entry["spw_phase_offset_deg"] = offset


def channel_noise_sigma(setup: dict, model: dict, spw: dict) -> float:
    """Noise sigma (Jy, per real and imaginary part) of one channel and integration of ``spw``.

    noise_sigma_jy as given, unless the file has ``noise_radiometer: {channel_width_mhz,
    integration_s}``: then noise_sigma_jy holds for that channel width and integration time and
    scales as the radiometer equation says, sigma ~ 1 / sqrt(channel width x integration)."""
    radiometer = setup["params"].get("noise_radiometer")
    if not radiometer:
        return model["noise_sigma"]
    width_hz = abs(float(spw["width"]))
    reference = float(radiometer["channel_width_mhz"]) * 1e6 * float(radiometer["integration_s"])
    return model["noise_sigma"] * math.sqrt(reference / (width_hz * setup["tint"]))


def excess_path(setup: dict, model: dict, spw: int) -> np.ndarray:
    """Excess path [ant, time, chan] (m) of every antenna in the channels of ``spw``.

    Wet path (non-dispersive, scaled per channel by ATM's dispersive/non-dispersive ratio) plus the
    geometric error of the online antenna positions. Visibility phase of baseline (i, j):
    2 pi nu / c * (P_i - P_j) * PHASE_SIGN."""
    scale = model["atm"]["wet_path_ratio"][
        spw
    ]  # [chan]: (nondispersive + dispersive) / nondispersive
    return model["wet_path_m"][:, :, None] * scale[None, None, :] + model["geo_path_m"][:, :, None]


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
    d300 = 0.5 * (
        np.mean((np.roll(scr, lag, axis=0) - scr) ** 2)
        + np.mean((np.roll(scr, lag, axis=1) - scr) ** 2)
    )
    scr *= rms300 / math.sqrt(d300)
    # bilinear interpolation (grid origin at the minimum coordinates, 2 l0 margin)
    ia = (a_pos - a_pos.min()) / cell + 2 * l0 / cell
    ic = (c_pos - across.min()) / cell + 2 * l0 / cell
    i0, j0 = np.floor(ia).astype(int), np.floor(ic).astype(int)
    fa, fc = ia - i0, ic - j0
    path = (
        (1 - fa) * (1 - fc) * scr[i0, j0]
        + fa * (1 - fc) * scr[i0 + 1, j0]
        + (1 - fa) * fc * scr[i0, j0 + 1]
        + fa * fc * scr[i0 + 1, j0 + 1]
    )
    return {
        "path_m": path,
        "rms_um_at_300m": rms300 * 1e6,
        "wind_speed_m_s": v,
        "wind_toward_deg": float(wp["wind_toward_deg"]),
        "outer_scale_m": l0,
        "cell_m": cell,
    }
