"""The MOUS QA report: a self-contained folder results/<mous>/qa/ with index.html.

The page compares the EBs (phase-calibrator flux per spw across EBs, flagging per EB, scores per
EB), lists every score worst-first, and has one section per EB with its numbers and plots. The
EBs' plots and summaries are copied into the folder (``<eb>/...``) and referenced relatively, so
the folder can be moved or archived on its own.

The page is rendered with Jinja2 (autoescaping on) from ``templates/report.html.j2``; this module
gathers the numbers of the tables (``page_context``) and the templates lay them out. The per-solve
plot sections come from the solve table (``almacal.solves``: ``qa_plot``, ``qa_title``,
``qa_caption``), the thresholds table from the checks of ``almacal.qa.scores``.
"""

import shutil
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
import numpy as np

from almacal import choices, jsonio
from almacal.qa import common as qa_common
from almacal.qa import scores as qa_scores
from almacal.qa.antennas import CHECK_OF
from almacal.qa.eb_summary import RUNNING_MEDIAN
from almacal.qa.imaging_view import copy_images, imaging_context, load_records
from almacal.qa.plot_files import eb_plot_suffixes
from almacal.solves import SOLVES, Solve

TEMPLATES = Path(__file__).parent / "templates"
# The two plots of a solve with qa_plot "bandpass" (Solve.qa_plot_names): title and caption
# ({title}: the solve's qa_title or name, {table}: its caltable's suffix).
BANDPASS_PLOTS = (
    (
        "amplitude",
        "{title} amplitude vs channel per antenna (<eb>{table}, "
        "normalised); flagged channels left out.",
    ),
    ("phase", "{title} phase vs channel per antenna."),
)
STAGE_NAMES = {
    "apriori": "a-priori",
    "split": "split",
    "user": "user/edge",
    "calibrated": "calibrated",
}


def solve_plots(solve: Solve) -> dict[str, tuple[str, str]]:
    """Plots of one solve by file-name suffix: (section title, caption); none without qa_plot."""
    if solve.qa_plot == "bandpass":
        title = solve.qa_title or solve.name.capitalize()
        return {
            f".{plot}.png": (
                f"{title} {name}",
                caption.format(title=title, table=solve.suffix),
            )
            for plot, (name, caption) in zip(solve.qa_plot_names, BANDPASS_PLOTS, strict=True)
        }
    title, caption = solve.qa_title or solve.name, solve.qa_caption or solve.description
    return {f".{plot}.png": (title, caption) for plot in solve.qa_plot_names}


def plot_sections(solves: tuple[Solve, ...] = SOLVES) -> dict[str, tuple[str, str]]:
    """Per-EB plots, by file-name suffix: section heading and caption, in page order
    (plot_files.eb_plot_suffixes)."""
    sections = {
        ".tsys.png": (
            "Tsys",
            "Tsys vs frequency per antenna from <eb>.ms.tsys; one line per Tsys "
            "scan, one colour per spw and polarization.",
        ),
        **{suffix: entry for solve in solves for suffix, entry in solve_plots(solve).items()},
        ".calibrated_uvdist.png": (
            "Calibrators vs uv distance",
            "Calibrators before (DATA of "
            "<eb>.ms.split) and after calibration (<eb>.ms.split.cal): "
            "amplitude and phase vs uv distance.",
        ),
        ".calibrated_time.png": (
            "Calibrators vs time",
            "Calibrators before and after calibration vs time.",
        ),
        ".calibrated_frequency.png": (
            "Calibrators vs frequency",
            "Calibrators before and after calibration vs frequency, per baseline and scan.",
        ),
        ".corrections.png": (
            "WVR and renormalisation",
            "Left: the WVR assessment, per antenna the bandpass calibrator's "
            "phase rms with / without the WVR correction (red: radiometer "
            "flagged, interpolated), whether it is applied. Right: amplitude renormalisation factor per "
            "target spw (median over antennas and correlations, one line per "
            "scan; shaded: atmospheric-line channels left out).",
        ),
    }
    return {suffix: sections[suffix] for suffix in eb_plot_suffixes(solves)}


PLOTS = plot_sections()


