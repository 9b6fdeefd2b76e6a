"""Checks of the reducer's inputs that run before any job: names, the flux file, antenna-position
files and the choices that name antennas, fields or spws of an EB.

Each check returns a list of messages, each naming the file and line (or the config key) and the
EB; the workflow (workflow/rules/common.smk) gathers them and stops before building the DAG, so
that no product is deleted and no measurement set touched. Checks that need an EB's metadata run
at parse time for imported EBs and again in the job that first reads the metadata, before its
first CASA call, for EBs not imported yet.
"""

import csv
import json
import math
import re
from pathlib import Path

# MOUS and EB names become folder and file names under results/: ALMA uids
# (uid___A002_X1234_X5) or any name of these characters, never '.', '..' or a leading dash.
SAFE_NAME = re.compile(r"[A-Za-z0-9_.+][A-Za-z0-9_.+-]*")
FLUX_COLUMNS = ("ms", "field", "spw", "I", "Q", "U", "V", "spix")
FLUX_NUMBERS = ("I", "Q", "U", "V", "spix")
EARTH_RADIUS_RANGE_M = (6.35e6, 6.40e6)  # |ITRF position| of a telescope on the ground
# Position-service corrections are millimetres to centimetres; more than this is another pad or
# another array's file
MAX_POSITION_OFFSET_M = 1.0


class InputError(ValueError):
    """One or more inputs are wrong; the message lists every problem found."""


def name_errors(kind: str, name: str) -> list[str]:
    """A MOUS or EB name that cannot be a single, safe path component under results/."""
    if SAFE_NAME.fullmatch(name) and name not in (".", ".."):
        return []
    return [
        f"config: mous{'' if kind == 'MOUS' else '.<mous>.ebs'}: {kind} name {name!r} is not a "
        "safe folder name (letters, digits and _ . + -, not starting with '-', never '.' or '..')"
    ]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def flux_file_errors(
    path: str | Path, ebs: list[str], metadata: dict[str, dict] | None = None
) -> list[str]:
    """The flux.csv of a MOUS: columns, and for the rows of its EBs (``ms`` = <EB>.ms; rows of
    other EBs are left alone) numbers, I > 0, spw ids, duplicate rows and, for EBs whose metadata
    is given, fields and spws that exist."""
    metadata = metadata or {}
    path = Path(path)
    if not path.exists():
        return [f"{path}: flux file not found"]
    errors: list[str] = []
    with path.open(newline="") as stream:
        lines = [
            (n, line)
            for n, line in enumerate(stream.read().splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not lines:
        return [f"{path}: empty flux file; the header is {','.join(FLUX_COLUMNS)},..."]
    header_line, header = lines[0][0], [c.strip() for c in next(csv.reader([lines[0][1]]))]
    missing = [c for c in FLUX_COLUMNS if c not in header]
    if missing:
        return [
            f"{path}:{header_line}: missing column(s) {missing}; expected "
            f"{','.join(FLUX_COLUMNS)},uvmin,uvmax,comment"
        ]
    seen: dict[tuple, int] = {}
    for number, line in lines[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
        where = f"{path}:{number}"
        eb = row["ms"].removesuffix(".ms")
        if eb not in ebs:  # a flux file may serve several MOUSes, or a run of some EBs only
            continue
        values = {k: _number(row[k]) for k in FLUX_NUMBERS}
        bad = [k for k, v in values.items() if v is None]
        if bad:
            errors.append(
                f"{where}: EB {eb}: {', '.join(f'{k}={row[k]!r}' for k in bad)} not a number"
            )
            continue
        if values["I"] <= 0:
            errors.append(
                f"{where}: EB {eb}: Stokes I = {values['I']} Jy; a flux density must be > 0"
            )
        spw = _number(row["spw"])
        if spw is None or spw != int(spw) or spw < 0:
            errors.append(f"{where}: EB {eb}: spw {row['spw']!r} is not a spw id")
            continue
        key = (eb, row["field"], int(spw))
        if key in seen:
            errors.append(
                f"{where}: EB {eb}: duplicate row for field {row['field']} spw "
                f"{int(spw)} (first at line {seen[key]})"
            )
        seen.setdefault(key, number)
        md = metadata.get(eb)
        if md is not None:
            fields = {f["name"] for f in md["fields"]} | {str(f["id"]) for f in md["fields"]}
            if row["field"] not in fields:
                errors.append(
                    f"{where}: EB {eb}: field {row['field']!r} is not in the EB "
                    f"({', '.join(sorted(f['name'] for f in md['fields']))})"
                )
            if int(spw) not in {s["id"] for s in md["spws"]}:
                errors.append(f"{where}: EB {eb}: spw {int(spw)} is not in the EB")
    return errors


def antenna_position_errors(path: str | Path, eb: str, md: dict | None = None) -> list[str]:
    """A position-service JSON: {"data": {antenna: [x, y, z]}} in ITRF metres on the Earth's
    surface; with the EB's metadata, antennas of the EB."""
    path = Path(path)
    if not path.exists():
        return [f"{path}: EB {eb}: antenna-position file not found"]
    try:
        data = json.loads(path.read_text())["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        return [
            f"{path}: EB {eb}: not an antenna-position file ({type(err).__name__}: {err}); "
            'expected {"data": {"DA41": [x, y, z], ...}} in ITRF metres'
        ]
    if not isinstance(data, dict) or not data:
        return [f"{path}: EB {eb}: 'data' holds no antennas"]
    errors = []
    low, high = EARTH_RADIUS_RANGE_M
    for antenna, xyz in data.items():
        ok = isinstance(xyz, list) and len(xyz) == 3 and all(_number(v) is not None for v in xyz)
        if not ok:
            errors.append(f"{path}: EB {eb}: antenna {antenna}: {xyz!r} is not [x, y, z]")
        elif not low <= math.dist((0, 0, 0), [float(v) for v in xyz]) <= high:
            errors.append(
                f"{path}: EB {eb}: antenna {antenna}: |[x, y, z]| is not on the "
                "Earth's surface (ITRF metres expected)"
            )
    if md is not None:
        known = {a["name"] for a in md["antennas"]}
        unknown = sorted(set(data) - known)
        if unknown:
            errors.append(f"{path}: EB {eb}: antenna(s) {unknown} are not in the EB")
    return errors


def antenna_name_errors(key: str, names: list[str], eb: str, md: dict) -> list[str]:
    """Antennas named in config (refant, wvr.flag) that the EB does not have."""
    known = {a["name"] for a in md["antennas"]}
    unknown = [n for n in names if n and n not in known]
    if unknown:
        return [
            f"config: {key}: EB {eb}: antenna(s) {unknown} are not in the EB "
            f"({', '.join(sorted(known))})"
        ]
    return []


def position_offset_errors(
    path: str | Path, eb: str, corrected: dict[str, list[float]], online: dict[str, list[float]]
) -> list[str]:
    """Offsets between a position file's antennas and the MS's ANTENNA positions (ITRF x, y, z,
    metres) beyond MAX_POSITION_OFFSET_M."""
    errors = []
    for antenna, xyz in corrected.items():
        if antenna in online:
            offset = math.dist(xyz, online[antenna])
            if offset > MAX_POSITION_OFFSET_M:
                errors.append(
                    f"{path}: EB {eb}: antenna {antenna} moves by {offset:.2f} m (corrections are "
                    "mm to cm): not this EB's positions"
                )
    return errors
