"""Calibrator outliers after calibration, as the ALMA pipeline's hifa_bandpassflag finds them
(hif_correctedampflag on the bandpass calibrator), as a flag file.

The pipeline's heuristic, rebuilt from its description and simplified:

- the temporary solves of almacal.calibration.lowgainflag (phase-up gaincal p int, bandpass
  'inf,7.8125MHz', phase gaincal p int, amplitude gaincal a inf; minsnr 2, edge channels left out)
  on a temporary copy of the bandpass calibrator's rows of {eb}.ms.split with the as-split flags
  (``lowgainflag.as_split_copy``), then applycal of the three tables to the copy;
- the metric: per spw, correlation, baseline and integration, the corrected visibility averaged
  over the inner unflagged channels (vector average: channel-averaged, not per channel as the
  pipeline) divided by the point-source model (1 Jy: the temporary solves have no setjy, so the
  calibrated amplitude of the bandpass calibrator is ~1), its amplitude;
- each baseline's amplitudes over their robust quadratic trend in time (a departure: the
  amplitude solve per scan spreads a glitch of a few integrations over the antenna's whole scan,
  and the gain drifts slowly within it; the pipeline's real-data scatter hides both, the
  simulator's small thermal noise does not);
- per spw and correlation the median and the scaled MAD (1.4826 x MAD) of the unflagged samples;
  a sample below median - ``antnegsig`` x MAD or above median + ``antpossig`` x MAD is an outlier;
- ``antint``: an antenna whose outlier baselines at an integration are more than ``tmantint`` of
  its baselines there (and at least two: one bad baseline implicates both of its antennas) is
  flagged at that integration in that spw (every correlation);
- ``baseline``: an outlier left (not of a flagged antenna at that integration) beyond
  ``relaxed_factor`` x the limits is flagged alone: that baseline at that integration;
- ``niter`` rounds: the flags of a round leave the statistics and the rules run again.

Departures (said in README.md): the pipeline's whole-EB rules (tmint, tmbl, antblnegsig,
antblpossig: an antenna or baseline over the whole EB) are not built; per-integration flags only;
channel-averaged metric.
{eb}.ms.split itself is only read; the temporary folder is removed at the end. The flag file
(``reason='correctedampflag:<rule>'``) is applied by flag_split with the low-gain file.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from almacal import channels, choices, jsonio
from almacal.calibration import lowgainflag
from almacal.chunks import row_chunks
from almacal.flag_files import utc_text

RULES = ("antint", "baseline")
# visibilities read at a time: the job's memory does not grow with the EB's size
CHUNK_VISIBILITIES = 2**21
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Flag:
    """One flag: antenna (antenna2 None) or baseline, in a spw, at the integration ``time``."""

    rule: str
    spw: int
    antenna: int
    antenna2: int | None
    time: float
    interval: float


@dataclass
class Samples:
    """The metric of one spw: amp[corr, row] with flag[corr, row], rows of ant1, ant2, time."""

    spw: int
    ant1: np.ndarray
    ant2: np.ndarray
    time: np.ndarray
    interval: np.ndarray
    amp: np.ndarray
    flag: np.ndarray


def _outliers(amp: np.ndarray, flag: np.ndarray, neg: float, pos: float) -> np.ndarray:
    """Per correlation, the unflagged samples beyond ``neg``/``pos`` scaled MADs of the median."""
    out = np.zeros(amp.shape, bool)
    for c in range(amp.shape[0]):
        good = ~flag[c]
        if good.sum() < 3:
            continue
        median = np.median(amp[c, good])
        mad = MAD_SCALE * np.median(np.abs(amp[c, good] - median))
        if mad <= 0:
            continue
        out[c] = good & ((amp[c] < median - neg * mad) | (amp[c] > median + pos * mad))
    return out


def per_baseline(samples: Samples) -> np.ndarray:
    """The amplitudes over their baseline's trend in time (per correlation, unflagged samples: a
    quadratic fit, refitted without the samples beyond 3 scaled MADs; the median with fewer than
    six samples): the scale the amplitude solve per scan leaves (a glitch of a few integrations
    spread over the scan) and the slow gain drift within the scan divide out."""
    amp = samples.amp.copy()
    key = samples.ant1.astype(np.int64) * 100000 + samples.ant2
    t = samples.time - samples.time.min()
    for k in np.unique(key):
        rows = key == k
        for c in range(amp.shape[0]):
            good = rows & ~samples.flag[c]
            if not good.any():
                continue
            amp[c, rows] /= _trend(t[good], samples.amp[c, good], t[rows])
    return amp


def _trend(t: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    if y.size < 6 or np.ptp(t) == 0:
        return np.full(at.size, np.median(y))
    keep = np.ones(y.size, bool)
    for _ in range(3):
        coef = np.polyfit(t[keep], y[keep], 2)
        resid = y - np.polyval(coef, t)
        mad = MAD_SCALE * np.median(np.abs(resid[keep] - np.median(resid[keep])))
        new = np.abs(resid) <= 3 * mad if mad > 0 else keep
        if new.sum() < 6 or (new == keep).all():
            break
        keep = new
    return np.polyval(coef, at)


def find_flags(samples: Samples, settings: dict) -> list[Flag]:
    """The flags of one spw over ``niter`` rounds (calibration.correctedampflag settings)."""
    flag = samples.flag.copy()
    amp = per_baseline(samples)
    found: list[Flag] = []
    neg, pos = float(settings["antnegsig"]), float(settings["antpossig"])
    relaxed = float(settings["relaxed_factor"])
    a1, a2, time = samples.ant1, samples.ant2, samples.time
    for _ in range(int(settings["niter"])):
        outlier = _outliers(amp, flag, neg, pos)
        strong = _outliers(amp, flag, relaxed * neg, relaxed * pos)
        row_out, row_strong = outlier.any(axis=0), strong.any(axis=0)
        row_good = (~flag).any(axis=0)
        new: list[Flag] = []
        bad_at: set[tuple[int, float]] = set()
        for t in np.unique(time[row_out]):
            at = time == t
            dt = float(samples.interval[at][0])
            for ant in np.unique(np.concatenate([a1[at & row_out], a2[at & row_out]])):
                mine = at & ((a1 == ant) | (a2 == ant)) & row_good
                n_out = int((mine & row_out).sum())
                if n_out >= 2 and n_out / mine.sum() > float(settings["tmantint"]):
                    new.append(Flag("antint", samples.spw, int(ant), None, float(t), dt))
                    bad_at.add((int(ant), float(t)))
        for r in np.flatnonzero(row_strong):
            t = float(time[r])
            if (int(a1[r]), t) not in bad_at and (int(a2[r]), t) not in bad_at:
                dt = float(samples.interval[r])
                new.append(Flag("baseline", samples.spw, int(a1[r]), int(a2[r]), t, dt))
        new = [f for f in new if f not in found]
        if not new:
            break
        found += new
        flag |= selected(samples, new)[None, :]
    return found


def selected(samples: Samples, flags: list[Flag]) -> np.ndarray:
    """The rows of ``samples`` the flags select."""
    rows = np.zeros(samples.time.size, bool)
    for f in flags:
        if f.spw != samples.spw:
            continue
        ants = (samples.ant1 == f.antenna) | (samples.ant2 == f.antenna)
        if f.antenna2 is not None:
            ants = (samples.ant1 == f.antenna) & (samples.ant2 == f.antenna2)
        rows |= ants & (samples.time == f.time)
    return rows


def command(flag: Flag, names: list[str]) -> str:
    """The list-mode line of one flag: its integration, in whole seconds (truncated)."""
    t0, t1 = flag.time - flag.interval / 2, flag.time + flag.interval / 2
    antenna = names[flag.antenna]
    if flag.antenna2 is not None:
        antenna += f"&{names[flag.antenna2]}"
    return (
        f"antenna='{antenna}' spw='{flag.spw}' timerange='{utc_text(t0)}~{utc_text(t1)}' "
        f"reason='correctedampflag:{flag.rule}'"
    )


def read_samples(ms: str, spws: list[int], inner: dict[int, np.ndarray]) -> list[Samples]:
    """The channel-averaged corrected cross-correlations of ``ms`` per spw (``inner``: its
    channels used), their amplitude; the integration of every row."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/DATA_DESCRIPTION")
    ddi_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    out = []
    tb.open(ms)
    try:
        for spw in spws:
            ddis = [i for i, s in enumerate(ddi_spw) if s == spw]
            sel = tb.query(f"DATA_DESC_ID IN [{','.join(map(str, ddis))}] && ANTENNA1 != ANTENNA2")
            try:
                a1, a2, time, interval = (
                    sel.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "TIME", "INTERVAL")
                )
                ncorr, nchan = sel.getcell("FLAG", 0).shape if sel.nrows() else (0, 0)
                total = np.zeros((ncorr, sel.nrows()), np.complex64)  # CORRECTED_DATA's type
                count = np.zeros((ncorr, sel.nrows()), int)
                for start, nrow in row_chunks(sel.nrows(), ncorr * nchan, CHUNK_VISIBILITIES):
                    rows = {"startrow": start, "nrow": nrow}
                    data = sel.getcol("CORRECTED_DATA", **rows)  # [corr, chan, row]
                    use = ~sel.getcol("FLAG", **rows) & inner[spw][None, :, None]
                    count[:, start : start + nrow] = use.sum(axis=1)
                    total[:, start : start + nrow] = np.where(use, data, 0).sum(axis=1)
            finally:
                sel.close()
            mean = total / np.maximum(count, 1)
            out.append(Samples(spw, a1, a2, time, interval, np.abs(mean), count == 0))
    finally:
        tb.close()
    return out


