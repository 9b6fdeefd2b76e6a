"""Flux models: the flux file where it has rows; the ASDM Source table where it has none."""

import json

import numpy as np
import pytest

from truth import DEMO_EBS, MOUS, ROOT, field_truth, load_truth, product, source_spectrum

SOURCE_TABLE_EB = DEMO_EBS[2]  # config/flux.csv has no rows for it


@pytest.mark.parametrize("eb", DEMO_EBS)
def test_flux_model_values_and_their_origin(eb, demo_run):
    truth = load_truth(eb)
    field = field_truth(truth, "bandpass")
    models = json.loads(product(eb, ".ms.split.setjy.json").read_text())["models"]
    assert {m["spw"] for m in models} == {s["id"] for s in truth["spws"] if s["type"] == "FDM"}
    for m in models:
        freq = float(m["reffreq"].removesuffix("GHz")) * 1e9
        assert m["field"] == field["name"]
        assert m["fluxdensity_jy"][0] == pytest.approx(source_spectrum(field, freq), rel=1e-5)
        assert m["spix"] == pytest.approx(field["spix"], abs=1e-3)
        want = "ASDM Source table" if eb == SOURCE_TABLE_EB else "flux.csv"
        assert m["source"] == want


def test_source_table_fallback_is_reported_and_calibrates(demo_run):
    commands = (ROOT / "logs" / MOUS / SOURCE_TABLE_EB / "setjy_flux_model.casa_commands.py")
    text = commands.read_text()
    assert text.count("using the ASDM Source table flux density") == 2
    truth = load_truth(SOURCE_TABLE_EB)
    phase = field_truth(truth, "phase")
    fluxes = json.loads(product(SOURCE_TABLE_EB, ".ms.split.fluxscale.json").read_text())
    for spw, entry in fluxes["fields"][phase["name"]]["spws"].items():
        want = source_spectrum(phase, entry["freq_hz"])
        assert abs(entry["flux_jy"] / want - 1) < 0.01, f"spw {spw}: {entry['flux_jy']} vs {want}"
    metadata = json.loads(product(SOURCE_TABLE_EB, ".ms.metadata.json").read_text())
    sources = {(e["source"], e["spw"]) for e in metadata["source_fluxes"]}
    assert (field_truth(truth, "bandpass")["name"], 1) in sources
    assert np.isfinite([e["I"] for e in metadata["source_fluxes"]]).all()
