"""What the imaging jobs read from a measurement set (casatools): baseline lengths, frequencies,
dish diameters, phase centres (and a mosaic's extent) and the vector-averaged spectrum of a
field (all its pointings)."""

from __future__ import annotations

import math

import numpy as np


def _table():
    from casatools import table

    return table()


def field_ids(ms: str) -> dict[str, list[int]]:
    """Field name -> its field ids (several for the pointings of a mosaic)."""
    tb = _table()
    tb.open(f"{ms}/FIELD")
    names = list(tb.getcol("NAME"))
    tb.close()
    ids: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        ids.setdefault(name, []).append(i)
    return ids


def _pointings_rad(ms: str, field: str) -> np.ndarray:
    tb = _table()
    tb.open(f"{ms}/FIELD")
    dirs = np.array([tb.getcell("PHASE_DIR", i)[:, 0] for i in field_ids(ms)[field]])
    tb.close()
    return dirs  # [pointing, (ra, dec)] rad


def phase_centre_deg(ms: str, field: str) -> tuple[float, float]:
    """RA and Dec (deg) of the field's PHASE_DIR (of a mosaic: the pointing nearest the mean)."""
    dirs = _pointings_rad(ms, field)
    centre = dirs[central_pointing(ms, field)]
    return math.degrees(centre[0]) % 360.0, math.degrees(centre[1])


def _offsets_arcsec(dirs: np.ndarray, centre: np.ndarray) -> np.ndarray:
    dra = (dirs[:, 0] - centre[0] + math.pi) % (2 * math.pi) - math.pi
    return np.degrees(np.hypot(dra * np.cos(centre[1]), dirs[:, 1] - centre[1])) * 3600


def central_pointing(ms: str, field: str) -> int:
    """Index among the field's ids of the pointing nearest their mean direction."""
    dirs = _pointings_rad(ms, field)
    mean = np.array([np.angle(np.exp(1j * dirs[:, 0]).mean()), dirs[:, 1].mean()])
    return int(np.argmin(_offsets_arcsec(dirs, mean)))


def central_field_id(ms: str, field: str) -> int:
    return field_ids(ms)[field][central_pointing(ms, field)]


def mosaic_radius_arcsec(ms: str, field: str) -> float:
    """Largest offset of the field's pointings from its central one (0 for one pointing)."""
    dirs = _pointings_rad(ms, field)
    return float(_offsets_arcsec(dirs, dirs[central_pointing(ms, field)]).max())


def dish_sizes_m(ms: str) -> set[float]:
    """Dish diameters of the antennas with data in the MS (an ANTENNA table may list
    placeholders, e.g. the EVLA's empty pads with diameter 0)."""
    tb = _table()
    tb.open(ms)
    used = np.unique(np.concatenate([tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2")]))
    tb.close()
    tb.open(f"{ms}/ANTENNA")
    diameters = tb.getcol("DISH_DIAMETER")
    tb.close()
    return {float(diameters[a]) for a in used if diameters[a] > 0}


def _field_query(ms: str, field: str) -> str:
    ids = ",".join(str(i) for i in field_ids(ms)[field])
    return f"FIELD_ID IN [{ids}]"


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
    return max(dish_sizes_m(ms))


def uv_distances_m(ms: str, field: str) -> np.ndarray:
    """Projected baseline lengths (m) of the field's cross-correlation rows with unflagged data."""
    tb = _table()
    tb.open(ms)
    sub = tb.query(f"{_field_query(ms, field)} && ANTENNA1!=ANTENNA2 && !FLAG_ROW")
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
    sub = tb.query(f"{_field_query(ms, field)} && DATA_DESC_ID=={ddi} && ANTENNA1!=ANTENNA2")
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
