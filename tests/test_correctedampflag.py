"""Calibrator outliers after calibration (almacal.calibration.correctedampflag, the pipeline's
hifa_bandpassflag / hif_correctedampflag), as a generated flag file per EB applied by flag_split
(issue 13, item 2).

Unit tests of the outlier rules on synthetic corrected amplitudes of the bandpass calibrator.
"""

import numpy as np
import pytest

from almacal.calibration import correctedampflag
from almacal.calibration.correctedampflag import Flag, Samples
from almacal.flag_files import utc_text

ON = {
    "enabled": True,
    "antnegsig": 4.0,
    "antpossig": 4.6,
    "tmantint": 0.063,
    "tmint": 0.085,
    "tmbl": 0.175,
    "antblnegsig": 3.4,
    "antblpossig": 3.2,
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
