"""Named flag versions: how a job brings a measurement set to a known flag state.

A job that changes flags of an MS it does not own first restores the flag version left by the
job upstream of it, so running it twice (or after an edit upstream) gives the same flags.
"""

import shutil
from pathlib import Path
from typing import Any

from almacal import ms_state
from almacal.casa_job import CasaJob
from almacal.flag_counts import flag_summary

# Flag versions, in the order jobs write them.
ORIGINAL = "Original"  # as imported (importasdm's own backup)
APRIORI = "apriori"  # {eb}.ms after the a-priori flags
RAW_USER = "raw_user"  # {eb}.ms after the raw-stage user flags (what the split sees)
SPLIT_ORIGINAL = "split_original"  # {eb}.ms.split as split wrote it
SPLIT_USER = "split_user"  # {eb}.ms.split after edge channels and split-stage user flags

# The version each in-place writer of an MS (almacal.ms_state.WRITERS) leaves its flags at when
# it completes; a writer not named leaves them as it found them (setjy_flux_model).
LEFT_BY = {
    ".ms": {"import_eb": ORIGINAL, "flag_apriori": APRIORI, "split_eb": APRIORI},
    ".ms.split": {
        "split_eb": SPLIT_ORIGINAL,
        "flag_split": SPLIT_USER,
        "applycal_split_cal": SPLIT_USER,
    },
}


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


def recorded_version(vis: str, record: list[dict]) -> str | None:
    """The version the flags of ``vis`` are at by its state record (``ms_state.writing`` yields it
    as the job found it): the one the last flag-changing writer left, when every writer of the
    record completed; None when that is not known (no record, a writer killed half way)."""
    if not record or any(w["status"] != "completed" for w in record):
        return None
    left = LEFT_BY[ms_state.kind(vis)]
    return next((left[w["job"]] for w in reversed(record) if w["job"] in left), None)


def restore(job: CasaJob, vis: str, version: str, record: list[dict] | None = None) -> None:
    """Bring the flags of ``vis`` back to ``version``; fail if it was never saved. Skipped when
    ``record`` (the MS's state record as the job found it) says the flags are at that version
    already: in a clean run every restore at the start of a job is (1 s per 5 GB)."""
    if version not in versions(vis):
        raise RuntimeError(f"{vis}: flag version {version!r} missing; rerun the job that makes it")
    if record is not None and recorded_version(vis, record) == version:
        job.note(f"{vis}: flags at version {version!r} already (its state record): not restored")
        return
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
