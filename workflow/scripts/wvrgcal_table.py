"""Snakemake adapter: WVR phase correction {eb}.ms.wvrgcal (wvrgcal) and its per-antenna statistics as JSON."""

from almacal.calibration.wvrgcal_table import wvrgcal_table

wvrgcal_table(
    ms=snakemake.input.ms,
    eb_choices=snakemake.input.choices,
    caltable=snakemake.output.caltable,
    stats=snakemake.output.stats,
    wvr=dict(snakemake.params.wvr),
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
