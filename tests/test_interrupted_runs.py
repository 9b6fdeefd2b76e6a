"""A job killed half way (SIGKILL after its n-th CASA task call, almacal.casa_job's fault switch)
never leaves an EB silently wrong: the next run either recovers by itself or refuses, naming the
EB, the MS and the command to run; after that command the products equal a clean run's.

One EB (the 7 m EB of the demo) in a scratch workdir. Each case edits a flag file (a comment line:
the upstream summaries stay byte-identical; or a real flag line), runs with the fault switch, then
recovers as a reducer would (`--unlock`, run, and the command the refusal names), and compares
caltables, `<eb>.ms.split`, `<eb>.ms.split.cal` and the FLAG column of `<eb>.ms` with a clean run
of the same inputs.
"""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import DEMO_EBS, MOUS
from workdir import BIN, make_workdir, snakemake_args, table_columns

pytestmark = pytest.mark.workflow

EB = DEMO_EBS[2]
FLAGS = Path("config/flags") / MOUS
TARGET = f"results/{MOUS}/{EB}/{EB}.ms.split.cal"
SPLIT_LINE = "antenna='CM03' spw='1' reason='QA: phase jumps'\n"
RAW_LINE = "antenna='CM05' spw='3' reason='QA: amplitude dip'\n"
CALTABLES = (
    ".ap_pre_bandpass",
    ".bandpass",
    ".phase_int",
    ".phase_inf",
    ".ampli_inf",
    ".flux_inf",
    ".renorm.tbl",
)


def one_eb_workdir(path: Path, raw_line: str = "", split_line: str = "") -> Path:
    workdir = make_workdir(path)
    config_file = workdir / "config/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    ebs = config["mous"][MOUS]["ebs"]
    config["mous"][MOUS]["ebs"] = {EB: ebs[EB]}
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    for name, line in ((f"{EB}.raw.flags.txt", raw_line), (f"{EB}.split.flags.txt", split_line)):
        flag_file = workdir / FLAGS / name
        flag_file.write_text(flag_file.read_text() + line)
    return workdir


