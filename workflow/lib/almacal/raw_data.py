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
    try:
        tb.open(str(ms / "SPECTRAL_WINDOW"))
        names = list(tb.getcol("NAME"))
        tb.close()
        tb.open(str(ms / "STATE"))
        intents = list(tb.getcol("OBS_MODE")) if tb.nrows() else []
    finally:
        tb.close()
    return any("WVR" in name for name in names) and any(intents)


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
