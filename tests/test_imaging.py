"""Imaging of the demo MOUS against the injected truth (resources/demo_mous.yaml):

- the target's continuum flux density and position in the continuum image (imfit on the
  delivered .pbcor.fits);
- the line (0.4 Jy peak, 100 MHz FWHM at 223.60 GHz) in the continuum-subtracted cube: its peak
  and integrated flux at the target's true position;
- the noise: the injected noise per visibility (noise_sigma_jy of each EB's truth file) and the
  unflagged target visibilities of each EB give the natural-weighting rms of one channel, times
  the loss factor of the image's weighting; the workflow's theoretical rms (statwt weights,
  imager.apparentsens) and the cubes' measured rms against it;
- a flag edit in one EB remakes that EB's imaging jobs and the MOUS images, nothing else.

The demo has no check source: tests/test_real_layout.py images the real-layout MOUS's.
"""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import DEMO_EBS, MOUS, field_truth, load_truth, product
from workdir import planned_after_comment, table_columns

pytestmark = pytest.mark.workflow

GAUSS_AREA = math.sqrt(math.pi / (4 * math.log(2)))  # integral of a unit-peak Gaussian / FWHM


def radians(text: str, hours: bool) -> float:
    """'17h36m12.000s' or '-14d02m30.00s' in radians."""
    sign = -1.0 if text.strip().startswith("-") else 1.0
    a, b, c = (float(x) for x in re.findall(r"[\d.]+", text))
    value = (a + b / 60 + c / 3600) * (15.0 if hours else 1.0)
    return sign * math.radians(value)


@pytest.fixture(scope="module")
def target():
    return field_truth(load_truth(DEMO_EBS[0]), "target")


@pytest.fixture(scope="module")
def mous_dir(demo_run) -> Path:
    return demo_run / "results" / MOUS


def image_file(folder: Path, kind: str, spw: str = "") -> Path:
    """The delivered pb-corrected FITS of the demo target: continuum or a spw's cube."""
    pattern = f"member.{MOUS}.DemoTarget_sci.spw1_3.cont.I.pbcor.fits"
    if kind == "cube":
        pattern = f"member.{MOUS}.DemoTarget_sci.spw{spw}.cube.I.pbcor.fits"
    path = folder / pattern
    assert path.exists(), sorted(p.name for p in folder.iterdir())
    assert Path(str(path).replace(".pbcor.fits", ".pb.fits")).exists()
    return path


def restoring_beam_arcsec(image) -> float:
    beam = image.restoringbeam()
    if "major" not in beam:
        beam = beam["beams"]["*0"]["*0"]
    return math.sqrt(beam["major"]["value"] * beam["minor"]["value"])  # arcsec (CASA default)


def test_continuum_flux_and_position_of_the_target(mous_dir, target):
    from casatasks import imfit
    from casatools import image

    fits = image_file(mous_dir / "images" / "continuum", "cont")
    ia = image()
    ia.open(str(fits))
    beam = restoring_beam_arcsec(ia)
    ia.close()
    fit = imfit(imagename=str(fits))
    comp = fit["results"]["component0"]
    flux = comp["flux"]["value"][0]
    assert flux == pytest.approx(target["S0_jy"], rel=0.03), flux  # flat spectrum: S0
    ra = comp["shape"]["direction"]["m0"]["value"]
    dec = comp["shape"]["direction"]["m1"]["value"]
    true_ra, true_dec = radians(target["ra"], True), radians(target["dec"], False)
    dra = ((ra - true_ra + math.pi) % (2 * math.pi) - math.pi) * math.cos(true_dec)
    offset = math.degrees(math.hypot(dra, dec - true_dec)) * 3600
    assert offset < 0.1 * beam, f"offset {offset:.4f} arcsec, beam {beam:.3f} arcsec"


