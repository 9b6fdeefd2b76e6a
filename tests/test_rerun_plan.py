"""The rerun plan (almacal.rerun_plan, the library of workflow/tools/plan_rerun.py) on real
``snakemake --dry-run`` listings of this workflow, captured in a scratch workdir (tests/data/,
see its README): which jobs of which EB, and why, in the reducer's words."""

import importlib.util
import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from truth import DEMO_EBS, MOUS, SPLIT_CHAIN

from almacal import rerun_plan
from almacal.rerun_plan import explain, parse_dry_run, product_name

pytestmark = pytest.mark.fast

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
EB1, EB2, EB3 = DEMO_EBS
MOUS_JOBS = {
    "qa_report",
    "casa_commands",
    "mous_summary",
    "image_continuum",
    "image_cubes",
    "imaging_sensitivity",
    "delivery_package",
}
# a split-stage flag edit of one EB: its calibration chain and the QA of what that remakes
SPLIT_EDIT_JOBS = SPLIT_CHAIN | {
    "calibration_script",
    "eb_corrections",
    "qa_plot_solves",
    "qa_plot_corrections",
    "qa_plot_calibrated",
    "qa_check_source",
    "qa_eb_summary",
    "targets_ms",
    "image_calibrators",
}


def listing(name: str) -> str:
    return (DATA / f"dry_run_{name}.txt").read_text()


def job_stats(text: str) -> Counter:
    """Snakemake's own count of the jobs (its "Job stats" table), but the rule ``all``."""
    table = text.split("Job stats:", 1)[1].split("total", 1)[0]
    counts = Counter()
    for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M):
        counts[rule] += int(count)
    del counts["all"]
    return counts


@pytest.mark.parametrize(
    "name", ["fresh_workdir", "split_flag_edit", "phase_inf_solint", "slurm_profile"]
)
def test_every_job_of_the_listing_is_found_grouped_or_not(name):
    text = listing(name)
    jobs = parse_dry_run(text)
    assert Counter(job.rule for job in jobs) == job_stats(text)
    # with the SLURM profile the jobs of an EB's groups are listed indented under "Group job"
    assert ("Group job" in text) == (name == "slurm_profile")
    for job in jobs:
        assert job.mous == MOUS, job
        assert (job.eb is None) == (job.rule in MOUS_JOBS), job
        assert job.outputs and job.reasons, job


def test_fresh_workdir_plans_every_product_of_every_eb():
    jobs = parse_dry_run(listing("fresh_workdir"))
    per_eb = Counter(job.eb for job in jobs)
    assert per_eb[EB1] == per_eb[EB2] == per_eb[EB3] + 1  # the 7 m EB has no WVR data
    assert {job.rule for job in jobs if job.eb == EB3} == {
        job.rule for job in jobs if job.eb == EB1
    } - {"wvrgcal"}
    assert per_eb[None] == len(MOUS_JOBS)
    imports = [job for job in jobs if job.rule == "import_eb"]
    assert {job.eb for job in imports} == set(DEMO_EBS)
    first = next(job for job in imports if job.eb == EB1)
    assert first.outputs[0] == f"results/{MOUS}/{EB1}/{EB1}.ms"
    assert len(first.reasons) == 1 and first.reasons[0].startswith("not made yet: ")
    assert set(first.reasons[0].removeprefix("not made yet: ").split(", ")) == {
        ".ms",
        ".ms.metadata.json",
    }  # the products named by their suffix, not the full path
    split = next(job for job in jobs if job.rule == "split_eb" and job.eb == EB1)
    assert "upstream product remade: " in split.reasons[1] and ".ms.tsys" in split.reasons[1]


def test_up_to_date_workdir_plans_nothing():
    jobs = parse_dry_run(listing("up_to_date"))
    assert jobs == []
    assert rerun_plan.report(jobs) == "Nothing to remake: every product is up to date."


def test_split_flag_edit_plans_the_chain_of_that_eb_and_names_the_file():
    jobs = parse_dry_run(listing("split_flag_edit"))
    assert {job.eb for job in jobs} == {EB2, None}
    assert {job.rule for job in jobs if job.eb == EB2} == SPLIT_EDIT_JOBS
    assert {job.rule for job in jobs if job.eb is None} == MOUS_JOBS
    flag_split = next(job for job in jobs if job.rule == "flag_split")
    flag_file = f"config/flags/{MOUS}/{EB2}.split.flags.txt"
    assert flag_split.reasons == [f"flag file {flag_file} changed"]
    for job in jobs:
        if job.rule != "flag_split":
            assert all(r.startswith("upstream product remade: ") for r in job.reasons), job
    bandpass = next(job for job in jobs if job.rule == "bandpass")
    assert ".ms.split.flags_user.json" in bandpass.reasons[0]


