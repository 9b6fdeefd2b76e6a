"""The check-source QA (almacal.qa.check_source) on a tiny simulated MS of known answer, its
scores, and its table in the report (seconds; no workflow run).

The MS (casatools.simulator, 12 antennas of alma.cycle10.3.cfg, 2 spws x 16 channels at 224 and
240 GHz, XX/YY, 40 minutes of 30 s integrations on the check field, 5 minutes on another field)
gets in its check field's DATA a point source of known flux density at a known offset
(dRA cos(dec), dDec) from the phase centre, V = S exp(2 pi i (u l + v m)) with u, v the UVW in
wavelengths per channel (the sign CASA's ft uses: checked here), plus Gaussian noise and, for
the coherence, Gaussian phase errors per antenna and integration.
"""

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from almacal import jsonio
from almacal.casa_job import CasaJob
from almacal.qa import check_source, report
from almacal.qa.scores import CHECKS, score, score_class

pytestmark = pytest.mark.fast

CFG = "alma/simmos/alma.cycle10.3.cfg"
CHECK, OTHER = "J1743-0350", "J1733-1304"
RA, DEC = "17h43m58.8561s", "-03d50m04.617s"
FLUX = 0.5  # Jy
OFFSET = (0.1, 0.05)  # arcsec: dRA cos(dec) (east), dDec (north)
LIGHT_SPEED = 299792458.0


