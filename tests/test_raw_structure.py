"""What raw data lack is said before any job runs (almacal.raw_data.structure_errors): the EB,
the table or column, and the remedy. On the real EVLA MS (conftest ``evla_ms``) broken in
copies, on ASDM folders with tables missing, and through the snakemake CLI.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workdir import make_workdir, snakemake_args

from almacal import raw_data

EB = "uid___A002_Xevla_X1"
BIN = Path(sys.executable).parent


@pytest.fixture
def ms_copy(evla_ms, tmp_path) -> Path:
    copy = tmp_path / f"{EB}.ms"
    shutil.copytree(evla_ms, copy)
    return copy


@pytest.mark.fast
def test_a_complete_ms_with_roles_in_config_passes(evla_ms):
    assert raw_data.structure_errors(EB, evla_ms, roles_given=True) == []


@pytest.mark.fast
def test_an_ms_without_scan_intents_needs_roles_from_config(evla_ms):
    (error,) = raw_data.structure_errors(EB, evla_ms, roles_given=False)
    assert f"EB {EB}" in error and "no scan intents" in error
    assert "calibration.field_roles" in error


@pytest.mark.fast
def test_an_ms_with_only_corrected_data_is_told_to_split_it(ms_copy):
    from casatools import table

    tb = table()
    tb.open(str(ms_copy), nomodify=False)
    tb.renamecol("DATA", "CORRECTED_DATA")
    tb.close()
    (error,) = raw_data.structure_errors(EB, ms_copy, roles_given=True)
    assert "no DATA column, only CORRECTED_DATA" in error and "datacolumn='corrected'" in error
    assert str(ms_copy) in error


@pytest.mark.fast
def test_an_ms_without_a_subtable_or_columns_is_refused(ms_copy):
    from casatools import table

    shutil.rmtree(ms_copy / "FIELD")
    tb = table()
    tb.open(str(ms_copy), nomodify=False)
    tb.removecols(["WEIGHT"])
    tb.close()
    errors = raw_data.structure_errors(EB, ms_copy, roles_given=True)
    assert any("lacks the subtable(s) ['FIELD']" in e for e in errors), errors
    assert any("lacks the column(s) ['WEIGHT']" in e for e in errors), errors
    assert all(e.startswith(f"EB {EB}: MS {ms_copy}") for e in errors)


@pytest.mark.fast
def test_an_ms_with_two_antennas_is_refused(ms_copy):
    from casatools import table

    tb = table()
    tb.open(str(ms_copy / "ANTENNA"), nomodify=False)
    tb.removerows(list(range(2, tb.nrows())))
    tb.close()
    (error,) = raw_data.structure_errors(EB, ms_copy, roles_given=True)
    assert "lists 2 antenna(s)" in error and "need at least 3" in error


def fake_asdm(folder: Path, antennas: int, without: tuple[str, ...] = ()) -> Path:
    """An ASDM folder: ASDM.xml listing the Antenna table's rows, the tables as empty files."""
    folder.mkdir()
    (folder / "ASDMBinary").mkdir()
    (folder / "ASDM.xml").write_text(
        "<ASDM><Table> <Name> Antenna </Name> <NumberRows> "
        f"{antennas} </NumberRows> </Table></ASDM>"
    )
    for name in raw_data.ASDM_TABLES:
        if name not in without:
            (folder / f"{name}.xml").write_text("<x/>")
    return folder


@pytest.mark.fast
def test_asdm_tables_binary_data_and_antennas_are_checked(tmp_path):
    assert raw_data.structure_errors(EB, fake_asdm(tmp_path / "ok", 12), roles_given=False) == []
    broken = fake_asdm(tmp_path / "broken", 2, without=("Source", "Scan"))
    shutil.rmtree(broken / "ASDMBinary")
    errors = raw_data.structure_errors(EB, broken, roles_given=False)
    assert len(errors) == 3, errors
    assert "lacks the table(s) ['Scan', 'Source']" in errors[0]
    assert "no ASDMBinary folder" in errors[1]
    assert "lists 2 antenna(s)" in errors[2]


@pytest.mark.fast
def test_neither_asdm_nor_ms_is_said(tmp_path):
    (tmp_path / "empty").mkdir()
    (error,) = raw_data.structure_errors(EB, tmp_path / "empty", roles_given=True)
    assert "neither an ASDM" in error
    (tmp_path / "file.tar").write_text("x")
    (error,) = raw_data.structure_errors(EB, tmp_path / "file.tar", roles_given=True)
    assert "is a file" in error


@pytest.mark.workflow
def test_snakemake_refuses_the_broken_ms_before_any_job(ms_copy, tmp_path):
    work = make_workdir(tmp_path / "work")
    (work / "flags").mkdir()
    (work / "flux.csv").write_text("ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment\n")
    shutil.rmtree(ms_copy / "SPECTRAL_WINDOW")
    own = {
        "mous": {
            "uid___A001_Xevla_X1": {
                "flux_file": str(work / "flux.csv"),
                "flags_dir": str(work / "flags"),
                "ebs": {EB: {"raw": str(ms_copy)}},
            }
        }
    }
    (work / "my.yaml").write_text(yaml.safe_dump(own))
    run = subprocess.run(
        [BIN / "snakemake", *snakemake_args(work), "-n", "--configfile", str(work / "my.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.returncode != 0
    assert f"EB {EB}: MS {ms_copy} lacks the subtable(s) ['SPECTRAL_WINDOW']" in run.stdout
    assert "no scan intents" in run.stdout  # both problems in one error
    assert "Job stats" not in run.stdout and not (work / "results").exists()
