"""An EB's calibration choices from its metadata (almacal.choices): field roles, science and
atmosphere spws, the Tsys spw map, the reference antennas and ``resolve``, which gives them all
with the config overrides. Metadata dicts are made here (no CASA)."""

from __future__ import annotations

import json

import pytest

from almacal import choices

pytestmark = pytest.mark.fast


def spw(spw_id, baseband, first_ghz, last_ghz, nchan, intents, name=""):
    return {
        "id": spw_id,
        "name": name or f"spw{spw_id}",
        "nchan": nchan,
        "baseband": baseband,
        "first_freq_hz": first_ghz * 1e9,
        "last_freq_hz": last_ghz * 1e9,
        "ref_freq_hz": first_ghz * 1e9,
        "total_bandwidth_hz": abs(last_ghz - first_ghz) * 1e9,
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
        {"name": "DA41", "itrf_xyz_m": [2225100.0, -5440000.0, -2481600.0]},
        {"name": "DA42", "itrf_xyz_m": [2225000.0, -5440100.0, -2481500.0]},
        {"name": "DV01", "itrf_xyz_m": [2225061.0, -5440061.0, -2481561.0]},
    ],
    "scans": [],
}


def with_fields(*fields: tuple[str, list[str]]) -> dict:
    return {
        **METADATA,
        "fields": [
            {"id": i, "name": name, "intents": intents} for i, (name, intents) in enumerate(fields)
        ],
    }


# Field roles.


def test_field_roles_from_intents_and_overrides():
    roles = choices.field_roles(METADATA)
    assert roles == {
        "bandpass": ["J1924-2914"],
        "flux": ["J1924-2914"],
        "phase": ["J1733-1304"],
        "target": ["Target"],
        "check": [],
    }
    assert choices.field_roles(METADATA, {"target": "J1733-1304"})["target"] == ["J1733-1304"]


def test_flux_calibrator_defaults_to_the_bandpass_calibrator():
    md = with_fields(
        ("J1924-2914", ["CALIBRATE_BANDPASS"]),
        ("J1733-1304", ["CALIBRATE_PHASE"]),
        ("Target", ["OBSERVE_TARGET"]),
    )
    assert choices.field_roles(md)["flux"] == ["J1924-2914"]


def test_a_separate_flux_calibrator_by_flux_or_amplitude_intent():
    for intent in ("CALIBRATE_FLUX", "CALIBRATE_AMPLI"):
        md = with_fields(
            ("J1924-2914", ["CALIBRATE_BANDPASS"]),
            ("Ceres", [intent]),
            ("J1733-1304", ["CALIBRATE_PHASE"]),
            ("Target", ["OBSERVE_TARGET"]),
        )
        roles = choices.field_roles(md)
        assert roles["flux"] == ["Ceres"] and roles["bandpass"] == ["J1924-2914"]


def test_override_of_one_role_keeps_the_others_from_the_intents():
    roles = choices.field_roles(METADATA, {"phase": ["J1733-1304", "Target"]})
    assert roles["phase"] == ["J1733-1304", "Target"]
    assert roles["bandpass"] == ["J1924-2914"] and roles["target"] == ["Target"]


def test_missing_intents_name_the_eb_and_the_fix():
    bare = {**METADATA, "fields": [{**f, "intents": []} for f in METADATA["fields"]]}
    with pytest.raises(ValueError, match=r"uid___A002_Xtest_X1.ms.*field_roles"):
        choices.field_roles(bare)


def test_missing_phase_calibrator_is_named():
    md = with_fields(("J1924-2914", ["CALIBRATE_BANDPASS"]), ("Target", ["OBSERVE_TARGET"]))
    with pytest.raises(
        ValueError, match=r"uid___A002_Xtest_X1.ms: no field for role\(s\) \['phase'\]"
    ):
        choices.field_roles(md)
    # stated in config, the same data calibrate
    assert choices.field_roles(md, {"phase": "J1924-2914"})["phase"] == ["J1924-2914"]


def test_unknown_field_in_override_is_reported():
    with pytest.raises(
        ValueError, match=r"uid___A002_Xtest_X1.ms: phase field\(s\) \['NoSuchField'\]"
    ):
        choices.field_roles(METADATA, {"phase": "NoSuchField"})


def test_calibrators_once_each_and_targets_that_are_not_calibrators():
    roles = {"bandpass": ["B"], "flux": ["B", "F"], "phase": ["P", "F"], "target": ["T", "P"]}
    assert choices.calibrator_fields(roles) == ["B", "F", "P"]
    assert choices.target_fields(roles) == ["T"]


# Spectral windows.


def test_science_spws_are_those_observed_on_the_target():
    assert choices.science_spws(METADATA) == [2, 3]


