# The delivery: per EB a standalone calibration script made from the CASA calls its jobs made,
# per MOUS the package in ALMA's layout (calibration/, script/, qa/, product/, log/, README).

# What goes into the package's product/ folder: the MOUS's images, as paths with {mous}. None
# yet: imaging is not part of this workflow (add the image products here, one line each).
PACKAGE_PRODUCTS = []


# The script reads small text records and copies small files: on a cluster, the submitting node.
localrules:
    calibration_script,


def eb_steps(wildcards):
    """The jobs of PROCESSING_ORDER that run for this EB (its raw data and config)."""
    skipped = set()
    if not has_syscal(wildcards):
        skipped |= {"tsysflag", "gencal_tsys"}
    if not has_antenna_positions(wildcards):
        skipped.add("gencal_antpos")
    if not has_wvr(wildcards):
        skipped.add("wvrgcal")
    return [step for step in PROCESSING_ORDER if step not in skipped]


def eb_user_flag_files(wildcards):
    """The reducer's flag files an EB's jobs applied, every stage."""
    return [f for stage in user_flags.STAGES for f in flag_files(stage)(wildcards)]


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
        results="results/{mous}/{eb}",
        raw=raw_input,
        raw_dir=config["delivery"]["raw_dir"],
    script:
        "../scripts/calibration_script.py"


def mous_package_inputs(wildcards):
    """Every EB's products the package archives (named so that Snakemake orders the jobs)."""
    ebs = mous_ebs(wildcards.mous)
    inputs = {
        "scripts": expand("results/{mous}/{eb}/script", mous=wildcards.mous, eb=ebs),
        "cal": expand(eb_path(".ms.split.cal.json"), mous=wildcards.mous, eb=ebs),
        "flag_files": [],
    }
    for eb in ebs:
        w = SimpleNamespace(mous=wildcards.mous, eb=eb)
        inputs["flag_files"] += eb_user_flag_files(w)
        inputs["flag_files"] += expand(
            eb_path(".ms.split.{heuristic}.flags.txt"),
            mous=wildcards.mous,
            eb=eb,
            heuristic=["lowgainflag", "correctedampflag"],
        )
        inputs["flag_files"] += expand(
            list(tsysflag_inputs(w).values()), mous=wildcards.mous, eb=eb
        )
    return inputs


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
