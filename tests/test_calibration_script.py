"""The standalone per-EB calibration script (rule calibration_script).

On the demo (workflow tier): run from the raw ASDM in a plain Python with casatasks, steps 0-1
and then the rest, it makes the workflow's <eb>.ms.split.cal: rows and FLAG equal, visibilities
and WEIGHT within workdir.SAME_MS_RTOL (1e-6 of the column's largest magnitude; measured:
identical). Fast: the record reader, the generator's rules, and the step selection (mysteps,
one process per step) with a casatasks that records the calls instead of running them.
"""

import ast
import json
from pathlib import Path

import pytest
from truth import DEMO_EBS, MOUS, ROOT, product
from workdir import assert_same_calibrated, plain_python

from almacal.casa_job import format_call
from almacal.delivery.calibration_script import (
    Paths,
    build_step,
    calibration_script,
    kept_calls,
)
from almacal.delivery.records import Call, RecordError, read_record

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


@pytest.mark.workflow
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


@pytest.mark.workflow
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


# The generator on records written as casa_job writes them (fast: no CASA).

WORK = "results/M/E"


def write_record(path: Path, title: str, calls: list[tuple[str, dict]], notes=()) -> Path:
    text = f"# {title}\n" + "".join(f"# {n}\n" for n in notes)
    text += "".join(format_call(task, kwargs) for task, kwargs in calls)
    path.write_text(text)
    return path


def generate(records: list, *, raw: str, raw_is_ms: bool, out_dir: str) -> Path:
    """The script of EB E of MOUS M (products in WORK) from ``records``."""
    return calibration_script(
        records=records,
        mous="M",
        eb="E",
        eb_dir=WORK,
        raw=raw,
        raw_is_ms=raw_is_ms,
        antenna_positions=None,
        delivered={},
        fluxscale_skipped=None,
        default_raw=f"../{raw}",
        out_dir=out_dir,
    )


@pytest.mark.fast
def test_a_record_reads_back_as_written(tmp_path):
    calls = [
        ("flagdata", {"vis": f"{WORK}/E.ms", "mode": "list", "inpfile": ["a='1'", "b=2"]}),
        ("gaincal", {"vis": f"{WORK}/E.ms.split", "spwmap": [[0, 0], []], "calwt": [True]}),
    ]
    record = read_record(write_record(tmp_path / "x.casa_commands.py", "title", calls), "x")
    assert record.title == "title"
    assert [(c.task, c.kwargs) for c in record.calls] == calls


@pytest.mark.fast
def test_a_value_that_is_no_literal_is_refused_in_a_kept_call_only(tmp_path):
    calls = (
        "gaincal(\n    vis='{0}/E.ms',\n    caltable='{0}/{1}',\n    minsnr=np.float64(3.0),\n)\n"
    )
    path = tmp_path / "x.casa_commands.py"
    path.write_text("# t\n" + calls.format(WORK, "E.ms.x.tmp/t") + calls.format(WORK, "E.ms.t"))
    record = read_record(path, "x")
    with pytest.raises(RecordError, match=r"line 7: .* not a Python literal \(np.float64"):
        build_step(record, Paths(WORK, "raw/E"), "E", {})
    path.write_text("# t\n" + calls.format(WORK, "E.ms.x.tmp/t"))  # left out: no matter
    assert build_step(read_record(path, "x"), Paths(WORK, "raw/E"), "E", {}) is None


@pytest.mark.fast
def test_temporary_and_superseded_calls_are_left_out(tmp_path):
    """The WVR job's form: wvrgcal, the assessment's solves in a temporary folder, rmtables,
    wvrgcal again with more wvrflag: only the second wvrgcal is kept."""
    ms, table = f"{WORK}/E.ms", f"{WORK}/E.ms.wvrgcal"
    calls = [
        ("wvrgcal", {"vis": ms, "caltable": table, "wvrflag": []}),
        (
            "gaincal",
            {"vis": ms, "caltable": f"{WORK}/E.ms.wvrgcal.assessment/a", "gaintable": [table]},
        ),
        ("rmtables", {"tablenames": [table]}),
        ("wvrgcal", {"vis": ms, "caltable": table, "wvrflag": ["DA45"]}),
    ]
    record = read_record(write_record(tmp_path / "w.casa_commands.py", "wvr", calls), "wvrgcal")
    kept = [item for item in kept_calls(record, Paths(WORK, "raw/E")) if isinstance(item, Call)]
    assert kept == [Call("wvrgcal", {"vis": ms, "caltable": table, "wvrflag": ["DA45"]})]


@pytest.mark.fast
def test_a_table_made_twice_and_read_in_between_is_refused(tmp_path):
    ms, table = f"{WORK}/E.ms", f"{WORK}/E.ms.tsys"
    calls = [
        ("gencal", {"vis": ms, "caltable": table}),
        ("applycal", {"vis": ms, "gaintable": [table]}),
        ("gencal", {"vis": ms, "caltable": table}),
    ]
    record = read_record(write_record(tmp_path / "t.casa_commands.py", "t", calls), "gencal_tsys")
    with pytest.raises(RecordError, match="made twice and read in between"):
        kept_calls(record, Paths(WORK, "raw/E"))