def test_science_spws_without_intents_are_all_but_the_wvr_window():
    bare = {**METADATA, "spws": [{**s, "intents": []} for s in METADATA["spws"]]}
    assert choices.science_spws(bare) == [1, 2, 3, 4, 5]


def test_science_spws_override_is_sorted():
    assert choices.science_spws(METADATA, [3, 2]) == [2, 3]


def test_a_wvr_window_is_never_a_science_spw():
    md = {**METADATA, "spws": METADATA["spws"] + [spw(6, 0, 183.0, 183.5, 4, SCI, "WVR#NOMINAL")]}
    assert choices.science_spws(md) == [2, 3]
    assert choices.is_wvr({"nchan": 256, "name": "X#WVR#x"}) and not choices.is_wvr(md["spws"][2])


def test_atmosphere_spws_are_the_tsys_spws_without_the_wvr_window():
    assert choices.atmosphere_spws(METADATA) == [1, 4, 5]
    bare = {**METADATA, "spws": [{**s, "intents": []} for s in METADATA["spws"]]}
    assert choices.atmosphere_spws(bare) == [1, 2, 3, 4, 5]  # no ATMOSPHERE scans: all but WVR


def test_tsys_spwmap_follows_baseband_then_frequency_coverage():
    spwmap = choices.tsys_spwmap(METADATA, tsys_spws=[1, 4, 5])
    assert spwmap[2] == 1
    assert spwmap[3] == 5  # same baseband wins over the decoy that also covers it
    assert spwmap[0] == 0 and spwmap[1] == 1  # unmapped spws map to themselves
    assert len(spwmap) == 6


def test_tsys_spwmap_takes_the_nearest_same_baseband_spw_when_none_covers():
    md = {
        **METADATA,
        "spws": [
            spw(0, 1, 229.0, 229.5, 128, ATM),  # same baseband, does not cover, centre 229.25
            spw(1, 1, 231.0, 232.0, 128, ATM),  # same baseband, does not cover, centre 231.5
            spw(2, 1, 230.0, 231.0, 960, SCI),  # centre 230.5
            spw(3, 2, 229.9, 231.1, 128, ATM),  # covers, other baseband
        ],
    }
    assert choices.tsys_spwmap(md, [0, 1, 3])[2] == 1


def test_tsys_spwmap_without_a_same_baseband_spw_uses_any_covering_one():
    md = {
        **METADATA,
        "spws": [spw(0, 3, 229.0, 232.0, 128, ATM), spw(1, 1, 230.0, 231.0, 960, SCI)],
    }
    assert choices.tsys_spwmap(md, [0]) == [0, 0]


def test_tsys_spwmap_without_tsys_spws_is_the_identity():
    assert choices.tsys_spwmap(METADATA, []) == [0, 1, 2, 3, 4, 5]


def test_tsys_spwmap_config_override_wins():
    assert choices.tsys_spwmap(METADATA, [1, 5], override=[0, 1, 1, 1, 4, 5]) == [0, 1, 1, 1, 4, 5]


# Reference antennas.


def names(ranking) -> list[str]:
    return [candidate.name for candidate in ranking]


def test_refant_is_the_antenna_nearest_the_array_centre():
    assert names(choices.ranked_refants(METADATA))[0] == "DV01"
    assert names(choices.ranked_refants(METADATA, override="DA42")) == ["DA42"]


def line_of_antennas(n: int) -> dict:
    """Antennas 10 m apart on a line through ALMA's site (ITRF x, y, z): the centre is the middle."""
    antennas = [
        {"name": f"A{i}", "itrf_xyz_m": [2225000.0 + 10.0 * i, -5440000.0, -2481600.0]}
        for i in range(n)
    ]
    return {**METADATA, "antennas": antennas}


def test_refants_are_ranked_by_distance_from_the_centre_and_capped():
    ranking = choices.ranked_refants(line_of_antennas(9))
    assert names(ranking)[0] == "A4" and set(names(ranking)[1:3]) == {"A3", "A5"}
    assert len(ranking) == 5
    assert [c.distance_m for c in ranking] == [0.0, 10.0, 10.0, 20.0, 20.0]


def test_positions_on_the_earth_are_distances_in_metres_not_heights():
    """Two antennas at the same height 100 m apart east-west and one 5 m from the centre: the
    ranking follows the horizontal distance (a ranking by the radius, the bug of msmetadata's
    longitude/latitude/radius taken as x, y, z, would put the highest antenna first)."""
    md = line_of_antennas(5)
    md["antennas"][4]["itrf_xyz_m"][2] += 3.0  # the end antenna sits 3 m higher
    assert names(choices.ranked_refants(md))[:3] == ["A2", "A1", "A3"]


