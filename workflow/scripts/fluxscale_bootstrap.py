"""Snakemake adapter: fluxscale: {eb}.ms.split.flux_inf from ampli_inf, and the fitted fluxes as JSON."""

from almacal.calibration.fluxscale_bootstrap import fluxscale_bootstrap

fluxscale_bootstrap(
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    ampli_inf=snakemake.input.ampli_inf,
    caltable=snakemake.output.caltable,
    fluxes=snakemake.output.fluxes,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
