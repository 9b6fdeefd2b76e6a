"""What the imaging jobs read from a measurement set (casatools): baseline lengths, frequencies,
dish diameters, phase centres and the vector-averaged spectrum of a field."""

from __future__ import annotations

import math

import numpy as np


def _table():
    from casatools import table

    return table()


def field_ids(ms: str) -> dict[str, int]:
    tb = _table()
    tb.open(f"{ms}/FIELD")
    names = list(tb.getcol("NAME"))
    tb.close()
    return {name: i for i, name in enumerate(names)}


def phase_centre_deg(ms: str, field: str) -> tuple[float, float]:
    """RA and Dec (deg) of the field's PHASE_DIR."""
    tb = _table()
    tb.open(f"{ms}/FIELD")
    direction = tb.getcell("PHASE_DIR", field_ids(ms)[field])[:, 0]
    tb.close()
    return math.degrees(direction[0]) % 360.0, math.degrees(direction[1])


def spw_frequencies(ms: str) -> dict[int, np.ndarray]:
    tb = _table()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    freqs = {i: np.asarray(tb.getcell("CHAN_FREQ", i)) for i in range(tb.nrows())}
    tb.close()
    return freqs


def spw_of_ddi(ms: str) -> dict[int, int]:
    tb = _table()
    tb.open(f"{ms}/DATA_DESCRIPTION")
    spws = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    return {ddi: int(spw) for ddi, spw in enumerate(spws)}


def largest_dish_m(ms: str) -> float:
    tb = _table()
    tb.open(f"{ms}/ANTENNA")
    diameters = tb.getcol("DISH_DIAMETER")
    tb.close()
    return float(np.max(diameters))


def uv_distances_m(ms: str, field: str) -> np.ndarray:
    """Projected baseline lengths (m) of the field's cross-correlation rows with unflagged data."""
    tb = _table()
    tb.open(ms)
    sub = tb.query(f"FIELD_ID=={field_ids(ms)[field]} && ANTENNA1!=ANTENNA2 && !FLAG_ROW")
    try:
        if sub.nrows() == 0:
            return np.zeros(0)
        uvw = sub.getcol("UVW")
        flag = sub.getcol("FLAG")
    finally:
        sub.close()
        tb.close()
    unflagged = ~np.all(flag, axis=(0, 1))
    return np.hypot(uvw[0], uvw[1])[unflagged]


def field_spectrum(ms: str, field: str, spw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies (Hz), the weighted vector average over rows and parallel hands of the field's
    cross-correlations per channel (complex), and whether a channel has no unflagged data."""
    ddi = {spw_: ddi_ for ddi_, spw_ in spw_of_ddi(ms).items()}[spw]
    tb = _table()
    tb.open(ms)
    sub = tb.query(
        f"FIELD_ID=={field_ids(ms)[field]} && DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2"
    )
    try:
        data = sub.getcol("DATA")  # [corr, chan, row]
        flag = sub.getcol("FLAG")
        weight = sub.getcol("WEIGHT")  # [corr, row]
    finally:
        sub.close()
        tb.close()
    w = np.where(flag, 0.0, weight[:, None, :])
    total = w.sum(axis=(0, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * data).sum(axis=(0, 2)) / total
    empty = total <= 0
    mean[empty] = 0.0
    return spw_frequencies(ms)[spw], mean, empty
