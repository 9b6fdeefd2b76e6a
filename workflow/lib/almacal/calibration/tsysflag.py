"""Automatic Tsys flags, as the ALMA pipeline's hifa_tsysflag finds them, written as a flag file.

The spectra are those of the SYSCAL table of {eb}.ms (what gencal turns into {eb}.ms.tsys), per
Tsys spw; the tests, each switched in config (``calibration.tsysflag``) and run in this order:

- nmedian: a spectrum (antenna, time) whose median Tsys exceeds ``fnm_limit`` (2.0) times the
  median of that over all spectra of the spw (a warm receiver);
- derivative: a spectrum whose normalised channel-to-channel derivative has a median absolute
  deviation (x 100) above ``fd_max_limit`` (13: ripple, a bad IF);
- edgechans: channels at either edge of the spw's median normalised spectrum whose
  channel-to-channel difference exceeds ``fe_edge_limit`` (3.0) times the median difference of
  that edge's quarter (when the two outermost differences both do, and by more than 0.1 % of the
  level: a roll-off, not one noisy step or a smooth atmospheric slope);
- birdies: per antenna, its median normalised spectrum minus the array's; a block of channels
  around a step of more than ``fb_sharps_limit`` (0.15), widened while the steps stay above twice
  the median step (the pipeline's "sharps" rule), less the outer channels that deviate by less
  than half the limit (the pipeline keeps them), is flagged for that antenna at all times;
- toomany: at a time where more than ``tmf1_limit`` (0.666) of the antennas are flagged, all
  are; in a spw where more than ``tmef1_limit`` (0.666) are flagged at all times, all are.

A spectrum flagged at every time becomes one line for the antenna and spw. Both correlations of a
spectrum are flagged together (the pipeline flags each correlation). Edge and birdie flags that
touch an atmospheric line of the site model (calibration.renormalization's ATM site and
threshold) are dropped, as the pipeline drops sharps on ozone lines.
The flag file is in the reducer's list-mode syntax (``reason='tsysflag:<test>'``); gencal_tsys
applies it before the reducer's Tsys flag files, whose lines (``mode='unflag'`` too) come last.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from almacal import jsonio
from almacal.flag_files import utc_text

TESTS = ("nmedian", "derivative", "edgechans", "birdies", "toomany")


@dataclass
class SpwSpectra:
    """The Tsys spectra of one spw: tsys[row, pol, chan], with antenna and time per row."""

    spw: int
    tsys: np.ndarray
    antenna: np.ndarray
    time: np.ndarray
    interval: np.ndarray
    freq_hz: np.ndarray | None = None  # channel frequencies (for the atmospheric lines)


@dataclass(frozen=True)
class Flag:
    """One flag: an antenna (None: all), a spw, channels (None: all), a time (None: all)."""

    test: str
    spw: int
    antenna: int | None = None
    channels: tuple[int, int] | None = None
    time: float | None = None


def read_syscal(ms: str) -> list[SpwSpectra]:
    """TSYS_SPECTRUM of the SYSCAL table of ``ms``, per spw, rows in time and antenna order."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    freqs = [np.asarray(tb.getcell("CHAN_FREQ", i)) for i in range(tb.nrows())]
    tb.close()
    tb.open(f"{ms}/SYSCAL")
    try:
        spw = tb.getcol("SPECTRAL_WINDOW_ID")
        out = []
        for s in sorted(int(v) for v in np.unique(spw)):
            sub = tb.query(f"SPECTRAL_WINDOW_ID=={s}", sortlist="TIME,ANTENNA_ID")
            try:
                out.append(
                    SpwSpectra(
                        s,
                        np.moveaxis(sub.getcol("TSYS_SPECTRUM"), -1, 0).astype(float),
                        sub.getcol("ANTENNA_ID"),
                        sub.getcol("TIME"),
                        sub.getcol("INTERVAL"),
                        freqs[s],
                    )
                )
            finally:
                sub.close()
        return out
    finally:
        tb.close()