def test_solint_change_names_the_config_value():
    jobs = parse_dry_run(listing("phase_inf_solint"))
    solves = [job for job in jobs if job.rule == "gaincal_phase_inf"]
    assert {job.eb for job in solves} == set(DEMO_EBS)
    for job in solves:
        assert job.reasons == ["config value changed: solint: 'inf' -> '60s'"]
    # the spwphaseup decision is made for the phase_inf solint: the solves and the applycal that
    # take its spw map follow
    assert {job.rule for job in jobs} == {
        "spwphaseup",
        "gaincal_phase_inf",
        "gaincal_ampli_inf",
        "fluxscale",
        "applycal_split_cal",
        "qa_plot_solves",
        "qa_plot_calibrated",
        "qa_check_source",
        "qa_eb_summary",
        "calibration_script",
        "targets_ms",
        "image_calibrators",
    } | MOUS_JOBS


# The reasons, one at a time.


def test_product_names():
    assert product_name(f"results/{MOUS}/{EB1}/{EB1}.ms.split.bandpass") == ".ms.split.bandpass"
    assert product_name(f"results/{MOUS}/{EB1}/qa/{EB1}.tsys.png") == ".tsys.png"
    assert product_name(f"results/{MOUS}/{MOUS}.casa_commands.log") == ".casa_commands.log"
    assert product_name("config/flux.csv") == "config/flux.csv"


@pytest.mark.parametrize(
    "reason, lines",
    [
        (
            f"Missing output files: results/M/{EB1}/{EB1}.ms.split, results/M/{EB1}/{EB1}.ms.split.split.json",
            ["not made yet: .ms.split, .ms.split.split.json"],
        ),
        (
            "Updated input files: config/flux.csv, config/flags/M/mous.raw.flags.txt",
            [
                "flux file config/flux.csv changed",
                "flag file config/flags/M/mous.raw.flags.txt changed",
            ],
        ),
        (
            f"Input files updated by another job: results/M/{EB1}/{EB1}.ms.tsys, results/M/{EB1}/{EB1}.ms",
            ["upstream product remade: .ms, .ms.tsys"],
        ),
        (
            "Params have changed since last execution: Union of exclusive params before and now across "
            "all output: before: {'minsnr': 2.0, 'spw': {'sel': '1'}} now: {'minsnr': 3.0, 'spw': {'sel': '1'}} ",
            ["config value changed: minsnr: 2.0 -> 3.0"],
        ),
        ("Params have changed since last execution", ["a config value of this step changed"]),
        (
            "Set of input files has changed since last execution",
            ["a flag file was added or removed"],
        ),
        ("Code has changed since last execution", ["the workflow code of this step changed"]),
        (
            "Software environment definition has changed since last execution",
            ["the software environment changed"],
        ),
        ("Forced execution", ["forced from the command line"]),
        ("Something new in Snakemake", ["Something new in Snakemake"]),
        (
            f"Missing output files: results/M/{EB1}/{EB1}.ms; Updated input files: config/flux.csv",
            ["not made yet: .ms", "flux file config/flux.csv changed"],
        ),
    ],
)
def test_reasons_in_the_reducers_words(reason, lines):
    assert explain(reason) == lines


def test_report_lists_each_eb_then_the_mous():
    jobs = parse_dry_run(listing("split_flag_edit"))
    text = rerun_plan.report(jobs)
    assert text.startswith("Products that will be remade (nothing has run yet):")
    eb_title = f"EB {EB2} (MOUS {MOUS}): {len(SPLIT_EDIT_JOBS)} step(s)"
    mous_title = f"MOUS {MOUS}: {len(MOUS_JOBS)} step(s)"
    assert eb_title in text and mous_title in text
    assert text.index(eb_title) < text.index(mous_title)
    assert f"because flag file config/flags/{MOUS}/{EB2}.split.flags.txt changed" in text
    assert "then renorm_table, if the new factors exceed the threshold" in text


def test_the_command_line_prints_the_plan_as_json(monkeypatch, capsys):
    """workflow/tools/plan_rerun.py --json (what tests/workdir.py's planned() reads), with the
    dry run replaced by a captured listing."""
    spec = importlib.util.spec_from_file_location(
        "plan_rerun", ROOT / "workflow/tools/plan_rerun.py"
    )
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    calls = []

    def dry_run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, listing("split_flag_edit"), "")

    monkeypatch.setattr(cli.subprocess, "run", dry_run)
    assert cli.main(["--json", "--directory", "work", "results/x"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert calls[0][1:] == ["--dry-run", "--directory", "work", "results/x"]
    assert {(job["rule"], job["eb"]) for job in jobs} == (
        {(rule, EB2) for rule in SPLIT_EDIT_JOBS} | {(rule, None) for rule in MOUS_JOBS}
    )
    assert cli.main(["--directory", "work"]) == 0
    assert capsys.readouterr().out.startswith("Products that will be remade")
