"""A scratch working directory for the workflow: its own config and results, shared raw data."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEMO_RAW = "resources/demo_mous/raw"  # made by the rule simulate_demo_eb, shared by every workdir


def make_workdir(path: Path) -> Path:
    """Copy config/ (edited by tests); link resources/ (demo raw data are made once)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "config", path / "config")
    if not (path / "resources").exists():
        (path / "resources").symlink_to(ROOT / "resources")
    return path


def snakemake_args(workdir: Path) -> list[str]:
    return ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]


def run_workflow(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [BIN / "snakemake", *snakemake_args(workdir), "--cores", "2", *args],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run


def run_test_mous(workdir: Path, *configfiles: str | Path) -> None:
    """Run the workflow in ``workdir`` on a test MOUS of resources/: its config file(s) replace
    the demo's MOUS (``--configfile``, last: it takes every argument after it)."""
    run_workflow(workdir, "--configfile", *(str(c) for c in configfiles))


def planned(workdir: Path, *args: str) -> set[tuple[str, str | None]]:
    """(rule, EB) of every job the rerun plan lists (EB None for MOUS-level jobs)."""
    run = subprocess.run(
        [
            sys.executable,
            ROOT / "workflow/tools/plan_rerun.py",
            "--json",
            *snakemake_args(workdir),
            *args,
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {(job["rule"], job["eb"]) for job in json.loads(run.stdout)}


def table_columns(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    from casatools import table

    tb = table()
    tb.open(str(path))
    present = set(tb.colnames())
    values = {c: tb.getcol(c) for c in columns if c in present}
    tb.close()
    return values
