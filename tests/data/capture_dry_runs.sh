#!/usr/bin/env bash
# Re-captures the dry-run listings of tests/data (see README.md there) in a scratch workdir:
#   bash tests/data/capture_dry_runs.sh [WORKDIR]     (a full demo run on 2 cores: ~10 minutes)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:-$(mktemp -d)}
SNAKEMAKE="$ROOT/.venv/bin/snakemake --snakefile $ROOT/Snakefile --directory $WORK"
DATA=$ROOT/tests/data
rm -rf "$WORK/config" "$WORK/results" "$WORK/logs" "$WORK/benchmarks" "$WORK/.snakemake"
mkdir -p "$WORK"
cp -r "$ROOT/config" "$WORK/config"
[ -e "$WORK/resources" ] || ln -s "$ROOT/resources" "$WORK/resources"
$SNAKEMAKE -n > "$DATA/dry_run_fresh_workdir.txt"
$SNAKEMAKE -n --workflow-profile "$ROOT/workflow/profiles/slurm" > "$DATA/dry_run_slurm_profile.txt"
$SNAKEMAKE --cores 2 > "$WORK/full_run.log" 2>&1
$SNAKEMAKE -n > "$DATA/dry_run_up_to_date.txt"
$SNAKEMAKE -n --config 'calibration={"phase_inf": {"solint": "60s"}}' \
    > "$DATA/dry_run_phase_inf_solint.txt"
echo "antenna='DA45' spw='1' reason='QA: high phase scatter'" \
    >> "$WORK/config/flags/uid___A001_Xdemo_X1/uid___A002_Xdemo_X2.split.flags.txt"
$SNAKEMAKE -n > "$DATA/dry_run_split_flag_edit.txt"
echo "captured in $WORK"
