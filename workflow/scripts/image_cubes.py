"""Snakemake adapter: the cubes of every target and cube spw of an MOUS."""

from almacal.imaging.targets import image_cubes

image_cubes(
    mous=snakemake.wildcards.mous,
    line_ms=list(snakemake.input.line),
    summaries=list(snakemake.input.summaries),
    settings=dict(snakemake.params.settings),
    images_dir=snakemake.output.images,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
