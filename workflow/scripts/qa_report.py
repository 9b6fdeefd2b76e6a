"""Snakemake adapter: The MOUS QA report: a self-contained folder results/<mous>/qa/ with index.html."""

from almacal.qa.report import qa_report

qa_report(
    mous=snakemake.wildcards.mous,
    ebs=list(snakemake.params.ebs),
    summaries=list(snakemake.input.summaries),
    plots=list(snakemake.input.plots),
    corrections=list(snakemake.input.corrections),
    report=snakemake.output.report,
    log=snakemake.log[0],
    imaging={
        "sensitivity": snakemake.input.sensitivity,
        "continuum": snakemake.input.continuum,
        "cubes": snakemake.input.cubes,
        "calibrators": list(snakemake.input.calibrator_images),
        "image_dirs": list(snakemake.input.image_dirs),
    },
)
