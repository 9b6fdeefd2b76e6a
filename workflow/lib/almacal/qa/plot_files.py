"""The QA plots of one EB (results/<mous>/<eb>/qa/<eb><suffix>), by file-name suffix in the
report's page order: the one list that the rules making them (qa.smk), the report showing them
(report.plot_sections) and the benchmark timing them read. Light to import: the Snakefile does."""

from almacal.solves import SOLVES, Solve


def eb_plot_suffixes(solves: tuple[Solve, ...] = SOLVES) -> list[str]:
    """Tsys, the solve tables' plots (in the solve table's order), the calibrators before and
    after calibration, the WVR and renormalisation corrections."""
    return [
        ".tsys.png",
        *(f".{name}.png" for solve in solves if solve.qa_plot for name in solve.qa_plot_names),
        ".calibrated_uvdist.png",
        ".calibrated_time.png",
        ".calibrated_frequency.png",
        ".corrections.png",
    ]
