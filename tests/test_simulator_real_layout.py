"""The simulator's real ALMA raw layout (resources/real_layout_mous.yaml), checked after importasdm.

The one EB of the real-layout test MOUS is simulated once per module with almasim.simulate_eb
(which itself verifies the round trip against the MS it wrote) and imported with importasdm as
the workflow imports it; the tests check the layout ALMA's raw data have and the known answers
injected into it: spw 0 WVR#NOMINAL, FULL_RES windows with their CH_AVG twins (the channel
average, observed in the same scans) in four basebands, pointing and sideband-ratio scans on the
bandpass calibrator, 7 m antennas without WVR rows, a 3-pointing mosaic and a second target, a
check source off its catalogued position, a phase calibrator without ATMOSPHERE scans carrying
the Tsys of its own elevation, and the truth file that states all of it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import read_visibilities, source_spectrum, time_index, true_corruption

from almasim import data as sim_data
from almasim import setup as sim_setup
from almasim import simulate_eb

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "resources" / "real_layout_mous.yaml"
EB = "uid___A002_Xreal_X1"
C_LIGHT = 299792458.0
ARCSEC = math.pi / 180 / 3600
ALMA_NAME = re.compile(r"^X\d+#ALMA_RB_06#BB_([1-4])#SW-01#(FULL_RES|CH_AVG)$")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The real-layout EB simulated (ASDM, truth) and imported with importasdm."""
    from casatasks import casalog, importasdm

    work = tmp_path_factory.mktemp("real_layout")
    params = yaml.safe_load(PARAMS.read_text())
    asdm, truth = work / EB, work / f"{EB}.truth.json"
    # in chunks of 2^14 visibilities (a few dozen rows), so that the chunked writing and
    # verification a large EB takes are what these tests check against the truth
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sim_data, "CHUNK_VISIBILITIES", 2**14)
        simulate_eb(
            params=params,
            eb=EB,
            asdm=str(asdm),
            truth=str(truth),
            antpos_json=str(work / f"{EB}.antennapos.json"),
            log=str(work / "simulate.casa.log"),
        )
    cwd = os.getcwd()
    os.chdir(work)  # CASA tasks drop stray files in the working directory
    try:
        casalog.setlogfile(str(work / "casa.log"))
        vis = work / f"{EB}.ms"
        importasdm(asdm=str(asdm), vis=str(vis))
    finally:
        os.chdir(cwd)
    return {"params": params, "asdm": asdm, "ms": vis, "truth": json.loads(truth.read_text())}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _columns(path: Path, *columns: str) -> dict[str, np.ndarray]:
    from casatools import table

    tb = table()
    tb.open(str(path))
    out = {c: tb.getcol(c) for c in columns}
    tb.close()
    return out


def _spw_table(ms: Path) -> list[dict]:
    from casatools import table

    tb = table()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    rows = [
        {
            "id": r,
            "name": str(tb.getcell("NAME", r)),
            "nchan": int(tb.getcell("NUM_CHAN", r)),
            "bbc": int(tb.getcell("BBC_NO", r)),
            "freqs": tb.getcell("CHAN_FREQ", r),
            "widths": tb.getcell("CHAN_WIDTH", r),
            "bandwidth": float(tb.getcell("TOTAL_BANDWIDTH", r)),
        }
        for r in range(tb.nrows())
    ]
    tb.close()
    return rows


def _rows(ms: Path, spw: int) -> dict[str, np.ndarray]:
    """Every row of one spw (cross and auto), sorted by time and baseline."""
    from casatools import table

    dd = _columns(Path(f"{ms}/DATA_DESCRIPTION"), "SPECTRAL_WINDOW_ID")["SPECTRAL_WINDOW_ID"]
    ddi = int(np.nonzero(dd == spw)[0][0])
    tb = table()
    tb.open(str(ms))
    q = tb.query(f"DATA_DESC_ID=={ddi}", sortlist="TIME,ANTENNA1,ANTENNA2")
    out = {c: q.getcol(c) for c in ("TIME", "ANTENNA1", "ANTENNA2", "SCAN_NUMBER", "FIELD_ID")}
    out["DATA"] = q.getcol("DATA")  # [pol, chan, row]
    q.close()
    tb.close()
    return out


