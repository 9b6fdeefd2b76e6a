"""Bad inputs are refused before any job runs, naming the file and line (or the config key) and
the EB; nothing produced is lost and no input is changed.

Every case edits one input of a workdir where the demo has run, runs the real snakemake CLI and
restores the input afterwards.
"""

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from truth import DEMO_EBS, MOUS
from workdir import BIN, snakemake_args

pytestmark = pytest.mark.workflow

EB1, EB2, EB3 = DEMO_EBS
CONFIG = Path("config/config.yaml")
FLUX = Path("config/flux.csv")
ANTPOS = Path(f"resources/demo_mous/raw/{EB1}.antennapos.json")


def edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(workdir: Path) -> None:
        path = workdir / CONFIG
        config = yaml.safe_load(path.read_text())
        change(config)
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    return apply


def eb_entry(config: dict, eb: str) -> dict:
    return config["mous"][MOUS]["ebs"][eb]


def rename_eb(old: str, new: str) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        ebs = config["mous"][MOUS]["ebs"]
        ebs[new] = ebs.pop(old)

    return change


def set_key(path: str, value) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


def own_flux_file(text: str) -> Callable[[Path], None]:
    """Point the MOUS at a flux file of its own with ``text`` (the shared one stays)."""

    def apply(workdir: Path) -> None:
        (workdir / "config/bad_flux.csv").write_text(text)
        edit_config(set_key(f"mous.{MOUS}.flux_file", "config/bad_flux.csv"))(workdir)

    return apply


def own_antpos_file(text: str) -> Callable[[Path], None]:
    def apply(workdir: Path) -> None:
        (workdir / "config/bad_antpos.json").write_text(text)
        edit_config(set_key(f"mous.{MOUS}.ebs.{EB1}.antenna_positions", "config/bad_antpos.json"))(
            workdir
        )

    return apply


def append_flag_line(name: str, line: str) -> Callable[[Path], None]:
    def apply(workdir: Path) -> None:
        path = workdir / "config/flags" / MOUS / name
        path.write_text(path.read_text() + line)

    return apply


HEADER = "ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment\n"
ROW = f"{EB1}.ms,J1924-2914,1,3.05,0,0,0,-0.6,0,0,\n"
POSITIONS = {"data": {"DA41": [2225048.28, -5440052.74, -2481661.13]}}


@dataclass
class BadInput:
    name: str
    make: Callable[[Path], None]
    expected: tuple[str, ...]  # every one of these must be in the message


