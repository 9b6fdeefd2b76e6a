"""The demo simulator (workflow/lib/almasim), phase by phase, on a tiny EB.

One tiny 12 m EB (4 antennas, WVR, 4 short scans on 2 fields, few channels) derived from
resources/demo_mous.yaml is simulated once per module, phase by phase as ``almasim.eb`` runs
them; the tests check each phase against physics and structure (not against earlier output),
then the CASA round trip: importasdm, Tsys calibration and antenna positions as the workflow
applies them.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import (
    normalisation_depression,
    read_visibilities,
    source_spectrum,
    time_index,
    true_corruption,
)

from almasim import asdm as sim_asdm
from almasim import atmosphere, corruptions, data, verify
from almasim import ms as sim_ms
from almasim import setup as sim_setup
from almasim import truth as sim_truth

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
EB = "uid___A002_Xtiny_X1"
C_LIGHT = 299792458.0
O3_LINE_HZ = 226.055e9
TRUTH_KEYS = {
    "schema_version",
    "eb",
    "seed",
    "rng_seed",
    "model",
    "antennas",
    "fields",
    "spws",
    "scans",
    "gains",
    "bandpass",
    "tsys",
    "noise_sigma_jy",
    "online_flags",
    "wet_path",
    "antenna_positions",
    "atmosphere",
    "wvr",
}


def tiny_params() -> dict:
    """demo_mous.yaml cut down: one 12 m EB with WVR, 4 antennas, 2 fields, 4 scans, few channels."""
    params = yaml.safe_load((ROOT / "resources" / "demo_mous.yaml").read_text())
    params = copy.deepcopy(params)
    params["execution_blocks"] = [
        {
            "name": EB,
            "start_utc": "2024-04-20T07:00:00",
            "seed_offset": 7,
            "array": "12m",
            "wvr": True,
            "wvr_bad_antennas": ["DA45"],
            "antenna_position_errors_m": {"DA42": [0.0020, -0.0015, 0.0010]},
        }
    ]
    params["arrays"]["12m"]["antennas"] = params["arrays"]["12m"]["antennas"][
        :4
    ]  # DA41 DA42 DA44 DA45
    for spw in params["spectral_windows"]:
        spw["nchan"] = 64 if spw["type"] == "TDM" else 32
    params["fields"] = [f for f in params["fields"] if f["name"] in ("J1924-2914", "DemoTarget")]
    params["slew_s"] = 10.0
    params["scans"] = [
        {"field": "J1924-2914", "kind": "atm", "duration_s": 20},
        {"field": "J1924-2914", "kind": "obs", "duration_s": 30},
        {"field": "DemoTarget", "kind": "atm", "duration_s": 20},
        {"field": "DemoTarget", "kind": "obs", "duration_s": 30},
    ]
    params["online_flags"] = [
        {
            "antenna": "DA44",
            "scan": 2,
            "start_offset_s": 0.0,
            "duration_s": 10.0,
            "reason": "Pointing Error",
        }
    ]
    return params


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # CASA tasks drop stray files in the working directory


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The tiny EB, phase by phase as almasim.eb.simulate_eb runs them; intermediate results kept."""
    from casatasks import casalog
    from casatools import table

    work = tmp_path_factory.mktemp("tiny")
    casalog.setlogfile(str(work / "casa.log"))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        params = tiny_params()
        setup = sim_setup.build_setup(params, EB)
        ms = str(work / f"{EB}.sim.ms")
        sim_ms.simulate_empty_ms(setup, ms)
        tb = table()
        tb.open(ms)
        empty = {
            "time": tb.getcol("TIME"),
            "ddid": tb.getcol("DATA_DESC_ID"),
            "a1": tb.getcol("ANTENNA1"),
            "a2": tb.getcol("ANTENNA2"),
        }
        tb.close()
        sim_ms.repair_ms(setup, ms)
        model = corruptions.draw_corruptions(setup)
        model["sso_vis"], model["sso_flux"] = data.solar_system_model(setup, ms)
        data.write_data(setup, model, ms)
        data.write_syscal(setup, model, ms)
        asdm = str(work / EB)
        sim_asdm.export_asdm(setup, ms, asdm, str(work))
        sim_ms.drop_wvr_cross_rows(setup, ms)
        verify.verify_asdm(
            setup, model, ms, asdm, str(work)
        )  # raises if the round trip is not exact
        truth_file, antpos_file = str(work / "truth.json"), str(work / "antpos.json")
        sim_truth.write_truth(setup, model, truth_file)
        sim_truth.write_antpos(setup, antpos_file, f"{EB}.antennapos.json")
    finally:
        os.chdir(cwd)
    return {
        "params": params,
        "setup": setup,
        "empty": empty,
        "ms": ms,
        "model": model,
        "asdm": asdm,
        "truth": json.loads(Path(truth_file).read_text()),
        "truth_file": truth_file,
        "antpos": json.loads(Path(antpos_file).read_text()),
        "antpos_file": antpos_file,
        "work": work,
    }


@pytest.fixture(scope="module")
def imported(sim, tmp_path_factory):
    """The tiny ASDM as the workflow sees it: importasdm."""
    from casatasks import importasdm

    vis = str(tmp_path_factory.mktemp("imported") / f"{EB}.ms")
    importasdm(asdm=sim["asdm"], vis=vis)
    return vis


def _rows(xml_file: str | Path) -> list[dict[str, str]]:
    """Rows of an ASDM XML table: {tag: text} per <row>."""
    root = ET.parse(xml_file).getroot()
    return [
        {el.tag.split("}")[-1]: (el.text or "").strip() for el in row}
        for row in root.iter()
        if row.tag.split("}")[-1] == "row"
    ]


def _asdm_array(text: str) -> list[str]:
    """'1 n v1 .. vn' (ASDM 1-D array) -> [v1 .. vn]."""
    values = text.split()
    assert values[0] == "1" and int(values[1]) == len(values) - 2
    return values[2:]


# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------
def test_setup_gives_the_antennas_spws_and_scans_asked_for(sim):
    setup, params = sim["setup"], sim["params"]
    names = [a["name"] for a in setup["antennas"]]
    assert names == ["DA41", "DA42", "DA44", "DA45"]
    assert [a["pad"] for a in setup["antennas"]] == ["A008", "A011", "A025", "A035"]
    for a in setup["antennas"]:
        err = np.array([0.0020, -0.0015, 0.0010]) if a["name"] == "DA42" else np.zeros(3)
        np.testing.assert_allclose(np.subtract(a["itrf_online"], a["itrf"]), err, rtol=0, atol=1e-8)
        assert 6.36e6 < np.linalg.norm(a["itrf"]) < 6.385e6  # on the Earth's surface (ALMA at 5 km)
        assert np.linalg.norm(a["enu"]) < 2000.0  # compact configuration around the array centre
    assert abs(np.mean([a["enu"][2] for a in setup["antennas"]])) < 5.0

    spws = setup["spws"]
    assert [s["type"] for s in spws] == ["TDM", "FDM", "TDM", "FDM", "WVR"]
    assert setup["tdm"] == [0, 2] and setup["fdm"] == [1, 3] and setup["wvr_spw"] == 4
    for s, p in zip(spws, params["spectral_windows"]):
        assert s["nchan"] == p["nchan"] and s["baseband"] == p["baseband"]
        np.testing.assert_allclose(s["freqs"].mean(), p["centre_ghz"] * 1e9)
        np.testing.assert_allclose(np.diff(s["freqs"]), p["bandwidth_ghz"] * 1e9 / p["nchan"])
    wvr = spws[4]
    assert wvr["name"] == "WVR#NOMINAL" and wvr["nchan"] == 4 and wvr["corr"] == ["XX"]
    np.testing.assert_allclose(wvr["freqs"], 183.3e9 + np.array([1.25, 3.25, 5.5, 7.25]) * 1e9)

    scans = setup["scans"]
    assert [s["scan"] for s in scans] == [1, 2, 3, 4]
    assert [s["field"] for s in scans] == ["J1924-2914", "J1924-2914", "DemoTarget", "DemoTarget"]
    assert [s["intents"] for s in scans] == [
        ["CALIBRATE_ATMOSPHERE"],
        ["CALIBRATE_BANDPASS", "CALIBRATE_FLUX"],
        ["CALIBRATE_ATMOSPHERE"],
        ["OBSERVE_TARGET"],
    ]
    assert scans[1]["obs_mode"] == "CALIBRATE_BANDPASS#ON_SOURCE,CALIBRATE_FLUX#ON_SOURCE"
    assert [s["spws"] for s in scans] == [
        [0, 2, 4],
        [1, 3, 4],
        [0, 2, 4],
        [1, 3, 4],
    ]  # WVR all the time
    assert [s["nint"] for s in scans] == [2, 3, 2, 3]
    for a, b in zip(scans, scans[1:]):
        assert b["start"] - a["end"] == pytest.approx(params["slew_s"])
    assert sim_setup.mjd_s_to_casa(scans[0]["start"]) == "2024/04/20/07:00:00.000"
    np.testing.assert_allclose(setup["times"], np.concatenate([s["times"] for s in scans]))
    assert setup["online_flags"] == [
        {
            "antenna": "DA44",
            "scan": 2,
            "start": scans[1]["start"],
            "end": scans[1]["start"] + 10.0,
            "reason": "Pointing_Error",
        }
    ]
    assert setup["seed"] == params["seed"] + 7 and setup["npol"] == 2


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p["execution_blocks"][0].update(name="other"), "not in params"),
        (lambda p: p["scans"].pop(2), "has no atm scan"),
        (lambda p: p["execution_blocks"][0].update(array="7m"), "no water-vapour radiometers"),
        (lambda p: p["execution_blocks"][0].update(wvr_bad_antennas=["DV99"]), "unknown antenna"),
        (
            lambda p: p["spectral_windows"][1].update(centre_ghz=225.0),
            "not inside the TDM coverage",
        ),
    ],
    ids=[
        "unknown-eb",
        "field-without-atm-scan",
        "wvr-on-7m",
        "unknown-wvr-antenna",
        "fdm-outside-tdm",
    ],
)
def test_setup_rejects_inconsistent_parameters(change, message):
    params = tiny_params()
    change(params)
    with pytest.raises(ValueError, match=message):
        sim_setup.build_setup(params, EB)


def test_line_profile_is_a_peak_normalised_gaussian():
    line = {"centre_hz": 223.6e9, "fwhm_hz": 100e6}
    f = np.array([223.6e9, 223.65e9, 223.55e9, 224.6e9])
    np.testing.assert_allclose(sim_setup.line_profile(line, f)[:3], [1.0, 0.5, 0.5])
    assert sim_setup.line_profile(line, f)[3] < 1e-100
    assert not sim_setup.line_profile(None, f).any()


# ---------------------------------------------------------------------------------------------
# MS (simulator and repair)
# ---------------------------------------------------------------------------------------------
def test_empty_ms_has_all_baselines_per_integration_scan_and_spw(sim):
    setup, empty = sim["setup"], sim["empty"]
    nant = len(setup["antennas"])
    nbl = nant * (nant + 1) // 2  # cross + auto
    assert len(empty["time"]) == sum(s["nint"] * nbl * len(s["spws"]) for s in setup["scans"])
    for sc in setup["scans"]:
        in_scan = (empty["time"] > sc["start"]) & (empty["time"] < sc["end"])
        for spw in range(len(setup["spws"])):
            want = sc["nint"] * nbl if spw in sc["spws"] else 0
            assert np.sum(in_scan & (empty["ddid"] == spw)) == want, (sc["scan"], spw)
    assert np.sum(empty["a1"] == empty["a2"]) == len(empty["time"]) // nbl * nant


