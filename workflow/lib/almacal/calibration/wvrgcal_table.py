"""WVR phase correction {eb}.ms.wvrgcal (wvrgcal) and its per-antenna statistics as JSON.

Antennas listed as bad in config (wvrflag) get corrections interpolated from their neighbours.
The phase calibrator and the targets are tied (one solution across them), and the statistics
come from the target, as in the ALMA scripts.
"""

from almacal import choices, jsonio
from almacal.casa_job import CasaJob


def wvrgcal_table(
    *,
    ms: str,
    eb_choices: str,
    caltable: str,
    stats: str,
    wvr: dict,
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    md, roles = ebc.metadata, ebc.roles
    antennas = {a["name"] for a in md["antennas"]}
    unknown = sorted(set(wvr["flag"]) - antennas)
    if unknown:
        raise ValueError(f"{ms}: WVR antennas to flag {unknown} are not in the EB")
    tie = [",".join(roles["phase"] + [t for t in roles["target"] if t not in roles["phase"]])]
    with CasaJob(log=log, commands=commands, title=f"WVR correction of {ms}") as job:
        result = job.task(
            "wvrgcal",
            vis=ms,
            caltable=caltable,
            toffset=float(wvr["toffset"]),
            wvrflag=list(wvr["flag"]),
            tie=tie,
            statsource=roles["target"][0],
        )
    per_antenna = {}
    if isinstance(result, dict) and "Name" in result:
        for i, name in enumerate(result["Name"]):
            per_antenna[str(name)] = {
                key: (bool(result[key][i]) if key in ("WVR", "Flag") else float(result[key][i]))
                for key in ("WVR", "Flag", "RMS_um", "Disc_um")
                if key in result
            }
    jsonio.write(
        stats,
        {
            "wvrflag": list(wvr["flag"]),
            "toffset_s": float(wvr["toffset"]),
            "tie": tie,
            "antennas": per_antenna,
        },
    )
