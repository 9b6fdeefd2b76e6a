"""Shared pieces of the QA scripts: caltable and MS readers, the antenna grid, colours.

Not a job script itself: the qa_plot_*, qa_eb_summary and qa_report scripts import it (the
scores are in ``almacal.qa.scores``). Plots are made with matplotlib's headless Agg backend;
caltables and measurement sets are read with the casatools ``table`` tool, per spectral window,
so that spws of different channel counts work.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from almacal import chunks  # noqa: E402
from almacal.eb_metadata import CORRELATION_NAMES  # noqa: E402

DPI = 90
MJD_EPOCH = np.datetime64("1858-11-17T00:00:00", "us")
# Correlation type codes of the MS POLARIZATION table -> names (Stokes enumeration of casacore).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")


def eb_name(metadata: dict) -> str:
    """EB name from the metadata of its measurement set (``.../<eb>.ms``)."""
    return Path(metadata["ms"]).name.removesuffix(".ms")


def receptors(metadata: dict) -> list[str]:
    """Receptor labels of antenna-based solutions (pol axis of a caltable): X, Y or R, L."""
    names = [CORRELATION_NAMES.get(c, str(c)) for c in metadata.get("correlation_types", [])]
    parallel = [n[0] for n in names if len(n) == 2 and n[0] == n[1]]
    return parallel or ["X", "Y"]


def correlations(metadata: dict) -> list[str]:
    return [CORRELATION_NAMES.get(c, str(c)) for c in metadata.get("correlation_types", [])]


def mjd_seconds_to_datetime(seconds: np.ndarray) -> np.ndarray:
    """MS/caltable TIME (MJD seconds, UTC) -> numpy datetime64 for matplotlib."""
    return MJD_EPOCH + np.round(np.asarray(seconds) * 1e6).astype("timedelta64[us]")


def series_colour(index_spw: int, index_pol: int) -> tuple:
    """One colour per (spw, polarization): a dark/light pair of tab20 per spw."""
    cmap = plt.get_cmap("tab20")
    return cmap((2 * index_spw + min(index_pol, 1)) % 20)


@dataclass
class CalSpw:
    """Rows of one spw of a caltable: param [pol, chan, row], flag like it."""

    time: np.ndarray
    field: np.ndarray
    antenna: np.ndarray
    refant: np.ndarray
    scan: np.ndarray
    param: np.ndarray
    flag: np.ndarray
    freq_hz: np.ndarray


@dataclass
class CalTable:
    path: str
    viscal: str
    antennas: list[str]
    fields: list[str]
    spws: dict[int, CalSpw]


def read_caltable(path: str) -> CalTable:
    """A caltable, per spw (CPARAM or FPARAM, FLAG, TIME, FIELD_ID, ANTENNA1/2, SCAN_NUMBER)."""
    from casatools import table

    tb = table()
    tb.open(f"{path}/ANTENNA")
    antennas = list(tb.getcol("NAME"))
    tb.close()
    tb.open(f"{path}/FIELD")
    fields = list(tb.getcol("NAME"))
    tb.close()
    tb.open(f"{path}/SPECTRAL_WINDOW")
    freqs = [np.asarray(tb.getcell("CHAN_FREQ", i)) for i in range(tb.nrows())]
    tb.close()
    tb.open(path)
    try:
        viscal = str(tb.getkeyword("VisCal")) if "VisCal" in tb.keywordnames() else ""
        column = "CPARAM" if "CPARAM" in tb.colnames() else "FPARAM"
        spws = {}
        for spw in sorted(int(s) for s in np.unique(tb.getcol("SPECTRAL_WINDOW_ID"))):
            sub = tb.query(f"SPECTRAL_WINDOW_ID=={spw}", sortlist="TIME,ANTENNA1")
            try:
                spws[spw] = CalSpw(
                    time=sub.getcol("TIME"),
                    field=sub.getcol("FIELD_ID"),
                    antenna=sub.getcol("ANTENNA1"),
                    refant=sub.getcol("ANTENNA2"),
                    scan=sub.getcol("SCAN_NUMBER"),
                    param=sub.getcol(column),
                    flag=sub.getcol("FLAG"),
                    freq_hz=freqs[spw],
                )
            finally:
                sub.close()
    finally:
        tb.close()
    return CalTable(path=str(path), viscal=viscal, antennas=antennas, fields=fields, spws=spws)


def tsys_medians(cal: CalTable) -> dict:
    """Median Tsys (K) per antenna and spw, and of the whole array per spw."""
    per_antenna: dict[str, dict[str, float]] = {}
    array: dict[str, float] = {}
    for spw, rows in sorted(cal.spws.items()):
        values = np.ma.masked_array(rows.param, rows.flag)
        spw_values = values.compressed()
        array[str(spw)] = round(float(np.median(spw_values)), 3) if spw_values.size else None
        for ant in np.unique(rows.antenna):
            sel = values[:, :, rows.antenna == ant].compressed()
            if sel.size:
                per_antenna.setdefault(cal.antennas[int(ant)], {})[str(spw)] = round(
                    float(np.median(sel)), 3
                )
    return {"median_k": per_antenna, "array_median_k": array}


@dataclass
class VisSpw:
    """Cross-correlation rows of one field and spw of an MS, reduced for plotting.

    ``chan_avg`` [row, corr]: channel-averaged visibility (flagged channels left out, NaN when a
    row is flagged entirely); ``spectrum`` [baseline-scan, bin, corr]: vector average over the
    integrations of each baseline and scan, per channel bin.
    """

    time: np.ndarray
    uvdist_m: np.ndarray
    chan_avg: np.ndarray
    freq_hz: np.ndarray
    spectrum: np.ndarray


def ms_layout(ms: str) -> tuple[list[str], dict[int, int], list[np.ndarray]]:
    """Field names, DATA_DESC_ID -> spw id, channel frequencies per spw."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/FIELD")
    fields = list(tb.getcol("NAME"))
    tb.close()
    tb.open(f"{ms}/DATA_DESCRIPTION")
    ddi_spw = {i: int(s) for i, s in enumerate(tb.getcol("SPECTRAL_WINDOW_ID"))}
    tb.close()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    freqs = [np.asarray(tb.getcell("CHAN_FREQ", i)) for i in range(tb.nrows())]
    tb.close()
    return fields, ddi_spw, freqs


