"""Snakemake adapter: the continuum image of every target of an MOUS."""

from almacal.imaging.targets import image_continuum

image_continuum(
    mous=snakemake.wildcards.mous,
    targets_ms=list(snakemake.input.targets),
    summaries=list(snakemake.input.summaries),
    settings=dict(snakemake.params.settings),
    images_dir=snakemake.output.images,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
