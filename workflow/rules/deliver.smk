# The delivery: per EB a standalone calibration script made from the CASA calls its jobs made,
# per MOUS the package in ALMA's layout (calibration/, script/, qa/, product/, log/, README).

# What goes into the package's product/ folder, as paths with {mous}: the FITS images (.pbcor.fits
# and .pb.fits) of the MOUS's target images (workflow/rules/image.smk), as ALMA delivers them.
PACKAGE_PRODUCTS = ["results/{mous}/images/continuum", "results/{mous}/images/cubes"]


# The script reads small text records and copies small files: on a cluster, the submitting node.
localrules:
    calibration_script,


rule calibration_script:
    """Standalone results/{mous}/{eb}/script/{eb}.ms.scriptForCalibration.py (mysteps, raw ASDM
    to {eb}.ms.split.cal with casatasks alone) from the CASA calls the EB's jobs recorded, and
    the files it reads (antenna positions, the renormalisation table)."""
    input:
        cal=eb_path(".ms.split.cal.json"),  # every job of the EB has run (and recorded)
        fluxscale=eb_path(".ms.split.fluxscale.json"),
        renorm=renorm_table_if_needed,
        positions=lambda w: eb_entry(w).get("antenna_positions", []),
    output:
        script=directory("results/{mous}/{eb}/script"),
    log:
        "logs/{mous}/{eb}/calibration_script.log",
    conda:
        "../../envs/casa.yaml"
    params:
        steps=eb_steps,
        logs="logs/{mous}/{eb}",
        results=lambda w, input: str(Path(input.cal).parent),
        raw=raw_input,
        raw_dir=config["delivery"]["raw_dir"],
    script:
        "../scripts/calibration_script.py"


rule delivery_package:
    """The MOUS's delivery package results/{mous}/member.{mous}/ in ALMA's layout: calibration/
    (caltables, flag versions, calapply files, flag files, flux.csv), script/, qa/, product/,
    log/, README filled from the run."""
    input:
        unpack(mous_package_inputs),
        qa="results/{mous}/qa",
        summary="results/{mous}/{mous}.calibration_summary.json",
        commands="results/{mous}/{mous}.casa_commands.log",
        flux_file=lambda w: config["mous"][w.mous]["flux_file"],
        products=lambda w: expand(PACKAGE_PRODUCTS, mous=w.mous),
    output:
        package=directory("results/{mous}/member.{mous}"),
    log:
        "logs/{mous}/delivery_package.log",
    benchmark:
        "benchmarks/{mous}/delivery_package.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        # tars of the flag versions and tables: grows with the MOUS's raw data
        runtime=lambda w: int(
            10 + sum(raw_size_mb(raw_of_eb()[eb]) for eb in mous_ebs(w.mous)) / 100
        ),
    params:
        ebs=lambda w: mous_ebs(w.mous),
        user_flag_files=lambda w: {
            eb: eb_user_flag_files(SimpleNamespace(mous=w.mous, eb=eb))
            for eb in mous_ebs(w.mous)
        },
    script:
        "../scripts/delivery_package.py"
