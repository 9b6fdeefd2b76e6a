"""Benchmarks of the workflow itself, measured in one invocation; prints a table.

Usage (from the repository root, on an otherwise idle machine):

    .venv/bin/python workflow/tools/benchmark_workflow.py

- overhead: wall time of the workflow on one core (calibration products of the 3-EB demo MOUS)
  against one Python process replaying the same CASA task calls, read from the workflow's own
  casa_commands.log (the limit no scheduler can beat). The renormalisation factors and table are
  casatools work, not task calls: the replay uses the workflow's renorm tables and leaves out
  those jobs' own few seconds (in the workflow's favour: the ratio is slightly pessimistic);
- speed-up: a 4-EB MOUS on 1 and on 2 cores;
- DAG cost: dry runs with configs of 100 and 500 EBs; a second run of the demo with nothing changed;
- peak memory per rule (max_rss over all EBs, from the rules' benchmark files).
All runs happen in scratch working directories; the demo raw data under resources/ are made first
(if missing) and not timed.
"""

import csv
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MOUS = "uid___A001_Xdemo_X1"
REPLAY = """
import sys
sys.path.insert(0, {lib!r})
from almacal.casa_job import load_task
from pathlib import Path
text = Path({log!r}).read_text()
names = sorted({{line.split("(")[0] for line in text.splitlines() if line[:1].isalpha()}})
for eb in {ebs!r}:
    Path("results/{mous}", eb).mkdir(parents=True, exist_ok=True)
exec(text, {{name: load_task(name) for name in names}})
"""


def workdir(scratch: Path, name: str) -> Path:
    work = scratch / name
    work.mkdir()
    shutil.copytree(ROOT / "config", work / "config")
    (work / "resources").symlink_to(ROOT / "resources")
    return work


def timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "CASASITECONFIG": str(ROOT / "envs/casasiteconfig.py")}
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def run(work: Path, cores: int, *targets: str, dry: bool = False) -> float:
    flags = ["--dry-run"] if dry else []
    return timed(
        [
            SNAKEMAKE,
            "--snakefile",
            str(ROOT / "Snakefile"),
            "--cores",
            str(cores),
            *flags,
            *targets,
        ],
        work,
    )


def add_ebs(work: Path, count: int) -> list[str]:
    """Make the demo MOUS ``count`` EBs long (extra EBs reuse the demo raw ASDMs)."""
    config_file = work / "config/config.yaml"
    config = yaml.safe_load(config_file.read_text())
    ebs = config["mous"][MOUS]["ebs"]
    demo = list(ebs)
    flux_rows = (work / "config/flux.csv").read_text().splitlines()
    extra_rows = []
    for i in range(len(demo), count):
        source = demo[i % len(demo)]
        name = f"uid___A002_Xbench_X{i + 1}"
        ebs[name] = dict(ebs[source])
        extra_rows += [row.replace(source, name) for row in flux_rows if row.startswith(source)]
    config_file.write_text(yaml.safe_dump(config))
    (work / "config/flux.csv").write_text("\n".join(flux_rows + extra_rows) + "\n")
    return list(ebs)


def calibration_targets(ebs: list[str]) -> list[str]:
    return [f"results/{MOUS}/{eb}/{eb}.ms.split.cal" for eb in ebs]


def peak_memory(benchmarks: Path) -> dict[str, float]:
    peaks: dict[str, float] = {}
    for tsv in benchmarks.rglob("*.tsv"):
        rule = tsv.stem.split(".")[-1] if tsv.parent.name == "demo" else tsv.stem
        with tsv.open() as stream:
            for row in csv.DictReader(stream, delimiter="\t"):
                if row["max_rss"] not in ("", "-", "NA"):
                    peaks[rule] = max(peaks.get(rule, 0.0), float(row["max_rss"]))
    return dict(sorted(peaks.items()))


def main() -> int:
    demo_raw = [f"resources/demo_mous/raw/uid___A002_Xdemo_X{i}" for i in (1, 2, 3)]
    subprocess.run(
        [SNAKEMAKE, "--cores", "2", *demo_raw], cwd=ROOT, check=True, capture_output=True
    )
    rows = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        work = workdir(scratch, "overhead")
        ebs = add_ebs(work, 3)
        targets = calibration_targets(ebs) + [f"results/{MOUS}/{MOUS}.casa_commands.log"]
        workflow_1 = run(work, 1, *targets)
        replay_dir = scratch / "replay"
        replay_dir.mkdir()
        (replay_dir / "resources").symlink_to(ROOT / "resources")
        for eb in ebs:  # made with casatools, not task calls: the replay takes them as made
            table = Path(f"results/{MOUS}/{eb}/{eb}.ms.split.renorm.tbl")
            if (work / table).is_dir():
                shutil.copytree(work / table, replay_dir / table)
        script = REPLAY.format(
            lib=str(ROOT / "workflow/lib"),
            mous=MOUS,
            ebs=ebs,
            log=str(work / f"results/{MOUS}/{MOUS}.casa_commands.log"),
        )
        replay = timed([sys.executable, "-c", script], replay_dir)
        rows.append(("overhead: workflow, 1 core, 3 EBs (s)", f"{workflow_1:.1f}"))
        rows.append(("overhead: one process, same CASA calls (s)", f"{replay:.1f}"))
        rows.append(("overhead ratio (target <= 1.3)", f"{workflow_1 / replay:.2f}"))

        run(work, 2)  # the rest of the demo (QA, report), then time a run with nothing to do
        noop = run(work, 2)
        rows.append(("no-op rerun of the demo, nothing changed (s, target < 5)", f"{noop:.1f}"))
        rows += [
            (f"peak memory {rule} (MB)", f"{mb:.0f}")
            for rule, mb in peak_memory(work / "benchmarks").items()
        ]

        times = {}
        for cores in (1, 2):
            work4 = workdir(scratch, f"speedup{cores}")
            times[cores] = run(work4, cores, *calibration_targets(add_ebs(work4, 4)))
        rows.append(("4-EB MOUS, 1 core (s)", f"{times[1]:.1f}"))
        rows.append(("4-EB MOUS, 2 cores (s)", f"{times[2]:.1f}"))
        rows.append(("speed-up 1 -> 2 cores (target >= 1.7)", f"{times[1] / times[2]:.2f}"))

        for count in (100, 500):
            work_n = workdir(scratch, f"dag{count}")
            add_ebs(work_n, count)
            rows.append(
                (
                    f"dry run, {count} EBs (s, target < 30 for 500)",
                    f"{run(work_n, 2, dry=True):.1f}",
                )
            )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