# visibilities (correlations x channels x rows) read at a time by the QA: a chunk of DATA is 16 MB
# and a job's peak memory stays within its budget (docs/benchmarks.md) whatever the EB's size
CHUNK_VISIBILITIES = 2**21


def row_chunks(nrow: int, per_row: int) -> list[tuple[int, int]]:
    """The QA's chunks of rows: ``almacal.chunks.row_chunks`` of CHUNK_VISIBILITIES."""
    return chunks.row_chunks(nrow, per_row, CHUNK_VISIBILITIES)


def read_reduced_visibilities(
    ms: str, fields: list[str], max_bins: int = 128
) -> dict[tuple[str, int], VisSpw]:
    """Per (field, spw): channel-averaged rows and per-baseline-scan spectra of the DATA column.

    Reads in chunks of rows (``row_chunks``), in the MS's own row order, so that memory stays
    bounded by the reduced products (a few values per row and per baseline, scan and bin).
    """
    from casatools import table

    names, ddi_spw, freqs = ms_layout(ms)
    tb = table()
    tb.open(ms)
    result = {}
    try:
        ddis = sorted(int(d) for d in np.unique(tb.getcol("DATA_DESC_ID")))
        for name in fields:
            if name not in names:
                continue
            field_id = names.index(name)
            for ddi in ddis:
                sub = tb.query(f"FIELD_ID=={field_id} && DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2")
                try:
                    n = sub.nrows()
                    if n == 0:
                        continue
                    spw = ddi_spw[ddi]
                    nchan = len(freqs[spw])
                    width = max(1, math.ceil(nchan / max_bins))
                    nbin = math.ceil(nchan / width)
                    bin_of = np.arange(nchan) // width
                    ant1 = sub.getcol("ANTENNA1")
                    ant2 = sub.getcol("ANTENNA2")
                    scan = sub.getcol("SCAN_NUMBER")
                    keys = np.stack([ant1, ant2, scan], axis=1)
                    groups, group_of = np.unique(keys, axis=0, return_inverse=True)
                    group_of = group_of.ravel()
                    ncorr = None
                    chan_avg = []
                    sums = counts = None
                    per_row = int(np.prod(sub.getcell("FLAG", 0).shape))
                    for start, nrow in row_chunks(n, per_row):
                        data = sub.getcol("DATA", startrow=start, nrow=nrow)  # [corr, chan, row]
                        flag = sub.getcol("FLAG", startrow=start, nrow=nrow)
                        if ncorr is None:
                            ncorr = data.shape[0]
                            sums = np.zeros((len(groups), nbin, ncorr), complex)
                            counts = np.zeros((len(groups), nbin, ncorr))
                        good = ~flag
                        weighted = np.where(good, data, 0)
                        starts = np.arange(0, nchan, width)
                        binned = np.add.reduceat(weighted, starts, axis=1)  # [corr, bin, row]
                        nbinned = np.add.reduceat(good, starts, axis=1, dtype=np.int32)
                        with np.errstate(invalid="ignore", divide="ignore"):
                            chan_avg.append((binned.sum(axis=1) / nbinned.sum(axis=1)).T)
                        # per (baseline, scan) group, bin and correlation: one bincount each
                        cell = (
                            group_of[start : start + nrow, None, None] * nbin
                            + np.arange(nbin)[None, :, None]
                        ) * ncorr + np.arange(ncorr)[None, None, :]  # [row, bin, corr]
                        cell = cell.ravel()
                        by_row = np.transpose(binned, (2, 1, 0)).ravel()
                        size = sums.size
                        sums += (
                            np.bincount(cell, by_row.real, size)
                            + 1j * np.bincount(cell, by_row.imag, size)
                        ).reshape(sums.shape)
                        counts += np.bincount(
                            cell, np.transpose(nbinned, (2, 1, 0)).ravel(), size
                        ).reshape(counts.shape)
                    uvw = sub.getcol("UVW")
                    with np.errstate(invalid="ignore", divide="ignore"):
                        spectrum = np.where(counts > 0, sums / counts, np.nan)
                    bin_freq = np.array([freqs[spw][bin_of == b].mean() for b in range(nbin)])
                    result[(name, spw)] = VisSpw(
                        time=sub.getcol("TIME"),
                        uvdist_m=np.hypot(uvw[0], uvw[1]),
                        chan_avg=np.concatenate(chan_avg, axis=0),
                        freq_hz=bin_freq,
                        spectrum=spectrum,
                    )
                finally:
                    sub.close()
    finally:
        tb.close()
    return result


