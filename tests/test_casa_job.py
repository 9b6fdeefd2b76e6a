"""A job fails on a CASA SEVERE line, except the known leap-second notice, and records its calls."""

from __future__ import annotations

import pytest

from almacal.casa_job import CasaJob, CasaSevereError, casatasks_package

pytestmark = pytest.mark.fast


def test_severe_line_fails_the_job(tmp_path):
    with pytest.raises(CasaSevereError, match="antenna table is broken"):
        with CasaJob(log=str(tmp_path / "job.log"), commands=str(tmp_path / "c.py"), title="t"):
            casalog = casatasks_package().casalog

            casalog.post("antenna table is broken", "SEVERE")


def test_leap_second_notice_is_harmless(tmp_path):
    with CasaJob(log=str(tmp_path / "job.log"), commands=str(tmp_path / "c.py"), title="t"):
        casalog = casatasks_package().casalog

        casalog.post("Leap second table TAI_UTC seems out-of-date.", "SEVERE")
        casalog.post("all fine", "INFO")
    assert "TAI_UTC" in (tmp_path / "job.log").read_text()


def test_task_calls_are_recorded_and_run(tmp_path):
    listfile = tmp_path / "none.txt"
    commands = tmp_path / "c.py"
    with pytest.raises(Exception):  # noqa: B017 (CASA raises RuntimeError or logs SEVERE)
        with CasaJob(log=str(tmp_path / "job.log"), commands=str(commands), title="listobs") as job:
            job.task("listobs", vis=str(tmp_path / "missing.ms"), listfile=str(listfile))
    assert "listobs(\n    vis=" in commands.read_text()


def test_continuation_lines_of_the_leap_second_notice_are_harmless(tmp_path):
    origin = "task::MeasTable::dUTC(Double) (file MeasTable.cc, line 4290)"
    log = tmp_path / "job.log"
    log.write_text(
        f"2026-11-21 08:36:31\tSEVERE\t{origin}\tLeap second table TAI_UTC seems out-of-date.\n"
        f"2026-11-21 08:36:31\tSEVERE\t{origin}+\tUntil the table is updated,\n"
        f"2026-11-21 08:36:31\tSEVERE\tgaincal::solve\tNo solutions\n"
        f"2026-11-21 08:36:31\tSEVERE\tgaincal::solve+\tfor spw 1\n"
    )
    from almacal.casa_job import severe_lines

    assert severe_lines(log) == [
        "2026-11-21 08:36:31\tSEVERE\tgaincal::solve\tNo solutions\n"
        "2026-11-21 08:36:31\tSEVERE\tgaincal::solve+\tfor spw 1"
    ]
