"""The same workflow through a real scheduler: a one-node SLURM cluster on this machine.

tests/slurm/one_node_cluster.sh installs Debian's slurm-wlm and munge if needed and starts
munged, slurmctld and slurmd. The demo MOUS plus a second MOUS (batch reprocessing in one
invocation) run through Snakemake's SLURM executor with workflow/profiles/slurm; the products
must equal those of the local run bit for bit.
"""

import subprocess
from pathlib import Path

import pytest
import yaml
from test_incremental import assert_identical, products
from truth import DEMO_EBS, MOUS, ROOT
from workdir import BIN, make_workdir, run_workflow

SECOND_MOUS = "uid___A001_Xbatch_X2"
SECOND_EB = "uid___A002_Xbatch_X1"


def second_mous(workdir: Path) -> None:
    """Add a second MOUS to the config: one EB made from the raw data of demo EB 3."""
    config_file = workdir / "config/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    flux = workdir / "config/flux_batch.csv"
    rows = (ROOT / "config/flux.csv").read_text().splitlines()
    flux.write_text(rows[0] + "\n")  # no rows: the ASDM Source-table fluxes, as for demo EB 3
    (workdir / "config/flags" / SECOND_MOUS).mkdir(parents=True)
    raw = f"resources/demo_mous/raw/{DEMO_EBS[2]}"
    config["mous"][SECOND_MOUS] = {
        "flux_file": str(flux),
        "flags_dir": f"config/flags/{SECOND_MOUS}",
        "ebs": {SECOND_EB: {"raw": raw, "antenna_positions": f"{raw}.antennapos.json"}},
    }
    config_file.write_text(yaml.safe_dump(config))


def slurm_jobs() -> dict[int, str]:
    """Job id -> state of every job slurmctld still remembers (MinJobAge keeps finished ones)."""
    listing = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"], capture_output=True, text=True, check=True
    ).stdout
    return {int(job): state for job, state in (line.split() for line in listing.splitlines())}


@pytest.mark.slurm
def test_slurm_run_of_two_mouses_equals_local_run(tmp_path, demo_run):
    cluster = subprocess.run(
        ["bash", ROOT / "tests/slurm/one_node_cluster.sh"], capture_output=True, text=True
    )
    assert cluster.returncode == 0, cluster.stdout + cluster.stderr
    work = make_workdir(tmp_path / "slurm")
    second_mous(work)
    before = slurm_jobs()
    run = run_workflow(
        work,
        "--workflow-profile",
        str(ROOT / "workflow/profiles/slurm"),
        "--slurm-init-seconds-before-status-checks",
        "5",
        "--jobs",
        "4",
    )
    assert "slurm" in (run.stdout + run.stderr).lower()
    ours = {job: state for job, state in slurm_jobs().items() if job not in before}
    # per EB: its preparation, its calibration solves, renorm_factors, renorm_table (every demo
    # EB's target has the line), the final applycal with its QA, the corrections file with its
    # plot: each one SLURM job; per MOUS its continuum images, its cubes (the "image" group: two
    # jobs, the rules do not depend on each other) and its delivery package
    assert len(ours) == 6 * (len(DEMO_EBS) + 1) + 2 * 3, ours
    assert set(ours.values()) == {"COMPLETED"}, ours
    for eb in DEMO_EBS:
        assert_identical(products(work, eb), products(demo_run, eb))  # the local run's
    assert (work / "results" / SECOND_MOUS / SECOND_EB / f"{SECOND_EB}.ms.split.cal").is_dir()
    assert (work / "results" / SECOND_MOUS / f"{SECOND_MOUS}.calibration_summary.json").is_file()


@pytest.mark.workflow  # a refused dry run: no cluster needed
def test_an_eb_name_in_two_mouses_is_refused(tmp_path, demo_raw):
    work = make_workdir(tmp_path / "clash")
    config_file = work / "config/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["mous"]["uid___A001_Xclash_X1"] = {
        "flux_file": "config/flux.csv",
        "flags_dir": "config/flags/x",
        "ebs": {DEMO_EBS[0]: {"raw": f"resources/demo_mous/raw/{DEMO_EBS[0]}"}},
    }
    config_file.write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [BIN / "snakemake", "--snakefile", ROOT / "Snakefile", "--directory", work, "-n"],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    message = run.stdout + run.stderr
    assert f"EB {DEMO_EBS[0]} is listed under MOUS" in message
    assert MOUS in message and "uid___A001_Xclash_X1" in message
