"""Snakemake adapter: QA plot of an EB's WVR and renormalisation corrections, from {eb}.corrections.json."""

from almacal.qa.plot_corrections import qa_plot_corrections

qa_plot_corrections(
    corrections=snakemake.input.corrections,
    renorm_spectra=snakemake.input.renorm_spectra,
    plot=snakemake.output.plot,
    log=snakemake.log[0],
)