def _scan_info(ms: Path) -> dict[int, dict]:
    from casatools import msmetadata

    msmd = msmetadata()
    msmd.open(str(ms))
    try:
        return {
            int(s): {
                "fields": sorted(int(f) for f in msmd.fieldsforscan(s)),
                "spws": sorted(int(w) for w in msmd.spwsforscan(s)),
                "intents": sorted(msmd.intentsforscan(s)),
                "times": msmd.timesforscan(s),
            }
            for s in msmd.scannumbers()
        }
    finally:
        msmd.close()


def _field_names(ms: Path) -> list[str]:
    return [str(n) for n in _columns(Path(f"{ms}/FIELD"), "NAME")["NAME"]]


def _scans_with(scans: dict, intent: str) -> list[int]:
    return [s for s, v in scans.items() if any(i.startswith(intent + "#") for i in v["intents"])]


# ---------------------------------------------------------------------------------------------
# spectral windows
# ---------------------------------------------------------------------------------------------
def test_spw_0_is_wvr_and_every_window_has_an_alma_name_and_a_ch_avg_twin(real):
    spws = _spw_table(real["ms"])
    assert (spws[0]["name"], spws[0]["nchan"], spws[0]["bbc"]) == ("WVR#NOMINAL", 4, 0)
    assert len(spws) == 25
    for full, twin in zip(spws[1::2], spws[2::2]):
        m_full, m_twin = ALMA_NAME.match(full["name"]), ALMA_NAME.match(twin["name"])
        assert m_full and m_full.group(2) == "FULL_RES", full["name"]
        assert m_twin and m_twin.group(2) == "CH_AVG", twin["name"]
        assert twin["name"] == full["name"].replace("#FULL_RES", "#CH_AVG")
        assert full["bbc"] == twin["bbc"] == int(m_full.group(1))
        assert twin["nchan"] == 1 and full["nchan"] > 1
        assert twin["freqs"][0] == pytest.approx(np.mean(full["freqs"]), abs=1.0)
        assert twin["widths"][0] == pytest.approx(full["bandwidth"], abs=1.0)
    truth = {s["id"]: s for s in real["truth"]["spws"]}
    assert truth[0]["type"] == "WVR"
    assert [s["id"] for s in truth.values() if s["ch_avg"]] == list(range(2, 25, 2))
    assert all(truth[s]["full_res_spw"] == s - 1 for s in range(2, 25, 2))


def test_four_science_spws_in_four_basebands_each_with_a_tsys_spw(real):
    from casatools import msmetadata

    spws = _spw_table(real["ms"])
    msmd = msmetadata()
    msmd.open(str(real["ms"]))
    science = sorted(int(w) for w in msmd.spwsforintent("OBSERVE_TARGET#ON_SOURCE"))
    tsys = sorted(int(w) for w in msmd.spwsforintent("CALIBRATE_ATMOSPHERE#ON_SOURCE"))
    msmd.close()
    assert science == [0, *range(17, 25)]  # the WVR window observes in every scan
    assert tsys == [0, *range(9, 17)]
    truth = {s["id"]: s for s in real["truth"]["spws"]}
    full_science = [w for w in science if w and not truth[w]["ch_avg"]]
    full_tsys = [w for w in tsys if w and not truth[w]["ch_avg"]]
    assert full_science == [17, 19, 21, 23] and full_tsys == [9, 11, 13, 15]
    assert [spws[w]["bbc"] for w in full_science] == [1, 2, 3, 4]
    assert {truth[w]["type"] for w in full_science} == {"FDM"}
    assert {truth[w]["type"] for w in full_tsys} == {"TDM"}
    for w, t in zip(full_science, full_tsys):
        assert spws[t]["bbc"] == spws[w]["bbc"]
        assert spws[w]["nchan"] > spws[t]["nchan"]
        # the Tsys spw covers the science spw (Tsys is interpolated in frequency)
        lo, hi = spws[t]["freqs"][0], spws[t]["freqs"][-1]
        assert lo <= spws[w]["freqs"][0] and spws[w]["freqs"][-1] <= hi


