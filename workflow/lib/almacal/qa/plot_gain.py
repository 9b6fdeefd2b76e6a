"""QA plot of a gaincal table (phase_int, phase_inf, flux_inf) vs time per antenna."""

from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from almacal.qa import common as qa_common


def plot_gain(
    cal: qa_common.CalTable, caltable: str, md: dict, *, plot: str, quantity: str
) -> None:
    """Phase or amplitude of the gaincal table ``caltable`` (read as ``cal``) vs time."""
    if quantity not in ("phase", "amplitude"):
        raise ValueError(f"quantity must be 'phase' or 'amplitude', not {quantity!r}")
    eb = qa_common.eb_name(md)
    name = Path(caltable).name
    pols = qa_common.receptors(md)
    refants = {int(r) for rows in cal.spws.values() for r in rows.refant if r >= 0}
    title = f"{eb}: {quantity} vs time per antenna ({name})"
    fig, axes, ncols = qa_common.antenna_grid(len(cal.antennas), title)
    handles, labels = [], []
    fields_seen: list[int] = []
    has_data = [False] * len(cal.antennas)
    largest = 0.0
    for si, (spw, rows) in enumerate(sorted(cal.spws.items())):
        times = qa_common.mjd_seconds_to_datetime(rows.time)
        gain = rows.param[:, 0, :]  # [pol, row]: one parameter per solution
        values = np.abs(gain) if quantity == "amplitude" else np.angle(gain, deg=True)
        for pi in range(values.shape[0]):
            colour = qa_common.series_colour(si, pi)
            handles.append(Line2D([], [], color=colour, marker="o", ls="", ms=6))
            labels.append(f"spw {spw} {pols[pi] if pi < len(pols) else pi}")
            good = ~rows.flag[pi, 0, :]
            for field in np.unique(rows.field):
                if field not in fields_seen:
                    fields_seen.append(int(field))
                marker = qa_common.MARKERS[fields_seen.index(field) % len(qa_common.MARKERS)]
                for ant in range(len(cal.antennas)):
                    sel = good & (rows.field == field) & (rows.antenna == ant)
                    if sel.any():
                        has_data[ant] = True
                        axes[ant].plot(
                            times[sel],
                            values[pi, sel],
                            ls="",
                            marker=marker,
                            ms=3.5,
                            color=colour,
                            alpha=0.85,
                        )
            if good.any():
                largest = max(largest, float(np.max(np.abs(values[pi, good]))))
    for field in fields_seen:
        marker = qa_common.MARKERS[fields_seen.index(field) % len(qa_common.MARKERS)]
        handles.append(Line2D([], [], color="0.3", marker=marker, ls="", ms=6))
        labels.append(cal.fields[field])
    for ant, ax in enumerate(axes):
        ax.set_title(cal.antennas[ant] + (" (refant)" if ant in refants else ""), fontsize=10)
        qa_common.time_axis(ax)
    qa_common.mark_empty(axes, has_data)
    if quantity == "phase":
        limit = float(np.clip(1.15 * largest, 10.0, 180.0))
        axes[0].set_ylim(-limit, limit)
        ylabel = "phase (deg)"
    else:
        axes[0].set_ylim(bottom=0)
        ylabel = "gain amplitude"
    day = str(qa_common.mjd_seconds_to_datetime(next(iter(cal.spws.values())).time[:1])[0])[:10]
    qa_common.label_grid(axes, ncols, f"time (UTC, {day})", ylabel)
    qa_common.figure_legend(fig, handles, labels)
    qa_common.save(fig, plot)
