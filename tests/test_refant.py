"""Reference antennas from real geometry and the a-priori flags (hif_refant's idea), on an MS.

A demo 7 m EB (ALMA intents kept) given as a measurement set whose most central antenna carries
online flags (FLAG_CMD rows, applied by flag_apriori) over 80 % of the EB: the ranking in
{eb}.ms.choices.json leaves it behind the antennas with their data, and gives the reasons.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_ms_input import flux_file_from_truth
from truth import DEMO_EBS, load_truth
from workdir import make_workdir, snakemake_args

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
MOUS = "uid___A001_Xrefant_X1"
EB = "uid___A002_Xrefant_X1"
CENTRAL = "CM05"  # 4.2 m from the centre of the demo's ACA layout; CM08 is next at 6.0 m


def flag_most_of_the_eb(ms: Path, antenna: str, fraction: float) -> None:
    """Add an online flag (FLAG_CMD row) on ``antenna`` over the first ``fraction`` of the EB."""
    from casatools import table

    tb = table()
    tb.open(str(ms))
    times = tb.getcol("TIME")
    tb.close()
    start, end = times.min() - 1.0, times.min() + fraction * (times.max() - times.min())
    tb.open(f"{ms}/FLAG_CMD", nomodify=False)
    row = tb.nrows()
    tb.addrows(1)
    tb.putcell("TIME", row, 0.5 * (start + end))
    tb.putcell("INTERVAL", row, end - start)
    tb.putcell("TYPE", row, "FLAG")
    tb.putcell("REASON", row, "test: antenna mostly down")
    tb.putcell("LEVEL", row, 0)
    tb.putcell("SEVERITY", row, 0)
    tb.putcell("APPLIED", row, False)
    tb.putcell("COMMAND", row, f"antenna='{antenna}&&*'")
    tb.close()


@pytest.fixture(scope="module")
def ranked(tmp_path_factory, demo_raw) -> dict:
    from almacal.casa_job import load_task

    work = make_workdir(tmp_path_factory.mktemp("refant"))
    ms = work / f"{EB}.ms"
    load_task("importasdm")(asdm=str(demo_raw / DEMO_EBS[2]), vis=str(ms), process_flags=True)
    flag_most_of_the_eb(ms, CENTRAL, 0.8)
    (work / "flux.csv").write_text(flux_file_from_truth(load_truth(DEMO_EBS[2]), f"{EB}.ms"))
    (work / "flags").mkdir()
    own = {
        "mous": {
            MOUS: {
                "flux_file": str(work / "flux.csv"),
                "flags_dir": str(work / "flags"),
                "ebs": {EB: {"raw": str(ms)}},
            }
        }
    }
    (work / "my.yaml").write_text(yaml.safe_dump(own))
    target = f"results/{MOUS}/{EB}/{EB}.ms.choices.json"
    run = subprocess.run(
        [
            BIN / "snakemake",
            *snakemake_args(work),
            "--cores",
            "2",
            target,
            "--configfile",  # takes several files: after the target
            str(work / "my.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    import json

    return json.loads((work / target).read_text())


def test_a_mostly_flagged_central_antenna_is_not_the_reference(ranked):
    refants = ranked["refants"]
    names = [c["name"] for c in refants]
    assert names[0] == "CM08", refants
    central = next((c for c in refants if c["name"] == CENTRAL), None)
    if central is not None:  # ranked, but behind every antenna with its data
        assert names.index(CENTRAL) >= 3
        assert central["unflagged_fraction"] < 0.5 * refants[0]["unflagged_fraction"]
    assert "m from the array centre" in refants[0]["reason"]
    assert "unflagged after the a-priori flags" in refants[0]["reason"]


def test_distances_are_metres_from_the_centre(ranked):
    """The ACA's compact layout: the five best lie within 20 m of the array centre."""
    assert all(c["distance_m"] < 20.0 for c in ranked["refants"] if c["name"] != CENTRAL)
    assert np.all(np.diff([c["score"] for c in ranked["refants"]]) <= 0)