def correctedampflag(
    *,
    eb: str,
    vis: str,
    eb_choices: str,
    settings: dict,
    edge_channel_fraction: float,
    flags: str,
    summary: str,
    log: str,
    commands: str,
) -> None:
    """Write the flag file ``flags`` and the figures ``summary`` of {eb}.ms.split ``vis``."""
    from almacal.casa_job import CasaJob

    ebc = choices.load(eb_choices)
    md, spws = ebc.metadata, ebc.science_spws
    names = [a["name"] for a in md["antennas"]]
    title = f"calibrator outliers after calibration of {vis}"
    record = {"ms": vis, "enabled": bool(settings["enabled"]), "settings": settings}
    if not settings["enabled"]:
        with CasaJob(log=log, commands=commands, title=title) as job:
            job.note("calibration.correctedampflag.enabled is false: no solve, no flag")
        lowgainflag.write_flag_file(flags, vis, "correctedampflag", "disabled", [])
        jsonio.write(
            summary, {**record, "tests": [], "flags": [], "per_test": {}, "flagged_fraction": 0.0}
        )
        return
    fields = ebc.roles["bandpass"]
    field_ids = [f["id"] for f in md["fields"] if f["name"] in fields]
    spw_sel = channels.inner_channels(md, spws, edge_channel_fraction)
    inner = {}
    for s in md["spws"]:
        if s["id"] in spws:
            edge = channels.edge_channels(s["nchan"], edge_channel_fraction)
            inner[s["id"]] = np.arange(s["nchan"]) >= edge
            inner[s["id"]] &= np.arange(s["nchan"]) < s["nchan"] - edge
    scratch = Path(flags).with_name(f"{eb}.ms.split.correctedampflag.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    found: list[Flag] = []
    stats = []
    try:
        with CasaJob(log=log, commands=commands, title=title) as job:
            copy = str(scratch / "bandpass_calibrator.ms")
            nrows = lowgainflag.as_split_copy(job, vis, field_ids, copy)
            job.note(f"temporary copy {copy}: {nrows} rows of {', '.join(fields)} from {vis}")
            tables = lowgainflag.temporary_solves(
                job, copy, scratch / "round1", ",".join(fields), spw_sel, ebc
            )
            missing = [t for t in tables if not Path(t).exists()]
            if missing:
                raise RuntimeError(
                    f"{vis}: the temporary solves on {', '.join(fields)} wrote no table "
                    f"{', '.join(missing)}; look in the job's CASA log for the reason"
                )
            job.task(
                "applycal",
                vis=copy,
                field=",".join(fields),
                spw=",".join(map(str, spws)),
                gaintable=tables,
                interp=["nearest,linear", "linear", "linear"],
                calwt=False,
                applymode="calonly",
                flagbackup=False,
            )
            samples = read_samples(copy, spws, inner)
            for s in samples:
                new = find_flags(s, settings)
                found += new
                good = s.amp[~s.flag]
                stats.append(
                    {
                        "spw": s.spw,
                        "median_amplitude": round(float(np.median(good)), 5) if good.size else None,
                        "outlier_rows": int(selected(s, new).sum()),
                        "rows": int(s.time.size),
                    }
                )
            lines = [command(f, names) for f in found]
            total = cross_rows(vis, spws)
            rows = sum(int(selected(s, found).sum()) for s in samples)
            job.note(
                f"{len(lines)} flag line(s): {rows} rows, {100 * rows / total:.3f} % of the "
                f"science-spw cross-correlations of {vis}, in {flags}"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lowgainflag.write_flag_file(flags, vis, "correctedampflag", f"rules: {', '.join(RULES)}", lines)
    jsonio.write(
        summary,
        {
            **record,
            "tests": list(RULES),
            "solved_on": {"fields": fields, "spw": spw_sel, "refant": ebc.refant},
            "metric": "|channel-averaged corrected / 1 Jy point-source model|",
            "spws": stats,
            "flags": [
                {
                    "test": f.rule,
                    "spw": f.spw,
                    "antenna": names[f.antenna]
                    + ("" if f.antenna2 is None else f"&{names[f.antenna2]}"),
                    "time": f.time,
                    "command": line,
                }
                for f, line in zip(found, lines)
            ],
            "per_test": {r: sum(f.rule == r for f in found) for r in RULES},
            "rows_flagged": rows,
            "flagged_fraction": round(rows / total, 6) if total else 0.0,
        },
    )


def cross_rows(vis: str, spws: list[int]) -> int:
    """The number of cross-correlation rows of ``vis`` in ``spws`` (all fields)."""
    from casatools import table

    tb = table()
    tb.open(f"{vis}/DATA_DESCRIPTION")
    ddi_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(vis)
    try:
        a1, a2, ddi = (tb.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID"))
    finally:
        tb.close()
    return int(((a1 != a2) & np.isin(ddi_spw[ddi], spws)).sum())
