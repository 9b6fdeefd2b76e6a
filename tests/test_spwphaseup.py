"""A faint phase calibrator as the pipeline's hifa_spwphaseup handles it (issue 13, item 4): the
phase SNR per spw (almacal.calibration.spwphaseup), the spw map of the phase solutions, and the
phase offsets per spw solved on the bandpass calibrator (the solve table's phase_offsets).

Unit tests on synthetic visibilities, then truth tests on the faint MOUS
(resources/faint_phase_mous.yaml: a 60 mJy phase calibrator, a narrow third spw in its own
baseband, per-spw instrumental phase offsets, radiometer-equation noise): the narrow spw is
mapped and the wide ones are not, and the target, divided by its injected spectrum, has a phase
rms below 5 deg and its flux within 3 % in every spw; the same EB with ``spwphaseup.mode: never``
does worse in the narrow spw. On the demo every spw passes: the identity map.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from truth import DEMO_EBS, ROOT, product, target_residuals
from workdir import make_workdir, snakemake_args

from almacal import solves
from almacal.calibration import spwphaseup
from almacal.calibration.solve import task_arguments
from almacal.calibration.spwphaseup import SpwSnr

BIN = Path(sys.executable).parent
FAINT_MOUS = "uid___A001_Xfaint_X1"
FAINT_EB = "uid___A002_Xfaint_X1"
CONFIG = "resources/faint_phase_mous.config.yaml"
THRESHOLD = 32.0


def synthetic(signal=0.05, sigma=0.2, nant=10, nint=3, nscan=4, nchan=128, seed=3):
    """Cross-correlations [row, chan, pol] of a point source with a smooth bandpass phase slope,
    gaussian noise ``sigma`` per real part; rows per scan, integration and baseline."""
    rng = np.random.default_rng(seed)
    ant1, ant2 = np.triu_indices(nant, 1)
    nbl = ant1.size
    nrow = nscan * nint * nbl
    slope = np.exp(1j * np.deg2rad(20 * np.linspace(-0.5, 0.5, nchan)))[None, :, None]
    gain = np.exp(1j * rng.uniform(-np.pi, np.pi, (nrow, 1, 2)))  # any phase per row
    noise = sigma * (
        rng.standard_normal((nrow, nchan, 2)) + 1j * rng.standard_normal((nrow, nchan, 2))
    )
    data = signal * gain * slope + noise
    flag = np.zeros(data.shape, bool)
    flag[:, :6] = flag[:, -6:] = True  # edge channels
    times = np.repeat(np.arange(nscan * nint) * 10.0, nbl)
    scans = np.repeat(np.arange(nscan), nint * nbl)
    return data, flag, np.tile(ant1, nscan * nint), np.tile(ant2, nscan * nint), times, scans


def expected_snr(signal, sigma, nchan=116, nint=3, nant=10):
    return signal / sigma * np.sqrt(nchan * nint * (nant - 1))


@pytest.mark.fast
@pytest.mark.parametrize("signal,sigma", [(0.05, 0.2), (0.05, 0.04), (1.0, 0.04)])
def test_the_snr_of_synthetic_visibilities_is_recovered_within_10_percent(signal, sigma):
    data, flag, ant1, ant2, times, scans = synthetic(signal, sigma)
    found = spwphaseup.spw_snr(1, 1, data, flag, ant1, ant2, times, scans, "inf", 10.0)
    assert abs(found.noise_jy / sigma - 1) < 0.05, found
    assert abs(found.signal_jy / signal - 1) < 0.10, found
    assert (found.n_chan, found.n_int, found.n_ant) == (116, 3, 10)
    assert abs(found.snr / expected_snr(signal, sigma) - 1) < 0.10, found


@pytest.mark.fast
def test_a_spw_without_unflagged_data_has_snr_0_and_is_mapped():
    data, flag, ant1, ant2, times, scans = synthetic()
    flag[:] = True
    found = spwphaseup.spw_snr(5, 3, data, flag, ant1, ant2, times, scans, "inf", 10.0)
    assert (found.snr, found.signal_jy, found.noise_jy) == (0.0, 0.0, 0.0)
    decision = spwphaseup.decide([snr(1, 1, 90), found], "auto", THRESHOLD)
    assert decision["spwmap"] == [0, 1, 2, 3, 4, 1]
    json.dumps(decision, allow_nan=False)  # a valid JSON file


@pytest.mark.fast
def test_the_solint_sets_the_integrations_per_solution():
    _, _, _, _, times, scans = synthetic()
    assert spwphaseup.integrations_per_solint(times, scans, "inf", 10.0) == 3
    assert spwphaseup.integrations_per_solint(times, scans, "int", 10.0) == 1
    assert spwphaseup.integrations_per_solint(times, scans, "20s", 10.0) == 2
    assert spwphaseup.integrations_per_solint(times, scans, "10min", 10.0) == 3  # one scan at most


def snr(spw, baseband, value):
    return SpwSnr(spw, baseband, value, 0.05, 0.04, 116, 3, 10)


@pytest.mark.fast
def test_every_spw_above_the_threshold_gives_the_identity():
    decision = spwphaseup.decide([snr(1, 1, 80), snr(3, 2, 60)], "auto", THRESHOLD)
    assert decision["spwmap"] == [] and decision["mapped_spws"] == []
    assert not decision["best_spw_below_threshold"]


@pytest.mark.fast
def test_a_low_spw_takes_the_best_passing_spw_of_its_baseband_first():
    snrs = [snr(1, 1, 90), snr(3, 2, 50), snr(5, 2, 10), snr(7, 3, 5)]
    decision = spwphaseup.decide(snrs, "auto", THRESHOLD)
    # spw 5 shares baseband 2 with spw 3 (samebb), spw 7 has no passing spw in its baseband
    assert decision["spwmap"] == [0, 1, 2, 3, 4, 3, 6, 1]
    assert decision["mapped_spws"] == [5, 7]
    assert "same baseband" in decision["reasons"]["5"]
    assert "no passing spw in its baseband" in decision["reasons"]["7"]


@pytest.mark.fast
def test_when_no_spw_passes_the_low_ones_take_the_best_and_the_file_says_so():
    decision = spwphaseup.decide([snr(1, 1, 20), snr(3, 2, 8)], "auto", THRESHOLD)
    assert decision["spwmap"] == [0, 1, 2, 1]
    assert decision["best_spw_below_threshold"]
    assert "itself below the threshold" in decision["reasons"]["1"]
    assert "itself below the threshold" in decision["reasons"]["3"]


@pytest.mark.fast
def test_mode_never_keeps_every_spw_its_own_solutions():
    decision = spwphaseup.decide([snr(1, 1, 90), snr(3, 2, 5)], "never", THRESHOLD)
    assert decision["spwmap"] == [] and decision["spws"][1]["snr"] == 5


@pytest.mark.fast
def test_the_phase_offsets_are_solved_on_the_bandpass_calibrator_and_the_phases_on_top():
    entry = solves.solve("phase_offsets")
    assert (entry.fields, entry.calmode, entry.combine, entry.applied_to) == (
        "bandpass",
        "p",
        "scan",
        "all",
    )
    for name in ("phase_int", "phase_inf", "ampli_inf"):
        assert "phase_offsets" in solves.solve(name).on_top_of, name
    assert {s.name for s in solves.SOLVES if s.spwmap} == {"phase_int", "phase_inf"}


@pytest.mark.fast
def test_the_solves_apply_the_map_to_the_mapped_tables_only():
    from almacal.choices import EBChoices

    eb = EBChoices(
        metadata={"spws": []},
        roles={"bandpass": ["B"], "flux": ["B"], "phase": ["P"], "target": ["T"], "check": []},
        science_spws=[1, 3, 5],
        refants=[],
    )
    spwmap = [0, 1, 2, 3, 4, 1]

    def arguments(name, spwmap):
        entry = solves.solve(name)
        return task_arguments(
            entry,
            eb,
            vis="v",
            caltable="c",
            gaintables=[f"v.{t}" for t in entry.on_top_of],
            settings={"solint": "inf"},
            minsnr=3.0,
            spwmap=spwmap,
        )

    ampli = arguments("ampli_inf", spwmap)
    assert ampli["gaintable"] == ["v.bandpass", "v.phase_offsets", "v.phase_int"]
    assert ampli["spwmap"] == [[], [], spwmap]
    assert "spwmap" not in arguments("ampli_inf", [])  # the identity: left out
    offsets = arguments("phase_offsets", spwmap)
    assert offsets["combine"] == "scan" and offsets["field"] == "B"
    assert "spwmap" not in offsets  # the bandpass takes no map
    assert "spwmap" not in arguments("phase_inf", spwmap)


def faint_product(work: Path, suffix: str) -> Path:
    return work / "results" / FAINT_MOUS / FAINT_EB / f"{FAINT_EB}{suffix}"


def faint_truth() -> dict:
    return json.loads((ROOT / f"resources/demo_mous/raw/{FAINT_EB}.truth.json").read_text())


def run_faint(work: Path, *configs: str, targets: tuple[str, ...] = ()) -> None:
    args = [BIN / "snakemake", *snakemake_args(work), "--cores", "2", *targets]
    done = subprocess.run([*args, "--configfile", CONFIG, *configs], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    """The faint MOUS calibrated with spwphaseup on (the default, mode auto)."""
    work = make_workdir(tmp_path_factory.mktemp("spwphaseup") / "work")
    run_faint(work)
    return work


@pytest.fixture(scope="module")
def unmapped(tmp_path_factory, mapped):
    """The same EB with spwphaseup.mode never, up to the calibrated MS (after ``mapped``, which
    simulates the raw data)."""
    work = make_workdir(tmp_path_factory.mktemp("spwphaseup_never") / "work")
    never = work / "never.yaml"
    never.write_text("calibration:\n  spwphaseup: {mode: never, phasesnr: 32.0}\n")
    cal = str(faint_product(work, ".ms.split.cal").relative_to(work))
    run_faint(work, str(never), targets=(cal,))
    return work


def expected_snrs(truth: dict, decision: dict) -> dict[int, float]:
    """The phase SNR the injected phase calibrator flux and noise give for each spw, with the
    channels, integrations and antennas the decision counted."""
    phase = next(f for f in truth["fields"] if f["role"] == "phase")
    spws = {s["id"]: s for s in truth["spws"]}
    out = {}
    for s in decision["spws"]:
        centre = np.mean(spws[s["spw"]]["chan_freq_hz"])
        flux = phase["S0_jy"] * (centre / phase["nu0_hz"]) ** phase["spix"]
        sigma = truth["noise_sigma_jy_per_spw"][str(s["spw"])]
        out[s["spw"]] = expected_snr(flux, sigma, s["n_chan"], s["n_int"], s["n_ant"])
    return out


@pytest.mark.workflow
def test_the_narrow_spw_is_mapped_onto_a_wide_one_and_the_wide_ones_are_not(mapped):
    truth = faint_truth()
    decision = json.loads(faint_product(mapped, ".ms.split.spwphaseup.json").read_text())
    snrs = {s["spw"]: s["snr"] for s in decision["spws"]}
    narrow = min(truth["spws"], key=lambda s: s["chan_width_hz"] if s["type"] == "FDM" else 1e99)
    wide = [s for s in decision["spws"] if s["spw"] != narrow["id"]]
    assert snrs[narrow["id"]] < THRESHOLD
    assert all(s["snr"] >= THRESHOLD and s["mapped_to"] == s["spw"] for s in wide), decision
    assert decision["mapped_spws"] == [narrow["id"]]
    assert decision["spwmap"][narrow["id"]] == max(wide, key=lambda s: s["snr"])["spw"]
    assert not decision["best_spw_below_threshold"]
    # the estimate from the data against the injected flux and noise
    for spw, value in expected_snrs(truth, decision).items():
        assert abs(snrs[spw] / value - 1) < 0.05, (spw, snrs[spw], value)


@pytest.mark.workflow
def test_the_map_is_applied_and_shown_in_the_command_log_and_the_report(mapped):
    decision = json.loads(faint_product(mapped, ".ms.split.spwphaseup.json").read_text())
    spwmap, (narrow,) = decision["spwmap"], decision["mapped_spws"]
    log = (mapped / "results" / FAINT_MOUS / f"{FAINT_MOUS}.casa_commands.log").read_text()
    # the decision (as comments) before the solves, phase_offsets before the phase solves
    order = [
        log.index("# spw phase-up decision"),
        log.index(".ms.split.phase_offsets\n"),
        log.index(".ms.split.phase_int\n"),
        log.index(".ms.split.ampli_inf\n"),
    ]
    assert order == sorted(order)
    assert f"spwmap=[[], [], {spwmap}]," in log  # ampli_inf: phase_int with the map
    assert log.count(f"spwmap=[[], [], {spwmap}, []],") == 3  # applycal: phase_int/phase_inf
    page = (mapped / "results" / FAINT_MOUS / "qa" / "index.html").read_text()
    assert f"spw {narrow} takes the phases of spw {spwmap[narrow]}" in page


@pytest.mark.workflow
def test_with_the_map_the_target_phase_rms_is_below_5_deg_and_its_flux_within_3_percent(
    mapped,
):
    found = target_residuals(faint_product(mapped, ".ms.split.cal"), faint_truth())
    assert len(found) == 3
    for spw, figures in found.items():
        assert figures["phase_rms_deg"] < 5.0, (spw, figures)
        assert abs(figures["flux_ratio"] - 1) < 0.03, (spw, figures)


@pytest.mark.workflow
def test_without_the_map_the_narrow_spw_is_calibrated_worse(mapped, unmapped):
    decision = json.loads(faint_product(unmapped, ".ms.split.spwphaseup.json").read_text())
    assert decision["mode"] == "never" and decision["spwmap"] == []
    narrow = json.loads(faint_product(mapped, ".ms.split.spwphaseup.json").read_text())[
        "mapped_spws"
    ][0]
    truth = faint_truth()
    with_map = target_residuals(faint_product(mapped, ".ms.split.cal"), truth)
    without = target_residuals(faint_product(unmapped, ".ms.split.cal"), truth)
    assert without[narrow]["phase_rms_deg"] > with_map[narrow]["phase_rms_deg"], (
        with_map,
        without,
    )


@pytest.mark.workflow
@pytest.mark.parametrize("eb", DEMO_EBS)
def test_every_demo_spw_passes_the_threshold_identity_map(eb, demo_run):
    decision = json.loads(product(eb, ".ms.split.spwphaseup.json", root=demo_run).read_text())
    assert decision["spwmap"] == [] and decision["mapped_spws"] == []
    assert all(s["snr"] >= decision["phasesnr"] for s in decision["spws"]), decision
