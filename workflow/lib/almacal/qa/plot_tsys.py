"""QA plot of {eb}.ms.tsys: Tsys vs frequency per antenna, one colour per spw and polarization."""

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from almacal import jsonio
from almacal.casa_job import CasaJob
from almacal.qa import common as qa_common


def qa_plot_tsys(*, tsys: str | None, metadata: str, plot: str, log: str, commands: str) -> None:
    md = jsonio.load(metadata)
    eb = qa_common.eb_name(md)
    with CasaJob(log=log, commands=commands, title=f"QA plot: Tsys of {eb}") as job:
        if not tsys:
            job.note(f"{eb}: no Tsys table (no SYSCAL in the raw data); placeholder plot")
            qa_common.placeholder(
                plot, f"{eb}: Tsys", "No Tsys table: the raw data carry no SYSCAL table."
            )
            return
        cal = qa_common.read_caltable(tsys)
        job.note(f"read {tsys}: spws {sorted(cal.spws)}")
    pols = qa_common.receptors(md)
    title = f"{eb}: Tsys vs frequency per antenna ({Path(tsys).name}; one line per Tsys scan)"
    fig, axes, ncols = qa_common.antenna_grid(len(cal.antennas), title)
    handles, labels = [], []
    has_data = [False] * len(cal.antennas)
    for si, (spw, rows) in enumerate(sorted(cal.spws.items())):
        freq_ghz = rows.freq_hz / 1e9
        for pi in range(rows.param.shape[0]):
            colour = qa_common.series_colour(si, pi)
            handles.append(Line2D([], [], color=colour, lw=2))
            labels.append(f"spw {spw} {pols[pi] if pi < len(pols) else pi}")
            for row in range(rows.param.shape[2]):
                values = np.ma.masked_array(rows.param[pi, :, row], rows.flag[pi, :, row])
                axes[rows.antenna[row]].plot(freq_ghz, values, color=colour, lw=0.8)
                has_data[rows.antenna[row]] |= bool(values.count())
    for ant, ax in enumerate(axes):
        ax.set_title(cal.antennas[ant], fontsize=10)
    qa_common.mark_empty(axes, has_data)
    qa_common.label_grid(axes, ncols, "frequency (GHz)", "Tsys (K)")
    qa_common.figure_legend(fig, handles, labels)
    qa_common.save(fig, plot)
