"""QA plots of the calibrators before and after calibration ({eb}.ms.split vs {eb}.ms.split.cal).

Three figures, amplitude and phase against uv distance, time and frequency; one row per
calibrator, columns DATA and calibrated side by side, one colour per spw and correlation.
Against uv distance and time each point is one integration of one baseline, averaged over the
unflagged channels; against frequency, one baseline and scan, vector-averaged in time.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from almacal import choices
from almacal.casa_job import CasaJob
from almacal.qa import common as qa_common

MAX_POINTS = 20000  # per series and panel; more are subsampled (fixed seed) for legibility
AXES = {
    "uvdist": "uv distance (m)",
    "time": "time (UTC)",
    "frequency": "frequency (GHz)",
}


def _points(vis: qa_common.VisSpw, axis: str, corr: int) -> tuple[np.ndarray, np.ndarray]:
    if axis == "frequency":
        y = vis.spectrum[:, :, corr]
        x = np.broadcast_to(vis.freq_hz / 1e9, y.shape)
        return x.ravel(), y.ravel()
    y = vis.chan_avg[:, corr]
    x = vis.uvdist_m if axis == "uvdist" else qa_common.mjd_seconds_to_datetime(vis.time)
    return x, y


def _subsample(x: np.ndarray, y: np.ndarray, rng: np.random.Generator):
    good = np.isfinite(y)
    x, y = x[good], y[good]
    if len(y) > MAX_POINTS:
        keep = np.sort(rng.choice(len(y), MAX_POINTS, replace=False))
        x, y = x[keep], y[keep]
    return x, y


def qa_plot_calibrated(
    *,
    split: str,
    cal: str,
    eb_choices: str,
    uvdist: str,
    time: str,
    frequency: str,
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    md = ebc.metadata
    eb = qa_common.eb_name(md)
    fields = ebc.calibrators
    title = f"QA plots: calibrators of {eb} before and after calibration"
    with CasaJob(log=log, commands=commands, title=title) as job:
        stages = {
            "DATA": qa_common.read_reduced_visibilities(split, fields),
            "calibrated": qa_common.read_reduced_visibilities(cal, fields),
        }
        job.note(f"read DATA of {split} and {cal}, fields {fields}")
    corrs = qa_common.correlations(md)
    spws = sorted({spw for (_, spw) in stages["calibrated"]} | {spw for (_, spw) in stages["DATA"]})
    sources = {"DATA": Path(split).name, "calibrated": Path(cal).name}
    first = min((vis.time.min() for vis in stages["DATA"].values()), default=0.0)
    day = str(qa_common.mjd_seconds_to_datetime(np.array([first]))[0])[:10]
    xlabels = {**AXES, "time": f"time (UTC, {day})"}
    for axis, plot in (("uvdist", uvdist), ("time", time), ("frequency", frequency)):
        rng = np.random.default_rng(1)
        fig, axes = plt.subplots(
            len(fields), 4, figsize=(17, 3.3 * len(fields) + 1.3), squeeze=False
        )
        columns = [
            ("amplitude", "DATA"),
            ("amplitude", "calibrated"),
            ("phase", "DATA"),
            ("phase", "calibrated"),
        ]
        for row, field in enumerate(fields):
            field_roles_of = [r for r in ("bandpass", "flux", "phase") if field in ebc.roles[r]]
            for col, (quantity, stage) in enumerate(columns):
                ax = axes[row, col]
                largest = highest = 0.0
                n_points = 0
                for si, spw in enumerate(spws):
                    vis = stages[stage].get((field, spw))
                    if vis is None:
                        continue
                    for ci in range(vis.chan_avg.shape[1]):
                        x, y = _subsample(*_points(vis, axis, ci), rng)
                        value = np.abs(y) if quantity == "amplitude" else np.angle(y, deg=True)
                        n_points += len(value)
                        if len(value):
                            largest = max(largest, float(np.percentile(np.abs(value), 99.5)))
                            highest = max(highest, float(np.max(value)))
                        ax.scatter(
                            x,
                            value,
                            s=5,
                            color=qa_common.series_colour(si, ci),
                            alpha=0.5,
                            linewidths=0,
                            rasterized=True,
                        )
                qa_common.mark_empty([ax], [n_points > 0], "no unflagged data")
                if quantity == "phase":
                    limit = 180.0 if stage == "DATA" else float(np.clip(1.3 * largest, 5, 180))
                    ax.set_ylim(-limit, limit)
                    ax.set_ylabel("phase (deg)")
                else:
                    ax.set_ylim(0, 1.12 * highest if highest > 0 else 1)
                    ax.set_ylabel(
                        "amplitude (Jy)" if stage == "calibrated" else "amplitude (uncalibrated)"
                    )
                if axis == "time":
                    qa_common.time_axis(ax)
                ax.set_xlabel(xlabels[axis])
                ax.grid(alpha=0.3)
                ax.set_title(
                    f"{field} ({', '.join(field_roles_of)})\n{quantity}, {stage}: {sources[stage]}",
                    fontsize=9,
                )
        handles, labels = [], []
        for si, spw in enumerate(spws):
            for ci, corr in enumerate(corrs):
                handles.append(
                    Line2D([], [], color=qa_common.series_colour(si, ci), marker="o", ls="", ms=6)
                )
                labels.append(f"spw {spw} {corr}")
        what = {
            "uvdist": "per baseline and integration, channel-averaged",
            "time": "per baseline and integration, channel-averaged",
            "frequency": "per baseline and scan, time-averaged",
        }[axis]
        fig.suptitle(
            f"{eb}: calibrators, amplitude and phase vs {AXES[axis].split(' (')[0]} "
            f"before (DATA) and after calibration ({what})",
            fontsize=13,
        )
        qa_common.figure_legend(fig, handles, labels)
        qa_common.save(fig, plot)
