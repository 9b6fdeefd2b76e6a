"""Amplitude renormalisation factors of the targets of {eb}.ms.split (ALMA's normalisation problem).

ALMA's correlator divides each cross-correlation by the autocorrelations (the total power) and the
Tsys calibration multiplies it by Tsys measured in the ATMOSPHERE scans. When a target carries a
bright, extended line, the line reaches the total power but not the Tsys: the target's line channels
come out depressed by sqrt(T_i T_j / ((T_i + T_line)(T_j + T_line))). Following the description in
ALMA's knowledgebase ("What are the amplitude calibration issues caused by ALMA's normalization
strategy?") and the seeds' renormalisation step, for each target field, science spw, target scan,
antenna and correlation:

    r(nu) = <auto_target(nu)>_scan / <auto_bandpass(nu)>_bandpass scans
    R(nu) = r(nu) / baseline(nu)

baseline = piecewise low-order polynomial fits (segments of about ``segment_mhz``, each fitted with
half a segment of overlap) with outlier rejection (first against a running median, then
iteratively against the fit), so that the smooth part (different elevation, Tsys, gain drift) is
divided out and narrow excesses (the line) remain. Edge channels and channels of atmospheric lines (from the ATM
model of the site: the target and bandpass calibrator see them through different airmasses) are
excluded and get R = 1. The autocorrelations are flagged a priori for calibration, so their flags
are not used. The cross-correlation of antennas i, j is restored by multiplying with
sqrt(R_i R_j).

Factors are found per field (each pointing of a mosaic), not per source name. Reported as the ALMA
pipeline defines them (pipeline.extern.almarenorm, hifa_renorm, and the scripts' ``rnpipestats``):
per scan and field, per antenna and correlation the maximum of R over channels, averaged over the
antennas with data (a maximum of exactly 1: no data) and then over the correlations; per target
and spw "max_rn" is the maximum of that over its scans and fields ("max_rn_field" says where).
Beside it, "max_median_rn": the maximum over scans and channels of the median over antennas and
correlations (robust to one antenna's spike; the pipeline's figure is not). The table is made when
``mode`` is "always", or "auto" and a target/spw's max_rn exceeds ``threshold`` (1.02 in the
pipeline and the ALMA scripts); spws that do not exceed it are written with unit factors.
"""

import math
from dataclasses import dataclass

import numpy as np

from almacal import channels, choices, jsonio
from almacal.casa_job import CasaJob

MAD_TO_SIGMA = 1.4826


def robust_baseline(
    y: np.ndarray,
    use: np.ndarray,
    *,
    order: int,
    clip_sigma: float,
    sigma_floor: float,
    iterations: int = 20,
) -> np.ndarray:
    """Low-order polynomial through ``y`` (channels where ``use``), rejecting outliers iteratively.

    Points further than ``clip_sigma`` robust sigmas (MAD of the residuals, at least
    ``sigma_floor``) from the fit are dropped and the fit repeated until the kept set is stable.
    Returns the fit at every channel.
    """
    x = np.linspace(-1.0, 1.0, y.size)
    keep = use.copy()
    fit = np.full(y.size, np.nan)
    for _ in range(iterations):
        if keep.sum() <= order + 1:
            break
        coeffs = np.polyfit(x[keep], y[keep], order)
        fit = np.polyval(coeffs, x)
        resid = y - fit
        sigma = max(MAD_TO_SIGMA * np.median(np.abs(resid[keep])), sigma_floor)
        new = use & (np.abs(resid) <= clip_sigma * sigma)
        if np.array_equal(new, keep):
            break
        keep = new
    return fit