def fmt(value, digits: int = 4) -> str:
    """A table value: 4 significant digits for floats, '–' for none."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        fmt=fmt, score_class=qa_scores.score_class, threshold=qa_scores.threshold_text
    )
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


# Order of the summaries' mappings (written with sorted keys): spws and scans by number, tables
# in solve order, roles in role order, antennas in array order.


def _by_number(mapping: dict) -> list[tuple]:
    return sorted(mapping.items(), key=lambda kv: int(kv[0]))


def _ordered(mapping: dict, order: list[str]) -> list[tuple]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(mapping.items(), key=lambda kv: rank.get(kv[0], len(rank)))


def _series_key(series: str) -> tuple:
    """'spw 3 X' -> (3, 'X'): bandpass series by spw number, then polarization."""
    _, spw, *rest = series.split(" ")
    return (int(spw), *rest) if spw.isdigit() else (float("inf"), series)


# The MOUS numbers.


def _flux_consistency(ebs: list[str], summaries: dict[str, dict]) -> tuple[dict, list[dict]]:
    """Phase-calibrator flux per field and spw across EBs, and a score per EB (worst spw)."""
    table: dict[str, dict[str, dict]] = {}
    for eb in ebs:
        s = summaries[eb]
        for field in s["field_roles"]["phase"]:
            for spw, v in s["fluxscale"]["fields"].get(field, {}).get("spws", {}).items():
                entry = table.setdefault(field, {}).setdefault(
                    spw, {"freq_hz": v["freq_hz"], "ebs": {}}
                )
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
                    worst[eb] = (
                        deviation,
                        f"{field} spw {spw} ({flux:.4g} Jy vs median {median:.4g} Jy)",
                    )
    scores = [
        qa_scores.make_score("flux_consistency", eb, value, subject)
        for eb, (value, subject) in worst.items()
    ]
    return table, scores


def _plot_flux(table: dict, ebs: list[str], path: Path) -> None:
    spws = sorted({spw for spws in table.values() for spw in spws}, key=int)
    fig, axes = plt.subplots(
        1, max(1, len(spws)), figsize=(4.8 * max(1, len(spws)), 3.8), squeeze=False, sharey=True
    )
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
            ax.axhspan(
                median * 0.95,
                median * 1.05,
                color=colour,
                alpha=0.12,
                label=f"{field}: median ± 5 %",
            )
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
        values = [
            next(
                s["flagged_fraction"]
                for s in summaries[eb]["flagging"]["stages"]
                if s["stage"] == stage
            )
            for eb in ebs
        ]
        ax.bar(
            x + (si - len(stages) / 2) * width,
            values,
            width,
            label=STAGE_NAMES[stage],
            color=plt.get_cmap("Blues")(0.35 + 0.15 * si),
        )
    cross = [
        summaries[eb]["flagging"]["cross_correlations"]["calibrated"]["flagged_fraction"]
        for eb in ebs
    ]
    ax.bar(
        x + (len(stages) / 2) * width,
        cross,
        width,
        color="tab:orange",
        label="calibrated, cross-correlations only",
    )
    ax.set_xticks(x, ebs, fontsize=9)
    ax.set_ylabel("flagged fraction")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    ax.set_title("Flagged fraction per EB after each stage (flag summaries)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=qa_common.DPI)
    plt.close(fig)


def _flagging_per_eb(ebs: list[str], data: dict[str, dict]) -> dict[str, dict]:
    return {
        eb: {st["stage"]: st["flagged_fraction"] for st in data[eb]["flagging"]["stages"]}
        | {
            "calibrated_cross_correlations": data[eb]["flagging"]["cross_correlations"][
                "calibrated"
            ]["flagged_fraction"]
        }
        for eb in ebs
    }


# The tables of the page (rows of values; the templates format and lay them out).


def _score_matrix(ebs: list[str], scores_by_eb: dict, all_scores: list[dict]) -> list[dict]:
    """One row per check that was scored: its title and each EB's score (None: not scored)."""
    used = [c for c in qa_scores.CHECKS if any(s["check"] == c for s in all_scores)]
    return [
        {
            "title": qa_scores.CHECKS[check]["title"],
            "scores": [
                next((s for s in scores_by_eb[eb] if s["check"] == check), None) for eb in ebs
            ],
        }
        for check in used
    ]


def _flux_rows(flux_table: dict, ebs: list[str]) -> list[list]:
    rows = []
    for field, spws in sorted(flux_table.items()):
        for spw, entry in _by_number(spws):
            rows.append(
                [field, spw, entry["freq_hz"] / 1e9 if entry["freq_hz"] else None]
                + [
                    f"{entry['ebs'][eb]['flux_jy']:.4f} ± {entry['ebs'][eb]['error_jy']:.4f}"
                    if eb in entry["ebs"]
                    else "–"
                    for eb in ebs
                ]
                + [entry["max_over_min"]]
            )
    return rows


