"""Gather the recorded CASA task calls of every job of an MOUS into one file."""

from pathlib import Path


def collect_casa_commands(*, ebs: list[str], steps: list[str], logs: str, commands: str) -> None:
    parts = []
    for eb in ebs:
        parts.append(f"# ===== EB {eb} =====\n")
        for step in steps:
            recorded = Path(logs, eb, f"{step}.casa_commands.py")
            if recorded.exists():
                parts.append(recorded.read_text() + "\n")
    Path(commands).write_text("".join(parts))
