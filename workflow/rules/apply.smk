rule applycal_split_cal:
    """Final applycal by field role and split of the calibrated data to {eb}.ms.split.cal."""
    input:
        **SPLIT_STATE,
        bandpass=SPLIT + ".bandpass",
        phase_int=SPLIT + ".phase_int",
        phase_inf=SPLIT + ".phase_inf",
        flux_inf=SPLIT + ".flux_inf",
    output:
        cal=directory(SPLIT + ".cal"),
        summary=SPLIT + ".cal.json",
    params:
        field_roles=choice("field_roles"),
    log:
        **casa_logs("applycal_split_cal"),
    benchmark:
        "benchmarks/{mous}/{eb}/applycal_split_cal.tsv"
    script:
        "../scripts/applycal_split_cal.py"
