"""Antenna-position caltable {eb}.ms.antpos from the ALMA position-service JSON."""

import json
from pathlib import Path

from almacal import jsonio
from almacal.casa_job import CasaJob


def check_positions(positions: str, ms: str) -> None:
    """The file must hold ITRF positions in metres under 'data', as the service returns."""
    try:
        data = jsonio.load(positions)["data"]
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{positions}: not an antenna-position file ({err})") from err
    bad = [ant for ant, xyz in data.items() if len(xyz) != 3 or abs(sum(x * x for x in xyz)) < 1e12]
    if bad:
        raise ValueError(f"{positions}: antennas {bad} do not have ITRF x,y,z in metres")


def gencal_antpos(*, ms: str, positions: str, antpos: str, log: str, commands: str) -> None:
    check_positions(positions, ms)
    with CasaJob(log=log, commands=commands, title=f"antenna positions of {ms}") as job:
        job.task("gencal", vis=ms, caltable=antpos, caltype="antpos", infile=positions)
