"""QA plots of the solve tables of one EB (``almacal.solves.SOLVES`` with a ``qa_plot``), made in
one job: the bandpass's amplitude and phase vs channel, each gain table's phase or amplitude vs
time. One process for all of them: as four jobs they cost a process start-up each."""

from almacal import jsonio
from almacal.casa_job import CasaJob
from almacal.qa import common as qa_common
from almacal.qa.plot_bandpass import plot_bandpass
from almacal.qa.plot_gain import plot_gain
from almacal.solves import BY_NAME


def qa_plot_solves(
    *, tables: dict[str, str], plots: dict[str, str], metadata: str, log: str, commands: str
) -> None:
    """Plot the caltables ``tables`` (solve name -> path) into ``plots`` (each solve's
    ``Solve.qa_plot_names`` -> PNG path)."""
    md = jsonio.load(metadata)
    eb = qa_common.eb_name(md)
    with CasaJob(log=log, commands=commands, title=f"QA plots: solve tables of {eb}") as job:
        read = {}
        for name, path in tables.items():
            read[name] = qa_common.read_caltable(path)
            job.note(f"read {path}: spws {sorted(read[name].spws)}, fields {read[name].fields}")
    for name, cal in read.items():
        solve = BY_NAME[name]
        if solve.qa_plot == "bandpass":
            amplitude, phase = (plots[p] for p in solve.qa_plot_names)
            plot_bandpass(cal, tables[name], md, amplitude=amplitude, phase=phase)
        elif solve.qa_plot in ("gain_phase", "gain_amplitude"):
            quantity = solve.qa_plot.removeprefix("gain_")
            plot_gain(cal, tables[name], md, plot=plots[name], quantity=quantity)
        else:
            raise ValueError(f"{name}: the solve table has no QA plot (almacal.solves)")
