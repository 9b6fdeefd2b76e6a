"""QA plot of an EB's WVR and renormalisation corrections, from {eb}.corrections.json.

Left: the WVR assessment: per antenna the bandpass calibrator's phase rms with / without the WVR
correction (flagged radiometers marked), whether it is applied, the calibrators' phase rms without
and with it; or a note when the EB has no WVR data. Right: the renormalisation
factor spectra of each target spw (median over antennas and correlations, one line per scan and
field) against the threshold, channels excluded from the fits shaded.
"""

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FormatStrFormatter  # noqa: E402

from almacal import jsonio  # noqa: E402
from almacal.qa import common as qa_common  # noqa: E402


def plot_wvr(ax, wvr: dict) -> None:
    if "ratio_per_antenna" not in wvr:  # no WVR data
        ax.axis("off")
        ax.text(
            0.5,
            0.5,
            textwrap.fill("WVR: " + wvr["reason"], 50),
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        return
    names = list(wvr["ratio_per_antenna"])
    ratio = [wvr["ratio_per_antenna"][n] or np.nan for n in names]
    colours = ["tab:red" if n in wvr["flagged_antennas"] else "tab:blue" for n in names]
    ax.bar(range(len(names)), ratio, color=colours)
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="y", which="minor", labelsize=6)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    ax.set_ylabel("phase rms with / without WVR")
    before, after = wvr["calibrator_phase_rms_deg_before"], wvr["calibrator_phase_rms_deg_after"]
    ax.set_title(
        f"WVR {'applied' if wvr['applied'] else 'NOT applied'}: calibrators' phase rms "
        f"{before:.1f} -> {after:.1f} deg\n(bars: bandpass calibrator; red: radiometer "
        "flagged, interpolated)",
        fontsize=9,
    )


def plot_renorm(ax, renorm: dict, spectra: np.lib.npyio.NpzFile) -> None:
    ax.axhline(
        renorm["threshold"], color="k", ls="--", lw=0.8, label=f"threshold {renorm['threshold']}"
    )
    for i, (field, per_spw) in enumerate(renorm["fields"].items()):
        for j, (spw, stats) in enumerate(sorted(per_spw.items(), key=lambda kv: int(kv[0]))):
            colour = qa_common.series_colour(j, i)
            keys = [k for k in spectra.files if k.startswith(f"{field}/{spw}/")]
            keys = [k for k in keys if not k.endswith("/time")]  # one per scan and field
            for k, key in enumerate(keys):
                r = np.median(spectra[key], axis=(0, 1))
                ax.plot(
                    np.arange(r.size),
                    r,
                    color=colour,
                    lw=0.8,
                    label=f"{field} spw {spw} (max {stats['max_factor']:.3f})" if k == 0 else None,
                )
            excluded = renorm["excluded_channels"][spw]["atmospheric_lines"]
            if excluded:
                ax.axvspan(min(excluded), max(excluded), color=colour, alpha=0.1)
    ax.set_xlabel("channel")
    ax.set_ylabel("renormalisation factor")
    ax.set_title(
        ("applied: " if renorm["applied"] else "not applied: ") + f"max {renorm['max_factor']:.4f}",
        fontsize=9,
    )
    ax.legend(fontsize=7)


def qa_plot_corrections(*, corrections: str, renorm_spectra: str, plot: str, log: str) -> None:
    data = jsonio.load(corrections)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    fig.suptitle(f"{data['eb']}: WVR and amplitude renormalisation")
    plot_wvr(left, data["wvr"])
    with np.load(renorm_spectra) as spectra:
        plot_renorm(right, data["renormalization"], spectra)
    fig.tight_layout()  # (no figure legend to leave room for, unlike qa_common.save's plots)
    Path(plot).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot, dpi=qa_common.DPI)
    plt.close(fig)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(f"{plot} from {corrections} and {renorm_spectra}\n")