def _normalised(tsys: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return tsys / np.nanmedian(tsys, axis=-1, keepdims=True)


def nmedian(s: SpwSpectra, limit: float) -> list[Flag]:
    level = np.nanmedian(s.tsys, axis=(1, 2))  # per row
    ref = np.nanmedian(level)
    return [
        Flag("nmedian", s.spw, int(s.antenna[r]), time=float(s.time[r]))
        for r in np.flatnonzero(level > limit * ref)
    ]


def derivative(s: SpwSpectra, limit: float) -> list[Flag]:
    deriv = np.diff(_normalised(s.tsys), axis=-1)  # [row, pol, chan-1]
    mad = np.nanmedian(np.abs(deriv - np.nanmedian(deriv, axis=-1, keepdims=True)), axis=-1)
    metric = 100 * np.nanmax(mad, axis=1)  # worst correlation
    return [
        Flag("derivative", s.spw, int(s.antenna[r]), time=float(s.time[r]))
        for r in np.flatnonzero(metric > limit)
    ]


EDGE_MIN_DEVIATION = 0.05  # of the normalised level at the edge: a roll-off, not a wiggle


def edgechans(s: SpwSpectra, limit: float) -> list[Flag]:
    """Channels from either edge of the spw's median normalised spectrum inward while the
    channel-to-channel step exceeds ``limit`` x the median step of that edge's quarter of the
    spw (the pipeline's rule); a roll-off only when the two outermost steps both do (one noisy
    step alone exceeds 3 x the median 4 % of the time) and the edge channel is off the spw's
    level by EDGE_MIN_DEVIATION or more."""
    median = np.nanmedian(_normalised(s.tsys), axis=(0, 1))  # [chan]
    n, found = median.size, []
    for side in (1, -1):
        step = np.abs(np.diff(median[::side]))[: max(n // 4 - 1, 1)]  # from this edge inward
        steep = step > limit * np.nanmedian(step)
        if steep[:2].all() and abs(median[::side][0] - 1) >= EDGE_MIN_DEVIATION:
            count = int(np.argmin(steep)) if not steep.all() else step.size
            first, last = (0, count - 1) if side == 1 else (n - count, n - 1)
            found.append(Flag("edgechans", s.spw, channels=(first, last)))
    return found


def sharp_blocks(d: np.ndarray, limit: float) -> list[tuple[int, int]]:
    """Channel blocks (first, last) around steps of ``d`` above ``limit``, widened while the steps
    stay above twice the median step (the pipeline's sharps rule)."""
    step = np.abs(np.diff(d))
    sharp = step > limit
    if not sharp.any():
        return []
    quiet = ~sharp
    wide = step > 2 * np.median(step[quiet]) if quiet.any() else sharp
    flagged = np.zeros(d.size, bool)
    i = 0
    while i < step.size:
        if not wide[i]:
            i += 1
            continue
        j = i
        while j + 1 < step.size and wide[j + 1]:
            j += 1
        if sharp[i : j + 1].any():
            flagged[i : j + 2] = True  # steps i..j join channels i..j+1
        i = j + 1
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flagged.astype(int), [0]])))
    blocks = []
    for a, b in zip(edges[::2], edges[1::2]):
        first, last = int(a), int(b) - 1
        # a step's outer channel that is itself in line with the array is not part of it
        while first < last and abs(d[first]) <= limit / 2:
            first += 1
        while last > first and abs(d[last]) <= limit / 2:
            last -= 1
        blocks.append((first, last))
    return blocks


def birdies(s: SpwSpectra, limit: float) -> list[Flag]:
    norm = _normalised(s.tsys)
    array = np.nanmedian(norm, axis=(0, 1))
    found = []
    for ant in np.unique(s.antenna):
        mine = np.nanmedian(norm[s.antenna == ant], axis=(0, 1))
        for block in sharp_blocks(mine - array, limit):
            found.append(Flag("birdies", s.spw, int(ant), channels=block))
    return found


def toomany(s: SpwSpectra, flags: list[Flag], tmf1: float, tmef1: float) -> list[Flag]:
    """All antennas at a time where more than ``tmf1`` of them are flagged (whole spectra); all
    antennas and times when more than ``tmef1`` are flagged at every time."""
    antennas = set(int(a) for a in s.antenna)
    times = sorted(set(float(t) for t in s.time))
    whole = [f for f in flags if f.spw == s.spw and f.channels is None]
    at = {t: {f.antenna for f in whole if f.time in (t, None)} for t in times}
    everywhere = set.intersection(*at.values()) if at else set()
    if antennas and len(everywhere) / len(antennas) > tmef1:
        return [Flag("toomany", s.spw)]
    return [
        Flag("toomany", s.spw, time=t)
        for t in times
        if len(at[t]) / len(antennas) > tmf1 and at[t] != antennas
    ]


def off_atmospheric_lines(
    flags: list[Flag], s: SpwSpectra, atm_lines: Callable[[np.ndarray], np.ndarray] | None
) -> list[Flag]:
    """``flags`` less those whose channels touch an atmospheric line of the site (the
    pipeline's ozone-line exemption, CAS-12242): all antennas see it, through different
    airmasses."""
    if atm_lines is None or s.freq_hz is None or not flags:
        return flags
    lines = set(int(c) for c in atm_lines(s.freq_hz))
    return [f for f in flags if not lines & set(range(f.channels[0], f.channels[1] + 1))]


def find_flags(
    spectra: list[SpwSpectra],
    settings: dict,
    atm_lines: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Flag]:
    """The flags of every test switched on in ``settings`` (calibration.tsysflag), in order;
    ``atm_lines`` (channel frequencies -> channels of atmospheric lines) exempts those."""
    found: list[Flag] = []
    for s in spectra:
        mine: list[Flag] = []
        if settings["nmedian"]:
            mine += nmedian(s, float(settings["fnm_limit"]))
        if settings["derivative"]:
            mine += derivative(s, float(settings["fd_max_limit"]))
        if settings["edgechans"]:
            mine += off_atmospheric_lines(
                edgechans(s, float(settings["fe_edge_limit"])), s, atm_lines
            )
        if settings["birdies"]:
            mine += off_atmospheric_lines(
                birdies(s, float(settings["fb_sharps_limit"])), s, atm_lines
            )
        if settings["toomany"]:
            mine += toomany(s, mine, float(settings["tmf1_limit"]), float(settings["tmef1_limit"]))
        found += _merged(s, mine)
    return found


