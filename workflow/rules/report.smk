# MOUS summaries and the QA report read small files: on a cluster they run on the submitting node.
localrules:
    mous_summary,
    casa_commands,
    qa_report,
    imaging_sensitivity,


rule mous_summary:
    """MOUS-level summary: per EB flags, fluxscale fluxes; phase calibrator flux across EBs."""
    input:
        fluxes=lambda w: expand(
            eb_path(".ms.split.fluxscale.json"), mous=w.mous, eb=mous_ebs(w.mous)
        ),
        split=lambda w: expand(
            eb_path(".ms.split.split.json"), mous=w.mous, eb=mous_ebs(w.mous)
        ),
        flags=lambda w: expand(
            eb_path(".ms.split.flags_user.json"), mous=w.mous, eb=mous_ebs(w.mous)
        ),
        cal=lambda w: expand(
            eb_path(".ms.split.cal.json"), mous=w.mous, eb=mous_ebs(w.mous)
        ),
    output:
        summary="results/{mous}/{mous}.calibration_summary.json",
    log:
        "logs/{mous}/mous_summary.log",
    conda:
        "../../envs/casa.yaml"
    params:
        ebs=lambda w: mous_ebs(w.mous),
    script:
        "../scripts/mous_summary.py"


rule casa_commands:
    """Every CASA task call of the MOUS, per EB in processing order (like casa_commands.log)."""
    input:
        cal=lambda w: expand(
            eb_path(".ms.split.cal.json"), mous=w.mous, eb=mous_ebs(w.mous)
        ),
        # the imaging jobs' calls too (rules in image.smk)
        targets=lambda w: expand(
            "results/{mous}/{eb}/{eb}_targets.ms.json",
            mous=w.mous,
            eb=mous_ebs(w.mous),
        ),
        calibrator_images=lambda w: expand(
            "results/{mous}/{eb}/{eb}.calibrator_images.json",
            mous=w.mous,
            eb=mous_ebs(w.mous),
        ),
        images=[
            "results/{mous}/{mous}.continuum_images.json",
            "results/{mous}/{mous}.cube_images.json",
        ],
    output:
        commands="results/{mous}/{mous}.casa_commands.log",
    log:
        "logs/{mous}/casa_commands.log",
    conda:
        "../../envs/casa.yaml"
    params:
        ebs=lambda w: mous_ebs(w.mous),
        steps=PROCESSING_ORDER,
        mous_steps=MOUS_PROCESSING_ORDER,
        logs="logs/{mous}",
    script:
        "../scripts/collect_casa_commands.py"
