rule applycal_split_cal:
    """Final applycal by field role and split of the calibrated data to {eb}.ms.split.cal."""
    input:
        **SPLIT_STATE,
        **{s.name: eb_path(s.suffix) for s in SOLVES if s.applied_to},
        choices=eb_path(".ms.choices.json"),
        spwphaseup=eb_path(".ms.split.spwphaseup.json"),
        renorm_decision=eb_path(".ms.split.renorm.json"),
        renorm=renorm_table_if_needed,
    output:
        cal=directory(eb_path(".ms.split.cal")),
        summary=eb_path(".ms.split.cal.json"),
    log:
        **casa_logs("applycal_split_cal"),
    benchmark:
        "benchmarks/{mous}/{eb}/applycal_split_cal.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("applycal_split_cal"),
        runtime=job_runtime("applycal_split_cal"),
    script:
        "../scripts/applycal_split_cal.py"
