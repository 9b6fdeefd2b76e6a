#!/usr/bin/env bash
# Create .venv with the pinned software (envs/requirements.txt). Safe to rerun: quick when done.
# With --tests, also the Debian packages the tests drive (needs root): Chromium for the QA report
# test, SLURM and munge for the one-node cluster test.
set -euo pipefail
if [ "${1:-}" = "--tests" ]; then
  missing=""
  command -v chromium >/dev/null || missing="$missing chromium"
  command -v slurmctld >/dev/null || missing="$missing slurm-wlm"
  command -v munged >/dev/null || missing="$missing munge"
  if [ -n "$missing" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi
cd "$(dirname "$0")/.."
python3 -m venv .venv
stamp=.venv/.requirements.sha256
want=$(sha256sum envs/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r envs/requirements.txt
  echo "$want" > "$stamp"
fi
