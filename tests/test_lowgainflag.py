"""Automatic low-gain flags (almacal.calibration.lowgainflag, the pipeline's hif_lowgainflag), as a
generated flag file per EB applied by flag_split (issue 13, item 2).

Unit tests of the view and its rules on synthetic gains, then truth tests on the low-gain MOUS
(resources/lowgain_mous.yaml: PM02's gain amplitude x 0.3, flagged; DA46's x 0.6, kept): the
visibilities flag_split flagged in {eb}.ms.split against the injected antenna (precision and
recall), the calibrated fluxes against the truth, {eb}.ms.split only read by the heuristic, a
reducer's unflag line rerunning only flag_split and what follows. The clean demo EBs lose nothing.
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_incremental import EditedFile
from truth import DEMO_EBS, load_truth, product, read_visibilities, source_spectrum
from workdir import (
    assert_report_links,
    new_split_flags,
    planned,
    run_test_mous,
    snakemake_args,
    table_columns,
)

from almacal import channels, ms_state
from almacal import flag_files as user_flags
from almacal.calibration import lowgainflag
from almacal.calibration.lowgainflag import Flag, GainView

BIN = Path(sys.executable).parent
MOUS = "uid___A001_Xlowgain_X1"
EB = "uid___A002_Xlowgain_X1"
CONFIG = "resources/lowgain_mous.config.yaml"
ON = {
    "enabled": True,
    "nmedian": True,
    "fnm_lo_limit": 0.5,
    "fnm_hi_limit": 1.5,
    "tmef1_limit": 0.666,
    "niter": 2,
    "min_nants_threshold": 5,
}


def view(spw=1, nant=10, nscan=3, seed=7) -> GainView:
    """Amplitude gains of 12 m antennas after the Tsys calibration: within 10 % of 1.7."""
    rng = np.random.default_rng(seed)
    amp = 1.7 * rng.uniform(0.9, 1.1, (nant, 1)) * (1 + 0.01 * rng.standard_normal((nant, nscan)))
    return GainView(spw, 12.0, list(range(nant)), [2, 5, 8], amp, np.zeros((nant, nscan), bool))


@pytest.mark.fast
def test_clean_gains_get_no_flag():
    assert lowgainflag.find_flags([view(1), view(3, seed=8)], ON) == []


@pytest.mark.fast
def test_an_antenna_at_0_3_is_flagged_in_that_spw_for_the_whole_eb():
    low = view(1)
    low.amp[4] *= 0.3
    assert lowgainflag.find_flags([low, view(3, seed=8)], ON) == [Flag("nmedian", 1, 4)]
    names = [f"DA{40 + i}" for i in range(10)]
    line = lowgainflag.command(Flag("nmedian", 1, 4), names, (5.2e9, 5.2e9 + 1200.0))
    assert line.startswith("antenna='DA44' spw='1' timerange='")
    assert line.endswith("' reason='lowgainflag:nmedian'")


@pytest.mark.fast
def test_an_antenna_at_0_6_is_not_flagged_as_the_pipeline_limits_say():
    low = view(1)
    low.amp[4] *= 0.6
    assert lowgainflag.find_flags([low], ON) == []
    low.amp[4] *= 0.5 / 0.6 * 0.95  # just below 0.5 x the median
    assert lowgainflag.find_flags([low], ON) == [Flag("nmedian", 1, 4)]


@pytest.mark.fast
def test_a_high_gain_is_flagged_and_the_limits_are_settings():
    high = view(1)
    high.amp[2] *= 1.6
    assert lowgainflag.find_flags([high], ON) == [Flag("nmedian", 1, 2)]
    assert lowgainflag.find_flags([high], {**ON, "fnm_hi_limit": 1.7}) == []
    assert lowgainflag.find_flags([high], {**ON, "nmedian": False}) == []


@pytest.mark.fast
def test_too_many_antennas_without_a_solution_flag_the_others_per_scan():
    sparse = view(1)
    sparse.flag[:7] = True  # 7 of 10 antennas without a solution: more than 0.666
    flags = lowgainflag.find_flags([sparse], ON)
    assert flags == [Flag("toomany", 1, a, s) for a in (7, 8, 9) for s in (2, 5, 8)]
    sparse.flag[:] = True  # nothing left: the pipeline raises nothing
    assert lowgainflag.find_flags([sparse], ON) == []


@pytest.mark.fast
def test_views_per_spw_and_dish_size_need_enough_antennas():
    ant = np.repeat(np.arange(7), 2)
    spw = np.tile([1, 3], 7)
    diameters = {a: 12.0 if a < 5 else 7.0 for a in range(7)}  # five 12 m, two 7 m antennas
    views = lowgainflag.gain_views(
        ant, spw, np.full(14, 2), np.ones(14), np.zeros(14, bool), diameters, [1, 3], 5
    )
    assert [(v.spw, v.diameter_m, v.antennas) for v in views] == [
        (1, 12.0, [0, 1, 2, 3, 4]),
        (3, 12.0, [0, 1, 2, 3, 4]),
    ]


@pytest.mark.fast
def test_the_solves_leave_out_the_edge_channels_flag_split_flags():
    md = {"spws": [{"id": 1, "nchan": 128}, {"id": 3, "nchan": 64}, {"id": 4, "nchan": 4}]}
    assert channels.inner_channels(md, [1, 3], 0.05) == "1:6~121,3:3~60"
    assert channels.edge_selection(md, [1, 3], 0.05) == "1:0~5;122~127,3:0~2;61~63"
    assert channels.inner_channels(md, [1], 0.0) == "1"


@pytest.fixture(scope="module")
def lowgain(tmp_path_factory):
    """The low-gain MOUS calibrated with the automatic flags of config/config.yaml."""
    work = run_test_mous(tmp_path_factory.mktemp("lowgainflag"), CONFIG)
    return work, load_truth(EB)


def lowgain_product(work: Path, suffix: str) -> Path:
    return work / "results" / MOUS / EB / f"{EB}{suffix}"


def low_gain_antennas(truth: dict, below: bool) -> list[int]:
    """The injected low-gain antennas below (or not below) the pipeline's 0.5 limit."""
    return [
        f["antenna_id"]
        for f in truth["faults"]
        if f["kind"] == "low_gain" and (f["factor"] < ON["fnm_lo_limit"]) == below
    ]


