"""Automatic low-gain flags, as the ALMA pipeline's hif_lowgainflag finds them, as a flag file.

The pipeline's heuristic, rebuilt from its description (hif_lowgainflag, the MatrixFlagger
rules of h/tasks/common/viewflaggers):

- temporary solves on the bandpass calibrator of {eb}.ms.split as split (its flags as split:
  a-priori and raw-stage user flags): a phase-up gaincal (p, int), a bandpass
  (solint 'inf,7.8125MHz', scans combined, normalised) on top of it, then a phase gaincal (p,
  int) and an amplitude gaincal (a, solint inf: one per scan, gaintype T) on top of the bandpass,
  every solve with minsnr 2 and without the edge channels (``almacal.channels``);
- a view per spw and dish diameter (at least ``min_nants_threshold`` antennas): antenna x scan
  of the amplitude gains |g|; the antennas are those with rows of the bandpass calibrator (an
  ANTENNA row of an unused pad would count as an antenna without a solution);
- nmedian: an element below ``fnm_lo_limit`` (0.5) or above ``fnm_hi_limit`` (1.5) times the
  median of the view's solutions flags that antenna in that spw over the whole EB (the
  pipeline extends these flags over fields and scans);
- toomany: when more than ``tmef1_limit`` (0.666) of a view's antennas have no solution left,
  every remaining element (antenna, scan) is flagged (the pipeline's "too many entirely
  flagged", PIPE-566);
- ``niter`` (2) rounds: the flags of a round are applied to the temporary copy and the solves
  and the view made again, until a round finds nothing new.

The solves run on a temporary copy of the bandpass calibrator's rows (the flags of the flag
version ``split_original``, without MODEL_DATA and CORRECTED_DATA), in a folder removed at the
end: {eb}.ms.split itself is only read, so a rerun after flag_split or setjy sees the same data.
The flag file is in the reducer's list-mode syntax (``reason='lowgainflag:<test>'``); flag_split
applies it after the edge channels and before the reducer's split-stage flag files, whose lines
(``mode='unflag'`` too) come last.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from almacal import channels, choices, flag_state, jsonio
from almacal.chunks import row_chunks
from almacal.flag_files import utc_text

TESTS = ("nmedian", "toomany")
MINSNR = 2.0  # the pipeline's gaincals of this stage
BANDPASS_SOLINT = "inf,7.8125MHz"
FLAG_CHUNK_VALUES = 2**24  # flags copied at a time into the copy (as_split_copy)


@dataclass
class GainView:
    """Amplitude gains of one spw and dish size: amp[antenna, scan], flag where no solution."""

    spw: int
    diameter_m: float
    antennas: list[int]
    scans: list[int]
    amp: np.ndarray
    flag: np.ndarray

    def median(self) -> float | None:
        valid = ~self.flag
        return float(np.median(self.amp[valid])) if valid.any() else None


@dataclass(frozen=True)
class Flag:
    """One flag: an antenna in a spw, at one scan (None: over the whole EB)."""

    test: str
    spw: int
    antenna: int
    scan: int | None = None


def gain_views(
    antenna: np.ndarray,
    spw: np.ndarray,
    scan: np.ndarray,
    amp: np.ndarray,
    flagged: np.ndarray,
    diameters: dict[int, float],
    spws: list[int],
    min_nants: int,
) -> list[GainView]:
    """The views of the solutions (one per row: antenna, spw, scan, |g|, flagged): per spw and
    dish diameter with at least ``min_nants`` antennas; every scan of the table is a column."""
    scans = sorted(set(int(s) for s in scan))
    views = []
    for diameter in sorted(set(diameters.values())):
        ants = sorted(a for a, d in diameters.items() if d == diameter)
        if len(ants) < min_nants:
            continue
        row_of = {a: i for i, a in enumerate(ants)}
        col_of = {s: j for j, s in enumerate(scans)}
        for s in spws:
            data = np.zeros((len(ants), len(scans)))
            flag = np.ones((len(ants), len(scans)), bool)
            for a, sp, sc, g, f in zip(antenna, spw, scan, amp, flagged):
                if int(sp) == s and int(a) in row_of and not f:
                    data[row_of[int(a)], col_of[int(sc)]] = g
                    flag[row_of[int(a)], col_of[int(sc)]] = False
            views.append(GainView(s, diameter, ants, scans, data, flag))
    return views


def flag_view(view: GainView, settings: dict) -> list[Flag]:
    """The flags of one view: nmedian (if on), then toomany, as the pipeline's rules in order."""
    if view.flag.all():  # no solution at all: the pipeline raises nothing
        return []
    median = view.median()
    flag = view.flag.copy()
    found: list[Flag] = []
    if settings["nmedian"]:
        low = float(settings["fnm_lo_limit"]) * median
        high = float(settings["fnm_hi_limit"]) * median
        bad = ~view.flag & ((view.amp < low) | (view.amp > high))
        for i in np.flatnonzero(bad.any(axis=1)):
            found.append(Flag("nmedian", view.spw, view.antennas[i]))
        flag |= bad
    if not flag.all():
        entirely = flag.all(axis=1).mean()
        if entirely > float(settings["tmef1_limit"]):
            for i, j in zip(*np.nonzero(~flag)):
                found.append(Flag("toomany", view.spw, view.antennas[i], view.scans[j]))
    return found


