"""Per-antenna QA: which antenna, spw and time (or channels) a fault is in.

The EB-wide checks take worst cases over the whole EB, which one bad antenna need not reach. These
compare each antenna with the rest of the array at the same time, in the products the
calibration made anyway:

- phase jumps: the phase-calibrator solutions of ``phase_inf`` (one per scan), antenna by antenna
  in time order; the step between consecutive solutions minus the array's median step at that
  time (which removes the reference antenna's own jump and what the whole array shares). A
  phase that jumps between two phase-calibrator scans corrupts the target in between, and no
  solve can repair it.
- low (or high) gain: the median amplitude of ``ampli_inf`` per antenna and spw over the median of
  the antennas of the same dish size: the ALMA pipeline's hif_lowgainflag flags gains outside
  0.5-1.5 x the median. After the Tsys calibration the amplitude gains of one dish size agree;
  what departs is the antenna's efficiency (focus, pointing, a bad IF).
- noise beyond the weights: in the calibrated calibrators of ``<eb>.ms.split.cal``, the
  channel-to-channel difference of the visibilities (the source is smooth across channels)
  scaled by the weights: median |V(c+1) - V(c)|^2 WEIGHT per baseline, per antenna the median over
  its baselines, over the median antenna of its dish size; the square root of that is the
  antenna's noise over what its Tsys and gains predict (1 for every healthy antenna).
- Tsys spectral outliers (the "birdie" test of the pipeline's hifa_tsysflag): each Tsys spectrum
  over its own median, divided by the array's median normalised spectrum of that spw, scan and
  polarisation (which removes the atmosphere's lines): a narrow spike of one antenna stands out
  as a factor above 1 in the channels it hits.

Each check reports every antenna with its worst value; the EB's score is the worst antenna's
(``almacal.qa.scores``), with the others listed in the summary.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from almacal.qa import common as qa_common
from almacal.qa import scores as qa_scores

# below this an antenna is scored even when it is not the worst: the lower edge of the blue band
WARN_BELOW = dict(qa_scores.SCORE_BANDS)["s-ok"]


@dataclass
class Finding:
    """One antenna's worst value of a check, and where it is (spw, polarization, time, channels)."""

    antenna: str
    value: float
    where: str


def _utc(seconds: float) -> str:
    return str(qa_common.mjd_seconds_to_datetime(np.array([seconds]))[0])[11:19]