CASES = [
    BadInput(
        "unknown top-level key",
        edit_config(set_key("calibraton", {})),
        ("'calibraton' was unexpected",),
    ),
    BadInput(
        "misspelt solve key",
        edit_config(set_key("calibration.phase_int.solnit", "int")),
        ("'solnit' was unexpected", "phase_int"),
    ),
    BadInput(
        "misspelt bandpass key",
        edit_config(set_key("calibration.bandpass.smoth_channels", 2)),
        ("'smoth_channels' was unexpected", "bandpass"),
    ),
    BadInput(
        "solint not a solution interval",
        edit_config(set_key("calibration.phase_inf.solint", "abc")),
        ("'abc' does not match", "phase_inf", "solint"),
    ),
    BadInput(
        "negative minsnr",
        edit_config(set_key("calibration.minsnr", -1)),
        ("-1 is less than the minimum", "minsnr"),
    ),
    BadInput(
        "edge fraction out of range",
        edit_config(set_key("calibration.edge_channel_fraction", 0.9)),
        ("0.9 is greater than the maximum", "edge_channel_fraction"),
    ),
    BadInput(
        "unknown renormalisation mode",
        edit_config(set_key("calibration.renormalization.mode", "sometimes")),
        ("'sometimes' is not one of", "renormalization"),
    ),
    BadInput(
        "unknown key in an EB entry",
        edit_config(lambda c: eb_entry(c, EB1).update(rwa="x")),
        ("'rwa' was unexpected", EB1),
    ),
    BadInput(
        "MOUS named ..",
        edit_config(lambda c: c["mous"].update({"..": c["mous"].pop(MOUS)})),
        ("MOUS name '..' is not a safe folder name",),
    ),
    BadInput(
        "EB with a leading dash",
        edit_config(rename_eb(EB3, "-x")),
        ("EB name '-x' is not a safe folder name",),
    ),
    BadInput(
        "EB with a space",
        edit_config(rename_eb(EB3, "my eb")),
        ("EB name 'my eb' is not a safe folder name",),
    ),
    BadInput(
        "EB with a slash",
        edit_config(rename_eb(EB3, "a/b")),
        ("EB name 'a/b' is not a safe folder name",),
    ),
    BadInput(
        "EB in two MOUSes",
        edit_config(
            lambda c: c["mous"].update(
                {"uid___A001_Xother": {**c["mous"][MOUS], "ebs": {EB3: eb_entry(c, EB3)}}}
            )
        ),
        (f"EB {EB3} is listed under MOUS {MOUS} and uid___A001_Xother",),
    ),
    BadInput(
        "raw contents contradicting the data",
        edit_config(lambda c: eb_entry(c, EB3).update(raw_contents={"wvr": True, "syscal": True})),
        (f"EB {EB3}: raw_contents says", "correct or remove raw_contents"),
    ),
    BadInput(
        "raw data missing and contents unknown",
        edit_config(
            lambda c: c["mous"][MOUS]["ebs"].update(
                {"uid___A002_Xnew_X1": {"raw": "resources/nowhere/uid___A002_Xnew_X1"}}
            )
        ),
        (
            "EB uid___A002_Xnew_X1: raw data resources/nowhere/uid___A002_Xnew_X1 do not exist",
            "raw_contents",
        ),
    ),
    BadInput(
        "flux file without spix column",
        own_flux_file("ms,field,spw,I,Q,U,V\n" + f"{EB1}.ms,J1924-2914,1,3.05,0,0,0\n"),
        ("bad_flux.csv:1: missing column(s) ['spix']",),
    ),
    BadInput(
        "flux density not a number",
        own_flux_file(HEADER + ROW.replace("3.05", "abc")),
        ("bad_flux.csv:2", f"EB {EB1}", "I='abc' not a number"),
    ),
    BadInput(
        "negative flux density",
        own_flux_file(HEADER + ROW.replace("3.05", "-3.05")),
        ("bad_flux.csv:2", f"EB {EB1}", "Stokes I = -3.05 Jy"),
    ),
    BadInput(
        "flux row for a field not in the EB",
        own_flux_file(HEADER + ROW.replace("J1924-2914", "3C279")),
        ("bad_flux.csv:2", f"EB {EB1}", "field '3C279' is not in the EB"),
    ),
    BadInput(
        "flux row for a spw not in the EB",
        own_flux_file(HEADER + ROW.replace(",1,3.05", ",17,3.05")),
        ("bad_flux.csv:2", f"EB {EB1}", "spw 17 is not in the EB"),
    ),
    BadInput(
        "flux row with a spw that is not an id",
        own_flux_file(HEADER + ROW.replace(",1,3.05", ",one,3.05")),
        ("bad_flux.csv:2", f"EB {EB1}", "spw 'one' is not a spw id"),
    ),
    BadInput(
        "duplicate flux row",
        own_flux_file(HEADER + ROW + ROW),
        ("bad_flux.csv:3", f"EB {EB1}", "duplicate row", "first at line 2"),
    ),
    BadInput(
        "malformed antenna-position JSON",
        own_antpos_file("{not json"),
        ("bad_antpos.json", f"EB {EB1}", "not an antenna-position file"),
    ),
    BadInput(
        "antenna-position file naming DA99",
        own_antpos_file(
            json.dumps({"data": {**POSITIONS["data"], "DA99": POSITIONS["data"]["DA41"]}})
        ),
        ("bad_antpos.json", f"EB {EB1}", "['DA99'] are not in the EB"),
    ),
    BadInput(
        "antenna positions in kilometres",
        own_antpos_file(json.dumps({"data": {"DA41": [2225.0, -5440.0, -2481.6]}})),
        ("bad_antpos.json", f"EB {EB1}", "antenna DA41", "not on the Earth's surface"),
    ),
    BadInput(
        "refant not in the EB",
        edit_config(set_key("calibration.refant", "DA99")),
        ("config: calibration.refant", f"EB {EB1}", "['DA99'] are not in the EB"),
    ),
    BadInput(
        "WVR flag antenna not in the EB",
        edit_config(
            lambda c: (
                eb_entry(c, EB1)
                .setdefault("overrides", {})
                .update(wvr={**c["calibration"]["wvr"], "flag": ["DA99"]})
            )
        ),
        (f"mous.{MOUS}.ebs.{EB1}.overrides.wvr.flag", f"EB {EB1}", "['DA99']"),
    ),
    BadInput(
        "field role naming a field not in the EB",
        edit_config(set_key("calibration.field_roles", {"phase": "NoSuchField"})),
        ("config: calibration.field_roles", "phase field(s) ['NoSuchField'] not in the data"),
    ),
    BadInput(
        "cube of a spw that is not a science spw",
        edit_config(set_key("imaging.cube_spws", [1, 7])),
        ("config: imaging.cube_spws", f"EB {EB1}", "spw(s) [7] are not science spws [1, 3]"),
    ),
    BadInput(
        "line-free channels outside the spw",
        edit_config(set_key("imaging.continuum_channels", "1:0~20;60~200,3")),
        ("config: imaging.continuum_channels", f"EB {EB1}", "channels 60~200 of spw 1"),
    ),
    BadInput(
        "QA2 request without its resolution",
        edit_config(set_key(f"mous.{MOUS}.qa2", {"sensitivity_mjy": 0.1})),
        ("'resolution_arcsec' is a required property", "qa2"),
    ),
    BadInput(
        "Tsys flag line outside the Tsys spws",
        append_flag_line(f"{EB2}.tsys.flags.txt", "spw='1:10~20'\n"),
        (f"{EB2}.tsys.flags.txt, line", f"EB {EB2}"),
    ),
]


