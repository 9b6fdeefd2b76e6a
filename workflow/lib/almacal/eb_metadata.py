"""What an EB holds (read once, after import) and the calibration choices derived from it.

``read_metadata`` turns a measurement set into a JSON-ready dict: fields with their intents,
spectral windows with baseband and frequencies, scans, antennas with positions. The resolve
functions derive field roles, science spws, the Tsys spw map and the reference antenna from
that dict, each overridable from config.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np

# ALMA scan intents -> the workflow's field roles.
ROLE_INTENTS = {
    "bandpass": ("CALIBRATE_BANDPASS",),
    "flux": ("CALIBRATE_FLUX", "CALIBRATE_AMPLI"),
    "phase": ("CALIBRATE_PHASE",),
    "target": ("OBSERVE_TARGET",),
}
ROLES = tuple(ROLE_INTENTS)
# casacore Stokes codes of the MS POLARIZATION table -> correlation names
CORRELATION_NAMES = {5: "RR", 6: "RL", 7: "LR", 8: "LL", 9: "XX", 10: "XY", 11: "YX", 12: "YY"}


def _intent_names(intents: list[str]) -> set[str]:
    """'CALIBRATE_PHASE#ON_SOURCE' -> 'CALIBRATE_PHASE'."""
    return {intent.split("#")[0] for intent in intents if intent}


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
        baseband = list(md.baseband(s) for s in range(md.nspw())) if md.nspw() else []
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
        positions = md.antennaposition  # bound method, per antenna id
        antennas = []
        for ant_id, name in enumerate(md.antennanames()):
            pos = positions(ant_id)
            antennas.append(
                {
                    "id": ant_id,
                    "name": name,
                    "station": md.antennastations(ant_id)[0],
                    "diameter_m": float(md.antennadiameter(ant_id)["value"]),
                    "itrf_m": [float(pos[k]["value"]) for k in ("m0", "m1", "m2")],
                }
            )
        correlations = [int(c) for c in md.corrtypesforpol(0)]
    finally:
        md.close()
    tb = table()
    tb.open(ms)
    keywords = tb.getkeywords()
    tb.close()
    has_syscal = "SYSCAL" in keywords
    syscal_rows = 0
    if has_syscal:
        tb.open(f"{ms}/SYSCAL")
        syscal_rows = tb.nrows()
        tb.close()
    return {
        "ms": str(ms),
        "fields": fields,
        "spws": spws,
        "scans": scans,
        "antennas": antennas,
        "correlation_types": correlations,
        "syscal_rows": syscal_rows,
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
            stokes = (list(tb.getcell("stokesParameter", row))
                      if tb.iscelldefined("stokesParameter", row) else ["I", "Q", "U", "V"])
            if spw is None or freqs.size == 0 or fluxes.shape[0] != freqs.size:
                continue
            centre = 0.5 * (spw["first_freq_hz"] + spw["last_freq_hz"])
            nearest = int(np.argmin(np.abs(freqs - centre)))
            low, high = sorted((spw["first_freq_hz"], spw["last_freq_hz"]))
            half = 0.5 * spw["total_bandwidth_hz"] / max(spw["nchan"], 1)
            if not low - half <= freqs[nearest] <= high + half:
                continue
            values = dict(zip(stokes, (float(v) for v in fluxes[nearest])))
            out.append({"source": str(tb.getcell("sourceName", row)), "spw": spw["id"],
                        "freq_hz": float(freqs[nearest]),
                        **{k: values.get(k, 0.0) for k in ("I", "Q", "U", "V")}})
    finally:
        tb.close()
    return out


def load(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def field_roles(metadata: dict, override: dict | None = None) -> dict[str, list[str]]:
    """Role -> field names, from the scan intents unless config states them.

    Raises when a role needed for calibration has no field, naming the EB.
    """
    override = override or {}
    roles = {}
    for role, intents in ROLE_INTENTS.items():
        if role in override:
            value = override[role]
            roles[role] = [value] if isinstance(value, str) else list(value)
        else:
            roles[role] = [
                f["name"] for f in metadata["fields"] if set(intents) & set(f["intents"])
            ]
    if not roles["flux"]:
        roles["flux"] = list(roles["bandpass"])
    known = {f["name"] for f in metadata["fields"]}
    for role, names in roles.items():
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(f"{metadata['ms']}: {role} field(s) {unknown} not in the data")
    missing = [role for role in ("bandpass", "phase") if not roles[role]]
    if missing:
        raise ValueError(
            f"{metadata['ms']}: no field for role(s) {missing}: the data carry no such scan "
            "intent; state the field roles in config (calibration.field_roles or the EB's "
            "overrides)"
        )
    return roles


def calibrator_fields(roles: dict[str, list[str]]) -> list[str]:
    """Bandpass, flux and phase calibrators, each once, in that order."""
    names = []
    for role in ("bandpass", "flux", "phase"):
        names += [n for n in roles[role] if n not in names]
    return names


def target_fields(roles: dict[str, list[str]]) -> list[str]:
    """Target fields that are not also calibrators."""
    calibrators = calibrator_fields(roles)
    return [f for f in roles["target"] if f not in calibrators]


def is_wvr(spw: dict) -> bool:
    """ALMA's 183 GHz water-vapour radiometer window: 4 channels, named ...WVR..."""
    return spw["nchan"] == 4 or "WVR" in spw["name"]