def test_a_mostly_flagged_central_antenna_loses_its_rank_and_an_empty_one_is_left_out():
    md = line_of_antennas(9)
    flagged = {f"A{i}": 0.05 for i in range(9)}
    flagged["A4"] = 0.8  # the centre, mostly flagged after the a-priori flags
    flagged.pop("A3")  # no rows at all
    flagged["A5"] = 1.0  # everything flagged
    ranking = choices.ranked_refants(md, flagged_fractions=flagged)
    assert "A3" not in names(ranking) and "A5" not in names(ranking)
    assert names(ranking)[:2] == ["A2", "A6"]  # 20 m out, 95 % unflagged
    assert names(ranking).index("A4") > 1
    assert "95.0 % unflagged" in ranking[0].reason and "20.0 m" in ranking[0].reason
    assert choices.refant_string(ranking).startswith("A2,A6")


def test_every_antenna_flagged_names_the_eb():
    flagged = {f"A{i}": 1.0 for i in range(3)}
    with pytest.raises(ValueError, match=r"uid___A002_Xtest_X1.ms: every antenna is flagged"):
        choices.ranked_refants(line_of_antennas(3), flagged_fractions=flagged)


def test_unknown_refant_override_names_the_eb():
    with pytest.raises(ValueError, match=r"uid___A002_Xtest_X1.ms: refant antenna\(s\) \['DA99'\]"):
        choices.ranked_refants(METADATA, override="DV01,DA99")


# The Tsys field map.


def scan(number, field, intents, begin):
    return {"scan": number, "field": field, "intents": intents, "begin": begin, "end": begin + 60}


# Tsys on the bandpass calibrator at the start, on the target later; the phase calibrator
# (no ATMOSPHERE scans of its own) is observed around the target's.
TSYS_SCANS = [
    scan(1, "J1924-2914", ["CALIBRATE_ATMOSPHERE"], 0),
    scan(2, "J1924-2914", ["CALIBRATE_BANDPASS"], 100),
    scan(3, "Target", ["CALIBRATE_ATMOSPHERE"], 900),
    scan(4, "J1733-1304", ["CALIBRATE_PHASE"], 1000),
    scan(5, "Target", ["OBSERVE_TARGET"], 1100),
    scan(6, "J1733-1304", ["CALIBRATE_PHASE"], 1300),
]


def test_a_field_without_tsys_scans_takes_the_tsys_of_the_field_nearest_in_time():
    md = {**METADATA, "scans": TSYS_SCANS}
    assert choices.tsys_field_map(md) == {
        "J1924-2914": "J1924-2914",
        "J1733-1304": "Target",
        "Target": "Target",
    }


def test_the_tsys_field_map_from_config_wins_and_is_checked():
    md = {**METADATA, "scans": TSYS_SCANS}
    given = choices.tsys_field_map(md, {"J1733-1304": "J1924-2914"})
    assert given["J1733-1304"] == "J1924-2914" and given["Target"] == "Target"
    with pytest.raises(
        ValueError, match=r"tsys_field_map names fields not in the data: \['X -> Target'\]"
    ):
        choices.tsys_field_map(md, {"X": "Target"})


def test_no_tsys_scans_gives_an_empty_map():
    assert choices.tsys_field_map(METADATA) == {}


# The check source.


def test_a_check_source_has_a_role_of_its_own():
    md = with_fields(
        ("J1924-2914", ["CALIBRATE_BANDPASS", "CALIBRATE_FLUX"]),
        ("J1733-1304", ["CALIBRATE_PHASE"]),
        ("J1744-1302", ["OBSERVE_CHECK_SOURCE"]),
        ("Target", ["OBSERVE_TARGET"]),
    )
    eb = choices.resolve(md)
    assert eb.checks == ["J1744-1302"] and eb.targets == ["Target"]
    assert "J1744-1302" not in eb.calibrators


# All at once.


def test_resolve_gives_every_choice_from_the_metadata():
    eb = choices.resolve(METADATA)
    assert eb.metadata is METADATA
    assert eb.roles == choices.field_roles(METADATA)
    assert eb.science_spws == [2, 3]
    assert eb.refant.split(",")[0] == "DV01"
    assert eb.tsys_fields == {}
    assert eb.calibrators == ["J1924-2914", "J1733-1304"] and eb.targets == ["Target"]


def test_resolve_applies_the_config_overrides():
    eb = choices.resolve(
        METADATA, roles={"target": ["Target", "J1733-1304"]}, spws=[3], refant="DA42,DA41"
    )
    assert eb.roles["target"] == ["Target", "J1733-1304"]
    assert eb.targets == ["Target"]  # the phase calibrator stays a calibrator
    assert eb.science_spws == [3] and eb.refant == "DA42,DA41"


