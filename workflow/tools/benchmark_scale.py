"""Cost at the size of real EBs: the workflow against a reducer's plain script, in one invocation.

Usage (from the repository root, on an otherwise idle machine)::

    .venv/bin/python workflow/tools/benchmark_scale.py [--sizes demo,1.5GB,5GB] [--scratch DIR]

For each size, one EB is simulated (the demo's model and scan sequence, resized: antennas on
pads of the same configuration, FDM channels, integration time, scan lengths; a line-free
target) into ``DIR/<size>/raw`` (kept between invocations: the simulation is not timed), then:

- **workflow**: ``snakemake --cores 1`` in ``DIR/<size>/workflow`` with a config naming only that
  EB, first to ``<eb>.ms.split.cal`` (the calibration products: timed), then to the EB's QA
  (its plots and QA summary: timed as the QA's extra time); the images, the MOUS report and the
  delivery package are not run;
- **script**: ``workflow/tools/reducer_calibration.py`` (one process, the seeds' sequence of CASA
  calls) from the same ASDM to ``<eb>.ms.split.cal``;
- per process (``almacal.io_record``): bytes read and written through read/write calls (page
  cache included), hence the passes over the visibilities (bytes / the size of the raw DATA),
  and the peak resident memory (exact, from getrusage);
- disk used by each run, and the target's calibrated amplitude in both ``.ms.split.cal``
  (the same calibration: they must agree).

Each run's products are deleted once measured (a 5 GB EB needs about 25 GB while it runs).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "workflow/lib"
sys.path.insert(0, str(LIB))
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MOUS = "uid___A001_Xscale_X1"
EB = "uid___A002_Xscale_X1"
CASA_ENV = {
    "CASASITECONFIG": str(ROOT / "envs/casasiteconfig.py"),
    "PYTHONPATH": str(LIB),
}
os.environ.setdefault("CASASITECONFIG", CASA_ENV["CASASITECONFIG"])  # this process reads MSes too
QA_BUDGET_MB = 1000.0
# The workflow with the data-driven heuristics the script does not make switched off (automatic
# Tsys flags, WVR assessment, low-gain and calibrator-outlier flags, spw phase-up map): the
# same calibration as the script's, so that the ratio measures the workflow's own cost
WITHOUT_HEURISTICS = {
    "calibration": {
        "tsysflag": {
            t: False for t in ("nmedian", "derivative", "edgechans", "birdies", "toomany")
        },
        "lowgainflag": {"enabled": False},
        "correctedampflag": {"enabled": False},
        "wvr": {"apply": "always", "flag_outliers": False},
        "spwphaseup": {"mode": "never"},
    }
}  # every QA job's peak memory, whatever the EB's size


@dataclass(frozen=True)
class Size:
    """A simulated EB: the demo's model and scan sequence, resized."""

    antennas: int
    fdm_channels: int
    integration_s: float
    scan_scale: float  # every scan's duration times this

    def visibility_bytes(self, demo: dict) -> float:
        """Bytes of the science spws' DATA (complex64, cross- and autocorrelations)."""
        rows = self.antennas * (self.antennas + 1) // 2
        seconds = sum(
            s["duration_s"] * self.scan_scale for s in demo["scans"] if s["kind"] == "obs"
        )
        fdm = [w for w in demo["spectral_windows"] if w["type"] == "FDM"]
        npol = len(demo["correlations"])
        return seconds / self.integration_s * rows * len(fdm) * self.fdm_channels * npol * 8


SIZES = {
    "demo": Size(antennas=10, fdm_channels=128, integration_s=10.0, scan_scale=1.0),
    "1.5GB": Size(antennas=20, fdm_channels=240, integration_s=2.0, scan_scale=2.6),
    "5GB": Size(antennas=28, fdm_channels=240, integration_s=2.0, scan_scale=4.5),
}
# the EB of the speed-up measurement (SPEEDUP_EBS copies of it in one MOUS, on 1 and 2 cores)
SPEEDUP_SIZE = Size(antennas=16, fdm_channels=128, integration_s=2.0, scan_scale=1.0)
SPEEDUP_EBS = 4
DAG_EBS = (1, 500)  # dry runs of MOUSes this many EBs long


