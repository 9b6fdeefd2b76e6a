"""Flux models: the flux file where it has rows; a solar-system body's Butler-JPL-Horizons 2012
model; the ASDM Source table where the flux file has no rows."""

import json

import numpy as np
import pytest
from truth import DEMO_EBS, MOUS, field_truth, load_truth, product, source_spectrum

pytestmark = pytest.mark.workflow

SOURCE_TABLE_EB = DEMO_EBS[2]  # config/flux.csv has no rows for it


SOLAR_SYSTEM_EB = DEMO_EBS[1]  # its flux calibrator is Ceres


def flux_calibrator(truth: dict) -> dict:
    return next((f for f in truth["fields"] if f["role"] == "flux"), field_truth(truth, "bandpass"))


@pytest.mark.parametrize("eb", DEMO_EBS)
def test_flux_model_values_and_their_origin(eb, demo_run):
    truth = load_truth(eb)
    field = flux_calibrator(truth)
    models = json.loads(product(eb, ".ms.split.setjy.json", root=demo_run).read_text())["models"]
    assert {m["spw"] for m in models} == {s["id"] for s in truth["spws"] if s["type"] == "FDM"}
    if eb == SOLAR_SYSTEM_EB:  # the injected visibilities are setjy's model of Ceres
        assert field["model"] == "Butler-JPL-Horizons 2012"
        for m in models:
            assert m["field"] == "Ceres" and m["source"] == "Butler-JPL-Horizons 2012"
            assert m["fluxdensity_jy"][0] == pytest.approx(
                field["model_flux_jy"][str(m["spw"])], rel=1e-4
            )
        return
    for m in models:
        freq = float(m["reffreq"].removesuffix("GHz")) * 1e9
        assert m["field"] == field["name"]
        assert m["fluxdensity_jy"][0] == pytest.approx(source_spectrum(field, freq), rel=1e-5)
        assert m["spix"] == pytest.approx(field["spix"], abs=1e-3)
        want = "ASDM Source table" if eb == SOURCE_TABLE_EB else "flux.csv"
        assert m["source"] == want


def test_source_table_fallback_is_reported_and_calibrates(demo_run):
    commands = demo_run / "logs" / MOUS / SOURCE_TABLE_EB / "setjy_flux_model.casa_commands.py"
    text = commands.read_text()
    assert text.count("using the ASDM Source table flux density") == 2
    truth = load_truth(SOURCE_TABLE_EB)
    phase = field_truth(truth, "phase")
    fluxes = json.loads(
        product(SOURCE_TABLE_EB, ".ms.split.fluxscale.json", root=demo_run).read_text()
    )
    for spw, entry in fluxes["fields"][phase["name"]]["spws"].items():
        want = source_spectrum(phase, entry["freq_hz"])
        assert abs(entry["flux_jy"] / want - 1) < 0.01, f"spw {spw}: {entry['flux_jy']} vs {want}"
    metadata = json.loads(product(SOURCE_TABLE_EB, ".ms.metadata.json", root=demo_run).read_text())
    sources = {(e["source"], e["spw"]) for e in metadata["source_fluxes"]}
    assert (field_truth(truth, "bandpass")["name"], 1) in sources
    assert np.isfinite([e["I"] for e in metadata["source_fluxes"]]).all()


def test_solar_system_flux_scale_reaches_the_other_calibrators(demo_run):
    """Ceres (a resolved disc, setjy Butler-JPL-Horizons 2012) sets the flux scale of the EB:
    fluxscale must give the bandpass and phase calibrators their injected flux densities."""
    truth = load_truth(SOLAR_SYSTEM_EB)
    fluxes = json.loads(
        product(SOLAR_SYSTEM_EB, ".ms.split.fluxscale.json", root=demo_run).read_text()
    )
    assert fluxes["reference"] == ["Ceres"]
    for role in ("bandpass", "phase"):
        field = field_truth(truth, role)
        for spw, entry in fluxes["fields"][field["name"]]["spws"].items():
            want = source_spectrum(field, entry["freq_hz"])
            assert abs(entry["flux_jy"] / want - 1) < 0.01, f"{role} spw {spw}: {entry['flux_jy']}"
