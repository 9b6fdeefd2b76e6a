"""The baseline fit of the amplitude renormalisation (almacal.calibration.renorm_factors), on
synthetic, seeded ratio spectra: a smooth baseline (target / bandpass-calibrator autocorrelation:
elevation, Tsys and gain drift) times 1 + a Gaussian line (T_line / T_sys of the target's
extended line), plus noise. The fit must recover the smooth part within the noise, leave the line
in the factors R = ratio / baseline, and give the injected ratio at the line peak."""

import numpy as np
import pytest

from almacal.calibration.renorm_factors import (
    piecewise_baseline,
    pipeline_statistic,
    robust_baseline,
    running_median,
    scaling_spectra,
)

pytestmark = pytest.mark.fast

NCHAN = 960
CHAN = np.arange(NCHAN)
X = np.linspace(-1.0, 1.0, NCHAN)
SIGMA = 0.002  # noise of the ratio spectrum per channel
EDGE = 48  # 5 % edge channels, left out of the fit as the job does
# the fit settings of config/config.yaml (calibration.renormalization)
FIT = {"order": 2, "clip_sigma": 4.0, "sigma_floor": 1.0e-4}


def gaussian(centre: float, fwhm: float) -> np.ndarray:
    return np.exp(-4 * np.log(2) * ((CHAN - centre) / fwhm) ** 2)


def used() -> np.ndarray:
    use = np.ones(NCHAN, bool)
    use[:EDGE] = use[NCHAN - EDGE :] = False
    return use


def spectrum(baseline: np.ndarray, line: np.ndarray, seed: int) -> np.ndarray:
    return baseline * (1 + line) + np.random.default_rng(seed).normal(0, SIGMA, NCHAN)


QUADRATIC = 1.0 + 0.03 * X - 0.02 * X**2
CUBIC = 1.0 + 0.01 * X + 0.03 * X**3  # more curvature than one quadratic can follow


def test_robust_baseline_recovers_the_smooth_part_under_a_line():
    line = 0.15 * gaussian(400, 40)
    y = spectrum(QUADRATIC, line, seed=1)
    fit = robust_baseline(y, used(), **FIT)
    # the smooth part everywhere, under the line included, well within the noise of a channel
    assert np.max(np.abs(fit - QUADRATIC)) < 0.5 * SIGMA
    r = y / fit
    assert abs(r[400] - 1.15) < 3 * SIGMA  # the injected ratio at the peak
    away = used() & (np.abs(CHAN - 400) > 80)
    assert abs(np.mean(r[away] - 1)) < 0.2 * SIGMA  # the line-free channels come out at 1 ...
    assert 0.8 * SIGMA < np.std(r[away]) < 1.2 * SIGMA  # ... with just the noise
    # an ordinary least-squares fit would absorb part of the line: the clipping is what counts
    plain = np.polyval(np.polyfit(X[used()], y[used()], 2), X)
    assert plain[400] - QUADRATIC[400] > 3 * SIGMA


def test_robust_baseline_ignores_channels_not_used():
    line = 0.15 * gaussian(400, 40)
    y = spectrum(QUADRATIC, line, seed=2)
    spoilt = y.copy()
    spoilt[:EDGE] = 10.0  # edge channels (or atmospheric lines) of any value
    spoilt[NCHAN - EDGE :] = -3.0
    assert np.array_equal(robust_baseline(spoilt, used(), **FIT), robust_baseline(y, used(), **FIT))


def test_running_median_sets_a_narrow_spike_aside():
    y = spectrum(CUBIC, np.zeros(NCHAN), seed=3)
    y[300:305] += 25 * SIGMA
    median = running_median(y, used(), 101)
    assert np.max(np.abs(median[300:305] - CUBIC[300:305])) < 0.5 * SIGMA
    spoilt = y.copy()
    spoilt[:EDGE] = 1e3  # channels not used do not enter the median, even next to them
    spoilt[NCHAN - EDGE :] = np.nan
    assert np.array_equal(running_median(spoilt, used(), 101), median)
    assert np.all(np.isfinite(median))


