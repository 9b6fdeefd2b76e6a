rule mous_summary:
    """MOUS-level summary: per EB flags, fluxscale fluxes; phase calibrator flux across EBs."""
    input:
        fluxes=lambda w: expand(SPLIT + ".fluxscale.json", mous=w.mous, eb=mous_ebs(w.mous)),
        split=lambda w: expand(SPLIT + ".split.json", mous=w.mous, eb=mous_ebs(w.mous)),
        flags=lambda w: expand(SPLIT + ".flags_user.json", mous=w.mous, eb=mous_ebs(w.mous)),
        cal=lambda w: expand(SPLIT + ".cal.json", mous=w.mous, eb=mous_ebs(w.mous)),
    output:
        summary="results/{mous}/{mous}.calibration_summary.json",
    params:
        ebs=lambda w: mous_ebs(w.mous),
    log:
        "logs/{mous}/mous_summary.log",
    script:
        "../scripts/mous_summary.py"


rule casa_commands:
    """Every CASA task call of the MOUS, per EB in processing order (like casa_commands.log)."""
    input:
        cal=lambda w: expand(SPLIT + ".cal.json", mous=w.mous, eb=mous_ebs(w.mous)),
    output:
        commands="results/{mous}/{mous}.casa_commands.log",
    params:
        ebs=lambda w: mous_ebs(w.mous),
        steps=PROCESSING_ORDER,
        logs="logs/{mous}",
    log:
        "logs/{mous}/casa_commands.log",
    script:
        "../scripts/collect_casa_commands.py"
