"""Snakemake adapter: Amplitude renormalisation factors of the targets of {eb}.ms.split (ALMA's normalisation problem)."""

from almacal.calibration.renorm_factors import renorm_factors

renorm_factors(
    vis=snakemake.input.vis,
    metadata=snakemake.input.metadata,
    factors=snakemake.output.factors,
    spectra=snakemake.output.spectra,
    field_roles=snakemake.params.field_roles,
    science_spws=snakemake.params.science_spws,
    edge_channel_fraction=snakemake.params.edge_channel_fraction,
    settings=snakemake.params.settings,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