def _nanmedian(values: np.ndarray, **kwargs) -> np.ndarray:
    """np.nanmedian without the warning of all-NaN slices (flagged data: NaN stays NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, **kwargs)


def _column_nanmedian(values: np.ndarray) -> np.ndarray:
    """np.nanmedian(values, axis=0) of a 2-d array, by one sort (NaN sorts last): the same
    values, several times faster on the QA's chunks of visibilities."""
    ordered = np.sort(values, axis=0)
    finite = np.isfinite(values).sum(axis=0)
    low = np.take_along_axis(ordered, np.maximum(finite - 1, 0)[None, :] // 2, axis=0)[0]
    high = np.take_along_axis(ordered, (finite // 2)[None, :], axis=0)[0]
    return np.where(finite > 0, 0.5 * (low + high), np.nan)


def _wrap(deg: np.ndarray) -> np.ndarray:
    return (deg + 180.0) % 360.0 - 180.0


def _worst_per_antenna(candidates: list[Finding]) -> list[Finding]:
    """The largest value of each antenna, largest first."""
    best: dict[str, Finding] = {}
    for c in candidates:
        if math.isfinite(c.value) and (c.antenna not in best or c.value > best[c.antenna].value):
            best[c.antenna] = c
    return sorted(best.values(), key=lambda c: -c.value)


def phase_jumps(table: qa_common.CalTable, fields: list[str], pols: list[str]) -> list[Finding]:
    """Per antenna: the largest phase step between consecutive solutions of ``fields`` (degrees)
    beyond the array's median step at that time."""
    field_ids = [i for i, name in enumerate(table.fields) if name in fields]
    found = []
    for spw, rows in sorted(table.spws.items()):
        on_field = np.isin(rows.field, field_ids)
        times = np.unique(rows.time[on_field])
        if len(times) < 2:
            continue
        nant, npol = len(table.antennas), rows.param.shape[0]
        phase = np.full((nant, npol, len(times)), np.nan)
        scan = np.zeros(len(times), int)
        for r in np.flatnonzero(on_field):
            k = np.searchsorted(times, rows.time[r])
            scan[k] = rows.scan[r]
            good = ~rows.flag[:, 0, r]
            phase[rows.antenna[r], good, k] = np.angle(rows.param[good, 0, r], deg=True)
        step = _wrap(np.diff(phase, axis=2))  # [ant, pol, step]
        common = _nanmedian(step, axis=0)
        excess = np.abs(_wrap(step - common[None]))
        for ant in range(nant):
            for pi in range(npol):
                if np.all(np.isnan(excess[ant, pi])):
                    continue
                k = int(np.nanargmax(excess[ant, pi]))
                pol = pols[pi] if pi < len(pols) else str(pi)
                found.append(
                    Finding(
                        table.antennas[ant],
                        float(excess[ant, pi, k]),
                        f"spw {spw} {pol}: {step[ant, pi, k]:+.0f} deg vs the array's "
                        f"{common[pi, k]:+.0f} deg between {_utc(times[k])} and "
                        f"{_utc(times[k + 1])} UTC (scans {scan[k]} and {scan[k + 1]})",
                    )
                )
    return _worst_per_antenna(found)


def gain_amplitudes(table: qa_common.CalTable, dish_m: list[float]) -> list[Finding]:
    """Per antenna: |median gain amplitude / median of its dish size - 1| (worst spw);
    ``dish_m`` is indexed by antenna id."""
    found = []
    for spw, rows in sorted(table.spws.items()):
        amp = np.ma.masked_array(np.abs(rows.param[:, 0, :]), rows.flag[:, 0, :])
        per_ant = {}
        for ant in np.unique(rows.antenna):
            values = amp[:, rows.antenna == ant].compressed()
            if values.size:
                per_ant[int(ant)] = float(np.median(values))
        for ant, value in per_ant.items():
            peers = [v for a, v in per_ant.items() if _dish(dish_m, a) == _dish(dish_m, ant)]
            ref = float(np.median(peers))
            if ref > 0:
                found.append(
                    Finding(
                        table.antennas[ant],
                        abs(value / ref - 1),
                        f"spw {spw}: median gain amplitude {value / ref:.2f} x that of the "
                        f"{len(peers)} antennas of its dish size",
                    )
                )
    return _worst_per_antenna(found)


def tsys_spectral_outliers(table: qa_common.CalTable, pols: list[str]) -> list[Finding]:
    """Per antenna: the largest factor of a Tsys spectrum over the array's normalised median
    spectrum (same spw, time and polarization), with the channels above half of that factor."""
    found = []
    for spw, rows in sorted(table.spws.items()):
        tsys = np.where(rows.flag, np.nan, rows.param.astype(float))  # [pol, chan, row]
        norm = tsys / _nanmedian(tsys, axis=1, keepdims=True)
        for t in np.unique(rows.time):
            at = np.flatnonzero(rows.time == t)
            ref = _nanmedian(norm[:, :, at], axis=2)  # [pol, chan]
            ratio = norm[:, :, at] / ref[:, :, None]
            for j, r in enumerate(at):
                for pi in range(ratio.shape[0]):
                    spectrum = ratio[pi, :, j]
                    if np.all(np.isnan(spectrum)):
                        continue
                    peak = float(np.nanmax(spectrum))
                    hit = np.flatnonzero(spectrum - 1 > (peak - 1) / 2)
                    pol = pols[pi] if pi < len(pols) else str(pi)
                    found.append(
                        Finding(
                            table.antennas[rows.antenna[r]],
                            peak,
                            f"spw {spw} {pol} channels {hit[0]}~{hit[-1]}: Tsys {peak:.2f} x "
                            f"the array's spectrum (scan {rows.scan[r]})",
                        )
                    )
    return _worst_per_antenna(found)


def antenna_names_and_dishes(ms: str) -> tuple[list[str], list[float]]:
    """Names and dish diameters (m) of the ANTENNA table, indexed by antenna id (names need
    not be unique: real MSs repeat them)."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/ANTENNA")
    try:
        return list(tb.getcol("NAME")), [float(d) for d in tb.getcol("DISH_DIAMETER")]
    finally:
        tb.close()


def _dish(dish_m: list[float], ant: int) -> float:
    """Dish diameter of antenna id ``ant`` (0 for an id beyond the ANTENNA table)."""
    return dish_m[ant] if 0 <= ant < len(dish_m) else 0.0


def _name(names: list[str], ant: int) -> str:
    """Name of antenna id ``ant`` (its id for one beyond the ANTENNA table)."""
    return names[ant] if 0 <= ant < len(names) else str(ant)


def noise_over_weights(cal_ms: str, fields: list[str]) -> list[Finding]:
    """Per antenna: its visibility noise over what the weights predict, relative to the median
    antenna of its dish size (channel-to-channel differences of the calibrated ``fields``)."""
    from casatools import table

    names, ddi_spw, _ = qa_common.ms_layout(cal_ms)
    field_ids = [i for i, n in enumerate(names) if n in fields]
    antennas, dish_m = antenna_names_and_dishes(cal_ms)
    tb = table()
    tb.open(cal_ms)
    per_baseline: dict[tuple[int, int, int], list[np.ndarray]] = {}
    try:
        for ddi in sorted(int(d) for d in np.unique(tb.getcol("DATA_DESC_ID"))):
            sub = tb.query(
                f"FIELD_ID IN {field_ids} && DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2 "
                "&& !FLAG_ROW",
                columns="ANTENNA1,ANTENNA2,DATA,FLAG,WEIGHT",
            )
            try:
                _noise_rows(sub, ddi_spw[ddi], per_baseline)
            finally:
                sub.close()
    finally:
        tb.close()
    return _antenna_noise(per_baseline, antennas, dish_m)


def _noise_rows(sub, spw: int, per_baseline: dict) -> None:
    """Add each row's median |dV|^2 WEIGHT to its (antenna1, antenna2, spw)."""
    n = sub.nrows()
    if n == 0:
        return
    per_row = int(np.prod(sub.getcell("FLAG", 0).shape))
    for start, nrow in qa_common.row_chunks(n, per_row):
        data = sub.getcol("DATA", startrow=start, nrow=nrow)  # [corr, chan, row]
        flag = sub.getcol("FLAG", startrow=start, nrow=nrow)
        weight = sub.getcol("WEIGHT", startrow=start, nrow=nrow)  # [corr, row]
        diff = np.abs(np.diff(data, axis=1)) ** 2 * weight[:, None, :]
        bad = flag[:, 1:, :] | flag[:, :-1, :]
        values = np.where(bad, np.nan, diff).reshape(-1, nrow)
        row_median = _column_nanmedian(values)
        a1 = sub.getcol("ANTENNA1", startrow=start, nrow=nrow)
        a2 = sub.getcol("ANTENNA2", startrow=start, nrow=nrow)
        for key in set(zip(a1.tolist(), a2.tolist())):
            rows = (a1 == key[0]) & (a2 == key[1])
            per_baseline.setdefault((*key, spw), []).append(row_median[rows])


def _antenna_noise(per_baseline: dict, antennas: list[str], dish: list[float]) -> list[Finding]:
    found = []
    spws = sorted({spw for _, _, spw in per_baseline})
    for spw in spws:
        level: dict[int, list[float]] = {}
        for (a1, a2, w), chunks in per_baseline.items():
            if w != spw:
                continue
            values = np.concatenate(chunks)
            values = values[np.isfinite(values)]
            if values.size:
                median = float(np.median(values))
                level.setdefault(a1, []).append(median)
                level.setdefault(a2, []).append(median)
        antenna_level = {a: float(np.median(v)) for a, v in level.items()}
        for ant, value in antenna_level.items():
            peers = [v for a, v in antenna_level.items() if _dish(dish, a) == _dish(dish, ant)]
            ref = float(np.median(peers))
            if ref > 0:
                factor = math.sqrt(value / ref)
                found.append(
                    Finding(
                        _name(antennas, ant),
                        factor,
                        f"spw {spw}: noise {factor:.2f} x what its weights predict (median "
                        f"antenna of its dish size: 1)",
                    )
                )
    return _worst_per_antenna(found)


def tsys_levels(median_k: dict, array_median_k: dict) -> list[Finding]:
    """Per antenna: its median Tsys over (or under) the array median of that spw, as a factor
    >= 1 (worst spw); the medians of ``almacal.qa.common.tsys_medians``."""
    found = []
    for ant, spws in median_k.items():
        for spw, value in spws.items():
            ref = array_median_k.get(spw)
            if ref and value:
                found.append(
                    Finding(
                        ant,
                        max(value / ref, ref / value),
                        f"spw {spw} ({value:.0f} K vs {ref:.0f} K)",
                    )
                )
    return _worst_per_antenna(found)


def findings_json(findings: list[Finding]) -> list[dict]:
    return [{"antenna": f.antenna, "value": round(f.value, 4), "where": f.where} for f in findings]


# The checks of one EB, and their scores.

CHECK_OF = {
    "tsys_level": "tsys_outlier",
    "phase_jump": "antenna_phase_jump",
    "gain_amplitude": "antenna_gain_amplitude",
    "noise": "antenna_noise",
    "tsys_spectrum": "tsys_spectral_outlier",
}


def antenna_checks(
    tables: dict[str, qa_common.CalTable],
    tsys: qa_common.CalTable | None,
    cal_ms: str,
    calibrators: list[str],
    phase_calibrators: list[str],
    pols: list[str],
) -> dict[str, list[dict]]:
    """Every per-antenna check of an EB: check -> one finding per antenna, worst first."""
    found = {
        "phase_jump": phase_jumps(tables["phase_inf"], phase_calibrators, pols),
        "gain_amplitude": gain_amplitudes(tables["ampli_inf"], antenna_names_and_dishes(cal_ms)[1]),
        "noise": noise_over_weights(cal_ms, calibrators),
    }
    if tsys is not None:
        found["tsys_spectrum"] = tsys_spectral_outliers(tsys, pols)
    return {
        name: [
            {"antenna": f.antenna, "value": round(f.value, 4), "where": f.where} for f in findings
        ]
        for name, findings in found.items()
    }


def antenna_scores(eb: str, checks: dict[str, list[dict]]) -> list[dict]:
    """Per check: the score of the worst antenna, and of every other antenna scoring below
    the warning band (0.66), so that each bad antenna is named."""
    scores = []
    for name, findings in checks.items():
        for rank, finding in enumerate(findings):
            entry = qa_scores.make_score(
                CHECK_OF[name], eb, finding["value"], f"{finding['antenna']} {finding['where']}"
            )
            if rank == 0 or entry["score"] < WARN_BELOW:
                scores.append(entry)
    return scores