@pytest.mark.workflow
def test_the_dead_antenna_is_flagged_with_precision_and_recall_above_0_9(lowgain):
    """New flags of flag_split in {eb}.ms.split (against the as-split flag version, edge channels
    left out) against the cross-correlations of the 0.3 antenna; the 0.6 antenna keeps its data."""
    work, truth = lowgain
    new, candidates, a1, a2, _ = new_split_flags(lowgain_product(work, ".ms.split"))
    dead = low_gain_antennas(truth, below=True)
    kept = low_gain_antennas(truth, below=False)
    assert len(dead) == 1 and len(kept) == 1
    bad = candidates & (np.isin(a1, dead) | np.isin(a2, dead))[None, None, :]
    precision = (new & bad).sum() / new.sum()
    recall = (new & bad).sum() / bad.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    kept_rows = (np.isin(a1, kept) | np.isin(a2, kept)) & ~np.isin(a1, dead) & ~np.isin(a2, dead)
    assert not new[:, :, kept_rows].any()
    found = json.loads(lowgain_product(work, ".ms.split.lowgainflag.json").read_text())
    names = {f["antenna_id"]: f["antenna"] for f in truth["faults"]}
    assert {f["antenna"] for f in found["flags"]} == {names[dead[0]]}
    assert {f["spw"] for f in found["flags"]} == {1, 3}
    summary = json.loads(lowgain_product(work, ".ms.split.flags_user.json").read_text())
    assert summary["automatic_flag_commands"] == len(found["flags"]) == 2


@pytest.mark.workflow
def test_the_calibration_of_the_flagged_eb_recovers_the_injected_fluxes(lowgain):
    """Calibrated phase calibrator and target, channel-averaged, within the demo's 3 %."""
    work, truth = lowgain
    fields = {f["name"]: f for f in truth["fields"] if f["role"] in ("phase", "target")}
    for vis in read_visibilities(lowgain_product(work, ".ms.split.cal"), truth):
        for name, field in fields.items():
            rows = vis.field == name
            data = np.ma.masked_array(vis.data[rows], vis.flag[rows])
            spectrum = source_spectrum(field, vis.freq_hz)[None, :, None]
            ratio = float(np.ma.median(np.abs((data / spectrum).mean(axis=1))))
            assert abs(ratio - 1) < 0.03, f"{name} spw {vis.truth_spw['id']}: {ratio:.4f}"


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "table.lock"
    }


