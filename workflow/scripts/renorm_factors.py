"""Snakemake adapter: Amplitude renormalisation factors of the targets of {eb}.ms.split (ALMA's normalisation problem)."""

from almacal.calibration.renorm_factors import renorm_factors

renorm_factors(
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    factors=snakemake.output.factors,
    spectra=snakemake.output.spectra,
    edge_channel_fraction=snakemake.params.edge_channel_fraction,
    settings=snakemake.params.settings,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
