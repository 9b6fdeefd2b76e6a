# Quality assessment: plots per calibration product, numbers and scores per EB, and one static
# HTML report per MOUS (results/<mous>/qa/index.html). A plot job reads only the products it
# plots (the solve tables' plots share one job: a second each), so an edit reruns only the stale
# plots. Readers of {eb}.ms.split wait for the final
# applycal ({eb}.ms.split.cal.json), which changes its flags while it runs.

# The plots of one EB, in results/<mous>/<eb>/qa/ (the report copies them into its folder), and
# the rules that make them: the solve tables with a QA plot are plotted in one job.
PLOTTED_SOLVES = [s for s in SOLVES if s.qa_plot]
QA_EB_PLOTS = [
    f"results/{{mous}}/{{eb}}/qa/{{eb}}{suffix}" for suffix in eb_plot_suffixes()
]
QA_RULES = [
    "qa_plot_tsys",
    "qa_plot_solves",
    "qa_plot_calibrated",
    "qa_check_source",
    "qa_eb_summary",
    "eb_corrections",
]


rule eb_corrections:
    """Figures of the ALMA corrections of one EB (Tsys, antenna positions, WVR, flux models,
    renormalisation) in one machine-readable file."""
    input:
        unpack(tsys_inputs),
        unpack(wvr_inputs),
        antpos=antpos_table,
        metadata=eb_path(".ms.metadata.json"),
        flux_model=eb_path(".ms.split.setjy.json"),
        renorm=eb_path(".ms.split.renorm.json"),
    output:
        corrections=eb_path(".corrections.json"),
    log:
        **casa_logs("eb_corrections"),
    benchmark:
        "benchmarks/{mous}/{eb}/eb_corrections.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("eb_corrections"),
        runtime=job_runtime("eb_corrections"),
    script:
        "../scripts/eb_corrections.py"


rule qa_plot_corrections:
    """WVR phase rms before/after and per-antenna path rms; renormalisation factor spectra."""
    input:
        corrections=eb_path(".corrections.json"),
        renorm_spectra=eb_path(".ms.split.renorm.npz"),
        metadata=eb_path(".ms.metadata.json"),
    output:
        plot="results/{mous}/{eb}/qa/{eb}.corrections.png",
    log:
        "logs/{mous}/{eb}/qa_plot_corrections.log",
    benchmark:
        "benchmarks/{mous}/{eb}/qa_plot_corrections.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_plot_corrections"),
        runtime=job_runtime("qa_plot_corrections"),
    script:
        "../scripts/qa_plot_corrections.py"


rule qa_plot_tsys:
    """Tsys vs frequency per antenna, one colour per spw and polarization ({eb}.ms.tsys)."""
    input:
        unpack(tsys_inputs),
        metadata=eb_path(".ms.metadata.json"),
    output:
        plot="results/{mous}/{eb}/qa/{eb}.tsys.png",
    log:
        **casa_logs("qa_plot_tsys"),
    benchmark:
        "benchmarks/{mous}/{eb}/qa_plot_tsys.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_plot_tsys"),
        runtime=job_runtime("qa_plot_tsys"),
    script:
        "../scripts/qa_plot_tsys.py"


rule qa_plot_solves:
    """Bandpass amplitude and phase vs channel, gain phase or amplitude vs time, per antenna: the
    solve tables with a QA plot (almacal.solves), in one job."""
    input:
        **{solve.name: eb_path(solve.suffix) for solve in PLOTTED_SOLVES},
        metadata=eb_path(".ms.metadata.json"),
    output:
        **{
            name: f"results/{{mous}}/{{eb}}/qa/{{eb}}.{name}.png"
            for solve in PLOTTED_SOLVES
            for name in solve.qa_plot_names
        },
    log:
        **casa_logs("qa_plot_solves"),
    benchmark:
        "benchmarks/{mous}/{eb}/qa_plot_solves.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_plot_solves"),
        runtime=job_runtime("qa_plot_solves"),
    script:
        "../scripts/qa_plot_solves.py"


rule qa_plot_calibrated:
    """Calibrators before ({eb}.ms.split DATA) and after calibration ({eb}.ms.split.cal):
    amplitude and phase vs uv distance, time and frequency."""
    input:
        split=eb_path(".ms.split"),
        cal=eb_path(".ms.split.cal"),
        cal_summary=eb_path(".ms.split.cal.json"),
        choices=eb_path(".ms.choices.json"),
    output:
        uvdist="results/{mous}/{eb}/qa/{eb}.calibrated_uvdist.png",
        time="results/{mous}/{eb}/qa/{eb}.calibrated_time.png",
        frequency="results/{mous}/{eb}/qa/{eb}.calibrated_frequency.png",
    log:
        **casa_logs("qa_plot_calibrated"),
    benchmark:
        "benchmarks/{mous}/{eb}/qa_plot_calibrated.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_plot_calibrated"),
        runtime=job_runtime("qa_plot_calibrated"),
    script:
        "../scripts/qa_plot_calibrated.py"


