"""Amplitude renormalisation, against the injected truth.

The demo target carries a bright extended line (resources/demo_mous.yaml): its total power raises
the autocorrelations, so the correlator's normalisation depresses the line channels of the
cross-correlations by about Tsys/(Tsys + Tline), 15-20 % at the peak. The renorm table must
restore them within 0.5 % of the injected spectrum; a line-free target gets no table.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from truth import (
    DEMO_EBS,
    ROOT,
    field_truth,
    line_profile,
    load_truth,
    normalisation_depression,
    product,
    read_visibilities,
    source_spectrum,
)
from workdir import run_workflow

pytestmark = pytest.mark.workflow


def target_spectrum(vis, field):
    """Vector average over rows and correlations of the unflagged target visibilities [chan]."""
    rows = vis.field == field["name"]
    data = np.ma.masked_array(vis.data[rows], vis.flag[rows])
    return data.mean(axis=(0, 2)).filled(np.nan)


@pytest.mark.parametrize("eb", DEMO_EBS)
def test_renorm_restores_target_line_channels(eb, demo_run):
    truth = load_truth(eb)
    target = field_truth(truth, "target")
    decision = json.loads(product(eb, ".ms.split.renorm.json", root=demo_run).read_text())
    assert decision["apply"] and product(eb, ".ms.split.renorm.tbl", root=demo_run).is_dir()
    checked = 0
    for vis in read_visibilities(product(eb, ".ms.split.cal", root=demo_run), truth):
        profile = line_profile(target, vis.freq_hz)
        line = profile > 0.1
        if not line.any():
            continue
        ratio = target_spectrum(vis, target).real / source_spectrum(target, vis.freq_hz)
        continuum = np.nanmedian(ratio[profile < 1e-3])  # flux scale and decorrelation out
        error = ratio[line] / continuum - 1
        assert np.max(np.abs(error)) < 0.005, f"line channels off by {error.round(4)}"
        # without the step they would be off by far more than the tolerance
        rows = vis.field == target["name"]
        depression = normalisation_depression(
            truth, target, vis.truth_spw["id"], vis.ant1[rows], vis.ant2[rows]
        ).mean(axis=(0, 2))
        assert np.max(1 - depression[line]) > 0.1
        checked += int(line.sum())
    assert checked >= 5


@pytest.mark.parametrize("eb", DEMO_EBS)
def test_renorm_factors_match_injected_total_power(eb, demo_run):
    """Per antenna and correlation, R = 1 + Tline/Tsys of the target (Tsys from the truth)."""
    truth = load_truth(eb)
    target = field_truth(truth, "target")
    decision = json.loads(product(eb, ".ms.split.renorm.json", root=demo_run).read_text())
    spectra = np.load(product(eb, ".ms.split.renorm.npz", root=demo_run))
    for spw, stats in decision["fields"][target["name"]].items():
        freq = np.asarray(truth["spws"][int(spw)]["chan_freq_hz"])
        tsys = np.asarray(truth["tsys"]["field"][target["name"]]["spw"][spw])  # [ant, pol, chan]
        tline = target["line"]["antenna_temperature_k"] * line_profile(target, freq)
        want = 1 + tline[None, None, :] / tsys
        excluded = decision["excluded_channels"][spw]
        use = np.ones(freq.size, bool)
        use[: excluded["edge"]] = use[freq.size - excluded["edge"] :] = False
        use[excluded["atmospheric_lines"]] = False
        for scan, entry in stats["scans"].items():
            for fid in entry["fields"]:
                got = spectra[f"{target['name']}/{spw}/{scan}/{fid}"]
                assert np.max(np.abs(got - want)[:, :, use]) < 0.005, f"spw {spw} scan {scan}"
        # the figures, from factors each within 0.005 of the truth: the pipeline's (per antenna
        # and correlation the peak over channels, mean over antennas and correlations) and the
        # peak of the antenna median
        truth_peak = want[:, :, use].max(axis=2).mean()
        assert stats["max_rn"] == pytest.approx(truth_peak, abs=0.005)
        truth_median = np.median(want[:, :, use], axis=(0, 1)).max()
        assert stats["max_median_rn"] == pytest.approx(truth_median, abs=0.005)


def test_line_free_target_gets_no_renorm_table(tmp_path):
    """The demo's first EB simulated without the target line: factors reported below 1.02, no
    table, the final applycal without it."""
    eb, mous = DEMO_EBS[0], "uid___A001_Xdemo_X1"
    params = yaml.safe_load((ROOT / "resources/demo_mous.yaml").read_text())
    params["execution_blocks"] = [e for e in params["execution_blocks"] if e["name"] == eb]
    for field in params["fields"]:
        field.pop("line", None)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources/demo_mous.yaml").write_text(yaml.safe_dump(params))
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    entry = config["mous"][mous]
    entry["ebs"] = {eb: entry["ebs"][eb]}
    (tmp_path / "config/config.yaml").write_text(yaml.safe_dump(config))
    product_path = f"results/{mous}/{eb}/{eb}.ms.split.cal"
    run_workflow(tmp_path, product_path)
    result = tmp_path / f"results/{mous}/{eb}/{eb}"
    decision = json.loads(Path(f"{result}.ms.split.renorm.json").read_text())
    assert not decision["apply"], decision["decision"]
    assert decision["max_rn"] < 1.02
    for per_spw in decision["fields"].values():
        assert all(s["max_rn"] < 1.02 for s in per_spw.values())
    assert not Path(f"{result}.ms.split.renorm.tbl").exists()
    plan = json.loads(Path(f"{result}.ms.split.cal.json").read_text())["applycal"]
    assert not any("renorm" in table for step in plan for table in step["gaintable"])
