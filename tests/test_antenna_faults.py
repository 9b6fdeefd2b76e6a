"""Per-antenna QA finds injected faults (issue 13, item 1): resources/faulted_mous.yaml, one 12 m
EB with one fault on each of five antennas (almasim.faults), run with its config file.

Each fault is named, antenna and where (spw and time, or channels), by a score below 0.66, and
those five are the head of the EB's worst-first list; the clean demo EBs keep every score >= 0.90
(tests/test_qa_report.py). Measured (2 cores, about a minute for simulation and run): DA44's
90 deg jump seen as a 94 deg step beyond the array's between the phase-calibrator scans 5 and 7
(clean antennas: <= 8 deg in the faulted and demo EBs); DA46's gain 0.55 x the median (clean:
0.71-1.23 in the demo, whose gains spread 0.7-1.3); DV11's noise 2.92 x its weights' (clean:
<= 1.31); DA48's Tsys 2.98 x the array's spectrum in channels 81-84 of spw 0 (clean: <= 1.08);
DV03's Tsys 2.34 x the array median.
"""

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from truth import ROOT
from workdir import make_workdir, snakemake_args

from almacal.qa.scores import SCORE_BANDS

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
MOUS = "uid___A001_Xfault_X1"
EB = "uid___A002_Xfault_X1"
CONFIG = ROOT / "resources/faulted_mous.config.yaml"
WARN = dict(SCORE_BANDS)["s-ok"]  # 0.66
# the check that must name each kind of fault (almasim.faults.KINDS)
CHECK_OF_FAULT = {
    "phase_jump": "antenna_phase_jump",
    "low_gain": "antenna_gain_amplitude",
    "high_tsys": "tsys_outlier",
    "noisy": "antenna_noise",
    "birdie": "tsys_spectral_outlier",
}


@pytest.fixture(scope="module")
def faulted(tmp_path_factory):
    work = make_workdir(tmp_path_factory.mktemp("faulted"))
    done = subprocess.run(
        [BIN / "snakemake", *snakemake_args(work), "--cores", "2", "--configfile", str(CONFIG)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    summary = work / "results" / MOUS / EB / "qa" / f"{EB}.qa_summary.json"
    truth = ROOT / f"resources/demo_mous/raw/{EB}.truth.json"
    return work, json.loads(summary.read_text()), json.loads(truth.read_text())


def naming(scores: list[dict], fault: dict) -> dict:
    """The score entry of the fault's check that names its antenna."""
    check = CHECK_OF_FAULT[fault["kind"]]
    hits = [s for s in scores if s["check"] == check and s["subject"].startswith(fault["antenna"])]
    assert hits, f"{fault['kind']} of {fault['antenna']}: no {check} score names it"
    return hits[0]


def test_every_injected_fault_is_named_below_0_66(faulted):
    _, summary, truth = faulted
    assert {f["kind"] for f in truth["faults"]} == set(CHECK_OF_FAULT)
    for fault in truth["faults"]:
        entry = naming(summary["scores"], fault)
        assert entry["score"] < WARN, entry


def test_the_faults_head_the_worst_first_list(faulted):
    _, summary, truth = faulted
    head = summary["scores"][: len(truth["faults"])]
    named = {(s["check"], s["subject"].split()[0]) for s in head}
    assert named == {(CHECK_OF_FAULT[f["kind"]], f["antenna"]) for f in truth["faults"]}
    assert all(s["score"] >= WARN for s in summary["scores"][len(head) :]), summary["scores"]


def utc_seconds(hms: str, day: dt.date) -> float:
    """UTC time of day on ``day`` -> MJD seconds."""
    t = dt.datetime.combine(day, dt.time.fromisoformat(hms))
    return (t - dt.datetime(1858, 11, 17)).total_seconds()


def test_the_jump_is_placed_between_the_scans_that_bracket_it(faulted):
    _, summary, truth = faulted
    fault = next(f for f in truth["faults"] if f["kind"] == "phase_jump")
    entry = naming(summary["scores"], fault)
    first, last = re.search(r"between (\S+) and (\S+) UTC", entry["subject"]).groups()
    day = (dt.datetime(1858, 11, 17) + dt.timedelta(seconds=fault["at_mjd_s"])).date()
    assert utc_seconds(first, day) < fault["at_mjd_s"] < utc_seconds(last, day)
    assert entry["value"] == pytest.approx(fault["deg"], abs=15)  # atmosphere: +- a few deg


def test_the_birdie_is_placed_in_its_channels(faulted):
    _, summary, truth = faulted
    fault = next(f for f in truth["faults"] if f["kind"] == "birdie")
    entry = naming(summary["scores"], fault)
    spw, first, last = re.search(r"spw (\d+) \S+ channels (\d+)~(\d+)", entry["subject"]).groups()
    assert [int(first), int(last)] == fault["channels"][spw]
    assert entry["value"] == pytest.approx(fault["tsys_factor"], rel=0.1)


def test_each_fault_has_the_size_injected(faulted):
    _, summary, truth = faulted
    faults = {f["kind"]: f for f in truth["faults"]}
    scores = summary["scores"]
    # gain amplitude: 0.6 x its own (the base gains spread 0.9-1.1)
    low = naming(scores, faults["low_gain"])["value"]
    assert 1 - low == pytest.approx(faults["low_gain"]["factor"], abs=0.1)
    assert naming(scores, faults["noisy"])["value"] == pytest.approx(3.0, rel=0.1)
    # the Tsys factor over the array median: 2 x its own, whose Trx spread 45-75 K
    assert 1.6 < naming(scores, faults["high_tsys"])["value"] < 2.6


def test_the_report_lists_every_antenna_worst_first(faulted):
    work, summary, truth = faulted
    page = (work / "results" / MOUS / "qa" / "index.html").read_text()
    section = page[page.index("<h3>Per-antenna checks</h3>") :]
    rows = re.findall(r"<tr><td>(\w+)</td>", section[: section.index("</table>")])
    assert sorted(rows) == sorted(summary["antennas"])
    assert set(rows[: len(truth["faults"])]) == {f["antenna"] for f in truth["faults"]}
