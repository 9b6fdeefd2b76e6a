"""The real ALMA raw layout (resources/real_layout_mous.yaml, run with its config file): what the
workflow chooses from such data and how well it recovers the injected truth.

One simulated EB: spw 0 WVR#NOMINAL, every TDM/FDM window with a 1-channel #CH_AVG twin,
pointing and sideband-ratio scans, 14 x 12 m and 2 x 7 m antennas (no radiometers), a check
source 0.144" off its phase centre, a 3-pointing target mosaic, a second target, and a phase
calibrator without ATMOSPHERE scans whose true Tsys is the targets' (within 0.1 %), while the
bandpass calibrator's is 1.30-1.37 times higher (it sets at 27 deg).

Measured (2 cores, about 1.5 minutes for the run): the phase calibrator's fluxscale 1.0005-1.0019
x the injected spectrum (Tsys of the target nearest in time: 1.001 x its own); calibrated
amplitudes (median |channel-averaged V| / injected S) of the bandpass calibrator 1.0000, phase
calibrator 1.0005-1.0018, both targets and every mosaic pointing 1.0003-1.0015, the check source
0.988-0.990 (its true Tsys is 1.2-1.4 % above the target's it takes). With the phase calibrator's
Tsys taken from the bandpass calibrator instead (config tsys_field_map), its fluxscale is
1.30-1.38 x the truth.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import ROOT, read_visibilities, source_spectrum
from workdir import make_workdir, snakemake_args

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
MOUS = "uid___A001_Xreal_X1"
EB = "uid___A002_Xreal_X1"
CONFIG = "resources/real_layout_mous.config.yaml"


def run(work: Path, config: Path) -> None:
    done = subprocess.run(
        [BIN / "snakemake", *snakemake_args(work), "--cores", "2", "--configfile", str(config)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


def results(work: Path, suffix: str) -> Path:
    return work / "results" / MOUS / EB / f"{EB}{suffix}"


def per_field_amplitude(work: Path, truth: dict) -> dict[tuple[str, int], float]:
    """(field name, spw) -> median over rows of |channel-averaged calibrated V| / injected S."""
    fields = {f["name"]: f for f in truth["fields"]}
    out = {}
    for vis in read_visibilities(results(work, ".ms.split.cal"), truth):
        for name, field in fields.items():
            rows = vis.field == name
            data = np.ma.masked_array(vis.data[rows], vis.flag[rows])
            spectrum = source_spectrum(field, vis.freq_hz)[None, :, None]
            ratio = np.abs((data / spectrum).mean(axis=1)).compressed()
            out[(name, vis.truth_spw["id"])] = float(np.median(ratio))
    return out


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("real_layout"))
    run(work, ROOT / CONFIG)
    truth = json.loads((ROOT / f"resources/demo_mous/raw/{EB}.truth.json").read_text())
    return work, truth


def test_choices_follow_the_real_layout(real_run):
    work, truth = real_run
    choices = json.loads(results(work, ".ms.choices.json").read_text())
    full_res_science = [
        s["id"] for s in truth["spws"] if s["type"] == "FDM" and not s.get("ch_avg")
    ]
    assert [s["id"] for s in choices["science_spws"]] == full_res_science == [17, 19, 21, 23]
    assert all(s["name"].endswith("#FULL_RES") for s in choices["science_spws"])
    assert choices["check_sources"] == truth["field_roles"]["check"]
    assert choices["targets"] == truth["field_roles"]["target"]  # the mosaic once
    # the phase calibrator and the check source have no Tsys scans: a target's, nearest in time
    assert choices["tsys_field_map"]["J1733-1304"] in truth["field_roles"]["target"]
    assert choices["tsys_field_map"]["J1743-0350"] in truth["field_roles"]["target"]
    assert choices["data"]["wvr_window"] and choices["data"]["syscal_rows"] > 0
    assert choices["data"]["autocorrelations"]
    split = json.loads(results(work, ".ms.split.split.json").read_text())
    assert split["fields"].count("RealTargetA") == 1  # by name: every pointing of the mosaic
    assert set(truth["antennas_without_wvr"]) == {"CM03", "CM07"}
    wvr = json.loads(results(work, ".ms.wvrgcal.json").read_text())
    assert wvr["tie"], "wvrgcal ties the phase calibrator and the targets"


def test_every_mosaic_pointing_is_calibrated(real_run):
    from casatools import table

    work, truth = real_run
    tb = table()
    tb.open(str(results(work, ".ms.split.cal")))
    fields = set(tb.getcol("FIELD_ID").tolist())
    tb.close()
    assert set(truth["mosaics"]["RealTargetA"]) <= fields


def test_renormalisation_factors_are_found_per_mosaic_pointing(real_run):
    """Every pointing of the mosaic gets its own factors and figures (per scan and field, as the
    pipeline finds them); the real layout's targets carry no line: every figure below 1.02."""
    work, truth = real_run
    renorm = json.loads(results(work, ".ms.split.renorm.json").read_text())
    for spw, stats in renorm["fields"]["RealTargetA"].items():
        pointings = {int(f) for scan in stats["scans"].values() for f in scan["fields"]}
        assert pointings == set(truth["mosaics"]["RealTargetA"]), f"spw {spw}"
        assert 0.99 < stats["max_rn"] < 1.02 and 0.99 < stats["max_median_rn"] < 1.02
    assert not renorm["apply"] and not results(work, ".ms.split.renorm.tbl").exists()


