rule lowgainflag:
    """Automatic low-gain flags (hif_lowgainflag: temporary solves on the bandpass calibrator of
    {eb}.ms.split as split, amplitude gains outside limits x their median) as a flag file.
    """
    input:
        vis=eb_path(".ms.split"),
        split_summary=eb_path(".ms.split.split.json"),
        choices=eb_path(".ms.choices.json"),
    output:
        flags=eb_path(".ms.split.lowgainflag.flags.txt"),
        summary=eb_path(".ms.split.lowgainflag.json"),
    log:
        **casa_logs("lowgainflag"),
    benchmark:
        "benchmarks/{mous}/{eb}/lowgainflag.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("lowgainflag"),
        runtime=job_runtime("lowgainflag"),
    params:
        settings=choice("lowgainflag"),
        edge_channel_fraction=config["calibration"]["edge_channel_fraction"],
    script:
        "../scripts/split_flag_heuristic.py"


rule correctedampflag:
    """Calibrator outliers after calibration (hifa_bandpassflag: temporary solves and applycal on
    the bandpass calibrator of {eb}.ms.split as split, outliers of the corrected amplitudes) as a
    flag file.
    """
    input:
        vis=eb_path(".ms.split"),
        split_summary=eb_path(".ms.split.split.json"),
        choices=eb_path(".ms.choices.json"),
    output:
        flags=eb_path(".ms.split.correctedampflag.flags.txt"),
        summary=eb_path(".ms.split.correctedampflag.json"),
    log:
        **casa_logs("correctedampflag"),
    benchmark:
        "benchmarks/{mous}/{eb}/correctedampflag.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("correctedampflag"),
        runtime=job_runtime("correctedampflag"),
    params:
        settings=choice("correctedampflag"),
        edge_channel_fraction=config["calibration"]["edge_channel_fraction"],
    script:
        "../scripts/split_flag_heuristic.py"


rule flag_split:
    """Edge channels, the automatic low-gain and calibrator-outlier flags and split-stage user
    flags on {eb}.ms.split (from its as-split flags)."""
    input:
        vis=eb_path(".ms.split"),
        choices=eb_path(".ms.choices.json"),
        auto_flags=eb_path(".ms.split.lowgainflag.flags.txt"),
        outlier_flags=eb_path(".ms.split.correctedampflag.flags.txt"),
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
        mem_mb=job_mem_mb("flag_split"),
        runtime=job_runtime("flag_split"),
    params:
        edge_channel_fraction=config["calibration"]["edge_channel_fraction"],
        flux_line_channels=choice("flux_line_channels"),
    script:
        "../scripts/flag_split.py"


rule setjy_flux_model:
    """Flux calibrator model (setjy, manual flux density and spectral index from the flux file)."""
    input:
        vis=eb_path(".ms.split"),
        choices=eb_path(".ms.choices.json"),
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
        mem_mb=job_mem_mb("setjy_flux_model"),
        runtime=job_runtime("setjy_flux_model"),
    params:
        mous_ebs=lambda w: mous_ebs(w.mous),
    script:
        "../scripts/setjy_flux_model.py"


rule spwphaseup:
    """Phase SNR of the phase calibrator per spw and the spw map of the phase solutions."""
    input:
        **SPLIT_STATE,
        choices=eb_path(".ms.choices.json"),
    output:
        decision=eb_path(".ms.split.spwphaseup.json"),
    log:
        **casa_logs("spwphaseup"),
    benchmark:
        "benchmarks/{mous}/{eb}/spwphaseup.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("spwphaseup"),
        runtime=job_runtime("spwphaseup"),
    params:
        settings=config["calibration"]["spwphaseup"],
        solint=config["calibration"]["phase_inf"]["solint"],
    script:
        "../scripts/spwphaseup.py"


# The gaincal and bandpass tables of the solve table (workflow/lib/almacal/solves.py), one rule
# each, named by the table: gaincal_ap_pre_bandpass, bandpass, gaincal_phase_int, ...
for solve in SOLVES:
    if solve.task not in ("gaincal", "bandpass"):
        continue

    rule:
        name:
            solve.rule
        input:
            **SPLIT_STATE,
            choices=eb_path(".ms.choices.json"),
            gaintables=[eb_path(SOLVE_TABLE[t].suffix) for t in solve.on_top_of],
            # the spw map of the tables it applies that take one (solves.Solve.spwmap)
            spwphaseup=(
                [eb_path(".ms.split.spwphaseup.json")]
                if any(SOLVE_TABLE[t].spwmap for t in solve.on_top_of)
                else []
            ),
        output:
            caltable=directory(eb_path(solve.suffix)),
        log:
            **casa_logs(solve.rule),
        benchmark:
            f"benchmarks/{{mous}}/{{eb}}/{solve.rule}.tsv"
        conda:
            "../../envs/casa.yaml"
        threads: 1
        resources:
            mem_mb=job_mem_mb(solve.rule),
            runtime=job_runtime(solve.rule),
        params:
            solve=solve.name,
            settings=config["calibration"][solve.settings],
            minsnr=config["calibration"]["minsnr"],
        script:
            "../scripts/solve.py"


rule fluxscale:
    """Flux scale bootstrapped from the flux calibrator: {eb}.ms.split.flux_inf and fitted fluxes."""
    input:
        **SPLIT_STATE,
        choices=eb_path(".ms.choices.json"),
        ampli_inf=eb_path(SOLVE_TABLE["ampli_inf"].suffix),
    output:
        caltable=directory(eb_path(SOLVE_TABLE["flux_inf"].suffix)),
        fluxes=eb_path(".ms.split.fluxscale.json"),
    log:
        **casa_logs("fluxscale"),
    benchmark:
        "benchmarks/{mous}/{eb}/fluxscale.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("fluxscale"),
        runtime=job_runtime("fluxscale"),
    script:
        "../scripts/fluxscale_bootstrap.py"


checkpoint renorm_factors:
    """Amplitude renormalisation factors of the targets from the autocorrelations; the decision."""
    input:
        # only the autocorrelations are read; the split state orders it after the last writer of
        # {eb}.ms.split before the solves (setjy), beside the other readers
        **SPLIT_STATE,
        choices=eb_path(".ms.choices.json"),
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
        mem_mb=job_mem_mb("renorm_factors"),
        runtime=job_runtime("renorm_factors"),
    params:
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
        mem_mb=job_mem_mb("renorm_table"),
        runtime=job_runtime("renorm_table"),
    script:
        "../scripts/renorm_table.py"
