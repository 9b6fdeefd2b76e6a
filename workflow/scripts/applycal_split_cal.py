"""Snakemake adapter: Final applycal on {eb}.ms.split by field role, split to {eb}.ms.split.cal."""

from almacal.calibration.applycal_split_cal import applycal_split_cal
from almacal.solves import SOLVES

applycal_split_cal(
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    tables={
        **{s.name: snakemake.input[s.name] for s in SOLVES if s.applied_to},
        "renorm": snakemake.input.renorm[0] if snakemake.input.renorm else None,
    },
    spwphaseup=snakemake.input.spwphaseup,
    cal=snakemake.output.cal,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