def test_segment_fits_follow_curvature_one_quadratic_cannot():
    line = 0.12 * gaussian(650, 30)  # next to the boundary of the 2nd and 3rd of 3 segments
    y = spectrum(CUBIC, line, seed=4)
    one = piecewise_baseline(y, used(), 1, **FIT)
    three = piecewise_baseline(y, used(), 3, **FIT)
    assert np.max(np.abs(one - CUBIC)[used()]) > 3 * SIGMA  # one quadratic misses the cubic
    assert np.max(np.abs(three - CUBIC)[used()]) < 1.5 * SIGMA
    near_line = np.abs(CHAN - 650) < 45
    # the line does not bend the fits of either segment: as without it, within the noise
    no_line = piecewise_baseline(spectrum(CUBIC, np.zeros(NCHAN), seed=4), used(), 3, **FIT)
    assert np.max(np.abs(three - no_line)[used()]) < 0.5 * SIGMA
    r = y / three
    assert abs(r[650] - 1.12) < 3 * SIGMA
    assert abs(np.mean(r[used() & ~near_line] - 1)) < 0.2 * SIGMA


@pytest.mark.parametrize("segments, centre", [(2, 490), (2, 300), (4, 245)])
def test_line_excess_survives_wherever_it_falls(segments, centre):
    line = 0.12 * gaussian(centre, 30)
    y = spectrum(QUADRATIC, line, seed=5 + centre)
    r = y / piecewise_baseline(y, used(), segments, **FIT)
    peak = slice(centre - 2, centre + 3)
    # the 5 channels about the peak: injected 1 + line, averaged, within 3 sigma of the mean
    assert abs(np.mean(r[peak] - (1 + line[peak]))) < 3 * SIGMA / np.sqrt(5)


def test_scaling_spectra_give_each_antenna_its_own_line_ratio():
    """R[ant, pol, chan] from autocorrelation spectra: target / bandpass calibrator, baseline
    divided out; R = 1 + T_line / T_sys of each antenna at the peak, 1 outside the used channels,
    1 everywhere for an antenna without data."""
    rng = np.random.default_rng(6)
    tsys = np.array([[80.0, 85.0], [100.0, 95.0], [120.0, 110.0]])  # [ant, pol], K
    tline = 12.0 * gaussian(400, 40)  # K
    bandpass = rng.uniform(0.5, 2.0, (3, 2, 1)) * (
        1 + 0.1 * X**2
    )  # autocorrelations [ant, pol, chan]
    smooth = 1.0 + 0.02 * X - 0.03 * X**2  # a different elevation: a smooth ratio
    want = 1 + tline / tsys[:, :, None]
    target = bandpass * smooth * want * (1 + rng.normal(0, SIGMA, (3, 2, NCHAN)))
    bandpass[2, 1] = np.nan  # one antenna and pol without autocorrelations of the calibrator
    r = scaling_spectra(target, bandpass, used(), 2, **FIT)
    assert r.shape == (3, 2, NCHAN)
    for ant, pol in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]:
        assert abs(r[ant, pol, 400] - want[ant, pol, 400]) < 3 * SIGMA, (ant, pol)
        assert np.max(np.abs(r[ant, pol] - want[ant, pol])[used()]) < 5 * SIGMA
    assert r[0, 0, 400] > r[1, 0, 400] > r[2, 0, 400]  # the lower Tsys, the deeper the depression
    assert np.all(r[2, 1] == 1.0)
    assert np.all(r[:, :, ~used()] == 1.0)


def test_the_pipeline_figure_is_the_antenna_mean_of_each_antennas_peak():
    """hifa_renorm's figure of a scan: per antenna and correlation the peak over channels, the
    mean over antennas with data (a peak of exactly 1: flagged or no data), then over the
    correlations; its peaks need not share a channel, unlike the peak of the antenna median."""
    r = np.ones((4, 2, 100))
    r[0, :, 10] = 1.30  # one antenna's spike
    r[1, :, 50] = 1.10
    r[2, :, 60] = 1.10
    # antenna 3: no data (all 1) is left out
    assert pipeline_statistic(r) == pytest.approx((1.30 + 1.10 + 1.10) / 3)
    assert np.max(np.median(r, axis=(0, 1))) == 1.0  # no channel where most antennas peak
    r[:, 1] = 1.0  # one correlation without data
    assert pipeline_statistic(r) == pytest.approx((1.30 + 1.10 + 1.10) / 3)
    assert pipeline_statistic(np.ones((4, 2, 100))) == 1.0
