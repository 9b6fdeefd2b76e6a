"""Snakemake adapter: the MOUS's target images of every EB; the rule's name says which
(image_continuum: a continuum image per target; image_cubes: a cube per target and spw)."""

from almacal.imaging.targets import image_continuum, image_cubes

IMAGES = {"image_continuum": image_continuum, "image_cubes": image_cubes}

IMAGES[snakemake.rule](
    mous=snakemake.wildcards.mous,
    summaries=list(snakemake.input.summaries),
    settings=dict(snakemake.params.settings),
    images_dir=snakemake.output.images,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
