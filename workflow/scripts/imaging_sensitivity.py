"""Snakemake adapter: the sensitivity check of an MOUS's images and the QA2 verdict."""

from almacal.imaging.sensitivity import imaging_sensitivity

imaging_sensitivity(
    mous=snakemake.wildcards.mous,
    continuum=snakemake.input.continuum,
    cubes=snakemake.input.cubes,
    calibrators=list(snakemake.input.calibrators),
    request=snakemake.params.request,
    dynamic_range_limit=snakemake.params.dynamic_range_limit,
    output=snakemake.output.sensitivity,
    log=snakemake.log[0],
)
