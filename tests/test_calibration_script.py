"""The standalone per-EB calibration script (rule calibration_script): run from the raw ASDM in
a plain Python with casatasks, it makes the workflow's <eb>.ms.split.cal; mysteps selects steps.

Equality: rows, FLAG equal; visibilities and WEIGHT within workdir.SAME_MS_RTOL (1e-6 of the
column's largest magnitude). Measured on the demo: identical (0 difference).
"""

import ast
import json
from pathlib import Path

import pytest
from truth import DEMO_EBS, MOUS, ROOT, product
from workdir import assert_same_calibrated, plain_python

pytestmark = pytest.mark.workflow

EB = DEMO_EBS[0]  # a 12 m EB: WVR (with the assessment's extra wvrflag), Tsys, renormalisation


def script_of(demo_run: Path) -> Path:
    return demo_run / "results" / MOUS / EB / "script" / f"{EB}.ms.scriptForCalibration.py"


def step_titles(script: Path) -> dict[int, str]:
    tree = ast.parse(script.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "step_title":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{script}: no step_title")


@pytest.fixture(scope="module")
def two_part_run(demo_run, tmp_path_factory):
    """The script run as a reducer would, in a scratch folder: steps 0-1 (import, a-priori
    flags), then the rest. Returns (folder, what existed after the first part)."""
    script = script_of(demo_run)
    raw = ROOT / "resources/demo_mous/raw" / EB
    work = tmp_path_factory.mktemp("script_two_parts")
    plain_python([str(script), "--asdm", str(raw), "--mysteps", "0,1"], cwd=work)
    after_first = sorted(p.name for p in work.iterdir())
    rest = ",".join(str(i) for i in range(2, len(step_titles(script))))
    plain_python([str(script), "--asdm", str(raw), "--mysteps", rest], cwd=work)
    return work, after_first


def test_the_script_stands_alone(demo_run):
    """No workflow library, no workflow path; every step a job of the workflow, in order."""
    text = script_of(demo_run).read_text()
    assert "almacal" not in text.replace("almacal workflow", "")
    assert "results/" not in text and "resources/" not in text and "logs/" not in text
    titles = step_titles(script_of(demo_run))
    assert list(titles) == list(range(len(titles)))
    assert titles[0].startswith("import ") and titles[len(titles) - 1].startswith("final applycal")
    # the assessment's and heuristics' temporary solves are left out (no call names their
    # folders); the assessment's decision (wvrflag) is in the one wvrgcal call
    tree = ast.parse(text)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert not [v for v in strings if isinstance(v, str) and (".tmp/" in v or "assessment/" in v)]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    wvrgcal = [c for c in calls if c.func.id == "wvrgcal"]
    decision = json.loads(product(EB, ".ms.wvrgcal.json", root=demo_run).read_text())
    assert len(wvrgcal) == 1
    wvrflag = next(k.value for k in wvrgcal[0].keywords if k.arg == "wvrflag")
    assert ast.literal_eval(wvrflag) == decision["wvrflag"]


def test_steps_0_1_then_the_rest_make_the_workflows_split_cal(two_part_run, demo_run):
    work, after_first = two_part_run
    # the first part made the import and the a-priori flags, nothing of the later steps
    assert f"{EB}.ms" in after_first and f"{EB}.ms.flagversions" in after_first
    assert not [
        name
        for name in after_first
        if name.startswith(f"{EB}.ms.")
        and name not in (f"{EB}.ms.flagversions", f"{EB}.ms.listobs.txt")
    ]
    versions = (work / f"{EB}.ms.flagversions" / "FLAG_VERSION_LIST").read_text()
    assert "apriori" in versions
    found = assert_same_calibrated(
        work / f"{EB}.ms.split.cal", product(EB, ".ms.split.cal", root=demo_run)
    )
    print("differences:", found)


def test_all_steps_make_the_workflows_split_cal(demo_run, tmp_path):
    raw = ROOT / "resources/demo_mous/raw" / EB
    plain_python([str(script_of(demo_run)), "--asdm", str(raw)], cwd=tmp_path)
    found = assert_same_calibrated(
        tmp_path / f"{EB}.ms.split.cal", product(EB, ".ms.split.cal", root=demo_run)
    )
    print("differences:", found)