def science_spws(metadata: dict, override: list[int] | None = None) -> list[int]:
    """Spws observed with OBSERVE_TARGET (not the WVR window); without intents, every spw with
    more than 4 channels."""
    if override:
        return sorted(override)
    observed = [
        s["id"] for s in metadata["spws"] if "OBSERVE_TARGET" in s["intents"] and not is_wvr(s)
    ]
    if observed:
        return observed
    return [s["id"] for s in metadata["spws"] if not is_wvr(s)]


def atmosphere_spws(metadata: dict) -> list[int]:
    """Spws observed in CALIBRATE_ATMOSPHERE scans (where Tsys is measured); all others if none."""
    spws = [s["id"] for s in metadata["spws"] if "CALIBRATE_ATMOSPHERE" in s["intents"]
            and not is_wvr(s)]
    return spws or [s["id"] for s in metadata["spws"] if not is_wvr(s)]


def tsys_spwmap(
    metadata: dict, tsys_spws: list[int], override: list[int] | None = None
) -> list[int]:
    """applycal spwmap sending each science spw to the Tsys spw that covers it.

    As ALMA's ``tsysspwmap``: a Tsys spw of the same baseband whose frequency range contains the
    science spw; failing that, the one of the same baseband with the nearest centre frequency.
    Spws that are not mapped map to themselves.
    """
    if override:
        return list(override)
    spws = {s["id"]: s for s in metadata["spws"]}
    spwmap = list(range(max(spws) + 1))
    if not tsys_spws:
        return spwmap

    def span(spw):
        lo, hi = sorted((spw["first_freq_hz"], spw["last_freq_hz"]))
        return lo, hi

    for sci in science_spws(metadata):
        lo, hi = span(spws[sci])
        centre = 0.5 * (lo + hi)
        same_bb = [t for t in tsys_spws if spws[t]["baseband"] == spws[sci]["baseband"]]
        candidates = same_bb or list(tsys_spws)
        covering = [t for t in candidates if span(spws[t])[0] <= lo and span(spws[t])[1] >= hi]
        pool = covering or candidates
        spwmap[sci] = min(pool, key=lambda t: abs(0.5 * sum(span(spws[t])) - centre))
    return spwmap


def ranked_refants(metadata: dict, override: str | None = None, keep: int = 5) -> str:
    """Reference antennas, best first: the antennas nearest the array centre."""
    if override:
        return override
    positions = np.array([a["itrf_m"] for a in metadata["antennas"]])
    centre = np.median(positions, axis=0)
    distance = np.linalg.norm(positions - centre, axis=1)
    order = np.argsort(distance, kind="stable")[:keep]
    return ",".join(metadata["antennas"][i]["name"] for i in order)


def spw_selection(spws: list[int]) -> str:
    return ",".join(str(s) for s in spws)