def pads(config: str, count: int, min_separation_m: float = 20.0) -> list[str]:
    """``count`` pads of a casadata simmos configuration, from the centre out, at least
    ``min_separation_m`` apart (no shadowing above 45 deg of elevation)."""
    import casadata

    path = Path(casadata.__file__).parent / "__data__/alma/simmos" / config
    rows = [line.split() for line in path.read_text().splitlines() if line[:1] not in "#"]
    xyz = np.array([[float(v) for v in row[:3]] for row in rows if row])
    names = [row[4] for row in rows if row]
    chosen: list[int] = []
    for i in np.argsort(np.linalg.norm(xyz - xyz.mean(axis=0), axis=1)):
        if all(np.linalg.norm(xyz[i] - xyz[j]) >= min_separation_m for j in chosen):
            chosen.append(int(i))
    if len(chosen) < count:
        raise ValueError(f"{config}: only {len(chosen)} pads {min_separation_m} m apart")
    return [names[i] for i in chosen[:count]]


def antenna_names(count: int) -> list[str]:
    """ALMA 12 m antenna names: DA41-DA65, DV01-DV25, PM01-PM04."""
    names = [f"DA{n}" for n in range(41, 66)] + [f"DV{n:02d}" for n in range(1, 26)]
    return (names + [f"PM{n:02d}" for n in range(1, 5)])[:count]


def scale_params(demo: dict, size: Size) -> dict:
    """The demo MOUS parameters for one EB of ``size``: 12 m antennas with WVR, the demo's
    fields and spws (FDM channels resized), a line-free target, no faults."""
    params = json.loads(json.dumps(demo))
    array = params["arrays"]["12m"]
    array["antennas"] = [
        {"name": name, "pad": pad}
        for name, pad in zip(
            antenna_names(size.antennas), pads(array["array_config"], size.antennas)
        )
    ]
    first = demo["execution_blocks"][0]
    params["execution_blocks"] = [
        {
            "name": EB,
            "start_utc": first["start_utc"],
            "seed_offset": 1,
            "array": "12m",
            "wvr": True,
            "antenna_position_errors_m": {array["antennas"][1]["name"]: [0.002, -0.0015, 0.001]},
        }
    ]
    for window in params["spectral_windows"]:
        if window["type"] == "FDM":
            window["nchan"] = size.fdm_channels
    for field in params["fields"]:
        field.pop("line", None)
    params["online_flags"] = [
        {**flag, "antenna": array["antennas"][2]["name"]} for flag in demo["online_flags"]
    ]
    params["integration_s"] = size.integration_s
    for scan in params["scans"]:
        scan["duration_s"] = scan["duration_s"] * size.scan_scale
    return params


def simulate(folder: Path, params: dict) -> dict[str, Path]:
    """The EB's raw ASDM, truth and antenna positions under ``folder`` (simulated if missing)."""
    raw = folder / "raw"
    paths = {
        "asdm": raw / EB,
        "truth": raw / f"{EB}.truth.json",
        "antpos": raw / f"{EB}.antennapos.json",
    }
    if not all(p.exists() for p in paths.values()):
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "parameters.yaml").write_text(yaml.safe_dump(params))
        code = (
            "import yaml; from almasim import simulate_eb; "
            f"simulate_eb(params=yaml.safe_load(open({str(raw / 'parameters.yaml')!r})), "
            f"eb={EB!r}, asdm={str(paths['asdm'])!r}, truth={str(paths['truth'])!r}, "
            f"antpos_json={str(paths['antpos'])!r}, log={str(raw / 'simulate.log')!r})"
        )
        subprocess.run(
            [sys.executable, "-c", code], cwd=raw, check=True, env={**os.environ, **CASA_ENV}
        )
    return paths


def flux_model(params: dict) -> tuple[str, float, float]:
    """The flux calibrator's name, its flux density (Jy) at ref_freq_ghz and spectral index."""
    field = next(f for f in params["fields"] if "CALIBRATE_FLUX" in f["intents"])
    return field["name"], float(field["flux_jy"]), float(field["spix"])


