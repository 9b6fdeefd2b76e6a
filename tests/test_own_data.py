"""Your own data: `--configfile my.yaml` alone plans your MOUS and nothing of the demo.

The config is the template config/own_data.template.yaml with its placeholders filled in (an EB
whose raw data are a copy of a demo ASDM under another name), as the README's "Calibrate your
own data" tells a user to do.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from truth import DEMO_EBS, ROOT
from workdir import make_workdir, snakemake_args

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
MOUS = "uid___A001_X1234_X56"
EB = "uid___A002_Xabcd_X1"


@pytest.fixture(scope="module")
def own_config(tmp_path_factory, demo_raw) -> Path:
    work = make_workdir(tmp_path_factory.mktemp("own_data"))  # a checkout's config/ and resources/
    shutil.copytree(demo_raw / DEMO_EBS[2], work / EB)
    (work / "flags").mkdir()
    (work / "flux.csv").write_text(
        "ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment\n"
        f"{EB}.ms,J1924-2914,1,3.0,0,0,0,-0.6,0,0,\n"
        f"{EB}.ms,J1924-2914,3,3.0,0,0,0,-0.6,0,0,\n"
    )
    template = (ROOT / "config/own_data.template.yaml").read_text()
    config = yaml.safe_load(
        template.replace("my/flux.csv", str(work / "flux.csv"))
        .replace(f"my/flags/{MOUS}", str(work / "flags"))
        .replace(f"/data/{EB}", str(work / EB))
    )
    assert list(config) == ["mous"]  # the template sets nothing else
    (work / "my.yaml").write_text(yaml.safe_dump(config))
    return work


def dry_run(work: Path, *args: str) -> list[dict[str, str]]:
    """The wildcards of every job that a dry run plans (rule name included)."""
    run = subprocess.run(
        [BIN / "snakemake", *snakemake_args(work), "-n", "--cores", "2", *args],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    jobs = []
    for line in (run.stdout + run.stderr).splitlines():  # group jobs list their rules indented
        head = re.match(r"\s*(?:local)?(?:rule|checkpoint) (\w+):$", line)
        wildcards = re.match(r"\s*wildcards: (.*)", line)
        if head:
            jobs.append({"rule": head.group(1)})
        elif wildcards and jobs:
            jobs[-1].update(w.split("=", 1) for w in wildcards.group(1).split(", "))
    return jobs


def test_configfile_alone_plans_only_your_mous(own_config):
    jobs = dry_run(own_config, "--configfile", str(own_config / "my.yaml"))
    rules = {job["rule"] for job in jobs}
    assert "simulate_demo_eb" not in rules
    assert {job.get("mous") for job in jobs if "mous" in job} == {MOUS}
    assert {job.get("eb") for job in jobs if "eb" in job} == {EB}
    assert {"import_eb", "eb_choices", "split_eb", "applycal_split_cal", "qa_report"} <= rules


def test_replacing_the_workflow_config_plans_the_same(own_config):
    """--replace-workflow-config with the template plus the calibration and imaging sections of
    config/config.yaml: the same jobs as --configfile alone."""
    full = yaml.safe_load((own_config / "my.yaml").read_text())
    workflow_config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    full["calibration"] = workflow_config["calibration"]
    full["imaging"] = workflow_config["imaging"]
    (own_config / "full.yaml").write_text(yaml.safe_dump(full))
    alone = dry_run(own_config, "--configfile", str(own_config / "my.yaml"))
    replaced = dry_run(
        own_config, "--configfile", str(own_config / "full.yaml"), "--replace-workflow-config"
    )
    key = lambda job: (job["rule"], job.get("eb", ""))  # noqa: E731
    assert sorted(map(key, alone)) == sorted(map(key, replaced))
