"""Calibrator outliers after calibration (almacal.calibration.correctedampflag, the pipeline's
hifa_bandpassflag / hif_correctedampflag), as a generated flag file per EB applied by flag_split
(issue 13, item 2).

Unit tests of the outlier rules on synthetic corrected amplitudes of the bandpass calibrator,
then truth tests on the glitch MOUS (resources/glitch_mous.yaml: DV07's gain amplitude x 3 in two
integrations of the bandpass calibrator's scan): the visibilities flag_split flagged in
{eb}.ms.split against the injected glitch (precision and recall), the calibrated fluxes against
the truth, the report, a reducer's unflag line rerunning only flag_split and what follows. The
clean demo EBs lose less than 0.5 %.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from truth import DEMO_EBS, assert_fluxes_recovered, load_truth, product
from workdir import (
    assert_report_links,
    new_split_flags,
    planned,
    run_test_mous,
    snakemake_args,
    table_columns,
)

from almacal.calibration import correctedampflag
from almacal.calibration.correctedampflag import Flag, Samples
from almacal.flag_files import utc_text

BIN = Path(sys.executable).parent
MOUS = "uid___A001_Xglitch_X1"
EB = "uid___A002_Xglitch_X1"
CONFIG = "resources/glitch_mous.config.yaml"

ON = {
    "enabled": True,
    "antnegsig": 4.0,
    "antpossig": 4.6,
    "tmantint": 0.063,
    "relaxed_factor": 2.0,
    "niter": 2,
}
T0 = 5.2e9


def samples(spw=1, nant=10, ntime=18, seed=3) -> Samples:
    """Corrected / model amplitudes of a 1 Jy calibrator: 1 with 1 % noise, two correlations."""
    rng = np.random.default_rng(seed)
    a1, a2 = np.triu_indices(nant, 1)
    nbl = a1.size
    time = np.repeat(T0 + 10.0 * np.arange(ntime), nbl)
    amp = 1 + 0.01 * rng.standard_normal((2, nbl * ntime))
    return Samples(
        spw,
        np.tile(a1, ntime),
        np.tile(a2, ntime),
        time,
        np.full(time.size, 10.0),
        amp,
        np.zeros(amp.shape, bool),
    )


@pytest.mark.fast
def test_clean_corrected_amplitudes_get_no_flag():
    assert correctedampflag.find_flags(samples(), ON) == []
    assert correctedampflag.find_flags(samples(seed=4, nant=40, ntime=30), ON) == []


@pytest.mark.fast
def test_an_antenna_bad_in_two_integrations_is_flagged_there_only():
    s = samples()
    bad = ((s.ant1 == 4) | (s.ant2 == 4)) & np.isin(s.time, [T0 + 50, T0 + 60])
    s.amp[:, bad] *= 2.5  # its gain x 3 at those integrations, the amplitude solve x 1.2
    flags = correctedampflag.find_flags(s, ON)
    assert flags == [Flag("antint", 1, 4, None, T0 + t, 10.0) for t in (50, 60)]
    assert (correctedampflag.selected(s, flags) == bad).all()
    names = [f"DA{40 + i}" for i in range(10)]
    line = correctedampflag.command(flags[0], names)
    assert line.startswith("antenna='DA44' spw='1' timerange='")
    assert line.endswith("' reason='correctedampflag:antint'")


@pytest.mark.fast
def test_a_low_antenna_and_the_second_round_are_found_too():
    s = samples()
    low = ((s.ant1 == 2) | (s.ant2 == 2)) & (s.time == T0 + 100)
    s.amp[:, low] *= 0.5
    assert correctedampflag.find_flags(s, ON) == [Flag("antint", 1, 2, None, T0 + 100, 10.0)]
    assert correctedampflag.find_flags(s, {**ON, "antnegsig": 60.0}) == []


@pytest.mark.fast
def test_a_single_noisy_baseline_sample_is_not_an_antenna():
    s = samples()
    one = np.flatnonzero((s.ant1 == 1) & (s.ant2 == 7) & (s.time == T0 + 30))
    s.amp[0, one] = 1.07  # 7 sigma: an outlier, one baseline of nine: not the antenna rule
    assert correctedampflag.find_flags(s, ON) == []
    s.amp[0, one] = 1.3  # 30 sigma: beyond relaxed_factor x the limit, that baseline alone
    flags = correctedampflag.find_flags(s, ON)
    assert flags == [Flag("baseline", 1, 1, 7, T0 + 30, 10.0)]
    line = correctedampflag.command(flags[0], [f"DA{40 + i}" for i in range(10)])
    assert line.startswith("antenna='DA41&DA47' spw='1' timerange='")
    assert line.endswith("reason='correctedampflag:baseline'")


@pytest.mark.fast
def test_flagged_samples_are_left_out_and_the_integration_stays_whole_seconds():
    s = samples()
    s.flag[:, s.ant1 == 0] = True
    s.amp[:, s.ant1 == 0] = 50.0  # flagged as split: no outlier
    assert correctedampflag.find_flags(s, ON) == []
    line = correctedampflag.command(Flag("antint", 3, 0, None, T0 + 5.5, 10.0), ["DA41"])
    begin, end = line.split("timerange='")[1].split("'")[0].split("~")
    assert (begin, end) == (utc_text(T0), utc_text(T0 + 10))  # T0: a whole second


@pytest.mark.fast
def test_an_antenna_scaled_over_the_whole_scan_is_not_an_outlier():
    """The amplitude solve per scan spreads a glitch over the scan: each baseline's median out."""
    s = samples()
    s.amp[:, (s.ant1 == 3) | (s.ant2 == 3)] *= 0.8
    assert correctedampflag.find_flags(s, ON) == []


