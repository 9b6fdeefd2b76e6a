"""The QA scores: the checks with their thresholds, the linear score ramp, and their ordering.

Each check measures one number per EB (or per EB of an MOUS) and turns it into a score between 0
(bad) and 1 (good) with a linear ramp between two thresholds, ``good`` and ``bad``; when ``good``
is above ``bad`` higher values are better. The EB summary (``eb_summary``) and the MOUS report
(``report``) score with ``make_score``; the report's thresholds table and the table of
docs/qa.md are rendered from ``CHECKS`` (``thresholds_markdown`` makes the latter).
"""

import math

# The QA checks: what is measured, and the thresholds of the linear score ramp (1 at `good` or
# better, 0 at `bad` or worse). `scope` is "eb" (qa_eb_summary), "mous" (qa_report) or "image"
# (imaging_sensitivity).
CHECKS = {
    "flagged_fraction": {
        "title": "Flagged data",
        "unit": "fraction",
        "good": 0.15,
        "bad": 0.50,
        "scope": "eb",
        "measure": "fraction of the cross-correlation visibilities of <eb>.ms.split.cal that are "
        "flagged (all fields and science spws; edge channels included)",
    },
    "flagged_by_calibration": {
        "title": "Flagged by calibration",
        "unit": "fraction",
        "good": 0.01,
        "bad": 0.10,
        "scope": "eb",
        "measure": "fraction of the cross-correlation visibilities flagged by the final applycal "
        "because a solution was missing (<eb>.ms.split.cal minus <eb>.ms.split before the solves)",
    },
    "antenna_flagging": {
        "title": "Antenna flagging outlier",
        "unit": "fraction",
        "good": 0.05,
        "bad": 0.30,
        "scope": "eb",
        "measure": "flagged fraction of the worst antenna's cross-correlations in "
        "<eb>.ms.split.cal minus that of the median antenna",
    },
    "solutions_succeeded": {
        "title": "Calibration solutions",
        "unit": "fraction",
        "good": 0.95,
        "bad": 0.60,
        "scope": "eb",
        "measure": "succeeded / expected solutions (antennas x solution intervals in the data) of "
        "the worst caltable and spw",
    },
    "bandpass_amplitude_scatter": {
        "title": "Bandpass amplitude flatness",
        "unit": "fraction",
        "good": 0.01,
        "bad": 0.05,
        "scope": "eb",
        "measure": "rms channel-to-channel scatter of the bandpass amplitude about its 9-channel "
        "running median (worst antenna, spw, polarization)",
    },
    "bandpass_phase_scatter": {
        "title": "Bandpass phase flatness",
        "unit": "deg",
        "good": 2.0,
        "bad": 10.0,
        "scope": "eb",
        "measure": "rms channel-to-channel scatter of the bandpass phase about its 9-channel "
        "running median (worst antenna, spw, polarization)",
    },
    "calibrated_phase_rms": {
        "title": "Calibrated calibrator phase rms",
        "unit": "deg",
        "good": 10.0,
        "bad": 30.0,
        "scope": "eb",
        "measure": "rms phase of the calibrated calibrators in <eb>.ms.split.cal (per baseline and "
        "integration, channel-averaged; worst calibrator and spw); 30 deg costs 13 % coherence",
    },
    "tsys_outlier": {
        "title": "Tsys outlier",
        "unit": "factor",
        "good": 1.5,
        "bad": 2.0,
        "scope": "eb",
        "measure": "median Tsys of the worst antenna and spw over (or under) the array median of "
        "that spw, as a factor (2 is the limit of the pipeline's tsysflag nmedian test)",
    },
    "fluxscale_error": {
        "title": "Fluxscale uncertainty",
        "unit": "fraction",
        "good": 0.02,
        "bad": 0.10,
        "scope": "eb",
        "measure": "fractional error of the fluxscale-derived flux density (worst transfer field "
        "and spw)",
    },
    "flux_calibrator_origin": {
        "title": "Flux calibrator model origin",
        "unit": "fraction",
        "good": 0.0,
        "bad": 0.01,
        "scope": "eb",
        "measure": "fraction of the flux calibrator's spw models (setjy) taken from the ASDM "
        "Source table rather than the flux file or a solar-system model: the pipeline scores "
        "a Source-table flux red, so does this (any spw scores 0)",
    },
    "fluxscale_spectrum": {
        "title": "Fluxscale spw-to-spw consistency",
        "unit": "fraction",
        "good": 0.03,
        "bad": 0.10,
        "scope": "eb",
        "measure": "|S_spw / fitted power law at the spw's frequency - 1| of fluxscale's flux "
        "densities (worst transfer field and spw); needs three spws or more (two always fit)",
    },
    "wvr_improvement": {
        "title": "WVR improvement",
        "unit": "factor",
        "good": 1.0,
        "bad": 0.9,
        "scope": "eb",
        "measure": "the calibrators' phase rms without / with the WVR correction (per-integration "
        "phase solutions after a temporary bandpass, per antenna and time chunk referred to up "
        "to 8 reference antennas; median over antennas, chunks, calibrators and spws: the "
        "pipeline's hifa_wvrgcalflag figure); below 1 the table is not applied (wvr.apply: "
        "auto), and it scores below 0.66 when the correction adds more than 3.5 % phase rms",
    },
    # Per antenna (almacal.qa.antennas): each antenna against the rest of the array; the EB's
    # score is the worst antenna's, and every other antenna below 0.66 is scored too.
    "antenna_phase_jump": {
        "title": "Antenna phase jump",
        "unit": "deg",
        "good": 20.0,
        "bad": 60.0,
        "scope": "eb",
        "measure": "largest step of an antenna's phase between consecutive phase-calibrator "
        "solutions of phase_inf beyond the array's median step at that time (worst antenna, "
        "spw, polarization); a jump between two phase-calibrator scans corrupts the target "
        "between them",
    },
    "antenna_gain_amplitude": {
        "title": "Antenna gain amplitude",
        "unit": "fraction",
        "good": 0.3,
        "bad": 0.5,
        "scope": "eb",
        "measure": "|median amplitude of an antenna's ampli_inf solutions / median of the "
        "antennas of its dish size - 1| (worst antenna and spw); the pipeline's "
        "hif_lowgainflag flags outside 0.5-1.5 x the median",
    },
    "antenna_noise": {
        "title": "Antenna noise beyond its weights",
        "unit": "factor",
        "good": 1.5,
        "bad": 2.5,
        "scope": "eb",
        "measure": "noise of an antenna's calibrated calibrator visibilities (channel-to-channel "
        "differences x sqrt(WEIGHT), median over its baselines) over that of the median "
        "antenna of its dish size (worst antenna and spw): noise its Tsys does not explain",
    },
    "tsys_spectral_outlier": {
        "title": "Tsys spectral outlier",
        "unit": "factor",
        "good": 1.2,
        "bad": 1.75,
        "scope": "eb",
        "measure": "largest factor of an antenna's Tsys spectrum (over its own median) above the "
        "array's median normalised spectrum of that spw, scan and polarization: a birdie, as "
        "the pipeline's hifa_tsysflag tests (worst antenna, spw, channels)",
    },
    # The check source (almacal.qa.check_source): the ALMA pipeline's check-source score
    # (score_checksources) takes 1 - offset/beam and warns above 0.15 beam (0.3 before); its
    # fitted-flux/gfluxscale ratio warns below 0.8. Here those limits fall inside the ramps.
    "check_source_offset": {
        "title": "Check source position offset",
        "unit": "beam",
        "good": 0.1,
        "bad": 0.5,
        "scope": "eb",
        "measure": "offset of the check source's fitted position (uvmodelfit point source, "
        "science spws of <eb>.ms.split.cal) from its phase centre, in synthesized beams "
        "(sqrt(major x minor) of the natural-weighting beam from the uv distribution; worst "
        "check source)",
    },
    "check_source_coherence": {
        "title": "Check source coherence",
        "unit": "fraction",
        "good": 0.9,
        "bad": 0.7,
        "scope": "eb",
        "measure": "fitted (vector-averaged) flux of the check source over its noise-debiased "
        "scalar-averaged amplitude per integration and baseline: phase-transfer decorrelation "
        "(worst check source)",
    },
    # The images (almacal.imaging.sensitivity, job imaging_sensitivity): every image of the
    # MOUS (science images: the MOUS; calibrator images: their EB).
    "image_rms_ratio": {
        "title": "Image noise over expected",
        "unit": "factor",
        "good": 1.2,
        "bad": 2.0,
        "scope": "image",
        "measure": "measured rms (before pb correction, pb-limited pixels beyond 3 beams of any "
        "pixel above 20 x the robust noise; a cube: median over channels) over the expected "
        "rms: the theoretical "
        "(imager.apparentsens on statwt weights, the weighting's loss included), or for an mfs "
        "image brighter than imaging.dynamic_range_limit x the theoretical, peak / that limit",
    },
    "image_check_source_offset": {
        "title": "Check source image offset",
        "unit": "beam",
        "good": 0.1,
        "bad": 0.5,
        "scope": "image",
        "measure": "offset of the imfit position in the check source's image (its EB, all "
        "science spws) from its phase centre, in restoring beams sqrt(major x minor)",
    },
    "image_check_source_peak_ratio": {
        "title": "Check source image peak / integrated",
        "unit": "fraction",
        "good": 0.9,
        "bad": 0.7,
        "scope": "image",
        "measure": "fitted peak over integrated flux density of the check source's image (1 for "
        "a point source; phase-transfer decorrelation spreads it); the pipeline's check-source "
        "QA reports the same ratio",
    },
    "flux_consistency": {
        "title": "Phase-calibrator flux consistency",
        "unit": "fraction",
        "good": 0.05,
        "bad": 0.15,
        "scope": "mous",
        "measure": "|S_EB / median over the MOUS's EBs - 1| of the phase calibrator's fluxscale "
        "flux density (worst spw); needs two EBs or more",
    },
}


