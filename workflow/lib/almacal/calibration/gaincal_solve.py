"""One gaincal table on {eb}.ms.split: ap_pre_bandpass, phase_int, phase_inf or ampli_inf."""

from almacal import eb_metadata
from almacal.casa_job import CasaJob


def central_channels(metadata: dict, spws: list[int], fraction: float) -> str:
    """spw selection of the central ``fraction`` of each spw's channels."""
    parts = []
    for spw in metadata["spws"]:
        if spw["id"] in spws:
            n = spw["nchan"]
            lo = int(n * (0.5 - fraction / 2))
            hi = max(lo, int(n * (0.5 + fraction / 2)) - 1)
            parts.append(f"{spw['id']}:{lo}~{hi}")
    return ",".join(parts)


def gaincal_solve(
    *,
    vis: str,
    metadata: str,
    caltable: str,
    gaintables: list[str],
    fields: str,
    calmode: str,
    gaintype: str,
    solve: dict,
    field_roles: dict,
    refant: str,
    minsnr: float,
    science_spws: list[int] | None,
    log: str,
    commands: str,
) -> None:
    md = eb_metadata.load(metadata)
    roles = eb_metadata.field_roles(md, field_roles)
    names = roles["bandpass"] if fields == "bandpass" else eb_metadata.calibrator_fields(roles)
    spw = ""
    if "channel_fraction" in solve:  # the pre-bandpass solve uses the central channels only
        spw = solve.get("spw") or central_channels(
            md, eb_metadata.science_spws(md, science_spws), solve["channel_fraction"]
        )
    with CasaJob(log=log, commands=commands, title=f"gaincal {caltable}") as job:
        job.task(
            "gaincal",
            vis=vis,
            caltable=caltable,
            field=",".join(names),
            spw=spw,
            solint=solve["solint"],
            refant=eb_metadata.ranked_refants(md, refant),
            gaintype=gaintype,
            calmode=calmode,
            minsnr=minsnr,
            gaintable=list(gaintables),
        )