def eb_qa_plots() -> list[str]:
    """The QA plots of the EB: those its section of the QA report shows."""
    from almacal.qa.plot_files import eb_plot_suffixes

    return [f"results/{MOUS}/{EB}/qa/{EB}{suffix}" for suffix in eb_plot_suffixes()]


def write_config(
    work: Path, raw: dict[str, Path], params: dict, ebs: tuple[str, ...] = (EB,)
) -> Path:
    """A config naming the EBs ``ebs``, all of them the simulated EB's raw data; flux.csv rows
    for their science spws (the catalogue's)."""
    shutil.copytree(ROOT / "config", work / "config")  # the default calibration settings
    (work / "flags").mkdir()
    name, flux, spix = flux_model(params)
    ref = params["ref_freq_ghz"]
    rows = ["ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment"]
    for spw, window in enumerate(params["spectral_windows"]):
        if window["type"] == "FDM":
            at_centre = flux * (window["centre_ghz"] / ref) ** spix
            rows += [
                f"{eb}.ms,{name},{spw},{at_centre:.6f},0,0,0,{spix},0,0,benchmark" for eb in ebs
            ]
    (work / "flux.csv").write_text("\n".join(rows) + "\n")
    config = {
        "mous": {
            MOUS: {
                "flux_file": str(work / "flux.csv"),
                "flags_dir": str(work / "flags"),
                "ebs": {
                    eb: {"raw": str(raw["asdm"]), "antenna_positions": str(raw["antpos"])}
                    for eb in ebs
                },
            }
        }
    }
    path = work / "scale.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def evict_from_page_cache(folder: Path) -> None:
    """Drop the files of ``folder`` from the kernel's page cache (posix_fadvise DONTNEED), so
    that a run reads them from disk, as a reducer's first run on fresh data does, whatever the
    run before it left in memory. The software (Python, CASA's libraries) stays cached, as on a
    machine that has run CASA before."""
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def slurm_controller_missing() -> bool:
    """True when SLURM's client is installed but its controller does not answer: the SLURM
    executor plugin runs scontrol at every snakemake start (its import), and scontrol then waits
    about 9 s before giving up, which every snakemake invocation measured here would include."""
    if shutil.which("scontrol") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    return " is UP" not in ping.stdout


def timed(command: list[str], cwd: Path, io_log: Path, cold: Path | None = None) -> float:
    """Wall time of ``command``; with the files of ``cold`` (the raw data) evicted from the page
    cache first (not timed)."""
    env = {**os.environ, **CASA_ENV, "ALMACAL_IO_LOG": str(io_log)}
    if cold is not None:
        evict_from_page_cache(cold)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{command[:3]} failed in {cwd}:\n{done.stderr[-4000:]}")
    return time.perf_counter() - start


def io_by_rule(io_log: Path) -> dict[str, dict[str, float]]:
    """Per rule (or program): processes, GB read and written (read/write calls), peak memory."""
    rules: dict[str, dict[str, float]] = {}
    for line in io_log.read_text().splitlines():
        rec = json.loads(line)
        row = rules.setdefault(rec["rule"], {"jobs": 0, "read_gb": 0.0, "written_gb": 0.0})
        row["jobs"] += 1
        row["read_gb"] += rec["rchar"] / 1e9
        row["written_gb"] += rec["wchar"] / 1e9
        row["max_rss_mb"] = max(row.get("max_rss_mb", 0.0), rec["max_rss_mb"])
    return rules


def rule_seconds(benchmarks: Path) -> dict[str, float]:
    """Wall time of each rule's job (s), from the rules' benchmark files."""
    seconds = {}
    for tsv in benchmarks.rglob("*.tsv"):
        rows = tsv.read_text().splitlines()
        seconds[tsv.stem] = float(rows[-1].split("\t")[0])
    return seconds


def task_seconds(casa_log: Path) -> dict[str, float]:
    """Wall time per CASA task (s, summed over calls), from a CASA log's Begin/End Task lines."""
    from datetime import datetime

    seconds: dict[str, float] = {}
    begun: dict[str, datetime] = {}
    for line in casa_log.read_text().splitlines():
        for mark in ("Begin Task: ", "End Task: "):
            if mark in line:
                when = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
                task = line.split(mark)[1].split()[0]
                if mark.startswith("Begin"):
                    begun[task] = when
                elif task in begun:
                    elapsed = (when - begun.pop(task)).total_seconds()
                    seconds[task] = seconds.get(task, 0.0) + elapsed
    return seconds


