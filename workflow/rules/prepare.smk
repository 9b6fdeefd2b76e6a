rule tsysflag:
    """Automatic Tsys flags (hifa_tsysflag's tests on the SYSCAL spectra) as a flag file."""
    input:
        ms=eb_path(".ms"),
        metadata=eb_path(".ms.metadata.json"),
        apriori=eb_path(".ms.flags_apriori.json"),  # (after flag_apriori's writes to the MS)
    output:
        flags=eb_path(".ms.tsysflag.flags.txt"),
        summary=eb_path(".ms.tsysflag.json"),
    log:
        **casa_logs("tsysflag"),
    benchmark:
        "benchmarks/{mous}/{eb}/tsysflag.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("tsysflag"),
        runtime=job_runtime("tsysflag"),
    params:
        settings=choice("tsysflag"),
        atmosphere=choice("renormalization"),  # its ATM site model: atmospheric lines
    script:
        "../scripts/tsysflag.py"


rule gencal_tsys:
    """Tsys caltable {eb}.ms.tsys from the SYSCAL table, and the TDM->FDM spw map; the automatic
    Tsys flags, then the reducer's Tsys flag files, applied to it."""
    input:
        ms=eb_path(".ms"),
        choices=eb_path(".ms.choices.json"),
        apriori=eb_path(".ms.flags_apriori.json"),
        auto_flags=eb_path(".ms.tsysflag.flags.txt"),
        flag_files=flag_files("tsys"),
    output:
        tsys=directory(eb_path(".ms.tsys")),
        spwmap=eb_path(".ms.tsys.spwmap.json"),
    log:
        **casa_logs("gencal_tsys"),
    benchmark:
        "benchmarks/{mous}/{eb}/gencal_tsys.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("gencal_tsys"),
        runtime=job_runtime("gencal_tsys"),
    params:
        tsys_spwmap=choice("tsys_spwmap"),  # only to record that the map came from config
    script:
        "../scripts/gencal_tsys.py"


rule gencal_antpos:
    """Antenna-position caltable {eb}.ms.antpos from the position-service JSON."""
    input:
        ms=eb_path(".ms"),
        metadata=eb_path(".ms.metadata.json"),
        apriori=eb_path(".ms.flags_apriori.json"),
        positions=lambda w: eb_entry(w)["antenna_positions"],
    output:
        antpos=directory(eb_path(".ms.antpos")),
    log:
        **casa_logs("gencal_antpos"),
    benchmark:
        "benchmarks/{mous}/{eb}/gencal_antpos.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("gencal_antpos"),
        runtime=job_runtime("gencal_antpos"),
    script:
        "../scripts/gencal_antpos.py"


rule wvrgcal:
    """WVR phase correction {eb}.ms.wvrgcal from the 183 GHz radiometers (12 m EBs only)."""
    input:
        ms=eb_path(".ms"),
        choices=eb_path(".ms.choices.json"),
        apriori=eb_path(".ms.flags_apriori.json"),
    output:
        caltable=directory(eb_path(".ms.wvrgcal")),
        stats=eb_path(".ms.wvrgcal.json"),
    log:
        **casa_logs("wvrgcal"),
    benchmark:
        "benchmarks/{mous}/{eb}/wvrgcal.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("wvrgcal"),
        runtime=job_runtime("wvrgcal"),
    params:
        wvr=choice("wvr"),
    script:
        "../scripts/wvrgcal_table.py"


rule split_eb:
    """Raw-stage user flags, applycal of Tsys and antenna positions, split of the science spws."""
    input:
        unpack(tsys_inputs),
        unpack(wvr_inputs),
        ms=eb_path(".ms"),
        metadata=eb_path(".ms.metadata.json"),
        apriori=eb_path(".ms.flags_apriori.json"),
        choices=eb_path(".ms.choices.json"),
        antpos=antpos_table,
        flag_files=flag_files("raw"),
    output:
        split=directory(eb_path(".ms.split")),
        summary=eb_path(".ms.split.split.json"),
    log:
        **casa_logs("split_eb"),
    benchmark:
        "benchmarks/{mous}/{eb}/split_eb.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("split_eb"),
        runtime=job_runtime("split_eb"),
    script:
        "../scripts/split_eb.py"
