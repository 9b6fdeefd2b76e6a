"""Field roles, science spws, the Tsys spw map and the reference antenna from EB metadata."""

from __future__ import annotations

import pytest

from almacal import choices


def spw(spw_id, baseband, first_ghz, last_ghz, nchan, intents):
    return {
        "id": spw_id, "name": f"spw{spw_id}", "nchan": nchan, "baseband": baseband,
        "first_freq_hz": first_ghz * 1e9, "last_freq_hz": last_ghz * 1e9,
        "ref_freq_hz": first_ghz * 1e9, "total_bandwidth_hz": abs(last_ghz - first_ghz) * 1e9,
        "intents": intents,
    }


ATM = ["CALIBRATE_ATMOSPHERE"]
SCI = ["CALIBRATE_BANDPASS", "CALIBRATE_PHASE", "OBSERVE_TARGET"]

# An ALMA-like layout: WVR spw 0, then per baseband a TDM (Tsys) spw and an FDM science spw,
# with baseband 2's Tsys spw listed after both science spws and one decoy TDM spw elsewhere.
METADATA = {
    "ms": "uid___A002_Xtest_X1.ms",
    "spws": [
        spw(0, 0, 183.0, 183.3, 4, ["CALIBRATE_ATMOSPHERE"]),
        spw(1, 1, 229.0, 231.0, 128, ATM),
        spw(2, 1, 229.5, 230.4, 960, SCI),
        spw(3, 2, 244.0, 245.0, 960, SCI),
        spw(4, 3, 243.0, 246.0, 128, ATM),  # covers spw 3 in frequency, wrong baseband
        spw(5, 2, 243.2, 245.2, 128, ATM),
    ],
    "fields": [
        {"id": 0, "name": "J1924-2914", "intents": ["CALIBRATE_BANDPASS", "CALIBRATE_FLUX"]},
        {"id": 1, "name": "J1733-1304", "intents": ["CALIBRATE_PHASE"]},
        {"id": 2, "name": "Target", "intents": ["OBSERVE_TARGET"]},
    ],
    "antennas": [
        {"name": "DA41", "itrf_m": [2225100.0, -5440000.0, -2481600.0]},
        {"name": "DA42", "itrf_m": [2225000.0, -5440100.0, -2481500.0]},
        {"name": "DV01", "itrf_m": [2225061.0, -5440061.0, -2481561.0]},
    ],
}


def test_science_spws_are_those_observed_on_the_target():
    assert choices.science_spws(METADATA) == [2, 3]


def test_tsys_spwmap_follows_baseband_then_frequency_coverage():
    spwmap = choices.tsys_spwmap(METADATA, tsys_spws=[1, 4, 5])
    assert spwmap[2] == 1
    assert spwmap[3] == 5  # same baseband wins over the decoy that also covers it
    assert spwmap[0] == 0 and spwmap[1] == 1  # unmapped spws map to themselves


def test_tsys_spwmap_config_override_wins():
    assert choices.tsys_spwmap(METADATA, [1, 5], override=[0, 1, 1, 1, 4, 5]) == [0, 1, 1, 1, 4, 5]


def test_field_roles_from_intents_and_overrides():
    roles = choices.field_roles(METADATA)
    assert roles == {
        "bandpass": ["J1924-2914"], "flux": ["J1924-2914"],
        "phase": ["J1733-1304"], "target": ["Target"],
    }
    assert choices.field_roles(METADATA, {"target": "J1733-1304"})["target"] == ["J1733-1304"]


def test_missing_intents_name_the_eb_and_the_fix():
    bare = {**METADATA, "fields": [{**f, "intents": []} for f in METADATA["fields"]]}
    with pytest.raises(ValueError, match=r"uid___A002_Xtest_X1.ms.*field_roles"):
        choices.field_roles(bare)


def test_unknown_field_in_override_is_reported():
    with pytest.raises(ValueError, match="NoSuchField"):
        choices.field_roles(METADATA, {"phase": "NoSuchField"})


def test_refant_is_the_antenna_nearest_the_array_centre():
    assert choices.ranked_refants(METADATA).split(",")[0] == "DV01"
    assert choices.ranked_refants(METADATA, override="DA42") == "DA42"
