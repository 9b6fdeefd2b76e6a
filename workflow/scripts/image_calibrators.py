"""Snakemake adapter: the phase calibrator's and check sources' images of one EB."""

from almacal.imaging.calibrators import image_calibrators

image_calibrators(
    cal=snakemake.input.cal,
    eb_choices=snakemake.input.choices,
    settings=dict(snakemake.params.settings),
    images_dir=snakemake.output.images,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