def disk_gb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e9


def target_amplitude(cal_ms: Path, target: str) -> float:
    """Mean real part of the target's unflagged calibrated visibilities (a point source at the
    phase centre: its flux density), read in row chunks."""
    from casatools import table

    tb = table()
    tb.open(str(cal_ms / "FIELD"))
    field_id = list(tb.getcol("NAME")).index(target)
    tb.close()
    tb.open(str(cal_ms))
    query = tb.query(f"FIELD_ID=={field_id} && ANTENNA1!=ANTENNA2")
    total = weight = 0.0
    for start in range(0, query.nrows(), 20000):
        n = min(20000, query.nrows() - start)
        data = query.getcol("DATA", startrow=start, nrow=n)
        good = ~query.getcol("FLAG", startrow=start, nrow=n)
        total += float(data.real[good].sum())
        weight += float(good.sum())
    query.close()
    tb.close()
    return total / weight


def refant(params: dict) -> str:
    """The antenna nearest the array's centre (the pads are chosen from the centre out)."""
    return params["arrays"]["12m"]["antennas"][0]["name"]


def measure(size_name: str, size: Size, demo: dict, scratch: Path) -> dict:
    folder = scratch / size_name
    params = scale_params(demo, size)
    raw = simulate(folder, params)
    target = next(f["name"] for f in params["fields"] if f["role"] == "target")
    result: dict = {
        "raw_gb": disk_gb(raw["asdm"]),
        "visibility_gb": size.visibility_bytes(demo) / 1e9,
    }

    work = folder / "workflow"
    shutil.rmtree(work, ignore_errors=True)
    config = write_config(work, raw, params)
    io_log = work / "io.jsonl"
    snakemake = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--cores", "1"]
    cal = f"results/{MOUS}/{EB}/{EB}.ms.split.cal"
    result["workflow_s"] = timed(
        [*snakemake, cal, "--configfile", str(config)], work, io_log, cold=raw["asdm"]
    )
    qa = [f"results/{MOUS}/{EB}/qa/{EB}.qa_summary.json", *eb_qa_plots()]
    result["workflow_qa_s"] = timed([*snakemake, *qa, "--configfile", str(config)], work, io_log)
    result["workflow_disk_gb"] = disk_gb(work / "results")
    result["workflow_target_jy"] = target_amplitude(work / cal, target)
    result["workflow_rules"] = io_by_rule(io_log)
    for rule, seconds in rule_seconds(work / "benchmarks").items():
        result["workflow_rules"].setdefault(rule, {})["seconds"] = seconds
    shutil.rmtree(work / "results")

    plain = folder / "workflow_without_heuristics"
    shutil.rmtree(plain, ignore_errors=True)
    config = write_config(plain, raw, params)
    overlay = plain / "without_heuristics.yaml"
    overlay.write_text(yaml.safe_dump(WITHOUT_HEURISTICS))
    result["workflow_plain_s"] = timed(
        [*snakemake, cal, "--configfile", str(config), str(overlay)],
        plain,
        plain / "io.jsonl",
        cold=raw["asdm"],
    )
    result["workflow_plain_target_jy"] = target_amplitude(plain / cal, target)
    result["workflow_plain_rules"] = rule_seconds(plain / "benchmarks")
    shutil.rmtree(plain / "results")

    script_dir = folder / "script"
    shutil.rmtree(script_dir, ignore_errors=True)
    script_dir.mkdir()
    io_log = script_dir / "io.jsonl"
    (folder / "script.casa.log").unlink(missing_ok=True)  # CASA appends to a log
    command = script_command(raw, params, folder / "script.casa.log")
    result["script_s"] = timed(command, script_dir, io_log, cold=raw["asdm"])
    result["script_disk_gb"] = disk_gb(script_dir)
    result["script_target_jy"] = target_amplitude(script_dir / f"{EB}.ms.split.cal", target)
    result["script_rules"] = io_by_rule(io_log)
    result["script_tasks"] = task_seconds(folder / "script.casa.log")
    shutil.rmtree(script_dir)
    (folder / "result.json").write_text(json.dumps(result, indent=1))
    return result


