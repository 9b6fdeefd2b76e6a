"""Which flag version an MS is at by its state record: a job skips restoring the version its MS
is at already, and only then (any writer not completed, or no record: restored)."""

import pytest

from almacal import flag_state, ms_state

pytestmark = pytest.mark.fast

MS, SPLIT = "results/M/E/E.ms", "results/M/E/E.ms.split"


def done(job: str) -> dict:
    return {"job": job, "status": "completed", "summary": "s.json", "digest": "0"}


def started(job: str) -> dict:
    return {"job": job, "status": "started"}


@pytest.mark.parametrize(
    "vis, record, version",
    [
        (MS, [], None),  # no record (an MS from before records, or not made by the workflow)
        (MS, [done("import_eb")], flag_state.ORIGINAL),
        (MS, [done("import_eb"), started("flag_apriori")], None),  # killed half way
        (MS, [done("import_eb"), done("flag_apriori")], flag_state.APRIORI),
        # split_eb applies raw-stage flags and applycal's, then restores the a-priori version
        (MS, [done("import_eb"), done("flag_apriori"), done("split_eb")], flag_state.APRIORI),
        (MS, [done("import_eb"), done("flag_apriori"), started("split_eb")], None),
        (SPLIT, [done("split_eb")], flag_state.SPLIT_ORIGINAL),
        (SPLIT, [done("split_eb"), done("flag_split")], flag_state.SPLIT_USER),
        # setjy writes MODEL_DATA only: the flags stay as flag_split left them
        (SPLIT, [done("split_eb"), done("flag_split"), done("setjy_flux_model")], "split_user"),
        (SPLIT, [done("split_eb"), done("flag_split"), started("setjy_flux_model")], None),
    ],
)
def test_recorded_version(vis, record, version):
    assert flag_state.recorded_version(vis, record) == version


def test_every_writer_that_changes_flags_says_which_version_it_leaves():
    for kind, writers in ms_state.WRITERS.items():
        jobs = {job for job, _ in writers}
        assert set(flag_state.LEFT_BY[kind]) <= jobs
        assert jobs - set(flag_state.LEFT_BY[kind]) <= {"setjy_flux_model"}
