"""User flag files: flagdata list-mode commands, parsed and checked against an EB's metadata.

One command per line (``antenna='DA45' spw='1:0~9' reason='bad Tsys'``), ``#`` starts a comment.
Every line is checked before any CASA job uses it: syntax, parameter names, mode, and that
antennas, spws and channel ranges, fields, scans, correlations, intents and time ranges exist
in the EB. Errors name the file, the line number and the reason.
"""

import datetime as dt
import fnmatch
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from almacal.eb_metadata import CORRELATION_NAMES

MODES = {"manual", "clip", "quack", "shadow", "elevation", "tfcrop", "rflag", "extend", "unflag"}
SELECTIONS = {
    "antenna",
    "spw",
    "field",
    "scan",
    "timerange",
    "correlation",
    "intent",
    "uvrange",
    "observation",
    "array",
    "feed",
    "autocorr",
}
SETTINGS = {
    "mode",
    "reason",
    "datacolumn",
    "clipminmax",
    "clipoutside",
    "channelavg",
    "chanbin",
    "timeavg",
    "timebin",
    "clipzeros",
    "quackinterval",
    "quackmode",
    "quackincrement",
    "tolerance",
    "addantenna",
    "lowerlimit",
    "upperlimit",
    "ntime",
    "combinescans",
    "timecutoff",
    "freqcutoff",
    "timefit",
    "freqfit",
    "maxnpieces",
    "flagdimension",
    "usewindowstats",
    "halfwin",
    "extendflags",
    "winsize",
    "timedev",
    "freqdev",
    "timedevscale",
    "freqdevscale",
    "spectralmax",
    "spectralmin",
    "extendpols",
    "growtime",
    "growfreq",
    "growaround",
    "flagneartime",
    "flagnearfreq",
}
MJD_EPOCH = dt.datetime(1858, 11, 17)


@dataclass
class FlagCommand:
    file: str
    line: int
    text: str
    params: dict[str, str]

    def where(self) -> str:
        return f"{self.file}, line {self.line}"


class FlagFileError(ValueError):
    """One or more flag-file lines are wrong; the message lists each with file and line."""


def parse(path: str | Path) -> tuple[list[FlagCommand], list[str]]:
    """Commands of a flag file and syntax errors, each error naming file and line."""
    commands, errors = [], []
    for number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{path}, line {number}"
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError as err:
            errors.append(f"{where}: cannot parse ({err}): {text}")
            continue
        params = {}
        for token in tokens:
            key, sep, value = token.partition("=")
            if not sep or not key:
                errors.append(f"{where}: expected key=value, got {token!r}")
                continue
            if key not in SELECTIONS | SETTINGS:
                errors.append(f"{where}: unknown flagdata parameter {key!r}")
                continue
            params[key] = value
        if tokens and not params and not errors:
            errors.append(f"{where}: no flagdata parameters: {text}")
        commands.append(FlagCommand(str(path), number, text, params))
    return commands, errors


def _names_match(pattern: str, names: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for name in names)


def _check_antenna(value: str, md: dict) -> list[str]:
    names = [a["name"] for a in md["antennas"]]
    errors = []
    for part in re.split(r"[,;&]+", value):
        part = part.strip().lstrip("!").strip()
        if not part or part == "*":
            continue
        if part.isdigit():
            if int(part) >= len(names):
                errors.append(f"antenna id {part} does not exist (0~{len(names) - 1})")
        elif not _names_match(part, names):
            errors.append(f"antenna {part!r} is not in the EB ({', '.join(names)})")
    return errors


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("~")
    return int(lo), int(hi or lo)


def _check_spw(value: str, md: dict, allowed_spws: list[int]) -> list[str]:
    nchan = {s["id"]: s["nchan"] for s in md["spws"]}
    errors = []
    for part in value.split(","):
        spw_text, _, chans = part.strip().partition(":")
        if spw_text in ("*", ""):
            spws = list(allowed_spws)
        else:
            try:
                lo, hi = _range(spw_text)
            except ValueError:
                errors.append(f"spw {spw_text!r} is not a spw id or id range")
                continue
            spws = list(range(lo, hi + 1))
            missing = [s for s in spws if s not in allowed_spws]
            if missing:
                errors.append(
                    f"spw {missing} not in the data (spws here: "
                    f"{', '.join(map(str, allowed_spws))})"
                )
                continue
        for chan_range in filter(None, chans.split(";")):
            try:
                lo, hi = _range(chan_range)
            except ValueError:
                errors.append(f"channel range {chan_range!r} is not 'first~last'")
                continue
            for spw in spws:
                if lo > hi or hi >= nchan[spw]:
                    errors.append(f"channels {chan_range} outside spw {spw} (0~{nchan[spw] - 1})")
    return errors


def _check_field(value: str, md: dict) -> list[str]:
    names = [f["name"] for f in md["fields"]]
    errors = []
    for part in value.split(","):
        part = part.strip()
        if part.isdigit():
            if int(part) >= len(names):
                errors.append(f"field id {part} does not exist")
        elif part and not _names_match(part, names):
            errors.append(f"field {part!r} is not in the EB ({', '.join(names)})")
    return errors


def _check_scan(value: str, md: dict) -> list[str]:
    scans = {s["scan"] for s in md["scans"]}
    errors = []
    for part in value.split(","):
        try:
            lo, hi = _range(part.strip())
        except ValueError:
            errors.append(f"scan {part!r} is not a number or range")
            continue
        if not scans & set(range(lo, hi + 1)):
            errors.append(f"scan {part.strip()} is not in the EB (scans {min(scans)}~{max(scans)})")
    return errors


