"""Snakemake adapter: calibrator outliers after calibration (hifa_bandpassflag) as a flag file."""

from almacal.calibration.correctedampflag import correctedampflag

correctedampflag(
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
