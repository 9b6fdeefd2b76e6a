"""The imaging section of the MOUS QA report: what it shows of ``<mous>.sensitivity.json``
(almacal.imaging.sensitivity) and the image records, and the PNGs it copies."""

from __future__ import annotations

import shutil
from pathlib import Path

from almacal import jsonio

KIND_TITLES = {
    "continuum": "continuum",
    "cube": "cube",
    "phase": "phase calibrator",
    "check": "check source",
}


def _mjy(value: float | None) -> float | None:
    return None if value is None else value * 1e3


def imaging_context(sensitivity: dict, records: dict[str, list[dict]], copied: dict) -> dict:
    """The section's tables and figures. ``records``: image records by kind ("continuum",
    "cube", "calibrators": per-EB records); ``copied``: PNG name -> its path in the report."""
    rows, figures = [], []
    for f in sensitivity["images"]:
        b = f["beam"]
        rows.append(
            [
                KIND_TITLES[f["kind"]],
                f["field"],
                f["eb"] or "MOUS",
                f["file"],
                f"{b['major_arcsec']:.3f} x {b['minor_arcsec']:.3f}, {b['pa_deg']:.0f} deg",
                f"{f['cell_arcsec']:.3g} / {f['imsize']}",
                _mjy(f["theoretical_rms_jy"]),
                f["weighting_loss_factor"],
                _mjy(f["measured_rms_jy"]),
                f["rms_ratio"],
                _mjy(f["expected_rms_jy"]) if f["dynamic_range_limited"] else None,
            ]
        )
        figures.append(
            {
                "src": copied[f["png"]],
                "caption": f"{KIND_TITLES[f['kind']]} {f['field']}"
                + (f" ({f['eb']})" if f["eb"] else "")
                + f": {f['file']}",
            }
        )
    lines = []
    for cube in records["cube"]:
        line = cube["line"]
        lines.append(
            [
                cube["field"],
                cube["spw"],
                line["peak_jy"],
                line.get("integrated_jy_mhz"),
                line.get("integrated_jy_km_s"),
                line.get("centre_ghz"),
                line.get("fwhm_mhz"),
                "yes" if line["detected"] else line.get("reason", "no"),
            ]
        )
    sources = []
    for record in records["continuum"] + records["calibrators"]:
        s = record["source"]
        if not s.get("fitted"):
            continue
        sources.append(
            [
                record["field"],
                record.get("role", "target"),
                record.get("eb", "MOUS"),
                s["integrated_jy"],
                s["peak_jy_per_beam"],
                s["peak_over_integrated"],
                s["offset_arcsec"],
                s["offset_beams"],
            ]
        )
    qa2 = sensitivity["qa2"]
    return {
        "method": sensitivity["method"],
        "rows": rows,
        "figures": figures,
        "lines": lines,
        "sources": sources,
        "check_sources": [r for r in records["calibrators"] if r.get("role") == "check"],
        "qa2": qa2,
        "qa2_rows": []
        if qa2["verdict"] is None
        else [
            [
                "rms (mJy/beam)",
                _mjy(qa2["requested_rms_jy"]),
                _mjy(qa2["rms_jy"]),
                qa2["rms_over_requested"],
                "yes" if qa2["rms_ok"] else "no",
            ],
            [
                "beam sqrt(major x minor) (arcsec)",
                " – ".join(f"{x:g}" for x in qa2["requested_resolution_arcsec"]),
                qa2["beam_arcsec"],
                None,
                "yes" if qa2["beam_ok"] else "no",
            ],
        ],  # fmt: skip
    }


def copy_images(out: Path, sensitivity: dict, image_dirs: list[str]) -> dict[str, str]:
    """The images' PNGs into <report>/images/; PNG name -> its path relative to the report."""
    (out / "images").mkdir(exist_ok=True)
    wanted = {f["png"] for f in sensitivity["images"]}
    copied = {}
    for folder in image_dirs:
        for png in Path(folder).glob("*.png"):
            if png.name in wanted:
                shutil.copyfile(png, out / "images" / png.name)
                copied[png.name] = f"images/{png.name}"
    missing = sorted(wanted - set(copied))
    if missing:
        raise FileNotFoundError(f"image PNGs not found in {image_dirs}: {missing}")
    return copied


def load_records(continuum: str, cubes: str, calibrators: list[str]) -> dict[str, list[dict]]:
    cal_records = []
    for path in calibrators:
        record = jsonio.load(path)
        cal_records += [{**image, "eb": record["eb"]} for image in record["images"]]
    return {
        "continuum": jsonio.load(continuum)["images"],
        "cube": jsonio.load(cubes)["images"],
        "calibrators": cal_records,
    }