def _flagging_rows(eb: str, s: dict) -> tuple[list[list], list[list]]:
    """Flagged fraction per stage, and per antenna and stage."""
    stages = s["flagging"]["stages"]
    cross = s["flagging"]["cross_correlations"]
    rows = [
        [STAGE_NAMES[st["stage"]], st["product"], st["description"], st["flagged_fraction"]]
        for st in stages
    ]
    rows.append(
        [
            "cross-correlations, before the solves",
            f"{eb}.ms.split",
            "all fields",
            cross["before_solves"]["flagged_fraction"],
        ]
    )
    rows.append(
        [
            "cross-correlations, calibrated",
            f"{eb}.ms.split.cal",
            "all fields",
            cross["calibrated"]["flagged_fraction"],
        ]
    )
    antenna_rows = [
        [ant]
        + [st["antenna"].get(ant) for st in stages]
        + [cross["calibrated"]["antenna"].get(ant)]
        for ant in s["antennas"]
    ]
    return rows, antenna_rows


def _solution_rows(s: dict) -> list[list]:
    rows = []
    for name, table in _ordered(s["solutions"], [solve.name for solve in SOLVES]):
        for spw, c in _by_number(table["per_spw"]):
            rows.append(
                [
                    name,
                    spw,
                    table["solint"],
                    table["combine"] or "–",
                    ", ".join(table["fields"]),
                    c["expected"],
                    c["attempted"],
                    c["succeeded"],
                    c["succeeded_fraction"],
                    c["flagged_parameter_fraction"],
                ]
            )
    return rows


def _fluxscale_rows(s: dict) -> list[list]:
    return [
        [
            field,
            spw,
            v["freq_hz"] / 1e9 if v["freq_hz"] else None,
            v["flux_jy"],
            v["error_jy"],
            v["fractional_error"],
            entry["fit"]["flux_jy"],
            entry["fit"]["spix"],
        ]
        for field, entry in s["fluxscale"]["fields"].items()
        for spw, v in _by_number(entry["spws"])
    ]


def _calibrated_rows(s: dict) -> list[list]:
    return [
        [
            field,
            spw,
            v["phase_rms_deg"],
            v["amplitude_median_jy"],
            v["amplitude_scatter"],
            v["points"],
        ]
        for field, spws in s["calibrated_calibrators"].items()
        for spw, v in _by_number(spws)
    ]


def _antenna_checks_view(s: dict) -> dict | None:
    """The "Per-antenna checks" table: one row per antenna, its worst value of each check
    (almacal.qa.antennas), the lowest of its scores, and where that one is."""
    checks = s.get("antenna_checks")
    if not checks:
        return None
    names = list(checks)
    per_antenna: dict[str, dict[str, dict]] = {}
    for name, findings in checks.items():
        for f in findings:
            per_antenna.setdefault(f["antenna"], {})[name] = f
    rows = []
    for ant in s["antennas"]:
        found = per_antenna.get(ant, {})
        scored = {
            name: qa_scores.make_score(CHECK_OF[name], s["eb"], f["value"], f["where"])
            for name, f in found.items()
        }
        worst = min(scored.values(), key=lambda e: e["score"], default=None)
        rows.append(
            [ant]
            + [found[name]["value"] if name in found else None for name in names]
            + (
                [worst["score"], worst["title"] + ": " + worst["subject"]]
                if worst
                else [None, None]
            )
        )
    header = (
        ["antenna"]
        + [
            f"{qa_scores.CHECKS[CHECK_OF[n]]['title']} ({qa_scores.CHECKS[CHECK_OF[n]]['unit']})"
            for n in names
        ]
        + ["lowest score", "where"]
    )
    return {"header": header, "rows": sorted(rows, key=lambda r: (r[-2] is None, r[-2] or 0))}


