rule import_eb:
    """Raw ASDM (importasdm) or existing MS (copied) -> {eb}.ms, listobs and metadata JSON."""
    input:
        raw=raw_input,
    output:
        ms=directory(eb_path(".ms")),
        listobs=eb_path(".ms.listobs.txt"),
        metadata=eb_path(".ms.metadata.json"),
    log:
        **casa_logs("import_eb"),
    benchmark:
        "benchmarks/{mous}/{eb}/import_eb.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("import_eb"),
        runtime=job_runtime("import_eb"),
    script:
        "../scripts/import_eb.py"


rule flag_apriori:
    """A-priori flags on {eb}.ms: online flags, shadowing, autocorrelations, non-science intents."""
    input:
        ms=eb_path(".ms"),
        metadata=eb_path(".ms.metadata.json"),
    output:
        summary=eb_path(".ms.flags_apriori.json"),
    log:
        **casa_logs("flag_apriori"),
    benchmark:
        "benchmarks/{mous}/{eb}/flag_apriori.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("flag_apriori"),
        runtime=job_runtime("flag_apriori"),
    script:
        "../scripts/flag_apriori.py"


rule eb_choices:
    """Every choice derived from the data (roles, spws, Tsys fields, refants): {eb}.ms.choices.json."""
    input:
        metadata=eb_path(".ms.metadata.json"),
        apriori=eb_path(".ms.flags_apriori.json"),
    output:
        choices=eb_path(".ms.choices.json"),
    log:
        "logs/{mous}/{eb}/eb_choices.log",
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=5,
    params:
        field_roles=choice("field_roles"),
        science_spws=choice("science_spws"),
        refant=choice("refant"),
        tsys_field_map=choice("tsys_field_map"),
        tsys_spwmap=choice("tsys_spwmap"),
    script:
        "../scripts/eb_choices.py"
