"""Flagged fractions of a measurement set, counted from its FLAG column.

The counts are those of ``flagdata(mode='summary')`` (tests/test_flag_counts.py compares them):
every visibility (row x channel x correlation) counts once, flagged by its FLAG (FLAG_ROW is not
read, as flagdata's summary does not: CASA's tasks set FLAG whenever they set FLAG_ROW); a
baseline counts for both of its antennas, an autocorrelation for its antenna once. Reading FLAG
in chunks and counting with a matrix product takes a third to half of flagdata's time (at 5 GB
1-2 s instead of 3-5 s), and memory stays bounded whatever the size of the MS.
"""

from typing import Any

import numpy as np

from almacal.chunks import row_chunks
from almacal.eb_metadata import CORRELATION_NAMES

# visibilities read at a time
CHUNK_VISIBILITIES = 2**21

BY = ("antenna", "spw", "field", "correlation")


def _subtable_column(vis: str, subtable: str, column: str) -> list:
    from casatools import table

    tb = table()
    tb.open(f"{vis}/{subtable}")
    try:
        return [tb.getcell(column, row) for row in range(tb.nrows())]
    finally:
        tb.close()


def _flagged_per_row_and_correlation(sub, ncorr: int, nchan: int) -> np.ndarray:
    """Flagged channels of each row and correlation of a one-shape selection: (rows, corr).

    A chunk's FLAG (corr, chan, rows in Fortran order) is, transposed, a C-ordered (rows,
    chan x corr) array whose product with a (chan x corr, corr) indicator counts per correlation:
    numpy's sum of booleans along the channel axis is ten times slower."""
    nrow = sub.nrows()
    indicator = np.zeros((nchan * ncorr, ncorr), dtype=np.float32)
    for corr in range(ncorr):
        indicator[corr::ncorr, corr] = 1.0
    counts = np.empty((nrow, ncorr))
    for start, n in row_chunks(nrow, ncorr * nchan, CHUNK_VISIBILITIES):
        flag = sub.getcol("FLAG", startrow=start, nrow=n)
        rows = flag.T.reshape(n, nchan * ncorr).view(np.uint8).astype(np.float32)
        counts[start : start + n] = rows @ indicator  # exact: at most nchan per entry
    return counts


def flag_summary(vis: str, cross_only: bool = False) -> dict[str, Any]:
    """Flagged fraction of ``vis`` in all and per antenna (name), spw (id), field (name) and
    correlation (name), with the number of visibilities counted (``total``); the
    cross-correlations only when ``cross_only``."""
    from casatools import table

    antennas = _subtable_column(vis, "ANTENNA", "NAME")
    fields = _subtable_column(vis, "FIELD", "NAME")
    ddi_spw = _subtable_column(vis, "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID")
    ddi_pol = _subtable_column(vis, "DATA_DESCRIPTION", "POLARIZATION_ID")
    corr_types = _subtable_column(vis, "POLARIZATION", "CORR_TYPE")
    flagged: dict[str, dict[str, float]] = {by: {} for by in BY}
    total: dict[str, dict[str, float]] = {by: {} for by in BY}

    def add(by: str, key: str, n_flagged: float, n_total: float) -> None:
        flagged[by][key] = flagged[by].get(key, 0.0) + float(n_flagged)
        total[by][key] = total[by].get(key, 0.0) + float(n_total)

    def add_index(by: str, names: list[str], index: np.ndarray, per_row: np.ndarray, size: int):
        n_flagged = np.bincount(index, weights=per_row, minlength=len(names))
        n_rows = np.bincount(index, minlength=len(names))
        for i in np.nonzero(n_rows)[0]:
            add(by, names[i], n_flagged[i], n_rows[i] * size)

    tb = table()
    tb.open(vis)
    try:
        for ddi in sorted(int(d) for d in np.unique(tb.getcol("DATA_DESC_ID"))):
            where = f"DATA_DESC_ID=={ddi}" + (" && ANTENNA1!=ANTENNA2" if cross_only else "")
            sub = tb.query(where, columns="FLAG,ANTENNA1,ANTENNA2,FIELD_ID")
            try:
                if sub.nrows() == 0:
                    continue
                ncorr, nchan = sub.getcell("FLAG", 0).shape
                per_corr = _flagged_per_row_and_correlation(sub, ncorr, nchan)
                ant1, ant2, field = (sub.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "FIELD_ID"))
            finally:
                sub.close()
            per_row, size = per_corr.sum(axis=1), ncorr * nchan
            add("spw", str(ddi_spw[ddi]), per_row.sum(), size * len(per_row))
            for k, corr_type in enumerate(corr_types[ddi_pol[ddi]]):
                add(
                    "correlation",
                    CORRELATION_NAMES.get(int(corr_type), str(corr_type)),
                    per_corr[:, k].sum(),
                    nchan * len(per_row),
                )
            add_index("field", fields, field, per_row, size)
            add_index("antenna", antennas, ant1, per_row, size)
            baseline = ant1 != ant2
            add_index("antenna", antennas, ant2[baseline], per_row[baseline], size)
    finally:
        tb.close()
    n_flagged, n_total = sum(flagged["spw"].values()), sum(total["spw"].values())
    return {
        "flagged_fraction": round(n_flagged / n_total, 6) if n_total else 0.0,
        "total": n_total,
        **{
            by: {key: round(flagged[by][key] / total[by][key], 6) for key in sorted(total[by])}
            for by in BY
        },
    }
