"""The sensitivity check of an MOUS (rule ``imaging_sensitivity``): every image's theoretical
and measured rms and their ratio, the image scores, and, when config states the PI's request
(``mous.<mous>.qa2``), the QA2 verdict.

- **Theoretical rms**: ``images.theoretical_rms`` on statwt weights (``targets_ms``), the
  weighting's loss factor included. **Expected rms**: the theoretical, or for an mfs image whose
  fitted peak over the theoretical rms exceeds ``imaging.dynamic_range_limit``, peak / that
  limit (the image is then dynamic-range limited: residual calibration errors around a bright
  source, not the thermal noise, set its noise; the pipeline makes the same correction). A cube
  is measured in the line-free channels of continuum-subtracted data: thermal.
- **QA2 verdict** (ALMA's QA2 criteria): the rms at the requested bandwidth (a cube's channel
  rms x sqrt(channel width / ``bandwidth_mhz``), the worst cube; without ``bandwidth_mhz`` the
  continuum rms, worst target) within the band's tolerance of the requested rms (10 % in Bands
  1-6, 15 % in Bands 7-8, 20 % in Bands 9-10; Bands 1-2 are not in the criteria and take 10 %),
  and the beam area within the requested range (sqrt(major x minor) within
  ``resolution_arcsec``). ``pass``: both met; ``semipass``: one of the two; ``fail``: neither.
  The data reduction manager has the last word (QA2 wiki); this is the proposal.
"""

from __future__ import annotations

import math
from pathlib import Path

from almacal import jsonio
from almacal.imaging import images
from almacal.qa import scores as qa_scores

# ALMA receiver bands (GHz) and the QA2 sensitivity tolerance of each
BANDS = [
    (1, 35.0, 50.0),
    (2, 67.0, 84.0),
    (3, 84.0, 116.0),
    (4, 125.0, 163.0),
    (5, 158.0, 211.0),
    (6, 211.0, 275.0),
    (7, 275.0, 373.0),
    (8, 385.0, 500.0),
    (9, 602.0, 720.0),
    (10, 787.0, 950.0),
]


def band(frequency_ghz: float) -> int:
    for number, low, high in BANDS:
        if low <= frequency_ghz <= high:
            return number
    raise ValueError(f"{frequency_ghz:.3f} GHz is in no ALMA band")


def tolerance(band_number: int) -> float:
    """Allowed excess of the measured over the requested rms (QA2 criteria)."""
    if band_number <= 6:
        return 0.10
    if band_number <= 8:
        return 0.15
    return 0.20


def image_figures(record: dict, kind: str, eb: str | None, dr_limit: float) -> dict:
    """What the check reports of one image."""
    theoretical = record["theoretical_rms_jy"]
    expected, dr_limited = theoretical, False
    peak = (record.get("source") or {}).get("peak_jy_per_beam")
    if record["specmode"] == "mfs" and peak and peak / theoretical > dr_limit:
        expected, dr_limited = peak / dr_limit, True
    p = record["parameters"]
    return {
        "kind": kind,
        "eb": eb,
        "field": record["field"],
        "spw": record.get("spw"),
        "file": record["files"]["pbcor"],
        "png": record["files"]["png"],
        "frequency_ghz": (p["min_frequency_hz"] + p["max_frequency_hz"]) / 2e9,
        "beam": record["beam"],
        "beam_arcsec": images.beam_size(record["beam"]),
        "cell_arcsec": p["cell_arcsec"],
        "imsize": p["imsize"],
        "theoretical_rms_jy": theoretical,
        "weighting_loss_factor": record["weighting_loss_factor"],
        "measured_rms_jy": record["measured_rms_jy"],
        "rms_ratio": record["measured_rms_jy"] / theoretical,
        "expected_rms_jy": expected,
        "rms_over_expected": record["measured_rms_jy"] / expected,
        "dynamic_range_limited": dr_limited,
        "peak_jy_per_beam": peak,
        "channel_width_mhz": record.get("channel_width_mhz"),
        "bandwidth_mhz": record.get("bandwidth_mhz"),
    }


