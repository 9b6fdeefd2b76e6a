"""Snakemake adapter: fluxscale: {eb}.ms.split.flux_inf from ampli_inf, and the fitted fluxes as JSON."""

from almacal.calibration.fluxscale_bootstrap import fluxscale_bootstrap

fluxscale_bootstrap(
    vis=snakemake.input.vis,
    metadata=snakemake.input.metadata,
    ampli_inf=snakemake.input.ampli_inf,
    caltable=snakemake.output.caltable,
    fluxes=snakemake.output.fluxes,
    field_roles=snakemake.params.field_roles,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