def running_median(y: np.ndarray, use: np.ndarray, window: int) -> np.ndarray:
    """Median of the used channels within ``window`` channels of each channel."""
    half = max(window // 2, 1)
    values = np.where(use, y, np.nan)
    padded = np.pad(values, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    with np.errstate(all="ignore"):
        return np.nanmedian(windows, axis=1)


def piecewise_baseline(
    y: np.ndarray,
    use: np.ndarray,
    segments: int,
    *,
    order: int,
    clip_sigma: float,
    sigma_floor: float,
) -> np.ndarray:
    """Baseline of a ratio spectrum: outliers against a running median (window of one segment)
    are set aside first, then each of ``segments`` equal pieces gets its own robust_baseline,
    fitted over the piece and half a piece on either side (so that a line near a boundary
    cannot bend the ends of the fit)."""
    n = y.size
    length = int(math.ceil(n / segments))
    resid = y - running_median(y, use, length)
    sigma = max(MAD_TO_SIGMA * np.nanmedian(np.abs(resid[use])), sigma_floor)
    clean = use & (np.abs(resid) <= clip_sigma * sigma)
    out = np.full(n, np.nan)
    for piece in np.array_split(np.arange(n), segments):
        lo, hi = max(piece[0] - length // 2, 0), min(piece[-1] + length // 2 + 1, n)
        fit = robust_baseline(
            y[lo:hi], clean[lo:hi], order=order, clip_sigma=clip_sigma, sigma_floor=sigma_floor
        )
        out[piece] = fit[piece - lo]
    return out


def atmospheric_line_channels(freqs_hz: np.ndarray, site: dict, min_opacity: float) -> np.ndarray:
    """Channels where the ATM zenith opacity rises more than ``min_opacity`` above its smooth
    continuum (the ozone and other narrow atmospheric lines)."""
    from casatools import atmosphere

    width = abs(freqs_hz[-1] - freqs_hz[0]) / max(freqs_hz.size - 1, 1)
    at = atmosphere()
    at.initAtmProfile(
        altitude={"value": site["altitude_m"], "unit": "m"},
        temperature={"value": site["temperature_k"], "unit": "K"},
        pressure={"value": site["pressure_mbar"], "unit": "mbar"},
        humidity=site["humidity_percent"],
        maxAltitude={"value": 48.0, "unit": "km"},
        h0={"value": site["water_scale_height_km"], "unit": "km"},
        atmType=1,
    )
    at.initSpectralWindow(
        nbands=1,
        fCenter={"value": float(np.mean(freqs_hz)), "unit": "Hz"},
        fWidth={"value": float(abs(freqs_hz[-1] - freqs_hz[0]) + width), "unit": "Hz"},
        fRes={"value": float(width), "unit": "Hz"},
    )
    at.setUserWH2O({"value": site["pwv_mm"], "unit": "mm"})
    n = at.getNumChan(0)
    grid = np.array([float(np.ravel(at.getChanFreq(c, 0)["value"])[0]) for c in range(n)]) * 1e9
    tau = np.asarray(at.getDryOpacitySpec(0)[1], float) + np.asarray(
        at.getWetOpacitySpec(0)[1]["value"], float
    )
    at.done()
    tau = np.interp(freqs_hz, grid, tau)
    smooth = robust_baseline(
        tau, np.ones(tau.size, bool), order=2, clip_sigma=3.0, sigma_floor=min_opacity / 10
    )
    return np.nonzero(tau - smooth > min_opacity)[0]


@dataclass(frozen=True)
class AutoSpectra:
    """The autocorrelations of one spw averaged per field, scan and antenna (one group each):
    the mean of the real part of DATA over the group's rows, all rows (flags are not used)."""

    field: np.ndarray  # [group]
    scan: np.ndarray
    antenna: np.ndarray
    rows: np.ndarray  # rows averaged
    start: np.ndarray  # first and last TIME
    end: np.ndarray
    mean: np.ndarray  # [pol, chan, group]

    def spectrum(self, groups: np.ndarray, nant: int) -> np.ndarray:
        """Mean spectrum per antenna over the rows of the selected ``groups``: [ant, pol, chan],
        NaN for an antenna without rows."""
        out = np.full((nant,) + self.mean.shape[:2], np.nan)
        for ant in np.unique(self.antenna[groups]):
            here = groups & (self.antenna == ant)
            weight = self.rows[here]
            out[ant] = (self.mean[:, :, here] * weight).sum(axis=2) / weight.sum()
        return out


def mean_autocorrelations(vis: str, spw: int, field_ids: list[int]) -> AutoSpectra:
    """Autocorrelations of ``spw`` and the fields ``field_ids``, averaged per field, scan and
    antenna by one TaQL GROUPBY query: casacore reads the rows once and keeps only the sums, so
    memory stays bounded whatever the size of the MS (reading the rows into numpy took 1.5 GB
    at 5 GB)."""
    from casatools import table

    if '"' in vis:
        raise ValueError(f"{vis}: a path with a double quote cannot be named in a TaQL query")
    tb = table()
    tb.open(f"{vis}/DATA_DESCRIPTION")
    ddids = [int(d) for d in np.nonzero(tb.getcol("SPECTRAL_WINDOW_ID") == spw)[0]]
    tb.close()
    tb.open(vis)
    try:
        # (TaQL's aggregates of integers are 64-bit, which casatools cannot return: * 1.0)
        query = tb.taql(
            "SELECT gmin(FIELD_ID) * 1.0 AS FLD, gmin(SCAN_NUMBER) * 1.0 AS SCN, "
            "gmin(ANTENNA1) * 1.0 AS ANT, gcount() * 1.0 AS NROW, gmin(TIME) AS T0, "
            f'gmax(TIME) AS T1, gmeans(real(DATA)) AS MEAN FROM "{vis}" '
            f"WHERE ANTENNA1==ANTENNA2 AND DATA_DESC_ID IN {ddids} AND FIELD_ID IN {field_ids} "
            "GROUPBY FIELD_ID, SCAN_NUMBER, ANTENNA1"
        )
        try:
            empty = query.nrows() == 0  # no autocorrelations (e.g. VLA data)
            columns = {
                name: np.array([]) if empty else query.getcol(name)
                for name in ("FLD", "SCN", "ANT", "NROW", "T0", "T1")
            }
            mean = np.zeros((0, 0, 0)) if empty else query.getcol("MEAN")
        finally:
            query.close()
    finally:
        tb.close()
    return AutoSpectra(
        field=columns["FLD"].astype(int),
        scan=columns["SCN"].astype(int),
        antenna=columns["ANT"].astype(int),
        rows=columns["NROW"],
        start=columns["T0"],
        end=columns["T1"],
        mean=mean,
    )


def spw_frequencies(vis: str) -> list[np.ndarray]:
    from casatools import table

    tb = table()
    tb.open(f"{vis}/SPECTRAL_WINDOW")
    freqs = [tb.getcell("CHAN_FREQ", i) for i in range(tb.nrows())]
    tb.close()
    return freqs


def scaling_spectra(
    target: np.ndarray, bandpass: np.ndarray, use: np.ndarray, segments: int, **fit_options
) -> np.ndarray:
    """R[ant, pol, chan] = (target / bandpass) / baseline, 1 where not ``use`` or no data."""
    out = np.ones_like(target)
    for a in range(target.shape[0]):
        for p in range(target.shape[1]):
            ratio = target[a, p] / bandpass[a, p]
            if not np.all(np.isfinite(ratio)):
                continue
            baseline = piecewise_baseline(ratio, use, segments, **fit_options)
            out[a, p] = np.where(use, ratio / baseline, 1.0)
    return out


def pipeline_statistic(scaling: np.ndarray) -> float:
    """hifa_renorm's figure of one scan and field from R[ant, pol, chan]: per antenna and
    correlation the maximum over channels; the mean over antennas whose maximum is not exactly 1
    (1 everywhere: no data); the mean over correlations with data. 1 when no antenna has data."""
    peak = scaling.max(axis=2)  # [ant, pol]
    peak = np.where(peak != 1.0, peak, np.nan)
    if np.isnan(peak).all():
        return 1.0
    with np.errstate(all="ignore"):
        per_corr = np.nanmean(peak, axis=0)
    return float(np.nanmean(per_corr))


def target_field_ids(md: dict, targets: list[str]) -> dict[str, list[int]]:
    """Target name -> its field ids (a mosaic has one per pointing, all of one name)."""
    return {t: [f["id"] for f in md["fields"] if f["name"] == t] for t in targets}


def not_applicable(
    targets: list[str], bandpass: str, bandpass_id: int, autos: dict[int, AutoSpectra]
) -> str | None:
    """Why the renormalisation cannot apply to these data (None when it can): it needs targets
    and the autocorrelations of the bandpass calibrator (the reference spectrum) in every spw."""
    if not targets:
        return "the EB has no target field"
    for spw, auto in autos.items():
        if not (auto.field == bandpass_id).any():
            return f"the data carry no autocorrelations of the bandpass calibrator {bandpass} in spw {spw}"
    return None


def _largest(figures: dict[str, dict], where: str) -> dict:
    """The largest max_rn of ``figures`` (per field of a scan, or per scan) with the key where it
    is reached (named ``where``), and the largest max_median_rn."""
    if not figures:
        return {"max_rn": 1.0, where: None, "max_median_rn": 1.0}
    at = max(figures, key=lambda k: figures[k]["max_rn"])
    return {
        "max_rn": figures[at]["max_rn"],
        where: at,
        "max_median_rn": max(v["max_median_rn"] for v in figures.values()),
    }


def renorm_factors(
    *,
    vis: str,
    eb_choices: str,
    factors: str,
    spectra: str,
    edge_channel_fraction: float,
    settings: dict,
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    md, targets, spws = ebc.metadata, ebc.targets, ebc.science_spws
    bandpass = ebc.roles["bandpass"][0]
    field_id = {f["name"]: f["id"] for f in md["fields"]}
    target_fields = target_field_ids(md, targets)
    nant = len(md["antennas"])
    fit_options = {
        "order": int(settings["poly_order"]),
        "clip_sigma": float(settings["clip_sigma"]),
        "sigma_floor": float(settings["sigma_floor"]),
    }
    report: dict = {
        "vis": vis,
        "bandpass_field": bandpass,
        "settings": settings,
        "fields": {},
        "excluded_channels": {},
    }
    arrays: dict[str, np.ndarray] = {}
    with CasaJob(log=log, commands=commands, title=f"renormalisation factors of {vis}") as job:
        fields = sorted({field_id[bandpass], *(i for ids in target_fields.values() for i in ids)})
        autos = {spw: mean_autocorrelations(vis, spw, fields) for spw in spws}
        missing = not_applicable(targets, bandpass, field_id[bandpass], autos)
        if missing:
            report.update(
                max_rn=1.0,
                max_median_rn=1.0,
                threshold=float(settings["threshold"]),
                apply=False,
                applicable=False,
                decision=f"not applicable: {missing}: no renorm table",
            )
            job.note(report["decision"])
            np.savez_compressed(spectra)
            jsonio.write(factors, report)
            return
        report["applicable"] = True
        job.note(f"autocorrelation ratio targets {targets} / bandpass calibrator {bandpass}")
        freqs = spw_frequencies(vis)
        for spw in spws:
            nu = np.asarray(freqs[spw])
            nchan = nu.size
            edge = channels.edge_channels(nchan, edge_channel_fraction)
            atm = atmospheric_line_channels(
                nu, settings["site"], float(settings["atm_line_min_opacity"])
            )
            use = np.ones(nchan, bool)
            use[:edge] = use[nchan - edge :] = False
            use[atm] = False
            report["excluded_channels"][str(spw)] = {
                "edge": edge,
                "atmospheric_lines": [int(c) for c in atm],
            }
            bandwidth_mhz = abs(nu[-1] - nu[0]) / 1e6
            segments = max(1, math.ceil(bandwidth_mhz / float(settings["segment_mhz"]) - 1e-9))
            auto = autos[spw]
            reference = auto.spectrum(auto.field == field_id[bandpass], nant)
            for target, ids in target_fields.items():
                stats = report["fields"].setdefault(target, {}).setdefault(str(spw), {"scans": {}})
                groups = np.isin(auto.field, ids)
                for scan in np.unique(auto.scan[groups]):
                    per_field = {}
                    for fid in np.unique(auto.field[groups & (auto.scan == scan)]):
                        here = groups & (auto.scan == scan) & (auto.field == fid)
                        scaling = scaling_spectra(
                            auto.spectrum(here, nant),
                            reference,
                            use,
                            segments,
                            **fit_options,
                        )
                        key = f"{target}/{spw}/{int(scan)}/{int(fid)}"
                        arrays[key] = scaling
                        arrays[f"{key}/time"] = np.array(
                            [auto.start[here].min(), auto.end[here].max()]
                        )
                        median = np.nanmedian(scaling, axis=(0, 1))
                        per_field[str(int(fid))] = {
                            "max_rn": pipeline_statistic(scaling),
                            "max_median_rn": float(np.max(median)),
                            "peak_channel": int(np.argmax(median)),
                            "max_rn_any_antenna": float(np.max(scaling)),
                        }
                    entry = _largest(per_field, "max_rn_field")
                    stats["scans"][str(int(scan))] = {**entry, "fields": per_field}
                stats.update(_largest(stats["scans"], "max_rn_scan"))
                if stats["max_rn_scan"] is not None:
                    stats["max_rn_field"] = stats["scans"][stats["max_rn_scan"]]["max_rn_field"]
                stats["segments"] = segments
        threshold = float(settings["threshold"])
        for spw_stats in report["fields"].values():
            for stats in spw_stats.values():
                stats["exceeds_threshold"] = stats["max_rn"] > threshold
        exceeded = any(
            s["exceeds_threshold"] for f in report["fields"].values() for s in f.values()
        )
        mode = settings["mode"]
        report["max_rn"] = max(
            (s["max_rn"] for f in report["fields"].values() for s in f.values()), default=1.0
        )
        report["max_median_rn"] = max(
            (s["max_median_rn"] for f in report["fields"].values() for s in f.values()),
            default=1.0,
        )
        report["threshold"] = threshold
        report["apply"] = mode == "always" or (mode == "auto" and exceeded)
        report["decision"] = (
            f"mode {mode}: maximum renormalisation factor {report['max_rn']:.4f} "
            f"{'>' if exceeded else '<='} threshold {threshold}: "
            + (
                "renorm table made and applied to the targets"
                if report["apply"]
                else "no renorm table"
            )
        )
        job.note(report["decision"])
    np.savez_compressed(spectra, **arrays)
    jsonio.write(factors, report)
