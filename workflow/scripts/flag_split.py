"""Snakemake adapter: Edge channels, the automatic low-gain flags and split-stage user flags on {eb}.ms.split, from its as-split flag version."""

from almacal.calibration.flag_split import flag_split

flag_split(
    eb=snakemake.wildcards.eb,
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    automatic_flag_files=[snakemake.input.auto_flags, snakemake.input.outlier_flags],
    flag_files=list(snakemake.input.flag_files),
    summary=snakemake.output.summary,
    edge_channel_fraction=snakemake.params.edge_channel_fraction,
    flux_line_channels=snakemake.params.flux_line_channels,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
