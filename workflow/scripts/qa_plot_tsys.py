"""Snakemake adapter: QA plot of {eb}.ms.tsys: Tsys vs frequency per antenna, one colour per spw and polarization."""

from almacal.qa.plot_tsys import qa_plot_tsys

qa_plot_tsys(
    tsys=snakemake.input.get("tsys"),
    metadata=snakemake.input.metadata,
    plot=snakemake.output.plot,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