def antenna_grid(n: int, title: str, panel=(3.3, 2.3), ncols: int | None = None):
    """Figure with one panel per antenna (or per item), shared axes: fig, flat axes, ncols."""
    ncols = ncols or min(n, max(4, math.ceil(math.sqrt(1.6 * n))))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel[0] * ncols, panel[1] * nrows + 1.1),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=13)
    # fixed margins in inches (title and legend above, tick labels and axis labels on the outer
    # panels, each panel's title; the x labels of a last, partial row's neighbours above it):
    # tight_layout measured every tick label of every panel, half a plot job's time
    width, height = fig.get_figwidth(), fig.get_figheight()
    fig.subplots_adjust(
        left=0.8 / width,
        right=1 - 0.2 / width,
        bottom=0.65 / height,
        top=1 - 1.05 / height,  # with a one-row legend (save() makes room for more rows)
        wspace=0.2 / panel[0],
        hspace=0.75 / panel[1],
    )
    fig.almacal_fixed_layout = True
    return fig, axes[:n], ncols


def label_grid(axes, ncols: int, xlabel: str, ylabel: str) -> None:
    """Axis labels on the outer panels only."""
    n = len(axes)
    for i, ax in enumerate(axes):
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i >= n - ncols:
            ax.set_xlabel(xlabel)
            ax.tick_params(labelbottom=True)
        ax.grid(alpha=0.3)


def mark_empty(axes, has_data, text: str = "all solutions flagged") -> None:
    """Say so in the panels of antennas without any unflagged value."""
    for ax, filled in zip(axes, has_data):
        if not filled:
            ax.text(
                0.5,
                0.5,
                text,
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="0.4",
                fontsize=10,
            )


def time_axis(ax) -> None:
    """UTC time ticks that stay readable from seconds to hours."""
    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))


LEGEND_ROW_INCHES = 0.22


def figure_legend(fig, handles, labels, ncol: int | None = None) -> None:
    ncol = ncol or min(len(labels), 8)
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.42 / fig.get_figheight()),
        ncol=ncol,
        frameon=False,
        fontsize=9,
    )
    fig.almacal_legend_rows = math.ceil(len(labels) / max(1, ncol))


def save(fig, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if getattr(fig, "almacal_fixed_layout", False):  # antenna_grid's margins, and the legend's
        extra_rows = max(0, getattr(fig, "almacal_legend_rows", 1) - 1)
        top = fig.subplotpars.top - extra_rows * LEGEND_ROW_INCHES / fig.get_figheight()
        fig.subplots_adjust(top=top)
    else:
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / fig.get_figheight()))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def placeholder(path: str, title: str, text: str) -> None:
    """A plot saying why there is nothing to plot (e.g. an EB without Tsys)."""
    fig, ax = plt.subplots(figsize=(8, 2.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, wrap=True)
    fig.suptitle(title, fontsize=13)
    save(fig, path)