def snakemake(workdir: Path, *args: str, kill: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ALMACAL_KILL_AFTER_TASK"}
    if kill:
        env["ALMACAL_KILL_AFTER_TASK"] = kill
    return subprocess.run(
        [BIN / "snakemake", *snakemake_args(workdir), "--cores", "2", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def products(workdir: Path) -> dict[str, dict[str, np.ndarray]]:
    base = workdir / f"results/{MOUS}/{EB}/{EB}"
    found = {
        name: table_columns(Path(f"{base}.ms.split{name}"), ("CPARAM", "FPARAM", "FLAG"))
        for name in CALTABLES
    }
    found[".ms.split"] = table_columns(
        Path(f"{base}.ms.split"), ("DATA", "MODEL_DATA", "CORRECTED_DATA", "FLAG", "WEIGHT")
    )
    found[".ms.split.cal"] = table_columns(Path(f"{base}.ms.split.cal"), ("DATA", "FLAG", "WEIGHT"))
    found[".ms"] = table_columns(Path(f"{base}.ms"), ("FLAG",))
    return found


def assert_identical(got: dict, clean: dict) -> None:
    assert got.keys() == clean.keys()
    for product, columns in clean.items():
        assert got[product].keys() == columns.keys(), product
        for column, values in columns.items():
            assert np.array_equal(got[product][column], values), f"{product} {column} differs"


@dataclass
class Interruption:
    job: str
    after_calls: int
    edit: str  # "<stage> comment", "<stage> line on/off" (stage raw or split), or "forcerun"


# Every job that writes an MS in place and every kind of edit, at least once (about 85 s each:
# the CI time budget keeps these seven; flag_apriori@2, flag_split@1, setjy_flux_model@0,
# gaincal_phase_inf@1 and applycal_split_cal@4 passed too when last run, on 2026-12-04).
CASES = [
    Interruption("flag_apriori", 1, "forcerun"),
    Interruption("split_eb", 1, "raw comment"),
    Interruption("split_eb", 3, "raw line on"),
    Interruption("flag_split", 2, "split line on"),
    Interruption("setjy_flux_model", 1, "split line off"),
    Interruption("gaincal_phase_inf", 0, "raw line off"),
    Interruption("applycal_split_cal", 2, "split comment"),
]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict[tuple[bool, bool], dict]:
    """Products of clean runs: (raw line, split line) -> products."""
    runs = {}
    for raw, split in ((False, False), (True, False), (False, True), (True, True)):
        workdir = one_eb_workdir(
            tmp_path_factory.mktemp("clean"), RAW_LINE * raw, SPLIT_LINE * split
        )
        run = snakemake(workdir, TARGET)
        assert run.returncode == 0, run.stdout[-3000:]
        runs[(raw, split)] = products(workdir)
    return runs


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    workdir = one_eb_workdir(tmp_path_factory.mktemp("interrupted"))
    run = snakemake(workdir, TARGET)
    assert run.returncode == 0, run.stdout[-3000:]
    return workdir


def apply_edit(workdir: Path, edit: str, counter: list[int]) -> list[str]:
    """Edit the flag files as the case says; the extra snakemake arguments it needs."""
    if edit == "forcerun":
        return ["--forcerun", "flag_apriori"]
    which, what = edit.split(" ", 1)
    path = workdir / FLAGS / f"{EB}.{which}.flags.txt"
    line = None if what == "comment" else RAW_LINE if which == "raw" else SPLIT_LINE
    text = path.read_text()
    if line is None:
        counter[0] += 1
        text += f"# note {counter[0]}\n"
    elif what == "line on":
        text += line
    else:
        text = text.replace(line, "")
    path.write_text(text)
    return []


def flag_lines(workdir: Path) -> tuple[bool, bool]:
    raw = RAW_LINE in (workdir / FLAGS / f"{EB}.raw.flags.txt").read_text()
    split = SPLIT_LINE in (workdir / FLAGS / f"{EB}.split.flags.txt").read_text()
    return raw, split


def recover(workdir: Path) -> list[str]:
    """Recover as a reducer would; the outcome of each step (for the report)."""
    outcome = []
    assert snakemake(workdir, "--unlock").returncode == 0
    for _ in range(3):
        run = snakemake(workdir, TARGET)
        if run.returncode == 0:
            outcome.append("recovered")
            return outcome
        commands = re.findall(r"snakemake --forcerun (\S+) --cores <N>", run.stdout)
        assert commands, f"neither recovered nor refused with a command:\n{run.stdout[-3000:]}"
        assert f"EB {EB}:" in run.stdout and "Select jobs to execute" not in run.stdout
        outcome.append(f"refused: --forcerun {Path(commands[0]).name}")
        forced = snakemake(workdir, TARGET, "--forcerun", *commands)
        assert forced.returncode == 0, forced.stdout[-3000:]
    raise AssertionError(f"not recovered after {outcome}")


COUNTER = [0]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.job}@{c.after_calls}-{c.edit}" for c in CASES])
def test_interrupted_job_recovers_to_a_clean_run(case: Interruption, work: Path, clean: dict):
    extra = apply_edit(work, case.edit, COUNTER)
    killed = snakemake(work, TARGET, *extra, kill=f"{case.job}:{case.after_calls}")
    assert killed.returncode != 0, f"{case.job} did not run or was not killed"
    assert f"Error in rule {case.job}" in killed.stdout, killed.stdout[-3000:]
    outcome = recover(work)
    print(f"{case.job} after call {case.after_calls}, {case.edit}: {' -> '.join(outcome)}")
    assert snakemake(work, TARGET, "--dry-run").stdout.count("Nothing to be done") == 1
    assert_identical(products(work), clean[flag_lines(work)])