def find_flags(views: list[GainView], settings: dict) -> list[Flag]:
    """The flags of one round over every view (calibration.lowgainflag settings)."""
    return [f for view in views for f in flag_view(view, settings)]


def normalised_medians(view: GainView, names: list[str]) -> dict[str, float | None]:
    """Per antenna of a view: the median over scans of its |g| / the view's median."""
    median = view.median()
    out = {}
    for i, a in enumerate(view.antennas):
        mine = view.amp[i][~view.flag[i]]
        out[names[a]] = round(float(np.median(mine)) / median, 4) if mine.size and median else None
    return out


def eb_span(metadata: dict) -> tuple[float, float]:
    return min(s["begin"] for s in metadata["scans"]), max(s["end"] for s in metadata["scans"])


def scan_span(metadata: dict, scan: int) -> tuple[float, float]:
    (entry,) = [s for s in metadata["scans"] if s["scan"] == scan]
    return entry["begin"], entry["end"]


def command(flag: Flag, names: list[str], span: tuple[float, float]) -> str:
    """The list-mode line of one flag; ``span``: its time range (whole seconds around it)."""
    timerange = f"{utc_text(span[0])}~{utc_text(span[1] + 1)}"
    return (
        f"antenna='{names[flag.antenna]}' spw='{flag.spw}' timerange='{timerange}' "
        f"reason='lowgainflag:{flag.test}'"
    )


def read_gains(caltable: str) -> tuple[np.ndarray, ...]:
    """Antenna, spw, scan, |g| and flag of every solution of a T (one-parameter) gain table."""
    from casatools import table

    tb = table()
    tb.open(caltable)
    try:
        cols = [tb.getcol(c) for c in ("ANTENNA1", "SPECTRAL_WINDOW_ID", "SCAN_NUMBER")]
        gains, flags = tb.getcol("CPARAM"), tb.getcol("FLAG")  # [par, chan, row]
    finally:
        tb.close()
    return (*cols, np.abs(gains[0, 0]), flags[0, 0])


def as_split_copy(job, vis: str, field_ids: list[int], copy: str) -> int:
    """The rows of ``field_ids`` of ``vis`` as a new MS ``copy`` with the flags of the flag
    version split_original (what split wrote) and no model (neither a MODEL_DATA column nor the
    virtual models setjy may have left in ``vis``'s metadata: delmod on the copy) or corrected
    data; ``vis`` is only read. The number of rows."""
    from casatools import table

    version = Path(f"{vis}.flagversions/flags.{flag_state.SPLIT_ORIGINAL}")
    if not version.is_dir():
        raise RuntimeError(
            f"{vis}: flag version {flag_state.SPLIT_ORIGINAL!r} missing; rerun split_eb"
        )
    tb = table()
    tb.open(vis)
    try:
        sel = tb.query(f"FIELD_ID IN [{','.join(str(f) for f in field_ids)}]")
        rows = sel.rownumbers()
        sel.copy(copy, deep=True, valuecopy=True, returnobject=False)
        sel.close()
    finally:
        tb.close()
    saved, out = table(), table()
    saved.open(str(version))
    out.open(copy, nomodify=False)
    try:
        sub = saved.selectrows(rows)  # row k of sub is row k of the copy
        per_row = int(np.prod(sub.getcell("FLAG", 0).shape)) if len(rows) else 1
        for start, nrow in row_chunks(len(rows), per_row, FLAG_CHUNK_VALUES):  # bounded memory
            for column in ("FLAG", "FLAG_ROW"):
                out.putcol(column, sub.getcol(column, start, nrow), start, nrow)
        sub.close()
        extra = [c for c in ("MODEL_DATA", "CORRECTED_DATA") if c in out.colnames()]
        if extra:
            out.removecols(extra)
    finally:
        saved.close()
        out.close()
    job.task("delmod", vis=copy, otf=True, scr=False)
    return len(rows)


