"""The final applycal plan (almacal.calibration.applycal_split_cal.applycal_plan): which tables
each field gets, with whose solutions, as in the ALMA manual calibration scripts.

Bandpass and flux calibrators: the bandpass, the per-spw phase offsets (phase_offsets), their own
per-integration phases (phase_int) and the flux-scaled amplitudes (flux_inf). The phase
calibrator: the bandpass, phase_offsets, its own per-scan phases (phase_inf) and flux_inf. Targets: the bandpass and the phase calibrator's phase_inf and
flux_inf (phase transfer), interpolated linearly in time, plus the renormalisation table when one
is made (nearest in time, calwt off: it corrects a scale, not the noise). The bandpass and the
phase offsets are solved on one field and applied to all: gainfield ''. The phase tables go with
the spwphaseup map when it is not the identity.
"""

import pytest

from almacal.calibration.applycal_split_cal import applycal_plan

pytestmark = pytest.mark.fast

BASE = "results/m/e/e.ms.split"
TABLES = {
    name: f"{BASE}.{name}"
    for name in (
        "ap_pre_bandpass",
        "bandpass",
        "phase_offsets",
        "phase_int",
        "phase_inf",
        "ampli_inf",
        "flux_inf",
    )
}
ROLES = {
    "bandpass": ["J1924-2914"],
    "flux": ["Ceres"],
    "phase": ["J1733-1304"],
    "target": ["DemoTarget", "OtherTarget"],
}


def by_table(step: dict) -> dict[str, dict]:
    """Table name -> its gainfield, interp and calwt in one applycal step (the job's defaults,
    interp 'linear,linear' and calwt True, where the step leaves them out)."""
    names = [table.removeprefix(f"{BASE}.") for table in step["gaintable"]]
    n = len(names)
    assert len(step["gainfield"]) == n

    def per_table(key, default):
        value = step.get(key, default)
        value = value if isinstance(value, list) else [value] * n
        assert len(value) == n, key
        return value

    return {
        name: {"gainfield": field, "interp": interp, "calwt": calwt}
        for name, field, interp, calwt in zip(
            names, step["gainfield"], per_table("interp", "linear,linear"), per_table("calwt", True)
        )
    }


def steps_by_field(plan: list[dict]) -> dict[str, dict]:
    out = {}
    for step in plan:
        for field in step["field"].split(","):
            assert field not in out, f"{field} in two applycal steps"
            out[field] = by_table(step)
    return out


def test_every_field_is_calibrated_once():
    plan = applycal_plan(ROLES, TABLES)
    assert set(steps_by_field(plan)) == {
        "J1924-2914",
        "Ceres",
        "J1733-1304",
        "DemoTarget",
        "OtherTarget",
    }
    # the targets share one step: the same solutions of the same phase calibrator
    assert [s["field"] for s in plan if "DemoTarget" in s["field"]] == ["DemoTarget,OtherTarget"]


@pytest.mark.parametrize("field", ["J1924-2914", "Ceres"])
def test_bandpass_and_flux_calibrators_get_their_own_per_integration_phases(field):
    tables = steps_by_field(applycal_plan(ROLES, TABLES))[field]
    assert set(tables) == {"bandpass", "phase_offsets", "phase_int", "flux_inf"}
    assert tables["bandpass"]["gainfield"] == ""  # solved on the bandpass calibrator, for all
    assert tables["phase_offsets"]["gainfield"] == ""
    assert tables["phase_int"]["gainfield"] == field
    assert tables["flux_inf"]["gainfield"] == field
    assert all(t["calwt"] is True for t in tables.values())


def test_phase_calibrator_gets_its_own_per_scan_phases():
    tables = steps_by_field(applycal_plan(ROLES, TABLES))["J1733-1304"]
    assert set(tables) == {"bandpass", "phase_offsets", "phase_inf", "flux_inf"}
    assert tables["bandpass"]["gainfield"] == ""
    assert tables["phase_inf"]["gainfield"] == tables["flux_inf"]["gainfield"] == "J1733-1304"


def test_targets_get_the_phase_calibrator_solutions_interpolated_in_time():
    tables = steps_by_field(applycal_plan(ROLES, TABLES))["DemoTarget"]
    assert set(tables) == {"bandpass", "phase_offsets", "phase_inf", "flux_inf"}
    assert tables["bandpass"]["gainfield"] == ""
    for name in ("phase_inf", "flux_inf"):
        assert tables[name]["gainfield"] == "J1733-1304", name
        assert tables[name]["interp"].split(",")[0] == "linear", name  # between the scans
        assert tables[name]["calwt"] is True


def test_intermediate_tables_are_never_applied():
    """The pre-bandpass phases and the amplitudes before fluxscale only feed later solves."""
    plan = applycal_plan(ROLES, TABLES)
    applied = {table for step in plan for table in step["gaintable"]}
    assert TABLES["ap_pre_bandpass"] not in applied and TABLES["ampli_inf"] not in applied


