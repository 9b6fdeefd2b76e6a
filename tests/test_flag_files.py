"""User flag files (almacal.flag_files): parsing, the checks against an EB's metadata and the
files and spws of each flag stage, on a metadata dict made here (no CASA)."""

import datetime as dt
import shlex
from pathlib import Path

import pytest

from almacal import flag_files
from almacal.flag_files import FlagFileError, check, checked_commands, parse

pytestmark = pytest.mark.fast

EB = "uid___A002_Xtest_X1"
MJD_EPOCH = dt.datetime(1858, 11, 17)


def mjd_s(text: str) -> float:
    """'2024/05/01/12:00:00' -> MJD seconds (the MS time scale)."""
    return (dt.datetime.strptime(text, "%Y/%m/%d/%H:%M:%S") - MJD_EPOCH).total_seconds()


def spw(spw_id: int, nchan: int, intents: list[str], name: str = "") -> dict:
    return {
        "id": spw_id,
        "nchan": nchan,
        "intents": intents,
        "name": name or f"spw{spw_id}",
        "baseband": 1,
        "first_freq_hz": 230e9,
        "last_freq_hz": 231e9,
    }


ATM, SCIENCE = ["CALIBRATE_ATMOSPHERE"], ["CALIBRATE_BANDPASS", "CALIBRATE_PHASE", "OBSERVE_TARGET"]
# An EB from 12:00 to 13:00: a WVR window, a Tsys (TDM) spw and two science spws of different
# channel counts; three fields, scans 1-6, XX/YY.
METADATA = {
    "ms": f"results/m/{EB}/{EB}.ms",
    "antennas": [
        {"id": i, "name": name} for i, name in enumerate(["DA41", "DA42", "DV01", "PM03"])
    ],
    "spws": [
        spw(0, 4, ATM, "WVR#NOMINAL"),
        spw(1, 128, ATM),
        spw(2, 960, SCIENCE),
        spw(3, 480, SCIENCE),
    ],
    "fields": [
        {"id": 0, "name": "J1924-2914"},
        {"id": 1, "name": "J1733-1304"},
        {"id": 2, "name": "DemoTarget"},
    ],
    "scans": [
        {
            "scan": n,
            "begin": mjd_s("2024/05/01/12:00:00") + 600 * (n - 1),
            "end": mjd_s("2024/05/01/12:00:00") + 600 * n,
        }
        for n in range(1, 7)
    ],
    "correlation_types": [9, 12],
    "intents": [
        "CALIBRATE_ATMOSPHERE",
        "CALIBRATE_BANDPASS",
        "CALIBRATE_FLUX",
        "CALIBRATE_PHASE",
        "OBSERVE_TARGET",
    ],
}
SCIENCE_SPWS = [2, 3]


def write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def command(text: str) -> flag_files.FlagCommand:
    """The command of a one-line file "f.txt" (as parse makes it)."""
    params = dict(token.split("=", 1) for token in shlex.split(text, comments=True))
    return flag_files.FlagCommand("f.txt", 1, text, params)


def errors_of(text: str, allowed=(0, 1, 2, 3), per_eb: bool = True) -> list[str]:
    return check(command(text), METADATA, list(allowed), per_eb=per_eb)


# Parsing.


def test_good_lines_parse_into_commands_with_their_line_numbers(tmp_path):
    path = write(
        tmp_path / "f.txt",
        "# reducer's notes",
        "",
        "antenna='DA45' spw='1:0~9' reason='bad Tsys'",
        "   mode='manual' field=\"J1924-2914\" scan='2,3'  # trailing comment",
        "antenna=DA41&DA42 timerange='2024/05/01/12:10:00~2024/05/01/12:20:00'",
    )
    commands, errors = parse(path)
    assert errors == []
    assert [c.line for c in commands] == [3, 4, 5]  # comments and blank lines count
    assert commands[0].params == {"antenna": "DA45", "spw": "1:0~9", "reason": "bad Tsys"}
    assert commands[1].params == {"mode": "manual", "field": "J1924-2914", "scan": "2,3"}
    assert commands[2].params["antenna"] == "DA41&DA42"
    assert commands[0].where() == f"{path}, line 3"


def test_an_empty_or_comment_only_file_has_no_commands(tmp_path):
    assert parse(write(tmp_path / "f.txt", "# nothing to flag", "", "   ")) == ([], [])


@pytest.mark.parametrize(
    "line, message",
    [
        ("antena='DA41'", "unknown flagdata parameter 'antena'"),
        ("antenna='DA41' spw", "expected key=value, got 'spw'"),
        ("antenna='DA41", "cannot parse (No closing quotation)"),
        ("=1", "expected key=value, got '=1'"),
    ],
)
def test_syntax_errors_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path / f"{EB}.split.flags.txt", "# header", line)
    _, errors = parse(path)
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}, line 2: ")
    assert message in errors[0]


