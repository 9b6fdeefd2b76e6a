"""Run CASA tasks inside one Snakemake job: its own log, every task call recorded, SEVERE fails.

CASA can fail without raising: a task logs a SEVERE line and returns. ``CasaJob`` sends the
CASA log of the job to the rule's log file, records each task call in Python syntax (like the
ALMA pipeline's casa_commands.log) and raises when the log holds a SEVERE line other than the
known notice about the out-of-date leap-second table of the offline measures data.
"""

import importlib
from pathlib import Path
from typing import Any

HARMLESS_SEVERE = ("TAI_UTC seems out-of-date",)


class CasaSevereError(RuntimeError):
    """CASA logged a SEVERE message during the job."""


def severe_lines(log: str | Path) -> list[str]:
    """SEVERE messages of a CASA log, without the known harmless ones.

    A message continues on lines whose origin field ends with '+'; it is judged whole.
    """
    messages: list[list[str]] = []
    for line in Path(log).read_text(errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) < 4:
            continue
        if fields[2].endswith("+") and messages:
            messages[-1].append(line)
        else:
            messages.append([line])
    return [
        "\n".join(message)
        for message in messages
        if "\tSEVERE\t" in message[0]
        and not any(text in "".join(message) for text in HARMLESS_SEVERE)
    ]


def format_call(task: str, kwargs: dict[str, Any]) -> str:
    """A task call as a reducer would type it in CASA."""
    args = ",\n".join(f"    {key}={value!r}" for key, value in kwargs.items())
    return f"{task}(\n{args},\n)\n" if kwargs else f"{task}()\n"


class CasaJob:
    """Context of one job's CASA work.

    Parameters
    ----------
    log
        CASA log file of the job (``casalog.setlogfile``).
    commands
        File that receives every task call of the job, in Python syntax.
    title
        What the job does, written at the top of ``commands``.
    """

    def __init__(self, *, log: str, commands: str, title: str) -> None:
        self.log = Path(log)
        self.commands = Path(commands)
        self.title = title

    def __enter__(self) -> "CasaJob":
        from casatasks import casalog

        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.commands.parent.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        casalog.setlogfile(str(self.log))
        casalog.origin(self.title)
        self.commands.write_text(f"# {self.title}\n")
        return self

    def task(self, name: str, **kwargs: Any) -> Any:
        """Run CASA task ``name`` with ``kwargs`` and record the call."""
        with self.commands.open("a") as out:
            out.write(format_call(name, kwargs))
        task = getattr(importlib.import_module("casatasks"), name)
        return task(**kwargs)

    def note(self, text: str) -> None:
        """Record a comment among the task calls and in the CASA log."""
        from casatasks import casalog

        with self.commands.open("a") as out:
            out.write("".join(f"# {line}\n" for line in text.splitlines()))
        casalog.post(text)

    def __exit__(self, exc_type, exc, tb) -> None:
        bad = severe_lines(self.log) if self.log.exists() else []
        if bad and exc is None:
            raise CasaSevereError(
                f"CASA logged SEVERE messages (see {self.log}):\n" + "\n".join(bad[:20])
            )
