"""Snakemake adapter: automatic Tsys flags (hifa_tsysflag's tests) as the flag file of an EB."""

from almacal.calibration.tsysflag import tsysflag

tsysflag(
    ms=snakemake.input.ms,
    metadata=snakemake.input.metadata,
    settings=dict(snakemake.params.settings),
    atmosphere=dict(snakemake.params.atmosphere),
    flags=snakemake.output.flags,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
