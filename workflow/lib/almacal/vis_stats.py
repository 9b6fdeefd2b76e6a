"""Statistics of visibilities read straight from a measurement set."""

import numpy as np


def phase_scatter_deg(ms: str, field_ids: list[int], spws: list[int], column: str) -> float:
    """rms phase scatter of channel-averaged cross-correlations within each scan (degrees).

    Per baseline, scan, spw and correlation, each integration's phase is taken relative to the
    scan's vector mean, which removes what per-scan gain solutions absorb and keeps the
    short-timescale (atmospheric) part that WVR corrections remove.
    """
    from casatools import table

    tb = table()
    tb.open(f"{ms}/DATA_DESCRIPTION")
    ddi_spw = tb.getcol("SPECTRAL_WINDOW_ID")
    tb.close()
    ddis = [int(d) for d, spw in enumerate(ddi_spw) if spw in spws]
    tb.open(ms)
    deviations = []
    try:
        query = (
            f"ANTENNA1!=ANTENNA2 && FIELD_ID IN {list(field_ids)} "
            f"&& DATA_DESC_ID IN {ddis} && !FLAG_ROW"
        )
        sub = tb.query(query, columns=f"ANTENNA1,ANTENNA2,SCAN_NUMBER,DATA_DESC_ID,{column},FLAG")
        if sub.nrows() == 0:
            return float("nan")
        keys = np.stack(
            [sub.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "SCAN_NUMBER", "DATA_DESC_ID")], axis=1
        )
        groups = {}
        for ddi in np.unique(keys[:, 3]):
            rows = np.where(keys[:, 3] == ddi)[0]
            part = sub.selectrows(rows.tolist())
            data = np.ma.masked_array(part.getcol(column), part.getcol("FLAG")).mean(axis=1)
            part.close()
            for k, row in enumerate(rows):
                groups.setdefault(tuple(keys[row, :3]) + (ddi,), []).append(data[:, k])
        sub.close()
    finally:
        tb.close()
    for values in groups.values():
        values = np.ma.stack(values)  # [integration, corr]
        unit = values / np.abs(values)
        mean = unit.mean(axis=0)
        deviations.append(np.angle(unit * np.conj(mean)).compressed())
    if not deviations:
        return float("nan")
    return float(np.rad2deg(np.sqrt(np.mean(np.concatenate(deviations) ** 2))))
