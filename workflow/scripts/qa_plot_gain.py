"""Snakemake adapter: QA plot of a gaincal table (phase_int, phase_inf, flux_inf) vs time per antenna."""

from almacal.qa.plot_gain import qa_plot_gain

qa_plot_gain(
    caltable=snakemake.input.caltable,
    metadata=snakemake.input.metadata,
    plot=snakemake.output.plot,
    quantity=snakemake.params.quantity,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
