"""Named flag versions: how a job brings a measurement set to a known flag state.

A job that changes flags of an MS it does not own first restores the flag version left by the
job upstream of it, so running it twice (or after an edit upstream) gives the same flags.
"""

import shutil
from pathlib import Path
from typing import Any

from almacal.casa_job import CasaJob
from almacal.flag_counts import flag_summary

# Flag versions, in the order jobs write them.
ORIGINAL = "Original"  # as imported (importasdm's own backup)
APRIORI = "apriori"  # {eb}.ms after the a-priori flags
RAW_USER = "raw_user"  # {eb}.ms after the raw-stage user flags (what the split sees)
SPLIT_ORIGINAL = "split_original"  # {eb}.ms.split as split wrote it
SPLIT_USER = "split_user"  # {eb}.ms.split after edge channels and split-stage user flags


def forget(vis: str) -> None:
    """Remove the flag versions left by an earlier run of a job that (re)creates ``vis``."""
    shutil.rmtree(f"{vis}.flagversions", ignore_errors=True)


def versions(vis: str) -> list[str]:
    """Names of the flag versions saved for ``vis``."""
    listing = Path(f"{vis}.flagversions/FLAG_VERSION_LIST")
    if not listing.exists():
        return []
    return [line.split(" : ")[0].strip() for line in listing.read_text().splitlines() if line]


def save(job: CasaJob, vis: str, version: str, comment: str) -> None:
    """Save the current flags of ``vis`` as ``version``, replacing an older one."""
    if version in versions(vis):
        job.task("flagmanager", vis=vis, mode="delete", versionname=version)
    job.task("flagmanager", vis=vis, mode="save", versionname=version, comment=comment)


def restore(job: CasaJob, vis: str, version: str) -> None:
    """Bring the flags of ``vis`` back to ``version``; fail if it was never saved."""
    if version not in versions(vis):
        raise RuntimeError(f"{vis}: flag version {version!r} missing; rerun the job that makes it")
    job.task("flagmanager", vis=vis, mode="restore", versionname=version, merge="replace")


def apply_flag_commands(job: CasaJob, vis: str, commands: list, reason: str) -> int:
    """Apply checked user flag commands (flag_files.FlagCommand) in one flagdata list call."""
    if commands:
        sources = sorted({c.file for c in commands})
        job.note(f"{reason}: {len(commands)} command(s) from {', '.join(sources)}")
        job.task(
            "flagdata",
            vis=vis,
            mode="list",
            inpfile=[c.text for c in commands],
            reason="any",
            action="apply",
            flagbackup=False,
        )
    return len(commands)


def summary(job: CasaJob, vis: str) -> dict[str, Any]:
    """Flag fractions of ``vis``: total and per antenna, spw, field and correlation
    (``flag_counts.flag_summary``: flagdata's summary counts), noted in the job's log."""
    result = flag_summary(vis)
    job.note(f"{vis}: {result['flagged_fraction']:.4%} of {result['total']:.0f} values flagged")
    return result