def _check_source_view(s: dict) -> dict | None:
    """The "Check source" table of an EB (its <eb>.check_source.json, as the summary carries it;
    None for a summary without one)."""
    checked = s.get("check_source")
    if checked is None:
        return None

    def scored(check: str, value: float) -> float:  # this field's own score (the EB's: worst)
        spec = qa_scores.CHECKS[check]
        return qa_scores.score(value, spec["good"], spec["bad"])

    rows = []
    for f in checked["fits"]:
        if not f["fitted"]:
            rows.append([f["field"], f"not fitted: {f['reason']}"] + [None] * 9)
            continue
        rows.append(
            [
                f["field"],
                f"{f['flux_jy']:.4g} ± {f['flux_error_jy']:.2g}",
                f["offset_ra_arcsec"],
                f["offset_dec_arcsec"],
                f["offset_arcsec"],
                f["beam_arcsec"],
                f["offset_beams"],
                f["scalar_average_jy"],
                f["coherence"],
                scored("check_source_offset", f["offset_beams"]),
                scored("check_source_coherence", f["coherence"]),
            ]
        )
    note = checked["note"]
    return {
        "rows": rows,
        "note": note[:1].upper() + note[1:],
        "beam_method": next((f["beam_method"] for f in checked["fits"] if "beam_method" in f), ""),
    }


def _tsys_table(s: dict) -> dict | None:
    if not s.get("tsys"):
        return None
    spws = sorted(s["tsys"]["array_median_k"], key=int)
    rows = [
        [ant] + [s["tsys"]["median_k"].get(ant, {}).get(spw) for spw in spws]
        for ant in s["antennas"]
    ]
    rows.append(["array median"] + [s["tsys"]["array_median_k"][spw] for spw in spws])
    return {"header": ["antenna"] + [f"spw {spw}" for spw in spws], "rows": rows}


def _bandpass_table(s: dict) -> dict | None:
    if not s.get("bandpass_scatter"):
        return None
    amp, phase = s["bandpass_scatter"]["amplitude"], s["bandpass_scatter"]["phase_deg"]
    series = sorted({k.split(" ", 1)[1] for k in amp}, key=_series_key)
    rows = [
        [ant] + [amp.get(f"{ant} {x}") for x in series] + [phase.get(f"{ant} {x}") for x in series]
        for ant in s["antennas"]
    ]
    header = ["antenna"] + [f"amp. {x}" for x in series] + [f"phase (deg) {x}" for x in series]
    return {"header": header, "rows": rows}


def _spwphaseup_view(d: dict | None) -> dict | None:
    """The spw phase-up decision: the sentence and one row per spw."""
    if not d:
        return None
    mapped = [s for s in d["spws"] if s["mapped_to"] != s["spw"]]
    sentence = (
        f"spwmap {d['spwmap']}: "
        + ", ".join(f"spw {s['spw']} takes the phases of spw {s['mapped_to']}" for s in mapped)
        if mapped
        else "every spw its own phase solutions"
    )
    if d["best_spw_below_threshold"]:
        sentence += "; even the best spw is below the threshold"
    return {
        "sentence": f"mode {d['mode']}, threshold {d['phasesnr']:g} (solint {d['solint']}): "
        + sentence,
        "rows": [
            [s["spw"], s["baseband"], s["snr"], s["mapped_to"], s["reason"]] for s in d["spws"]
        ],
    }


def _corrections(c: dict, antennas: list[str]) -> dict:
    """The ALMA corrections of one EB, from its <eb>.corrections.json."""
    positions = c["antenna_positions"]
    offsets = None
    if positions["applied"]:
        offsets = ", ".join(
            f"{ant} {[round(v * 1e3, 2) for v in xyz]} mm"
            for ant, xyz in _ordered(positions["offsets_m"] or {}, antennas)
        )
    rn = c["renormalization"]
    renorm_rows = [
        [
            field,
            spw,
            v["max_factor"],
            f"scan {v['max_factor_at']['scan']} field {v['max_factor_at']['field_id']}",
            v["max_median_factor"],
            "yes" if v["exceeds_threshold"] else "no",
            ", ".join(f"{scan}: {f:.4f}" for scan, f in _by_number(v["per_scan"])),
        ]
        for field, per_spw in rn["fields"].items()
        for spw, v in _by_number(per_spw)
    ]
    return {
        "wvr": c["wvr"],
        "antenna_offsets": offsets,
        "flux_model_rows": [
            [m["field"], m["spw"], m["fluxdensity_jy"][0], m["spix"], m["reffreq"], m["source"]]
            for m in c["flux_models"]
        ],
        "renormalization": rn,
        "renorm_rows": renorm_rows,
    }