def _mjd_seconds(text: str, default_date: dt.date) -> float:
    parts = text.strip().split("/")
    if len(parts) == 4:
        date = dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
        clock = parts[3]
    elif len(parts) == 1:
        date, clock = default_date, parts[0]
    else:
        raise ValueError(text)
    hms = clock.split(":")
    if not 1 <= len(hms) <= 3:
        raise ValueError(text)
    h, m, s = (list(map(float, hms)) + [0.0, 0.0])[:3]
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60):
        raise ValueError(text)
    start = dt.datetime.combine(date, dt.time()) - MJD_EPOCH
    return start.total_seconds() + 3600 * h + 60 * m + s


def utc_text(mjd_s: float) -> str:
    """MJD seconds as a flag-file time, YYYY/MM/DD/hh:mm:ss (whole seconds, truncated)."""
    return (MJD_EPOCH + dt.timedelta(seconds=mjd_s)).strftime("%Y/%m/%d/%H:%M:%S")


def _check_timerange(value: str, md: dict, require_overlap: bool) -> list[str]:
    begin = min(s["begin"] for s in md["scans"])
    end = max(s["end"] for s in md["scans"])
    day = (MJD_EPOCH + dt.timedelta(seconds=begin)).date()
    errors = []
    for part in value.split(","):
        first, sep, last = part.partition("~")
        try:
            t0 = _mjd_seconds(first, day)
            t1 = _mjd_seconds(last, day) if sep else t0
        except ValueError:
            errors.append(f"timerange {part!r} is not 'YYYY/MM/DD/hh:mm:ss~YYYY/MM/DD/hh:mm:ss'")
            continue
        if t1 < t0:
            errors.append(f"timerange {part!r} ends before it starts")
        elif require_overlap and (t1 < begin - 1 or t0 > end + 1):
            span = [utc_text(t) for t in (begin, end)]
            errors.append(f"timerange {part!r} is outside the EB ({span[0]}~{span[1]})")
    return errors


def check(command: FlagCommand, md: dict, allowed_spws: list[int], per_eb: bool) -> list[str]:
    """Errors of one command against the metadata of one EB (empty when it is fine)."""
    p = command.params
    errors = []
    if p.get("mode", "manual") not in MODES:
        errors.append(f"mode {p['mode']!r} is not one of {sorted(MODES)}")
    if "antenna" in p:
        errors += _check_antenna(p["antenna"], md)
    if "spw" in p:
        errors += _check_spw(p["spw"], md, allowed_spws)
    if "field" in p:
        errors += _check_field(p["field"], md)
    if "scan" in p:
        errors += _check_scan(p["scan"], md)
    if "timerange" in p:
        errors += _check_timerange(p["timerange"], md, require_overlap=per_eb)
    if "correlation" in p:
        known = {CORRELATION_NAMES.get(c, str(c)) for c in md["correlation_types"]}
        for corr in p["correlation"].upper().replace("ABS_", "").split(","):
            if corr and corr not in known:
                errors.append(f"correlation {corr!r} is not in the EB ({', '.join(sorted(known))})")
    if "intent" in p:
        intents = md["intents"]
        for pattern in p["intent"].split(","):
            if not any(fnmatch.fnmatchcase(i, pattern.strip().split("#")[0]) for i in intents):
                errors.append(f"intent {pattern!r} matches none of {intents}")
    if "autocorr" in p and p["autocorr"] not in ("True", "False", "true", "false"):
        errors.append(f"autocorr must be True or False, not {p['autocorr']!r}")
    return [f"{command.where()}: {error}: {command.text}" for error in errors]


def checked_commands(
    files: list[str], md: dict, allowed_spws: list[int], eb_files: list[str]
) -> list[FlagCommand]:
    """Parse and check flag files for one EB; raise FlagFileError listing every bad line.

    ``eb_files`` are the files that belong to this EB alone: their time ranges must fall in it
    (a MOUS-wide line may name a time range of another EB).
    """
    commands, errors = [], []
    for name in files:
        parsed, syntax = parse(name)
        errors += syntax
        for command in parsed:
            errors += check(command, md, allowed_spws, per_eb=name in eb_files)
        commands += parsed
    if errors:
        raise FlagFileError("bad flag command(s):\n" + "\n".join(errors))
    return commands


# The stages a reducer's flag files act on, and the spws a line of each may name.
STAGES = ("raw", "split", "tsys")


def stage_files(flags_dir: str | Path, eb: str, stage: str) -> list[str]:
    """The flag files of one EB and stage that exist: ``mous.<stage>.flags.txt`` (every EB of
    the MOUS), then ``<eb>.<stage>.flags.txt`` (this EB alone)."""
    folder = Path(flags_dir)
    names = [f"mous.{stage}.flags.txt", f"{eb}.{stage}.flags.txt"]
    return [str(folder / name) for name in names if (folder / name).exists()]


def stage_spws(md: dict, stage: str, science_spws: list[int]) -> list[int]:
    """Spws a flag line of ``stage`` may name: every spw of ``<eb>.ms`` (raw), the science spws
    of ``<eb>.ms.split`` (split), the spws with Tsys measurements (tsys)."""
    from almacal import choices

    if stage == "raw":
        return [s["id"] for s in md["spws"]]
    if stage == "split":
        return list(science_spws)
    if stage == "tsys":
        return choices.atmosphere_spws(md)
    raise ValueError(f"unknown flag stage {stage!r}; known: {STAGES}")


def stage_commands(
    files: list[str], md: dict, eb: str, stage: str, science_spws: list[int]
) -> list[FlagCommand]:
    """The checked commands of one EB's flag files of ``stage`` (see ``checked_commands``)."""
    own = [f for f in files if Path(f).name.startswith(f"{eb}.")]
    return checked_commands(files, md, stage_spws(md, stage, science_spws), eb_files=own)
