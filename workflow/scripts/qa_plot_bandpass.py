"""Snakemake adapter: QA plots of {eb}.ms.split.bandpass: amplitude and phase vs channel per antenna."""

from almacal.qa.plot_bandpass import qa_plot_bandpass

qa_plot_bandpass(
    bandpass=snakemake.input.bandpass,
    metadata=snakemake.input.metadata,
    amplitude=snakemake.output.amplitude,
    phase=snakemake.output.phase,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