def test_resolve_reads_a_metadata_file(tmp_path):
    path = tmp_path / "uid___A002_Xtest_X1.ms.metadata.json"
    path.write_text(json.dumps(METADATA))
    for given in (path, str(path)):
        assert choices.resolve(given).roles == choices.field_roles(METADATA)


def test_resolve_refuses_an_eb_without_calibrator_intents():
    bare = {**METADATA, "fields": [{**f, "intents": []} for f in METADATA["fields"]]}
    with pytest.raises(ValueError, match="uid___A002_Xtest_X1.ms"):
        choices.resolve(bare)
    roles = {"bandpass": "J1924-2914", "phase": "J1733-1304", "target": "Target"}
    assert choices.resolve(bare, roles=roles).roles["flux"] == ["J1924-2914"]


def test_the_choices_file_round_trips(tmp_path):
    md = {**METADATA, "ms": str(tmp_path / "uid___A002_Xtest_X1.ms"), "scans": TSYS_SCANS}
    (tmp_path / "uid___A002_Xtest_X1.ms.metadata.json").write_text(json.dumps(md))
    eb = choices.resolve(md, flagged_fractions={"DA41": 0.1, "DA42": 0.1, "DV01": 0.2})
    record = eb.record()
    assert record["tsys_field_map"]["J1733-1304"] == "Target"
    assert [s["id"] for s in record["science_spws"]] == [2, 3]
    assert record["refants"][0]["name"] == "DV01" and "unflagged" in record["refants"][0]["reason"]
    assert record["data"] == {
        "wvr_window": True,
        "syscal_rows": 0,
        "atmosphere_scans": True,
        "autocorrelations": False,  # (the metadata give no autocorrelation rows)
        "antennas": 3,
    }
    path = tmp_path / "uid___A002_Xtest_X1.ms.choices.json"
    path.write_text(json.dumps(record))
    assert choices.load(path) == eb


def test_science_spws_are_full_resolution_never_ch_avg_twins_or_square_law():
    """Real ALMA raw data: every FDM/TDM spw has a 1-channel #CH_AVG twin observed in the same
    scans, and square-law detector windows; none of them is a science or Tsys spw."""
    name = "X{}#ALMA_RB_06#BB_{}#SW-01#{}"
    md = {
        **METADATA,
        "spws": [
            spw(0, 0, 183.0, 183.3, 4, ATM + SCI, name="WVR#NOMINAL"),
            spw(1, 1, 229.0, 231.0, 128, ATM, name=name.format(1, 1, "FULL_RES")),
            spw(2, 1, 230.0, 230.0, 1, ATM, name=name.format(1, 1, "CH_AVG")),
            spw(3, 1, 229.5, 230.4, 960, SCI, name=name.format(2, 1, "FULL_RES")),
            spw(4, 1, 230.0, 230.0, 1, SCI, name=name.format(2, 1, "CH_AVG")),
            spw(5, 1, 229.0, 231.0, 1, SCI, name="BB_1#SQLD"),
        ],
    }
    assert choices.science_spws(md) == [3]
    assert choices.atmosphere_spws(md) == [1]
    assert choices.tsys_spwmap(md, choices.atmosphere_spws(md))[3] == 1


def test_antenna_rows_without_a_position_are_no_candidates_and_do_not_move_the_centre():
    """Real VLA data carry ANTENNA rows of unused pads at (0, 0, 0)."""
    md = line_of_antennas(5)
    md["antennas"] += [{"name": f"Z{i}", "itrf_xyz_m": [0.0, 0.0, 0.0]} for i in range(4)]
    ranking = choices.ranked_refants(md)
    assert names(ranking)[0] == "A2" and not any(n.startswith("Z") for n in names(ranking))
    assert ranking[0].distance_m == 0.0


def test_the_tsys_spw_map_is_a_choice_onto_the_syscal_spws(tmp_path):
    """The choices file holds the applycal spwmap for the Tsys table: science spws (config's
    included) onto the spws of the SYSCAL table; none without SYSCAL rows; config's map wins."""
    with_syscal = {**METADATA, "syscal_rows": 12, "syscal_spws": [1, 4, 5]}
    eb = choices.resolve(with_syscal)
    assert eb.tsys_spwmap == choices.tsys_spwmap(METADATA, [1, 4, 5]) and eb.tsys_spwmap[3] == 5
    assert eb.record()["tsys_spwmap"] == eb.tsys_spwmap
    assert choices.resolve(METADATA).tsys_spwmap == []  # no SYSCAL rows: no Tsys table
    given = [0, 1, 1, 1, 4, 5]
    assert choices.resolve(with_syscal, spwmap=given).tsys_spwmap == given