def test_repaired_ms_looks_like_an_imported_alma_ms(sim):
    from casatools import table

    setup, ms = sim["setup"], sim["ms"]
    tb = table()
    tb.open(ms)
    scan, state, proc, ddid = (
        tb.getcol(c) for c in ("SCAN_NUMBER", "STATE_ID", "PROCESSOR_ID", "DATA_DESC_ID")
    )
    time, a1, a2 = tb.getcol("TIME"), tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")
    cols = tb.colnames()
    tb.close()
    assert "MODEL_DATA" not in cols and "CORRECTED_DATA" not in cols
    assert np.all(np.diff(time) >= 0)
    tb.open(ms + "/STATE")
    modes = list(tb.getcol("OBS_MODE"))
    tb.close()
    for sc in setup["scans"]:
        sel = scan == sc["scan"]
        assert np.all((time[sel] > sc["start"]) & (time[sel] < sc["end"]))
        assert {modes[s] for s in state[sel]} == {sc["obs_mode"]}
    tb.open(ms + "/PROCESSOR")
    ptype = list(tb.getcol("TYPE"))
    tb.close()
    assert ptype == ["CORRELATOR", "RADIOMETER"]
    assert np.all((proc == 1) == (ddid == setup["wvr_spw"]))
    assert np.all(
        a1[ddid == setup["wvr_spw"]] == a2[ddid == setup["wvr_spw"]]
    )  # WVR: autos only (after export)
    tb.open(ms + "/SPECTRAL_WINDOW")
    assert list(tb.getcol("BBC_NO")) == [1, 1, 2, 2, 0]
    np.testing.assert_allclose(tb.getcell("CHAN_WIDTH", 4), setup["spws"][4]["widths"])
    tb.close()
    tb.open(ms + "/POLARIZATION")
    assert [list(tb.getcell("CORR_TYPE", r)) for r in range(tb.nrows())] == [
        [9, 12],
        [9],
    ]  # XX,YY and XX
    tb.close()
    tb.open(ms + "/POINTING")
    ref = tb.getcolkeyword("DIRECTION", "MEASINFO")["Ref"]
    el = tb.getcol("DIRECTION")[1, 0, :]
    tb.close()
    assert ref == "AZELGEO" and np.all(np.degrees(el) > 15) and np.all(np.degrees(el) < 90)


# ---------------------------------------------------------------------------------------------
# corruptions
# ---------------------------------------------------------------------------------------------
def test_corruption_draws_are_reproducible_from_the_seed(sim):
    setup, model = sim["setup"], sim["model"]
    again = corruptions.draw_corruptions(setup)
    for key in ("gains", "wet_path_m", "geo_path_m", "eta"):
        np.testing.assert_array_equal(again[key], model[key])
    np.testing.assert_array_equal(again["bandpass"][1]["B"], model["bandpass"][1]["B"])
    np.testing.assert_array_equal(again["tsys"][0][0], model["tsys"][0][0])
    np.testing.assert_array_equal(again["wvr"]["tobs"], model["wvr"]["tobs"])
    other = corruptions.draw_corruptions(dict(setup, seed=setup["seed"] + 1))
    assert not np.allclose(other["gains"], model["gains"])
    assert not np.allclose(other["wet_path_m"], model["wet_path_m"])


def test_spw_phase_offsets_are_constant_per_spw_and_leave_the_other_draws_alone(sim):
    """gains.spw_phase_offset_deg: per spw, antenna and polarization a constant in [-x, x] added
    to the bandpass phase, from its own stream: every other draw as without it."""
    setup, model = sim["setup"], sim["model"]
    params = copy.deepcopy(setup["params"])
    params["gains"]["spw_phase_offset_deg"] = 40.0
    shifted = corruptions.draw_corruptions(dict(setup, params=params))
    for key in ("gains", "wet_path_m", "geo_path_m", "eta"):
        np.testing.assert_array_equal(shifted[key], model[key])
    offsets = []
    for spw, bp in model["bandpass"].items():
        new = shifted["bandpass"][spw]
        assert "spw_phase_offset_deg" not in bp
        np.testing.assert_array_equal(new["amp"], bp["amp"])
        diff = new["phase_deg"] - bp["phase_deg"]  # [ant, pol, chan]
        constant = np.broadcast_to(new["spw_phase_offset_deg"][..., None], diff.shape)
        np.testing.assert_allclose(diff, constant, atol=1e-9)
        np.testing.assert_allclose(new["B"], new["amp"] * np.exp(1j * np.radians(new["phase_deg"])))
        offsets.append(new["spw_phase_offset_deg"])
    offsets = np.array(offsets)
    assert np.abs(offsets).max() <= 40.0 and offsets.std() > 10.0
    assert not np.allclose(offsets[0], offsets[1])  # the spws differ


def test_radiometer_noise_scales_with_channel_width_and_integration(sim):
    setup, model = sim["setup"], sim["model"]
    spws = [setup["spws"][w] for w in setup["corr_spws"]]
    assert all(
        corruptions.channel_noise_sigma(setup, model, s) == model["noise_sigma"] for s in spws
    )
    params = dict(
        setup["params"], noise_radiometer={"channel_width_mhz": 1.0, "integration_s": 2.0}
    )
    switched = dict(setup, params=params)
    for s in spws:
        expected = model["noise_sigma"] * math.sqrt(1e6 * 2.0 / (s["width"] * setup["tint"]))
        assert corruptions.channel_noise_sigma(switched, model, s) == pytest.approx(expected)


def test_corruptions_are_within_the_configured_ranges(sim):
    setup, model, params = sim["setup"], sim["model"], sim["params"]
    g, b, t = params["gains"], params["bandpass"], params["tsys"]
    nant, npol, ntime = len(setup["antennas"]), setup["npol"], len(setup["times"])
    assert model["gains"].shape == (nant, npol, ntime)
    lo, hi = g["amp_range"]
    drift = g["amp_drift_frac"]
    assert np.all(model["gain_amp"] >= lo * (1 - drift)) and np.all(
        model["gain_amp"] <= hi * (1 + drift)
    )
    assert np.all(np.abs(model["gain_phase_deg"]) <= 180.0)
    np.testing.assert_allclose(np.abs(model["gains"]), model["gain_amp"])
    ripple = b["amp_ripple_terms"] * b["amp_ripple_frac"][1]
    max_phase = b["phase_slope_deg"] / 2 + b["phase_ripple_deg"][1]
    for w in setup["corr_spws"]:
        bp = model["bandpass"][w]
        assert bp["amp"].shape == (nant, npol, setup["spws"][w]["nchan"])
        assert np.all(np.abs(bp["amp"] - 1) <= ripple) and np.all(
            np.abs(bp["phase_deg"]) <= max_phase
        )
    assert np.all(
        (model["eta"] >= t["forward_efficiency"][0]) & (model["eta"] <= t["forward_efficiency"][1])
    )
    assert model["noise_sigma"] == params["noise_sigma_jy"]  # 12 m: no dish scaling

    # antenna-position errors: geometric path (r_online - r_true) . s(t), only for DA42
    geo = model["geo_path_m"]
    assert not geo[[0, 2, 3]].any()
    err = np.linalg.norm([0.0020, -0.0015, 0.0010])
    assert np.all(np.abs(geo[1]) <= err) and np.abs(geo[1]).max() > 0.1 * err
    # wet path: zenith screen fluctuation of the configured strength, slant = airmass * zenith
    zen = model["wet_path_zenith_m"]
    assert zen.shape == (nant, ntime) and 0 < np.abs(zen).max() < 1e-3
    np.testing.assert_allclose(model["wet_path_m"], model["geo"]["airmass"][None, :] * zen)
    assert model["screen"]["rms_um_at_300m"] == pytest.approx(params["wet_path"]["rms_um_at_300m"])


