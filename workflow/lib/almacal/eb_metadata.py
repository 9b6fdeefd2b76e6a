"""What an EB holds, read once after import into a JSON-ready dict.

``read_metadata`` turns a measurement set into a JSON-ready dict: fields with their intents,
spectral windows with baseband and frequencies, scans, antennas with positions. The choices
derived from it (field roles, science spws, Tsys spw map, reference antennas) are in
``almacal.choices``.
"""

from typing import Any

import numpy as np

# casacore Stokes codes of the MS POLARIZATION table -> correlation names
CORRELATION_NAMES = {5: "RR", 6: "RL", 7: "LR", 8: "LL", 9: "XX", 10: "XY", 11: "YX", 12: "YY"}


def _intent_names(intents: list[str]) -> set[str]:
    """'CALIBRATE_PHASE#ON_SOURCE' -> 'CALIBRATE_PHASE'."""
    return {intent.split("#")[0] for intent in intents if intent}


def basebands(ms: str, md) -> list[int]:
    """Baseband of every spw: SPECTRAL_WINDOW's BBC_NO when the MS has it (ALMA), else groups of
    spws whose frequency ranges overlap or touch, numbered from 1 in frequency order (other
    arrays, e.g. the VLA, have no BBC_NO column)."""
    from casatools import table

    tb = table()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    has_bbc = "BBC_NO" in tb.colnames()
    tb.close()
    n = md.nspw()
    if has_bbc:
        return [int(md.baseband(s)) for s in range(n)]
    spans = []
    for spw in range(n):
        freqs = md.chanfreqs(spw)
        half = 0.5 * abs(float(md.chanwidths(spw)[0]))
        spans.append((float(freqs.min()) - half, float(freqs.max()) + half, spw))
    groups, number, reach = [0] * n, 0, -np.inf
    for low, high, spw in sorted(spans):
        if low > reach:  # a gap: a new group
            number += 1
        groups[spw] = number
        reach = max(reach, high)
    return groups


def read_metadata(ms: str) -> dict[str, Any]:
    """Fields, spws, scans and antennas of a measurement set."""
    from casatools import msmetadata, table

    md = msmetadata()
    md.open(ms)
    try:
        intents_of_scan = {}
        scans = []
        for scan in md.scannumbers():
            scan = int(scan)
            intents = sorted(md.intentsforscan(scan))
            intents_of_scan[scan] = intents
            times = md.timesforscan(scan)
            scans.append(
                {
                    "scan": scan,
                    "field": md.fieldnames()[int(md.fieldsforscan(scan)[0])],
                    "intents": sorted(_intent_names(intents)),
                    "spws": sorted(int(s) for s in md.spwsforscan(scan)),
                    "begin": float(times.min()),
                    "end": float(times.max()),
                }
            )
        field_names = md.fieldnames()
        fields = []
        for field_id, name in enumerate(field_names):
            field_scans = sorted(int(s) for s in md.scansforfield(field_id))
            intents = set()
            for scan in field_scans:
                intents |= _intent_names(intents_of_scan[scan])
            fields.append(
                {"id": field_id, "name": name, "scans": field_scans, "intents": sorted(intents)}
            )
        spws = []
        baseband = basebands(ms, md)
        for spw in range(md.nspw()):
            freqs = md.chanfreqs(spw)
            spw_intents = set()
            for scan in md.scansforspw(spw):
                spw_intents |= _intent_names(intents_of_scan[int(scan)])
            spws.append(
                {
                    "id": spw,
                    "name": md.namesforspws(spw)[0],
                    "nchan": int(md.nchan(spw)),
                    "baseband": int(baseband[spw]),
                    "ref_freq_hz": float(md.reffreq(spw)["m0"]["value"]),
                    "first_freq_hz": float(freqs[0]),
                    "last_freq_hz": float(freqs[-1]),
                    "total_bandwidth_hz": float(md.bandwidths(spw)),
                    "intents": sorted(spw_intents),
                }
            )
        antennas = []
        for ant_id, name in enumerate(md.antennanames()):
            antennas.append(
                {
                    "id": ant_id,
                    "name": name,
                    "station": md.antennastations(ant_id)[0],
                    "diameter_m": float(md.antennadiameter(ant_id)["value"]),
                }
            )
        correlations = [int(c) for c in md.corrtypesforpol(0)]
    finally:
        md.close()
    tb = table()
    # ITRF x, y, z (m) from the ANTENNA table's POSITION column (msmetadata.antennaposition
    # returns longitude, latitude and radius instead)
    tb.open(f"{ms}/ANTENNA")
    xyz = tb.getcol("POSITION").T
    tb.close()
    for antenna in antennas:
        antenna["itrf_xyz_m"] = [float(v) for v in xyz[antenna["id"]]]
    tb.open(ms)
    keywords = tb.getkeywords()
    autocorrelations = tb.query("ANTENNA1==ANTENNA2", columns="ANTENNA1")
    autocorrelation_rows = autocorrelations.nrows()
    autocorrelations.close()
    tb.close()
    has_syscal = "SYSCAL" in keywords
    syscal_rows, syscal_spws = 0, []
    if has_syscal:
        tb.open(f"{ms}/SYSCAL")
        syscal_rows = tb.nrows()
        if syscal_rows:  # the spws the Tsys table will have (gencal caltype 'tsys')
            syscal_spws = sorted(int(s) for s in set(tb.getcol("SPECTRAL_WINDOW_ID")))
        tb.close()
    return {
        "ms": str(ms),
        "fields": fields,
        "spws": spws,
        "scans": scans,
        "antennas": antennas,
        "correlation_types": correlations,
        "syscal_rows": syscal_rows,
        "syscal_spws": syscal_spws,
        "autocorrelation_rows": autocorrelation_rows,
        "intents": sorted({i for scan in scans for i in scan["intents"]}),
        "source_fluxes": source_table_fluxes(ms, spws) if "ASDM_SOURCE" in keywords else [],
    }


