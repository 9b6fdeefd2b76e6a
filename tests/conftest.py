"""Shared test set-up: offline CASA, the workflow's scripts importable, one demo run per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CASASITECONFIG", str(ROOT / "envs" / "casasiteconfig.py"))
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
