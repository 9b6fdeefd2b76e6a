"""The imaging heuristics without CASA: image size and cell from the data, line-free channels
of a spectrum, the configured line-free selection, the QA2 verdict and its band tolerances."""

import math

import numpy as np
import pytest

from almacal.imaging import linefree, params, sensitivity

pytestmark = pytest.mark.fast

SETTINGS = {
    "pixels_per_beam": 5,
    "pb_level": 0.2,
    "cell_arcsec": None,
    "imsize": None,
    "weighting": "briggs",
    "robust": 0.5,
}


def test_fft_sizes_are_even_with_factors_2_3_5():
    assert [params.fft_size(n) for n in (100, 101, 181, 187.2, 243, 1)] == [
        100, 108, 192, 192, 250, 2,
    ]  # fmt: skip


def test_cell_and_image_size_from_baselines_frequency_and_dish():
    """Band 6, 12 m dishes, L80 = 150 m: beam 0.574 lambda/L80 = 1.055", cell 0.211", primary
    beam 1.13 lambda/D = 26.0" imaged to the 0.2 level (39.6") in an FFT-friendly size."""
    uv = np.linspace(10.0, 187.5, 1000)  # 80th percentile: 152 m
    p = params.derive(
        uv_distances_m=uv, frequencies_hz=(223e9, 227e9), dish_m=12.0, settings=SETTINGS
    )
    l80 = np.percentile(uv, 80)
    beam = 0.574 * 299792458.0 / 227e9 / l80 * 180 / math.pi * 3600
    assert p.beam_estimate_arcsec == pytest.approx(beam, rel=1e-5)
    assert p.cell_arcsec == pytest.approx(beam / 5, rel=1e-5)
    pb = 1.13 * 299792458.0 / 223e9 / 12.0 * 180 / math.pi * 3600
    assert p.pb_fwhm_arcsec == pytest.approx(pb, rel=1e-5)
    diameter = pb * math.sqrt(math.log(5) / math.log(2))
    assert p.imsize == params.fft_size(diameter / p.cell_arcsec)
    assert p.imsize * p.cell_arcsec >= diameter
    assert p.origin == {"cell_arcsec": "data", "imsize": "data"}
    fixed = params.derive(
        uv_distances_m=uv,
        frequencies_hz=(223e9, 227e9),
        dish_m=12.0,
        settings={**SETTINGS, "cell_arcsec": 0.3, "imsize": 128},
    )
    assert (fixed.cell_arcsec, fixed.imsize) == (0.3, 128)
    assert fixed.origin == {"cell_arcsec": "config", "imsize": "config"}


def test_no_data_no_parameters():
    with pytest.raises(ValueError, match="no unflagged"):
        params.derive(
            uv_distances_m=np.zeros(3), frequencies_hz=(1e11, 1e11), dish_m=12, settings=SETTINGS
        )


def test_a_line_is_found_and_the_rest_is_line_free():
    rng = np.random.default_rng(1)
    chans = np.arange(128)
    continuum = 0.5 + 1e-4 * chans
    line = 0.02 * np.exp(-4 * math.log(2) * ((chans - 40) / 6.0) ** 2)
    spectrum = continuum + line + rng.normal(0, 1e-3, 128)
    empty = np.zeros(128, bool)
    empty[:6] = empty[-6:] = True  # flagged edges
    mask = linefree.line_channels(spectrum, empty, detection_sigma=5.0, pad=2)
    (run,) = linefree.ranges(mask)
    assert run[0] <= 35 and run[1] >= 45 and run[1] - run[0] < 30, run
    assert not mask[empty].any()
    flat = linefree.line_channels(continuum + rng.normal(0, 1e-3, 128), empty, 5.0)
    assert not flat.any()
    assert linefree.selection({1: ~mask, 3: np.ones(128, bool)}) == (
        f"1:0~{run[0] - 1};{run[1] + 1}~127,3"
    )


