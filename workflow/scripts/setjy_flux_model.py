"""Snakemake adapter: Flux calibrator model on {eb}.ms.split: setjy manual flux density and spectral index, or the"""

from almacal.calibration.setjy_flux_model import setjy_flux_model

setjy_flux_model(
    vis=snakemake.input.vis,
    eb=snakemake.wildcards.eb,
    eb_choices=snakemake.input.choices,
    flux_file=snakemake.input.flux_file,
    model=snakemake.output.model,
    mous_ebs=list(snakemake.params.mous_ebs),
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
