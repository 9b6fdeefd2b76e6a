"""What an EB's raw data carry that decides which products it has: WVR data (a wvrgcal table)
and a SysCal table (a Tsys table). Read from the raw ASDM or measurement set itself, the same
for every EB; for raw data that a rule makes during the run (the demo), the EB's config entry
``raw_contents`` says it until they exist, and is checked against them once they do.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawContents:
    wvr: bool
    syscal: bool


class RawContentsError(ValueError):
    """The raw data's contents cannot be known, or disagree with config."""


def _ms_has_wvr(ms: Path) -> bool:
    """An MS with a spw named ...WVR... and scan intents (wvrgcal needs them)."""
    from casatools import table

    tb = table()
    tb.open(str(ms / "SPECTRAL_WINDOW"))
    try:
        names = list(tb.getcol("NAME"))
    finally:
        tb.close()
    return any("WVR" in name for name in names) and bool(_ms_intents(ms))


def read_contents(raw: str | Path) -> RawContents:
    """Contents of an existing ASDM (SpectralWindow.xml, SysCal table) or MS (subtables)."""
    path = Path(raw)
    if (path / "ASDM.xml").exists() or (path / "SpectralWindow.xml").exists():
        spws = path / "SpectralWindow.xml"
        wvr = spws.exists() and "WVR" in spws.read_text()
        syscal = _asdm_rows(path, "SysCal") > 0
        return RawContents(wvr=wvr, syscal=syscal)
    return RawContents(wvr=_ms_has_wvr(path), syscal=_ms_syscal_rows(path) > 0)


def _asdm_rows(asdm: Path, name: str) -> int:
    """NumberRows of a table in ASDM.xml (0 when the table is not listed or has no rows)."""
    import re

    listing = asdm / "ASDM.xml"
    if not listing.exists():  # no table listing: the table's files decide
        present = (asdm / f"{name}.xml").exists() or (asdm / f"{name}.bin").exists()
        return 1 if present else 0
    match = re.search(
        rf"<Name>\s*{name}\s*</Name>\s*<NumberRows>\s*(\d+)\s*</NumberRows>",
        listing.read_text(errors="replace"),
    )
    return int(match.group(1)) if match else 0


def _ms_syscal_rows(ms: Path) -> int:
    """Rows of the MS's SYSCAL table (0 without one: a SYSCAL present but empty has no Tsys)."""
    if not (ms / "SYSCAL").is_dir():
        return 0
    from casatools import table

    tb = table()
    tb.open(str(ms / "SYSCAL"))
    rows = tb.nrows()
    tb.close()
    return rows


def contents(eb: str, raw: str | Path, declared: dict | None) -> RawContents:
    """The EB's raw contents: from the data if they exist, else as config declares them."""
    stated = RawContents(**declared) if declared else None
    if Path(raw).exists():
        found = read_contents(raw)
        if stated is not None and stated != found:
            raise RawContentsError(
                f"config: EB {eb}: raw_contents says {stated} but the raw data {raw} carry "
                f"{found}; correct or remove raw_contents"
            )
        return found
    if stated is None:
        raise RawContentsError(
            f"config: EB {eb}: raw data {raw} do not exist, so whether they carry WVR and "
            "SysCal data cannot be read from them: make them first, or state "
            "raw_contents: {wvr: true|false, syscal: true|false} in the EB's entry"
        )
    return stated


# Said wherever an EB is calibrated without WVR (ACA 7 m arrays, other telescopes).
NO_WVR = (
    "the data carry no WVR#NOMINAL window (no 183 GHz water-vapour radiometer data): "
    "calibrated without a WVR table"
)


# What the calibration needs of the raw data, checked before any job runs (structure_errors).
ASDM_TABLES = (  # importasdm reads these; an ASDM without one cannot be imported
    "Main",
    "Antenna",
    "ConfigDescription",
    "DataDescription",
    "ExecBlock",
    "Field",
    "Polarization",
    "Scan",
    "Source",
    "SpectralWindow",
    "State",
    "Station",
    "Subscan",
)
MS_SUBTABLES = (
    "ANTENNA",
    "DATA_DESCRIPTION",
    "FIELD",
    "OBSERVATION",
    "POLARIZATION",
    "SPECTRAL_WINDOW",
)
MS_COLUMNS = (
    "ANTENNA1",
    "ANTENNA2",
    "DATA",
    "DATA_DESC_ID",
    "FIELD_ID",
    "FLAG",
    "SCAN_NUMBER",
    "SIGMA",
    "TIME",
    "UVW",
    "WEIGHT",
)
MIN_ANTENNAS = 3  # antenna-based solves (gaincal, bandpass) need three antennas


