# Every job below reads {eb}.ms.split in the flag state left by flag_split and the model left by
# setjy_flux_model; only those two jobs (and the final applycal) write to it, in DAG order.
SPLIT_STATE = {
    "vis": SPLIT,
    "metadata": MS + ".metadata.json",
    "flags": SPLIT + ".flags_user.json",
    "model": SPLIT + ".setjy.json",
}


def solve_params(table):
    """Field roles, reference antenna and the solve settings of one caltable."""
    return {
        "field_roles": choice("field_roles"),
        "refant": choice("refant"),
        "minsnr": config["calibration"]["minsnr"],
        "solve": config["calibration"][table],
    }


rule flag_split:
    """Edge channels and split-stage user flags on {eb}.ms.split (from its as-split flags)."""
    input:
        vis=SPLIT,
        metadata=MS + ".metadata.json",
        flag_files=flag_files("split"),
    output:
        summary=SPLIT + ".flags_user.json",
    params:
        edge_channel_fraction=config["calibration"]["edge_channel_fraction"],
        science_spws=choice("science_spws"),
    log:
        **casa_logs("flag_split"),
    benchmark:
        "benchmarks/{mous}/{eb}/flag_split.tsv"
    script:
        "../scripts/flag_split.py"


rule setjy_flux_model:
    """Flux calibrator model (setjy, manual flux density and spectral index from the flux file)."""
    input:
        vis=SPLIT,
        metadata=MS + ".metadata.json",
        flags=SPLIT + ".flags_user.json",
        flux_file=lambda w: config["mous"][w.mous]["flux_file"],
    output:
        model=SPLIT + ".setjy.json",
    params:
        field_roles=choice("field_roles"),
        science_spws=choice("science_spws"),
    log:
        **casa_logs("setjy_flux_model"),
    benchmark:
        "benchmarks/{mous}/{eb}/setjy_flux_model.tsv"
    script:
        "../scripts/setjy_flux_model.py"


rule gaincal_ap_pre_bandpass:
    """Short-timescale phase solution on the bandpass calibrator, central channels."""
    input:
        **SPLIT_STATE,
    output:
        caltable=directory(SPLIT + ".ap_pre_bandpass"),
    params:
        **solve_params("ap_pre_bandpass"),
        fields="bandpass",
        calmode="p",
        gaintype="G",
        science_spws=choice("science_spws"),
    log:
        **casa_logs("gaincal_ap_pre_bandpass"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_ap_pre_bandpass.tsv"
    script:
        "../scripts/gaincal_solve.py"


rule bandpass:
    """Bandpass per antenna and channel on the bandpass calibrator (solnorm, combine scans)."""
    input:
        **SPLIT_STATE,
        gaintables=[SPLIT + ".ap_pre_bandpass"],
    output:
        caltable=directory(SPLIT + ".bandpass"),
    params:
        **solve_params("bandpass"),
    log:
        **casa_logs("bandpass"),
    benchmark:
        "benchmarks/{mous}/{eb}/bandpass.tsv"
    script:
        "../scripts/bandpass_solve.py"


rule gaincal_phase_int:
    """Per-integration phases of all calibrators (applied to bandpass/flux calibrators)."""
    input:
        **SPLIT_STATE,
        gaintables=[SPLIT + ".bandpass"],
    output:
        caltable=directory(SPLIT + ".phase_int"),
    params:
        **solve_params("phase_int"),
        fields="calibrators",
        calmode="p",
        gaintype="G",
    log:
        **casa_logs("gaincal_phase_int"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_phase_int.tsv"
    script:
        "../scripts/gaincal_solve.py"


rule gaincal_phase_inf:
    """Per-scan phases of all calibrators (transferred to the target)."""
    input:
        **SPLIT_STATE,
        gaintables=[SPLIT + ".bandpass"],
    output:
        caltable=directory(SPLIT + ".phase_inf"),
    params:
        **solve_params("phase_inf"),
        fields="calibrators",
        calmode="p",
        gaintype="G",
    log:
        **casa_logs("gaincal_phase_inf"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_phase_inf.tsv"
    script:
        "../scripts/gaincal_solve.py"


rule gaincal_ampli_inf:
    """Per-scan amplitudes of all calibrators, after bandpass and phase_int."""
    input:
        **SPLIT_STATE,
        gaintables=[SPLIT + ".bandpass", SPLIT + ".phase_int"],
    output:
        caltable=directory(SPLIT + ".ampli_inf"),
    params:
        **solve_params("ampli_inf"),
        fields="calibrators",
        calmode="a",
        gaintype="T",
    log:
        **casa_logs("gaincal_ampli_inf"),
    benchmark:
        "benchmarks/{mous}/{eb}/gaincal_ampli_inf.tsv"
    script:
        "../scripts/gaincal_solve.py"


rule fluxscale:
    """Flux scale bootstrapped from the flux calibrator: {eb}.ms.split.flux_inf and fitted fluxes."""
    input:
        **SPLIT_STATE,
        ampli_inf=SPLIT + ".ampli_inf",
    output:
        caltable=directory(SPLIT + ".flux_inf"),
        fluxes=SPLIT + ".fluxscale.json",
    params:
        field_roles=choice("field_roles"),
    log:
        **casa_logs("fluxscale"),
    benchmark:
        "benchmarks/{mous}/{eb}/fluxscale.tsv"
    script:
        "../scripts/fluxscale_bootstrap.py"
