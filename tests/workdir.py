"""A scratch working directory for the workflow: its own config and results, shared raw data."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from almacal import channels

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEMO_RAW = "resources/demo_mous/raw"  # made by the rule simulate_demo_eb, shared by every workdir


def make_workdir(path: Path) -> Path:
    """Copy config/ (edited by tests); link resources/ (demo raw data are made once)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "config", path / "config")
    if not (path / "resources").exists():
        (path / "resources").symlink_to(ROOT / "resources")
    return path


def snakemake_args(workdir: Path) -> list[str]:
    return ["--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]


def run_workflow(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [BIN / "snakemake", *snakemake_args(workdir), "--cores", "2", *args],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run


def planned(workdir: Path, *args: str) -> set[tuple[str, str | None]]:
    """(rule, EB) of every job the rerun plan lists (EB None for MOUS-level jobs)."""
    run = subprocess.run(
        [
            sys.executable,
            ROOT / "workflow/tools/plan_rerun.py",
            "--json",
            *snakemake_args(workdir),
            *args,
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {(job["rule"], job["eb"]) for job in json.loads(run.stdout)}


def planned_after_comment(workdir: Path, mous: str, eb: str, target: str) -> set:
    """The rerun plan (``planned``) of ``target`` after a comment-only edit of the EB's split
    flag file in ``workdir`` (its flags_dir in the workdir's config); the file is restored
    afterwards, time stamps included (or removed if it did not exist)."""
    import yaml

    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    flag_file = workdir / config["mous"][mous]["flags_dir"] / f"{eb}.split.flags.txt"
    existed = flag_file.exists()
    before = flag_file.read_bytes() if existed else None
    stat = flag_file.stat() if existed else None
    try:
        flag_file.parent.mkdir(parents=True, exist_ok=True)
        with flag_file.open("a") as out:
            out.write("# test: a comment-only edit\n")
        return planned(workdir, target)
    finally:
        if existed:
            flag_file.write_bytes(before)
            os.utime(flag_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        else:
            flag_file.unlink()


def table_columns(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    from casatools import table

    tb = table()
    tb.open(str(path))
    present = set(tb.colnames())
    values = {c: tb.getcol(c) for c in columns if c in present}
    tb.close()
    return values


def run_test_mous(path: Path, *configfiles: str | Path) -> Path:
    """A scratch workdir at ``path`` in which a test MOUS of resources/ ran to the end: its
    config file(s) replace the demo's MOUS (``--configfile``, last: it takes every argument
    after it)."""
    work = make_workdir(path)
    run_workflow(work, "--configfile", *(str(c) for c in configfiles))
    return work


def new_split_flags(split: Path, edge_fraction: float = 0.05) -> tuple[np.ndarray, ...]:
    """What flag_split flagged in ``split`` beyond the as-split flags and the edge channels: the
    new flags and the candidates (unflagged as split, inner channels, cross-correlations), both
    [corr, chan, row], then ANTENNA1, ANTENNA2 and TIME per row."""
    main = table_columns(split, ("FLAG", "ANTENNA1", "ANTENNA2", "TIME"))
    original = table_columns(Path(f"{split}.flagversions/flags.split_original"), ("FLAG",))
    flag, a1, a2 = main["FLAG"], main["ANTENNA1"], main["ANTENNA2"]
    nchan = flag.shape[1]
    edge = channels.edge_channels(nchan, edge_fraction)
    inner = np.zeros(nchan, bool)
    inner[edge : nchan - edge] = True
    candidates = ~original["FLAG"] & inner[None, :, None] & (a1 != a2)[None, None, :]
    return flag & candidates, candidates, a1, a2, main["TIME"]


def assert_report_links(work: Path, mous: str, eb: str, suffix: str, words: list[str]) -> None:
    """The MOUS report links the generated flag file ``<eb><suffix>``, copied beside it, and
    shows ``words`` (its reasons, its antennas)."""
    report = work / "results" / mous / "qa"
    page = (report / "index.html").read_text()
    name = f"{eb}{suffix}"
    assert f'href="{eb}/{name}"' in page
    assert all(word in page for word in words), [w for w in words if w not in page]
    made = work / "results" / mous / eb / name
    assert (report / eb / name).read_text() == made.read_text()


# Tolerance of "the same calibrated MS": visibilities and weights within this fraction of the
# column's largest magnitude (float32 rounding is 6e-8 of a value), flags equal.
SAME_MS_RTOL = 1e-6


def calibrated_columns(ms: Path) -> dict[str, np.ndarray]:
    """The visibilities (CORRECTED_DATA, or DATA after split), FLAG and WEIGHT of ``ms``, with
    the row keys (TIME, ANTENNA1, ANTENNA2, DATA_DESC_ID, FIELD_ID)."""
    keys = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID")
    columns = table_columns(ms, ("CORRECTED_DATA", "DATA", "FLAG", "WEIGHT", *keys))
    columns["VIS"] = columns.pop("CORRECTED_DATA", None)
    if columns["VIS"] is None:
        columns["VIS"] = columns["DATA"]
    columns.pop("DATA", None)
    return columns


def assert_same_calibrated(ours: Path, workflows: Path) -> dict[str, float]:
    """``ours`` is the workflow's calibrated MS within SAME_MS_RTOL (same rows in the same
    order, same flags); returns the largest differences, relative to the column's largest
    magnitude, and the number of differing flags."""
    a, b = calibrated_columns(ours), calibrated_columns(workflows)
    for key in ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID"):
        assert np.array_equal(a[key], b[key]), f"{ours}: rows differ from {workflows} ({key})"
    found = {"flags_differing": int((a["FLAG"] != b["FLAG"]).sum())}
    for column in ("VIS", "WEIGHT"):
        scale = float(np.abs(b[column]).max())
        found[column] = float(np.abs(a[column] - b[column]).max()) / scale
    assert found["flags_differing"] == 0, found
    assert found["VIS"] <= SAME_MS_RTOL and found["WEIGHT"] <= SAME_MS_RTOL, found
    return found


def plain_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The .venv's Python outside the workflow: no workflow/lib on PYTHONPATH (a delivered
    script needs casatasks alone), offline CASA (CASASITECONFIG)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CASASITECONFIG"] = str(ROOT / "envs" / "casasiteconfig.py")
    run = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run
