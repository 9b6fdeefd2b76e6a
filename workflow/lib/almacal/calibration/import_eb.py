"""Import one EB: importasdm for a raw ASDM, a copy for an existing MS; listobs; metadata."""

import shutil
from pathlib import Path

from almacal import asdm_check, eb_metadata, flag_state, jsonio, ms_state
from almacal.casa_job import CasaJob

# ASDM tables imported as they are, as ALMA's scripts do (only those the ASDM has).
ASIS_TABLES = (
    "SBSummary",
    "ExecBlock",
    "Antenna",
    "Station",
    "Receiver",
    "Source",
    "CalAtmosphere",
    "CalWVR",
    "CorrelatorMode",
)


class IncompleteImportError(RuntimeError):
    """The imported MS lacks data the ASDM declares (a missing or truncated BDF)."""


def import_eb(*, raw: str, ms: str, listobs: str, metadata: str, log: str, commands: str) -> None:
    raw_path = Path(raw)
    flag_state.forget(ms)
    with (
        ms_state.writing(ms, "import_eb", metadata),
        CasaJob(log=log, commands=commands, title=f"import {raw_path.name} -> {ms}") as job,
    ):
        if (raw_path / "ASDM.xml").exists():
            asis = " ".join(t for t in ASIS_TABLES if (raw_path / f"{t}.xml").exists())
            job.task(
                "importasdm",
                asdm=raw,
                vis=ms,
                asis=asis,
                process_flags=True,
                applyflags=False,
                savecmds=False,
                flagbackup=True,
                overwrite=False,
            )
            problems = asdm_check.import_problems(raw, ms)
            if problems:
                raise IncompleteImportError(
                    f"EB {Path(ms).name.removesuffix('.ms')}: {raw} is incomplete, the import "
                    "is refused:\n" + "\n".join(problems)
                )
        elif (raw_path / "table.dat").exists():
            job.note(f"{raw} is a measurement set: copied, never modified")
            shutil.copytree(raw_path, ms)
        else:
            raise ValueError(f"{raw}: neither an ASDM (no ASDM.xml) nor a measurement set")
        if flag_state.ORIGINAL not in flag_state.versions(ms):
            flag_state.save(job, ms, flag_state.ORIGINAL, "flags as imported")
        job.task("listobs", vis=ms, listfile=listobs, verbose=True, overwrite=True)
        jsonio.write(metadata, eb_metadata.read_metadata(ms))
