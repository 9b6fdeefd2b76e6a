"""Snakemake adapter: A-priori flags on {eb}.ms: online flags, shadowing, autocorrelations, non-science intents."""

from almacal.calibration.flag_apriori import flag_apriori

flag_apriori(
    ms=snakemake.input.ms,
    metadata=snakemake.input.metadata,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