def test_phase_calibrator_fluxscale_recovers_the_injected_spectrum(real_run):
    work, truth = real_run
    phase = next(f for f in truth["fields"] if f["role"] == "phase")
    flux = json.loads(results(work, ".ms.split.fluxscale.json").read_text())
    for spw, got in flux["fields"][phase["name"]]["spws"].items():
        want = phase["S0_jy"] * (got["freq_hz"] / phase["nu0_hz"]) ** phase["spix"]
        assert abs(got["flux_jy"] / want - 1) < 0.01, f"spw {spw}: {got['flux_jy']} vs {want}"


@pytest.mark.parametrize(
    "field, tolerance",
    [
        ("J1256-0547", 0.01),  # bandpass and flux calibrator
        ("J1733-1304", 0.02),  # phase calibrator, Tsys of a target
        ("J1743-0350", 0.03),  # check source: phase transfer, 0.144" off its phase centre
        ("RealTargetA", 0.03),  # the mosaic, every pointing
        ("RealTargetB", 0.03),
    ],
)
def test_calibrated_amplitudes_recover_the_injected_flux_densities(real_run, field, tolerance):
    work, truth = real_run
    amplitudes = per_field_amplitude(work, truth)
    for spw in (17, 19, 21, 23):
        ratio = amplitudes[(field, spw)]
        assert abs(ratio - 1) < tolerance, f"{field} spw {spw}: {ratio:.4f} x truth"


def test_tsys_of_the_bandpass_calibrator_would_make_the_phase_calibrator_flux_wrong(real_run):
    """The Tsys field map matters: mapped to the bandpass calibrator (Tsys 1.30-1.37 x higher),
    the phase calibrator's fluxscale is off by about that factor, as the ALMA scripts warn."""
    work, truth = real_run
    config = yaml.safe_load((ROOT / CONFIG).read_text())
    config["mous"][MOUS]["ebs"][EB]["overrides"] = {"tsys_field_map": {"J1733-1304": "J1256-0547"}}
    wrong = work / "wrong_tsys.yaml"
    wrong.write_text(yaml.safe_dump(config))
    run(work, wrong)
    phase = next(f for f in truth["fields"] if f["role"] == "phase")
    flux = json.loads(results(work, ".ms.split.fluxscale.json").read_text())
    ratios = []
    for got in flux["fields"][phase["name"]]["spws"].values():
        want = phase["S0_jy"] * (got["freq_hz"] / phase["nu0_hz"]) ** phase["spix"]
        ratios.append(got["flux_jy"] / want)
    assert min(ratios) > 1.2, ratios
    split = json.loads(results(work, ".ms.split.split.json").read_text())
    assert split["tsys_gainfield"]["J1733-1304"] == "J1256-0547"


def test_check_source_fit_recovers_the_injected_flux_and_offset(real_run):
    """qa_check_source (uvmodelfit point source over the science spws of .ms.split.cal) against
    the injected check source: flux density at the fit's mean frequency, offset east and north."""
    work, truth = real_run
    (injected,) = truth["check_sources"]
    checked = json.loads(
        (work / "results" / MOUS / EB / "qa" / f"{EB}.check_source.json").read_text()
    )
    (fit,) = checked["fits"]
    assert fit["field"] == injected["name"] and fit["fitted"]
    want = injected["S0_jy"] * (fit["frequency_ghz"] * 1e9 / injected["nu0_hz"]) ** injected["spix"]
    east, north = injected["position_offset_arcsec"]
    print(
        f"check source: {fit['flux_jy']:.5f} +- {fit['flux_error_jy']:.5f} Jy = "
        f"{fit['flux_jy'] / want:.4f} x truth; offset ({fit['offset_ra_arcsec']:.4f}, "
        f"{fit['offset_dec_arcsec']:.4f}) +- {fit['offset_error_arcsec']:.4f} arcsec vs "
        f"({east}, {north}); beam {fit['beam_arcsec']:.3f} arcsec, {fit['offset_beams']:.3f} "
        f"beam; coherence {fit['coherence']:.4f}"
    )
    # its Tsys is the target's, 1.2-1.4 % below its own (see the module docstring)
    assert fit["flux_jy"] / want == pytest.approx(1.0, abs=0.03)
    assert fit["offset_ra_arcsec"] == pytest.approx(east, abs=0.01)
    assert fit["offset_dec_arcsec"] == pytest.approx(north, abs=0.01)
    assert fit["coherence"] > 0.95
    summary = json.loads(
        (work / "results" / MOUS / EB / "qa" / f"{EB}.qa_summary.json").read_text()
    )
    scored = {s["check"]: s for s in summary["scores"]}
    assert scored["check_source_offset"]["value"] == pytest.approx(fit["offset_beams"])
    assert scored["check_source_coherence"]["value"] == pytest.approx(fit["coherence"])


