"""Run CASA tasks inside one Snakemake job: its own log, every task call recorded, SEVERE fails.

CASA can fail without raising: a task logs a SEVERE line and returns. ``CasaJob`` sends the
CASA log of the job to the rule's log file, records each task call in Python syntax (like the
ALMA pipeline's casa_commands.log) and raises when the log holds a SEVERE line other than the
known notice about the out-of-date leap-second table of the offline measures data.
"""

import importlib
import importlib.util
import os
import signal
import sys
import types
from pathlib import Path
from typing import Any

HARMLESS_SEVERE = ("TAI_UTC seems out-of-date",)
# Fault injection for the tests: "<step>:<n>" makes the job <step> (a rule name; the job's
# commands record is <step>.casa_commands.py) kill itself with SIGKILL right after its n-th
# CASA task call returns (n = 0: before the first).
KILL_SWITCH = "ALMACAL_KILL_AFTER_TASK"


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


class _TaskPackage(types.ModuleType):
    """casatasks whose attributes are task functions, as its own __init__ arranges.

    When Python binds a freshly imported submodule ``casatasks.<task>`` to the package, the
    task function of that module is bound instead, so ``from casatasks import flagdata`` (which
    CASA's own modules do) gives the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and value.__name__ == f"casatasks.{name}":
            value = getattr(value, name, value)
        super().__setattr__(name, value)


def casatasks_package() -> types.ModuleType:
    """The casatasks package, without importing all of its ~150 tasks.

    ``import casatasks`` runs the package's __init__, which imports every task (about 2 s per
    process; a workflow job uses two or three tasks). Instead this registers the package with
    only what its __init__ sets up for the tasks (the global CASA log sink) and lets each task
    module load on first use (0.3-0.6 s). If casatasks is already imported, that is used.
    """
    if "casatasks" in sys.modules:
        return sys.modules["casatasks"]
    from casaconfig import config
    from casatools import logsink

    spec = importlib.util.find_spec("casatasks")
    package = _TaskPackage("casatasks")
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.casalog = logsink(config.logfile)
    package.casalog.setglobal(True)
    sys.modules["casatasks"] = package
    return package


def load_task(name: str):
    """The CASA task ``name`` (a casatasks function), loading only its own module."""
    package = casatasks_package()
    if not callable(getattr(package, name, None)):
        setattr(package, name, importlib.import_module(f"casatasks.{name}"))
    return getattr(package, name)


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
        self.calls = 0
        step, _, count = os.environ.get(KILL_SWITCH, "").rpartition(":")
        mine = step == self.commands.name.removesuffix(".casa_commands.py")
        self.kill_after = int(count) if mine else None

    def _maybe_die(self) -> None:
        if self.kill_after is not None and self.calls == self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    def __enter__(self) -> "CasaJob":
        casalog = casatasks_package().casalog
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.commands.parent.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        casalog.setlogfile(str(self.log))
        casalog.origin(self.title)
        self.commands.write_text(f"# {self.title}\n")
        self._maybe_die()
        return self

    def task(self, name: str, **kwargs: Any) -> Any:
        """Run CASA task ``name`` with ``kwargs`` and record the call."""
        with self.commands.open("a") as out:
            out.write(format_call(name, kwargs))
        result = load_task(name)(**kwargs)
        self.calls += 1
        self._maybe_die()
        return result

    def note(self, text: str) -> None:
        """Record a comment among the task calls and in the CASA log."""
        with self.commands.open("a") as out:
            out.write("".join(f"# {line}\n" for line in text.splitlines()))
        casatasks_package().casalog.post(text)

    def __exit__(self, exc_type, exc, tb) -> None:
        bad = severe_lines(self.log) if self.log.exists() else []
        if bad and exc is None:
            raise CasaSevereError(
                f"CASA logged SEVERE messages (see {self.log}):\n" + "\n".join(bad[:20])
            )
