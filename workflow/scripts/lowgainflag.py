"""Snakemake adapter: automatic low-gain flags (hif_lowgainflag) as the flag file of an EB."""

from almacal.calibration.lowgainflag import lowgainflag

lowgainflag(
    eb=snakemake.wildcards.eb,
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    settings=dict(snakemake.params.settings),
    edge_channel_fraction=snakemake.params.edge_channel_fraction,
    flags=snakemake.output.flags,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