rule qa_check_source:
    """Check sources of one EB: point-source fit in the uv plane ({eb}.ms.split.cal), flux,
    offset from the phase centre (arcsec, beams), coherence; or that there is none."""
    input:
        cal=eb_path(".ms.split.cal"),
        cal_summary=eb_path(".ms.split.cal.json"),
        choices=eb_path(".ms.choices.json"),
        metadata=eb_path(".ms.metadata.json"),
    output:
        check_source="results/{mous}/{eb}/qa/{eb}.check_source.json",
    log:
        **casa_logs("qa_check_source"),
    benchmark:
        "benchmarks/{mous}/{eb}/qa_check_source.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_check_source"),
        runtime=job_runtime("qa_check_source"),
    script:
        "../scripts/qa_check_source.py"


rule qa_eb_summary:
    """QA numbers and scores of one EB: flags per stage, solutions, fluxes, phase rms, Tsys,
    check source."""
    input:
        unpack(tsys_inputs),
        unpack(tsysflag_inputs),
        **{solve.name: eb_path(solve.suffix) for solve in SOLVES},
        lowgainflag=eb_path(".ms.split.lowgainflag.json"),
        lowgainflag_file=eb_path(".ms.split.lowgainflag.flags.txt"),
        correctedampflag=eb_path(".ms.split.correctedampflag.json"),
        correctedampflag_file=eb_path(".ms.split.correctedampflag.flags.txt"),
        corrections=eb_path(".corrections.json"),
        choices=eb_path(".ms.choices.json"),
        apriori=eb_path(".ms.flags_apriori.json"),
        split_summary=eb_path(".ms.split.split.json"),
        user_flags=eb_path(".ms.split.flags_user.json"),
        cal_summary=eb_path(".ms.split.cal.json"),
        fluxscale=eb_path(".ms.split.fluxscale.json"),
        spwphaseup=eb_path(".ms.split.spwphaseup.json"),
        split=eb_path(".ms.split"),
        cal=eb_path(".ms.split.cal"),
        check_source="results/{mous}/{eb}/qa/{eb}.check_source.json",
    output:
        summary="results/{mous}/{eb}/qa/{eb}.qa_summary.json",
    log:
        **casa_logs("qa_eb_summary"),
    benchmark:
        "benchmarks/{mous}/{eb}/qa_eb_summary.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_eb_summary"),
        runtime=job_runtime("qa_eb_summary"),
    params:
        solints={s.name: config["calibration"][s.settings]["solint"] for s in SOLVES},
    script:
        "../scripts/qa_eb_summary.py"


rule qa_report:
    """The MOUS QA report: results/{mous}/qa/index.html with every EB's plots and numbers."""
    input:
        summaries=lambda w: expand(
            "results/{mous}/{eb}/qa/{eb}.qa_summary.json",
            mous=w.mous,
            eb=mous_ebs(w.mous),
        ),
        plots=lambda w: expand(QA_EB_PLOTS, mous=w.mous, eb=mous_ebs(w.mous)),
        corrections=lambda w: expand(
            "results/{mous}/{eb}/{eb}.corrections.json",
            mous=w.mous,
            eb=mous_ebs(w.mous),
        ),
        # the imaging section (image.smk)
        sensitivity="results/{mous}/{mous}.sensitivity.json",
        continuum="results/{mous}/{mous}.continuum_images.json",
        cubes="results/{mous}/{mous}.cube_images.json",
        calibrator_images=lambda w: expand(
            "results/{mous}/{eb}/{eb}.calibrator_images.json",
            mous=w.mous,
            eb=mous_ebs(w.mous),
        ),
        image_dirs=lambda w: [
            f"results/{w.mous}/images/continuum",
            f"results/{w.mous}/images/cubes",
            *expand("results/{mous}/{eb}/images", mous=w.mous, eb=mous_ebs(w.mous)),
        ],
        # the page's templates: an edit re-renders the report
        templates=sorted(str(p) for p in Path(LIB, "almacal/qa/templates").iterdir()),
    output:
        report=directory("results/{mous}/qa"),
    log:
        "logs/{mous}/qa_report.log",
    benchmark:
        "benchmarks/{mous}/qa_report.tsv"
    conda:
        "../../envs/casa.yaml"
    threads: 1
    resources:
        mem_mb=job_mem_mb("qa_report"),
        runtime=job_runtime("qa_report"),
    params:
        ebs=lambda w: mous_ebs(w.mous),
    script:
        "../scripts/qa_report.py"
