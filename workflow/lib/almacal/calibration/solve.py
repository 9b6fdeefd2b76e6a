"""One table of the solve table (``almacal.solves``) on {eb}.ms.split: gaincal or bandpass."""

from pathlib import Path
from typing import Any

from almacal import channels, choices, jsonio, solves
from almacal.casa_job import CasaJob


def solve_fields(entry: solves.Solve, eb_choices: choices.EBChoices) -> list[str]:
    """The fields a table is solved on."""
    if entry.fields == "calibrators":
        return eb_choices.calibrators
    return eb_choices.roles[entry.fields]


def task_arguments(
    entry: solves.Solve,
    eb_choices: choices.EBChoices,
    *,
    vis: str,
    caltable: str,
    gaintables: list[str],
    settings: dict,
    minsnr: float,
    spwmap: list[int] | None = None,
) -> dict[str, Any]:
    """The CASA call (gaincal or bandpass) that makes the table; ``spwmap`` is the spwphaseup
    map, used for the tables it is solved on top of that the solve table marks ``spwmap``."""
    common = {"vis": vis, "caltable": caltable, "field": ",".join(solve_fields(entry, eb_choices))}
    maps = solves.gaintable_spwmaps([solves.solve(t) for t in entry.on_top_of], spwmap or [])
    if maps is not None:
        common["spwmap"] = maps
    if entry.task == "bandpass":
        solint = settings["solint"]
        if settings.get("smooth_channels", 0) > 0:
            solint = f"{solint},{settings['smooth_channels']}ch"
        return {
            **common,
            "solint": solint,
            "combine": entry.combine,
            "refant": eb_choices.refant,
            "solnorm": True,
            "bandtype": "B",
            "minsnr": minsnr,
            "gaintable": list(gaintables),
        }
    if entry.task != "gaincal":
        raise ValueError(f"solve {entry.name}: task {entry.task} is not run by this job")
    spw = ""
    if "channel_fraction" in settings:  # the pre-bandpass solve uses the central channels only
        spw = settings.get("spw") or channels.central_channels(
            eb_choices.metadata, eb_choices.science_spws, settings["channel_fraction"]
        )
    if entry.combine:
        common["combine"] = entry.combine
    return {
        **common,
        "spw": spw,
        "solint": settings["solint"],
        "refant": eb_choices.refant,
        "gaintype": settings.get("gaintype", entry.gaintype or "G"),
        "calmode": entry.calmode,
        "minsnr": minsnr,
        "gaintable": list(gaintables),
    }


def solve_table(
    *,
    name: str,
    vis: str,
    eb_choices: str,
    caltable: str,
    gaintables: list[str],
    settings: dict,
    minsnr: float,
    log: str,
    commands: str,
    spwphaseup: str | None = None,
) -> None:
    entry = solves.solve(name)
    eb_choices = choices.load(eb_choices)
    spwmap = jsonio.load(spwphaseup)["spwmap"] if spwphaseup else []
    kwargs = task_arguments(
        entry,
        eb_choices,
        vis=vis,
        caltable=caltable,
        gaintables=gaintables,
        settings=settings,
        minsnr=minsnr,
        spwmap=spwmap,
    )
    antennas = eb_choices.metadata["antennas"]
    refants = [c.name for c in eb_choices.refants]
    if len(antennas) < 3:
        raise ValueError(
            f"{vis}: {entry.task} {caltable} needs at least three antennas for antenna-based "
            f"solutions; the EB has {len(antennas)}: such data cannot be calibrated here"
        )
    with CasaJob(log=log, commands=commands, title=f"{entry.task} {caltable}") as job:
        job.task(entry.task, **kwargs)
    if not Path(caltable).exists():
        raise RuntimeError(
            f"{vis}: {entry.task} wrote no table {caltable}: no solution for fields "
            f"{kwargs['field']} (spws {kwargs.get('spw') or 'all'}, solint {kwargs['solint']}, "
            f"minsnr {minsnr}, reference antennas {refants}); look in the job's CASA log for "
            "the reason (no unflagged data of these fields, fewer than three antennas with "
            "data, or every solution below minsnr), then fix the flags, field roles or solint"
        )
