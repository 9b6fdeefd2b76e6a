"""Snakemake adapter: Bandpass table {eb}.ms.split.bandpass on the bandpass calibrator (optionally smoothed)."""

from almacal.calibration.bandpass_solve import bandpass_solve

bandpass_solve(
    vis=snakemake.input.vis,
    metadata=snakemake.input.metadata,
    caltable=snakemake.output.caltable,
    gaintables=list(snakemake.input.gaintables),
    solve=dict(snakemake.params.solve),
    field_roles=snakemake.params.field_roles,
    refant=snakemake.params.refant,
    minsnr=snakemake.params.minsnr,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
