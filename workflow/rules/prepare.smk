rule gencal_tsys:
    """Tsys caltable {eb}.ms.tsys from the SYSCAL table, and the TDM->FDM spw map."""
    input:
        ms=MS,
        metadata=MS + ".metadata.json",
        apriori=MS + ".flags_apriori.json",
    output:
        tsys=directory(MS + ".tsys"),
        spwmap=MS + ".tsys.spwmap.json",
    params:
        science_spws=choice("science_spws"),
        tsys_spwmap=choice("tsys_spwmap"),
    log:
        **casa_logs("gencal_tsys"),
    benchmark:
        "benchmarks/{mous}/{eb}/gencal_tsys.tsv"
    script:
        "../scripts/gencal_tsys.py"


rule gencal_antpos:
    """Antenna-position caltable {eb}.ms.antpos from the position-service JSON."""
    input:
        ms=MS,
        apriori=MS + ".flags_apriori.json",
        positions=lambda w: eb_entry(w)["antenna_positions"],
    output:
        antpos=directory(MS + ".antpos"),
    log:
        **casa_logs("gencal_antpos"),
    benchmark:
        "benchmarks/{mous}/{eb}/gencal_antpos.tsv"
    script:
        "../scripts/gencal_antpos.py"


rule split_eb:
    """Raw-stage user flags, applycal of Tsys and antenna positions, split of the science spws."""
    input:
        unpack(tsys_inputs),
        ms=MS,
        metadata=MS + ".metadata.json",
        apriori=MS + ".flags_apriori.json",
        antpos=antpos_table,
        flag_files=flag_files("raw"),
    output:
        split=directory(SPLIT),
        summary=SPLIT + ".split.json",
    params:
        field_roles=choice("field_roles"),
        science_spws=choice("science_spws"),
    log:
        **casa_logs("split_eb"),
    benchmark:
        "benchmarks/{mous}/{eb}/split_eb.tsv"
    script:
        "../scripts/split_eb.py"