def test_ch_avg_twins_are_observed_in_the_same_scans_and_carry_the_channel_average(real):
    scans = _scan_info(real["ms"])
    for full in range(1, 25, 2):
        twin = full + 1
        assert [s for s, v in scans.items() if full in v["spws"]] == [
            s for s, v in scans.items() if twin in v["spws"]
        ]
        f, t = _rows(real["ms"], full), _rows(real["ms"], twin)
        for col in ("TIME", "ANTENNA1", "ANTENNA2", "SCAN_NUMBER", "FIELD_ID"):
            assert np.array_equal(f[col], t[col]), (twin, col)
        mean = f["DATA"].astype(np.complex128).mean(axis=1)  # cross and auto rows
        err = np.abs(t["DATA"][:, 0, :] - mean) / np.max(np.abs(mean))
        assert err.max() < 1e-6, twin
        assert np.any(f["ANTENNA1"] == f["ANTENNA2"]) and np.any(f["ANTENNA1"] != f["ANTENNA2"])


# ---------------------------------------------------------------------------------------------
# scans and intents
# ---------------------------------------------------------------------------------------------
def test_pointing_and_sideband_ratio_scans_are_short_tdm_scans_on_the_bandpass_calibrator(real):
    scans = _scan_info(real["ms"])
    names = _field_names(real["ms"])
    bandpass = _scans_with(scans, "CALIBRATE_BANDPASS")
    spws = {s["id"]: s for s in real["truth"]["spws"]}
    for intent in ("CALIBRATE_POINTING", "CALIBRATE_SIDEBAND_RATIO"):
        found = _scans_with(scans, intent)
        assert found, intent
        for s in found:
            v = scans[s]
            assert [names[f] for f in v["fields"]] == ["J1256-0547"]
            assert [i.split("#")[0] for i in v["intents"]] == [intent]
            assert np.ptp(v["times"]) <= 30.0
            assert v["spws"] == [0, *range(1, 9)]  # the calibration (TDM) setup and twins
            assert {spws[w]["type"] for w in v["spws"][1:]} == {"TDM"}
            assert s < min(bandpass)
    assert set(names[f] for s in bandpass for f in scans[s]["fields"]) == {"J1256-0547"}
    # SYSCAL holds the ATMOSPHERE scans only
    atm_times = np.concatenate(
        [scans[s]["times"] for s in _scans_with(scans, "CALIBRATE_ATMOSPHERE")]
    )
    syscal = _columns(Path(f"{real['ms']}/SYSCAL"), "TIME", "SPECTRAL_WINDOW_ID")
    assert np.all(np.min(np.abs(syscal["TIME"][:, None] - atm_times[None, :]), axis=1) < 10.0)
    assert sorted(set(syscal["SPECTRAL_WINDOW_ID"].tolist())) == [9, 11, 13, 15]


