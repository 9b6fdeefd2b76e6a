"""What a job asks a cluster for follows the measured cost of its rule and the EB's size
(almacal.job_resources, workflow/lib/almacal/job_costs.yaml from the scale benchmark)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from almacal import job_resources

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
# simulate_demo_eb makes the demo's raw data (the benchmark simulates outside the workflow);
# renorm_table does not run on the benchmark's line-free EB; eb_choices and the local rules
# (small files, on the submitting node) have no benchmark file; the benchmark stops at the EB's
# QA, before the MOUS report (a local rule)
NOT_MEASURED = {
    "all",
    "simulate_demo_eb",
    "renorm_table",
    "eb_choices",
    "mous_summary",
    "casa_commands",
    "qa_report",
}
# stages whose rules the scale benchmark does not run yet: they declare their own resources or
# ask for job_resources.UNMEASURED (docs/benchmarks.md)
UNMEASURED_STAGES = ("image.smk", "deliver.smk")


def stage_rules(stage: str) -> set[str]:
    path = ROOT / "workflow/rules" / stage
    text = path.read_text() if path.exists() else ""
    return set(re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.MULTILINE))


def workflow_rules() -> set[str]:
    listed = subprocess.run(
        [Path(sys.executable).with_name("snakemake"), "--list-rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {line.split()[0] for line in listed.stdout.splitlines() if line[:1].strip()}


def test_every_rule_has_a_measured_cost():
    rules = workflow_rules()
    assert {"split_eb", "gaincal_phase_int", "qa_eb_summary"} <= rules
    measured = set(job_resources.costs())
    exempt = NOT_MEASURED.union(*(stage_rules(stage) for stage in UNMEASURED_STAGES))
    assert rules - exempt <= measured, (
        f"no measured cost for {sorted(rules - exempt - measured)}: run "
        "workflow/tools/benchmark_scale.py --write-costs"
    )
    assert not measured - rules, f"costs of rules that no longer exist: {measured - rules}"


def test_requests_grow_with_the_eb_and_double_on_a_retry():
    table = job_resources.costs()
    growing = [rule for rule, cost in table.items() if cost.seconds_per_gb > 0]
    assert "split_eb" in growing  # a pass over the visibilities: its time grows with the data
    for rule in table:
        assert job_resources.runtime_min(rule, 100.0) >= job_resources.runtime_min(rule, 1.0)
        assert job_resources.mem_mb(rule, 100.0) >= job_resources.mem_mb(rule, 1.0)
        assert job_resources.mem_mb(rule, 5.0, attempt=2) == 2 * job_resources.mem_mb(rule, 5.0)
        assert job_resources.mem_mb(rule, 0.0) >= job_resources.MIN_MEM_MB
    split = table["split_eb"]
    expected = job_resources.RUNTIME_MARGIN * (split.seconds + split.seconds_per_gb * 100.0) / 60
    assert job_resources.runtime_min("split_eb", 100.0) == int(expected + 1)


def test_a_rule_without_a_measured_cost_asks_for_the_unmeasured_default():
    size = 10.0
    cost = job_resources.UNMEASURED
    expected = job_resources.MEMORY_MARGIN * (cost.mem_mb + cost.mem_mb_per_gb * size)
    assert job_resources.mem_mb("a_rule_added_later", size) == int(expected)