# ---------------------------------------------------------------------------------------------
# atmosphere
# ---------------------------------------------------------------------------------------------
def test_atm_tsys_rises_at_the_o3_line(sim):
    setup, model = sim["setup"], sim["model"]
    atm = model["atm"]
    lines = atm["lines"]
    assert [ln["species"] for ln in lines] == ["O3"]
    assert lines[0]["freq_hz"] == pytest.approx(O3_LINE_HZ, abs=5e6)
    for w in setup["corr_spws"]:
        f = setup["spws"][w]["freqs"]
        tau = atm["tau_zenith"][w]
        assert np.all((tau > 0.01) & (tau < 0.5))  # Band 6 at 1 mm PWV
        for fid in (0, 1):
            tsys = model["tsys"][fid][w]
            assert np.all(tsys > model["trx"][fid][w])  # Tsys > Trx, always
        if f[0] < O3_LINE_HZ < f[-1]:
            k = int(np.argmin(np.abs(f - O3_LINE_HZ)))
            side = [k - 10, k + 10]  # +-312 MHz: outside the line (FWHM ~60 MHz)
            assert tau[k] > tau[side].mean() + 0.01
            for fid in (0, 1):
                tsys = model["tsys"][fid][w]
                assert np.all(tsys[:, :, k] > 1.03 * tsys[:, :, side].mean(axis=2))
            assert str(w) in lines[0]["spw_channels_within_fwhm"]
        else:
            assert str(w) not in lines[0]["spw_channels_within_fwhm"]
    assert any(
        setup["spws"][w]["freqs"][0] < O3_LINE_HZ < setup["spws"][w]["freqs"][-1]
        for w in setup["corr_spws"]
    )


def test_tsys_is_higher_at_lower_elevation(sim):
    setup, model = sim["setup"], sim["model"]
    elev = model["elevation_deg"]
    lo, hi = sorted(elev, key=elev.get)
    assert elev[lo] < elev[hi] - 1.0
    for w in setup["corr_spws"]:
        np.testing.assert_array_equal(model["trx"][lo][w], model["trx"][hi][w])  # same receivers
        assert np.all(model["tsys"][lo][w] > model["tsys"][hi][w])
        assert np.all(model["tsky"][lo][w] > model["tsky"][hi][w])


def test_wvr_brightness_increases_with_water_path(sim):
    model = sim["model"]
    grid = model["atm"]["wvr"]
    pwv = model["atm"]["pwv_mm"]
    water = pwv + np.array([-0.04, -0.02, 0.0, 0.02, 0.04])
    for airmass in (1.1, 1.5):
        t = atmosphere._wvr_sky(grid, np.full(water.shape, airmass), water)  # [water, chan]
        assert np.all(np.diff(t, axis=0) > 0)
        assert np.all(np.diff(t[2]) < 0)  # the channel nearest the 183.31 GHz line is the brightest
        assert np.all((t > 5) & (t < 280))
    more_air = atmosphere._wvr_sky(grid, np.array([1.5]), np.array([pwv]))
    assert np.all(more_air > atmosphere._wvr_sky(grid, np.array([1.1]), np.array([pwv])))
    wvr = model["wvr"]
    assert np.all(wvr["dtdl_k_per_m"] > 0)
    # at each time all antennas look through the same airmass: more wet path, brighter in every channel
    order = np.argsort(model["wet_path_zenith_m"], axis=0)  # [ant, time]
    for ch in range(4):
        np.testing.assert_array_equal(np.argsort(wvr["tobs_clean"][:, :, ch], axis=0), order)
    bad = wvr["tobs"][3] - wvr["tobs_clean"][3]  # DA45: wvr_bad_antennas
    good = wvr["tobs"][0] - wvr["tobs_clean"][0]
    assert bad.std() > 10 * good.std()


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def _ms_rows(ms: str, spw: int) -> dict[str, np.ndarray]:
    from casatools import table

    tb = table()
    tb.open(ms)
    q = tb.query(f"DATA_DESC_ID=={spw}")
    rows = {c: q.getcol(c) for c in ("TIME", "ANTENNA1", "ANTENNA2", "FIELD_ID", "DATA")}
    q.close()
    tb.close()
    return rows