def higher_is_better(check: str) -> bool:
    spec = CHECKS[check]
    return spec["good"] > spec["bad"]


def score(value: float, good: float, bad: float) -> float:
    """Linear ramp: 1 at ``good`` or better, 0 at ``bad`` or worse (either direction).

    A missing or non-finite value scores 0.
    """
    if value is None or not math.isfinite(value):
        return 0.0
    if good == bad:
        return 1.0 if value <= good else 0.0
    return float(min(1.0, max(0.0, (bad - value) / (bad - good))))


def threshold_text(check: str) -> str:
    """The ramp of a check in words, e.g. "1 if ≤ 0.15, 0 if ≥ 0.5" (report and docs)."""
    spec = CHECKS[check]
    good, bad = ("≥", "≤") if higher_is_better(check) else ("≤", "≥")
    return f"1 if {good} {spec['good']:g}, 0 if {bad} {spec['bad']:g}"


def make_score(check: str, eb: str, value: float, subject: str) -> dict:
    """One scored check, with its thresholds stated."""
    spec = CHECKS[check]
    op_good, op_bad = (">=", "<=") if higher_is_better(check) else ("<=", ">=")
    return {
        "check": check,
        "title": spec["title"],
        "eb": eb,
        "subject": subject,
        "value": None if value is None else round(float(value), 6),
        "unit": spec["unit"],
        "score": round(score(value, spec["good"], spec["bad"]), 3),
        "good": spec["good"],
        "bad": spec["bad"],
        "threshold": f"1 if {op_good} {spec['good']}, 0 if {op_bad} {spec['bad']}",
        "measure": spec["measure"],
    }


