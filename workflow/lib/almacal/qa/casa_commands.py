"""Gather the recorded CASA task calls of every job of an MOUS into one file."""

from pathlib import Path


def collect_casa_commands(
    *, ebs: list[str], steps: list[str], logs: str, commands: str, mous_steps: list[str] = ()
) -> None:
    """Per EB the calls of ``steps`` (logs/<mous>/<eb>/<step>.casa_commands.py), then those of
    the MOUS-level ``mous_steps`` (logs/<mous>/<step>.casa_commands.py)."""
    parts = []
    for eb in ebs:
        parts.append(f"# ===== EB {eb} =====\n")
        for step in steps:
            recorded = Path(logs, eb, f"{step}.casa_commands.py")
            if recorded.exists():
                parts.append(recorded.read_text() + "\n")
    if mous_steps:
        parts.append("# ===== MOUS =====\n")
    for step in mous_steps:
        recorded = Path(logs, f"{step}.casa_commands.py")
        if recorded.exists():
            parts.append(recorded.read_text() + "\n")
    Path(commands).write_text("".join(parts))
