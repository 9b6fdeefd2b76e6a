"""Snakemake adapter: QA plots of the solve tables of one EB (bandpass vs channel, gains vs time)."""

from almacal.qa.plot_solves import qa_plot_solves

qa_plot_solves(
    tables={name: path for name, path in snakemake.input.items() if name != "metadata"},
    plots=dict(snakemake.output.items()),
    metadata=snakemake.input.metadata,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