@pytest.mark.workflow
def test_the_heuristic_only_reads_the_split_ms_and_sees_it_as_split(lowgain, tmp_path):
    """Run again on {eb}.ms.split after flag_split, setjy and applycal (its FLAG now holds the
    flags of flag_split, a MODEL_DATA column too): the same flags, the MS unchanged, its state
    record still in agreement with the products; disabled, an empty file that says so."""
    work, _ = lowgain
    split = lowgain_product(work, ".ms.split")
    before = _digests(split) | {"versions": str(_digests(Path(f"{split}.flagversions")))}
    out = {k: str(tmp_path / f"again.{k}") for k in ("flags", "summary", "log", "commands")}
    common = {
        "eb": EB,
        "vis": str(split),
        "eb_choices": str(lowgain_product(work, ".ms.choices.json")),
        "edge_channel_fraction": 0.05,
        **out,
    }
    lowgainflag.lowgainflag(settings=ON, **common)
    after = _digests(split) | {"versions": str(_digests(Path(f"{split}.flagversions")))}
    assert after == before
    made = json.loads(lowgain_product(work, ".ms.split.lowgainflag.json").read_text())
    again = json.loads(Path(out["summary"]).read_text())
    assert again["flags"] == made["flags"] and again["iterations"] == made["iterations"]
    for folder in (split.parent, tmp_path):  # the temporary solves are gone
        assert not list(folder.glob("*.lowgainflag.tmp"))
    base = str(lowgain_product(work, ""))
    assert ms_state.ms_problems(base, EB) == []
    lowgainflag.lowgainflag(settings={**ON, "enabled": False}, **common)
    disabled = json.loads(Path(out["summary"]).read_text())
    assert disabled["enabled"] is False and disabled["flags"] == []
    assert user_flags.parse(out["flags"]) == ([], [])


@pytest.mark.workflow
def test_the_report_lists_the_low_gain_lines_and_links_the_file(lowgain):
    suffix = ".ms.split.lowgainflag.flags.txt"
    assert_report_links(lowgain[0], MOUS, EB, suffix, ["lowgainflag:nmedian", "PM02"])


@pytest.mark.workflow
@pytest.mark.parametrize("eb", DEMO_EBS)
def test_a_clean_demo_eb_loses_less_than_0_5_percent(eb, demo_run):
    summary = json.loads(product(eb, ".ms.split.lowgainflag.json", root=demo_run).read_text())
    assert summary["enabled"] and summary["tests"] == list(lowgainflag.TESTS)  # on by default
    assert summary["flagged_fraction"] < 0.005, summary["flags"]


@pytest.mark.workflow
def test_a_reducers_unflag_line_reruns_flag_split_and_what_follows_only(lowgain):
    """Last in this module: it changes the workdir. A generated line deleted, or the reducer
    keeping the dead antenna's data (inner channels) with a mode='unflag' line in
    <eb>.split.flags.txt, plans flag_split and what follows, neither the heuristic nor the split."""
    work, truth = lowgain
    generated = lowgain_product(work, ".ms.split.lowgainflag.flags.txt")
    with EditedFile(generated, ""):  # deleting a generated line: the same plan
        generated.write_text("".join(f"{x}\n" for x in generated.read_text().splitlines()[:-1]))
        plan = planned(work, "--configfile", CONFIG)
        assert ("flag_split", EB) in plan and ("applycal_split_cal", EB) in plan
        assert ("lowgainflag", EB) not in plan and ("split_eb", EB) not in plan
    folder = work / "config" / "flags" / MOUS
    folder.mkdir(parents=True, exist_ok=True)
    dead = next(
        f["antenna"] for f in truth["faults"] if f["antenna_id"] in low_gain_antennas(truth, True)
    )
    (folder / f"{EB}.split.flags.txt").write_text(
        f"antenna='{dead}' spw='1:6~121,3:6~121' mode='unflag' reason='reducer keeps it'\n"
    )
    plan = planned(work, "--configfile", CONFIG)
    assert {("flag_split", EB), ("gaincal_ampli_inf", EB), ("applycal_split_cal", EB)} <= plan
    assert ("lowgainflag", EB) not in plan and ("split_eb", EB) not in plan
    summary = str(lowgain_product(work, ".ms.split.flags_user.json").relative_to(work))
    args = [BIN / "snakemake", *snakemake_args(work), "--cores", "2", summary]
    done = subprocess.run([*args, "--configfile", CONFIG], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    main = table_columns(lowgain_product(work, ".ms.split"), ("FLAG", "ANTENNA1", "ANTENNA2"))
    dead_id = low_gain_antennas(truth, below=True)[0]
    rows = (main["ANTENNA1"] != main["ANTENNA2"]) & (
        (main["ANTENNA1"] == dead_id) | (main["ANTENNA2"] == dead_id)
    )
    assert not main["FLAG"][:, 6:122, rows].any()  # unflagged: the reducer's line came last
    assert main["FLAG"][:, :6, rows].all()  # the edge channels stay flagged
