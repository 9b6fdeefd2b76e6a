"""Is an imported measurement set the whole ASDM? Every binary data file (BDF) that the ASDM's
Main table names must be present and complete (its MIME document closed), and the MS must hold,
per scan, the rows Main.xml declares: integrations x data descriptions x (baselines and/or
autocorrelations) of each Main row's configuration.
"""

import re
from collections import Counter
from pathlib import Path

_ROW = re.compile(r"<row>.*?</row>", re.S)
_CLOSING = b"--MIME_boundary-1--"


def _value(row: str, tag: str) -> str:
    match = re.search(rf"<{tag}>\s*(.*?)\s*</{tag}>", row, re.S)
    return match.group(1) if match else ""


def _rows(path: Path) -> list[str]:
    return _ROW.findall(path.read_text())


def bdf_name(entity_id: str) -> str:
    """uid://A002/X1/X2 -> uid___A002_X1_X2 (the BDF's file name in ASDMBinary/)."""
    return entity_id.replace(":", "_").replace("/", "_")


def main_rows(asdm: str | Path) -> list[dict]:
    """Main.xml rows: scan, number of integrations and antennas, configuration, BDF name."""
    rows = []
    for row in _rows(Path(asdm) / "Main.xml"):
        uid = re.search(r'entityId="([^"]+)"', _value(row, "dataUID"))
        rows.append(
            {
                "scan": int(_value(row, "scanNumber")),
                "integrations": int(_value(row, "numIntegration")),
                "antennas": int(_value(row, "numAntenna")),
                "config": _value(row, "configDescriptionId"),
                "bdf": bdf_name(uid.group(1)) if uid else "",
            }
        )
    return rows


def rows_per_integration(asdm: str | Path) -> dict[str, tuple[int, bool, bool]]:
    """configDescriptionId -> (number of data descriptions, cross, auto)."""
    configs = {}
    for row in _rows(Path(asdm) / "ConfigDescription.xml"):
        mode = _value(row, "correlationMode")
        configs[_value(row, "configDescriptionId")] = (
            int(_value(row, "numDataDescription")),
            mode != "AUTO_ONLY",
            mode != "CROSS_ONLY",
        )
    return configs


def missing_or_truncated_bdfs(asdm: str | Path) -> list[str]:
    """BDFs named by Main.xml that are absent, empty or cut short (no closing MIME boundary)."""
    binary = Path(asdm) / "ASDMBinary"
    bad = []
    for name in sorted({row["bdf"] for row in main_rows(asdm)}):
        path = binary / name
        if not path.is_file():
            bad.append(f"{name} (missing)")
            continue
        with path.open("rb") as stream:
            stream.seek(max(0, path.stat().st_size - 256))
            tail = stream.read()
        if _CLOSING not in tail:
            bad.append(f"{name} (truncated: no closing MIME boundary)")
    return bad


def expected_rows_per_scan(asdm: str | Path) -> Counter:
    configs = rows_per_integration(asdm)
    expected: Counter = Counter()
    for row in main_rows(asdm):
        n_dd, cross, auto = configs[row["config"]]
        n = row["antennas"]
        per_integration = n_dd * (n * (n - 1) // 2 * cross + n * auto)
        expected[row["scan"]] += row["integrations"] * per_integration
    return expected


def ms_rows_per_scan(ms: str | Path) -> Counter:
    from casatools import table

    tb = table()
    tb.open(str(ms))
    try:
        return Counter(int(s) for s in tb.getcol("SCAN_NUMBER"))
    finally:
        tb.close()


def import_problems(asdm: str | Path, ms: str | Path) -> list[str]:
    """What the MS lacks of the ASDM ([] when it is complete)."""
    problems = [f"BDF {bad}" for bad in missing_or_truncated_bdfs(asdm)]
    expected, found = expected_rows_per_scan(asdm), ms_rows_per_scan(ms)
    for scan in sorted(set(expected) | set(found)):
        if expected[scan] != found[scan]:
            bdfs = sorted({r["bdf"] for r in main_rows(asdm) if r["scan"] == scan})
            problems.append(
                f"scan {scan}: {found[scan]} rows in the MS, {expected[scan]} "
                f"declared by Main.xml (BDFs {', '.join(bdfs)})"
            )
    return problems