# Checks of one command against the EB.


@pytest.mark.parametrize(
    "line",
    [
        "antenna='DA41' spw='2:0~47;912~959' reason='edges'",
        "antenna='DA4*'",  # a pattern matching antennas of the EB
        "antenna='!DV01'",
        "antenna='0,3'",  # antenna ids
        "antenna='DA41&DA42'",  # a baseline
        "spw='3:100~200' field='J1733-1304' scan='2~3' correlation='XX'",
        "spw='*:0~3'",  # every allowed spw (all have >= 4 channels)
        "spw='2~3'",
        "field='1'",
        "field='J1924*'",
        "intent='CALIBRATE_PHASE*'",
        "intent='*TARGET#ON_SOURCE'",
        "correlation='ABS_YY'",
        "autocorr=True",
        "mode='clip' clipminmax=[0,50]",
        "mode='quack' quackinterval=5",
        "timerange='2024/05/01/12:10:00~2024/05/01/12:20:00'",
        "timerange='12:10:00~12:20:00'",  # the date of the EB
        "timerange='2024/05/01/12:30:00'",
    ],
)
def test_lines_that_fit_the_eb_pass(line):
    assert errors_of(line) == []


@pytest.mark.parametrize(
    "line, message",
    [
        ("mode='manaul'", "mode 'manaul' is not one of"),
        ("antenna='DA99'", "antenna 'DA99' is not in the EB (DA41, DA42, DV01, PM03)"),
        ("antenna='DA41,CM*'", "antenna 'CM*' is not in the EB"),
        ("antenna='4'", "antenna id 4 does not exist (0~3)"),
        ("spw='7'", "spw [7] not in the data (spws here: 0, 1, 2, 3)"),
        ("spw='3~5'", "spw [4, 5] not in the data"),
        ("spw='two'", "spw 'two' is not a spw id or id range"),
        ("spw='2:0~960'", "channels 0~960 outside spw 2 (0~959)"),
        ("spw='3:500~600'", "channels 500~600 outside spw 3 (0~479)"),  # fine for spw 2, not for 3
        ("spw='2:20~10'", "channels 20~10 outside spw 2 (0~959)"),  # first after last
        ("spw='2:a~b'", "channel range 'a~b' is not 'first~last'"),
        ("spw='*:2~5'", "channels 2~5 outside spw 0 (0~3)"),  # '*' includes the 4-channel WVR spw
        ("field='3C279'", "field '3C279' is not in the EB (J1924-2914, J1733-1304, DemoTarget)"),
        ("field='5'", "field id 5 does not exist"),
        ("scan='99'", "scan 99 is not in the EB (scans 1~6)"),
        ("scan='7~9'", "scan 7~9 is not in the EB"),
        ("scan='two'", "scan 'two' is not a number or range"),
        ("correlation='RR'", "correlation 'RR' is not in the EB (XX, YY)"),
        ("intent='CALIBRATE_POLARIZATION*'", "intent 'CALIBRATE_POLARIZATION*' matches none of"),
        ("autocorr=yes", "autocorr must be True or False, not 'yes'"),
        (
            "timerange='2024/05/02/12:10:00~2024/05/02/12:20:00'",
            "is outside the EB (2024/05/01/12:00:00~2024/05/01/13:00:00)",
        ),
        ("timerange='2024/05/01/12:20:00~2024/05/01/12:10:00'", "ends before it starts"),
        ("timerange='12:70:00'", "is not 'YYYY/MM/DD/hh:mm:ss~YYYY/MM/DD/hh:mm:ss'"),
        ("timerange='2024/05/01~12:00'", "is not 'YYYY/MM/DD/hh:mm:ss~YYYY/MM/DD/hh:mm:ss'"),
    ],
)
def test_each_kind_of_bad_line_is_reported_with_file_line_and_text(line, message):
    errors = errors_of(line)
    assert len(errors) == 1, errors
    assert errors[0].startswith("f.txt, line 1: ")
    assert message in errors[0]
    assert errors[0].endswith(f": {line}")  # the line itself, as the reducer wrote it


def test_every_error_of_a_line_is_reported():
    errors = errors_of("antenna='DA99' spw='2:0~2000' field='3C279' mode='manaul'")
    assert len(errors) == 4


def test_a_spw_outside_the_stage_is_refused():
    """A split-stage line may name only the science spws (<eb>.ms.split has only those)."""
    errors = errors_of("spw='1:0~9'", allowed=SCIENCE_SPWS)
    assert errors and "spw [1] not in the data (spws here: 2, 3)" in errors[0]
    assert errors_of("spw='2:0~9'", allowed=SCIENCE_SPWS) == []