def test_renorm_table_goes_to_the_targets_only_each_field_its_own_like_tsys():
    plan = applycal_plan(ROLES, {**TABLES, "renorm": f"{BASE}.renorm.tbl"})
    fields = steps_by_field(plan)
    renorm = fields["DemoTarget"]["renorm.tbl"]
    assert renorm == {"gainfield": "nearest", "interp": "nearest,linear", "calwt": True}
    assert fields["OtherTarget"]["renorm.tbl"] == renorm
    for calibrator in ("J1924-2914", "Ceres", "J1733-1304"):
        assert "renorm.tbl" not in fields[calibrator]
    # the other tables of the targets are as without it
    without = steps_by_field(applycal_plan(ROLES, TABLES))["DemoTarget"]
    assert {k: v for k, v in fields["DemoTarget"].items() if k != "renorm.tbl"} == without


@pytest.mark.parametrize("renorm", [None, ""])
def test_no_renorm_table_when_none_is_made(renorm):
    plan = applycal_plan(ROLES, {**TABLES, "renorm": renorm})
    assert not any("renorm" in table for step in plan for table in step["gaintable"])


def test_one_field_as_bandpass_and_flux_calibrator_gets_one_step():
    roles = {**ROLES, "flux": ["J1924-2914"]}
    plan = applycal_plan(roles, TABLES)
    assert [s["field"] for s in plan].count("J1924-2914") == 1
    assert set(steps_by_field(plan)["J1924-2914"]) == {
        "bandpass",
        "phase_offsets",
        "phase_int",
        "flux_inf",
    }


def test_two_phase_calibrators_each_their_own_and_both_for_the_targets():
    roles = {**ROLES, "phase": ["J1733-1304", "J1751+0939"]}
    fields = steps_by_field(applycal_plan(roles, TABLES))
    for phase in roles["phase"]:
        assert fields[phase]["phase_inf"]["gainfield"] == phase
    assert set(fields["DemoTarget"]["phase_inf"]["gainfield"].split(",")) == set(roles["phase"])


def test_a_target_that_is_also_a_calibrator_is_calibrated_as_the_calibrator():
    roles = {**ROLES, "target": ["DemoTarget", "J1733-1304"]}
    plan = applycal_plan(roles, TABLES)
    fields = steps_by_field(plan)
    assert fields["J1733-1304"]["phase_inf"]["gainfield"] == "J1733-1304"
    assert [s["field"] for s in plan][-1] == "DemoTarget"


def test_no_target_step_without_targets():
    plan = applycal_plan({**ROLES, "target": []}, TABLES)
    assert {s["field"] for s in plan} == {"J1924-2914", "Ceres", "J1733-1304"}


def test_check_source_gets_the_phase_transfer_of_the_targets_without_renormalisation():
    roles = {**ROLES, "check": ["J1744-1302"]}
    fields = steps_by_field(applycal_plan(roles, {**TABLES, "renorm": f"{BASE}.renorm.tbl"}))
    check, target = fields["J1744-1302"], fields["DemoTarget"]
    assert "renorm.tbl" not in check
    assert check == {k: v for k, v in target.items() if k != "renorm.tbl"}


def test_tsys_gainfield_follows_the_tsys_field_map_when_the_table_has_that_field():
    from almacal.calibration.split_eb import tsys_gainfield

    tsys_fields = {"J1733-1304": "DemoTarget", "DemoTarget": "DemoTarget"}
    with_tsys = {"DemoTarget", "J1924-2914"}
    assert tsys_gainfield("J1733-1304", tsys_fields, with_tsys) == "DemoTarget"
    assert tsys_gainfield("DemoTarget", tsys_fields, with_tsys) == "DemoTarget"
    # a field the map does not name, or whose Tsys field has no solutions: interpolated in time
    assert tsys_gainfield("J1924-2914", tsys_fields, with_tsys) == ""
    assert tsys_gainfield("J1733-1304", tsys_fields, {"J1924-2914"}) == ""


def test_without_a_spw_map_no_step_carries_one():
    for spwmap in (None, []):
        assert not any("spwmap" in step for step in applycal_plan(ROLES, TABLES, spwmap))


def test_the_phase_tables_take_the_spwphaseup_map_and_the_others_none():
    spwmap = [0, 1, 2, 3, 4, 1]
    plan = applycal_plan(ROLES, {**TABLES, "renorm": f"{BASE}.renorm.tbl"}, spwmap)
    for step in plan:
        names = [table.removeprefix(f"{BASE}.") for table in step["gaintable"]]
        maps = dict(zip(names, step["spwmap"], strict=True))
        for name, used in maps.items():
            assert used == (spwmap if name in ("phase_int", "phase_inf") else []), (step, name)
    # the same tables and gainfields as without a map
    assert [{k: v for k, v in s.items() if k != "spwmap"} for s in plan] == applycal_plan(
        ROLES, {**TABLES, "renorm": f"{BASE}.renorm.tbl"}
    )
