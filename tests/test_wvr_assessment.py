"""Whether to apply WVR, decided from the data as the pipeline's hifa_wvrgcalflag does (issue 13,
item 3): the phase-rms views and their figures on synthetic gains, then the truth on simulated
EBs: the demo's bad radiometer (DA45) found without config, and an EB whose radiometers carry only
noise (resources/faulted_mous.yaml, uid___A002_Xfault_X2) whose WVR table is rejected."""

import json
from pathlib import Path

import numpy as np
import pytest
from truth import DEMO_EBS, assert_fluxes_recovered, load_truth, product
from workdir import planned, run_test_mous

from almacal import wvr_assessment as assess
from almacal.calibration.wvrgcal_table import decide

NOISE_MOUS = "uid___A001_Xwvrnoise_X1"
NOISE_EB = "uid___A002_Xfault_X2"
NOISE_CONFIG = "resources/wvr_noise_mous.config.yaml"


def solutions(phase_deg: np.ndarray, step_s: float = 10.0) -> assess.PhaseSolutions:
    """Phase solutions of phase_deg[antenna, time], one integration every step_s."""
    nant, nt = phase_deg.shape
    times = 5.0e9 + step_s * np.arange(nt)
    return assess.PhaseSolutions(
        time=np.repeat(times, nant),
        antenna=np.tile(np.arange(nant), nt),
        gain=np.exp(1j * np.deg2rad(phase_deg.T.ravel())),
        flag=np.zeros(nant * nt, bool),
    )


def atmosphere(nant=10, nt=15, rms_deg=15.0, seed=3) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, rms_deg, (nant, nt))


@pytest.mark.fast
def test_time_chunks_split_at_gaps_longer_than_30_s():
    times = np.r_[np.arange(0, 100, 10.0), np.arange(200, 260, 10.0)]
    chunks = assess.time_chunks(times)
    assert [c[0] for c in chunks] == [0.0, 200.0] and [len(c) for c in chunks] == [10, 6]


@pytest.mark.fast
def test_the_view_measures_each_antennas_own_phase_noise_whatever_the_reference():
    noise = np.linspace(2, 20, 10)
    phase = np.random.default_rng(1).normal(0, 1, (10, 200)) * noise[:, None]
    view, starts = assess.phase_rms_view(solutions(phase), 10, references=[9, 0, 1, 2])
    assert view.shape == (10, 1) and len(starts) == 1
    # against a reference an antenna's rms is sqrt(own^2 + reference's^2): the median over the
    # references (its own left out) keeps the order of the antennas' own noise, whichever
    # reference is noisy
    assert np.all(np.diff(view[3:, 0]) > 0)
    assert view[9, 0] == pytest.approx(np.hypot(20, 4), rel=0.15)


@pytest.mark.fast
def test_a_correction_that_halves_the_phase_noise_improves_by_about_2():
    phase = atmosphere()
    without, _ = assess.phase_rms_view(solutions(phase), 10, list(range(8)))
    with_wvr, _ = assess.phase_rms_view(solutions(phase / 2), 10, list(range(8)))
    ratio = assess.ratio_view(with_wvr, without)
    assert assess.improvement(ratio) == pytest.approx(2.0, rel=0.01)
    assert assess.high_outliers(ratio, 10.0, 5, set()) == (set(), pytest.approx(0.5, rel=0.01))


@pytest.mark.fast
def test_a_radiometer_that_adds_noise_is_a_high_outlier_and_noise_only_radiometers_lose():
    rng = np.random.default_rng(7)
    phase = atmosphere(nt=30)
    residual = phase / 5 + rng.normal(0, 1, phase.shape)
    residual[4] = phase[4] + rng.normal(0, 40, phase.shape[1])  # antenna 4: a noisy radiometer
    refs = [0, 1, 2, 3, 5, 6, 7, 8]
    without, _ = assess.phase_rms_view(solutions(phase), 10, refs)
    with_wvr, _ = assess.phase_rms_view(solutions(residual), 10, refs)
    bad, limit = assess.high_outliers(assess.ratio_view(with_wvr, without), 10.0, 5, set())
    assert bad == {4} and limit < 1
    # left out when already in wvrflag
    assert assess.high_outliers(assess.ratio_view(with_wvr, without), 10.0, 5, {4})[0] == set()
    noise_only = phase + rng.normal(0, 40, phase.shape)  # every radiometer: noise
    noisy, _ = assess.phase_rms_view(solutions(noise_only), 10, refs)
    assert assess.improvement(assess.ratio_view(noisy, without)) < 0.5


