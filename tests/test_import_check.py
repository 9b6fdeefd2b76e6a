"""An ASDM with a missing or truncated binary data file is refused at import, naming the EB and
the files; a complete one imports."""

import shutil
from pathlib import Path

import pytest
from truth import DEMO_EBS

from almacal import asdm_check
from almacal.calibration.import_eb import IncompleteImportError, import_eb

pytestmark = pytest.mark.workflow

EB = DEMO_EBS[2]


@pytest.fixture
def asdm(tmp_path, demo_raw) -> Path:
    """A copy of the demo's 7 m EB (the shared demo raw data, simulated first if missing)."""
    copy = tmp_path / EB
    shutil.copytree(demo_raw / EB, copy)
    return copy


def run_import(asdm: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    import_eb(
        raw=str(asdm),
        ms=str(out / f"{EB}.ms"),
        listobs=str(out / "listobs.txt"),
        metadata=str(out / "metadata.json"),
        log=str(out / "casa.log"),
        commands=str(out / "commands.py"),
    )


def largest_bdf(asdm: Path) -> Path:
    return max((asdm / "ASDMBinary").iterdir(), key=lambda p: p.stat().st_size)


def test_complete_asdm_declares_the_rows_it_has(asdm):
    assert asdm_check.missing_or_truncated_bdfs(asdm) == []
    assert sum(asdm_check.expected_rows_per_scan(asdm).values()) > 0


def test_missing_bdf_stops_the_import_naming_eb_and_file(asdm, tmp_path):
    bdf = largest_bdf(asdm)
    bdf.unlink()
    with pytest.raises(IncompleteImportError) as err:
        run_import(asdm, tmp_path)
    assert f"EB {EB}" in str(err.value) and f"BDF {bdf.name} (missing)" in str(err.value)
    assert "rows in the MS" in str(err.value)


def test_truncated_bdf_stops_the_import(asdm, tmp_path):
    bdf = largest_bdf(asdm)
    data = bdf.read_bytes()
    bdf.write_bytes(data[: len(data) // 2])
    with pytest.raises(IncompleteImportError) as err:
        run_import(asdm, tmp_path)
    assert f"BDF {bdf.name} (truncated" in str(err.value)
