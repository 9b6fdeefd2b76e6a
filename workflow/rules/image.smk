# Imaging of each MOUS from its EBs' calibrated data (<eb>.ms.split.cal): per EB the imaging data
# (<eb>_targets.ms with statwt weights, <eb>_targets_line.ms continuum-subtracted) and the
# calibrator images; per MOUS the continuum image of each target, a cube of each target and
# spw, and the sensitivity check with the QA2 verdict (workflow/lib/almacal/imaging/).
# Per-EB jobs read one EB only, so an edit in one EB remakes its own imaging data and
# calibrator images and the MOUS images, nothing of the other EBs.


rule targets_ms:
    """The imaging data of one EB: its targets (science spws) with statwt weights over the
    line-free channels, found on each target's spectrum, and the continuum-subtracted copy.
    """
    input:
        cal=eb_path(".ms.split.cal"),
        cal_summary=eb_path(".ms.split.cal.json"),
        choices=eb_path(".ms.choices.json"),
    output:
        # written last, naming the two MSes (<eb>_targets.ms, <eb>_targets_line.ms) it made, or
        # that the EB has no target to image
        summary="results/{mous}/{eb}/{eb}_targets.ms.json",
    log:
        **casa_logs("targets_ms"),
    benchmark:
        "benchmarks/{mous}/{eb}/targets_ms.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("targets_ms"),
        runtime=job_runtime("targets_ms"),
    params:
        targets="results/{mous}/{eb}/{eb}_targets.ms",
        line="results/{mous}/{eb}/{eb}_targets_line.ms",
        continuum_channels=config["imaging"]["continuum_channels"],
        detection_sigma=config["imaging"]["line_detection_sigma"],
    script:
        "../scripts/targets_ms.py"


rule image_calibrators:
    """The phase calibrator's and every check source's mfs image of one EB (FITS, PNG) with
    their figures: rms, fitted flux, position offset, peak over integrated."""
    input:
        cal=eb_path(".ms.split.cal"),
        cal_summary=eb_path(".ms.split.cal.json"),
        choices=eb_path(".ms.choices.json"),
    output:
        images=directory("results/{mous}/{eb}/images"),
        summary="results/{mous}/{eb}/{eb}.calibrator_images.json",
    log:
        **casa_logs("image_calibrators"),
    benchmark:
        "benchmarks/{mous}/{eb}/image_calibrators.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("image_calibrators"),
        runtime=job_runtime("image_calibrators"),
    params:
        settings=imaging_settings(),
    script:
        "../scripts/image_calibrators.py"


rule image_continuum:
    """Per target of the MOUS the continuum (mfs) image of every EB's line-free channels."""
    input:
        summaries=mous_eb_products("results/{mous}/{eb}/{eb}_targets.ms.json"),
    output:
        images=directory("results/{mous}/images/continuum"),
        summary="results/{mous}/{mous}.continuum_images.json",
    log:
        **mous_logs("image_continuum"),
    benchmark:
        "benchmarks/{mous}/image_continuum.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=mous_casa_mem_mb,
        runtime=mous_casa_runtime,
    params:
        settings=imaging_settings(),
    script:
        "../scripts/image_targets.py"


rule image_cubes:
    """Per target and cube spw of the MOUS a cube of the continuum-subtracted data, with the
    spectrum and line at its brightest pixel."""
    input:
        summaries=mous_eb_products("results/{mous}/{eb}/{eb}_targets.ms.json"),
    output:
        images=directory("results/{mous}/images/cubes"),
        summary="results/{mous}/{mous}.cube_images.json",
    log:
        **mous_logs("image_cubes"),
    benchmark:
        "benchmarks/{mous}/image_cubes.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=mous_casa_mem_mb,
        runtime=mous_casa_runtime,
    params:
        settings=imaging_settings(),
    script:
        "../scripts/image_targets.py"


rule imaging_sensitivity:
    """Theoretical and measured rms of every image, the image scores and the QA2 verdict."""
    input:
        continuum="results/{mous}/{mous}.continuum_images.json",
        cubes="results/{mous}/{mous}.cube_images.json",
        calibrators=mous_eb_products("results/{mous}/{eb}/{eb}.calibrator_images.json"),
    output:
        sensitivity="results/{mous}/{mous}.sensitivity.json",
    log:
        "logs/{mous}/imaging_sensitivity.log",
    conda:
        "../../envs/casa.yaml"
    params:
        request=lambda w: config["mous"][w.mous].get("qa2"),
        dynamic_range_limit=config["imaging"]["dynamic_range_limit"],
    script:
        "../scripts/imaging_sensitivity.py"