def test_per_antenna_and_flux_checks_stay_clean_on_the_real_layout(real_run):
    """No injected fault here: 12 m and 7 m antennas are each compared with their own dish size
    (the 7 m baselines are 12/7 noisier per 7 m antenna), the four spws' fluxscale results lie on
    one power law, and the flux calibrator's model is the flux file's."""
    work, _ = real_run
    summary = json.loads(
        (work / "results" / MOUS / EB / "qa" / f"{EB}.qa_summary.json").read_text()
    )
    scored = {s["check"]: s for s in summary["scores"]}
    per_antenna = ("antenna_phase_jump", "antenna_gain_amplitude", "antenna_noise")
    for check in (*per_antenna, "tsys_outlier", "tsys_spectral_outlier", "fluxscale_spectrum"):
        assert scored[check]["score"] >= 0.9, scored[check]
    assert scored["fluxscale_spectrum"]["value"] < 0.03  # measured 0.25-1.1 % per spw
    assert scored["flux_calibrator_origin"]["score"] == 1.0
    assert "real_layout_mous.flux.csv" in scored["flux_calibrator_origin"]["subject"]


def test_the_automatic_tsys_flags_leave_the_clean_real_layout_alone(real_run):
    """Four TDM Tsys spws with their CH_AVG twins, 7 m antennas among 12 m ones: no fault."""
    work, _ = real_run
    found = json.loads(results(work, ".ms.tsysflag.json").read_text())
    assert found["flagged_fraction"] < 0.005, found["flags"]


def test_check_source_image_recovers_the_injected_offset_and_flux(real_run):
    """image_calibrators: the check source's mfs image (imfit) against the injected source:
    flux density at the image's mean frequency, offset east and north of its catalogue
    position, peak over integrated (a point source: 1); both scored by imaging_sensitivity."""
    work, truth = real_run
    (injected,) = truth["check_sources"]
    record = json.loads((work / "results" / MOUS / EB / f"{EB}.calibrator_images.json").read_text())
    assert record["check_sources"] == [injected["name"]]
    (image,) = [i for i in record["images"] if i["role"] == "check"]
    assert image["files"]["pbcor"] == (
        f"{EB}.{injected['name']}_check.spw17_19_21_23.mfs.I.pbcor.fits"
    )
    assert (work / "results" / MOUS / EB / "images" / image["files"]["pbcor"]).exists()
    p = image["parameters"]
    frequency = (p["min_frequency_hz"] + p["max_frequency_hz"]) / 2
    want = injected["S0_jy"] * (frequency / injected["nu0_hz"]) ** injected["spix"]
    source = image["source"]
    east, north = injected["position_offset_arcsec"]
    print(
        f"check source image: {source['integrated_jy']:.5f} Jy = "
        f"{source['integrated_jy'] / want:.4f} x truth; offset ({source['offset_east_arcsec']:.4f}, "
        f"{source['offset_north_arcsec']:.4f}) vs ({east}, {north}) arcsec, "
        f"{source['offset_beams']:.3f} beam; peak/integrated {source['peak_over_integrated']:.4f}"
    )
    assert source["integrated_jy"] / want == pytest.approx(1.0, abs=0.03)
    assert source["offset_east_arcsec"] == pytest.approx(east, abs=0.02)
    assert source["offset_north_arcsec"] == pytest.approx(north, abs=0.02)
    assert source["peak_over_integrated"] > 0.95
    sensitivity = json.loads((work / "results" / MOUS / f"{MOUS}.sensitivity.json").read_text())
    scored = {s["check"]: s for s in sensitivity["scores"] if s["eb"] == EB}
    assert scored["image_check_source_offset"]["value"] == pytest.approx(
        source["offset_beams"], abs=1e-6
    )
    assert scored["image_check_source_peak_ratio"]["value"] == pytest.approx(
        source["peak_over_integrated"], abs=1e-6
    )