def test_the_target_is_a_three_pointing_mosaic_and_a_second_target_another_source(real):
    names = _field_names(real["ms"])
    field = _columns(Path(f"{real['ms']}/FIELD"), "SOURCE_ID", "PHASE_DIR")
    mosaic = [i for i, n in enumerate(names) if n == "RealTargetA"]
    assert len(mosaic) == 3
    assert len({int(field["SOURCE_ID"][i]) for i in mosaic}) == 1
    other = [i for i, n in enumerate(names) if n == "RealTargetB"]
    assert len(other) == 1 and field["SOURCE_ID"][other[0]] != field["SOURCE_ID"][mosaic[0]]
    # pointing centres at the injected offsets from the first pointing
    ra, dec = field["PHASE_DIR"][0, 0, :], field["PHASE_DIR"][1, 0, :]
    truth = {f["id"]: f for f in real["truth"]["fields"]}
    assert real["truth"]["mosaics"] == {"RealTargetA": mosaic}
    for i in mosaic:
        east = (ra[i] - ra[mosaic[0]]) * math.cos(dec[mosaic[0]]) / ARCSEC
        north = (dec[i] - dec[mosaic[0]]) / ARCSEC
        assert [east, north] == pytest.approx(truth[i]["mosaic_offset_arcsec"], abs=1e-3)
        assert truth[i]["role"] == "target" and truth[i]["pointing"] == mosaic.index(i) + 1
    # a mosaic scan visits the pointings in turn (one subscan each), all OBSERVE_TARGET
    scans = _scan_info(real["ms"])
    rows = _rows(real["ms"], 17)
    visits = [s for s, v in scans.items() if v["fields"] == mosaic]
    assert len(visits) == 2
    for s in visits:
        assert [i.split("#")[0] for i in scans[s]["intents"]] == ["OBSERVE_TARGET"]
        spans = [
            (rows["TIME"][sel].min(), rows["TIME"][sel].max())
            for sel in ((rows["SCAN_NUMBER"] == s) & (rows["FIELD_ID"] == i) for i in mosaic)
        ]
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), spans


def test_the_check_source_is_interleaved_with_the_targets(real):
    scans = _scan_info(real["ms"])
    names = _field_names(real["ms"])
    check = _scans_with(scans, "OBSERVE_CHECK_SOURCE")
    target = _scans_with(scans, "OBSERVE_TARGET")
    assert len(check) >= 2
    assert {names[f] for s in check for f in scans[s]["fields"]} == {"J1743-0350"}
    for s in check:
        assert any(t < s for t in target) and any(t > s for t in target)
        assert scans[s]["spws"] == [0, *range(17, 25)]


# ---------------------------------------------------------------------------------------------
# antennas
# ---------------------------------------------------------------------------------------------
def test_the_12m_array_has_two_7m_antennas_without_wvr_rows(real):
    ant = _columns(Path(f"{real['ms']}/ANTENNA"), "NAME", "DISH_DIAMETER")
    names = [str(n) for n in ant["NAME"]]
    seven = [n for n, d in zip(names, ant["DISH_DIAMETER"]) if d == 7.0]
    twelve = [n for n, d in zip(names, ant["DISH_DIAMETER"]) if d == 12.0]
    assert len(names) >= 16 and len(seven) == 2 and len(twelve) == len(names) - 2
    assert all(n.startswith("CM") for n in seven)
    truth = real["truth"]
    assert truth["antennas_7m"] == truth["antennas_without_wvr"] == seven
    wvr = _rows(real["ms"], 0)
    assert np.all(wvr["ANTENNA1"] == wvr["ANTENNA2"])
    assert sorted({names[a] for a in wvr["ANTENNA1"]}) == sorted(twelve)
    # the 7 m antennas are in the correlator data, on baselines to every antenna
    science = _rows(real["ms"], 17)
    baselines = {tuple(b) for b in zip(science["ANTENNA1"], science["ANTENNA2"])}
    n = len(names)
    assert len(baselines) == n * (n + 1) // 2
    # the wvrgcal parameters of the truth: interpolated antennas are the 7 m ones
    assert all(not a["has_wvr"] for a in truth["antennas"] if a["name"] in seven)


