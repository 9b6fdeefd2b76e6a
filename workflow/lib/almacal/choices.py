"""The calibration choices of one EB, derived from its metadata (``almacal.eb_metadata``).

Field roles, science spws, the Tsys spw map and the reference antennas, each overridable from
config. ``resolve`` gives all of an EB's choices at once; jobs call it instead of repeating the
metadata -> roles -> spws preamble.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from almacal import jsonio

# ALMA scan intents -> the workflow's field roles.
ROLE_INTENTS = {
    "bandpass": ("CALIBRATE_BANDPASS",),
    "flux": ("CALIBRATE_FLUX", "CALIBRATE_AMPLI"),
    "phase": ("CALIBRATE_PHASE",),
    "target": ("OBSERVE_TARGET",),
}
ROLES = tuple(ROLE_INTENTS)


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
    spws = [
        s["id"]
        for s in metadata["spws"]
        if "CALIBRATE_ATMOSPHERE" in s["intents"] and not is_wvr(s)
    ]
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
        known = {a["name"] for a in metadata["antennas"]}
        unknown = [name for name in override.split(",") if name not in known]
        if unknown:
            raise ValueError(f"{metadata['ms']}: refant antenna(s) {unknown} are not in the EB")
        return override
    positions = np.array([a["itrf_m"] for a in metadata["antennas"]])
    centre = np.median(positions, axis=0)
    distance = np.linalg.norm(positions - centre, axis=1)
    order = np.argsort(distance, kind="stable")[:keep]
    return ",".join(metadata["antennas"][i]["name"] for i in order)


def spw_selection(spws: list[int]) -> str:
    return ",".join(str(s) for s in spws)


@dataclass(frozen=True)
class EBChoices:
    """Everything a job needs to know about an EB's calibration set-up."""

    metadata: dict
    roles: dict[str, list[str]]
    science_spws: list[int]
    refant: str

    @property
    def calibrators(self) -> list[str]:
        return calibrator_fields(self.roles)

    @property
    def targets(self) -> list[str]:
        return target_fields(self.roles)


def resolve(
    metadata: dict | str | Path,
    *,
    roles: dict | None = None,
    spws: list[int] | None = None,
    refant: str | None = None,
) -> EBChoices:
    """All choices of an EB from its metadata (dict or ``.ms.metadata.json``) and the config
    overrides (``calibration.field_roles``, ``science_spws``, ``refant`` or the EB's own)."""
    md = metadata if isinstance(metadata, dict) else jsonio.load(metadata)
    return EBChoices(
        metadata=md,
        roles=field_roles(md, roles),
        science_spws=science_spws(md, spws),
        refant=ranked_refants(md, refant),
    )