def _merged(s: SpwSpectra, flags: list[Flag]) -> list[Flag]:
    """Flags of one (test, antenna, channels) at every time of the spw as one flag of no time."""
    times = set(float(t) for t in s.time)
    when: dict[tuple, set] = {}
    for f in flags:
        when.setdefault((f.test, f.antenna, f.channels), set()).add(f.time)
    out, merged = [], set()
    for f in flags:
        key = (f.test, f.antenna, f.channels)
        if None in when[key] or when[key] >= times:  # at every time: one flag of no time
            if key not in merged:
                out.append(Flag(f.test, f.spw, f.antenna, f.channels))
                merged.add(key)
        else:
            out.append(f)
    return out


def command(flag: Flag, names: list[str], half_width_s: dict[float, float]) -> str:
    """The list-mode line of one flag."""
    parts = []
    if flag.antenna is not None:
        parts.append(f"antenna='{names[flag.antenna]}'")
    spw = str(flag.spw)
    if flag.channels is not None:
        spw += f":{flag.channels[0]}~{flag.channels[1]}"
    parts.append(f"spw='{spw}'")
    if flag.time is not None:
        half = half_width_s[flag.time]
        parts.append(f"timerange='{utc_text(flag.time - half)}~{utc_text(flag.time + half)}'")
    parts.append(f"reason='tsysflag:{flag.test}'")
    return " ".join(parts)


def tsysflag(
    *,
    ms: str,
    metadata: str,
    settings: dict,
    atmosphere: dict,
    flags: str,
    summary: str,
    log: str,
    commands: str,
) -> None:
    """Write the flag file ``flags`` and the figures per test ``summary`` of ``ms``;
    ``atmosphere``: the site model and line threshold (calibration.renormalization's)."""
    from almacal.calibration.renorm_factors import atmospheric_line_channels
    from almacal.casa_job import CasaJob

    def atm_lines(freq_hz: np.ndarray) -> np.ndarray:
        site, opacity = atmosphere["site"], float(atmosphere["atm_line_min_opacity"])
        return atmospheric_line_channels(freq_hz, site, opacity)

    md = jsonio.load(metadata)
    names = [a["name"] for a in md["antennas"]]
    on = [t for t in TESTS if settings[t]]
    with CasaJob(log=log, commands=commands, title=f"automatic Tsys flags of {ms}") as job:
        spectra = read_syscal(ms)
        found = find_flags(spectra, settings, atm_lines)
        # a window of whole seconds around each measurement (no other of the spw in it)
        half = {
            float(t): max(1.0, float(i) / 2) for s in spectra for t, i in zip(s.time, s.interval)
        }
        lines = [command(f, names, half) for f in found]
        fraction = _fraction(found, spectra)
        job.note(
            f"tests {', '.join(on) or 'none'}: {len(lines)} flag line(s), "
            f"{100 * fraction:.2f} % of the Tsys spectra's channels, in {flags}"
        )
    header = [
        f"# Automatic Tsys flags of {ms} (almacal.calibration.tsysflag; tests: "
        f"{', '.join(on) or 'none'}).",
        "# Generated: edit or delete lines here, or override them in your own Tsys flag file",
        "# (a later mode='unflag' line wins); a rerun of the tests rewrites this file.",
    ]
    with open(flags, "w") as out:
        out.write("\n".join(header + lines) + "\n")
    jsonio.write(
        summary,
        {
            "ms": ms,
            "settings": settings,
            "tests": on,
            "flags": [
                {
                    "test": f.test,
                    "spw": f.spw,
                    "antenna": None if f.antenna is None else names[f.antenna],
                    "channels": f.channels,
                    "time": f.time,
                    "command": line,
                }
                for f, line in zip(found, lines)
            ],
            "per_test": {t: sum(f.test == t for f in found) for t in on},
            "flagged_fraction": fraction,
        },
    )


def flag_mask(flags: list[Flag], s: SpwSpectra) -> np.ndarray:
    """The elements [row, pol, chan] of one spw's spectra that ``flags`` select."""
    mask = np.zeros(s.tsys.shape, bool)
    for f in flags:
        if f.spw != s.spw:
            continue
        rows = np.ones(len(s.antenna), bool)
        if f.antenna is not None:
            rows &= s.antenna == f.antenna
        if f.time is not None:
            rows &= s.time == f.time
        chans = slice(None) if f.channels is None else slice(f.channels[0], f.channels[1] + 1)
        mask[rows, :, chans] = True
    return mask


def _fraction(flags: list[Flag], spectra: list[SpwSpectra]) -> float:
    total = sum(s.tsys.size for s in spectra)
    flagged = sum(int(flag_mask(flags, s).sum()) for s in spectra)
    return round(flagged / total, 6) if total else 0.0