# ---------------------------------------------------------------------------------------------
# known answers in the data
# ---------------------------------------------------------------------------------------------
def _truth_corrected(ms: Path, truth: dict, field: str, spw: int):
    """Cross-correlations of ``field`` in ``spw`` with the injected corruptions (gains,
    bandpass, Tsys, wet path, antenna-position path) divided out: S * (the source's visibility
    relative to a point at the phase centre) + noise. Returns the Visibilities and UVW (m)."""
    from casatools import table

    vis = next(v for v in read_visibilities(ms, truth) if v.truth_spw["id"] == spw)
    sel = vis.field == field
    tb = table()
    tb.open(str(ms))
    dd = _columns(Path(f"{ms}/DATA_DESCRIPTION"), "SPECTRAL_WINDOW_ID")["SPECTRAL_WINDOW_ID"]
    q = tb.query(f"DATA_DESC_ID=={int(np.nonzero(dd == spw)[0][0])} && ANTENNA1!=ANTENNA2")
    uvw = q.getcol("UVW").T
    q.close()
    tb.close()
    tsys = np.asarray(truth["tsys"]["field"][field]["spw"][str(spw)])  # [ant, pol, chan]
    norm = np.sqrt(
        np.transpose(tsys[vis.ant1], (0, 2, 1)) * np.transpose(tsys[vis.ant2], (0, 2, 1))
    )
    wet, pos = truth["wet_path"], truth["antenna_positions"]
    ti = time_index(wet["times_mjd_s"], vis)
    path = (
        np.asarray(wet["path_m"])[:, :, None] * np.asarray(wet["dispersive_ratio"][str(spw)])
        + np.asarray(pos["path_error_m"])[:, :, None]
    )  # [ant, time, chan]
    dpath = path[vis.ant1, ti, :] - path[vis.ant2, ti, :]  # [row, chan]
    atm = np.exp(1j * wet["phase_sign"] * 2 * np.pi * vis.freq_hz / C_LIGHT * dpath)
    corrected = vis.data * norm / (true_corruption(truth, vis) * atm[:, :, None])
    return vis, corrected[sel], uvw[sel], sel


def test_the_check_source_lies_at_its_injected_offset_from_the_phase_centre(real):
    """Phase slope across the uv plane: V = S exp(+2 pi i (u l + v m)) on the MS UVW (CASA's
    sign convention; the image test below checks it) with (l, m) the injected offset (east,
    north), fitted by least squares on the phases of all four science spws, and the amplitude
    the injected flux density."""
    truth = real["truth"]
    (check,) = truth["check_sources"]
    assert 0.05 <= math.hypot(*check["position_offset_arcsec"]) <= 0.2
    field = next(f for f in truth["fields"] if f["id"] == check["field_id"])
    rows_a, rows_b = [], []
    for spw in (17, 19, 21, 23):
        vis, v, uvw, _sel = _truth_corrected(real["ms"], truth, check["name"], spw)
        expected = source_spectrum(field, vis.freq_hz)
        assert np.median(np.abs(v), axis=(0, 2)) == pytest.approx(expected, rel=0.01)
        u = uvw[:, 0, None] * vis.freq_hz[None, :] / C_LIGHT  # [row, chan] wavelengths
        w = uvw[:, 1, None] * vis.freq_hz[None, :] / C_LIGHT
        for p in range(v.shape[2]):
            rows_a.append(np.stack([u.ravel(), w.ravel()], axis=1))
            rows_b.append(np.angle(v[:, :, p]).ravel() / (2 * np.pi))
    lm, *_ = np.linalg.lstsq(np.concatenate(rows_a), np.concatenate(rows_b), rcond=None)
    fitted = lm / ARCSEC
    assert fitted == pytest.approx(check["position_offset_arcsec"], abs=0.003)
    # the truth's true position is the phase centre moved by the offset
    centre, true = check["phase_centre"], check["true_position"]
    dec0 = math.radians(centre["dec_deg"])
    east = (true["ra_deg"] - centre["ra_deg"]) * 3600 * math.cos(dec0)
    north = (true["dec_deg"] - centre["dec_deg"]) * 3600
    assert [east, north] == pytest.approx(check["position_offset_arcsec"], abs=1e-4)