def test_line_peak_and_integrated_flux_in_the_cube(mous_dir, target):
    """The line is in spw 1 (223.07-224.93 GHz); the cube is continuum-subtracted. The channel
    grid may miss the line's peak by half a channel: at most 1.5 % for 14.6 MHz channels."""
    from casatools import image

    line = target["line"]
    fits = image_file(mous_dir / "images" / "cubes", "cube", "1")
    ia = image()
    ia.open(str(fits))
    cs = ia.coordsys()
    names = [n.lower() for n in cs.names()]
    ra_axis, dec_axis = names.index("right ascension"), names.index("declination")
    freq_axis = names.index("frequency")
    world = cs.referencevalue()["numeric"]
    world[ra_axis] = radians(target["ra"], True)
    world[dec_axis] = radians(target["dec"], False)
    pixel = np.round(cs.topixel(world)["numeric"]).astype(int)
    data = ia.getchunk(dropdeg=False)
    index = [0] * data.ndim
    index[ra_axis], index[dec_axis] = pixel[ra_axis], pixel[dec_axis]
    index[freq_axis] = slice(None)
    spectrum = data[tuple(index)]
    freqs = []
    for channel in range(data.shape[freq_axis]):
        at = list(pixel.astype(float))
        at[freq_axis] = channel
        freqs.append(cs.toworld(at)["numeric"][freq_axis])
    freqs = np.array(freqs)
    ia.close()
    spectrum = np.nan_to_num(spectrum)
    peak = int(np.argmax(spectrum))
    width = abs(freqs[1] - freqs[0])
    sampling_loss = math.exp(-4 * math.log(2) * (width / 2 / line["fwhm_hz"]) ** 2)
    assert 0.95 * sampling_loss * line["flux_jy"] < spectrum[peak] < 1.05 * line["flux_jy"]
    assert abs(freqs[peak] - line["centre_hz"]) < 3 * width  # TOPO line, LSRK cube: < 30 km/s
    around = np.abs(freqs - freqs[peak]) < 3 * line["fwhm_hz"]
    integrated = spectrum[around].sum() * width
    injected = line["flux_jy"] * line["fwhm_hz"] * GAUSS_AREA
    assert integrated == pytest.approx(injected, rel=0.05), (integrated, injected)