@pytest.mark.parametrize("spw", [1, 2])  # FDM of BB_1 (target line), TDM of BB_2 (O3 line)
def test_data_rows_equal_model_times_corruption(sim, spw):
    """DATA = g_i g_j* B_i B_j* exp(-2 pi i nu/c (P_i - P_j)) (S + n) / sqrt((Tsys_i + Tl)(Tsys_j + Tl))."""
    setup, model = sim["setup"], sim["model"]
    s = setup["spws"][spw]
    rows = _ms_rows(sim["ms"], spw)
    ti = np.searchsorted(setup["times"], rows["TIME"] - 1e-3)
    np.testing.assert_allclose(setup["times"][ti], rows["TIME"], atol=1e-3)
    a1, a2, fld = rows["ANTENNA1"], rows["ANTENNA2"], rows["FIELD_ID"]
    nu = s["freqs"]
    g = model["gains"]
    b = model["bandpass"][spw]["B"]
    gain = (g[a1, :, ti] * np.conj(g[a2, :, ti])).T[:, None, :]  # [pol, 1, row]
    bpass = np.transpose(b[a1] * np.conj(b[a2]), (1, 2, 0))  # [pol, chan, row]
    path = (
        model["wet_path_m"][:, :, None] * model["atm"]["wet_path_ratio"][spw][None, None, :]
        + model["geo_path_m"][:, :, None]
    )  # [ant, time, chan]
    phase = np.exp(-2j * np.pi * nu[:, None] / C_LIGHT * (path[a1, ti] - path[a2, ti]).T)[None]
    flux = np.zeros((len(nu), len(a1)))
    tline = np.zeros((len(nu), len(a1)))
    tsys1 = np.zeros((setup["npol"], len(nu), len(a1)))
    tsys2 = np.zeros_like(tsys1)
    for f in setup["fields"]:
        sel = fld == f["id"]
        line = f["line"]
        prof = (
            0 * nu
            if line is None
            else np.exp(-4 * math.log(2) * ((nu - line["centre_hz"]) / line["fwhm_hz"]) ** 2)
        )
        flux[:, sel] = (
            f["flux_jy"] * (nu / setup["nu0"]) ** f["spix"]
            + (0 if line is None else line["flux_jy"] * prof)
        )[:, None]
        if (
            line and s["type"] == "FDM"
        ):  # the extended line is in the total power of the science spws
            tline[:, sel] = (line["antenna_temperature_k"] * prof)[:, None]
        tsys = model["tsys"][f["id"]][spw]  # [ant, pol, chan]
        tsys1[:, :, sel] = np.transpose(tsys[a1[sel]], (1, 2, 0))
        tsys2[:, :, sel] = np.transpose(tsys[a2[sel]], (1, 2, 0))
    power1, power2 = tsys1 + tline[None], tsys2 + tline[None]
    vis = rows["DATA"]
    auto = a1 == a2
    # autocorrelations: total power |g|^2 |B|^2 (Tsys + Tline) / 100 K, exact to float32
    np.testing.assert_allclose(
        vis[..., auto], (gain * bpass * power1 / 100.0)[..., auto], rtol=2e-6
    )
    # cross-correlations: what is left after removing the corruptions is the source plus gaussian noise
    cross = ~auto
    noisy = (vis * np.sqrt(power1 * power2) / (gain * bpass * phase))[..., cross]
    resid = noisy - flux[None, :, cross]
    sigma = model["noise_sigma"]
    assert abs(resid.mean()) < 5 * sigma / math.sqrt(resid.size)
    assert np.sqrt(np.mean(resid.real**2)) == pytest.approx(sigma, rel=0.1)
    assert np.sqrt(np.mean(resid.imag**2)) == pytest.approx(sigma, rel=0.1)
    if spw == 1:  # BB_1 FDM: the target's line (compact part 0.4 Jy on the 0.5 Jy continuum)
        k = int(np.argmin(np.abs(nu - 223.6e9)))
        target = cross & (fld == 1)
        assert flux[k, target].mean() > 0.5 + 0.3
        assert abs(noisy[:, k, fld[cross] == 1].mean()) == pytest.approx(
            flux[k, target].mean(), abs=0.01
        )
        # calibrated with the ATMOSPHERE scans' Tsys (which do not see the line) the line channel is
        # depressed by sqrt(Ti Tj / ((Ti + Tline)(Tj + Tline))): the renormalisation problem
        tsys_cal = (vis * np.sqrt(tsys1 * tsys2) / (gain * bpass * phase))[:, k, target]
        depression = np.sqrt(tsys1 * tsys2 / (power1 * power2))[:, k, target]
        assert np.all(depression < 0.9)
        assert abs(tsys_cal.mean()) == pytest.approx(
            flux[k, target].mean() * depression.mean(), rel=0.02
        )


def test_wvr_rows_carry_the_brightness_and_syscal_the_tsys(sim):
    from casatools import table

    setup, model = sim["setup"], sim["model"]
    rows = _ms_rows(sim["ms"], setup["wvr_spw"])
    assert np.all(rows["ANTENNA1"] == rows["ANTENNA2"]) and rows["DATA"].shape[:2] == (1, 4)
    ti = np.searchsorted(setup["times"], rows["TIME"] - 1e-3)
    np.testing.assert_array_equal(
        rows["DATA"][0].real.T, model["wvr"]["tobs"][rows["ANTENNA1"], ti]
    )
    assert not rows["DATA"].imag.any()
    tb = table()
    tb.open(sim["ms"] + "/SYSCAL")
    ant, spw, t = tb.getcol("ANTENNA_ID"), tb.getcol("SPECTRAL_WINDOW_ID"), tb.getcol("TIME")
    tsys = [tb.getcell("TSYS_SPECTRUM", r) for r in range(tb.nrows())]
    tb.close()
    atm = [sc for sc in setup["scans"] if sc["kind"] == "atm"]
    assert len(ant) == len(atm) * len(setup["tdm"]) * len(setup["antennas"]) == setup["n_syscal"]
    assert set(spw) == set(setup["tdm"])
    for r in range(len(ant)):
        sc = next(sc for sc in atm if sc["start"] < t[r] < sc["end"])
        np.testing.assert_allclose(
            tsys[r], model["tsys"][sc["field_id"]][spw[r]][ant[r]], rtol=1e-6
        )


# ---------------------------------------------------------------------------------------------
# ASDM export and repair
# ---------------------------------------------------------------------------------------------
def test_asdm_has_the_real_scans_intents_and_one_execblock(sim):
    setup, asdm = sim["setup"], Path(sim["asdm"])
    scans = _rows(asdm / "Scan.xml")
    assert [int(r["scanNumber"]) for r in scans] == [1, 2, 3, 4]
    for r, sc in zip(scans, setup["scans"]):
        assert _asdm_array(r["scanIntent"]) == sc["intents"]
        assert int(r["numIntent"]) == len(sc["intents"]) and int(r["numSubscan"]) == 1
        assert int(r["startTime"]) == pytest.approx(sc["start"] * 1e9, abs=1e6)
    execblocks = _rows(asdm / "ExecBlock.xml")
    assert len(execblocks) == 1 and {r["execBlockId"] for r in scans} == {
        execblocks[0]["execBlockId"]
    }
    assert execblocks[0]["configName"] == "alma.cycle10.2"
    subscans = _rows(asdm / "Subscan.xml")
    assert [(int(r["scanNumber"]), int(r["subscanNumber"])) for r in subscans] == [
        (k, 1) for k in (1, 2, 3, 4)
    ]
    assert [int(r["numIntegration"]) for r in subscans] == [sc["nint"] for sc in setup["scans"]]
    main = _rows(asdm / "Main.xml")
    assert {int(r["scanNumber"]) for r in main} == {1, 2, 3, 4}
    assert len(main) == sum(len(sc["spws"]) for sc in setup["scans"])  # one BDF per scan and spw
    assert len(list((asdm / "ASDMBinary").iterdir())) == len(main)
    names = [r["name"] for r in _rows(asdm / "SpectralWindow.xml")]
    assert names == [s["name"] for s in setup["spws"]]
    flags = _rows(asdm / "Flag.xml")
    assert [r["reason"] for r in flags] == ["Pointing_Error"]
    antennas = {r["antennaId"]: r["name"] for r in _rows(asdm / "Antenna.xml")}
    assert antennas[_asdm_array(flags[0]["antennaId"])[0]] == "DA44"
    assert int(flags[0]["startTime"]) == round(setup["scans"][1]["start"] * 1e9)
    asdm_xml = (asdm / "ASDM.xml").read_text(encoding="ISO-8859-1")
    assert "<Name> Flag </Name> <NumberRows> 1 </NumberRows>" in asdm_xml
    assert "<TimeOfCreation> 2024-04-20T07:" in asdm_xml  # the end of the EB, not the wall clock