def test_an_image_of_the_check_source_peaks_at_its_true_position(real, tmp_path):
    """The sign convention, independently of the fit above: tclean's dirty image of the
    truth-corrected check source peaks the injected offset east and north of the centre."""
    from casatasks import split, tclean
    from casatools import image, table

    truth = real["truth"]
    (check,) = truth["check_sources"]
    spw = 17
    small = tmp_path / "check.ms"
    split(
        vis=str(real["ms"]),
        outputvis=str(small),
        field=str(check["field_id"]),
        spw=str(spw),
        datacolumn="data",
    )
    _vis, v, _uvw, _sel = _truth_corrected(real["ms"], truth, check["name"], spw)
    tb = table()
    tb.open(str(small), nomodify=False)
    q = tb.query("ANTENNA1!=ANTENNA2", sortlist="TIME,ANTENNA1,ANTENNA2")
    q.putcol("DATA", np.transpose(v, (2, 1, 0)).astype(np.complex64))
    q.close()
    tb.close()
    cell, n = 0.02, 64
    tclean(
        vis=str(small),
        imagename=str(tmp_path / "check"),
        imsize=n,
        cell=f"{cell}arcsec",
        niter=0,
        specmode="mfs",
        datacolumn="data",
        weighting="natural",
    )
    ia = image()
    ia.open(str(tmp_path / "check.image"))
    stats = ia.statistics()
    ia.close()
    x, y = stats["maxpos"][:2]
    east, north = -(x - n // 2) * cell, (y - n // 2) * cell  # RA grows to the left
    assert [east, north] == pytest.approx(check["position_offset_arcsec"], abs=cell)
    shutil.rmtree(small, ignore_errors=True)


def test_the_phase_calibrator_has_no_atmosphere_scans_and_carries_its_own_tsys(real, tmp_path):
    """No ATMOSPHERE scan (hence no Tsys solution) on J1733-1304; its autocorrelations carry
    the Tsys at its own elevation (|g|^2 |B|^2 Tsys / auto_ref_k), which equals the targets'
    within 1 %; the bandpass calibrator's differs from the targets' by more than 20 %."""
    from casatasks import gencal

    truth = real["truth"]
    ms = real["ms"]
    scans = _scan_info(ms)
    names = _field_names(ms)
    phase = names.index("J1733-1304")
    atm_fields = {f for s in _scans_with(scans, "CALIBRATE_ATMOSPHERE") for f in scans[s]["fields"]}
    assert phase not in atm_fields and names.index("J1743-0350") not in atm_fields
    caltable = tmp_path / "x.tsys"
    gencal(vis=str(ms), caltable=str(caltable), caltype="tsys")
    fields = set(_columns(caltable, "FIELD_ID")["FIELD_ID"].tolist())
    assert phase not in fields and names.index("J1256-0547") in fields
    entry = truth["tsys"]["field"]["J1733-1304"]
    assert entry["tsys_source"] == "own_elevation" and entry["atm_scans"] == []

    spw = 17
    rows = _rows(ms, spw)
    sel = (rows["FIELD_ID"] == phase) & (rows["ANTENNA1"] == rows["ANTENNA2"])
    auto = rows["DATA"][:, :, sel].real  # [pol, chan, row]
    gains = truth["gains"]
    times = np.asarray(gains["times_mjd_s"])
    ti = np.array([np.argmin(np.abs(times - t)) for t in rows["TIME"][sel]])
    ant = rows["ANTENNA1"][sel]
    g2 = np.asarray(gains["amp"])[ant, :, ti] ** 2  # [row, pol]
    b2 = np.asarray(truth["bandpass"]["spw"][str(spw)]["amp"])[ant] ** 2  # [row, pol, chan]
    tsys = auto.transpose(2, 0, 1) * truth["auto_ref_k"] / (g2[:, :, None] * b2)
    true = np.asarray(entry["spw"][str(spw)])[ant]  # [row, pol, chan]
    assert np.max(np.abs(tsys / true - 1)) < 1e-4

    ratios = truth["tsys"]["ratio_to_reference"]
    target = np.asarray(truth["tsys"]["field"]["RealTargetA"]["spw"][str(spw)])
    assert np.median(np.asarray(entry["spw"][str(spw)]) / target) == pytest.approx(
        ratios["J1733-1304"][str(spw)], rel=1e-6
    )
    assert all(abs(r - 1) < 0.01 for r in ratios["J1733-1304"].values())
    assert truth["tsys"]["bandpass_to_target_min"] >= 1.2
    assert min(ratios["J1256-0547"].values()) == truth["tsys"]["bandpass_to_target_min"]


# ---------------------------------------------------------------------------------------------
# truth file and parameters
# ---------------------------------------------------------------------------------------------
def test_the_truth_file_states_roles_spws_fluxes_offsets_and_7m_antennas(real):
    truth = real["truth"]
    assert truth["schema_version"] == 3
    for key in (
        "layout_features",
        "antennas_without_wvr",
        "antennas_7m",
        "field_roles",
        "mosaics",
        "check_sources",
        "ch_avg_description",
        "noise_factor_per_antenna",
    ):
        assert key in truth, key
    assert truth["field_roles"] == {
        "bandpass": ["J1256-0547"],
        "phase": ["J1733-1304"],
        "check": ["J1743-0350"],
        "target": ["RealTargetA", "RealTargetB"],
    }
    names = _field_names(real["ms"])
    assert [f["name"] for f in truth["fields"]] == names  # every mosaic field, in FIELD order
    for f in truth["fields"]:
        assert f["S0_jy"] > 0 and "spix" in f and "true_position" in f and "phase_centre" in f
    check = next(f for f in truth["fields"] if f["role"] == "check")
    assert check["position_offset_arcsec"] == [0.08, -0.12]
    assert check["scan_intents"] == ["OBSERVE_CHECK_SOURCE#ON_SOURCE"]
    spws = _spw_table(real["ms"])
    for s, t in zip(spws, truth["spws"]):
        assert (t["name"], t["nchan"], t["baseband"]) == (s["name"], s["nchan"], s["bbc"])
        assert t["type"] in ("FDM", "TDM", "WVR")
        assert t["ch_avg"] == s["name"].endswith("#CH_AVG")
    n7 = len(truth["antennas_7m"])
    assert truth["noise_factor_per_antenna"]["CM03"] == pytest.approx(12 / 7)
    assert sum(v != 1.0 for v in truth["noise_factor_per_antenna"].values()) == n7


def test_the_raw_layout_parameters_are_refused_when_inconsistent(real):
    params = copy.deepcopy(real["params"])
    for f in params["fields"]:
        if f["name"] == "J1733-1304":
            f.pop("atm_scans")
    with pytest.raises(ValueError, match="J1733-1304 has no atm scan"):
        sim_setup.build_setup(params, EB)
    params = copy.deepcopy(real["params"])
    params["fields"][0]["atm_scans"] = False
    with pytest.raises(ValueError, match="marked atm_scans: false but has atm scans"):
        sim_setup.build_setup(params, EB)
    params = copy.deepcopy(real["params"])
    params["spectral_windows"][1]["name"] = "X1001#ALMA_RB_06#BB_1#SW-01"
    with pytest.raises(ValueError, match="must be named ...#FULL_RES"):
        sim_setup.build_setup(params, EB)


def test_the_demo_ebs_use_none_of_the_real_layout_features():
    """The demo's truth files stay schema 2 (and its ASDMs as they were)."""
    params = yaml.safe_load((ROOT / "resources" / "demo_mous.yaml").read_text())
    for eb in params["execution_blocks"]:
        setup = sim_setup.build_setup(params, eb["name"])
        assert setup["features"] == [], eb["name"]
        assert setup["wvr_spw"] in (None, len(setup["spws"]) - 1)
