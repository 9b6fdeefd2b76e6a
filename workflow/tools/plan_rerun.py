"""Before anything runs: which products of which EBs will be remade, and why.

Usage (from the repository root; extra arguments go to snakemake, e.g. --configfile, targets):

    .venv/bin/python workflow/tools/plan_rerun.py [--json] [snakemake arguments]

It runs ``snakemake --dry-run`` (nothing is executed) and restates each job's reason in a
reducer's words (almacal.rerun_plan): the flag file, flux file or config value that changed, or
the upstream product that will be remade.
"""

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from almacal.rerun_plan import PlannedJob, parse_dry_run, report  # noqa: E402


def plan(snakemake_args: list[str]) -> list[PlannedJob]:
    snakemake = Path(sys.executable).with_name("snakemake")
    run = subprocess.run(
        [str(snakemake), "--dry-run", *snakemake_args], capture_output=True, text=True
    )
    if run.returncode != 0:
        raise SystemExit(run.stdout[-3000:] + run.stderr[-5000:])
    return parse_dry_run(run.stdout)


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    jobs = plan([a for a in argv if a != "--json"])
    print(json.dumps([asdict(j) for j in jobs], indent=1) if as_json else report(jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
