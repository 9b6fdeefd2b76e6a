rule import_eb:
    """Raw ASDM (importasdm) or existing MS (copied) -> {eb}.ms, listobs and metadata JSON."""
    input:
        raw=raw_input,
    output:
        ms=directory(MS),
        listobs=MS + ".listobs.txt",
        metadata=MS + ".metadata.json",
    log:
        **casa_logs("import_eb"),
    benchmark:
        "benchmarks/{mous}/{eb}/import_eb.tsv"
    script:
        "../scripts/import_eb.py"


rule flag_apriori:
    """A-priori flags on {eb}.ms: online flags, shadowing, autocorrelations, non-science intents."""
    input:
        ms=MS,
        metadata=MS + ".metadata.json",
    output:
        summary=MS + ".flags_apriori.json",
    log:
        **casa_logs("flag_apriori"),
    benchmark:
        "benchmarks/{mous}/{eb}/flag_apriori.tsv"
    script:
        "../scripts/flag_apriori.py"
