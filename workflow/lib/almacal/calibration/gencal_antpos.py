"""Antenna-position caltable {eb}.ms.antpos from the ALMA position-service JSON."""

from almacal import inputs, jsonio
from almacal.casa_job import CasaJob


def gencal_antpos(
    *, eb: str, ms: str, metadata: str, positions: str, antpos: str, log: str, commands: str
) -> None:
    errors = inputs.antenna_position_errors(positions, eb, jsonio.load(metadata))
    if errors:
        raise inputs.InputError("\n".join(errors))
    with CasaJob(log=log, commands=commands, title=f"antenna positions of {ms}") as job:
        job.task("gencal", vis=ms, caltable=antpos, caltype="antpos", infile=positions)
