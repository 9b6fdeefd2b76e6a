"""QA plots of a bandpass table: amplitude and phase vs channel per antenna."""

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from almacal.qa import common as qa_common


def plot_bandpass(
    cal: qa_common.CalTable, bandpass: str, md: dict, *, amplitude: str, phase: str
) -> None:
    """Amplitude and phase of the bandpass table ``bandpass`` (read as ``cal``) vs channel."""
    eb = qa_common.eb_name(md)
    pols = qa_common.receptors(md)
    refants = {int(r) for rows in cal.spws.values() for r in rows.refant if r >= 0}
    for quantity, plot in (("amplitude", amplitude), ("phase", phase)):
        title = f"{eb}: bandpass {quantity} vs channel per antenna ({Path(bandpass).name})"
        fig, axes, ncols = qa_common.antenna_grid(len(cal.antennas), title)
        handles, labels = [], []
        has_data = [False] * len(cal.antennas)
        for si, (spw, rows) in enumerate(sorted(cal.spws.items())):
            channels = np.arange(rows.param.shape[1])
            for pi in range(rows.param.shape[0]):
                colour = qa_common.series_colour(si, pi)
                handles.append(Line2D([], [], color=colour, lw=2))
                labels.append(f"spw {spw} {pols[pi] if pi < len(pols) else pi}")
                for row in range(rows.param.shape[2]):
                    gain = rows.param[pi, :, row]
                    value = np.abs(gain) if quantity == "amplitude" else np.angle(gain, deg=True)
                    values = np.ma.masked_array(value, rows.flag[pi, :, row])
                    axes[rows.antenna[row]].plot(channels, values, color=colour, lw=0.9)
                    has_data[rows.antenna[row]] |= bool(values.count())
        for ant, ax in enumerate(axes):
            ax.set_title(cal.antennas[ant] + (" (refant)" if ant in refants else ""), fontsize=10)
        qa_common.mark_empty(axes, has_data)
        ylabel = "amplitude (normalised)" if quantity == "amplitude" else "phase (deg)"
        qa_common.label_grid(axes, ncols, "channel", ylabel)
        qa_common.figure_legend(fig, handles, labels)
        qa_common.save(fig, plot)