def test_configured_line_free_channels_are_checked():
    nchan = {1: 128, 3: 128}
    masks = linefree.parse_selection("1:0~22;52~127,3", nchan)
    assert masks[1].sum() == 23 + 76 and masks[3].all()
    for text, message in [
        ("1:0~22", r"no line-free channels given for the science spw\(s\) \[3\]"),
        ("1,5", "spw '5' is not one of the science spws"),
        ("1:0~200,3", "outside 0~127"),
        ("1:a~b,3", "is not 'a~b'"),
    ]:
        with pytest.raises(ValueError, match=message):
            linefree.parse_selection(text, nchan)


def test_a_resolution_range_must_be_min_max():
    assert params.request_errors("M", {"sensitivity_mjy": 1, "resolution_arcsec": [0.5, 1]}) == []
    assert params.request_errors("M", None) == []
    (error,) = params.request_errors("M", {"sensitivity_mjy": 1, "resolution_arcsec": [2, 1]})
    assert error == "config: mous.M.qa2.resolution_arcsec: [2, 1] is not [min, max]"


def test_config_errors_name_the_key_and_the_eb():
    imaging = {"cube_spws": [1, 9], "continuum_channels": "1:0~999,3"}
    errors = params.config_errors(imaging, "uid___A002_X1", {1: 128, 3: 128})
    assert errors[0].startswith("config: imaging.cube_spws: EB uid___A002_X1: spw(s) [9]")
    assert errors[1].startswith("config: imaging.continuum_channels: EB uid___A002_X1:")


@pytest.mark.parametrize(
    "ghz, band, tolerance",
    [(100.0, 3, 0.10), (230.0, 6, 0.10), (345.0, 7, 0.15), (460.0, 8, 0.15), (690.0, 9, 0.20),
     (870.0, 10, 0.20)],
)  # fmt: skip
def test_bands_and_their_sensitivity_tolerance(ghz, band, tolerance):
    assert sensitivity.band(ghz) == band
    assert sensitivity.tolerance(band) == tolerance


def figures(rms, beam, ghz=345.0, kind="continuum", width=None):
    return {
        "kind": kind,
        "file": f"{kind}.pbcor.fits",
        "measured_rms_jy": rms,
        "beam_arcsec": beam,
        "frequency_ghz": ghz,
        "bandwidth_mhz": 7500.0,
        "channel_width_mhz": width,
    }


@pytest.mark.parametrize(
    "rms_mjy, beam, verdict",
    [
        (0.114, 0.5, "pass"),  # Band 7: 15 % over the request still passes
        (0.116, 0.5, "semipass"),  # rms beyond 15 %, beam in range
        (0.10, 0.9, "semipass"),  # rms met, beam outside 0.3-0.6 arcsec
        (0.20, 0.2, "fail"),  # neither
    ],
)
def test_qa2_verdict_continuum(rms_mjy, beam, verdict):
    request = {"sensitivity_mjy": 0.1, "resolution_arcsec": [0.3, 0.6]}
    result = sensitivity.qa2_verdict(request, [figures(rms_mjy / 1e3, beam)], [])
    assert result["verdict"] == verdict
    assert result["band"] == 7 and result["tolerance"] == 0.15


def test_qa2_verdict_line_scales_the_channel_rms_to_the_requested_bandwidth():
    """A cube of 1 MHz channels with 0.4 mJy rms: 0.2 mJy in 4 MHz; the worst cube counts."""
    request = {"sensitivity_mjy": 0.21, "bandwidth_mhz": 4.0, "resolution_arcsec": [0.3, 0.6]}
    cubes = [
        figures(0.4e-3, 0.5, kind="cube", width=1.0),
        figures(0.3e-3, 0.5, kind="cube", width=1.0),
    ]
    result = sensitivity.qa2_verdict(request, [], cubes)
    assert result["rms_jy"] == pytest.approx(0.2e-3)
    assert result["verdict"] == "pass"
    assert sensitivity.qa2_verdict(None, [], cubes)["verdict"] is None
    assert sensitivity.qa2_verdict(request, [], [])["reason"].startswith("no science image")
