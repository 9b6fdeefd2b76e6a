"""Automatic Tsys flags (almacal.calibration.tsysflag, the pipeline's hifa_tsysflag tests), as a
generated flag file per EB (issue 13, item 2).

Unit tests on synthetic spectra, then truth tests on the faulted MOUS (resources/faulted_mous.yaml:
DV03's Tsys twice the array's, a birdie on DA48 in channels 81-84 of Tsys spw 0, three faults the
Tsys tests must not see) run with the flags on: the flagged elements of {eb}.ms.tsys against the
injected ones (precision and recall), the calibrated fluxes against the truth, and a reducer's
edit of a generated line rerunning only what depends on it. The clean demo EBs lose nothing.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_incremental import EditedFile
from truth import DEMO_EBS, assert_fluxes_recovered, load_truth, product
from workdir import planned, run_test_mous, snakemake_args, table_columns

from almacal.calibration import tsysflag
from almacal.calibration.tsysflag import Flag, SpwSpectra

BIN = Path(sys.executable).parent
FAULT_MOUS = "uid___A001_Xfault_X1"
FAULT_EB = "uid___A002_Xfault_X1"
CONFIGS = ("resources/faulted_mous.config.yaml", "resources/faulted_mous.tsysflag.config.yaml")
ON = {
    "nmedian": True,
    "fnm_limit": 2.0,
    "derivative": True,
    "fd_max_limit": 13.0,
    "edgechans": True,
    "fe_edge_limit": 3.0,
    "birdies": True,
    "fb_sharps_limit": 0.15,
    "toomany": True,
    "tmf1_limit": 0.666,
    "tmef1_limit": 0.666,
}


def spectra(nant=10, ntime=3, nchan=128, seed=5) -> SpwSpectra:
    """Smooth Tsys spectra (an atmospheric line every antenna sees), 0.2 % noise."""
    rng = np.random.default_rng(seed)
    chan = np.arange(nchan)
    line = 1 + 0.5 * np.exp(-0.5 * ((chan - 90) / 4.0) ** 2)
    level = rng.uniform(80, 120, nant)
    tsys = (
        level[:, None, None, None]
        * line
        * (1 + 0.002 * rng.standard_normal((nant, ntime, 2, nchan)))
    )
    tsys = tsys.transpose(1, 0, 2, 3).reshape(ntime * nant, 2, nchan)  # rows by time, antenna
    antenna = np.tile(np.arange(nant), ntime)
    time = np.repeat(5.0e9 + 600.0 * np.arange(ntime), nant)
    return SpwSpectra(0, tsys, antenna, time, np.full(time.size, 20.0))


@pytest.mark.fast
def test_clean_spectra_get_no_flag():
    assert tsysflag.find_flags([spectra()], ON) == []


@pytest.mark.fast
def test_a_hot_antenna_is_flagged_at_every_time_in_one_line():
    s = spectra()
    s.tsys[s.antenna == 3] *= 2.5
    assert tsysflag.find_flags([s], ON) == [Flag("nmedian", 0, 3)]
    line = tsysflag.command(Flag("nmedian", 0, 3), [f"DA{40 + i}" for i in range(10)], {})
    assert line == "antenna='DA43' spw='0' reason='tsysflag:nmedian'"


@pytest.mark.fast
def test_a_hot_spectrum_at_one_time_is_flagged_at_that_time():
    s = spectra()
    s.tsys[(s.antenna == 3) & (s.time == s.time.max())] *= 2.5
    (flag,) = tsysflag.find_flags([s], ON)
    assert flag == Flag("nmedian", 0, 3, time=float(s.time.max()))
    line = tsysflag.command(flag, [f"DA{40 + i}" for i in range(10)], {flag.time: 10.0})
    assert "timerange='" in line and line.count("~") == 1


@pytest.mark.fast
def test_a_birdie_is_flagged_in_its_channels_only_and_the_shared_line_is_not():
    s = spectra()
    s.tsys[s.antenna == 5, :, 40:44] *= 3.0  # channels 40-43
    assert tsysflag.find_flags([s], ON) == [Flag("birdies", 0, 5, channels=(40, 43))]


@pytest.mark.fast
def test_too_many_flagged_antennas_flag_all_of_them():
    s = spectra()
    last = s.time == s.time.max()
    s.tsys[last & (s.antenna < 7)] *= 3.0  # 7 of 10 antennas hot at the last time: > 0.666
    flags = tsysflag.find_flags([s], ON)
    assert Flag("toomany", 0, time=float(s.time.max())) in flags
    mask = tsysflag.flag_mask(flags, s)
    assert mask[last].all() and not mask[~last].any()


@pytest.mark.fast
def test_a_switched_off_test_flags_nothing():
    s = spectra()
    s.tsys[s.antenna == 3] *= 2.5
    assert tsysflag.find_flags([s], {**ON, "nmedian": False}) == []


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """The faulted MOUS calibrated with the automatic Tsys flags on."""
    work = run_test_mous(tmp_path_factory.mktemp("tsysflag"), *CONFIGS)
    return work, load_truth(FAULT_EB)


def fault_product(work: Path, suffix: str) -> Path:
    return work / "results" / FAULT_MOUS / FAULT_EB / f"{FAULT_EB}{suffix}"


def injected_bad(truth: dict, table: dict) -> np.ndarray:
    """The elements [pol, chan, row] of the Tsys table the faults made bad: every spectrum of the
    hot antenna, the birdie's channels of its antenna."""
    bad = np.zeros(table["FLAG"].shape, bool)
    for fault in truth["faults"]:
        rows = table["ANTENNA1"] == fault["antenna_id"]
        if fault["kind"] == "high_tsys":
            bad[:, :, rows] = True
        elif fault["kind"] == "birdie":
            for spw, (first, last) in fault["channels"].items():
                mine = rows & (table["SPECTRAL_WINDOW_ID"] == int(spw))
                bad[:, first : last + 1, mine] = True
    return bad


