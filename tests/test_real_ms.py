"""A real measurement set the project did not make: the EVLA MS of the pyuvdata 3.1.3 wheel.

One field, J1008+0730, is bandpass, flux and phase calibrator at once (roles from config, no
target); one 64-channel spw at 36.3 GHz (8 MHz), 10 s integrations over 80 s, RR/RL/LR/LL; no
BBC_NO column, no SYSCAL table, no WVR window, no autocorrelations, ANTENNA rows of unused pads
at (0, 0, 0). The workflow calibrates it through the MS path, saying what it skips: no Tsys, no
WVR, renormalisation not applicable, fluxscale skipped (the flux scale is setjy's 1 Jy).

Measured on the calibrated data (vector averages of the parallel hands over all baselines):
amplitude 0.988 (RR) and 0.983 (LL) x the 1.000 Jy set with setjy; scatter of the per-integration
amplitudes 10 % and 9 %, of 8-channel averages 9 % and 17 % (thermal noise of 10 s, 125 kHz
channels at 36 GHz: a single visibility's |V| is ~4.5 Jy of noise); phase rms of the
per-integration averages 2.3 and 5.5 deg.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from workdir import make_workdir, snakemake_args

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
MOUS = "uid___A001_Xevla_X1"
EB = "uid___A002_Xevla_X1"
FIELD = "J1008+0730"
FLUX_JY = 1.0


@pytest.fixture(scope="module")
def evla_run(tmp_path_factory, evla_ms):
    work = make_workdir(tmp_path_factory.mktemp("evla_run"))
    (work / "flags").mkdir()
    (work / "flux.csv").write_text(
        "ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment\n"
        f"{EB}.ms,{FIELD},0,{FLUX_JY},0,0,0,0,0,0,set\n"
    )
    own = {
        "mous": {
            MOUS: {
                "flux_file": str(work / "flux.csv"),
                "flags_dir": str(work / "flags"),
                "ebs": {EB: {"raw": str(evla_ms)}},
            }
        },
        "calibration": {"field_roles": {"bandpass": FIELD, "flux": FIELD, "phase": FIELD}},
    }
    (work / "my.yaml").write_text(yaml.safe_dump(own))
    run = subprocess.run(
        [
            BIN / "snakemake",
            *snakemake_args(work),
            "--cores",
            "2",
            "--configfile",
            str(work / "my.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return work


def product(work: Path, suffix: str) -> Path:
    return work / "results" / MOUS / EB / f"{EB}{suffix}"


def calibrated_figures(ms: Path) -> dict:
    """Vector averages of the parallel hands: overall, per integration, per 8 channels."""
    from casatools import table

    tb = table()
    tb.open(str(ms))
    data, flag = tb.getcol("DATA"), tb.getcol("FLAG")
    a1, a2, time = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"), tb.getcol("TIME")
    tb.close()
    cross = a1 != a2
    out = {}
    for name, p in (("RR", 0), ("LL", data.shape[0] - 1)):
        v = np.ma.masked_array(data[p][:, cross], flag[p][:, cross])  # [chan, row]
        t = time[cross]
        per_time = np.ma.array([v[:, t == x].mean() for x in np.unique(t)])
        per_chan = np.ma.array([v[c : c + 8].mean() for c in range(0, v.shape[0], 8)])
        out[name] = {
            "amplitude": float(abs(v.mean())),
            "time_scatter": float(np.std(np.abs(per_time)) / np.mean(np.abs(per_time))),
            "chan_scatter": float(np.std(np.abs(per_chan)) / np.mean(np.abs(per_chan))),
            "time_phase_rms_deg": float(np.sqrt(np.mean(np.degrees(np.angle(per_time)) ** 2))),
            "integrations": int(per_time.count()),
        }
    return out


def test_the_real_ms_is_calibrated_to_the_flux_density_set(evla_run):
    figures = calibrated_figures(product(evla_run, ".ms.split.cal"))
    for hand, f in figures.items():
        assert f["integrations"] >= 8, (hand, f)
        assert abs(f["amplitude"] / FLUX_JY - 1) < 0.03, (hand, f)  # known answer: setjy's 1 Jy
        assert f["time_scatter"] < 0.15, (hand, f)  # flat in time, to the noise
        assert f["chan_scatter"] < 0.25, (hand, f)  # flat in frequency, to the noise
        assert f["time_phase_rms_deg"] < 8.0, (hand, f)


def test_what_the_data_lack_is_skipped_and_said(evla_run):
    split = json.loads(product(evla_run, ".ms.split.split.json").read_text())
    assert "tsys" not in split["applied"] and "wvr" not in split["applied"]
    assert split["wvr"].startswith("the data carry no WVR#NOMINAL window")
    assert not product(evla_run, ".ms.tsys").exists()
    renorm = json.loads(product(evla_run, ".ms.split.renorm.json").read_text())
    assert renorm["applicable"] is False and not renorm["apply"]
    assert renorm["decision"].startswith("not applicable: the EB has no target field")
    flux = json.loads(product(evla_run, ".ms.split.fluxscale.json").read_text())
    assert flux["transfer"] == [] and flux["skipped"].startswith("skipped: no transfer field")
    choices = json.loads(product(evla_run, ".ms.choices.json").read_text())
    assert choices["data"] == {
        "wvr_window": False,
        "syscal_rows": 0,
        "atmosphere_scans": False,
        "autocorrelations": False,
        "antennas": 28,
    }
    assert (evla_run / "results" / MOUS / "qa" / "index.html").exists()
    # no target: no imaging data and no science image, said; the calibrator is imaged
    targets = json.loads(product(evla_run, "_targets.ms.json").read_text())
    assert targets["targets"] == [] and targets["not_applicable"].startswith("the EB has no target")
    assert not product(evla_run, "_targets.ms").exists()
    mous_dir = evla_run / "results" / MOUS
    continuum = json.loads((mous_dir / f"{MOUS}.continuum_images.json").read_text())
    assert continuum["images"] == [] and continuum["not_applicable"].startswith("no EB")
    sensitivity = json.loads((mous_dir / f"{MOUS}.sensitivity.json").read_text())
    assert sensitivity["qa2"]["verdict"] is None
    (image,) = json.loads(product(evla_run, ".calibrator_images.json").read_text())["images"]
    assert image["field"] == FIELD and image["role"] == "phase"
    assert image["source"]["integrated_jy"] == pytest.approx(FLUX_JY, rel=0.03)


def test_reference_antennas_start_at_the_centre_of_the_vla(evla_run):
    """VLA pads are numbered outward along each arm (W01 ... W09): the first five refants sit
    on pads 01-03, 24-66 m from the centre of the antennas with data; none is an unused pad."""
    choices = json.loads(product(evla_run, ".ms.choices.json").read_text())
    metadata = json.loads(product(evla_run, ".ms.metadata.json").read_text())
    station = {a["name"]: a["station"] for a in metadata["antennas"]}
    pads = [station[c["name"]] for c in choices["refants"]]
    assert all(pad[1:].isdigit() and int(pad[1:]) <= 3 for pad in pads), pads
    assert all(c["distance_m"] < 70 for c in choices["refants"]), choices["refants"]


def test_an_empty_syscal_table_means_no_tsys_and_tsys_never_turns_it_off(tmp_path, demo_raw):
    """An ALMA MS whose SYSCAL table exists with no rows (gencal would fail on row 0): no Tsys
    table is planned, the rest is; with SysCal rows, `tsys: never` plans none either."""
    from casatools import table
    from test_own_data import dry_run
    from truth import DEMO_EBS

    from almacal import raw_data
    from almacal.casa_job import load_task

    ms = tmp_path / "uid___A002_Xsyscal_X1.ms"
    load_task("importasdm")(asdm=str(demo_raw / DEMO_EBS[2]), vis=str(ms))
    assert raw_data.read_contents(ms).syscal
    work = make_workdir(tmp_path / "work")
    (work / "flags").mkdir()
    (work / "flux.csv").write_text("ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment\n")
    own = {
        "mous": {
            "uid___A001_Xsyscal_X1": {
                "flux_file": str(work / "flux.csv"),
                "flags_dir": str(work / "flags"),
                "ebs": {ms.stem: {"raw": str(ms)}},
            }
        }
    }
    (work / "my.yaml").write_text(yaml.safe_dump(own))
    rules = {job["rule"] for job in dry_run(work, "--configfile", str(work / "my.yaml"))}
    assert "gencal_tsys" in rules
    own["calibration"] = {"tsys": "never"}
    (work / "never.yaml").write_text(yaml.safe_dump(own))
    rules = {job["rule"] for job in dry_run(work, "--configfile", str(work / "never.yaml"))}
    assert "gencal_tsys" not in rules and "split_eb" in rules
    tb = table()
    tb.open(f"{ms}/SYSCAL", nomodify=False)
    tb.removerows(list(range(tb.nrows())))
    tb.close()
    assert not raw_data.read_contents(ms).syscal
    rules = {job["rule"] for job in dry_run(work, "--configfile", str(work / "my.yaml"))}
    assert "gencal_tsys" not in rules and "split_eb" in rules


def test_a_solve_that_writes_no_table_says_why(evla_run, tmp_path):
    """gaincal on data that are all flagged writes no table and raises nothing: the job says so
    in its own error (instead of Snakemake's MissingOutputException)."""
    import shutil

    from almacal.calibration.solve import solve_table
    from almacal.casa_job import load_task

    vis = tmp_path / f"{EB}.ms.split"
    shutil.copytree(product(evla_run, ".ms.split"), vis)
    load_task("flagdata")(vis=str(vis), mode="manual", flagbackup=False)
    with pytest.raises(RuntimeError, match=r"gaincal wrote no table .*phase_inf: no solution"):
        solve_table(
            name="phase_inf",
            vis=str(vis),
            eb_choices=str(product(evla_run, ".ms.choices.json")),
            caltable=str(tmp_path / f"{EB}.ms.split.phase_inf"),
            gaintables=[str(product(evla_run, ".ms.split.bandpass"))],
            settings={"solint": "inf"},
            minsnr=3.0,
            log=str(tmp_path / "solve.casa.log"),
            commands=str(tmp_path / "solve.casa_commands.py"),
        )
