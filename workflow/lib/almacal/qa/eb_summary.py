"""QA numbers of one EB in one JSON: flags per stage, solution statistics, fluxscale, calibrated
calibrator phase rms, Tsys and bandpass statistics, and the QA scores worst-first.

Flag fractions per stage come from the flag summaries the calibration jobs wrote; the
cross-correlation fractions (both ``almacal.flag_counts``), the solution counts and the phase
rms are read here from the measurement sets and caltables with casatools. The caltables, the
fields they are solved on and whether a solve combines scans come from the solve table
(``almacal.solves``); the scores and their thresholds from ``almacal.qa.scores``.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from almacal import choices, jsonio
from almacal.casa_job import CasaJob
from almacal.flag_counts import flag_summary
from almacal.qa import common as qa_common
from almacal.qa import scores as qa_scores
from almacal.qa.antennas import antenna_checks, antenna_scores, findings_json, tsys_levels
from almacal.qa.check_source import check_source_scores
from almacal.solves import SOLVES

# Which fields each caltable is solved on ("bandpass", "flux" or "calibrators": a role of
# almacal.choices, or all calibrators), and which solves combine scans (bandpass: combine='scan').
TABLE_FIELDS = {solve.name: solve.fields for solve in SOLVES}
COMBINE_SCANS = {solve.name for solve in SOLVES if "scan" in solve.combine.split(",")}
RUNNING_MEDIAN = 9  # channels


def _stages(eb: str, apriori: dict, split: dict, user: dict, cal: dict) -> list[dict]:
    entries = [
        (
            "apriori",
            f"{eb}.ms",
            "a-priori: online flags, shadowing, autocorrelations, non-science intents",
            apriori,
        ),
        (
            "split",
            f"{eb}.ms.split",
            "as split: raw-stage user flags, Tsys/antpos applycal",
            split["flags_after_split"],
        ),
        (
            "user",
            f"{eb}.ms.split",
            f"edge channels, automatic low-gain flags ({user.get('automatic_flag_commands', 0)} "
            "line(s)) and split-stage user flags (what the solves see)",
            user,
        ),
        (
            "calibrated",
            f"{eb}.ms.split.cal",
            "after the final applycal (data without solutions flagged)",
            cal["flags_after_applycal"],
        ),
    ]
    return [
        {
            "stage": stage,
            "product": product,
            "description": description,
            "flagged_fraction": summary["flagged_fraction"],
            **{by: summary.get(by, {}) for by in ("antenna", "spw", "field", "correlation")},
        }
        for stage, product, description, summary in entries
    ]


def _solint_intervals(times: np.ndarray, solint: str) -> int:
    """Solution intervals of one solve chunk (one scan, or scans combined) with ``solint``."""
    solint = solint.split(",")[0].strip().lower()
    unique = np.unique(times)
    if solint == "int":
        return len(unique)
    if solint == "inf":
        return 1
    match = re.fullmatch(r"([\d.]+)\s*(s|min|h)?", solint)
    if not match:
        raise ValueError(f"solution interval {solint!r} not understood")
    seconds = float(match.group(1)) * {"s": 1, None: 1, "min": 60, "h": 3600}[match.group(2)]
    return len(np.unique(np.floor((unique - unique.min()) / seconds)))


def _data_intervals(ms: str) -> dict:
    """(field name, scan, spw) -> integration times of ``ms``."""
    from casatools import table

    fields, ddi_spw, _ = qa_common.ms_layout(ms)
    tb = table()
    tb.open(ms)
    try:
        time = tb.getcol("TIME")
        field = tb.getcol("FIELD_ID")
        scan = tb.getcol("SCAN_NUMBER")
        ddi = tb.getcol("DATA_DESC_ID")
    finally:
        tb.close()
    chunks = {}
    keys = np.stack([field, scan, ddi], axis=1)
    for f, s, d in np.unique(keys, axis=0):
        rows = (field == f) & (scan == s) & (ddi == d)
        chunks[(fields[int(f)], int(s), ddi_spw[int(d)])] = time[rows]
    return chunks


def _solution_counts(
    cal: qa_common.CalTable, expected_intervals: dict[int, int], n_antennas: int
) -> dict:
    """Per spw: expected, attempted (rows written) and succeeded (not all flagged) solutions."""
    per_spw = {}
    for spw in sorted(set(expected_intervals) | set(cal.spws)):
        rows = cal.spws.get(spw)
        attempted = 0 if rows is None else rows.flag.shape[2]
        succeeded = 0 if rows is None else int((~rows.flag.all(axis=(0, 1))).sum())
        expected = n_antennas * expected_intervals.get(spw, 0)
        per_spw[str(spw)] = {
            "expected": expected,
            "attempted": attempted,
            "succeeded": succeeded,
            "succeeded_fraction": round(succeeded / expected, 6) if expected else None,
            "flagged_parameter_fraction": (
                round(float(rows.flag.mean()), 6) if rows is not None else None
            ),
        }
    return per_spw


def _running_median(values: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    padded = np.pad(values, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return np.nanmedian(windows, axis=1)  # no all-NaN window: the centre value is finite


def _bandpass_scatter(cal: qa_common.CalTable, pols: list[str]) -> dict:
    """rms of amplitude and phase about a running median, per antenna, spw and polarization."""
    result = {"amplitude": {}, "phase_deg": {}}
    for spw, rows in sorted(cal.spws.items()):
        for row in range(rows.param.shape[2]):
            ant = cal.antennas[rows.antenna[row]]
            for pi in range(rows.param.shape[0]):
                good = ~rows.flag[pi, :, row]
                if good.sum() < RUNNING_MEDIAN:
                    continue
                gain = rows.param[pi, good, row]
                amp = np.abs(gain)
                phase = np.rad2deg(np.unwrap(np.angle(gain)))
                key = f"{ant} spw {spw} {pols[pi] if pi < len(pols) else pi}"
                amp_resid = amp / _running_median(amp, RUNNING_MEDIAN) - 1
                phase_resid = phase - _running_median(phase, RUNNING_MEDIAN)
                result["amplitude"][key] = round(float(np.sqrt(np.nanmean(amp_resid**2))), 6)
                result["phase_deg"][key] = round(float(np.sqrt(np.nanmean(phase_resid**2))), 4)
    return result


def _phase_rms(cal_ms: str, fields: list[str]) -> dict:
    """Per calibrator and spw: rms phase (about zero) and median amplitude, channel-averaged."""
    result: dict[str, dict[str, dict]] = {}
    for (field, spw), vis in sorted(qa_common.read_reduced_visibilities(cal_ms, fields).items()):
        values = vis.chan_avg[np.isfinite(vis.chan_avg)]
        if not values.size:
            continue
        phase = np.angle(values, deg=True)
        amp = np.abs(values)
        result.setdefault(field, {})[str(spw)] = {
            "phase_rms_deg": round(float(np.sqrt(np.mean(phase**2))), 4),
            "amplitude_median_jy": round(float(np.median(amp)), 6),
            "amplitude_scatter": round(float(np.std(amp) / np.mean(amp)), 6),
            "points": int(values.size),
        }
    return result


def _worst(mapping: dict) -> tuple[str, float] | tuple[None, None]:
    """(key, value) of the largest value of a flat dict."""
    items = [(k, v) for k, v in mapping.items() if v is not None]
    return max(items, key=lambda kv: kv[1]) if items else (None, None)


# Reading.


@dataclass
class Products:
    """What the summary reads from the measurement sets and caltables of one EB."""

    cross: dict  # cross-correlation flags of .ms.split (before the solves) and .ms.split.cal
    chunks: dict  # (field, scan, spw) -> integration times of .ms.split
    tables: dict[str, qa_common.CalTable]
    tsys: qa_common.CalTable | None
    calibrated: dict  # phase rms and amplitudes of the calibrated calibrators
    antennas: dict  # per-antenna checks (almacal.qa.antennas): check -> findings, worst first


def _read_products(
    eb: str,
    calibrators: list[str],
    phase_calibrators: list[str],
    pols: list[str],
    *,
    split: str,
    cal: str,
    caltables: dict[str, str],
    tsys: str | None,
    log: str,
    commands: str,
) -> Products:
    with CasaJob(log=log, commands=commands, title=f"QA summary of {eb}") as job:
        tables = {name: qa_common.read_caltable(path) for name, path in caltables.items()}
        tsys_table = qa_common.read_caltable(tsys) if tsys else None
        products = Products(
            cross={
                "before_solves": flag_summary(split, cross_only=True),
                "calibrated": flag_summary(cal, cross_only=True),
            },
            chunks=_data_intervals(split),
            tables=tables,
            tsys=tsys_table,
            calibrated=_phase_rms(cal, calibrators),
            antennas=antenna_checks(tables, tsys_table, cal, calibrators, phase_calibrators, pols),
        )
        job.note(f"read {split}, {cal}, {sorted(caltables.values())}, Tsys table {tsys}")
    return products


# Solution statistics.


def _solved_fields(name: str, eb: choices.EBChoices) -> list[str]:
    """The fields table ``name`` is solved on (as the solve rules select them)."""
    kind = TABLE_FIELDS[name]
    return eb.calibrators if kind == "calibrators" else eb.roles[kind]


def _expected_intervals(name: str, fields: list[str], chunks: dict, solint: str) -> dict[int, int]:
    """Per spw: solution intervals in the data the solve selects (scans combined or not)."""
    groups: dict[tuple, list[np.ndarray]] = {}
    for (field, scan, spw), times in chunks.items():
        if field in fields:
            key = (field, spw) if name in COMBINE_SCANS else (field, scan, spw)
            groups.setdefault(key, []).append(times)
    intervals: dict[int, int] = {}
    for key, times in groups.items():
        spw = key[-1]
        intervals[spw] = intervals.get(spw, 0) + _solint_intervals(np.concatenate(times), solint)
    return intervals


def _solution_statistics(
    products: Products, eb: choices.EBChoices, solints: dict[str, str]
) -> dict:
    """Per caltable of the solve table: expected, attempted and succeeded solutions per spw."""
    n_antennas = len(eb.metadata["antennas"])
    solutions = {}
    for name, table in products.tables.items():
        fields = _solved_fields(name, eb)
        intervals = _expected_intervals(name, fields, products.chunks, solints[name])
        solutions[name] = {
            "caltable": Path(table.path).name,
            "solint": solints[name],
            "combine": "scan" if name in COMBINE_SCANS else "",
            "fields": fields,
            "per_spw": _solution_counts(table, intervals, n_antennas),
        }
    return solutions


# Tsys statistics.


def _tsys_solutions(table: qa_common.CalTable, tsys_spwmap: str | None, md: dict) -> dict:
    """Solution counts of the Tsys table: one solution per antenna and Tsys scan."""
    tsys_spws = jsonio.load(tsys_spwmap)["tsys_spws"] if tsys_spwmap else sorted(table.spws)
    atm_scans = [s for s in md["scans"] if "CALIBRATE_ATMOSPHERE" in s["intents"]]
    intervals: dict[int, int] = {}
    if atm_scans:
        for scan in atm_scans:
            for spw in scan["spws"]:
                if spw in tsys_spws:
                    intervals[spw] = intervals.get(spw, 0) + 1
        solint = "one per CALIBRATE_ATMOSPHERE scan"
        fields = sorted({s["field"] for s in atm_scans})
    else:  # no scan intents: the Tsys scans are those the table holds
        for spw, rows in table.spws.items():
            intervals[spw] = len(np.unique(rows.scan))
        solint = "one per Tsys scan (scans of the Tsys table: the data carry no intents)"
        fields = sorted(
            {table.fields[int(f)] for rows in table.spws.values() for f in np.unique(rows.field)}
        )
    return {
        "caltable": Path(table.path).name,
        "solint": solint,
        "combine": "",
        "fields": fields,
        "per_spw": _solution_counts(table, intervals, len(md["antennas"])),
    }


def _tsys_statistics(corrections: str) -> dict:
    """Median Tsys per antenna and spw and of the array (computed once, in corrections.json)."""
    tsys = jsonio.load(corrections)["tsys"]
    return {k: tsys[k] for k in ("median_k", "array_median_k")}


# Fluxscale and flags per stage.


def _automatic_flags(
    tsysflag: str | None,
    tsysflag_file: str | None,
    lowgainflag: str | None = None,
    lowgainflag_file: str | None = None,
    correctedampflag: str | None = None,
    correctedampflag_file: str | None = None,
) -> dict:
    """What each automatic flagging heuristic decided: per heuristic its tests, the lines it
    wrote (the flag file's text, for the report) and the fraction of its data they flag."""
    out = {}
    for name, figures, flag_file, data in (
        ("tsys", tsysflag, tsysflag_file, "Tsys spectra's channels"),
        ("low-gain", lowgainflag, lowgainflag_file, "cross-correlations of .ms.split"),
        (
            "calibrator outliers",
            correctedampflag,
            correctedampflag_file,
            "science-spw cross-correlation rows of .ms.split",
        ),
    ):
        if not figures:
            continue
        found = jsonio.load(figures)
        out[name] = {
            "file": Path(flag_file).name,
            "text": Path(flag_file).read_text(),
            "tests": found["tests"],
            "per_test": found["per_test"],
            "flagged_fraction": found["flagged_fraction"],
            "data": data,
            "lines": [{"test": f["test"], "command": f["command"]} for f in found["flags"]],
        }
    return out


SOURCE_TABLE = "ASDM Source table"  # almacal.calibration.setjy_flux_model: a model's "source"
MIN_SPWS_FOR_SPECTRUM = 3  # a power law fits two spws exactly


def _spwphaseup(decision: str | None) -> dict | None:
    """The spwphaseup decision as the report shows it: per spw the phase SNR and the spw whose
    phase solutions it takes, with the reason; the threshold and the spwmap."""
    if decision is None:
        return None
    d = jsonio.load(decision)
    return {
        "mode": d["mode"],
        "phasesnr": d["phasesnr"],
        "solint": d["solint"],
        "spwmap": d["spwmap"],
        "best_spw_below_threshold": d["best_spw_below_threshold"],
        "spws": [
            {
                "spw": s["spw"],
                "baseband": s["baseband"],
                "snr": s["snr"],
                "mapped_to": s["mapped_to"],
                "reason": d["reasons"][str(s["spw"])],
            }
            for s in d["spws"]
        ],
    }


def _flux_origin(models: list[dict]) -> dict:
    """Where the flux calibrator's models came from: per origin, the field and spws."""
    origins: dict[str, list[str]] = {}
    for m in models:
        origins.setdefault(m["source"], []).append(f"{m['field']} spw {m['spw']}")
    return origins


def _spectrum_deviations(fluxes: dict) -> dict:
    """Per transfer field and spw (three spws or more): |S / fitted power law - 1|."""
    deviations = {}
    for field, entry in fluxes.items():
        fit, spws = entry["fit"], entry["spws"]
        if len(spws) < MIN_SPWS_FOR_SPECTRUM or not fit.get("flux_jy"):
            continue
        for spw, v in spws.items():
            model = fit["flux_jy"] * (v["freq_hz"] / fit["reffreq_hz"]) ** fit["spix"]
            deviations[f"{field} spw {spw} ({v['flux_jy']:.4g} Jy vs fit {model:.4g} Jy)"] = abs(
                v["flux_jy"] / model - 1
            )
    return deviations


def _flux_scores(eb: str, fluxes: dict, models: list[dict]) -> list[dict]:
    scores = _worst_score(
        "fluxscale_error",
        eb,
        {
            f"{field} spw {spw}": v["fractional_error"]
            for field, entry in fluxes.items()
            for spw, v in entry["spws"].items()
        },
    )
    scores += _worst_score("fluxscale_spectrum", eb, _spectrum_deviations(fluxes))
    if models:
        origins = _flux_origin(models)
        from_table = len(origins.get(SOURCE_TABLE, [])) / len(models)
        subject = "; ".join(f"{origin}: {', '.join(items)}" for origin, items in origins.items())
        scores.append(qa_scores.make_score("flux_calibrator_origin", eb, from_table, subject))
    return scores


def _fluxes(flux: dict) -> dict:
    """fluxscale's flux densities per field and spw, with their fractional errors, and the fit."""

    def with_error(values: dict) -> dict:
        error = round(values["error_jy"] / values["flux_jy"], 6) if values["flux_jy"] else None
        return {**values, "fractional_error": error}

    return {
        field: {
            "spws": {spw: with_error(v) for spw, v in entry["spws"].items()},
            "fit": entry["fit"],
        }
        for field, entry in flux["fields"].items()
    }


def _flag_stages(
    eb: str, *, apriori: str, split_summary: str, user_flags: str, cal_summary: str
) -> list[dict]:
    return _stages(
        eb,
        jsonio.load(apriori),
        jsonio.load(split_summary),
        jsonio.load(user_flags),
        jsonio.load(cal_summary),
    )


# Scores.


def _flag_scores(eb: str, cross: dict) -> list[dict]:
    after = cross["calibrated"]
    by_calibration = max(
        0.0, after["flagged_fraction"] - cross["before_solves"]["flagged_fraction"]
    )
    scores = [
        qa_scores.make_score("flagged_fraction", eb, after["flagged_fraction"], "all data"),
        qa_scores.make_score("flagged_by_calibration", eb, by_calibration, "all data"),
    ]
    per_ant = after["antenna"]
    if per_ant:
        median = float(np.median(list(per_ant.values())))
        ant, worst = _worst({a: f - median for a, f in per_ant.items()})
        subject = f"{ant} ({per_ant[ant]:.3f} vs median {median:.3f})"
        scores.append(qa_scores.make_score("antenna_flagging", eb, worst, subject))
    return scores


def _solution_scores(eb: str, solutions: dict) -> list[dict]:
    ratios = {
        f"{name} spw {spw}": entry["succeeded_fraction"]
        for name, table in solutions.items()
        for spw, entry in table["per_spw"].items()
        if entry["succeeded_fraction"] is not None
    }
    if not ratios:
        return []
    key = min(ratios, key=ratios.get)
    return [qa_scores.make_score("solutions_succeeded", eb, ratios[key], key)]


def _worst_score(check: str, eb: str, values: dict) -> list[dict]:
    """The score of the largest value of ``values`` (subject -> value); none when empty."""
    key, worst = _worst(values)
    return [] if key is None else [qa_scores.make_score(check, eb, worst, key)]


def _scores(
    eb: str,
    cross: dict,
    solutions: dict,
    bandpass: dict | None,
    calibrated: dict,
    fluxes: dict,
    flux_models: list[dict],
    antennas: dict,
    check_source: dict | None = None,
    wvr: dict | None = None,
) -> list[dict]:
    """Every EB-scope check of ``almacal.qa.scores.CHECKS``, worst first (the per-antenna ones,
    Tsys level included, from ``antennas``: almacal.qa.antennas)."""
    scores = _flag_scores(eb, cross) + _solution_scores(eb, solutions)
    if bandpass:
        scores += _worst_score("bandpass_amplitude_scatter", eb, bandpass["amplitude"])
        scores += _worst_score("bandpass_phase_scatter", eb, bandpass["phase_deg"])
    scores += _worst_score(
        "calibrated_phase_rms",
        eb,
        {
            f"{field} spw {spw}": v["phase_rms_deg"]
            for field, spws in calibrated.items()
            for spw, v in spws.items()
        },
    )
    scores += _flux_scores(eb, fluxes, flux_models)
    scores += antenna_scores(eb, antennas)
    if check_source:  # <eb>.check_source.json (qa_check_source): worst check source
        scores += check_source_scores(eb, check_source["fits"])
    if wvr and wvr.get("improvement") is not None:  # {eb}.corrections.json: EBs with WVR data
        subject = "calibrators, WVR " + ("applied" if wvr["applied"] else "not applied")
        scores.append(qa_scores.make_score("wvr_improvement", eb, wvr["improvement"], subject))
    return qa_scores.worst_first(scores)


# The job.


def qa_eb_summary(
    *,
    apriori: str,
    split_summary: str,
    user_flags: str,
    cal_summary: str,
    fluxscale: str,
    split: str,
    cal: str,
    caltables: dict[str, str],
    tsys: str | None,
    tsys_spwmap: str | None,
    corrections: str,
    solints: dict[str, str],
    eb_choices: str,
    summary: str,
    log: str,
    commands: str,
    check_source: str | None = None,
    tsysflag: str | None = None,
    tsysflag_file: str | None = None,
    lowgainflag: str | None = None,
    lowgainflag_file: str | None = None,
    correctedampflag: str | None = None,
    correctedampflag_file: str | None = None,
    spwphaseup: str | None = None,
) -> None:
    ebc = choices.load(eb_choices)
    md = ebc.metadata
    eb = qa_common.eb_name(md)
    products = _read_products(
        eb,
        ebc.calibrators,
        ebc.roles["phase"],
        qa_common.receptors(md),
        split=split,
        cal=cal,
        caltables=caltables,
        tsys=tsys,
        log=log,
        commands=commands,
    )
    solutions = _solution_statistics(products, ebc, solints)
    tsys_stats = None
    if products.tsys is not None:
        solutions["tsys"] = _tsys_solutions(products.tsys, tsys_spwmap, md)
        tsys_stats = _tsys_statistics(corrections)
        products.antennas["tsys_level"] = findings_json(tsys_levels(**tsys_stats))
    bandpass = (
        _bandpass_scatter(products.tables["bandpass"], qa_common.receptors(md))
        if "bandpass" in products.tables
        else None
    )
    flux = jsonio.load(fluxscale)
    fluxes = _fluxes(flux)
    flux_models = jsonio.load(corrections)["flux_models"]  # setjy's, with their origin
    stages = _flag_stages(
        eb,
        apriori=apriori,
        split_summary=split_summary,
        user_flags=user_flags,
        cal_summary=cal_summary,
    )
    checked = jsonio.load(check_source) if check_source else None
    Path(summary).parent.mkdir(parents=True, exist_ok=True)
    jsonio.write(
        summary,
        {
            "eb": eb,
            "field_roles": ebc.roles,
            "choices": jsonio.load(eb_choices),
            "antennas": [a["name"] for a in md["antennas"]],
            "flagging": {
                "stages": stages,
                "cross_correlations": products.cross,
                "automatic": _automatic_flags(
                    tsysflag,
                    tsysflag_file,
                    lowgainflag,
                    lowgainflag_file,
                    correctedampflag,
                    correctedampflag_file,
                ),
            },
            "solutions": solutions,
            "spwphaseup": _spwphaseup(spwphaseup),
            "fluxscale": {
                "reference": flux["reference"],
                "transfer": flux["transfer"],
                "fields": fluxes,
                "model_origin": _flux_origin(flux_models),
                "spectrum_deviation": _spectrum_deviations(fluxes),
            },
            "calibrated_calibrators": products.calibrated,
            "tsys": tsys_stats,
            "bandpass_scatter": bandpass,
            "check_source": checked,
            "antenna_checks": products.antennas,
            "scores": _scores(
                eb,
                products.cross,
                solutions,
                bandpass,
                products.calibrated,
                fluxes,
                flux_models,
                products.antennas,
                checked,
                jsonio.load(corrections)["wvr"],
            ),
        },
    )
