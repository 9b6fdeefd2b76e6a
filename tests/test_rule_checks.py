"""The parse-time rule checks: a CASA rule missing from the processing order of
casa_commands.log, or a cluster rule without a SLURM group in the SLURM profile, stops the
workflow before any job."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

EXTRA_RULE = """

rule extra_solve:
    input:
        eb_path(".ms.split"),
    output:
        caltable=directory(eb_path(".ms.split.extra")),
    log:
        **casa_logs("extra_solve"),
    script:
        "../scripts/solve.py"
"""


def workflow_copy(tmp_path: Path, extra: str = "", groups: dict[str, str] | None = None) -> Path:
    """The workflow's code and config in tmp_path, with ``extra`` appended to calibrate.smk and
    ``groups`` added to the SLURM profile's groups."""
    for name in ("Snakefile", "config", "envs", "workflow"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    (tmp_path / "resources").symlink_to(ROOT / "resources")
    with (tmp_path / "workflow/rules/calibrate.smk").open("a") as smk:
        smk.write(extra)
    profile = tmp_path / "workflow/profiles/slurm/config.yaml"
    settings = yaml.safe_load(profile.read_text())
    settings["groups"].update(groups or {})
    profile.write_text(yaml.safe_dump(settings))
    return tmp_path


def dry_run(workdir: Path) -> subprocess.CompletedProcess:
    """A dry run; Snakemake prints parse errors on stdout, so both streams go to stdout."""
    return subprocess.run(
        [BIN / "snakemake", "--dry-run", "--quiet", "rules"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_the_workflow_as_it_is_passes_the_checks(tmp_path):
    run = dry_run(workflow_copy(tmp_path))
    assert run.returncode == 0, run.stdout[-3000:]


def test_a_casa_rule_missing_from_the_processing_order_is_refused(tmp_path):
    run = dry_run(workflow_copy(tmp_path, EXTRA_RULE, groups={"extra_solve": "calibrate"}))
    assert run.returncode != 0
    assert "extra_solve records CASA commands but is in neither PROCESSING_ORDER" in run.stdout
    assert "has no group" not in run.stdout


def test_a_rule_without_a_slurm_group_is_refused(tmp_path):
    run = dry_run(workflow_copy(tmp_path, EXTRA_RULE))
    assert run.returncode != 0
    assert (
        "extra_solve has no group in" in run.stdout and "profiles/slurm/config.yaml" in run.stdout
    )


def test_a_slurm_group_for_a_rule_that_does_not_exist_is_refused(tmp_path):
    run = dry_run(workflow_copy(tmp_path, groups={"qa_plot_bandpass": "calibrate"}))
    assert run.returncode != 0
    assert "groups rules that do not exist: ['qa_plot_bandpass']" in run.stdout
