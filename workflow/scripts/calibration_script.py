"""Snakemake adapter: the standalone <eb>.ms.scriptForCalibration.py of one EB."""

from almacal.delivery.calibration_script import eb_calibration_script

eb_calibration_script(
    mous=snakemake.wildcards.mous,
    eb=snakemake.wildcards.eb,
    steps=list(snakemake.params.steps),
    logs=snakemake.params.logs,
    results=snakemake.params.results,
    raw=snakemake.params.raw,
    antenna_positions=snakemake.input.positions or None,
    renorm_table=snakemake.input.renorm[0] if snakemake.input.renorm else None,
    fluxscale=snakemake.input.fluxscale,
    raw_dir=snakemake.params.raw_dir,
    out_dir=snakemake.output.script,
)
