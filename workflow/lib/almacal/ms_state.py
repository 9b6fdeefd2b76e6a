"""The state of each measurement set, recorded by the jobs that change it in place.

CASA tasks change an MS in place (flagdata, flagmanager, setjy, applycal); Snakemake sees only
the files a job declares. Every job that writes an MS in place records, in a small JSON file
inside the MS folder, that it started and, when it ends, that it completed, with the digest of the
summary file it declared. Before any job runs, the workflow compares each MS's record with the
summaries on disk (``problems``): a job that started and never completed (killed, crashed), a
summary that is missing or differs from the one recorded, or an MS without a record means the MS
is not in the state its products say, and the run stops naming the EB, the MS and the command that
remakes it (``snakemake --forcerun <summary>``: that job and everything after it).

A product of an EB missing while a later product exists (a job killed after Snakemake deleted
its outputs) is reported the same way: Snakemake would not remake it by itself.
"""

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "ALMACAL_STATE.json"

# The in-place writers of each MS of an EB, in the order they run, with the summary each declares
# (suffixes of results/<mous>/<eb>/<eb>). The first one creates the MS.
WRITERS = {
    ".ms": (
        ("import_eb", ".ms.metadata.json"),
        ("flag_apriori", ".ms.flags_apriori.json"),
        ("split_eb", ".ms.split.split.json"),
    ),
    ".ms.split": (
        ("split_eb", ".ms.split.split.json"),
        ("flag_split", ".ms.split.flags_user.json"),
        ("setjy_flux_model", ".ms.split.setjy.json"),
        ("applycal_split_cal", ".ms.split.cal.json"),
    ),
}


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(ms: str | Path) -> list[dict]:
    """The record of an MS: one entry per writer, in the order they ran ([] without one)."""
    path = Path(ms) / STATE_FILE
    return json.loads(path.read_text())["writes"] if path.exists() else []


def _write(ms: str | Path, writes: list[dict]) -> None:
    path = Path(ms) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"writes": writes}, indent=2) + "\n")
    os.replace(tmp, path)


def _kind(ms: str | Path) -> str:
    return ".ms.split" if str(ms).endswith(".ms.split") else ".ms"


@contextmanager
def writing(ms: str | Path, job: str, summary: str | Path):
    """Record that ``job`` changes ``ms`` in place: started now, completed (with the digest of
    ``summary``) when the block ends without an error. The entries of ``job`` and of the writers
    after it are dropped when it starts: their state is gone."""
    order = [name for name, _ in WRITERS[_kind(ms)]]
    position = order.index(job)
    kept = [w for w in read(ms) if w["job"] in order[:position]]
    if Path(ms).is_dir():  # (the job that creates the MS records it when it ends)
        _write(ms, [*kept, {"job": job, "status": "started"}])
    yield
    _write(
        ms,
        [
            *kept,
            {
                "job": job,
                "status": "completed",
                "summary": Path(summary).name,
                "digest": digest(summary),
            },
        ],
    )


class StateError(RuntimeError):
    """An MS is not in the state its declared products say."""


@dataclass(frozen=True)
class Problem:
    eb: str
    ms: str
    product: str  # the summary (or product) to remake: snakemake --forcerun <product>
    reason: str

    def message(self) -> str:
        return (
            f"EB {self.eb}: {self.ms}: {self.reason}; remake it and what follows with: "
            f"snakemake --forcerun {self.product} --cores <N>"
        )


def ms_problems(base: str, eb: str) -> list[Problem]:
    """MS state against declared summaries, for the MSs of an EB that exist. ``base`` is
    results/<mous>/<eb>/<eb> (the products' common prefix)."""
    problems = []
    for kind, writers in WRITERS.items():
        ms = f"{base}{kind}"
        if not Path(ms).is_dir():
            continue
        record = {w["job"]: w for w in read(ms)}
        for job, suffix in writers:
            summary = Path(f"{base}{suffix}")
            entry = record.get(job)
            if entry is None and not summary.exists():
                break  # not run yet: nothing after it has run on this MS either
            if entry is None:
                reason = f"no record that {job} made its state (changed by hand or elsewhere)"
            elif entry["status"] != "completed":
                reason = f"{job} started and did not complete (interrupted)"
            elif not summary.exists():
                reason = f"{job} completed but its summary {summary.name} is missing"
            elif entry["digest"] != digest(summary):
                reason = f"{summary.name} is not the one {job} wrote with this MS state"
            else:
                continue
            problems.append(Problem(eb, ms, str(summary), reason))
            break  # everything after the first problem is remade with it
    return problems


def missing_products(base: str, eb: str, products: list[str], final: str) -> list[Problem]:
    """Products of an EB (suffixes) that are missing while its final product exists."""
    if not Path(f"{base}{final}").exists():
        return []
    return [
        Problem(
            eb,
            f"{base}{final}",
            f"{base}{suffix}",
            f"{Path(base).name}{suffix} is missing although {Path(base).name}{final} exists",
        )
        for suffix in products
        if not Path(f"{base}{suffix}").exists()
    ]


def forced_targets(argv: list[str]) -> list[str]:
    """The files a Snakemake command line forces (--forcerun/-R FILE ...), normalised: the
    check lets a run go on that remakes what it found. (Snakemake's own settings are not yet
    known while the workflow is parsed.)"""
    forced, collecting = [], False
    for arg in argv[1:]:
        if arg in ("--forcerun", "-R"):
            collecting = True
        elif arg.startswith("--forcerun="):
            forced.append(arg.split("=", 1)[1])
        elif arg.startswith("-"):
            collecting = False
        elif collecting:
            forced.append(arg)
    return [os.path.normpath(f) for f in forced]


# Snakemake commands that run no job and must work whatever the state (--unlock after a kill).
NO_JOB_OPTIONS = (
    "--unlock",
    "--cleanup-metadata",
    "--cm",
    "--cleanup-shadow",
    "--lint",
    "--summary",
    "-S",
    "--detailed-summary",
    "-D",
    "--list-rules",
    "--list",
    "-l",
    "--list-target-rules",
    "--lt",
    "--list-changes",
    "--lc",
)


def runs_jobs(argv: list[str]) -> bool:
    """Whether a Snakemake command line may run (or plan) jobs."""
    return not any(arg in NO_JOB_OPTIONS or arg.startswith("--list-") for arg in argv[1:])
