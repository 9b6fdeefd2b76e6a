"""Antenna-position caltable {eb}.ms.antpos from the ALMA position-service JSON."""

from almacal import inputs, jsonio
from almacal.casa_job import CasaJob


def ms_antenna_positions(ms: str) -> dict[str, list[float]]:
    """ITRF x, y, z (m) of each antenna, from the MS's ANTENNA table."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/ANTENNA")
    try:
        names, xyz = list(tb.getcol("NAME")), tb.getcol("POSITION").T
    finally:
        tb.close()
    return {name: [float(v) for v in row] for name, row in zip(names, xyz)}


def gencal_antpos(
    *, eb: str, ms: str, metadata: str, positions: str, antpos: str, log: str, commands: str
) -> None:
    errors = inputs.antenna_position_errors(positions, eb, jsonio.load(metadata))
    if not errors:
        corrected = jsonio.load(positions)["data"]
        errors = inputs.position_offset_errors(positions, eb, corrected, ms_antenna_positions(ms))
    if errors:  # before gencal
        raise inputs.InputError("\n".join(errors))
    with CasaJob(log=log, commands=commands, title=f"antenna positions of {ms}") as job:
        job.task("gencal", vis=ms, caltable=antpos, caltype="antpos", infile=positions)
