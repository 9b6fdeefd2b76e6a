"""QA numbers of one EB in one JSON: flags per stage, solution statistics, fluxscale, calibrated
calibrator phase rms, Tsys and bandpass statistics, and the QA scores worst-first.

Flag fractions per stage come from the flagdata summaries the calibration jobs wrote; the
cross-correlation fractions, the solution counts and the phase rms are read here from the
measurement sets and caltables with casatools.
"""

import re
from pathlib import Path

import numpy as np

from almacal import choices, jsonio
from almacal.qa import common as qa_common
from almacal.casa_job import CasaJob

# Which fields each caltable is solved on (workflow/rules/calibrate.smk), and which solves
# combine scans (bandpass: combine='scan').
TABLE_FIELDS = {
    "ap_pre_bandpass": "bandpass",
    "bandpass": "bandpass",
    "phase_int": "calibrators",
    "phase_inf": "calibrators",
    "ampli_inf": "calibrators",
    "flux_inf": "calibrators",
}
COMBINE_SCANS = {"bandpass"}
RUNNING_MEDIAN = 9  # channels
CHUNK_ROWS = 20000


def _stages(eb: str, apriori: dict, split: dict, user: dict, cal: dict) -> list[dict]:
    entries = [
        ("apriori", f"{eb}.ms", "a-priori: online flags, shadowing, autocorrelations, "
         "non-science intents", apriori),
        ("split", f"{eb}.ms.split", "as split: raw-stage user flags, Tsys/antpos applycal",
         split["flags_after_split"]),
        ("user", f"{eb}.ms.split", "edge channels and split-stage user flags (what the solves "
         "see)", user),
        ("calibrated", f"{eb}.ms.split.cal", "after the final applycal (data without solutions "
         "flagged)", cal["flags_after_applycal"]),
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


def _cross_flags(ms: str, antennas: list[str]) -> dict:
    """Flagged fraction of the cross-correlations of ``ms``: total, per antenna, field and spw."""
    from casatools import table

    fields, ddi_spw, _ = qa_common.ms_layout(ms)
    flagged = {"antenna": {}, "field": {}, "spw": {}}
    total = {"antenna": {}, "field": {}, "spw": {}}
    tb = table()
    tb.open(ms)
    try:
        for ddi in sorted(int(d) for d in np.unique(tb.getcol("DATA_DESC_ID"))):
            sub = tb.query(f"DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2")
            try:
                n = sub.nrows()
                per_row = np.zeros(n)
                size = 0.0
                for start in range(0, n, CHUNK_ROWS):  # bounded memory on large MSs
                    flag = sub.getcol("FLAG", startrow=start, nrow=min(CHUNK_ROWS, n - start))
                    per_row[start : start + flag.shape[2]] = flag.sum(axis=(0, 1))
                    size = float(flag.shape[0] * flag.shape[1])  # [corr, chan, row]
                keys = {
                    "antenna": (sub.getcol("ANTENNA1"), sub.getcol("ANTENNA2")),
                    "field": (sub.getcol("FIELD_ID"),),
                }
            finally:
                sub.close()
            if n == 0:
                continue
            spw = str(ddi_spw[ddi])
            flagged["spw"][spw] = flagged["spw"].get(spw, 0.0) + per_row.sum()
            total["spw"][spw] = total["spw"].get(spw, 0.0) + size * n
            for by, columns in keys.items():
                names = antennas if by == "antenna" else fields
                for column in columns:
                    for index in np.unique(column):
                        rows = column == index
                        name = names[int(index)]
                        flagged[by][name] = flagged[by].get(name, 0.0) + per_row[rows].sum()
                        total[by][name] = total[by].get(name, 0.0) + size * rows.sum()
    finally:
        tb.close()
    n_flagged = sum(flagged["spw"].values())
    n_total = sum(total["spw"].values())
    return {
        "flagged_fraction": round(n_flagged / n_total, 6) if n_total else 0.0,
        "total": n_total,
        **{
            by: {k: round(flagged[by][k] / total[by][k], 6) for k in sorted(total[by])}
            for by in flagged
        },
    }


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


def qa_eb_summary(
    *,
    metadata: str,
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
    field_roles: dict,
    summary: str,
    log: str,
    commands: str,
) -> None:
    md = jsonio.load(metadata)
    eb = qa_common.eb_name(md)
    roles = choices.field_roles(md, field_roles)
    calibrators = choices.calibrator_fields(roles)
    antennas = [a["name"] for a in md["antennas"]]
    pols = qa_common.receptors(md)
    with CasaJob(log=log, commands=commands, title=f"QA summary of {eb}") as job:
        cross = {
            "before_solves": _cross_flags(split, antennas),
            "calibrated": _cross_flags(cal, antennas),
        }
        chunks = _data_intervals(split)
        tables = {name: qa_common.read_caltable(path) for name, path in caltables.items()}
        tsys_table = qa_common.read_caltable(tsys) if tsys else None
        calibrated = _phase_rms(cal, calibrators)
        job.note(f"read {split}, {cal}, {sorted(caltables.values())}, Tsys table {tsys}")

    # Solution statistics: expected intervals from the data the solve selects.
    solutions = {}
    for name, table in tables.items():
        fields = roles["bandpass"] if TABLE_FIELDS[name] == "bandpass" else calibrators
        solint = solints[name]
        intervals: dict[int, int] = {}
        groups: dict[tuple, list[np.ndarray]] = {}
        for (field, scan, spw), times in chunks.items():
            if field in fields:
                key = (field, spw) if name in COMBINE_SCANS else (field, scan, spw)
                groups.setdefault(key, []).append(times)
        for key, times in groups.items():
            spw = key[-1]
            n = _solint_intervals(np.concatenate(times), solint)
            intervals[spw] = intervals.get(spw, 0) + n
        solutions[name] = {
            "caltable": Path(table.path).name,
            "solint": solint,
            "combine": "scan" if name in COMBINE_SCANS else "",
            "fields": fields,
            "per_spw": _solution_counts(table, intervals, len(antennas)),
        }
    tsys_stats = None
    if tsys_table is not None:
        tsys_spws = (
            jsonio.load(tsys_spwmap)["tsys_spws"] if tsys_spwmap
            else sorted(tsys_table.spws)
        )
        atm_scans = [s for s in md["scans"] if "CALIBRATE_ATMOSPHERE" in s["intents"]]
        intervals = {}
        if atm_scans:
            for scan in atm_scans:
                for spw in scan["spws"]:
                    if spw in tsys_spws:
                        intervals[spw] = intervals.get(spw, 0) + 1
            solint = "one per CALIBRATE_ATMOSPHERE scan"
            fields = sorted({s["field"] for s in atm_scans})
        else:  # no scan intents: the Tsys scans are those the table holds
            for spw, rows in tsys_table.spws.items():
                intervals[spw] = len(np.unique(rows.scan))
            solint = "one per Tsys scan (scans of the Tsys table: the data carry no intents)"
            fields = sorted({tsys_table.fields[int(f)] for rows in tsys_table.spws.values()
                             for f in np.unique(rows.field)})
        solutions["tsys"] = {
            "caltable": Path(tsys_table.path).name,
            "solint": solint,
            "combine": "",
            "fields": fields,
            "per_spw": _solution_counts(tsys_table, intervals, len(antennas)),
        }
        tsys_stats = {k: jsonio.load(corrections)["tsys"][k]
                      for k in ("median_k", "array_median_k")}
    bandpass = _bandpass_scatter(tables["bandpass"], pols) if "bandpass" in tables else None

    flux = jsonio.load(fluxscale)
    fluxes = {}
    for field, entry in flux["fields"].items():
        fluxes[field] = {
            "spws": {
                spw: {**values, "fractional_error": round(values["error_jy"] / values["flux_jy"], 6)
                      if values["flux_jy"] else None}
                for spw, values in entry["spws"].items()
            },
            "fit": entry["fit"],
        }
    stages = _stages(
        eb,
        jsonio.load(apriori),
        jsonio.load(split_summary),
        jsonio.load(user_flags),
        jsonio.load(cal_summary),
    )

    # Scores.
    scores = []
    after = cross["calibrated"]
    scores.append(
        qa_common.make_score("flagged_fraction", eb, after["flagged_fraction"], "all data")
    )
    scores.append(
        qa_common.make_score(
            "flagged_by_calibration",
            eb,
            max(0.0, after["flagged_fraction"] - cross["before_solves"]["flagged_fraction"]),
            "all data",
        )
    )
    per_ant = after["antenna"]
    if per_ant:
        median = float(np.median(list(per_ant.values())))
        ant, worst = _worst({a: f - median for a, f in per_ant.items()})
        scores.append(
            qa_common.make_score("antenna_flagging", eb, worst, f"{ant} ({per_ant[ant]:.3f} vs "
                                 f"median {median:.3f})")
        )
    ratios = {
        f"{name} spw {spw}": entry["succeeded_fraction"]
        for name, table in solutions.items()
        for spw, entry in table["per_spw"].items()
        if entry["succeeded_fraction"] is not None
    }
    if ratios:
        key = min(ratios, key=ratios.get)
        scores.append(qa_common.make_score("solutions_succeeded", eb, ratios[key], key))
    if bandpass:
        for check, values in (("bandpass_amplitude_scatter", bandpass["amplitude"]),
                              ("bandpass_phase_scatter", bandpass["phase_deg"])):
            key, worst = _worst(values)
            if key is not None:
                scores.append(qa_common.make_score(check, eb, worst, key))
    rms = {f"{field} spw {spw}": v["phase_rms_deg"] for field, spws in calibrated.items()
           for spw, v in spws.items()}
    key, worst = _worst(rms)
    if key is not None:
        scores.append(qa_common.make_score("calibrated_phase_rms", eb, worst, key))
    if tsys_stats:
        factors = {}
        for ant, spws in tsys_stats["median_k"].items():
            for spw, value in spws.items():
                ref = tsys_stats["array_median_k"][spw]
                if ref and value:
                    key = f"{ant} spw {spw} ({value:.0f} K vs {ref:.0f} K)"
                    factors[key] = max(value / ref, ref / value)
        key, worst = _worst(factors)
        if key is not None:
            scores.append(qa_common.make_score("tsys_outlier", eb, worst, key))
    errors = {
        f"{field} spw {spw}": v["fractional_error"]
        for field, entry in fluxes.items()
        for spw, v in entry["spws"].items()
    }
    key, worst = _worst(errors)
    if key is not None:
        scores.append(qa_common.make_score("fluxscale_error", eb, worst, key))

    qa_common.write_json(
        summary,
        {
            "eb": eb,
            "field_roles": roles,
            "antennas": antennas,
            "flagging": {"stages": stages, "cross_correlations": cross},
            "solutions": solutions,
            "fluxscale": {"reference": flux["reference"], "transfer": flux["transfer"],
                          "fields": fluxes},
            "calibrated_calibrators": calibrated,
            "tsys": tsys_stats,
            "bandpass_scatter": bandpass,
            "scores": qa_common.worst_first(scores),
        },
    )
