"""The one JSON format of the workflow's products: two-space indent, sorted keys, final newline."""

import json
from pathlib import Path
from typing import Any


def load(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
