"""Snakemake adapter: one table of the solve table (almacal.solves) on {eb}.ms.split."""

from almacal.calibration.solve import solve_table

solve_table(
    name=snakemake.params.solve,
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    caltable=snakemake.output.caltable,
    gaintables=list(snakemake.input.gaintables),
    settings=dict(snakemake.params.settings),
    minsnr=snakemake.params.minsnr,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
    spwphaseup=snakemake.input.spwphaseup[0] if snakemake.input.spwphaseup else None,
)