def test_asdm_wvr_window_is_radiometer_data(sim):
    setup, asdm = sim["setup"], Path(sim["asdm"])
    spw = next(r for r in _rows(asdm / "SpectralWindow.xml") if r["name"] == "WVR#NOMINAL")
    np.testing.assert_allclose(
        [float(v) for v in _asdm_array(spw["chanFreqArray"])], setup["spws"][4]["freqs"]
    )
    assert spw["netSideband"] == "DSB"
    dd = next(
        r["dataDescriptionId"]
        for r in _rows(asdm / "DataDescription.xml")
        if r["spectralWindowId"] == spw["spectralWindowId"]
    )
    cds = [r for r in _rows(asdm / "ConfigDescription.xml") if dd in r["dataDescriptionId"].split()]
    assert (
        len(cds) == 1
        and cds[0]["correlationMode"] == "AUTO_ONLY"
        and cds[0]["processorType"] == "RADIOMETER"
    )
    bdfs = _bdf_files(asdm)
    assert sum(key.startswith(cds[0]["configDescriptionId"] + "/") for key in bdfs) == len(
        setup["scans"]
    )
    for key, path in bdfs.items():
        blob = path.read_bytes()
        assert b"flags.bin" not in blob  # exportasdm's all-zero channel flags are removed
        radiometer = key.startswith(cds[0]["configDescriptionId"] + "/")
        assert (b"crossData.bin" in blob) != radiometer
        assert (b"<processorType>RADIOMETER</processorType>" in blob) == radiometer


def test_source_table_has_the_calibrator_fluxes(sim):
    setup = sim["setup"]
    rows = [r for r in _rows(Path(sim["asdm"]) / "Source.xml") if "flux" in r]
    assert {r["sourceName"] for r in rows} == {"J1924-2914"}  # the calibrator, not the target
    for r in rows:
        spw = setup["spws"][int(r["spectralWindowId"].split("_")[-1])]
        assert spw["type"] == "FDM"
        flux = float(r["flux"].split()[3])
        assert flux == pytest.approx(3.0 * (spw["centre"] / 230e9) ** -0.6)
    assert len(rows) == len(setup["fdm"])


def _visibility_bytes(setup: dict) -> int:
    """Bytes of the visibilities of an EB in its BDFs: complex float32 cross, float32 auto data."""
    nant = len(setup["antennas"])
    total = 0
    for sc in setup["scans"]:
        for s in (setup["spws"][w] for w in sc["spws"]):
            ncross = 0 if s["type"] == "WVR" else nant * (nant - 1) // 2
            total += sc["nint"] * s["nchan"] * len(s["corr"]) * (8 * ncross + 4 * nant)
    return total


def test_demo_ebs_stay_within_the_asdm_size_budget(sim):
    """The demo EBs' ASDMs stay below 20 MB (the visibilities: the BDFs hold little else)."""
    asdm = Path(sim["asdm"])
    binary = sum(p.stat().st_size for p in (asdm / "ASDMBinary").iterdir())
    assert _visibility_bytes(sim["setup"]) <= binary <= 1.5 * _visibility_bytes(sim["setup"])
    params = yaml.safe_load((ROOT / "resources" / "demo_mous.yaml").read_text())
    for eb in params["execution_blocks"]:
        assert 1.1 * _visibility_bytes(sim_setup.build_setup(params, eb["name"])) < 20_000_000, eb[
            "name"
        ]


def _bdf_files(asdm: Path) -> dict[str, Path]:
    """BDF of every Main row, keyed by configDescriptionId + scan (from the raw XML: the UID is an attribute)."""
    text = (asdm / "Main.xml").read_text(encoding="ISO-8859-1")
    root = ET.fromstring(text.encode("ISO-8859-1"))
    out = {}
    for row in root.iter():
        if row.tag.split("}")[-1] != "row":
            continue
        fields = {el.tag.split("}")[-1]: el for el in row}
        uid = next(el.get("entityId") for el in fields["dataUID"].iter() if el.get("entityId"))
        key = f"{fields['configDescriptionId'].text.strip()}/{fields['scanNumber'].text.strip()}"
        out[key] = asdm / "ASDMBinary" / uid.replace(":", "_").replace("/", "_")
    return out


# ---------------------------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------------------------
def _tampered(sim, tmp_path) -> Path:
    copy_ = tmp_path / EB
    shutil.copytree(sim["asdm"], copy_)
    return copy_


def test_verification_raises_on_a_missing_bdf(sim, tmp_path):
    asdm = _tampered(sim, tmp_path)
    bdf = sorted(_bdf_files(asdm).values())[0]
    bdf.unlink()  # one scan loses one spw: importasdm skips it
    with pytest.raises(RuntimeError, match="ASDM verification failed") as failure:
        verify.verify_asdm(sim["setup"], sim["model"], sim["ms"], str(asdm), str(tmp_path))
    assert "nrows: written" in str(failure.value)


