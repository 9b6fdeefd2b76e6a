"""The CASA task calls a job recorded (``logs/<mous>/<eb>/<step>.casa_commands.py``, written by
``almacal.casa_job.CasaJob``), read back as data: each call with its arguments, each note.

The records are Python: ``task(\\n    key=value,\\n)`` per call (``casa_job.format_call``) and
``# text`` per note. Every argument value is a Python literal; one that is not (a repr that
``ast.literal_eval`` cannot read) is kept as ``Unreadable``, naming the file and line.
"""

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class RecordError(ValueError):
    """A commands record that is not the form casa_job writes."""


@dataclass(frozen=True)
class Unreadable:
    """An argument value that is not a Python literal (its source and where it was read): a
    call holding one cannot go into a script (the generator refuses it), a call left out may."""

    source: str
    where: str


@dataclass(frozen=True)
class Call:
    """One CASA task call as the job made it."""

    task: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Note:
    """A note the job recorded among its calls (``CasaJob.note``, or the job's title)."""

    text: str


Item = Call | Note


@dataclass(frozen=True)
class Record:
    """The calls and notes of one job; ``title`` is its first line (what the job does)."""

    step: str
    title: str
    items: tuple[Item, ...]

    @property
    def calls(self) -> list[Call]:
        return [item for item in self.items if isinstance(item, Call)]


def _parse_call(source: str, where: str) -> Call:
    try:
        node = ast.parse(source, mode="eval").body
    except SyntaxError as err:
        raise RecordError(f"{where}: not a task call: {err}") from err
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise RecordError(f"{where}: not a task call with keyword arguments")
    kwargs = {}
    for keyword in node.keywords:
        try:
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            kwargs[keyword.arg] = Unreadable(ast.unparse(keyword.value), where)
    return Call(node.func.id, kwargs)


def read_record(path: str | Path, step: str) -> Record:
    """The record of job ``step`` at ``path``."""
    lines = Path(path).read_text().splitlines()
    items: list[Item] = []
    chunk: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if not chunk:
            if not line.strip():
                continue
            if line.startswith("#"):
                items.append(Note(line[1:].strip()))
                continue
            start = number
        chunk.append(line)
        if line == ")" or (len(chunk) == 1 and line.endswith("()")):
            items.append(_parse_call("\n".join(chunk), f"{path}, line {start}"))
            chunk = []
    if chunk:
        raise RecordError(f"{path}, line {start}: a task call that does not end")
    if not items or not isinstance(items[0], Note):
        raise RecordError(f"{path}: no title line (the first line is '# <what the job does>')")
    return Record(step, items[0].text, tuple(items[1:]))


def read_records(logs: str | Path, steps: list[str]) -> list[Record]:
    """The records of ``steps`` (in that order) in the folder ``logs``; every one must exist."""
    missing = [s for s in steps if not Path(logs, f"{s}.casa_commands.py").exists()]
    if missing:
        raise RecordError(
            f"{logs}: no commands record of {missing} (run the workflow up to the EB's "
            ".ms.split.cal first)"
        )
    return [read_record(Path(logs, f"{s}.casa_commands.py"), s) for s in steps]