@pytest.mark.fast
def test_the_decision_and_its_reason():
    assert decide("auto", 3.2, 1.0, 10, 12) == (
        True,
        "it reduces the calibrators' phase rms 3.20 times",
    )
    applied, reason = decide("auto", 0.8, 1.0, 10, 12)
    assert not applied and "0.80 < 1.0" in reason
    applied, reason = decide("auto", 3.2, 1.0, 2, 12)
    assert not applied and "only 2 of 12 antennas" in reason
    assert decide("always", 0.3, 1.0, 10, 12)[0] and not decide("never", 5.0, 1.0, 10, 12)[0]


@pytest.mark.workflow
@pytest.mark.parametrize("eb", DEMO_EBS[:2])
def test_the_demo_bad_radiometer_is_found_without_config(eb, demo_run):
    """config/config.yaml names no bad radiometer: the assessment finds the injected one (DA45 in
    the first EB; none in the second) and applies the table, which at least halves the phase rms."""
    stats = json.loads(product(eb, ".ms.wvrgcal.json", root=demo_run).read_text())
    bad = load_truth(eb)["wvr"]["bad_antennas"]
    assert stats["wvrflag_config"] == [] and stats["wvrflag_auto"] == bad == stats["wvrflag"]
    assert stats["applied"] and stats["assessment"]["improvement"] > 2
    ratio = stats["assessment"]["ratio_per_antenna"]
    assert all(ratio[name] < 0.5 for name in ratio if name not in bad)


@pytest.mark.workflow
def test_forcing_the_decision_in_config_reruns_from_wvrgcal_for_the_ebs_with_wvr(demo_run):
    plan = planned(demo_run, "--config", 'calibration={"wvr": {"apply": "never"}}')
    with_wvr = [eb for eb in DEMO_EBS if load_truth(eb)["has_wvr"]]
    assert with_wvr == DEMO_EBS[:2]
    for eb in with_wvr:
        assert {("wvrgcal", eb), ("split_eb", eb), ("applycal_split_cal", eb)} <= plan
    assert not {job for job in plan if job[1] not in with_wvr + [None]}, "the 7 m EB reruns"
    assert not {job for job in plan if job[0] in ("import_eb", "flag_apriori", "gencal_tsys")}


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory):
    """The EB whose radiometers carry only noise, calibrated."""
    return run_test_mous(tmp_path_factory.mktemp("wvr_noise"), NOISE_CONFIG)


def noise_product(work: Path, suffix: str) -> Path:
    return work / "results" / NOISE_MOUS / NOISE_EB / f"{NOISE_EB}{suffix}"


@pytest.mark.workflow
def test_a_wvr_table_of_noise_is_rejected_said_in_log_and_report_and_scored_low(noise_run):
    truth = load_truth(NOISE_EB)
    assert truth["wvr"]["noise_only"]
    stats = json.loads(noise_product(noise_run, ".ms.wvrgcal.json").read_text())
    assert not stats["applied"] and stats["assessment"]["improvement"] < 0.66
    assert stats["reason"].startswith("it does not reduce the calibrators' phase rms")
    split = json.loads(noise_product(noise_run, ".ms.split.split.json").read_text())
    assert "wvr" not in split["applied"] and split["wvr"].startswith("WVR correction not applied")
    log = noise_run / "logs" / NOISE_MOUS / NOISE_EB / "split_eb.casa_commands.py"
    assert "# WVR correction not applied: it does not reduce" in log.read_text()
    summary = json.loads(
        (
            noise_run / "results" / NOISE_MOUS / NOISE_EB / "qa" / f"{NOISE_EB}.qa_summary.json"
        ).read_text()
    )
    (score,) = [s for s in summary["scores"] if s["check"] == "wvr_improvement"]
    assert score["score"] < 0.66 and score["subject"] == "calibrators, WVR not applied"
    page = (noise_run / "results" / NOISE_MOUS / "qa" / "index.html").read_text()
    assert "WVR <strong>not applied</strong>: it does not reduce" in page


@pytest.mark.workflow
def test_without_its_wvr_table_the_eb_recovers_the_injected_fluxes(noise_run):
    """Calibrated phase calibrator and target, channel-averaged, within the demo's 3 %."""
    truth = load_truth(NOISE_EB)
    assert_fluxes_recovered(noise_product(noise_run, ".ms.split.cal"), truth)
