"""ALMA-specific corrections, each shown to remove an injected effect (WVR, antenna positions,
Tsys across an atmospheric line), and the 7 m EB without WVR data beside the 12 m EBs."""

import json

import numpy as np
import pytest
from test_demo_calibration import _rows
from truth import (
    DEMO_EBS,
    MOUS,
    baseline_phase_deg,
    field_truth,
    load_truth,
    product,
    read_visibilities,
    source_spectrum,
    time_index,
    true_corruption,
)

pytestmark = pytest.mark.workflow


def residual_phase_deg(truth, vis, rows, field):
    """Phase of the data over g_i g_j* B_i B_j* S, channel-averaged, per row and correlation."""
    sub = _rows(vis, rows)
    model = true_corruption(truth, sub) * source_spectrum(field, vis.freq_hz)[None, :, None]
    ratio = np.ma.masked_array(vis.data[rows] / model, vis.flag[rows]).mean(axis=1)
    return np.rad2deg(np.ma.angle(ratio)), sub


@pytest.fixture(scope="module", params=DEMO_EBS[:2])
def twelve_m(request, demo_run):
    eb = request.param
    truth = load_truth(eb)
    assert truth["array"] == "12m" and truth["has_wvr"]
    return eb, truth, read_visibilities(product(eb, ".ms.split", root=demo_run), truth)


def test_wvr_removes_at_least_half_the_injected_wet_path_phase(twelve_m):
    eb, truth, spws = twelve_m
    wet = truth["wet_path"]
    for vis in spws:
        for role in ("bandpass", "phase"):
            field = field_truth(truth, role)
            rows = vis.field == field["name"]
            residual, sub = residual_phase_deg(truth, vis, rows, field)
            injected = baseline_phase_deg(
                wet["phase_deg"][str(vis.truth_spw["id"])], sub, time_index(wet["times_mjd_s"], sub)
            )
            injected_rms = np.sqrt(np.mean(injected**2))
            after_rms = np.sqrt(np.mean(residual.compressed() ** 2))
            assert injected_rms > 10, f"{eb} {role}: injected wet path only {injected_rms:.1f} deg"
            assert after_rms <= 0.5 * injected_rms, (
                f"{eb} {role} spw {vis.truth_spw['id']}: {injected_rms:.1f} -> {after_rms:.1f} deg"
            )


def test_wvr_figures_are_recorded_per_eb(twelve_m, demo_run):
    eb, _, _ = twelve_m
    stats = json.loads(product(eb, ".ms.wvrgcal.json", root=demo_run).read_text())
    figures = stats["assessment"]
    assert (
        figures["calibrator_phase_rms_deg_with"] < 0.5 * figures["calibrator_phase_rms_deg_without"]
    )
    assert set(stats["wvrflag"]) == set(load_truth(eb)["wvr"]["bad_antennas"])
    split = json.loads(product(eb, ".ms.split.split.json", root=demo_run).read_text())
    assert "wvr" in split["applied"] and split["wvr"].startswith("WVR correction applied")


def test_antenna_position_table_removes_the_injected_drift(twelve_m):
    eb, truth, spws = twelve_m
    positions = truth["antenna_positions"]
    names = [a["name"] for a in truth["antennas"]]
    moved = [names.index(name) for name in positions["errors_m"]]
    assert moved, f"{eb}: no position error injected"
    field = field_truth(truth, "phase")
    for vis in spws:
        rows = (vis.field == field["name"]) & (np.isin(vis.ant1, moved) | np.isin(vis.ant2, moved))
        residual, sub = residual_phase_deg(truth, vis, rows, field)
        nu = 0.5 * (vis.freq_hz[0] + vis.freq_hz[-1])
        path = np.asarray(positions["path_error_m"])
        t = time_index(positions["times_mjd_s"], sub)
        injected = np.rad2deg(
            2 * np.pi * nu / 299792458.0 * (path[sub.ant1, t] - path[sub.ant2, t])
        )
        # per-scan means: the position term drifts slowly, the WVR residual averages down
        scans = np.searchsorted(np.unique(np.round(sub.time, -2)), np.round(sub.time, -2))
        keys = np.stack([sub.ant1, sub.ant2, scans], axis=1)
        mean_residual, mean_injected = [], []
        for key in np.unique(keys, axis=0):
            sel = np.all(keys == key, axis=1)
            mean_residual.append(np.ma.mean(residual[sel]))
            mean_injected.append(np.mean(injected[sel]))
        residual_rms = np.sqrt(np.mean(np.square(mean_residual)))
        injected_rms = np.sqrt(np.mean(np.square(mean_injected)))
        assert injected_rms > 10, f"{eb}: injected position phase only {injected_rms:.1f} deg"
        assert residual_rms < 5, f"{eb} spw {vis.truth_spw['id']}: residual {residual_rms:.2f} deg"