def _antennas(n: int) -> list[list[str]]:
    from casaconfig import config

    path = Path(config.measurespath) / CFG
    rows = [line.split() for line in path.read_text().splitlines() if line and line[0] != "#"]
    return rows[:: len(rows) // n][:n]


@pytest.fixture(scope="module")
def tiny_ms(tmp_path_factory) -> Path:
    """The empty tiny MS (DATA zero), without MODEL_DATA and CORRECTED_DATA, as a split.cal."""
    from casatools import measures, simulator, table

    ms = tmp_path_factory.mktemp("check") / "tiny.ms"
    ants = _antennas(12)
    me, sm = measures(), simulator()
    sm.open(str(ms))
    sm.setconfig(
        telescopename="ALMA",
        x=[float(a[0]) for a in ants],
        y=[float(a[1]) for a in ants],
        z=[float(a[2]) for a in ants],
        dishdiameter=[12.0] * len(ants),
        mount=["ALT-AZ"] * len(ants),
        antname=[f"DA{41 + i}" for i in range(len(ants))],
        padname=[a[4] for a in ants],
        coordsystem="local",
        referencelocation=me.observatory("ALMA"),
    )
    for i, freq in enumerate((224e9, 240e9)):
        sm.setspwindow(
            spwname=f"spw{i}",
            freq=f"{freq}Hz",
            deltafreq="125MHz",
            freqresolution="125MHz",
            nchannels=16,
            stokes="XX YY",
            refcode="TOPO",
        )
    sm.setfeed(mode="perfect X Y", pol=[""])
    sm.setfield(sourcename=CHECK, sourcedirection=me.direction("J2000", RA, DEC))
    sm.setfield(
        sourcename=OTHER, sourcedirection=me.direction("J2000", "17h33m02.706s", "-13d04m49.55s")
    )
    sm.setlimits(shadowlimit=0.001, elevationlimit="10deg")
    sm.setauto(autocorrwt=0.0)
    sm.settimes(
        integrationtime="30s",
        usehourangle=True,
        referencetime=me.epoch("UTC", "2024/04/20/00:00:00"),
    )
    for spw in ("spw0", "spw1"):
        sm.observe(sourcename=CHECK, spwname=spw, starttime="-1200s", stoptime="1200s")
        sm.observe(sourcename=OTHER, spwname=spw, starttime="1200s", stoptime="1500s")
    sm.close()
    sm.done()
    me.done()
    tb = table()
    tb.open(str(ms), nomodify=False)
    tb.removecols(["MODEL_DATA", "CORRECTED_DATA"])
    tb.close()
    return ms


def _tangent_offset(ms: Path, offset: tuple[float, float]) -> tuple[float, float]:
    """(l, m) in rad of ``offset`` (arcsec, east and north)."""
    return tuple(math.radians(x / 3600.0) for x in offset)


def inject(
    template: Path,
    ms: Path,
    *,
    flux: float = FLUX,
    offset: tuple[float, float] = OFFSET,
    noise_jy: float = 0.05,
    antenna_phase_rad: float = 0.0,
    seed: int = 1,
) -> dict:
    """A copy of ``template`` whose check field holds the point source (plus noise of
    ``noise_jy`` rms per channel and complex visibility, and Gaussian phase errors of
    ``antenna_phase_rad`` per antenna and integration); the other field a 1 Jy source at its
    centre. Returns the weighted mean of cos(phase error) over the check field's samples: the
    coherence those phase errors give exactly."""
    from casatools import table

    shutil.copytree(template, ms)
    rng = np.random.default_rng(seed)
    ell, em = _tangent_offset(ms, offset)
    tb = table()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    freqs = [tb.getcell("CHAN_FREQ", i) for i in range(tb.nrows())]
    tb.close()
    tb.open(str(ms), nomodify=False)
    try:
        time = tb.getcol("TIME")
        times = np.unique(time)
        nant = int(max(tb.getcol("ANTENNA2").max(), tb.getcol("ANTENNA1").max())) + 1
        phases = rng.normal(0.0, antenna_phase_rad, size=(nant, len(times)))
        t_index = np.searchsorted(times, time)
        a1, a2 = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
        error = phases[a1, t_index] - phases[a2, t_index]
        uvw, field, ddi = tb.getcol("UVW"), tb.getcol("FIELD_ID"), tb.getcol("DATA_DESC_ID")
        data = tb.getcol("DATA")  # [corr, chan, row]
        for spw in np.unique(ddi):
            rows = ddi == spw
            u = uvw[0, rows][None, :] * freqs[spw][:, None] / LIGHT_SPEED
            v = uvw[1, rows][None, :] * freqs[spw][:, None] / LIGHT_SPEED
            model = np.where(
                field[rows] == 0,
                flux * np.exp(2j * np.pi * (u * ell + v * em) + 1j * error[rows]),
                1.0,
            )
            data[:, :, rows] = model[None, :, :]
        shape = data.shape
        data += (rng.normal(size=shape) + 1j * rng.normal(size=shape)) * noise_jy / math.sqrt(2)
        tb.putcol("DATA", data)
        tb.putcol("FLAG", np.zeros(shape, bool))
        tb.putcol("WEIGHT", np.full((shape[0], shape[2]), 1.0 / noise_jy**2))
        tb.putcol("SIGMA", np.full((shape[0], shape[2]), noise_jy))
    finally:
        tb.close()
    return float(np.mean(np.cos(error[field == 0])))


def fit(ms: Path, tmp_path: Path) -> check_source.CheckSourceFit:
    with CasaJob(
        log=str(tmp_path / "fit.casa.log"),
        commands=str(tmp_path / "fit.casa_commands.py"),
        title="check source test",
    ) as job:
        return check_source.fit_check_source(str(ms), CHECK, [0, 1], job=job, work_dir=tmp_path)


def columns(ms: Path) -> list[str]:
    from casatools import table

    tb = table()
    tb.open(str(ms))
    names = tb.colnames()
    tb.close()
    return names


# The model and the fit.


def test_the_injected_model_is_casas_point_source(tiny_ms, tmp_path):
    """V = S exp(+2 pi i (u l + v m)) is what CASA's ft predicts for a point source at the
    offset direction (so the known answer is in CASA's own convention)."""
    from casatasks import ft
    from casatools import componentlist, measures, table

    ms = tmp_path / "ft.ms"
    inject(tiny_ms, ms, noise_jy=1e-9)
    tb = table()
    tb.open(f"{ms}/FIELD")
    ra0, dec0 = tb.getcell("PHASE_DIR", 0)[:, 0]
    tb.close()
    east, north = _tangent_offset(ms, OFFSET)
    n = math.sqrt(1 - east**2 - north**2)
    dec = math.asin(north * math.cos(dec0) + n * math.sin(dec0))
    ra = ra0 + math.atan2(east, n * math.cos(dec0) - north * math.sin(dec0))
    me, cl = measures(), componentlist()
    cl.addcomponent(
        dir=me.direction("J2000", f"{ra}rad", f"{dec}rad"),
        flux=FLUX,
        fluxunit="Jy",
        freq="232GHz",
        shape="point",
        spectrumtype="constant",
    )
    cl.rename(str(tmp_path / "point.cl"))
    cl.close()
    ft(vis=str(ms), field="0", complist=str(tmp_path / "point.cl"), usescratch=True)
    tb.open(str(ms))
    sub = tb.query("FIELD_ID==0")
    model, data = sub.getcol("MODEL_DATA"), sub.getcol("DATA")
    sub.close()
    tb.close()
    assert np.abs(model - data).max() < 1e-6 * FLUX


@pytest.fixture(scope="module")
def known(tiny_ms, tmp_path_factory) -> tuple[Path, check_source.CheckSourceFit, list[str]]:
    """The known answer: FLUX at OFFSET, 0.05 Jy of noise per channel; its MS, its fit and the
    MS's columns before the fit."""
    work = tmp_path_factory.mktemp("known")
    ms = work / "known.ms"
    inject(tiny_ms, ms, noise_jy=0.05)
    before = columns(ms)
    return ms, fit(ms, work), before


def test_fit_recovers_flux_and_offset(known):
    ms, result, before = known
    assert result.fitted
    # the known answer: 1 % in flux, 0.01 arcsec in each offset (and within 5 sigma)
    assert result.flux_jy == pytest.approx(FLUX, rel=0.01)
    assert abs(result.flux_jy - FLUX) < 5 * result.flux_error_jy
    assert result.offset_ra_arcsec == pytest.approx(OFFSET[0], abs=0.01)
    assert result.offset_dec_arcsec == pytest.approx(OFFSET[1], abs=0.01)
    assert abs(result.offset_arcsec - math.hypot(*OFFSET)) < 5 * result.offset_error_arcsec
    assert result.offset_beams == pytest.approx(result.offset_arcsec / result.beam_arcsec)
    # no phase errors: fully coherent; the own vector average is the fitted flux
    assert result.coherence == pytest.approx(1.0, abs=0.005)
    assert result.vector_average_jy == pytest.approx(result.flux_jy, rel=1e-3)
    assert abs(result.vector_phase_deg) < 0.1
    assert set(result.per_spw) == {"0", "1"}
    # the MS is left as it was: uvmodelfit ran on a copy, which is gone
    assert columns(ms) == before
    assert not list(ms.parent.glob("check_*"))
    print(
        f"flux {result.flux_jy:.5f} +- {result.flux_error_jy:.5f} Jy, offset "
        f"({result.offset_ra_arcsec:.5f}, {result.offset_dec_arcsec:.5f}) +- "
        f"{result.offset_error_arcsec:.5f} arcsec, beam {result.beam_arcsec:.3f} arcsec, "
        f"lambda/Bmax {result.lambda_over_bmax_arcsec:.3f}, coherence {result.coherence:.4f}"
    )


def test_beam_estimate_matches_the_natural_weighting_psf(known, tmp_path):
    """The beam from the uv second moments against tclean's fitted PSF (natural weighting)."""
    from casatasks import tclean
    from casatools import image

    ms, result, _ = known
    tclean(
        vis=str(ms),
        field=CHECK,
        imagename=str(tmp_path / "psf"),
        imsize=128,
        cell="0.1arcsec",
        weighting="natural",
        niter=0,
        specmode="mfs",
    )
    ia = image()
    ia.open(str(tmp_path / "psf.psf"))
    beam = ia.restoringbeam()
    ia.close()
    major, minor = beam["major"]["value"], beam["minor"]["value"]  # arcsec
    print(
        f"moments {result.beam_major_arcsec:.3f} x {result.beam_minor_arcsec:.3f} "
        f"PA {result.beam_pa_deg:.1f}, tclean {major:.3f} x {minor:.3f} arcsec "
        f"PA {beam['positionangle']['value']:.1f}"
    )
    assert result.beam_arcsec == pytest.approx(math.sqrt(major * minor), rel=0.05)


def test_coherence_falls_with_antenna_phase_errors(tiny_ms, tmp_path):
    """Per-antenna Gaussian phase errors of sigma rad per integration: the vector average keeps
    exp(-sigma^2) of the flux (baseline phase rms sigma sqrt 2), the scalar average all of it."""
    sigma = 0.5
    ms = tmp_path / "phase_noise.ms"
    realised = inject(tiny_ms, ms, noise_jy=0.05, antenna_phase_rad=sigma, seed=2)
    result = fit(ms, tmp_path)
    print(
        f"coherence {result.coherence:.4f}, realised {realised:.4f}, "
        f"exp(-sigma^2) {math.exp(-(sigma**2)):.4f}; offset "
        f"({result.offset_ra_arcsec:.4f}, {result.offset_dec_arcsec:.4f}) arcsec"
    )
    assert result.scalar_average_jy == pytest.approx(FLUX, rel=0.01)
    assert result.coherence == pytest.approx(realised, abs=0.01)
    assert result.coherence == pytest.approx(math.exp(-(sigma**2)), abs=0.03)
    # the phase errors move the fitted position too (by 0.012 arcsec, 0.01 beam, here)
    assert result.offset_ra_arcsec == pytest.approx(OFFSET[0], abs=0.03)
    assert result.offset_dec_arcsec == pytest.approx(OFFSET[1], abs=0.03)


def test_scalar_average_is_free_of_noise_bias(tiny_ms, tmp_path):
    """Signal-to-noise 1 per channel-averaged sample: the rms amplitude would be sqrt(2) x the
    flux; the debiased one is the flux, so the coherence stays 1."""
    noise = 4 * FLUX  # per channel; per 16-channel average: FLUX
    ms = tmp_path / "noisy.ms"
    inject(tiny_ms, ms, noise_jy=noise, seed=3)
    result = fit(ms, tmp_path)
    print(
        f"flux {result.flux_jy:.4f} +- {result.flux_error_jy:.4f}, scalar "
        f"{result.scalar_average_jy:.4f} Jy, coherence {result.coherence:.4f}"
    )
    assert abs(result.flux_jy - FLUX) < 4 * result.flux_error_jy
    assert result.scalar_average_jy == pytest.approx(FLUX, rel=0.03)
    assert result.coherence == pytest.approx(1.0, abs=0.04)


# The job: a JSON per EB, with or without check source.


def choices_file(folder: Path, eb: str, checks: list[str]) -> Path:
    """A minimal choices file (and the metadata file beside it) naming ``checks``."""
    folder.mkdir(parents=True, exist_ok=True)
    jsonio.write(folder / f"{eb}.ms.metadata.json", {"ms": f"{folder}/{eb}.ms"})
    path = folder / f"{eb}.ms.choices.json"
    jsonio.write(
        path,
        {
            "ms": f"{folder}/{eb}.ms",
            "field_roles": {
                "bandpass": [OTHER],
                "flux": [OTHER],
                "phase": [OTHER],
                "target": [],
                "check": checks,
            },
            "science_spws": [
                {"id": 0, "name": "spw0", "nchan": 16},
                {"id": 1, "name": "spw1", "nchan": 16},
            ],
            "tsys_field_map": {},
            "tsys_spwmap": [],
            "refants": [],
        },
    )
    return path


def run_job(tmp_path: Path, ms: Path, checks: list[str]) -> dict:
    eb = "uid___A002_Xcheck_X1"
    output = tmp_path / "qa" / f"{eb}.check_source.json"
    check_source.qa_check_source(
        cal=str(ms),
        eb_choices=str(choices_file(tmp_path / "eb", eb, checks)),
        output=str(output),
        log=str(tmp_path / "logs" / "qa_check_source.casa.log"),
        commands=str(tmp_path / "logs" / "qa_check_source.casa_commands.py"),
    )
    return json.loads(output.read_text())


def test_an_eb_without_check_source_says_so(tiny_ms, tmp_path):
    written = run_job(tmp_path, tiny_ms, [])
    assert written["note"] == "no check source in this EB"
    assert written["fits"] == [] and written["scores"] == []
    assert "no check source" in (tmp_path / "logs" / "qa_check_source.casa_commands.py").read_text()


def test_the_job_fits_and_scores_each_check_source(known, tmp_path):
    written = run_job(tmp_path, known[0], [CHECK])
    (entry,) = written["fits"]
    assert entry["field"] == CHECK and entry["fitted"]
    assert entry["flux_jy"] == pytest.approx(FLUX, rel=0.01)
    assert {s["check"] for s in written["scores"]} == {
        "check_source_coherence",
        "check_source_offset",
    }
    assert all(s["subject"].startswith(CHECK) for s in written["scores"])
    assert "uvmodelfit(" in (tmp_path / "logs" / "qa_check_source.casa_commands.py").read_text()


# The scores (no CASA).


def fitted(field: str, offset_beams: float, coherence: float) -> dict:
    return {
        "field": field,
        "fitted": True,
        "offset_arcsec": 0.1,
        "beam_arcsec": 0.1 / offset_beams,
        "offset_beams": offset_beams,
        "flux_jy": coherence,
        "scalar_average_jy": 1.0,
        "coherence": coherence,
    }


def test_check_source_scores_take_the_worst_check_source():
    scored = check_source.check_source_scores(
        "eb1", [fitted("A", 0.3, 0.95), fitted("B", 0.05, 0.8)]
    )
    by_check = {s["check"]: s for s in scored}
    offset, coherence = by_check["check_source_offset"], by_check["check_source_coherence"]
    assert offset["subject"].startswith("A (") and offset["value"] == pytest.approx(0.3)
    assert offset["score"] == pytest.approx(0.5)  # ramp 0.1 -> 0.5 beam
    assert coherence["subject"].startswith("B (") and coherence["score"] == pytest.approx(0.5)
    assert check_source.check_source_scores("eb1", []) == []


def test_a_failed_fit_scores_0():
    failed = {"field": "A", "fitted": False, "reason": "no unflagged data"}
    scored = check_source.check_source_scores("eb1", [failed, fitted("B", 0.05, 0.99)])
    assert [s["score"] for s in scored] == [0.0, 0.0]
    assert all("not fitted (no unflagged data)" in s["subject"] for s in scored)


def test_the_pipelines_warning_limits_fall_inside_the_ramps():
    """score_checksources warns above 0.15 beam (0.3 before) and below a flux ratio of 0.8."""
    offset, coherence = CHECKS["check_source_offset"], CHECKS["check_source_coherence"]
    assert score_class(score(0.15, offset["good"], offset["bad"])) == "s-ok"
    assert score_class(score(0.30, offset["good"], offset["bad"])) == "s-warn"
    assert score_class(score(0.80, coherence["good"], coherence["bad"])) == "s-warn"
    assert coherence["good"] > coherence["bad"] and offset["good"] < offset["bad"]


def test_the_report_shows_the_check_source_table(tmp_path):
    from test_qa_scores import EB, parse, tiny_corrections, tiny_summary

    entry = {
        **fitted(CHECK, 0.2, 0.93),
        "flux_error_jy": 0.001,
        "offset_ra_arcsec": 0.08,
        "offset_dec_arcsec": -0.06,
        "beam_method": check_source.BEAM_METHOD,
    }
    summaries = {}
    for eb, checked in (
        (EB, {"note": "", "fits": [entry], "check_sources": [CHECK], "scores": []}),
        ("uid___A002_Xtest_X2", {"note": check_source.NO_CHECK_SOURCE, "fits": [], "scores": []}),
    ):
        summary = {**tiny_summary(eb), "check_source": checked}
        summaries[eb] = tmp_path / f"{eb}.qa_summary.json"
        jsonio.write(summaries[eb], summary)
    corrections = tmp_path / "corrections.json"
    jsonio.write(corrections, tiny_corrections())
    out = tmp_path / "qa"
    report.qa_report(
        mous="mous",
        ebs=list(summaries),
        summaries=[str(p) for p in summaries.values()],
        plots=[],
        corrections=[str(corrections)] * 2,
        report=str(out),
        log=str(tmp_path / "qa_report.log"),
    )
    page = (out / "index.html").read_text()
    (table,) = [t for t in parse(page).tables if t[0][:2] == ["field", "flux (Jy)"]]
    assert table[1][0] == CHECK and table[1][1] == "0.93 ± 0.001"
    assert table[1][6] == "0.2" and table[1][8] == "0.93"
    assert table[1][9:] == ["0.75", "1"]  # the field's own scores
    assert "No check source in this EB." in page
