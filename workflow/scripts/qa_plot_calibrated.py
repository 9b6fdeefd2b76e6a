"""Snakemake adapter: QA plots of the calibrators before and after calibration ({eb}.ms.split vs {eb}.ms.split.cal)."""

from almacal.qa.plot_calibrated import qa_plot_calibrated

qa_plot_calibrated(
    split=snakemake.input.split,
    cal=snakemake.input.cal,
    eb_choices=snakemake.input.choices,
    uvdist=snakemake.output.uvdist,
    time=snakemake.output.time,
    frequency=snakemake.output.frequency,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