def test_a_time_range_of_another_eb_is_allowed_in_a_mous_wide_file():
    line = "timerange='2024/05/02/12:10:00~2024/05/02/12:20:00'"
    assert errors_of(line, per_eb=True)
    assert errors_of(line, per_eb=False) == []
    # still a malformed or reversed range is an error in any file
    assert errors_of("timerange='2024/05/02/12:20:00~2024/05/02/12:10:00'", per_eb=False)


# Whole files of one EB and stage.


def test_checked_commands_lists_every_bad_line_of_every_file(tmp_path):
    mous = write(tmp_path / "mous.split.flags.txt", "spw='2:0~9' reason='edge'", "antena='DA41'")
    own = write(
        tmp_path / f"{EB}.split.flags.txt",
        "# QA",
        "antenna='DA41' spw='2'",
        "antenna='DA99' spw='1:0~500'",
    )
    with pytest.raises(FlagFileError) as err:
        checked_commands([str(mous), str(own)], METADATA, SCIENCE_SPWS, eb_files=[str(own)])
    message = str(err.value)
    assert f"{mous}, line 2: unknown flagdata parameter 'antena'" in message
    assert f"{own}, line 3: antenna 'DA99' is not in the EB" in message
    assert f"{own}, line 3: spw [1] not in the data" in message
    assert f"{own}, line 2" not in message and f"{mous}, line 1" not in message


def test_checked_commands_returns_the_commands_in_file_order(tmp_path):
    mous = write(tmp_path / "mous.split.flags.txt", "spw='2:0~9'")
    own = write(tmp_path / f"{EB}.split.flags.txt", "antenna='DA41'", "antenna='DA42' spw='3'")
    commands = checked_commands([str(mous), str(own)], METADATA, SCIENCE_SPWS, eb_files=[str(own)])
    assert [(Path(c.file).name, c.line) for c in commands] == [
        ("mous.split.flags.txt", 1),
        (f"{EB}.split.flags.txt", 1),
        (f"{EB}.split.flags.txt", 2),
    ]


def test_stage_files_are_the_mous_file_then_the_eb_file_that_exist(tmp_path):
    assert flag_files.stage_files(tmp_path, EB, "split") == []
    own = write(tmp_path / f"{EB}.split.flags.txt", "")
    assert flag_files.stage_files(tmp_path, EB, "split") == [str(own)]
    mous = write(tmp_path / "mous.split.flags.txt", "")
    write(tmp_path / f"{EB}.raw.flags.txt", "")
    write(tmp_path / "uid___A002_Xother_X2.split.flags.txt", "")  # another EB's
    assert flag_files.stage_files(tmp_path, EB, "split") == [str(mous), str(own)]
    assert flag_files.stage_files(str(tmp_path), EB, "raw") == [
        str(tmp_path / f"{EB}.raw.flags.txt")
    ]


def test_stage_spws():
    assert flag_files.stage_spws(METADATA, "raw", SCIENCE_SPWS) == [0, 1, 2, 3]  # all of <eb>.ms
    assert flag_files.stage_spws(METADATA, "split", SCIENCE_SPWS) == [2, 3]
    assert flag_files.stage_spws(METADATA, "tsys", SCIENCE_SPWS) == [1]  # not the WVR window
    with pytest.raises(ValueError, match="unknown flag stage 'cal'"):
        flag_files.stage_spws(METADATA, "cal", SCIENCE_SPWS)


def test_stage_commands_check_each_stage_against_its_spws(tmp_path):
    tsys = write(tmp_path / f"{EB}.tsys.flags.txt", "antenna='DA42' spw='1:10~20'")
    assert len(flag_files.stage_commands([str(tsys)], METADATA, EB, "tsys", SCIENCE_SPWS)) == 1
    split = write(tmp_path / f"{EB}.split.flags.txt", "antenna='DA42' spw='1:10~20'")
    with pytest.raises(FlagFileError, match=r"line 1: spw \[1\] not in the data"):
        flag_files.stage_commands([str(split)], METADATA, EB, "split", SCIENCE_SPWS)
    raw = write(tmp_path / f"{EB}.raw.flags.txt", "spw='0'")  # the WVR window is in <eb>.ms
    assert flag_files.stage_commands([str(raw)], METADATA, EB, "raw", SCIENCE_SPWS)


def test_stage_commands_require_eb_time_ranges_in_the_eb_file_only(tmp_path):
    other_day = "timerange='2024/05/02/12:10:00~2024/05/02/12:20:00' reason='other EB'"
    mous = write(tmp_path / "mous.raw.flags.txt", other_day)
    assert flag_files.stage_commands([str(mous)], METADATA, EB, "raw", SCIENCE_SPWS)
    own = write(tmp_path / f"{EB}.raw.flags.txt", other_day)
    with pytest.raises(
        FlagFileError,
        match=rf"{EB}.raw.flags.txt, line 1: timerange .* is "
        "outside the EB",
    ):
        flag_files.stage_commands([str(mous), str(own)], METADATA, EB, "raw", SCIENCE_SPWS)