@pytest.mark.parametrize("eb", DEMO_EBS)
def test_tsys_recovers_the_flux_scale_across_the_atmospheric_line(eb, demo_run):
    truth = load_truth(eb)
    lines = [line for line in truth["tsys"]["atm_lines"] if line["spw_channels_within_fwhm"]]
    assert lines, f"{eb}: no atmospheric line in the science spws"
    checked = 0
    for vis in read_visibilities(product(eb, ".ms.split", root=demo_run), truth):
        for line in lines:
            span = line["spw_channels_within_fwhm"].get(str(vis.truth_spw["id"]))
            if not span or vis.truth_spw["type"] != "FDM":
                continue
            channels = slice(span[0], span[1] + 1)
            for role in ("bandpass", "phase", "target"):
                field = field_truth(truth, role)
                rows = vis.field == field["name"]
                model = (
                    true_corruption(truth, _rows(vis, rows))
                    * source_spectrum(field, vis.freq_hz)[None, :, None]
                )
                ratio = np.median(np.abs(vis.data[rows] / model)[:, channels], axis=(0, 2))
                assert np.all(np.abs(ratio - 1) < 0.01), f"{eb} {role}: {ratio}"
                checked += 1
    assert checked >= 3


def test_seven_metre_eb_is_calibrated_without_wvr(demo_run):
    eb = DEMO_EBS[2]
    truth = load_truth(eb)
    assert truth["array"] == "7m" and not truth["has_wvr"]
    assert not product(eb, ".ms.wvrgcal", root=demo_run).exists()
    summary = json.loads(product(eb, ".ms.split.split.json", root=demo_run).read_text())
    assert summary["wvr"].startswith("the data carry no WVR#NOMINAL window")
    assert "wvr" not in summary["applied"]
    commands = demo_run / "logs" / MOUS / eb / "split_eb.casa_commands.py"
    assert "no WVR#NOMINAL window" in commands.read_text()


@pytest.mark.parametrize("eb", DEMO_EBS)
def test_corrections_file_holds_each_correction_against_truth(eb, demo_run):
    """<eb>.corrections.json: Tsys medians per antenna (vs the injected Tsys), antenna-position
    offsets (undo the injected errors), WVR phase rms before/after, renorm factors."""
    truth = load_truth(eb)
    c = json.loads(product(eb, ".corrections.json", root=demo_run).read_text())
    names = [a["name"] for a in truth["antennas"]]
    for spw in (s["id"] for s in truth["spws"] if s["type"] == "TDM"):
        injected = np.array(
            [truth["tsys"]["field"][f]["spw"][str(spw)] for f in truth["tsys"]["field"]]
        )  # [field, ant, pol, chan]
        for i, ant in enumerate(names):
            want = np.median(injected[:, i])
            got = c["tsys"]["median_k"][ant][str(spw)]
            assert abs(got / want - 1) < 0.01, f"{ant} spw {spw}: {got} vs {want:.2f} K"
    offsets = c["antenna_positions"]["offsets_m"]
    assert set(offsets) == set(truth["antenna_positions"]["errors_m"])
    for ant, error in truth["antenna_positions"]["errors_m"].items():
        assert np.allclose(offsets[ant], -np.asarray(error), atol=1e-6)
    if truth["has_wvr"]:
        wvr = c["wvr"]
        assert wvr["applied"]
        assert wvr["calibrator_phase_rms_deg_after"] < 0.5 * wvr["calibrator_phase_rms_deg_before"]
        assert wvr["flagged_antennas"] == truth["wvr"]["bad_antennas"]
    else:
        assert not c["wvr"]["applied"] and "no WVR#NOMINAL window" in c["wvr"]["reason"]
    renorm = json.loads(product(eb, ".ms.split.renorm.json", root=demo_run).read_text())
    assert c["renormalization"]["max_factor"] == renorm["max_rn"]
    assert c["renormalization"]["applied"] == renorm["apply"]
