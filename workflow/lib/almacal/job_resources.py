"""What each job asks a cluster for: Snakemake's ``mem_mb`` and ``runtime``, from the EB's size.

The costs are measured, not guessed: ``workflow/tools/benchmark_scale.py --write-costs`` runs
one EB at three sizes (docs/benchmarks.md) and writes, per rule, the straight line through its
peak memory (MB) and wall time (s) against the size of the EB's raw data (GB) to
``job_costs.yaml`` beside this module (the slope between the two largest sizes, the base raised
over every measured point). A job asks for ``MEMORY_MARGIN`` x the line at its EB's
size (at least ``MIN_MEM_MB``) and ``RUNTIME_MARGIN`` x the line (at least
``MIN_RUNTIME_MIN`` minutes); a retry (Snakemake ``--retries``) asks for twice, three times, ...
A rule without a measured line (a rule added since the benchmark ran) gets ``UNMEASURED``.
"""

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

COSTS = Path(__file__).with_name("job_costs.yaml")
MEMORY_MARGIN = 1.5
RUNTIME_MARGIN = 2.0
MIN_MEM_MB = 1000
MIN_RUNTIME_MIN = 10


@dataclass(frozen=True)
class Cost:
    """Peak memory and wall time of a rule's job: base + per_gb x the EB's raw size (GB)."""

    mem_mb: float
    mem_mb_per_gb: float
    seconds: float
    seconds_per_gb: float


# the most any measured rule needs, for a rule the benchmark has not measured yet
UNMEASURED = Cost(mem_mb=1000.0, mem_mb_per_gb=300.0, seconds=60.0, seconds_per_gb=60.0)


@functools.lru_cache(maxsize=None)
def costs() -> dict[str, Cost]:
    table = yaml.safe_load(COSTS.read_text()) if COSTS.exists() else {}
    return {rule: Cost(**values) for rule, values in (table or {}).get("rules", {}).items()}


def mem_mb(rule: str, size_gb: float, attempt: int = 1) -> int:
    cost = costs().get(rule, UNMEASURED)
    need = MEMORY_MARGIN * (cost.mem_mb + cost.mem_mb_per_gb * size_gb)
    return int(max(MIN_MEM_MB, need)) * attempt


def runtime_min(rule: str, size_gb: float, attempt: int = 1) -> int:
    cost = costs().get(rule, UNMEASURED)
    need = RUNTIME_MARGIN * (cost.seconds + cost.seconds_per_gb * size_gb) / 60.0
    return int(max(MIN_RUNTIME_MIN, need + 1)) * attempt
