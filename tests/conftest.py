"""Shared test set-up: offline CASA, the test tiers, the demo run of the workflow tier.

pyproject.toml puts workflow/lib and tests/ on sys.path and registers the tier markers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CASASITECONFIG", str(ROOT / "envs" / "casasiteconfig.py"))

TIERS = ("fast", "workflow", "slurm")
# A folder for the demo run that survives the session (reused by the next one): set
# ALMACAL_TEST_WORKDIR=/some/folder to skip the ~1.5-minute demo run when nothing changed.
# Snakemake still reruns whatever is out of date there; delete the folder to start afresh (its
# config/ is copied from the repository only when the folder is first made).
WORKDIR_ENV = "ALMACAL_TEST_WORKDIR"


@pytest.hookimpl(tryfirst=True)  # before -m deselects: every collected test is checked
def pytest_collection_modifyitems(config, items):
    """Refuse the collection when a test has no tier marker, or more than one."""
    wrong = []
    for item in items:
        tiers = sorted({mark.name for mark in item.iter_markers() if mark.name in TIERS})
        if len(tiers) != 1:
            wrong.append(f"  {item.nodeid}: {tiers or 'no tier marker'}")
    if wrong:
        raise pytest.UsageError(
            f"every test needs exactly one of the markers {', '.join(TIERS)} "
            "(pytestmark = pytest.mark.<tier> in its module, or on the test):\n" + "\n".join(wrong)
        )


@pytest.fixture(scope="session")
def demo_raw() -> Path:
    """The demo's raw data (resources/demo_mous/raw), simulated first if missing.

    They are shared by every workdir through its resources/ link (workdir.make_workdir).
    """
    from truth import DEMO_EBS
    from workdir import DEMO_RAW, make_workdir, run_workflow

    raw = ROOT / DEMO_RAW
    wanted = [
        f"{DEMO_RAW}/{eb}{suffix}"
        for eb in DEMO_EBS
        for suffix in ("", ".truth.json", ".antennapos.json")
    ]
    if not all((ROOT / path).exists() for path in wanted):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="almacal_demo_raw_") as scratch:
            run_workflow(make_workdir(Path(scratch) / "work"), *wanted)
    return raw


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, demo_raw) -> Path:
    """The demo MOUS run as the README's main command does (``snakemake --cores 2``), in a
    scratch working directory made once per session (workdir.make_workdir: its own config/,
    results/ and logs/; resources/ linked). Returns that directory: tests read the products
    there (``truth.product(eb, suffix, root=demo_run)``), never the repository's results/."""
    from workdir import make_workdir, run_workflow

    reuse = os.environ.get(WORKDIR_ENV)
    if reuse:
        workdir = Path(reuse).resolve()
        if workdir == ROOT:
            raise pytest.UsageError(f"{WORKDIR_ENV} must not be the repository itself")
        if not (workdir / "config").is_dir():
            make_workdir(workdir)
    else:
        workdir = make_workdir(tmp_path_factory.mktemp("demo") / "work")
    run_workflow(workdir)  # a no-op when a reused workdir is up to date
    return workdir


EVLA_MS = "pyuvdata/data/day2_TDEM0003_10s_norx_1src_1spw.ms"


@pytest.fixture(scope="session")
def evla_ms(tmp_path_factory) -> Path:
    """A real EVLA measurement set (5 MB: one field J1008+0730, one 64-channel spw at 36 GHz,
    80 s, RR/RL/LR/LL, no autocorrelations, no SYSCAL, no BBC_NO), read from the pyuvdata 3.1.3
    wheel (downloaded from PyPI; the test fails if that is impossible)."""
    import subprocess
    import sys
    import zipfile

    where = tmp_path_factory.mktemp("evla")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "download", "pyuvdata==3.1.3", "--no-deps", "-d", str(where)],
        capture_output=True,
        text=True,
    )
    wheels = list(where.glob("pyuvdata-3.1.3-*.whl"))
    assert wheels, f"could not download the pyuvdata 3.1.3 wheel: {run.stderr[-2000:]}"
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(
            where, members=[n for n in wheel.namelist() if n.startswith(EVLA_MS + "/")]
        )
    return where / EVLA_MS