@pytest.mark.workflow
def test_the_injected_tsys_faults_are_flagged_with_precision_and_recall_above_0_9(flagged):
    work, truth = flagged
    table = table_columns(
        fault_product(work, ".ms.tsys"), ("FLAG", "ANTENNA1", "SPECTRAL_WINDOW_ID")
    )
    bad, flag = injected_bad(truth, table), table["FLAG"]
    precision = (flag & bad).sum() / flag.sum()
    recall = (flag & bad).sum() / bad.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    lines = fault_product(work, ".ms.tsysflag.flags.txt").read_text().splitlines()
    commands = [line for line in lines if not line.startswith("#")]
    assert "antenna='DA48' spw='0:81~84' reason='tsysflag:birdies'" in commands
    assert "antenna='DV03' spw='0' reason='tsysflag:nmedian'" in commands
    # the phase jump, the low gain and the noisy antenna leave Tsys alone: not flagged
    assert all("DA44" not in c and "DA46" not in c and "DV11" not in c for c in commands)


@pytest.mark.workflow
def test_the_calibration_of_the_flagged_eb_recovers_the_injected_fluxes(flagged):
    """Calibrated phase calibrator and target, channel-averaged, within the demo's 3 %."""
    work, truth = flagged
    assert_fluxes_recovered(fault_product(work, ".ms.split.cal"), truth)


@pytest.mark.workflow
def test_removing_a_generated_line_reruns_only_what_depends_on_it(flagged):
    work, _ = flagged
    generated = fault_product(work, ".ms.tsysflag.flags.txt")
    tsys = str(fault_product(work, ".ms.tsys").relative_to(work))
    text = generated.read_text()
    kept = "".join(line + "\n" for line in text.splitlines() if "DA48" not in line)
    with EditedFile(generated, ""):
        generated.write_text(kept)
        plan = planned(work, "--configfile", *CONFIGS)
        assert ("gencal_tsys", FAULT_EB) in plan
        assert ("tsysflag", FAULT_EB) not in plan and ("import_eb", FAULT_EB) not in plan
        done = subprocess.run(
            [
                BIN / "snakemake",
                *snakemake_args(work),
                "--cores",
                "2",
                tsys,
                "--configfile",  # (last: it takes every argument after it)
                *CONFIGS,
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        table = table_columns(work / tsys, ("FLAG", "ANTENNA1"))
        da48 = next(f["antenna_id"] for f in flagged[1]["faults"] if f["antenna"] == "DA48")
        assert not table["FLAG"][:, :, table["ANTENNA1"] == da48].any()


@pytest.mark.workflow
@pytest.mark.parametrize("eb", DEMO_EBS)
def test_a_clean_demo_eb_loses_less_than_0_5_percent(eb, demo_run):
    summary = json.loads(product(eb, ".ms.tsysflag.json", root=demo_run).read_text())
    assert summary["tests"] == list(tsysflag.TESTS)  # on by default
    assert summary["flagged_fraction"] < 0.005, summary["flags"]


@pytest.mark.fast
def test_a_rolled_off_edge_is_flagged_for_every_antenna():
    s = spectra()
    s.tsys[:, :, :4] *= np.array([3.0, 2.0, 1.5, 1.2])  # a roll-off over the first four channels
    assert tsysflag.find_flags([s], ON) == [Flag("edgechans", 0, channels=(0, 3))]


@pytest.mark.workflow
def test_the_report_shows_what_the_tsys_tests_flagged_and_links_the_file(flagged):
    work, _ = flagged
    report = work / "results" / FAULT_MOUS / "qa"
    page = (report / "index.html").read_text()
    assert f'href="{FAULT_EB}/{FAULT_EB}.ms.tsysflag.flags.txt"' in page
    assert "antenna=&#39;DA48&#39; spw=&#39;0:81~84&#39;" in page or "spw='0:81~84'" in page
    copied = report / FAULT_EB / f"{FAULT_EB}.ms.tsysflag.flags.txt"
    assert copied.read_text() == fault_product(work, ".ms.tsysflag.flags.txt").read_text()


@pytest.mark.fast
def test_edge_and_birdie_flags_on_an_atmospheric_line_are_dropped():
    s = spectra()
    s.freq_hz = 230e9 + 15.625e6 * np.arange(128)
    s.tsys[:, :, :4] *= np.array([3.0, 2.0, 1.5, 1.2])
    s.tsys[s.antenna == 5, :, 40:44] *= 3.0
    on_line = tsysflag.find_flags([s], ON, lambda freq: np.arange(0, 3))  # a line in 0-2
    assert on_line == [Flag("birdies", 0, 5, channels=(40, 43))]
