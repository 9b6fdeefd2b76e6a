"""The MOUS QA report: a self-contained folder results/<mous>/qa/ with index.html.

The page compares the EBs (phase-calibrator flux per spw across EBs, flagging per EB, scores per
EB), lists every score worst-first, and has one section per EB with its numbers and plots. The
EBs' plots and summaries are copied into the folder (``<eb>/...``) and referenced relatively, so
the folder can be moved or archived on its own.
"""

import html
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from almacal import jsonio
from almacal.qa import common as qa_common

# Per-EB plots, by file-name suffix: section heading and caption, in page order.
PLOTS = {
    ".tsys.png": ("Tsys", "Tsys vs frequency per antenna from <eb>.ms.tsys; one line per Tsys "
                  "scan, one colour per spw and polarization."),
    ".bandpass_amplitude.png": ("Bandpass amplitude", "Bandpass amplitude vs channel per antenna "
                                "(<eb>.ms.split.bandpass, normalised); flagged channels left out."),
    ".bandpass_phase.png": ("Bandpass phase", "Bandpass phase vs channel per antenna."),
    ".phase_int.png": ("Phase, per integration", "phase_int: per-integration phases of the "
                       "calibrators vs time (applied to the bandpass and flux calibrators)."),
    ".phase_inf.png": ("Phase, per scan", "phase_inf: per-scan phases vs time (transferred to "
                       "the phase calibrator and the target)."),
    ".flux_inf.png": ("Flux-scaled amplitude", "flux_inf: per-scan amplitude gains after "
                      "fluxscale vs time."),
    ".calibrated_uvdist.png": ("Calibrators vs uv distance", "Calibrators before (DATA of "
                               "<eb>.ms.split) and after calibration (<eb>.ms.split.cal): "
                               "amplitude and phase vs uv distance."),
    ".calibrated_time.png": ("Calibrators vs time", "Calibrators before and after calibration "
                             "vs time."),
    ".calibrated_frequency.png": ("Calibrators vs frequency", "Calibrators before and after "
                                  "calibration vs frequency, per baseline and scan."),
    ".corrections.png": ("WVR and renormalisation", "Left: calibrator phase rms before and after "
                         "the WVR correction, wvrgcal's path rms per antenna (red: flagged, "
                         "interpolated). Right: amplitude renormalisation factor per target spw "
                         "(median over antennas and correlations, one line per scan; shaded: "
                         "atmospheric-line channels left out)."),
}
STAGE_NAMES = {
    "apriori": "a-priori",
    "split": "split",
    "user": "user/edge",
    "calibrated": "calibrated",
}
CSS = """
body { font-family: system-ui, sans-serif; margin: 0 2em 3em; color: #222; max-width: 1500px; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #345; padding-bottom: 0.2em;
  margin-top: 2em; } h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #e8edf2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.s-good { background: #c8ecc8; } .s-ok { background: #cfe0f7; } .s-warn { background: #fbeaa7; }
.s-bad { background: #f5b5b0; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ccc; }
figcaption { font-size: 0.9em; color: #444; margin-top: 0.3em; }
nav a { margin-right: 1em; } .note { color: #555; font-size: 0.9em; }
.legend span { padding: 0.1em 0.6em; margin-right: 0.4em; }
"""


def _e(text) -> str:
    return html.escape(str(text))


