"""Snakemake adapter: Antenna-position caltable {eb}.ms.antpos from the ALMA position-service JSON."""

from almacal.calibration.gencal_antpos import gencal_antpos

gencal_antpos(
    eb=snakemake.wildcards.eb,
    ms=snakemake.input.ms,
    metadata=snakemake.input.metadata,
    positions=snakemake.input.positions,
    antpos=snakemake.output.antpos,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
