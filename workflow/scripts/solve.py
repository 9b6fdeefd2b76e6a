"""Snakemake adapter: one table of the solve table (almacal.solves) on {eb}.ms.split."""

from almacal.calibration.solve import solve_table

solve_table(
    name=snakemake.params.solve,
    vis=snakemake.input.vis,
    metadata=snakemake.input.metadata,
    caltable=snakemake.output.caltable,
    gaintables=list(snakemake.input.gaintables),
    settings=dict(snakemake.params.settings),
    field_roles=snakemake.params.field_roles,
    refant=snakemake.params.refant,
    minsnr=snakemake.params.minsnr,
    science_spws=snakemake.params.science_spws,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
