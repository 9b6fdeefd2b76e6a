"""Snakemake adapter: One machine-readable file per EB with the figures of its ALMA-specific corrections."""

from almacal.qa.corrections import eb_corrections

eb_corrections(
    metadata=snakemake.input.metadata,
    tsys=snakemake.input.get("tsys"),
    tsys_spwmap=snakemake.input.get("tsys_spwmap"),
    antpos=snakemake.input.antpos[0] if snakemake.input.antpos else None,
    wvr_stats=snakemake.input.get("wvr_stats"),
    flux_model=snakemake.input.flux_model,
    renorm=snakemake.input.renorm,
    corrections=snakemake.output.corrections,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