def test_verification_raises_on_a_changed_visibility(sim, tmp_path):
    asdm = _tampered(sim, tmp_path)
    bdf = next(p for p in sorted(_bdf_files(asdm).values()) if b"crossData.bin" in p.read_bytes())
    blob = bytearray(bdf.read_bytes())
    start = blob.index(b"crossData.bin\n\n") + len(b"crossData.bin\n\n")
    old = struct.unpack("<f", blob[start + 8 : start + 12])[0]
    blob[start + 8 : start + 12] = struct.pack("<f", old + 0.5)  # one real part of one visibility
    bdf.write_bytes(bytes(blob))
    with pytest.raises(RuntimeError, match="DATA differs after the round trip"):
        verify.verify_asdm(sim["setup"], sim["model"], sim["ms"], str(asdm), str(tmp_path))


# ---------------------------------------------------------------------------------------------
# truth
# ---------------------------------------------------------------------------------------------
def test_truth_json_has_the_injected_values(sim):
    model, truth, params = sim["model"], sim["truth"], sim["params"]
    assert TRUTH_KEYS <= set(truth)
    assert (
        truth["eb"] == EB and truth["rng_seed"] == params["seed"] + 7 and truth["has_wvr"] is True
    )
    errors = {a["name"]: a["position_error_m"] for a in truth["antennas"]}
    assert errors == {
        "DA41": [0.0, 0.0, 0.0],
        "DA42": [0.0020, -0.0015, 0.0010],
        "DA44": [0.0, 0.0, 0.0],
        "DA45": [0.0, 0.0, 0.0],
    }
    assert truth["antenna_positions"]["errors_m"] == {"DA42": [0.0020, -0.0015, 0.0010]}
    for a in truth["antennas"]:
        np.testing.assert_allclose(
            np.subtract(a["position_online_itrf_m"], a["position_itrf_m"]),
            a["position_error_m"],
            atol=1e-9,
        )
    np.testing.assert_allclose(truth["gains"]["amp"], model["gain_amp"], rtol=1e-6)
    np.testing.assert_allclose(
        truth["gains"]["phase_deg"], model["gain_phase_deg"], rtol=1e-6, atol=1e-9
    )
    np.testing.assert_allclose(
        truth["bandpass"]["spw"]["3"]["amp"], model["bandpass"][3]["amp"], rtol=1e-6
    )
    np.testing.assert_allclose(
        truth["tsys"]["field"]["DemoTarget"]["spw"]["2"], model["tsys"][1][2], rtol=1e-6
    )
    assert truth["tsys"]["field"]["DemoTarget"]["atm_scans"] == [3]
    assert truth["noise_sigma_jy"] == params["noise_sigma_jy"]
    assert [s["n_integrations"] for s in truth["scans"]] == [2, 3, 2, 3]
    assert truth["scans"][1]["intents"] == [
        "CALIBRATE_BANDPASS#ON_SOURCE",
        "CALIBRATE_FLUX#ON_SOURCE",
    ]
    assert truth["online_flags"][0]["antenna"] == "DA44" and truth["online_flags"][0]["scan"] == 2
    assert truth["wvr"]["bad_antennas"] == ["DA45"] and np.shape(truth["wvr"]["tobs_k"]) == (
        4,
        4,
        10,
    )
    np.testing.assert_allclose(
        truth["wvr"]["tobs_k"], np.transpose(model["wvr"]["tobs"], (0, 2, 1)), rtol=1e-6
    )
    assert truth["wet_path"]["phase_sign"] == -1.0
    target = next(f for f in truth["fields"] if f["name"] == "DemoTarget")
    assert target["line"] == {
        "centre_hz": 223.6e9,
        "fwhm_hz": 100e6,
        "flux_jy": 0.4,
        "antenna_temperature_k": 20.0,
    }
    antpos = sim["antpos"]
    assert antpos["metadata"]["product_code"] == "antposalma"
    assert antpos["data"] == {
        a["name"]: a["position_itrf_m"] for a in truth["antennas"]
    }  # the TRUE positions


def test_simulate_eb_writes_the_phases_results(sim, tmp_path):
    """The public entry point runs the same phases: its outputs are byte-identical (and no work dir is left)."""
    from almasim import simulate_eb

    out = tmp_path / "raw"
    simulate_eb(
        params=tiny_params(),
        eb=EB,
        asdm=str(out / EB),
        truth=str(out / f"{EB}.truth.json"),
        antpos_json=str(out / f"{EB}.antennapos.json"),
        log=str(tmp_path / "sim.log"),
    )
    assert sorted(p.name for p in out.iterdir()) == [
        EB,
        f"{EB}.antennapos.json",
        f"{EB}.truth.json",
    ]
    assert (out / f"{EB}.truth.json").read_bytes() == Path(sim["truth_file"]).read_bytes()
    assert (out / f"{EB}.antennapos.json").read_bytes() == Path(sim["antpos_file"]).read_bytes()
    ref = {
        p.relative_to(sim["asdm"]): p.read_bytes()
        for p in Path(sim["asdm"]).rglob("*")
        if p.is_file()
    }
    new = {p.relative_to(out / EB): p.read_bytes() for p in (out / EB).rglob("*") if p.is_file()}
    assert new.keys() == ref.keys() and all(new[k] == ref[k] for k in ref)


# ---------------------------------------------------------------------------------------------
# the round trip as the workflow uses it (kept from the former tests/check_simulation.py)
# ---------------------------------------------------------------------------------------------
def test_imported_wvr_window_is_alma_radiometer_data(sim, imported):
    from casatools import table

    tb = table()
    tb.open(imported + "/PROCESSOR")
    ptype = list(tb.getcol("TYPE"))
    tb.close()
    tb.open(imported)
    q = tb.query(f"DATA_DESC_ID=={sim['setup']['wvr_spw']}")
    shape, a1, a2, proc = (
        q.getcell("DATA", 0).shape,
        q.getcol("ANTENNA1"),
        q.getcol("ANTENNA2"),
        q.getcol("PROCESSOR_ID"),
    )
    q.close()
    tb.close()
    assert shape == (1, 4) and np.all(a1 == a2) and {ptype[p] for p in proc} == {"RADIOMETER"}


def test_gencal_antpos_undoes_the_injected_position_errors(sim, imported, tmp_path):
    from casatasks import gencal
    from casatools import table

    caltable = str(tmp_path / "antpos.cal")
    gencal(vis=imported, caltable=caltable, caltype="antpos", infile=sim["antpos_file"])
    tb = table()
    tb.open(caltable)
    offsets, ants = tb.getcol("FPARAM")[:, 0, :], tb.getcol("ANTENNA1")
    tb.close()
    want = np.array([[-v for v in sim["truth"]["antennas"][a]["position_error_m"]] for a in ants]).T
    assert 1 in ants
    np.testing.assert_allclose(offsets, want, atol=1e-6)


