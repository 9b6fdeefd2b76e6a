"""Edit a flag, rerun only what is stale, and get exactly what a clean run gives.

Runs the real snakemake CLI on the 3-EB demo MOUS in a scratch working directory.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from truth import DEMO_EBS, MOUS, SPLIT_CHAIN
from workdir import make_workdir, planned, run_workflow, table_columns

pytestmark = pytest.mark.workflow

EB = DEMO_EBS[1]
FLAGS = Path("config/flags") / MOUS
LINE = "antenna='DA45' spw='1' reason='QA: high phase scatter'\n"

# QA of each product: its plot rule (one for the solve tables), and every EB's QA summary.
QA_OF = {
    "bandpass": {"qa_plot_solves"},
    "gaincal_phase_int": {"qa_plot_solves"},
    "gaincal_phase_inf": {"qa_plot_solves"},
    "fluxscale": {"qa_plot_solves"},
    # and the EB's imaging data and calibrator images (image.smk)
    "applycal_split_cal": {
        "qa_plot_calibrated",
        "qa_check_source",
        "targets_ms",
        "image_calibrators",
    },
    "renorm_factors": {"eb_corrections", "qa_plot_corrections"},
}
MOUS_LEVEL = {
    ("mous_summary", None),
    ("casa_commands", None),
    ("qa_report", None),
    ("delivery_package", None),
    ("image_continuum", None),
    ("image_cubes", None),
    ("imaging_sensitivity", None),
}
CALTABLES = (
    ".ap_pre_bandpass",
    ".bandpass",
    ".phase_offsets",
    ".phase_int",
    ".phase_inf",
    ".ampli_inf",
    ".flux_inf",
)


def chain(rules: set[str], ebs: list[str]) -> set[tuple[str, str | None]]:
    """Jobs that remaking ``rules`` for ``ebs`` implies: their QA, the EB and MOUS summaries, the
    EB's calibration script and the MOUS's delivery package."""
    with_qa = set(rules).union(*(QA_OF.get(rule, set()) for rule in rules))
    with_qa |= {"qa_eb_summary", "calibration_script"}
    return {(rule, eb) for rule in with_qa for eb in ebs} | MOUS_LEVEL


def products(workdir: Path, eb: str) -> dict[str, dict[str, np.ndarray]]:
    """Solutions, flags and visibilities of an EB's caltables, split and calibrated MS."""
    base = workdir / "results" / MOUS / eb / f"{eb}.ms.split"
    found = {
        name: table_columns(
            Path(f"{base}{name}"),
            ("TIME", "ANTENNA1", "SPECTRAL_WINDOW_ID", "CPARAM", "FPARAM", "FLAG"),
        )
        for name in CALTABLES
    }
    found[".ms.split FLAG"] = table_columns(base, ("FLAG",))
    found[".ms.split.cal"] = table_columns(Path(f"{base}.cal"), ("DATA", "FLAG", "WEIGHT"))
    return found


def assert_identical(left: dict, right: dict) -> None:
    for product, columns in left.items():
        for column, values in columns.items():
            assert np.array_equal(values, right[product][column]), f"{product} {column} differs"


class EditedFile:
    """Append a line to a flag file; restore the file and its time stamp afterwards."""

    def __init__(self, path: Path, line: str):
        self.path, self.line = path, line

    def __enter__(self):
        self.text, stat = self.path.read_text(), self.path.stat()
        self.times = (stat.st_atime, stat.st_mtime)
        self.path.write_text(self.text + self.line)
        return self

    def __exit__(self, *exc):
        self.path.write_text(self.text)
        os.utime(self.path, self.times)


@pytest.fixture(scope="module")
def work(tmp_path_factory, demo_raw):
    workdir = make_workdir(tmp_path_factory.mktemp("incremental") / "work")
    run_workflow(workdir)
    return workdir


def test_second_run_with_nothing_changed_runs_nothing(work):
    assert planned(work) == set()
    assert "Nothing to be done" in run_workflow(work).stdout + run_workflow(work).stderr


def test_split_flag_edit_in_one_eb_equals_clean_run_and_undoes_exactly(work, tmp_path):
    before = products(work, EB)
    flag_file = work / FLAGS / f"{EB}.split.flags.txt"
    flag_file.write_text(flag_file.read_text() + LINE)

    assert planned(work) == chain(SPLIT_CHAIN, [EB])
    run_workflow(work)
    after_edit = products(work, EB)
    assert not np.array_equal(after_edit[".ms.split.cal"]["FLAG"], before[".ms.split.cal"]["FLAG"])

    clean = make_workdir(tmp_path / "clean")
    shutil.copy(flag_file, clean / FLAGS / flag_file.name)
    run_workflow(clean, f"results/{MOUS}/{EB}/{EB}.ms.split.cal")
    assert_identical(after_edit, products(clean, EB))

    flag_file.write_text(flag_file.read_text().replace(LINE, ""))  # remove the line again
    assert planned(work) == chain(SPLIT_CHAIN, [EB])
    run_workflow(work)
    assert_identical(products(work, EB), before)


def test_mous_wide_split_flag_reruns_the_chain_of_every_eb(work):
    with EditedFile(work / FLAGS / "mous.split.flags.txt", "spw='1:60~63' reason='RFI'\n"):
        assert planned(work) == chain(SPLIT_CHAIN, DEMO_EBS)
    assert planned(work) == set()


def test_raw_stage_flag_reruns_from_the_split_of_that_eb(work):
    with EditedFile(work / FLAGS / f"{EB}.raw.flags.txt", LINE):
        # the split is remade, and so are the low-gain and calibrator-outlier flags found on it
        remade = {"split_eb", "lowgainflag", "correctedampflag"}
        assert planned(work) == chain(SPLIT_CHAIN | remade, [EB])


def test_solution_interval_change_reruns_only_the_tables_that_use_it(work):
    # the spwphaseup decision is made for the phase_inf solint: it and the solves and the
    # applycal that use its spw map follow
    new = 'calibration={"phase_inf": {"solint": "60s"}}'
    expected = {
        "spwphaseup",
        "gaincal_phase_inf",
        "gaincal_ampli_inf",
        "fluxscale",
        "applycal_split_cal",
    }
    assert planned(work, "--config", new) == chain(expected, DEMO_EBS)
    new = 'calibration={"phase_int": {"solint": "30s"}}'
    expected = {"gaincal_phase_int", "gaincal_ampli_inf", "fluxscale", "applycal_split_cal"}
    assert planned(work, "--config", new) == chain(expected, DEMO_EBS)


def test_bad_flag_line_stops_before_any_job_naming_file_and_line(work):
    import subprocess

    from workdir import BIN, snakemake_args

    with EditedFile(work / FLAGS / f"{EB}.split.flags.txt", "antenna='DA99' spw='1:0~500'\n"):
        run = subprocess.run(
            [BIN / "snakemake", *snakemake_args(work), "--cores", "2"],
            capture_output=True,
            text=True,
        )
    assert run.returncode != 0
    message = run.stdout + run.stderr
    assert f"{EB}.split.flags.txt, line 4" in message
    assert "antenna 'DA99' is not in the EB" in message and "outside spw 1 (0~127)" in message
    assert "Select jobs to execute" not in message