def source_table_fluxes(ms: str, spws: list[dict]) -> list[dict[str, Any]]:
    """Flux densities of the ASDM Source table (imported as ASDM_SOURCE): per source and spw, the
    measurement nearest the spw centre. ASDM 'SpectralWindow_<n>' is MS spw n when every ASDM
    spw has data (ALMA's case); a row whose frequency lies outside that spw is not used."""
    from casatools import table

    by_id = {s["id"]: s for s in spws}
    tb = table()
    tb.open(f"{ms}/ASDM_SOURCE")
    try:
        out = []
        for row in range(tb.nrows()):
            if not (tb.iscelldefined("flux", row) and tb.iscelldefined("frequency", row)):
                continue
            spw = by_id.get(int(str(tb.getcell("spectralWindowId", row)).rsplit("_", 1)[-1]))
            freqs = np.atleast_1d(tb.getcell("frequency", row))
            fluxes = np.atleast_2d(tb.getcell("flux", row))
            stokes = (
                list(tb.getcell("stokesParameter", row))
                if tb.iscelldefined("stokesParameter", row)
                else ["I", "Q", "U", "V"]
            )
            if spw is None or freqs.size == 0 or fluxes.shape[0] != freqs.size:
                continue
            centre = 0.5 * (spw["first_freq_hz"] + spw["last_freq_hz"])
            nearest = int(np.argmin(np.abs(freqs - centre)))
            low, high = sorted((spw["first_freq_hz"], spw["last_freq_hz"]))
            half = 0.5 * spw["total_bandwidth_hz"] / max(spw["nchan"], 1)
            if not low - half <= freqs[nearest] <= high + half:
                continue
            values = dict(zip(stokes, (float(v) for v in fluxes[nearest])))
            out.append(
                {
                    "source": str(tb.getcell("sourceName", row)),
                    "spw": spw["id"],
                    "freq_hz": float(freqs[nearest]),
                    **{k: values.get(k, 0.0) for k in ("I", "Q", "U", "V")},
                }
            )
    finally:
        tb.close()
    return out
