rule flag_split:
    """Edge channels and split-stage user flags on {eb}.ms.split (from its as-split flags)."""
    input:
        vis=eb_path(".ms.split"),
        metadata=eb_path(".ms.metadata.json"),
        flag_files=flag_files("split"),
    output:
        summary=eb_path(".ms.split.flags_user.json"),
    log:
        **casa_logs("flag_split"),
    benchmark:
        "benchmarks/{mous}/{eb}/flag_split.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        edge_channel_fraction=config["calibration"]["edge_channel_fraction"],
        flux_line_channels=choice("flux_line_channels"),
        field_roles=choice("field_roles"),
        science_spws=choice("science_spws"),
    script:
        "../scripts/flag_split.py"


rule setjy_flux_model:
    """Flux calibrator model (setjy, manual flux density and spectral index from the flux file)."""
    input:
        vis=eb_path(".ms.split"),
        metadata=eb_path(".ms.metadata.json"),
        flags=eb_path(".ms.split.flags_user.json"),
        flux_file=lambda w: config["mous"][w.mous]["flux_file"],
    output:
        model=eb_path(".ms.split.setjy.json"),
    log:
        **casa_logs("setjy_flux_model"),
    benchmark:
        "benchmarks/{mous}/{eb}/setjy_flux_model.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        field_roles=choice("field_roles"),
        science_spws=choice("science_spws"),
    script:
        "../scripts/setjy_flux_model.py"


rule gaincal_ap_pre_bandpass:
    """Short-timescale phase solution on the bandpass calibrator, central channels."""
    input:
        **SPLIT_STATE,
    output:
        caltable=directory(eb_path(".ms.split.ap_pre_bandpass")),
    log:
        **casa_logs("gaincal_ap_pre_bandpass"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_ap_pre_bandpass.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        **solve_params("ap_pre_bandpass"),
        fields="bandpass",
        calmode="p",
        gaintype="G",
        science_spws=choice("science_spws"),
    script:
        "../scripts/gaincal_solve.py"


rule bandpass:
    """Bandpass per antenna and channel on the bandpass calibrator (solnorm, combine scans)."""
    input:
        **SPLIT_STATE,
        gaintables=[eb_path(".ms.split.ap_pre_bandpass")],
    output:
        caltable=directory(eb_path(".ms.split.bandpass")),
    log:
        **casa_logs("bandpass"),
    benchmark:
        "benchmarks/{mous}/{eb}/bandpass.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        **solve_params("bandpass"),
    script:
        "../scripts/bandpass_solve.py"


rule gaincal_phase_int:
    """Per-integration phases of all calibrators (applied to bandpass/flux calibrators)."""
    input:
        **SPLIT_STATE,
        gaintables=[eb_path(".ms.split.bandpass")],
    output:
        caltable=directory(eb_path(".ms.split.phase_int")),
    log:
        **casa_logs("gaincal_phase_int"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_phase_int.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        **solve_params("phase_int"),
        fields="calibrators",
        calmode="p",
        gaintype="G",
    script:
        "../scripts/gaincal_solve.py"


rule gaincal_phase_inf:
    """Per-scan phases of all calibrators (transferred to the target)."""
    input:
        **SPLIT_STATE,
        gaintables=[eb_path(".ms.split.bandpass")],
    output:
        caltable=directory(eb_path(".ms.split.phase_inf")),
    log:
        **casa_logs("gaincal_phase_inf"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_phase_inf.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        **solve_params("phase_inf"),
        fields="calibrators",
        calmode="p",
        gaintype="G",
    script:
        "../scripts/gaincal_solve.py"


rule gaincal_ampli_inf:
    """Per-scan amplitudes of all calibrators, after bandpass and phase_int."""
    input:
        **SPLIT_STATE,
        gaintables=[eb_path(".ms.split.bandpass"), eb_path(".ms.split.phase_int")],
    output:
        caltable=directory(eb_path(".ms.split.ampli_inf")),
    log:
        **casa_logs("gaincal_ampli_inf"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_ampli_inf.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        **solve_params("ampli_inf"),
        fields="calibrators",
        calmode="a",
        gaintype=config["calibration"]["ampli_inf"].get("gaintype", "G"),
    script:
        "../scripts/gaincal_solve.py"


rule fluxscale:
    """Flux scale bootstrapped from the flux calibrator: {eb}.ms.split.flux_inf and fitted fluxes."""
    input:
        **SPLIT_STATE,
        ampli_inf=eb_path(".ms.split.ampli_inf"),
    output:
        caltable=directory(eb_path(".ms.split.flux_inf")),
        fluxes=eb_path(".ms.split.fluxscale.json"),
    log:
        **casa_logs("fluxscale"),
    benchmark:
        "benchmarks/{mous}/{eb}/fluxscale.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        field_roles=choice("field_roles"),
    script:
        "../scripts/fluxscale_bootstrap.py"


checkpoint renorm_factors:
    """Amplitude renormalisation factors of the targets from the autocorrelations; the decision."""
    input:
        # only the autocorrelations are read; the split state orders it after the last writer of
        # {eb}.ms.split before the solves (setjy), beside the other readers
        **SPLIT_STATE,
    output:
        factors=eb_path(".ms.split.renorm.json"),
        spectra=eb_path(".ms.split.renorm.npz"),
    log:
        **casa_logs("renorm_factors"),
    benchmark:
        "benchmarks/{mous}/{eb}/renorm_factors.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    params:
        field_roles=choice("field_roles"),
        science_spws=choice("science_spws"),
        edge_channel_fraction=config["calibration"]["edge_channel_fraction"],
        settings=choice("renormalization"),
    script:
        "../scripts/renorm_factors.py"


rule renorm_table:
    """The renormalisation caltable {eb}.ms.split.renorm.tbl (only when renorm_factors decides so)."""
    input:
        **SPLIT_STATE,
        factors=eb_path(".ms.split.renorm.json"),
        spectra=eb_path(".ms.split.renorm.npz"),
    output:
        caltable=directory(eb_path(".ms.split.renorm.tbl")),
    log:
        **casa_logs("renorm_table"),
    benchmark:
        "benchmarks/{mous}/{eb}/renorm_table.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=casa_mem_mb,
        runtime=casa_runtime,
    script:
        "../scripts/renorm_table.py"
