"""Snakemake adapter: the imaging data of one EB (<eb>_targets.ms with statwt weights, <eb>_targets_line.ms continuum-subtracted)."""

from almacal.imaging.targets_ms import targets_ms

targets_ms(
    cal=snakemake.input.cal,
    eb_choices=snakemake.input.choices,
    continuum_channels=snakemake.params.continuum_channels,
    detection_sigma=snakemake.params.detection_sigma,
    targets=snakemake.params.targets,
    line=snakemake.params.line,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
