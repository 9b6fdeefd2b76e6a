"""What one process read, wrote and held in memory, for the scale benchmark.

When the environment variable ``ALMACAL_IO_LOG`` names a file, every process that imports
``almacal`` (each job's script, and Snakemake itself, which reads the library while parsing the
workflow) appends one JSON line to it when it exits (``workflow/tools/benchmark_scale.py``):

- ``rule``: the Snakemake rule of the job (``snakemake.rule`` of the job's script), else the
  program's name;
- ``rchar``/``wchar``: bytes passed through read/write calls (``/proc/self/io``; reads served
  from the page cache included, so they count passes over the data whatever the cache holds);
- ``read_bytes``/``write_bytes``: bytes fetched from and sent to storage;
- ``max_rss_mb``: the process's peak resident memory (``getrusage``: exact, not sampled).
"""

import atexit
import json
import os
import resource
import sys
from pathlib import Path

ENV = "ALMACAL_IO_LOG"


def _proc_io() -> dict[str, int]:
    lines = Path("/proc/self/io").read_text().splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


def _rule() -> str:
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    rule = getattr(job, "rule", None)
    if rule:
        return str(rule)
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"


def record(path: str, label: str | None = None) -> None:
    """Append this process's figures, as one JSON line, to ``path``."""
    io = _proc_io()
    line = {
        "rule": label or _rule(),
        "pid": os.getpid(),
        **{key: io[key] for key in ("rchar", "wchar", "read_bytes", "write_bytes")},
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    with open(path, "a") as stream:
        stream.write(json.dumps(line) + "\n")


def register() -> None:
    """Record this process at exit when ``ALMACAL_IO_LOG`` is set."""
    path = os.environ.get(ENV)
    if path:
        atexit.register(record, path)