def qa2_verdict(request: dict | None, continuum: list[dict], cubes: list[dict]) -> dict:
    """The QA2 verdict of the request against the science images (figures of image_figures)."""
    if not request:
        return {"verdict": None, "reason": "no request in config (mous.<mous>.qa2)"}
    if not continuum and not cubes:
        return {"verdict": None, "reason": "no science image: no EB of the MOUS has a target"}
    bandwidth = request.get("bandwidth_mhz")
    if bandwidth:
        if not cubes:
            raise ValueError(
                "mous.<mous>.qa2.bandwidth_mhz asks for a line rms, but no cube was made"
            )
        rms_of = {
            id(c): c["measured_rms_jy"] * math.sqrt(c["channel_width_mhz"] / bandwidth)
            for c in cubes
        }
        used = max(cubes, key=lambda c: rms_of[id(c)])
        rms, what = rms_of[id(used)], f"line: cube channel rms scaled to {bandwidth:g} MHz"
    else:
        used = max(continuum, key=lambda c: c["measured_rms_jy"])
        rms, what = used["measured_rms_jy"], f"continuum over {used['bandwidth_mhz']:g} MHz"
    number = band(used["frequency_ghz"])
    tol = tolerance(number)
    requested = request["sensitivity_mjy"] / 1e3
    rms_ok = rms <= requested * (1 + tol)
    low, high = request["resolution_arcsec"]
    size = used["beam_arcsec"]
    beam_ok = low <= size <= high
    verdict = {2: "pass", 1: "semipass", 0: "fail"}[int(rms_ok) + int(beam_ok)]
    return {
        "verdict": verdict,
        "image": used["file"],
        "measured": what,
        "band": number,
        "tolerance": tol,
        "requested_rms_jy": requested,
        "rms_jy": rms,
        "rms_over_requested": rms / requested,
        "rms_ok": rms_ok,
        "requested_resolution_arcsec": [low, high],
        "beam_arcsec": size,
        "beam_area_over_requested_range": [(size / low) ** 2, (size / high) ** 2],
        "beam_ok": beam_ok,
        "criteria": (
            f"rms <= requested x {1 + tol:g} (Band {number}); sqrt(major x minor) within "
            f"[{low:g}, {high:g}] arcsec (beam area within the requested range); pass: both, "
            "semipass: one, fail: neither"
        ),
    }


def image_scores(mous: str, figures: list[dict], calibrators: list[dict]) -> list[dict]:
    """Scores: every image's measured over expected rms; every check source image's offset in
    beams and peak over integrated flux (the EB's)."""
    scores = [
        qa_scores.make_score(
            "image_rms_ratio",
            f["eb"] or mous,
            f["rms_over_expected"],
            f"{f['file']}: measured {f['measured_rms_jy'] * 1e3:.4g} mJy/beam, expected "
            f"{f['expected_rms_jy'] * 1e3:.4g}"
            + (" (dynamic-range limited)" if f["dynamic_range_limited"] else ""),
        )
        for f in figures
    ]
    for c in calibrators:
        for image in c["images"]:
            source = image["source"]
            if image["role"] != "check":
                continue
            name = image["files"]["pbcor"]
            scores.append(
                qa_scores.make_score(
                    "image_check_source_offset",
                    c["eb"],
                    source.get("offset_beams"),
                    f"{image['field']}: {source.get('offset_arcsec', float('nan')):.3g} arcsec ({name})",
                )
            )
            scores.append(
                qa_scores.make_score(
                    "image_check_source_peak_ratio",
                    c["eb"],
                    source.get("peak_over_integrated"),
                    f"{image['field']} ({name})",
                )
            )
    return qa_scores.worst_first(scores)


def imaging_sensitivity(
    *, mous: str, continuum: str, cubes: str, calibrators: list[str], request: dict | None,
    dynamic_range_limit: float, output: str, log: str,
) -> None:  # fmt: skip
    cont = jsonio.load(continuum)["images"]
    cube = jsonio.load(cubes)["images"]
    cals = [jsonio.load(c) for c in calibrators]
    cont_figures = [image_figures(r, "continuum", None, dynamic_range_limit) for r in cont]
    cube_figures = [image_figures(r, "cube", None, dynamic_range_limit) for r in cube]
    cal_figures = [
        image_figures(r, r["role"], c["eb"], dynamic_range_limit) for c in cals for r in c["images"]
    ]
    figures = cont_figures + cube_figures + cal_figures
    verdict = qa2_verdict(request, cont_figures, cube_figures)
    jsonio.write(
        output,
        {
            "mous": mous,
            "method": (
                "theoretical rms: imager.apparentsens on statwt weights (1/variance of each "
                "row's line-free channels) with the image's weighting; measured rms: of the "
                "image before pb correction over its pb-limited pixels farther than "
                f"{images.ANNULUS_INNER_BEAMS:g} beams from every pixel brighter than "
                f"{images.BRIGHT_SIGMA:g} x its robust noise (a cube: median over channels); "
                "expected: the "
                f"theoretical, or peak / {dynamic_range_limit:g} for a dynamic-range-limited "
                "mfs image"
            ),
            "images": figures,
            "qa2": verdict,
            "scores": image_scores(mous, figures, cals),
        },
    )
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(
        "".join(
            f"{f['file']}: rms {f['measured_rms_jy']:.4g} Jy/beam, theoretical "
            f"{f['theoretical_rms_jy']:.4g}, ratio {f['rms_ratio']:.3f}\n"
            for f in figures
        )
        + f"QA2 verdict: {verdict['verdict']}\n"
    )
