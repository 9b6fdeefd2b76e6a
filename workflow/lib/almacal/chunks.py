"""Consecutive chunks of a table's rows, read one at a time so that a job's memory stays bounded
whatever the size of the MS."""


def row_chunks(nrow: int, per_row: int, visibilities: int) -> list[tuple[int, int]]:
    """(start, count) of consecutive chunks of ``nrow`` rows, at most ``visibilities``
    visibilities each (``per_row``: correlations x channels of a row), at least one row."""
    step = max(1, visibilities // max(1, per_row))
    return [(start, min(step, nrow - start)) for start in range(0, nrow, step)]