@pytest.fixture(scope="module")
def glitch(tmp_path_factory):
    """The glitch MOUS calibrated with the automatic flags of config/config.yaml."""
    return run_test_mous(tmp_path_factory.mktemp("correctedampflag"), CONFIG), load_truth(EB)


@pytest.mark.workflow
def test_the_glitch_is_flagged_with_precision_and_recall_above_0_9(glitch):
    """New flags of flag_split in {eb}.ms.split (against the as-split flag version, edge channels
    left out) against the glitched antenna's cross-correlations at the glitched integrations."""
    work, truth = glitch
    new, candidates, a1, a2, time = new_split_flags(product(EB, ".ms.split", root=work, mous=MOUS))
    (fault,) = [f for f in truth["faults"] if f["kind"] == "glitch"]
    ant = fault["antenna_id"]
    at = np.isclose(time[:, None], np.array(fault["times_mjd_s"])[None, :], rtol=0, atol=0.5).any(
        axis=1
    )
    bad = candidates & (((a1 == ant) | (a2 == ant)) & at)[None, None, :]
    precision = (new & bad).sum() / new.sum()
    recall = (new & bad).sum() / bad.sum()
    print(f"precision {precision:.4f} recall {recall:.4f}")
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    found = json.loads(
        product(EB, ".ms.split.correctedampflag.json", root=work, mous=MOUS).read_text()
    )
    assert {f["antenna"] for f in found["flags"]} == {fault["antenna"]}
    assert {f["test"] for f in found["flags"]} == {"antint"}
    assert sorted({f["time"] for f in found["flags"]}) == pytest.approx(fault["times_mjd_s"])


@pytest.mark.workflow
def test_the_calibration_of_the_flagged_eb_recovers_the_injected_fluxes(glitch):
    work, truth = glitch
    assert_fluxes_recovered(product(EB, ".ms.split.cal", root=work, mous=MOUS), truth)


@pytest.mark.workflow
def test_the_report_lists_the_outlier_lines_and_links_the_file(glitch):
    suffix = ".ms.split.correctedampflag.flags.txt"
    assert_report_links(glitch[0], MOUS, EB, suffix, ["correctedampflag:antint", "DV07"])


@pytest.mark.workflow
@pytest.mark.parametrize("eb", DEMO_EBS)
def test_a_clean_demo_eb_loses_less_than_0_5_percent(eb, demo_run):
    summary = json.loads(product(eb, ".ms.split.correctedampflag.json", root=demo_run).read_text())
    assert summary["enabled"] and summary["tests"] == list(correctedampflag.RULES)
    print(eb, summary["flagged_fraction"], summary["per_test"])
    assert summary["flagged_fraction"] < 0.005, summary["flags"]


@pytest.mark.workflow
def test_a_reducers_unflag_line_reruns_flag_split_and_what_follows_only(glitch):
    """Last in this module: it changes the workdir. The reducer keeping the glitched antenna's
    data with a mode='unflag' line in <eb>.split.flags.txt plans flag_split and what follows,
    neither the heuristic nor the split; flag_split then leaves those data unflagged."""
    work, truth = glitch
    (fault,) = [f for f in truth["faults"] if f["kind"] == "glitch"]
    folder = work / "config" / "flags" / MOUS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{EB}.split.flags.txt").write_text(
        f"antenna='{fault['antenna']}' spw='1:6~121,3:6~121' mode='unflag' "
        "reason='reducer keeps it'\n"
    )
    plan = planned(work, "--configfile", CONFIG)
    assert {("flag_split", EB), ("gaincal_ampli_inf", EB), ("applycal_split_cal", EB)} <= plan
    assert ("correctedampflag", EB) not in plan and ("split_eb", EB) not in plan
    summary = str(product(EB, ".ms.split.flags_user.json", root=work, mous=MOUS).relative_to(work))
    args = [BIN / "snakemake", *snakemake_args(work), "--cores", "2", summary]
    done = subprocess.run([*args, "--configfile", CONFIG], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    main = table_columns(
        product(EB, ".ms.split", root=work, mous=MOUS), ("FLAG", "ANTENNA1", "ANTENNA2")
    )
    ant = fault["antenna_id"]
    rows = (main["ANTENNA1"] != main["ANTENNA2"]) & (
        (main["ANTENNA1"] == ant) | (main["ANTENNA2"] == ant)
    )
    assert not main["FLAG"][:, 6:122, rows].any()  # unflagged: the reducer's line came last