def script_command(raw: dict[str, Path], params: dict, casa_log: Path, eb: str = EB) -> list[str]:
    """The reducer's plain script (one process) on the simulated EB, as EB ``eb``."""
    name, flux, spix = flux_model(params)
    script = ROOT / "workflow/tools/reducer_calibration.py"
    args = [str(raw["asdm"]), eb, str(raw["antpos"]), refant(params), str(flux), str(spix)]
    args.append(str(params["ref_freq_ghz"]))
    runner = (
        "import sys, runpy, almacal; from casatasks import casalog; "
        f"casalog.setlogfile({str(casa_log)!r}); "
        f"sys.argv = [{str(script)!r}, *{args!r}]; "
        f"runpy.run_path({str(script)!r}, run_name='__main__')"
    )
    return [sys.executable, "-c", runner]


def scripts_in_parallel(raw: dict, params: dict, folder: Path, ebs: tuple, parallel: int) -> float:
    """Wall time of the plain script on every EB of ``ebs``, ``parallel`` processes at a time."""
    env = {**os.environ, **CASA_ENV}
    evict_from_page_cache(raw["asdm"])
    start = time.perf_counter()
    for first in range(0, len(ebs), parallel):
        running = []
        for eb in ebs[first : first + parallel]:
            work = folder / eb
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            command = script_command(raw, params, work / "script.casa.log", eb)
            running.append(subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.DEVNULL))
        if any(process.wait() for process in running):
            raise RuntimeError(f"the plain script failed in {folder}")
    seconds = time.perf_counter() - start
    shutil.rmtree(folder)
    return seconds


def eb_names(count: int) -> tuple[str, ...]:
    return tuple(f"uid___A002_Xscale_X{i + 1}" for i in range(count))


def measure_speedup(demo: dict, scratch: Path) -> dict:
    """Wall time of SPEEDUP_EBS EBs' calibration products on 1 and on 2 cores."""
    folder = scratch / "speedup"
    params = scale_params(demo, SPEEDUP_SIZE)
    raw = simulate(folder, params)
    ebs = eb_names(SPEEDUP_EBS)
    result = {"raw_gb": disk_gb(raw["asdm"]), "ebs": len(ebs)}
    for cores in (1, 2):
        work = folder / f"cores{cores}"
        shutil.rmtree(work, ignore_errors=True)
        config = write_config(work, raw, params, ebs)
        targets = [f"results/{MOUS}/{eb}/{eb}.ms.split.cal" for eb in ebs]
        command = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--cores", str(cores)]
        result[f"cores{cores}_s"] = timed(
            [*command, *targets, "--configfile", str(config)],
            work,
            work / "io.jsonl",
            cold=raw["asdm"],
        )
        shutil.rmtree(work / "results")
    # the same EBs through the plain script, one and two processes at a time: what two cores
    # give this work on this machine without Snakemake (the jobs share memory bandwidth and disk)
    for parallel in (1, 2):
        result[f"script_parallel{parallel}_s"] = scripts_in_parallel(
            raw, params, folder / f"script{parallel}", ebs, parallel
        )
    return result


def measure_dag(demo: dict, scratch: Path) -> dict:
    """Wall time of dry runs (the plan only) of MOUSes of DAG_EBS EBs (no data needed)."""
    folder = scratch / "dag"
    params = scale_params(demo, SIZES["demo"])
    raw = simulate(folder, params)
    result = {}
    for count in DAG_EBS:
        work = folder / f"ebs{count}"
        shutil.rmtree(work, ignore_errors=True)
        config = write_config(work, raw, params, eb_names(count))
        command = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--cores", "2", "-n"]
        result[f"ebs{count}_s"] = timed(
            [*command, "--configfile", str(config)], work, work / "io.jsonl"
        )
    return result


QA_PREFIXES = ("qa_", "eb_corrections", "mous_summary", "casa_commands")


