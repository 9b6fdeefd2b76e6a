"""The calibrator images of one EB (rule ``image_calibrators``): the phase calibrator and every
check source, each an mfs image of all science spws made from a temporary copy of its rows of
``<eb>.ms.split.cal`` with statwt weights (calibrators have no line: every channel), with the
image's parameters derived from this EB alone (``almacal.imaging.params``), so that an edit in
one EB remakes only its own calibrator images.

For the check source the image gives what the pipeline's check-source QA reports: the position
offset of the fitted component from the phase centre in beams (the astrometry of the phase
transfer) and its fitted peak over integrated flux (1 for a point source; decorrelation by
phase-transfer errors spreads the flux, lowering it). Scored by ``qa.scores`` checks
``image_check_source_offset`` and ``image_check_source_peak_ratio``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from almacal import choices, jsonio
from almacal.casa_job import CasaJob
from almacal.imaging import images, msdata, params

ROLE_SUFFIX = {"phase": "ph", "check": "check"}


def image_name(eb: str, field: str, role: str, spws: list[int]) -> str:
    """ALMA's product name: <eb>.<field>_<ph|check>.spw<ids>.mfs.I (then .pbcor.fits ...)."""
    return f"{eb}.{field}_{ROLE_SUFFIX[role]}.spw{'_'.join(map(str, spws))}.mfs.I"


def image_calibrators(
    *, cal: str, eb_choices: str, settings: dict, images_dir: str, summary: str, log: str,
    commands: str,
) -> None:  # fmt: skip
    eb_name = Path(cal).name.removesuffix(".ms.split.cal")
    eb = choices.load(eb_choices)
    out = Path(images_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    fields = [(f, "phase") for f in eb.roles.get("phase", [])]
    fields += [(f, "check") for f in eb.checks]
    spws = eb.science_spws
    records = []
    with (
        CasaJob(log=log, commands=commands, title=f"calibrator images of {eb_name}") as job,
        tempfile.TemporaryDirectory(prefix=f"{eb_name}.calimages.", dir=out.parent) as tmp,
    ):
        for field, role in fields:
            copy = str(Path(tmp) / f"{field}.ms")
            job.task(
                "mstransform",
                vis=cal,
                outputvis=copy,
                field=field,
                spw=choices.spw_selection(spws),
                datacolumn="data",
                reindex=False,
            )
            job.task("statwt", vis=copy, datacolumn="data")
            freqs = msdata.spw_frequencies(copy)
            p = params.derive(
                uv_distances_m=msdata.uv_distances_m(copy, field),
                frequencies_hz=(
                    min(freqs[s].min() for s in spws),
                    max(freqs[s].max() for s in spws),
                ),
                dish_m=msdata.largest_dish_m(copy),
                settings=settings,
                mosaic_radius_arcsec=msdata.mosaic_radius_arcsec(copy, field),
            )
            record = images.mfs_image(
                job,
                vis=[copy],
                spws=[choices.spw_selection(spws)],
                field=field,
                params=p,
                settings=settings,
                workdir=Path(tmp),
                fits_base=out / image_name(eb_name, field, role, spws),
                title=f"{eb_name} {field} ({role})",
            )
            records.append({"role": role, **record})
    jsonio.write(
        summary,
        {
            "eb": eb_name,
            "images_dir": out.name,
            "check_sources": eb.checks,
            "no_check_source": None if eb.checks else "no check source in this EB",
            "images": records,
        },
    )
