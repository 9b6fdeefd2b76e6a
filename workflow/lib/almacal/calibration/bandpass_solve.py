"""Bandpass table {eb}.ms.split.bandpass on the bandpass calibrator (optionally smoothed)."""

from almacal import eb_metadata
from almacal.casa_job import CasaJob


def bandpass_solve(
    *,
    vis: str,
    metadata: str,
    caltable: str,
    gaintables: list[str],
    solve: dict,
    field_roles: dict,
    refant: str,
    minsnr: float,
    log: str,
    commands: str,
) -> None:
    md = eb_metadata.load(metadata)
    roles = eb_metadata.field_roles(md, field_roles)
    solint = solve["solint"]
    if solve["smooth_channels"] > 0:
        solint = f"{solint},{solve['smooth_channels']}ch"
    with CasaJob(log=log, commands=commands, title=f"bandpass {caltable}") as job:
        job.task(
            "bandpass",
            vis=vis,
            caltable=caltable,
            field=",".join(roles["bandpass"]),
            solint=solint,
            combine="scan",
            refant=eb_metadata.ranked_refants(md, refant),
            solnorm=True,
            bandtype="B",
            minsnr=minsnr,
            gaintable=list(gaintables),
        )