def closeness(entry: dict) -> float:
    """How far the value has gone from the good threshold towards the bad one (0 at good, 1 at
    bad; beyond 1 past bad). A missing value is infinitely far."""
    if entry["value"] is None:
        return float("inf")
    return (entry["value"] - entry["good"]) / (entry["bad"] - entry["good"])


def worst_first(scores: list[dict]) -> list[dict]:
    """Lowest score first; among equal scores, the value closest to its bad threshold first."""
    return sorted(scores, key=lambda s: (s["score"], -closeness(s), s["check"], s["eb"]))


# Colour bands of the scores, as in the ALMA pipeline weblog (green, blue, yellow, red): CSS class
# and the lowest score of the band.
SCORE_BANDS = (("s-good", 0.9), ("s-ok", 0.66), ("s-warn", 0.33), ("s-bad", 0.0))


def score_class(value: float) -> str:
    """CSS class of a score's colour band."""
    return next((cls for cls, low in SCORE_BANDS if value >= low), SCORE_BANDS[-1][0])


def score_bands() -> list[tuple[str, str]]:
    """(CSS class, range in words) of each colour band, best first ("≥ 0.90", "0.66–0.90"...)."""
    bands = []
    for i, (cls, low) in enumerate(SCORE_BANDS):
        if i == 0:
            bands.append((cls, f"≥ {low:.2f}"))
        elif i == len(SCORE_BANDS) - 1:
            bands.append((cls, f"< {SCORE_BANDS[i - 1][1]:.2f}"))
        else:
            bands.append((cls, f"{low:.2f}–{SCORE_BANDS[i - 1][1]:.2f}"))
    return bands


SCOPE_NAMES = {"eb": "EB", "mous": "MOUS (per EB)", "image": "image (MOUS or its EB)"}
THRESHOLDS_HEADER = (
    "check",
    "title",
    "unit",
    "good (score 1)",
    "bad (score 0)",
    "better",
    "score 1 → 0 (linear between)",
    "scope",
)


def thresholds_rows() -> list[tuple[str, ...]]:
    """One row per check, in the order of ``CHECKS``: the columns of ``THRESHOLDS_HEADER``."""
    return [
        (
            check,
            spec["title"],
            spec["unit"],
            f"{spec['good']:g}",
            f"{spec['bad']:g}",
            "higher" if higher_is_better(check) else "lower",
            threshold_text(check),
            SCOPE_NAMES[spec["scope"]],
        )
        for check, spec in CHECKS.items()
    ]


def thresholds_markdown() -> str:
    """The thresholds table of docs/qa.md (a Markdown table, final newline included)."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |\n"

    return (
        line(THRESHOLDS_HEADER)
        + line("---" for _ in THRESHOLDS_HEADER)
        + "".join(line(row) for row in thresholds_rows())
    )


if __name__ == "__main__":  # python -m almacal.qa.scores: print the table for docs/qa.md
    print(thresholds_markdown(), end="")
