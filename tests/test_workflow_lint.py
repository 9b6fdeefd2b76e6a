"""The workflow passes Snakemake's linter, snakefmt and ruff (static checks: seconds, no job runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from workdir import make_workdir, snakemake_args

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_snakemake_lint_reports_nothing(tmp_path):
    """In a scratch workdir: the parse-time checks read no product of the repository's results/."""
    run = subprocess.run(
        [BIN / "snakemake", *snakemake_args(make_workdir(tmp_path / "lint")), "--lint"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Lints for" not in run.stdout + run.stderr


def test_snakefmt_check_passes():
    run = subprocess.run(
        [BIN / "snakefmt", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(command):
    """ruff lint and format, configured in pyproject.toml, over the whole tree."""
    run = subprocess.run([BIN / "ruff", *command, "."], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