def _score_class(score: float) -> str:
    """Colours as in the ALMA pipeline weblog: green, blue, yellow, red."""
    if score >= 0.9:
        return "s-good"
    if score >= 0.66:
        return "s-ok"
    if score >= 0.33:
        return "s-warn"
    return "s-bad"


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _table(header: list[str], rows: list[list], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if isinstance(cell, tuple):  # (html, css class) for pre-rendered cells
                cells.append(f'<td class="{cell[1]}">{cell[0]}</td>')
            else:
                cls = ' class="num"' if i >= numeric_from else ""
                cells.append(f"<td{cls}>{_e(_fmt(cell))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _threshold(check: str) -> str:
    spec = qa_common.CHECKS[check]
    good, bad = ("≥", "≤") if spec["good"] > spec["bad"] else ("≤", "≥")
    return f"1 if {good} {spec['good']:g}, 0 if {bad} {spec['bad']:g}"


def _scores_table(scores: list[dict], with_eb: bool) -> str:
    header = ["score", "check"] + (["EB"] if with_eb else []) + [
        "worst case", "value", "unit", "score 1 → 0"]
    rows = []
    for s in scores:
        rows.append(
            [(f"{s['score']:.2f}", f"num {_score_class(s['score'])}"), s["title"]]
            + ([s["eb"]] if with_eb else [])
            + [s["subject"], (_e(_fmt(s["value"])), "num"), s["unit"], _threshold(s["check"])]
        )
    return _table(header, rows, numeric_from=99)


def _checks_table() -> str:
    rows = [[spec["title"], spec["measure"], spec["unit"], _threshold(check),
             "MOUS (per EB)" if spec["scope"] == "mous" else "EB"]
            for check, spec in qa_common.CHECKS.items()]
    return _table(["check", "what is measured", "unit", "score 1 → 0 (linear between)", "scope"],
                  rows, numeric_from=99)


def _flux_consistency(ebs: list[str], summaries: dict[str, dict]) -> tuple[dict, list[dict]]:
    """Phase-calibrator flux per field and spw across EBs, and a score per EB (worst spw)."""
    table: dict[str, dict[str, dict]] = {}
    for eb in ebs:
        s = summaries[eb]
        for field in s["field_roles"]["phase"]:
            for spw, v in s["fluxscale"]["fields"].get(field, {}).get("spws", {}).items():
                entry = table.setdefault(field, {}).setdefault(spw, {"freq_hz": v["freq_hz"],
                                                                     "ebs": {}})
                entry["ebs"][eb] = {"flux_jy": v["flux_jy"], "error_jy": v["error_jy"]}
    worst: dict[str, tuple[float, str]] = {}
    for field, spws in table.items():
        for spw, entry in spws.items():
            fluxes = {eb: v["flux_jy"] for eb, v in entry["ebs"].items()}
            median = float(np.median(list(fluxes.values())))
            entry["median_jy"] = median
            entry["max_over_min"] = max(fluxes.values()) / min(fluxes.values())
            for eb, flux in fluxes.items():
                deviation = abs(flux / median - 1)
                entry["ebs"][eb]["deviation"] = round(deviation, 6)
                if len(fluxes) > 1 and deviation >= worst.get(eb, (-1.0, ""))[0]:
                    worst[eb] = (deviation, f"{field} spw {spw} ({flux:.4g} Jy vs median "
                                            f"{median:.4g} Jy)")
    scores = [qa_common.make_score("flux_consistency", eb, value, subject)
              for eb, (value, subject) in worst.items()]
    return table, scores


def _plot_flux(table: dict, ebs: list[str], path: Path) -> None:
    spws = sorted({spw for spws in table.values() for spw in spws}, key=int)
    fig, axes = plt.subplots(1, max(1, len(spws)), figsize=(4.8 * max(1, len(spws)), 3.8),
                             squeeze=False, sharey=True)
    x = np.arange(len(ebs))
    for ax, spw in zip(axes[0], spws):
        for fi, (field, entries) in enumerate(sorted(table.items())):
            entry = entries.get(spw)
            if not entry:
                continue
            flux = [entry["ebs"].get(eb, {}).get("flux_jy", np.nan) for eb in ebs]
            err = [entry["ebs"].get(eb, {}).get("error_jy", np.nan) for eb in ebs]
            colour = plt.get_cmap("tab10")(fi)
            ax.errorbar(x, flux, yerr=err, fmt="o", ms=7, capsize=4, color=colour, label=field)
            median = entry["median_jy"]
            ax.axhline(median, color=colour, lw=0.8)
            ax.axhspan(median * 0.95, median * 1.05, color=colour, alpha=0.12,
                       label=f"{field}: median ± 5 %")
        freq = next(iter(e[spw]["freq_hz"] for e in table.values() if spw in e))
        ax.set_title(f"spw {spw} ({freq / 1e9:.3f} GHz)" if freq else f"spw {spw}")
        ax.set_xticks(x, ebs, rotation=15, fontsize=8)
        ax.set_xlim(-0.5, len(ebs) - 0.5)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("fluxscale flux density (Jy)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle("Phase-calibrator flux density per EB (fluxscale, ± its error)", fontsize=12)
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path, dpi=qa_common.DPI)
    plt.close(fig)


def _plot_flagging(ebs: list[str], summaries: dict[str, dict], path: Path) -> None:
    stages = list(STAGE_NAMES)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(ebs) + 2), 3.8))
    width = 0.8 / (len(stages) + 1)
    x = np.arange(len(ebs))
    for si, stage in enumerate(stages):
        values = [next(s["flagged_fraction"] for s in summaries[eb]["flagging"]["stages"]
                       if s["stage"] == stage) for eb in ebs]
        ax.bar(x + (si - len(stages) / 2) * width, values, width, label=STAGE_NAMES[stage],
               color=plt.get_cmap("Blues")(0.35 + 0.15 * si))
    cross = [summaries[eb]["flagging"]["cross_correlations"]["calibrated"]["flagged_fraction"]
             for eb in ebs]
    ax.bar(x + (len(stages) / 2) * width, cross, width, color="tab:orange",
           label="calibrated, cross-correlations only")
    ax.set_xticks(x, ebs, fontsize=9)
    ax.set_ylabel("flagged fraction")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    ax.set_title("Flagged fraction per EB after each stage (flagdata summaries)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=qa_common.DPI)
    plt.close(fig)


def _corrections(eb: str, c: dict) -> str:
    """The ALMA corrections of one EB, from its <eb>.corrections.json."""
    parts = [f'<h3>ALMA corrections</h3><p class="note">All figures: <a href="{_e(eb)}/'
             f'{_e(eb)}.corrections.json">{_e(eb)}.corrections.json</a>.</p>']
    wvr = c["wvr"]
    if wvr["applied"]:
        parts.append(
            f"<p>WVR (wvrgcal, toffset {wvr['toffset_s']} s, flagged and interpolated: "
            f"{_e(', '.join(wvr['flagged_antennas']) or 'none')}): calibrator phase rms "
            f"{_fmt(wvr['calibrator_phase_rms_deg_before'])} deg before, "
            f"{_fmt(wvr['calibrator_phase_rms_deg_after'])} deg after.</p>")
    else:
        parts.append(f"<p>WVR: {_e(wvr['reason'])}.</p>")
    positions = c["antenna_positions"]
    if not positions["applied"]:
        parts.append("<p>Antenna positions: no position file given, none corrected.</p>")
    else:
        offsets = ", ".join(f"{ant} {[round(v * 1e3, 2) for v in xyz]} mm"
                            for ant, xyz in positions["offsets_m"].items())
        parts.append(f"<p>Antenna positions (ITRF offsets applied): {_e(offsets or 'none')}.</p>")
    parts.append(_table(["flux calibrator", "spw", "I (Jy)", "spectral index", "at", "from"],
                        [[m["field"], m["spw"], m["fluxdensity_jy"][0], m["spix"], m["reffreq"],
                          m["source"]] for m in c["flux_models"]], numeric_from=2))
    rn = c["renormalization"]
    rows = [[field, spw, v["max_factor"], "yes" if v["exceeds_threshold"] else "no",
             ", ".join(f"{scan}: {f:.4f}" for scan, f in v["per_scan"].items())]
            for field, per_spw in rn["fields"].items() for spw, v in per_spw.items()]
    parts.append(f"<p>Amplitude renormalisation: {_e(rn['decision'])}.</p>"
                 + _table(["target", "spw", "max factor", f"> {rn['threshold']}",
                           "max factor per scan"], rows, numeric_from=2))
    return "\n".join(parts)


def _eb_section(eb: str, s: dict, plots: list[str], scores: list[dict],
                corrections: dict) -> str:
    parts = [f'<section class="eb" id="eb-{_e(eb)}"><h2>EB {_e(eb)}</h2>']
    roles = ", ".join(f"{role}: {', '.join(names)}" for role, names in s["field_roles"].items())
    parts.append(f'<p class="note">Field roles: {_e(roles)}. Summary JSON: '
                 f'<a href="{_e(eb)}/{_e(eb)}.qa_summary.json">{_e(eb)}.qa_summary.json</a>.</p>')
    parts.append("<h3>Scores, worst first</h3>" + _scores_table(scores, with_eb=False))

    stages = s["flagging"]["stages"]
    cross = s["flagging"]["cross_correlations"]
    rows = [[STAGE_NAMES[st["stage"]], st["product"], st["description"], st["flagged_fraction"]]
            for st in stages]
    rows.append(["cross-correlations, before the solves", f"{eb}.ms.split", "all fields",
                 cross["before_solves"]["flagged_fraction"]])
    rows.append(["cross-correlations, calibrated", f"{eb}.ms.split.cal", "all fields",
                 cross["calibrated"]["flagged_fraction"]])
    parts.append("<h3>Flagging</h3>" + _table(["stage", "product", "flags", "flagged fraction"],
                                              rows, numeric_from=3))
    ant_rows = []
    for ant in s["antennas"]:
        ant_rows.append([ant] + [st["antenna"].get(ant) for st in stages]
                        + [cross["calibrated"]["antenna"].get(ant)])
    parts.append("<p>Flagged fraction per antenna:</p>" + _table(
        ["antenna"] + [STAGE_NAMES[st["stage"]] for st in stages] + ["calibrated, cross-corr."],
        ant_rows))

    sol_rows = []
    for name, table in s["solutions"].items():
        for spw, c in table["per_spw"].items():
            sol_rows.append([name, spw, table["solint"], table["combine"] or "–",
                             ", ".join(table["fields"]), c["expected"], c["attempted"],
                             c["succeeded"], c["succeeded_fraction"],
                             c["flagged_parameter_fraction"]])
    parts.append(
        "<h3>Calibration solutions</h3><p class=\"note\">expected: antennas × solution intervals "
        "in the data of the solved fields; attempted: solutions written to the caltable; "
        "succeeded: not flagged.</p>"
        + _table(["caltable", "spw", "solint", "combine", "fields", "expected", "attempted",
                  "succeeded", "succeeded / expected", "flagged parameters"], rows=sol_rows,
                 numeric_from=5)
    )

    flux_rows = []
    for field, entry in s["fluxscale"]["fields"].items():
        for spw, v in entry["spws"].items():
            flux_rows.append([field, spw, v["freq_hz"] / 1e9 if v["freq_hz"] else None,
                              v["flux_jy"], v["error_jy"], v["fractional_error"],
                              entry["fit"]["flux_jy"], entry["fit"]["spix"]])
    parts.append(
        "<h3>Fluxscale</h3><p class=\"note\">reference: "
        f"{_e(', '.join(s['fluxscale']['reference']))}"
        "; fit: flux density at the reference frequency and spectral index of the fitted "
        "spectrum.</p>"
        + _table(["field", "spw", "frequency (GHz)", "flux (Jy)", "error (Jy)",
                  "fractional error", "fit flux (Jy)", "spectral index"], flux_rows, 1)
    )

    cal_rows = [[field, spw, v["phase_rms_deg"], v["amplitude_median_jy"], v["amplitude_scatter"],
                 v["points"]]
                for field, spws in s["calibrated_calibrators"].items() for spw, v in spws.items()]
    parts.append(
        "<h3>Calibrated calibrators</h3><p class=\"note\">Per baseline and integration, "
        "channel-averaged, unflagged, from <code>.ms.split.cal</code>; phase rms about zero.</p>"
        + _table(["field", "spw", "phase rms (deg)", "median amplitude (Jy)",
                  "amplitude scatter (fraction)", "points"], cal_rows, 1)
    )

    if s.get("tsys"):
        spws = sorted(s["tsys"]["array_median_k"], key=int)
        tsys_rows = [[ant] + [s["tsys"]["median_k"].get(ant, {}).get(spw) for spw in spws]
                     for ant in s["antennas"]]
        tsys_rows.append(["array median"] + [s["tsys"]["array_median_k"][spw] for spw in spws])
        parts.append("<h3>Tsys medians (K)</h3>" + _table(
            ["antenna"] + [f"spw {spw}" for spw in spws], tsys_rows))
    else:
        parts.append("<h3>Tsys</h3><p>No Tsys table for this EB.</p>")

    parts.append(_corrections(eb, corrections))

    if s.get("bandpass_scatter"):
        amp, phase = s["bandpass_scatter"]["amplitude"], s["bandpass_scatter"]["phase_deg"]
        series = sorted({k.split(" ", 1)[1] for k in amp})
        bp_rows = [[ant] + [amp.get(f"{ant} {x}") for x in series]
                   + [phase.get(f"{ant} {x}") for x in series] for ant in s["antennas"]]
        parts.append(
            "<h3>Bandpass channel scatter</h3><p class=\"note\">rms about a 9-channel running "
            "median, unflagged channels.</p>"
            + _table(["antenna"] + [f"amp. {x}" for x in series]
                     + [f"phase (deg) {x}" for x in series], bp_rows)
        )

    parts.append("<h3>Plots</h3>")
    by_suffix = {}
    for plot in plots:
        for suffix in PLOTS:
            if plot.endswith(suffix):
                by_suffix[suffix] = plot
    for suffix, (title, caption) in PLOTS.items():
        if suffix in by_suffix:
            src = f"{eb}/{Path(by_suffix[suffix]).name}"
            parts.append(
                f'<figure id="{_e(eb)}{_e(suffix.removesuffix(".png").replace(".", "-"))}">'
                f"<h4>{_e(title)}</h4>"
                f'<a href="{_e(src)}"><img src="{_e(src)}" alt="{_e(eb)}: {_e(title)}"></a>'
                f"<figcaption>{_e(caption.replace('<eb>', eb))}</figcaption></figure>"
            )
    parts.append("</section>")
    return "\n".join(parts)


def qa_report(
    *, mous: str, ebs: list[str], summaries: list[str], plots: list[str],
    corrections: list[str], report: str, log: str,
) -> None:
    out = Path(report)
    out.mkdir(parents=True, exist_ok=True)
    data = {eb: jsonio.load(path) for eb, path in zip(ebs, summaries)}
    plots_of = {eb: [p for p in plots if Path(p).parent.parent.name == eb] for eb in ebs}
    copied = []
    for eb in ebs:
        (out / eb).mkdir(exist_ok=True)
        for src in plots_of[eb] + [summaries[ebs.index(eb)], corrections[ebs.index(eb)]]:
            shutil.copyfile(src, out / eb / Path(src).name)
            copied.append(f"{eb}/{Path(src).name}")

    flux_table, flux_scores = _flux_consistency(ebs, data)
    scores_by_eb = {eb: qa_common.worst_first(data[eb]["scores"]
                                              + [s for s in flux_scores if s["eb"] == eb])
                    for eb in ebs}
    all_scores = qa_common.worst_first([s for eb in ebs for s in scores_by_eb[eb]])
    _plot_flux(flux_table, ebs, out / "flux_consistency.png")
    _plot_flagging(ebs, data, out / "flagging.png")

    flagging = {eb: {st["stage"]: st["flagged_fraction"] for st in data[eb]["flagging"]["stages"]}
                | {"calibrated_cross_correlations":
                   data[eb]["flagging"]["cross_correlations"]["calibrated"]["flagged_fraction"]}
                for eb in ebs}
    qa_common.write_json(
        str(out / f"{mous}.qa_summary.json"),
        {
            "mous": mous,
            "ebs": ebs,
            "scores": all_scores,
            "phase_calibrator_flux": flux_table,
            "flagging": flagging,
            "checks": qa_common.CHECKS,
            "eb_summaries": {eb: f"{eb}/{eb}.qa_summary.json" for eb in ebs},
        },
    )

    # The page.
    checks_used = [c for c in qa_common.CHECKS if any(s["check"] == c for s in all_scores)]
    matrix_rows = []
    for check in checks_used:
        row = [qa_common.CHECKS[check]["title"]]
        for eb in ebs:
            score = next((s for s in scores_by_eb[eb] if s["check"] == check), None)
            row.append((f'<span title="{_e(score["subject"])}: {_e(_fmt(score["value"]))}">'
                        f'{score["score"]:.2f}</span>', f"num {_score_class(score['score'])}")
                       if score else ("–", "num"))
        matrix_rows.append(row)
    flux_rows = []
    for field, spws in sorted(flux_table.items()):
        for spw, entry in sorted(spws.items(), key=lambda kv: int(kv[0])):
            flux_rows.append(
                [field, spw, entry["freq_hz"] / 1e9 if entry["freq_hz"] else None]
                + [f"{entry['ebs'][eb]['flux_jy']:.4f} ± {entry['ebs'][eb]['error_jy']:.4f}"
                   if eb in entry["ebs"] else "–" for eb in ebs]
                + [entry["max_over_min"]]
            )
    flag_rows = [[eb] + [flagging[eb][st] for st in STAGE_NAMES]
                 + [flagging[eb]["calibrated_cross_correlations"]] for eb in ebs]
    worst = all_scores[0]["score"] if all_scores else None
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>QA report {_e(mous)}</title><style>{CSS}</style></head><body>",
        f"<h1>QA report: MOUS {_e(mous)}</h1>",
        f'<p>{len(ebs)} execution block(s). Lowest score: '
        f'<b>{"–" if worst is None else f"{worst:.2f}"}</b>. '
        f'Machine-readable: <a href="{_e(mous)}.qa_summary.json">{_e(mous)}.qa_summary.json</a>.'
        "</p>",
        "<nav><b>Sections:</b> <a href=\"#scores\">scores per EB</a><a href=\"#flux\">flux "
        "consistency</a><a href=\"#flagging\">flagging</a><a href=\"#all-scores\">all scores"
        "</a><a href=\"#checks\">checks</a>"
        + "".join(f'<a href="#eb-{_e(eb)}">{_e(eb)}</a>' for eb in ebs) + "</nav>",
        '<h2 id="scores">Scores per EB</h2>',
        "<p>Each check gives a score between 0 (bad) and 1 (good) by a linear ramp between the "
        "two thresholds stated with it (<a href=\"#checks\">checks and thresholds</a>); each EB "
        "gets the score of its worst case (hover a cell for it; all cases worst first "
        "<a href=\"#all-scores\">below</a>). "
        'Colours as in the ALMA pipeline weblog: <span class="legend"><span class="s-good">'
        '≥ 0.90</span><span class="s-ok">0.66–0.90</span><span class="s-warn">0.33–0.66</span>'
        '<span class="s-bad">&lt; 0.33</span></span></p>',
        _table(["check"] + ebs, matrix_rows),
        '<h2 id="flux">Phase-calibrator flux across EBs</h2>',
        "<p>fluxscale flux density of the phase calibrator per spw in each EB (bootstrapped from "
        "the flux calibrator). Their agreement is ALMA's flux-consistency check"
        + (".</p>" if len(ebs) > 1 else "; with one EB it is not scored.</p>"),
        '<figure><img src="flux_consistency.png" alt="phase calibrator flux per EB">'
        "<figcaption>Flux density per EB with fluxscale error bars; line: median over EBs; "
        "band: ± 5 %.</figcaption></figure>",
        _table(["field", "spw", "frequency (GHz)"] + [f"{eb} (Jy)" for eb in ebs]
               + ["max / min"], flux_rows, numeric_from=2),
        '<h2 id="flagging">Flagging per EB</h2>',
        '<figure><img src="flagging.png" alt="flagged fraction per EB">'
        "<figcaption>Flagged fraction after each stage (flagdata summaries: autocorrelations "
        "included) and of the calibrated cross-correlations.</figcaption></figure>",
        _table(["EB"] + [STAGE_NAMES[st] for st in STAGE_NAMES]
               + ["calibrated, cross-corr."], flag_rows),
        '<h2 id="all-scores">All scores, worst first</h2>',
        "<p>Among equal scores, the value nearest its bad threshold comes first.</p>",
        _scores_table(all_scores, with_eb=True),
        '<h2 id="checks">Checks and thresholds</h2>',
        _checks_table(),
    ]
    for eb in ebs:
        page.append(_eb_section(eb, data[eb], plots_of[eb], scores_by_eb[eb],
                                jsonio.load(corrections[ebs.index(eb)])))
    page.append("</body></html>\n")
    (out / "index.html").write_text("\n".join(page))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(
        f"QA report of {mous}: {out / 'index.html'}\n"
        f"EBs: {', '.join(ebs)}\ncopied: {', '.join(copied)}\n"
        + "".join(f"{s['score']:.2f} {s['check']} {s['eb']} {s['subject']}\n" for s in all_scores)
    )