def passes(rules: dict[str, dict], visibility_gb: float) -> str:
    """Bytes read / written by the jobs, in units of the science DATA: the passes over the data.
    Snakemake's own process is left out: Linux adds the I/O of every child it has waited for to
    the parent's /proc/<pid>/io, so its figures are the jobs' sum."""
    jobs = [v for rule, v in rules.items() if rule != "snakemake"]
    read = sum(v.get("read_gb", 0.0) for v in jobs) / visibility_gb
    written = sum(v.get("written_gb", 0.0) for v in jobs) / visibility_gb
    return f"{read:.1f}/{written:.1f}"


def print_scaling(speedup: dict, dag: dict) -> None:
    print()
    print(
        f"speed-up: {speedup['ebs']} EBs of {speedup['raw_gb']:.2f} GB, calibration products: "
        f"{speedup['cores1_s']:.1f} s on 1 core, {speedup['cores2_s']:.1f} s on 2 cores, "
        f"speed-up {speedup['cores1_s'] / speedup['cores2_s']:.2f} (>= 1.9)"
    )
    if "script_parallel1_s" in speedup:
        one, two = speedup["script_parallel1_s"], speedup["script_parallel2_s"]
        print(
            f"  the plain script on the same EBs, one / two processes at a time: {one:.1f} s / "
            f"{two:.1f} s, speed-up {one / two:.2f}"
        )
    print(
        "dry run (plan only): "
        + ", ".join(f"{n} EB(s) {dag[f'ebs{n}_s']:.1f} s" for n in DAG_EBS)
        + " (500 EBs < 20 s)"
    )


def print_tables(results: dict[str, dict]) -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; workflow and script on one core, each reading the raw "
        "data from disk (evicted from the page cache before each run)"
    )
    header = f"{'figure':<46}" + "".join(f"{name:>12}" for name in results)
    print(header)

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<46}" + "".join(f"{v:>12}" for v in values))

    r = list(results.values())
    row("raw ASDM (GB)", [f"{x['raw_gb']:.2f}" for x in r])
    row("science visibilities, DATA (GB)", [f"{x['visibility_gb']:.2f}" for x in r])
    row("workflow, calibration products (s)", [f"{x['workflow_s']:.1f}" for x in r])
    row("script, same calibration (s)", [f"{x['script_s']:.1f}" for x in r])
    row("ratio workflow / script", [f"{x['workflow_s'] / x['script_s']:.2f}" for x in r])
    row("workflow without heuristics (s)", [f"{x['workflow_plain_s']:.1f}" for x in r])
    row(
        "ratio without heuristics / script (<= 1.15)",
        [f"{x['workflow_plain_s'] / x['script_s']:.2f}" for x in r],
    )
    row("QA of the EB, extra (s)", [f"{x['workflow_qa_s']:.1f}" for x in r])
    row(
        "QA / calibration time (<= 20 %)",
        [f"{100 * x['workflow_qa_s'] / x['workflow_s']:.0f} %" for x in r],
    )
    for who in ("workflow", "script"):
        row(f"{who}: disk used (GB)", [f"{x[f'{who}_disk_gb']:.2f}" for x in r])
        row(
            f"{who}: read / written, x DATA",
            [f"{passes(x[f'{who}_rules'], x['visibility_gb'])}" for x in r],
        )
        row(f"{who}: target amplitude (Jy)", [f"{x[f'{who}_target_jy']:.4f}" for x in r])
    row(
        "without heuristics: target amplitude (Jy)",
        [f"{x['workflow_plain_target_jy']:.4f}" for x in r],
    )
    qa_peak = [
        max(v["max_rss_mb"] for k, v in x["workflow_rules"].items() if k.startswith(QA_PREFIXES))
        for x in r
    ]
    row(f"QA jobs' peak memory (MB, budget {QA_BUDGET_MB:.0f})", [f"{m:.0f}" for m in qa_peak])
    row(
        "script's peak memory (MB)",
        [f"{max(v['max_rss_mb'] for v in x['script_rules'].values()):.0f}" for x in r],
    )
    print()
    print("per rule: wall time (s), GB read, GB written (read/write calls), peak memory (MB)")
    rules = sorted({rule for x in r for rule in x["workflow_rules"]})
    print(f"{'rule':<28}" + "".join(f"{name:>30}" for name in results))
    for rule in rules:
        cells = []
        for x in r:
            v = x["workflow_rules"].get(rule, {})
            cells.append(
                f"{v.get('seconds', float('nan')):6.1f} {v.get('read_gb', 0):6.2f} "
                f"{v.get('written_gb', 0):6.2f} {v.get('max_rss_mb', float('nan')):6.0f}"
            )
        print(f"{rule:<28}" + "".join(f"{c:>30}" for c in cells))
    print()
    print("script: wall time per CASA task (s)")
    tasks = sorted({t for x in r for t in x.get("script_tasks", {})})
    for task in tasks:
        cells = [f"{x.get('script_tasks', {}).get(task, 0.0):.1f}" for x in r]
        print(f"{task:<28}" + "".join(f"{c:>30}" for c in cells))