def injected_channel_rms(demo_run, spw: int) -> float:
    """Natural-weighting rms of one channel of the demo target from the injected noise: each
    unflagged correlation sample of a visibility carries noise_sigma_jy (per real and
    imaginary part) of its EB; rms = 1 / sqrt(sum 1 / sigma^2) over the samples of the middle
    channel of every EB's calibrated target data (.ms.split.cal)."""
    from casatools import table

    inverse_variance = 0.0
    for eb in DEMO_EBS:
        truth = load_truth(eb)
        cal = product(eb, ".ms.split.cal", root=demo_run)
        tb = table()
        tb.open(str(cal / "FIELD"))
        field_id = list(tb.getcol("NAME")).index("DemoTarget")
        tb.close()
        tb.open(str(cal / "DATA_DESCRIPTION"))
        ddi = list(tb.getcol("SPECTRAL_WINDOW_ID")).index(spw)
        tb.close()
        tb.open(str(cal))
        sub = tb.query(f"FIELD_ID=={field_id} && DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2")
        flag = sub.getcol("FLAG")  # [corr, chan, row]
        sub.close()
        tb.close()
        samples = int((~flag[:, flag.shape[1] // 2, :]).sum())
        inverse_variance += samples / truth["noise_sigma_jy"] ** 2
    return 1.0 / math.sqrt(inverse_variance)


@pytest.mark.parametrize("spw", [1, 3])
def test_cube_rms_against_the_injected_noise(demo_run, mous_dir, spw):
    """The workflow's theoretical rms of a channel within 5 % of the injected noise's (after the
    weighting's loss factor), the measured rms in the line-free channels within 20 %."""
    sensitivity = json.loads((mous_dir / f"{MOUS}.sensitivity.json").read_text())
    cube = next(i for i in sensitivity["images"] if i["kind"] == "cube" and i["spw"] == spw)
    expected = injected_channel_rms(demo_run, spw) * cube["weighting_loss_factor"]
    assert 1.0 < cube["weighting_loss_factor"] < 1.5  # briggs 0.5: a loss over natural
    assert cube["theoretical_rms_jy"] == pytest.approx(expected, rel=0.05)
    assert cube["measured_rms_jy"] == pytest.approx(expected, rel=0.20)
    assert cube["rms_ratio"] == pytest.approx(cube["measured_rms_jy"] / cube["theoretical_rms_jy"])


def test_continuum_rms_is_dynamic_range_limited(mous_dir, target):
    """The demo's target phases keep the atmosphere's fluctuations within a scan (phase_inf
    per scan): around a 0.5 Jy source they, not the thermal noise, set the continuum image's
    noise. The check says so: measured above the theoretical, below peak / 1000."""
    sensitivity = json.loads((mous_dir / f"{MOUS}.sensitivity.json").read_text())
    cont = next(i for i in sensitivity["images"] if i["kind"] == "continuum")
    assert cont["dynamic_range_limited"]
    assert cont["peak_jy_per_beam"] == pytest.approx(target["S0_jy"], rel=0.03)
    assert cont["theoretical_rms_jy"] < cont["measured_rms_jy"] < target["S0_jy"] / 1000
    assert cont["expected_rms_jy"] == pytest.approx(cont["peak_jy_per_beam"] / 1000)


def test_qa2_verdict_of_the_demo_request(demo_run, mous_dir):
    """config.yaml's demo request: 0.1 mJy/beam in 20 MHz, 0.5-1.5 arcsec (Band 6: 10 %)."""
    request = yaml.safe_load((demo_run / "config/config.yaml").read_text())["mous"][MOUS]["qa2"]
    qa2 = json.loads((mous_dir / f"{MOUS}.sensitivity.json").read_text())["qa2"]
    cubes = [
        i
        for i in json.loads((mous_dir / f"{MOUS}.sensitivity.json").read_text())["images"]
        if i["kind"] == "cube"
    ]
    worst = max(
        c["measured_rms_jy"] * math.sqrt(c["channel_width_mhz"] / request["bandwidth_mhz"])
        for c in cubes
    )
    assert qa2["band"] == 6 and qa2["tolerance"] == 0.10
    assert qa2["rms_jy"] == pytest.approx(worst)
    assert qa2["rms_ok"] == (worst <= 1.1 * request["sensitivity_mjy"] / 1e3)
    low, high = request["resolution_arcsec"]
    assert qa2["beam_ok"] == (low <= qa2["beam_arcsec"] <= high)
    assert qa2["verdict"] == {2: "pass", 1: "semipass", 0: "fail"}[qa2["rms_ok"] + qa2["beam_ok"]]


def test_phase_calibrator_images_of_every_eb(mous_dir):
    """Per EB the phase calibrator's image: the fluxscale-transferred 1.2 Jy (spix -0.4 at
    230 GHz: 1.211 Jy at 225.0 GHz, the mean frequency) at its phase centre."""
    for eb in DEMO_EBS:
        record = json.loads((mous_dir / eb / f"{eb}.calibrator_images.json").read_text())
        assert record["check_sources"] == [] and record["no_check_source"]
        (image,) = record["images"]
        assert image["role"] == "phase" and image["field"] == "J1733-1304"
        truth = field_truth(load_truth(eb), "phase")
        expected = truth["S0_jy"] * (225.0e9 / truth["nu0_hz"]) ** truth["spix"]
        assert image["source"]["integrated_jy"] == pytest.approx(expected, rel=0.03)
        assert image["source"]["offset_beams"] < 0.1
        assert (mous_dir / eb / "images" / image["files"]["pbcor"]).exists()


def test_flag_edit_in_one_eb_remakes_its_images_and_the_mous_images(demo_run):
    """A comment-only edit of one EB's split flag file (restored afterwards, mtime included)."""
    eb = DEMO_EBS[1]
    jobs = planned_after_comment(demo_run, MOUS, eb, f"results/{MOUS}/{MOUS}.sensitivity.json")
    imaging = {job for job in jobs if job[0] in IMAGING_RULES}
    assert imaging == {
        ("targets_ms", eb),
        ("image_calibrators", eb),
        ("image_continuum", None),
        ("image_cubes", None),
        ("imaging_sensitivity", None),
    }, sorted(jobs)
    assert {e for _, e in jobs if e} == {eb}, f"jobs of other EBs planned: {sorted(jobs)}"


IMAGING_RULES = {
    "targets_ms",
    "image_calibrators",
    "image_continuum",
    "image_cubes",
    "imaging_sensitivity",
}


def test_statwt_weights_match_the_injected_noise(demo_run):
    """statwt's weights (1/sigma^2 of each row's line-free channels) against noise_sigma_jy."""
    for eb in DEMO_EBS:
        ms = product(eb, "_targets.ms", root=demo_run)
        columns = table_columns(ms, ("WEIGHT", "FLAG_ROW"))
        weights = columns["WEIGHT"][:, ~columns["FLAG_ROW"]]
        sigma = float(np.median(1 / np.sqrt(weights[weights > 0])))
        assert sigma == pytest.approx(load_truth(eb)["noise_sigma_jy"], rel=0.05), eb


def test_casa_commands_log_lists_the_imaging_calls(mous_dir):
    """Per EB its imaging jobs' calls after its calibration, then the MOUS's images."""
    log = (mous_dir / f"{MOUS}.casa_commands.log").read_text()
    eb_part, mous_part = log.split("# ===== MOUS =====\n")
    for eb in DEMO_EBS:
        section = eb_part.split(f"# ===== EB {eb} =====\n")[1].split("# ===== EB")[0]
        assert section.index("applycal(") < section.index("statwt(") < section.index("tclean(")
    assert mous_part.count("tclean(") == 3  # the continuum image and two cubes
    assert "specmode='cube'" in mous_part and "exportfits(" in mous_part
