#!/usr/bin/env bash
# Create .venv with the pinned software (envs/requirements.txt). Safe to rerun: quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
stamp=.venv/.requirements.sha256
want=$(sha256sum envs/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r envs/requirements.txt
  echo "$want" > "$stamp"
fi