def _figures(eb: str, plots: list[str]) -> list[dict]:
    """The EB's plots that exist, in page order: id, title, relative source and caption."""
    by_suffix = {suffix: plot for plot in plots for suffix in PLOTS if plot.endswith(suffix)}
    return [
        {
            "id": f"{eb}{suffix.removesuffix('.png').replace('.', '-')}",
            "title": title,
            "src": f"{eb}/{Path(by_suffix[suffix]).name}",
            "caption": caption.replace("<eb>", eb),
        }
        for suffix, (title, caption) in PLOTS.items()
        if suffix in by_suffix
    ]


def _choices_view(record: dict) -> dict:
    """The EB's choices file ({eb}.ms.choices.json) as the report shows it."""
    data = record["data"]
    return {
        "spws": ", ".join(
            f"{s['id']} ({s['name']}, {s['nchan']} ch)" for s in record["science_spws"]
        ),
        "tsys_fields": ", ".join(f"{f} from {t}" for f, t in record["tsys_field_map"].items())
        or "no Tsys scans",
        "tsys_spws": ", ".join(
            f"{s['id']} from {record['tsys_spwmap'][s['id']]}" for s in record["science_spws"]
        )
        if record.get("tsys_spwmap")
        else "no Tsys table",
        "check_sources": ", ".join(record["check_sources"]) or "none",
        "refant_rows": [[i + 1, c["name"], c["reason"]] for i, c in enumerate(record["refants"])],
        "data": (
            f"WVR window: {'yes' if data['wvr_window'] else 'no'}; SYSCAL rows: "
            f"{data['syscal_rows']}; ATMOSPHERE scans: {'yes' if data['atmosphere_scans'] else 'no'}; "
            f"autocorrelations: {'yes' if data.get('autocorrelations') else 'no'}; "
            f"antennas: {data['antennas']}"
        ),
    }


def eb_context(eb: str, s: dict, plots: list[str], scores: list[dict], corrections: dict) -> dict:
    """What the EB section of the page shows (template eb_section.html.j2)."""
    stage_rows, antenna_rows = _flagging_rows(eb, s)
    roles = _ordered(s["field_roles"], list(choices.ROLES))
    return {
        "eb": eb,
        "roles": ", ".join(f"{role}: {', '.join(names)}" for role, names in roles if names),
        "choices": _choices_view(s["choices"]),
        "scores": scores,
        "stage_rows": stage_rows,
        "stage_names": [STAGE_NAMES[st["stage"]] for st in s["flagging"]["stages"]],
        "antenna_rows": antenna_rows,
        "automatic_flags": {
            name: {**a, "rows": [[line["test"], line["command"]] for line in a["lines"]]}
            for name, a in s["flagging"].get("automatic", {}).items()
        },
        "solution_rows": _solution_rows(s),
        "spwphaseup": _spwphaseup_view(s.get("spwphaseup")),
        "flux_reference": ", ".join(s["fluxscale"]["reference"]),
        "fluxscale_rows": _fluxscale_rows(s),
        "calibrated_rows": _calibrated_rows(s),
        "check_source": _check_source_view(s),
        "antenna_checks": _antenna_checks_view(s),
        "tsys": _tsys_table(s),
        "corrections": _corrections(corrections, s["antennas"]),
        "bandpass": _bandpass_table(s),
        "figures": _figures(eb, plots),
    }


def page_context(
    mous: str,
    ebs: list[str],
    data: dict[str, dict],
    plots_of: dict,
    corrections: dict[str, dict],
    flux_table: dict,
    scores_by_eb: dict,
    all_scores: list[dict],
    imaging: dict | None = None,
) -> dict:
    """Everything report.html.j2 shows (``imaging``: the imaging section, imaging_view)."""
    flagging = _flagging_per_eb(ebs, data)
    return {
        "mous": mous,
        "ebs": ebs,
        "worst": all_scores[0]["score"] if all_scores else None,
        "score_bands": qa_scores.score_bands(),
        "matrix": _score_matrix(ebs, scores_by_eb, all_scores),
        "flux_columns": [f"{eb} (Jy)" for eb in ebs],
        "flux_rows": _flux_rows(flux_table, ebs),
        "stage_names": list(STAGE_NAMES.values()),
        "flag_rows": [
            [eb]
            + [flagging[eb][st] for st in STAGE_NAMES]
            + [flagging[eb]["calibrated_cross_correlations"]]
            for eb in ebs
        ],
        "all_scores": all_scores,
        "checks": qa_scores.CHECKS,
        "running_median": RUNNING_MEDIAN,
        "imaging": imaging,
        "sections": [
            eb_context(eb, data[eb], plots_of[eb], scores_by_eb[eb], corrections[eb]) for eb in ebs
        ],
    }