def test_tsys_calibration_leaves_the_true_corrupted_source(sim, imported, tmp_path):
    """gencal(tsys) + applycal (TDM -> FDM) multiply DATA by sqrt(Tsys_i Tsys_j): what is left is
    g_i g_j* B_i B_j* exp(i phase) S, times the line's normalisation depression."""
    from casatasks import applycal, gencal

    truth = sim["truth"]
    vis = str(tmp_path / "cal.ms")
    shutil.copytree(imported, vis)
    tsys = str(tmp_path / "tsys.cal")
    gencal(vis=vis, caltable=tsys, caltype="tsys")
    spws = truth["spws"]
    tdm_of_bb = {s["baseband"]: s["id"] for s in spws if s["type"] == "TDM"}
    spwmap = [tdm_of_bb.get(s["baseband"], s["id"]) for s in spws]
    fdm = [s["id"] for s in spws if s["type"] == "FDM"]
    for f in truth["fields"]:
        applycal(
            vis=vis,
            field=f["name"],
            spw=",".join(map(str, fdm)),
            gaintable=[tsys],
            gainfield=[f["name"]],
            spwmap=[spwmap],
            interp=["linear,linear"],
            calwt=[False],
            flagbackup=False,
        )
    fields = {f["name"]: f for f in truth["fields"]}
    wet, pos = truth["wet_path"], truth["antenna_positions"]
    for v in read_visibilities(Path(vis), truth, column="CORRECTED_DATA"):
        if v.truth_spw["type"] != "FDM":
            continue
        spw = v.truth_spw["id"]
        ti = time_index(wet["times_mjd_s"], v)
        path = (
            np.asarray(wet["path_m"])[:, :, None]
            * np.asarray(wet["dispersive_ratio"][str(spw)])[None, None, :]
            + np.asarray(pos["path_error_m"])[:, :, None]
        )  # [ant, time, chan]
        phase = np.exp(
            1j
            * wet["phase_sign"]
            * 2
            * np.pi
            * v.freq_hz
            / C_LIGHT
            * (path[v.ant1, ti] - path[v.ant2, ti])
        )
        for name in set(v.field):
            sel = v.field == name
            f = fields[name]
            sub = dataclasses.replace(
                v,
                time=v.time[sel],
                ant1=v.ant1[sel],
                ant2=v.ant2[sel],
                field=v.field[sel],
                data=v.data[sel],
                flag=v.flag[sel],
            )
            model = (
                true_corruption(truth, sub)
                * phase[sel][:, :, None]
                * source_spectrum(f, v.freq_hz)[None, :, None]
                * normalisation_depression(truth, f, spw, sub.ant1, sub.ant2)
            )
            ratio = sub.data / model
            profile = ratio.mean(axis=0)  # noise averaged down over rows
            # what is left is the noise: sigma / S per real and imaginary part, averaged over the rows
            tol = (
                6
                * truth["noise_sigma_jy"]
                / source_spectrum(f, v.freq_hz).min()
                / math.sqrt(len(sub.time))
            )
            # except at the O3 line, where the linear TDM -> FDM interpolation of Tsys is coarse
            o3 = np.zeros(v.freq_hz.size, bool)
            for line in truth["tsys"]["atm_lines"]:
                o3 |= np.abs(v.freq_hz - line["freq_hz"]) < 1.5 * line["fwhm_hz"]
            assert np.median(np.abs(ratio)) == pytest.approx(1.0, abs=tol), (spw, name)
            assert np.max(np.abs(np.abs(profile[~o3]) - 1)) < tol, (spw, name)
            assert np.max(np.abs(np.angle(profile))) < tol, (spw, name)
            assert np.max(np.abs(np.abs(profile[o3]) - 1), initial=0) < 0.03, (spw, name)


def test_faults_change_only_their_antenna_and_say_where(sim):
    """almasim.faults on the tiny EB's model: each fault on its antenna, the rest untouched."""
    import copy

    from almasim.faults import apply_faults

    setup, model = copy.deepcopy(sim["setup"]), copy.deepcopy(sim["model"])
    before = copy.deepcopy(model)
    spw = setup["corr_spws"][0]
    centre = float(setup["spws"][spw]["freqs"][5]) / 1e9
    setup["ebp"] = {
        **setup["ebp"],
        "faults": [
            {"kind": "phase_jump", "antenna": "DA42", "deg": 90.0, "at_s": 60.0},
            {"kind": "low_gain", "antenna": "DA44", "factor": 0.6},
            {"kind": "high_tsys", "antenna": "DA45", "factor": 2.0},
            {"kind": "noisy", "antenna": "DA41", "factor": 3.0},
            {
                "kind": "birdie",
                "antenna": "DA41",
                "centre_ghz": centre,
                "width_mhz": 1e-3,
                "tsys_factor": 3.0,
            },
        ],
    }
    truth = apply_faults(setup, model)
    later = setup["times"] - setup["times"][0] >= 60.0
    step = np.angle(model["gains"][1] / before["gains"][1], deg=True)
    assert np.allclose(step[:, later], 90.0) and np.allclose(step[:, ~later], 0.0, atol=1e-9)
    assert np.allclose(np.abs(model["gains"][2] / before["gains"][2]), 0.6)
    assert np.allclose(model["gains"][[0, 3]], before["gains"][[0, 3]])
    field = next(iter(model["tsys"]))
    ratio = model["tsys"][field][spw] / before["tsys"][field][spw]  # [ant, pol, chan]
    assert np.allclose(ratio[3], 2.0) and np.allclose(ratio[[1, 2]], 1.0)
    assert np.allclose(ratio[0, :, 5], 3.0) and np.allclose(np.delete(ratio[0], 5, axis=1), 1.0)
    assert list(setup["noise_factor"]) == [3.0, 1.0, 1.0, 1.0]
    assert truth[0]["at_mjd_s"] == setup["times"][np.argmax(later)]
    assert truth[4]["channels"][str(spw)] == [5, 5]
    with pytest.raises(ValueError, match="antenna not in the EB"):
        apply_faults({**setup, "ebp": {"faults": [{"kind": "noisy", "antenna": "XX"}]}}, model)
