"""Snakemake adapter: the delivery package of an MOUS in ALMA's layout."""

from importlib.metadata import version

from almacal.delivery.package import EBFiles, delivery_package

mous = snakemake.wildcards.mous
delivery_package(
    mous=mous,
    ebs=[
        EBFiles(
            eb=eb,
            results=f"results/{mous}/{eb}",
            logs=f"logs/{mous}/{eb}",
            script=f"results/{mous}/{eb}/script",
            user_flag_files=tuple(snakemake.params.user_flag_files[eb]),
        )
        for eb in snakemake.params.ebs
    ],
    qa_report=snakemake.input.qa,
    calibration_summary=snakemake.input.summary,
    casa_commands=snakemake.input.commands,
    flux_file=snakemake.input.flux_file,
    products=list(snakemake.input.products),
    casa_version=version("casatasks"),
    package=snakemake.output.package,
)