def snapshot(workdir: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file of the workdir's products, logs and inputs."""
    files = {}
    for top in ("results", "logs", "config", "resources/demo_mous/raw"):
        for path in (workdir / top).rglob("*"):
            if path.is_file():
                stat = path.stat()
                files[str(path.relative_to(workdir))] = (stat.st_size, stat.st_mtime_ns)
    return files


@pytest.fixture(scope="module")
def finished(demo_run) -> Path:
    """The workdir of the demo run, and its config as it was, restored after each case."""
    return demo_run


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_before_any_job(case: BadInput, finished: Path):
    config_files = [p for p in (finished / "config").rglob("*") if p.is_file()]
    saved = {p: (p.read_bytes(), p.stat().st_atime_ns, p.stat().st_mtime_ns) for p in config_files}
    before = snapshot(finished)
    try:
        case.make(finished)
        run = subprocess.run(
            [BIN / "snakemake", *snakemake_args(finished), "--cores", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    finally:  # the inputs as they were, time stamps included
        for path in {p for p in (finished / "config").rglob("*") if p.is_file()} - set(saved):
            path.unlink()
        for path, (data, atime, mtime) in saved.items():
            path.write_bytes(data)
            os.utime(path, ns=(atime, mtime))
    message = run.stdout
    assert run.returncode != 0, message[-3000:]
    for text in case.expected:
        assert text in message, f"{text!r} not in:\n{message[-3000:]}"
    assert "Select jobs to execute" not in message, "a job started"
    after = snapshot(finished)
    changed = sorted(k for k in before if k in after and before[k] != after[k])
    assert not changed, f"changed: {changed[:10]}"
    assert not set(before) - set(after), f"lost: {sorted(set(before) - set(after))[:10]}"


def test_antenna_positions_of_another_array_stop_gencal_before_it_runs(finished: Path, tmp_path):
    """Offsets beyond 1 m against the MS's own ANTENNA positions: refused by gencal_antpos
    before its CASA call (the check needs the MS), naming the file, the EB and the antenna."""
    from almacal.calibration.gencal_antpos import gencal_antpos
    from almacal.inputs import InputError

    base = finished / f"results/{MOUS}/{EB1}/{EB1}"
    positions = json.loads((finished / ANTPOS).read_text())
    positions["data"]["DA41"] = [v + 3.0 for v in positions["data"]["DA41"]]
    bad = tmp_path / "shifted.json"
    bad.write_text(json.dumps(positions))
    caltable = tmp_path / "antpos"
    with pytest.raises(InputError) as err:
        gencal_antpos(
            eb=EB1,
            ms=f"{base}.ms",
            metadata=f"{base}.ms.metadata.json",
            positions=str(bad),
            antpos=str(caltable),
            log=str(tmp_path / "casa.log"),
            commands=str(tmp_path / "commands.py"),
        )
    assert f"shifted.json: EB {EB1}: antenna DA41 moves by 5.20 m" in str(err.value)
    assert not caltable.exists() and not (tmp_path / "commands.py").exists()