def antennas_with_rows(ms: str) -> set[int]:
    """The antennas of ``ms``'s cross-correlation rows (flagged or not)."""
    from casatools import table

    tb = table()
    tb.open(ms)
    try:
        a1, a2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
    finally:
        tb.close()
    cross = a1 != a2
    return set(int(a) for a in np.unique(np.concatenate([a1[cross], a2[cross]])))


def selected_fraction(vis: str, flags: list[Flag], spans: list) -> float:
    """The fraction of the cross-correlation visibilities of ``vis`` the flags select."""
    from casatools import table

    tb = table()
    tb.open(f"{vis}/DATA_DESCRIPTION")
    ddi_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    tb.open(f"{vis}/SPECTRAL_WINDOW")
    nchan = tb.getcol("NUM_CHAN")
    tb.close()
    tb.open(vis)
    try:
        a1, a2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
        time, spw = tb.getcol("TIME"), ddi_spw[tb.getcol("DATA_DESC_ID")]
    finally:
        tb.close()
    cross = a1 != a2
    weight = nchan[spw] * cross
    selected = np.zeros(a1.size, bool)
    for f, (t0, t1) in zip(flags, spans):
        selected |= (
            cross
            & (spw == f.spw)
            & ((a1 == f.antenna) | (a2 == f.antenna))
            & (time >= np.floor(t0))
            & (time <= np.floor(t1) + 1)
        )
    total = weight.sum()
    return round(float(weight[selected].sum() / total), 6) if total else 0.0


def write_flag_file(path: str, vis: str, heuristic: str, header: str, lines: list[str]) -> None:
    """A generated flag file: its header (almacal.calibration.<heuristic>), then ``lines``."""
    text = [
        f"# Automatic flags of {vis} (almacal.calibration.{heuristic}; {header}).",
        "# Generated: edit or delete lines here, or override them in your own split-stage flag",
        "# file (a later mode='unflag' line wins); a rerun of the heuristic rewrites this file.",
    ]
    Path(path).write_text("\n".join(text + lines) + "\n")


