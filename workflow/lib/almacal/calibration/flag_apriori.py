"""A-priori flags on {eb}.ms: online flags, shadowing, autocorrelations, non-science intents."""

from almacal import flag_state, jsonio, ms_state
from almacal.casa_job import CasaJob

# Scans with these intents carry no data for the calibration of the visibilities.
NON_SCIENCE_INTENTS = ("CALIBRATE_POINTING", "CALIBRATE_ATMOSPHERE", "CALIBRATE_SIDEBAND_RATIO")


def online_flag_count(ms: str) -> int:
    from casatools import table

    tb = table()
    tb.open(f"{ms}/FLAG_CMD")
    rows = tb.nrows()
    tb.close()
    return rows


def flag_apriori(*, ms: str, metadata: str, summary: str, log: str, commands: str) -> None:
    md = jsonio.load(metadata)
    with (
        ms_state.writing(ms, "flag_apriori", summary),
        CasaJob(log=log, commands=commands, title=f"a-priori flags of {ms}") as job,
    ):
        flag_state.restore(job, ms, flag_state.ORIGINAL)
        online = online_flag_count(ms)
        if online:
            job.task(
                "flagcmd",
                vis=ms,
                inpmode="table",
                useapplied=True,
                action="apply",
                flagbackup=False,
            )
        intents = [i for i in NON_SCIENCE_INTENTS if i in md["intents"]]
        cmds = ["mode='shadow'", "mode='manual' autocorr=True"]
        if intents:
            cmds.append("mode='manual' intent='" + ",".join(f"*{i}*" for i in intents) + "'")
        job.task("flagdata", vis=ms, mode="list", inpfile=cmds, flagbackup=False)
        flag_state.save(job, ms, flag_state.APRIORI, "a-priori flags")
        jsonio.write(
            summary,
            {
                "online_flag_commands": online,
                "commands": cmds,
                **flag_state.summary(job, ms),
            },
        )
