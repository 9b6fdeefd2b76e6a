"""Snakemake adapter: Gather the recorded CASA task calls of every job of an MOUS into one file."""

from almacal.qa.casa_commands import collect_casa_commands

collect_casa_commands(
    ebs=list(snakemake.params.ebs),
    steps=list(snakemake.params.steps),
    mous_steps=list(snakemake.params.mous_steps),
    logs=snakemake.params.logs,
    commands=snakemake.output.commands,
)