def structure_errors(eb: str, raw: str | Path, *, roles_given: bool) -> list[str]:
    """What an EB's raw ASDM or MS lacks that the calibration needs, each naming the EB, the
    table and the remedy (empty when nothing is missing). ``roles_given``: config states the
    bandpass and phase calibrators, so that data without scan intents can still be calibrated."""
    path = Path(raw)
    if not path.exists():
        return []  # made by a rule (the demo), or Snakemake's missing input
    if not path.is_dir():
        return [f"EB {eb}: raw data {raw} is a file; give the ASDM or MS directory"]
    if (path / "ASDM.xml").exists():
        return _asdm_errors(eb, path)
    if (path / "table.dat").exists():
        return _ms_errors(eb, path, roles_given)
    return [
        f"EB {eb}: raw data {raw} are neither an ASDM (no ASDM.xml) nor a measurement set (no "
        "table.dat); give the EB's ASDM directory or an MS"
    ]


def _asdm_errors(eb: str, asdm: Path) -> list[str]:
    errors = []
    missing = [
        name
        for name in ASDM_TABLES
        if not ((asdm / f"{name}.xml").exists() or (asdm / f"{name}.bin").exists())
    ]
    if missing:
        errors.append(
            f"EB {eb}: ASDM {asdm} lacks the table(s) {missing} ({{name}}.xml or .bin) that "
            "importasdm needs: the ASDM is incomplete; download it again (e.g. with the ALMA "
            "archive's asdmExport)"
        )
    if not (asdm / "ASDMBinary").is_dir():
        errors.append(
            f"EB {eb}: ASDM {asdm} has no ASDMBinary folder (the visibilities): download the "
            "ASDM again with its binary data"
        )
    antennas = _asdm_rows(asdm, "Antenna")
    if "Antenna" not in missing and antennas < MIN_ANTENNAS:
        errors.append(_too_few_antennas(eb, f"ASDM {asdm} (ASDM.xml: Antenna)", antennas))
    return errors


def _too_few_antennas(eb: str, where: str, antennas: int) -> str:
    return (
        f"EB {eb}: {where} lists {antennas} antenna(s); the antenna-based solves (gaincal, "
        f"bandpass) need at least {MIN_ANTENNAS}: this EB cannot be calibrated here; leave it "
        "out of the MOUS"
    )


def _ms_errors(eb: str, ms: Path, roles_given: bool) -> list[str]:
    from casatools import table

    missing = [name for name in MS_SUBTABLES if not (ms / name / "table.dat").exists()]
    errors = []
    if missing:
        errors.append(
            f"EB {eb}: MS {ms} lacks the subtable(s) {missing}: it is not a complete "
            "measurement set; make it again from the ASDM (importasdm) or give the ASDM"
        )
    tb = table()
    try:
        tb.open(str(ms))
    except RuntimeError as err:
        return errors + [f"EB {eb}: MS {ms} cannot be opened as a table: {err}"]
    try:
        columns = set(tb.colnames())
    finally:
        tb.close()
    lacking = [c for c in MS_COLUMNS if c not in columns]
    if "DATA" in lacking and "CORRECTED_DATA" in columns:
        errors.append(
            f"EB {eb}: MS {ms} has no DATA column, only CORRECTED_DATA: the workflow calibrates "
            "raw visibilities from DATA; if these are raw, split them out first: "
            f"split(vis='{ms}', outputvis=..., datacolumn='corrected')"
        )
        lacking.remove("DATA")
    if lacking:
        errors.append(
            f"EB {eb}: MS {ms} main table lacks the column(s) {lacking}: not a calibratable "
            "measurement set; make it again from the ASDM (importasdm)"
        )
    if "ANTENNA" not in missing:
        tb.open(str(ms / "ANTENNA"))
        antennas = tb.nrows()
        tb.close()
        if antennas < MIN_ANTENNAS:
            errors.append(_too_few_antennas(eb, f"MS {ms} (ANTENNA table)", antennas))
    if not roles_given and not _ms_intents(ms):
        errors.append(
            f"EB {eb}: MS {ms} carries no scan intents (its STATE table is missing or has no "
            "OBS_MODE), so the field roles cannot be read from the data: state them in config, "
            "calibration.field_roles (bandpass and phase at least; flux, target, check) or the "
            "EB's overrides"
        )
    return errors


def _ms_intents(ms: Path) -> list[str]:
    """The MS's scan intents (STATE OBS_MODE), empty without a STATE table."""
    if not (ms / "STATE" / "table.dat").exists():
        return []
    from casatools import table

    tb = table()
    tb.open(str(ms / "STATE"))
    try:
        return [m for m in tb.getcol("OBS_MODE") if m] if tb.nrows() else []
    finally:
        tb.close()