def fit_costs(results: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Per rule, peak memory (MB) and wall time (s) as base + per_gb x raw size (GB): the slope
    between the two largest sizes (the growth once the fixed costs are small; not below 0), the
    base raised so that the line passes over every measured point."""
    costs = {}
    rules = sorted({rule for x in results.values() for rule in x["workflow_rules"]})
    for rule in rules:
        line = {}
        for key, name in (("max_rss_mb", "mem_mb"), ("seconds", "seconds")):
            points = sorted(
                (x["raw_gb"], x["workflow_rules"][rule][key])
                for x in results.values()
                if key in x["workflow_rules"].get(rule, {})
            )
            if len(points) < 2:
                break
            (x0, y0), (x1, y1) = points[-2:]
            slope = max(0.0, (y1 - y0) / (x1 - x0))
            line[name] = round(max(y - slope * x for x, y in points), 1)
            line[f"{name}_per_gb"] = round(slope, 1)
        if len(line) == 4:
            costs[rule] = line
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--scratch", default=str(ROOT / ".benchmark_scale"))
    parser.add_argument(
        "--write-costs",
        action="store_true",
        help="write the per-rule cost lines to workflow/lib/almacal/job_costs.yaml",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="print the results saved by an earlier invocation"
    )
    parser.add_argument(
        "--skip-scaling", action="store_true", help="no speed-up and dry-run measurements"
    )
    args = parser.parse_args()
    if not args.reuse and slurm_controller_missing():
        parser.error(
            "SLURM's client is installed but no controller answers (scontrol ping): every "
            "snakemake start would wait 9 s for it; start one (tests/slurm/one_node_cluster.sh)"
        )
    demo = yaml.safe_load((ROOT / "resources/demo_mous.yaml").read_text())
    scratch = Path(args.scratch).resolve()
    results = {}
    for name in args.sizes.split(","):
        saved = scratch / name / "result.json"
        if args.reuse:
            results[name] = json.loads(saved.read_text())
            continue
        results[name] = measure(name, SIZES[name], demo, scratch)
        print(f"{name}: done", file=sys.stderr)
    print_tables(results)
    if args.write_costs:
        from almacal import job_resources

        header = (
            "# Per rule: peak memory (MB) and wall time (s) of one job = base + per_gb x the EB's\n"
            "# raw size (GB), measured on one core by workflow/tools/benchmark_scale.py\n"
            f"# --write-costs (sizes {args.sizes}; {platform.machine()}, {os.cpu_count()} cores).\n"
            "# Read by workflow/lib/almacal/job_resources.py.\n"
        )
        table = {"sizes_gb": {n: round(x["raw_gb"], 3) for n, x in results.items()}}
        table["rules"] = fit_costs(results)
        job_resources.COSTS.write_text(header + yaml.safe_dump(table, sort_keys=True))
    if args.skip_scaling:
        return 0
    if not args.reuse:
        scaling = scratch / "scaling.json"
        scaling.write_text(
            json.dumps(
                {"speedup": measure_speedup(demo, scratch), "dag": measure_dag(demo, scratch)}
            )
        )
    saved = json.loads((scratch / "scaling.json").read_text())
    print_scaling(saved["speedup"], saved["dag"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
