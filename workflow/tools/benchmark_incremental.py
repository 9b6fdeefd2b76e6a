"""Benchmark: wall time of a full run of the demo MOUS against the rerun after one EB's flag edit.

Usage (from the repository root):  .venv/bin/python workflow/tools/benchmark_incremental.py

Both runs happen in one invocation, in a scratch working directory (its own config and results;
the demo raw data under resources/ are made first if missing and not timed), with
``snakemake --cores 2``. Prints a table and the ratio.
"""

import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOUS = "uid___A001_Xdemo_X1"
EB = "uid___A002_Xdemo_X2"
LINE = "antenna='DA45' spw='1' reason='benchmark edit'\n"


def snakemake(workdir: Path, cores: int, *targets: str) -> float:
    """Run the workflow; return its wall time in seconds."""
    command = [
        str(Path(sys.executable).with_name("snakemake")),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        *targets,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def benchmark_incremental(cores: int = 2) -> dict[str, float]:
    raw = [
        f"resources/demo_mous/raw/{eb}" for eb in ("uid___A002_Xdemo_X1", EB, "uid___A002_Xdemo_X3")
    ]
    subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "--cores", str(cores), *raw],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shutil.copytree(ROOT / "config", work / "config")
        (work / "resources").symlink_to(ROOT / "resources")
        full = snakemake(work, cores)
        noop = snakemake(work, cores)
        flags = work / "config" / "flags" / MOUS / f"{EB}.split.flags.txt"
        flags.write_text(flags.read_text() + LINE)
        incremental = snakemake(work, cores)
    return {"full": full, "incremental": incremental, "noop": noop}


def main() -> int:
    times = benchmark_incremental()
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{'run':<48}{'wall time (s)':>14}")
    print(f"{'full run, 3 EBs, --cores 2':<48}{times['full']:>14.1f}")
    print(f"{'second run, nothing changed':<48}{times['noop']:>14.1f}")
    print(f"{'rerun after one line in one EB split flag file':<48}{times['incremental']:>14.1f}")
    print(f"ratio incremental / full: {times['incremental'] / times['full']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
