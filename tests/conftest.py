"""Shared test set-up: offline CASA, the workflow's library importable, one demo run per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CASASITECONFIG", str(ROOT / "envs" / "casasiteconfig.py"))
sys.path.insert(0, str(ROOT / "workflow" / "lib"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def demo_run():
    """Run the workflow on the demo MOUS, as the README's main command does (no-op when done)."""
    run = subprocess.run(
        [Path(sys.executable).parent / "snakemake", "--cores", "2"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run