def lowgainflag(
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
    if not settings["enabled"]:
        with CasaJob(log=log, commands=commands, title=f"automatic low-gain flags of {vis}") as job:
            job.note("calibration.lowgainflag.enabled is false: no solve, no flag")
        write_flag_file(flags, vis, "lowgainflag", "disabled in calibration.lowgainflag", [])
        jsonio.write(
            summary,
            {
                "ms": vis,
                "enabled": False,
                "settings": settings,
                "tests": [],
                "flags": [],
                "per_test": {},
                "flagged_fraction": 0.0,
                "iterations": [],
            },
        )
        return
    on = [t for t in TESTS if t != "nmedian" or settings["nmedian"]]
    fields = ebc.roles["bandpass"]
    field_ids = [f["id"] for f in md["fields"] if f["name"] in fields]
    spw_sel = channels.inner_channels(md, spws, edge_channel_fraction)
    scratch = Path(flags).with_name(f"{eb}.ms.split.lowgainflag.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    found: list[Flag] = []
    rounds = []
    try:
        with CasaJob(log=log, commands=commands, title=f"automatic low-gain flags of {vis}") as job:
            copy = str(scratch / "bandpass_calibrator.ms")
            nrows = as_split_copy(job, vis, field_ids, copy)
            present = antennas_with_rows(copy)  # not the ANTENNA rows of unused pads
            diameters = {
                a["id"]: float(a["diameter_m"]) for a in md["antennas"] if a["id"] in present
            }
            job.note(
                f"temporary copy {copy}: {nrows} rows of {', '.join(fields)} from {vis} with "
                f"the flags of {flag_state.SPLIT_ORIGINAL}"
            )
            for iteration in range(int(settings["niter"])):
                base = scratch / f"round{iteration + 1}"
                *_, amp_table = temporary_solves(job, copy, base, ",".join(fields), spw_sel, ebc)
                if not Path(amp_table).exists():
                    if iteration == 0:  # no solution on the data as split: not a clean EB
                        raise RuntimeError(
                            f"{vis}: the temporary amplitude solve on {', '.join(fields)} wrote "
                            f"no table {amp_table}; look in the job's CASA log for the reason"
                        )
                    job.note(f"round {iteration + 1}: no amplitude solution: no view, no flag")
                    break
                views = gain_views(
                    *read_gains(amp_table),
                    diameters,
                    spws,
                    int(settings["min_nants_threshold"]),
                )
                new = [f for f in find_flags(views, settings) if f not in found]
                rounds.append(_round_figures(views, new, names))
                job.note(f"round {iteration + 1}: {len(new)} new flag(s)")
                if not new:
                    break
                found += new
                if iteration + 1 < int(settings["niter"]):
                    lines = [command(f, names, _span(f, md)) for f in new]
                    job.task("flagdata", vis=copy, mode="list", inpfile=lines, flagbackup=False)
            lines = [command(f, names, _span(f, md)) for f in found]
            fraction = selected_fraction(vis, found, [_span(f, md) for f in found])
            job.note(
                f"tests {', '.join(on)}: {len(lines)} flag line(s), {100 * fraction:.2f} % of the "
                f"cross-correlations of {vis}, in {flags}"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_flag_file(flags, vis, "lowgainflag", f"tests: {', '.join(on)}", lines)
    first = {(v["spw"], v["diameter_m"]): v for v in (rounds[0]["views"] if rounds else [])}
    jsonio.write(
        summary,
        {
            "ms": vis,
            "enabled": True,
            "settings": settings,
            "tests": on,
            "solved_on": {"fields": fields, "spw": spw_sel, "refant": ebc.refant},
            "iterations": rounds,
            "flags": [
                {
                    "test": f.test,
                    "spw": f.spw,
                    "antenna": names[f.antenna],
                    "scan": f.scan,
                    "normalised_gain": _antenna_figure(first, f, names),
                    "why": _why(f, settings, _antenna_figure(first, f, names)),
                    "command": line,
                }
                for f, line in zip(found, lines)
            ],
            "per_test": {t: sum(f.test == t for f in found) for t in on},
            "flagged_fraction": fraction,
        },
    )


def _span(flag: Flag, md: dict) -> tuple[float, float]:
    return eb_span(md) if flag.scan is None else scan_span(md, flag.scan)


def temporary_solves(job, copy: str, base: Path, field: str, spw: str, ebc) -> list[str]:
    """The pipeline's temporary solves of one round on ``copy`` (tables named ``base``.*); the
    bandpass, phase (int) and amplitude (inf) tables, in the order applycal takes them."""
    phaseup, bandpass = f"{base}.phaseup", f"{base}.bandpass"
    phase, amplitude = f"{base}.phase_int", f"{base}.ampli_inf"
    common = {"vis": copy, "field": field, "spw": spw, "refant": ebc.refant, "minsnr": MINSNR}
    job.task("gaincal", caltable=phaseup, solint="int", calmode="p", gaintype="G", **common)
    job.task(
        "bandpass",
        caltable=bandpass,
        solint=BANDPASS_SOLINT,
        combine="scan",
        solnorm=True,
        bandtype="B",
        gaintable=[phaseup],
        **common,
    )
    job.task(
        "gaincal",
        caltable=phase,
        solint="int",
        calmode="p",
        gaintype="G",
        gaintable=[bandpass],
        **common,
    )
    job.task(
        "gaincal",
        caltable=amplitude,
        solint="inf",
        calmode="a",
        gaintype="T",
        gaintable=[bandpass, phase],
        **common,
    )
    return [bandpass, phase, amplitude]


def _round_figures(views: list[GainView], new: list[Flag], names: list[str]) -> dict:
    return {
        "views": [
            {
                "spw": v.spw,
                "diameter_m": v.diameter_m,
                "scans": v.scans,
                "median_gain": None if v.median() is None else round(v.median(), 5),
                "normalised_gain": normalised_medians(v, names),
            }
            for v in views
        ],
        "new_flags": len(new),
    }


def _antenna_figure(first: dict, flag: Flag, names: list[str]) -> float | None:
    for (spw, _), view in first.items():
        if spw == flag.spw and names[flag.antenna] in view["normalised_gain"]:
            return view["normalised_gain"][names[flag.antenna]]
    return None


def _why(flag: Flag, settings: dict, figure: float | None) -> str:
    if flag.test == "nmedian":
        return (
            f"median normalised gain {figure} outside "
            f"{settings['fnm_lo_limit']}-{settings['fnm_hi_limit']} x the view's median"
        )
    return f"more than {settings['tmef1_limit']} of the antennas without a solution"
