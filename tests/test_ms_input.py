"""An EB given as an existing measurement set without ALMA intents, field roles from config."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_demo_calibration import calibrated_ratio
from truth import DEMO_EBS, ROOT, load_truth, product, read_visibilities

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
EB = "uid___A002_Xnointents_X1"
MOUS = "uid___A001_Xmsinput_X1"


def ms_without_intents(asdm: Path, ms: Path) -> None:
    """Import a demo ASDM, then blank every scan intent (as an array without ALMA intents)."""
    from casatools import table

    from almacal.casa_job import load_task

    load_task("importasdm")(asdm=str(asdm), vis=str(ms))
    shutil.rmtree(f"{ms}.flagversions", ignore_errors=True)
    tb = table()
    tb.open(f"{ms}/STATE", nomodify=False)
    tb.putcol("OBS_MODE", np.array([""] * tb.nrows()))
    tb.close()


def flux_file_from_truth(truth: dict, ms: str) -> str:
    """flux.csv rows of the flux calibrator at the centre of each science (FDM) spw."""
    field = next(f for f in truth["fields"] if f["role"] == "bandpass")
    lines = ["ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment"]
    for spw in (s for s in truth["spws"] if s["type"] == "FDM"):
        centre = 0.5 * (spw["chan_freq_hz"][0] + spw["chan_freq_hz"][-1])
        flux = field["S0_jy"] * (centre / field["nu0_hz"]) ** field["spix"]
        lines.append(f"{ms},{field['name']},{spw['id']},{flux},0,0,0,{field['spix']},0,0,injected")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def ms_run(tmp_path_factory, demo_raw):
    work = tmp_path_factory.mktemp("ms_input")
    source_eb = DEMO_EBS[2]  # the 7 m EB: wvrgcal needs scan intents, which this MS lacks
    raw = demo_raw / source_eb
    ms_without_intents(raw, work / f"{EB}.ms")
    (work / "flux.csv").write_text(flux_file_from_truth(load_truth(source_eb), f"{EB}.ms"))
    (work / "flags").mkdir()
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["mous"] = {
        MOUS: {
            "flux_file": str(work / "flux.csv"),
            "flags_dir": str(work / "flags"),
            "ebs": {EB: {"raw": str(work / f"{EB}.ms")}},
        }
    }
    config["calibration"]["field_roles"] = {
        "bandpass": "J1924-2914",
        "flux": "J1924-2914",
        "phase": "J1733-1304",
        "target": "DemoTarget",
    }
    config["calibration"]["science_spws"] = [1, 3]
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    run = subprocess.run(
        [
            BIN / "snakemake",
            "--snakefile",
            ROOT / "Snakefile",
            "--directory",
            work,
            "--configfile",
            work / "config.yaml",
            "--cores",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return work, load_truth(source_eb)


def test_ms_input_is_copied_not_modified(ms_run):
    work, _ = ms_run
    assert not Path(f"{work}/{EB}.ms.flagversions").exists()
    assert (work / "results" / MOUS / EB / f"{EB}.ms.split.cal").is_dir()


@pytest.mark.parametrize("role, tolerance", [("bandpass", 0.01), ("phase", 0.02), ("target", 0.03)])
def test_ms_input_recovers_injected_flux_density(ms_run, role, tolerance):
    work, truth = ms_run
    spws = read_visibilities(product(EB, ".ms.split.cal", mous=MOUS, root=work), truth)
    for spw, ratio in calibrated_ratio(truth, spws, role):
        amplitude = np.mean(ratio).real
        assert abs(amplitude - 1) < tolerance, f"{role} spw {spw}: {amplitude:.4f} x truth"
