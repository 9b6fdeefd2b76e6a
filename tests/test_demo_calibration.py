"""Known-answer tests: the calibrated demo MOUS recovers the injected truth, per EB.

The demo MOUS is simulated with known gains, bandpasses, Tsys and flux densities
(resources/demo_mous.yaml); the workflow runs on it through the real snakemake CLI, as the README's
main command does, and every assertion compares a product with the injected truth.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from truth import (
    DEMO_EBS,
    field_truth,
    load_truth,
    normalisation_depression,
    product,
    read_visibilities,
    source_spectrum,
    true_corruption,
)

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="session", params=DEMO_EBS)
def eb(request, demo_run):
    return request.param


@pytest.fixture(scope="session")
def calibrated(eb, demo_run):
    truth = load_truth(eb)
    return truth, read_visibilities(product(eb, ".ms.split.cal", root=demo_run), truth)


def calibrated_ratio(truth, spws, role):
    """Per spw: calibrated visibilities of a field divided by its injected spectrum (unflagged)."""
    field = field_truth(truth, role)
    ratios = []
    for vis in spws:
        rows = vis.field == field["name"]
        ratio = vis.data[rows] / source_spectrum(field, vis.freq_hz)[None, :, None]
        ratios.append((vis.truth_spw["id"], ratio[~vis.flag[rows]]))
    return ratios


@pytest.mark.parametrize("role, tolerance", [("bandpass", 0.01), ("phase", 0.02), ("target", 0.03)])
def test_calibrated_amplitude_recovers_injected_flux_density(calibrated, role, tolerance):
    truth, spws = calibrated
    for spw, ratio in calibrated_ratio(truth, spws, role):
        assert ratio.size > 1000, f"spw {spw}: only {ratio.size} unflagged visibilities"
        amplitude = np.mean(ratio).real
        assert abs(amplitude - 1) < tolerance, f"{role} spw {spw}: {amplitude:.4f} x truth"


@pytest.mark.parametrize("role", ["bandpass", "phase", "target"])
def test_calibrated_point_source_phases_scatter_around_zero(calibrated, role):
    truth, spws = calibrated
    field = field_truth(truth, role)
    for vis in spws:
        rows = vis.field == field["name"]
        data = np.ma.masked_array(vis.data[rows], vis.flag[rows]).mean(axis=1)  # channel average
        phase = np.rad2deg(np.angle(data.compressed()))
        rms = np.sqrt(np.mean(phase**2))
        assert rms < 5.0, f"{role} spw {vis.truth_spw['id']}: phase rms {rms:.2f} deg"


def test_fluxscale_recovers_phase_calibrator_flux(eb, demo_run):
    truth = load_truth(eb)
    field = field_truth(truth, "phase")
    fitted = json.loads(product(eb, ".ms.split.fluxscale.json", root=demo_run).read_text())
    per_spw = fitted["fields"][field["name"]]["spws"]
    assert set(per_spw) == {str(s["id"]) for s in truth["spws"] if s["type"] == "FDM"}
    for spw, entry in per_spw.items():
        expected = source_spectrum(field, entry["freq_hz"])
        assert abs(entry["flux_jy"] / expected - 1) < 0.02, f"spw {spw}: {entry['flux_jy']:.4f} Jy"


def read_bandpass(caltable: Path):
    from casatools import table

    tb = table()
    tb.open(str(caltable))
    gains = tb.getcol("CPARAM")  # [pol, chan, row]
    flags = tb.getcol("FLAG")
    ants = tb.getcol("ANTENNA1")
    spws = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    return gains, flags, ants, spws


def test_bandpass_matches_injected_shape(eb, demo_run):
    truth = load_truth(eb)
    gains, flags, ants, spws = read_bandpass(product(eb, ".ms.split.bandpass", root=demo_run))
    residual_rms, injected_rms = [], []
    for row, (ant, spw) in enumerate(zip(ants, spws)):
        true_amp = np.asarray(truth["bandpass"]["spw"][str(spw)]["amp"])[ant]  # [pol, chan]
        for pol in range(gains.shape[0]):
            good = ~flags[pol, :, row]
            assert good.sum() > 0.8 * good.size, f"ant {ant} spw {spw}: bandpass mostly flagged"
            injected = true_amp[pol, good] / true_amp[pol, good].mean()
            residual = np.abs(gains[pol, good, row]) / injected
            residual /= residual.mean()
            residual_rms.append(np.sqrt(np.mean((residual - 1) ** 2)))
            injected_rms.append(np.sqrt(np.mean((injected - 1) ** 2)))
    assert len(residual_rms) == 10 * 2 * 2  # antennas x science spws x polarizations
    assert max(residual_rms) < 0.02, f"bandpass amplitude residual rms {max(residual_rms):.4f}"
    # the injected shapes are far from flat: a flat (or missing) bandpass would fail above
    assert np.median(injected_rms) > 0.04


def test_tsys_step_removes_injected_tsys_scaling(eb, demo_run):
    """{eb}.ms.split (Tsys applied) equals g_i g_j* B_i B_j* S; raw {eb}.ms is off by 1/sqrt(TiTj)."""
    truth = load_truth(eb)
    for name, suffix in (("split", ".ms.split"), ("raw", ".ms")):
        for vis in read_visibilities(product(eb, suffix, root=demo_run), truth):
            if vis.truth_spw["type"] != "FDM":
                continue
            for role in ("bandpass", "phase", "target"):
                field = field_truth(truth, role)
                rows = vis.field == field["name"]
                model = (
                    true_corruption(truth, _rows(vis, rows))
                    * source_spectrum(field, vis.freq_hz)[None, :, None]
                    * normalisation_depression(
                        truth, field, vis.truth_spw["id"], vis.ant1[rows], vis.ant2[rows]
                    )
                )
                ratio = np.abs(vis.data[rows] / model)
                per_baseline = np.median(ratio, axis=(1, 2))
                if name == "split":
                    assert abs(np.median(ratio) - 1) < 0.01, f"{role}: {np.median(ratio):.4f}"
                    assert np.std(per_baseline) / np.mean(per_baseline) < 0.01
                else:  # the scaling the Tsys step must remove is really there
                    assert np.median(ratio) < 0.02


def _rows(vis, rows):
    from dataclasses import replace

    return replace(vis, time=vis.time[rows], ant1=vis.ant1[rows], ant2=vis.ant2[rows])
