"""Snakemake adapter: phase SNR of the phase calibrator per spw and the spw map of the phase
solutions ({eb}.ms.split.spwphaseup.json)."""

from almacal.calibration.spwphaseup import spwphaseup

spwphaseup(
    vis=snakemake.input.vis,
    eb_choices=snakemake.input.choices,
    decision=snakemake.output.decision,
    settings=dict(snakemake.params.settings),
    solint=str(snakemake.params.solint),
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
