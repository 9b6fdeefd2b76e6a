"""Snakemake adapter: The renormalisation caltable {eb}.ms.split.renorm.tbl from the factors of renorm_factors."""

from almacal.calibration.renorm_table import renorm_table

renorm_table(
    vis=snakemake.input.vis,
    factors=snakemake.input.factors,
    spectra=snakemake.input.spectra,
    caltable=snakemake.output.caltable,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