# The job.


def _copy_inputs(
    out: Path, ebs: list[str], plots_of: dict, summaries: list[str], corrections: list[str]
) -> list[str]:
    """The EBs' plots, summaries and corrections files into <report>/<eb>/; their new names."""
    copied = []
    for eb, summary, correction in zip(ebs, summaries, corrections):
        (out / eb).mkdir(exist_ok=True)
        for src in plots_of[eb] + [summary, correction]:
            shutil.copyfile(src, out / eb / Path(src).name)
            copied.append(f"{eb}/{Path(src).name}")
    return copied


def qa_report(
    *,
    mous: str,
    ebs: list[str],
    summaries: list[str],
    plots: list[str],
    corrections: list[str],
    report: str,
    log: str,
    imaging: dict | None = None,
) -> None:
    """The report folder. ``imaging``: the imaging products (keys ``sensitivity``,
    ``continuum``, ``cubes``, ``calibrators``, ``image_dirs``), shown in the imaging section
    with their scores."""
    out = Path(report)
    out.mkdir(parents=True, exist_ok=True)
    data = {eb: jsonio.load(path) for eb, path in zip(ebs, summaries)}
    fixes = {eb: jsonio.load(path) for eb, path in zip(ebs, corrections)}
    plots_of = {eb: [p for p in plots if Path(p).parent.parent.name == eb] for eb in ebs}
    copied = _copy_inputs(out, ebs, plots_of, summaries, corrections)
    for eb in ebs:  # the choices file and the generated flag files, as the summary carries them
        jsonio.write(out / eb / f"{eb}.ms.choices.json", data[eb]["choices"])
        copied.append(f"{eb}/{eb}.ms.choices.json")
        for heuristic in data[eb]["flagging"].get("automatic", {}).values():
            (out / eb / heuristic["file"]).write_text(heuristic["text"])
            copied.append(f"{eb}/{heuristic['file']}")

    flux_table, flux_scores = _flux_consistency(ebs, data)
    scores_by_eb = {
        eb: qa_scores.worst_first(data[eb]["scores"] + [s for s in flux_scores if s["eb"] == eb])
        for eb in ebs
    }
    imaging_view = None
    mous_scores = []
    if imaging:
        sensitivity = jsonio.load(imaging["sensitivity"])
        pngs = copy_images(out, sensitivity, imaging["image_dirs"])
        copied += list(pngs.values())
        jsonio.write(out / Path(imaging["sensitivity"]).name, sensitivity)
        records = load_records(imaging["continuum"], imaging["cubes"], imaging["calibrators"])
        imaging_view = imaging_context(sensitivity, records, pngs)
        imaging_view["json"] = Path(imaging["sensitivity"]).name
        for s in sensitivity["scores"]:
            if s["eb"] in scores_by_eb:
                scores_by_eb[s["eb"]] = qa_scores.worst_first(scores_by_eb[s["eb"]] + [s])
            else:  # the MOUS's science images
                mous_scores.append(s)
    all_scores = qa_scores.worst_first([s for eb in ebs for s in scores_by_eb[eb]] + mous_scores)
    _plot_flux(flux_table, ebs, out / "flux_consistency.png")
    _plot_flagging(ebs, data, out / "flagging.png")
    jsonio.write(
        out / f"{mous}.qa_summary.json",
        {
            "mous": mous,
            "ebs": ebs,
            "scores": all_scores,
            "phase_calibrator_flux": flux_table,
            "flagging": _flagging_per_eb(ebs, data),
            "checks": qa_scores.CHECKS,
            "eb_summaries": {eb: f"{eb}/{eb}.qa_summary.json" for eb in ebs},
        },
    )
    context = page_context(
        mous, ebs, data, plots_of, fixes, flux_table, scores_by_eb, all_scores, imaging_view
    )
    (out / "index.html").write_text(render("report.html.j2", **context))
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    Path(log).write_text(
        f"QA report of {mous}: {out / 'index.html'}\n"
        f"EBs: {', '.join(ebs)}\ncopied: {', '.join(copied)}\n"
        + "".join(f"{s['score']:.2f} {s['check']} {s['eb']} {s['subject']}\n" for s in all_scores)
    )