@pytest.mark.fast
def test_an_ms_as_raw_data_is_copied_and_a_workflow_path_is_refused(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    record = write_record(
        logs / "import_eb.casa_commands.py",
        f"import E -> {WORK}/E.ms",
        [("listobs", {"vis": f"{WORK}/E.ms", "listfile": f"{WORK}/E.ms.listobs.txt"})],
        notes=["raw/E.ms is a measurement set: copied, never modified"],
    )
    args = dict(raw="raw/E.ms", raw_is_ms=True, out_dir=str(tmp_path / "script"))
    script = generate([read_record(record, "import_eb")], **args).read_text()
    assert "shutil.copytree(asdm, 'E.ms')" in script
    assert "listfile='E.ms.listobs.txt'" in script
    compile(script, "script", "exec")
    other = write_record(
        logs / "gencal_antpos.casa_commands.py",
        "antpos",
        [("gencal", {"vis": f"{WORK}/E.ms", "infile": "resources/elsewhere.json"})],
    )
    with pytest.raises(RecordError, match="cannot reach: 'resources/elsewhere.json'"):
        generate([read_record(other, "gencal_antpos")], **args)


FAKE_CASATASKS = """
import json, os
class _Log:
    def post(self, *args, **kwargs):
        pass
casalog = _Log()
def __getattr__(task):
    def run(**kwargs):
        with open(os.environ["FAKE_CASA_LOG"], "a") as log:
            log.write(json.dumps([os.getpid(), task, kwargs.get("caltable") or kwargs.get("vis")]))
            log.write("\\n")
    return run
"""


@pytest.fixture()
def three_step_script(tmp_path) -> Path:
    """A generated script of three steps (import, a-priori flags, a solve) and a casatasks
    that only records each call (process, task, what it makes) in $FAKE_CASA_LOG."""
    logs = tmp_path / "logs"
    logs.mkdir()
    ms = f"{WORK}/E.ms"
    records = [
        write_record(
            logs / "import_eb.casa_commands.py",
            "import",
            [
                ("importasdm", {"asdm": "raw/E", "vis": ms}),
                (
                    "flagmanager",
                    {"vis": ms, "mode": "save", "versionname": "Original", "comment": ""},
                ),
            ],
        ),
        write_record(
            logs / "flag_apriori.casa_commands.py",
            "a-priori flags",
            [
                ("flagdata", {"vis": ms, "mode": "list", "inpfile": ["mode='shadow'"]}),
            ],
        ),
        write_record(
            logs / "gaincal_phase_int.casa_commands.py",
            "phase_int",
            [
                ("gaincal", {"vis": f"{ms}.split", "caltable": f"{ms}.split.phase_int"}),
            ],
        ),
    ]
    script = generate(
        [read_record(r, r.name.split(".")[0]) for r in records],
        raw="raw/E",
        raw_is_ms=False,
        out_dir=str(tmp_path / "script"),
    )
    (tmp_path / "fake" / "casatasks").mkdir(parents=True)
    (tmp_path / "fake" / "casatasks" / "__init__.py").write_text(FAKE_CASATASKS)
    return script


def run_fake(script: Path, *args: str, code: str | None = None) -> list[tuple[int, str, str]]:
    """Run ``script`` (or ``code``) with the recording casatasks; the calls it made."""
    import os
    import subprocess
    import sys

    fake = script.parents[1] / "fake"
    log = script.parents[1] / "calls.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(fake), "FAKE_CASA_LOG": str(log)}
    command = [sys.executable, "-c", code] if code else [sys.executable, str(script), *args]
    run = subprocess.run(command, cwd=script.parents[1], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return [tuple(json.loads(line)) for line in log.read_text().splitlines()]


@pytest.mark.fast
def test_no_mysteps_runs_every_step_in_order_one_process_each(three_step_script):
    calls = run_fake(three_step_script, "--asdm", "raw/E")
    assert [(task, made) for _, task, made in calls] == [
        ("importasdm", "E.ms"),
        ("flagmanager", "E.ms"),
        ("flagdata", "E.ms"),
        ("gaincal", "E.ms.split.phase_int"),
    ]
    processes = [pid for pid, _, _ in calls]
    assert processes[0] == processes[1] and len({processes[0], processes[2], processes[3]}) == 3


@pytest.mark.fast
def test_mysteps_selects_steps(three_step_script):
    calls = run_fake(three_step_script, "--asdm", "raw/E", "--mysteps", "0,2")
    assert [task for _, task, _ in calls] == ["importasdm", "flagmanager", "gaincal"]
    # in CASA: mysteps set, then execfile (here exec): the steps in this one process
    code = f"mysteps = [1]; exec(open({str(three_step_script)!r}).read())"
    assert [task for _, task, _ in run_fake(three_step_script, code=code)] == ["flagdata"]
    code = f"mysteps = []; exec(open({str(three_step_script)!r}).read())"
    calls = run_fake(three_step_script, code=code)
    assert len(calls) == 4 and len({pid for pid, _, _ in calls}) == 1
