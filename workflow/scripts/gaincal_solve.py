"""Snakemake adapter: One gaincal table on {eb}.ms.split: ap_pre_bandpass, phase_int, phase_inf or ampli_inf."""

from almacal.calibration.gaincal_solve import gaincal_solve

gaincal_solve(
    vis=snakemake.input.vis,
    metadata=snakemake.input.metadata,
    caltable=snakemake.output.caltable,
    gaintables=list(snakemake.input.get("gaintables", [])),
    fields=snakemake.params.fields,
    calmode=snakemake.params.calmode,
    gaintype=snakemake.params.gaintype,
    solve=dict(snakemake.params.solve),
    field_roles=snakemake.params.field_roles,
    refant=snakemake.params.refant,
    minsnr=snakemake.params.minsnr,
    science_spws=snakemake.params.get("science_spws"),
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
