"""Edge channels, the automatic low-gain flags and split-stage user flags on {eb}.ms.split, from
its as-split flag version.

The automatic flags ({eb}.ms.split.lowgainflag.flags.txt, almacal.calibration.lowgainflag) come
after the edge channels and the flux calibrator's line, the reducer's split-stage flag files last
(in the same flagdata call, in order), so a reducer's mode='unflag' line wins.
"""

from almacal import channels, choices, flag_state, jsonio, ms_state
from almacal import flag_files as user_flags
from almacal.casa_job import CasaJob


def flag_split(
    *,
    eb: str,
    vis: str,
    eb_choices: str,
    automatic_flag_files: list[str],
    flag_files: list[str],
    summary: str,
    edge_channel_fraction: float,
    flux_line_channels: str,
    log: str,
    commands: str,
) -> None:
    eb_choices = choices.load(eb_choices)
    md, spws = eb_choices.metadata, eb_choices.science_spws
    auto_commands = user_flags.stage_commands(automatic_flag_files, md, eb, "split", spws)
    user_commands = user_flags.stage_commands(flag_files, md, eb, "split", spws)
    line = None
    if flux_line_channels:
        flux_fields = ",".join(eb_choices.roles["flux"])
        line = user_flags.FlagCommand(
            "config calibration.flux_line_channels",
            1,
            f"field='{flux_fields}' spw='{flux_line_channels}' reason='flux calibrator line'",
            {"field": flux_fields, "spw": flux_line_channels},
        )
        errors = user_flags.check(line, md, spws, per_eb=True)
        if errors:
            raise user_flags.FlagFileError("\n".join(errors))
    with (
        ms_state.writing(vis, "flag_split", summary),
        CasaJob(log=log, commands=commands, title=f"split-stage flags of {vis}") as job,
    ):
        flag_state.restore(job, vis, flag_state.SPLIT_ORIGINAL)
        edges = channels.edge_selection(md, spws, edge_channel_fraction)
        if edges:
            job.task("flagdata", vis=vis, mode="manual", spw=edges, flagbackup=False)
        if line:
            flag_state.apply_flag_commands(job, vis, [line], "flux calibrator line before setjy")
        flag_state.apply_flag_commands(
            job, vis, auto_commands + user_commands, "automatic and split-stage user flags"
        )
        flag_state.save(job, vis, flag_state.SPLIT_USER, "edge channels, automatic and user flags")
        jsonio.write(
            summary,
            {
                "edge_channels": edges,
                "flux_calibrator_line": line.text if line else None,
                "automatic_flag_files": automatic_flag_files,
                "automatic_flag_commands": len(auto_commands),
                "user_flag_files": flag_files,
                "user_flag_commands": len(user_commands),
                **flag_state.summary(job, vis),
            },
        )
