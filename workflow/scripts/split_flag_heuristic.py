"""Snakemake adapter: an automatic flag heuristic on {eb}.ms.split as the flag file of an EB; the
rule's name says which (lowgainflag: hif_lowgainflag; correctedampflag: hifa_bandpassflag)."""

from almacal.calibration.correctedampflag import correctedampflag
from almacal.calibration.lowgainflag import lowgainflag

HEURISTICS = {"lowgainflag": lowgainflag, "correctedampflag": correctedampflag}

HEURISTICS[snakemake.rule](
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
