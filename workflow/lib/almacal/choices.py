"""The calibration choices of one EB, derived from its metadata (``almacal.eb_metadata``).

Field roles, science spws, the Tsys field and spw maps and the reference antennas, each
overridable from config. ``resolve`` derives all of an EB's choices at once (the eb_choices job,
and the input checks before any job runs); every other job reads them from the choices file
with ``load``, so that each choice is made in one place.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from almacal import jsonio

# ALMA scan intents -> the workflow's field roles.
ROLE_INTENTS = {
    "bandpass": ("CALIBRATE_BANDPASS",),
    "flux": ("CALIBRATE_FLUX", "CALIBRATE_AMPLI"),
    "phase": ("CALIBRATE_PHASE",),
    "target": ("OBSERVE_TARGET",),
    "check": ("OBSERVE_CHECK_SOURCE",),
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
            # a mosaic's pointings are fields of one name: the name once
            roles[role] = list(
                dict.fromkeys(
                    f["name"] for f in metadata["fields"] if set(intents) & set(f["intents"])
                )
            )
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


def check_fields(roles: dict[str, list[str]]) -> list[str]:
    """Check sources (OBSERVE_CHECK_SOURCE): calibrated like the targets, by phase transfer,
    and assessed against their known flux density and position."""
    calibrators = calibrator_fields(roles)
    return [f for f in roles.get("check", []) if f not in calibrators + roles["target"]]


def is_wvr(spw: dict) -> bool:
    """ALMA's 183 GHz water-vapour radiometer window: 4 channels, named ...WVR..."""
    return spw["nchan"] == 4 or "WVR" in spw["name"]


def is_channel_average(spw: dict) -> bool:
    """A 1-channel spw: ALMA's ``...#CH_AVG`` twin of a full-resolution spw (observed in the same
    scans) or a square-law detector (``...#SQLD``) window; never calibrated on its own."""
    return spw["nchan"] == 1 or "#CH_AVG" in spw["name"] or "#SQLD" in spw["name"]


def is_full_resolution(spw: dict) -> bool:
    """Neither the WVR window nor a channel-average or square-law twin."""
    return not (is_wvr(spw) or is_channel_average(spw))


def science_spws(metadata: dict, override: list[int] | None = None) -> list[int]:
    """The full-resolution spws observed with OBSERVE_TARGET (never the WVR window, CH_AVG or
    square-law twins); without intents, every full-resolution spw."""
    if override:
        return sorted(override)
    candidates = [s for s in metadata["spws"] if is_full_resolution(s)]
    observed = [s["id"] for s in candidates if "OBSERVE_TARGET" in s["intents"]]
    return observed or [s["id"] for s in candidates]


def atmosphere_spws(metadata: dict) -> list[int]:
    """Full-resolution spws observed in CALIBRATE_ATMOSPHERE scans (where Tsys is measured); all
    full-resolution spws if none."""
    candidates = [s for s in metadata["spws"] if is_full_resolution(s)]
    spws = [s["id"] for s in candidates if "CALIBRATE_ATMOSPHERE" in s["intents"]]
    return spws or [s["id"] for s in candidates]


def tsys_field_map(metadata: dict, override: dict | None = None) -> dict[str, str]:
    """Field -> the field whose Tsys it takes (applycal gainfield of the Tsys table).

    A field with its own CALIBRATE_ATMOSPHERE scans takes its own Tsys. One without (often the
    phase calibrator) takes, as the ALMA scripts map it, the Tsys of the field observed nearest
    in time that has them: the field whose ATMOSPHERE scans are, on average over this field's
    scans, the nearest in time. Config (``calibration.tsys_field_map``) may name the field for
    any of them. No field has Tsys scans: empty map.
    """
    override = override or {}
    known = {f["name"] for f in metadata["fields"]}
    bad = sorted(f"{k} -> {v}" for k, v in override.items() if k not in known or v not in known)
    if bad:
        raise ValueError(f"{metadata['ms']}: tsys_field_map names fields not in the data: {bad}")
    atm = {}  # field -> midpoints of its ATMOSPHERE scans
    for scan in metadata["scans"]:
        if "CALIBRATE_ATMOSPHERE" in scan["intents"]:
            atm.setdefault(scan["field"], []).append(0.5 * (scan["begin"] + scan["end"]))
    if not atm:
        return {}
    mapping = {}
    for entry in metadata["fields"]:
        name = entry["name"]
        if name in override:
            mapping[name] = override[name]
        elif name in atm:
            mapping[name] = name
        else:
            mids = [0.5 * (s["begin"] + s["end"]) for s in metadata["scans"] if s["field"] == name]
            if not mids:
                continue

            def mean_gap(candidate: str, mids=mids) -> float:
                times = np.array(atm[candidate])
                return float(np.mean([np.min(np.abs(times - t)) for t in mids]))

            mapping[name] = min(sorted(atm), key=mean_gap)
    return mapping


def tsys_spwmap(
    metadata: dict,
    tsys_spws: list[int],
    override: list[int] | None = None,
    science: list[int] | None = None,
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

    for sci in science or science_spws(metadata):
        lo, hi = span(spws[sci])
        centre = 0.5 * (lo + hi)
        same_bb = [t for t in tsys_spws if spws[t]["baseband"] == spws[sci]["baseband"]]
        candidates = same_bb or list(tsys_spws)
        covering = [t for t in candidates if span(spws[t])[0] <= lo and span(spws[t])[1] >= hi]
        pool = covering or candidates
        spwmap[sci] = min(pool, key=lambda t: abs(0.5 * sum(span(spws[t])) - centre))
    return spwmap


@dataclass(frozen=True)
class RefantCandidate:
    """One antenna's place in the reference-antenna ranking, with the figures behind it."""

    name: str
    distance_m: float  # from the array centre (median of the ITRF positions)
    unflagged_fraction: float | None  # after the a-priori flags; None when not known
    score: float  # geometry + flagging score, higher is better (hif_refant's sum)
    reason: str


def ranked_refants(
    metadata: dict,
    override: str | None = None,
    keep: int = 5,
    flagged_fractions: dict[str, float] | None = None,
) -> list[RefantCandidate]:
    """Reference antennas, best first, as the ALMA pipeline's hif_refant ranks them.

    Geometry: each antenna's distance from the array centre, from the ITRF x, y, z of the
    ANTENNA table, scores ``n * (1 - d / d_max)``. Flagging (when ``flagged_fractions``, the
    per-antenna flagged fractions after the a-priori flags, are given): the unflagged fraction
    scores ``n * u / u_max``. The ranking is by the sum; antennas without unflagged data (all
    flagged, or absent from the flag summary: no rows) or without a position (a zero ANTENNA
    row) are left out, and the centre, ``d_max`` and ``n`` are those of the others. An override
    names the antennas in config order and is not ranked.
    """
    names = [a["name"] for a in metadata["antennas"]]
    if override:
        unknown = [name for name in override.split(",") if name not in names]
        if unknown:
            raise ValueError(f"{metadata['ms']}: refant antenna(s) {unknown} are not in the EB")
        return [
            RefantCandidate(name, float("nan"), None, float("nan"), "given in config")
            for name in override.split(",")
        ]
    positions = np.array([a["itrf_xyz_m"] for a in metadata["antennas"]])
    # an ANTENNA row without a position (all zeros: a pad the EB did not use) is no candidate
    usable = np.linalg.norm(positions, axis=1) > 1e6
    unflagged = None
    if flagged_fractions is not None:
        unflagged = np.array([1.0 - flagged_fractions.get(name, 1.0) for name in names])
        usable &= unflagged > 0
    if not usable.any():
        raise ValueError(f"{metadata['ms']}: every antenna is flagged after the a-priori flags")
    # centre and scale from the antennas that can be chosen
    distance = np.linalg.norm(positions - np.median(positions[usable], axis=0), axis=1)
    n = int(usable.sum())
    geometry = n * (1.0 - distance / max(float(distance[usable].max()), 1e-9))
    flagging = np.zeros(len(names)) if unflagged is None else n * unflagged / unflagged.max()
    score = geometry + flagging
    order = sorted(np.flatnonzero(usable), key=lambda i: (-score[i], distance[i]))[:keep]
    ranking = []
    for i in order:
        why = f"{distance[i]:.1f} m from the array centre"
        if unflagged is not None:
            why += f", {100 * unflagged[i]:.1f} % unflagged after the a-priori flags"
        ranking.append(
            RefantCandidate(
                names[i],
                round(float(distance[i]), 3),
                None if unflagged is None else round(float(unflagged[i]), 6),
                round(float(score[i]), 4),
                why,
            )
        )
    return ranking


def refant_string(ranking: list[RefantCandidate]) -> str:
    """The CASA refant parameter: antenna names best first."""
    return ",".join(candidate.name for candidate in ranking)


def spw_selection(spws: list[int]) -> str:
    return ",".join(str(s) for s in spws)


@dataclass(frozen=True)
class EBChoices:
    """Everything a job needs to know about an EB's calibration set-up."""

    metadata: dict
    roles: dict[str, list[str]]
    science_spws: list[int]
    refants: list[RefantCandidate]
    tsys_fields: dict[str, str] = field(default_factory=dict)
    tsys_spwmap: list[int] = field(default_factory=list)  # applycal spwmap; [] without SYSCAL

    @property
    def refant(self) -> str:
        return refant_string(self.refants)

    @property
    def calibrators(self) -> list[str]:
        return calibrator_fields(self.roles)

    @property
    def targets(self) -> list[str]:
        return target_fields(self.roles)

    @property
    def checks(self) -> list[str]:
        return check_fields(self.roles)

    def record(self) -> dict:
        """The choices file ({eb}.ms.choices.json): every choice with where it came from."""
        md = self.metadata
        spws = {s["id"]: s for s in md["spws"]}
        return {
            "ms": md["ms"],
            "field_roles": self.roles,
            "calibrators": self.calibrators,
            "targets": self.targets,
            "check_sources": self.checks,
            "science_spws": [
                {"id": s, "name": spws[s]["name"], "nchan": spws[s]["nchan"]}
                for s in self.science_spws
            ],
            "tsys_field_map": self.tsys_fields,
            "tsys_spwmap": self.tsys_spwmap,
            "refants": [asdict(c) for c in self.refants],
            "data": data_contents(md),
        }


def data_contents(metadata: dict) -> dict:
    """What the data carry that the calibration depends on."""
    return {
        "wvr_window": any(is_wvr(s) for s in metadata["spws"]),
        "syscal_rows": metadata.get("syscal_rows", 0),
        "atmosphere_scans": any("CALIBRATE_ATMOSPHERE" in s["intents"] for s in metadata["scans"]),
        "autocorrelations": metadata.get("autocorrelation_rows", 0) > 0,
        "antennas": len(metadata["antennas"]),
    }


def resolve(
    metadata: dict | str | Path,
    *,
    roles: dict | None = None,
    spws: list[int] | None = None,
    refant: str | None = None,
    tsys_fields: dict | None = None,
    spwmap: list[int] | None = None,
    flagged_fractions: dict[str, float] | None = None,
) -> EBChoices:
    """All choices of an EB from its metadata (dict or ``.ms.metadata.json``) and the config
    overrides (``calibration.field_roles``, ``science_spws``, ``refant``, ``tsys_field_map``,
    ``tsys_spwmap`` or the EB's own); ``flagged_fractions`` (per antenna, after the a-priori
    flags) rank the reference antennas by data quality as well as geometry. The Tsys spw map
    maps onto the spws of the SYSCAL table (empty without SYSCAL rows)."""
    md = metadata if isinstance(metadata, dict) else jsonio.load(metadata)
    spw_ids = science_spws(md, spws)
    syscal_spws = md.get("syscal_spws", [])
    return EBChoices(
        metadata=md,
        roles=field_roles(md, roles),
        science_spws=spw_ids,
        refants=ranked_refants(md, refant, flagged_fractions=flagged_fractions),
        tsys_fields=tsys_field_map(md, tsys_fields),
        tsys_spwmap=tsys_spwmap(md, syscal_spws, spwmap, spw_ids) if syscal_spws else [],
    )


def load(path: str | Path) -> EBChoices:
    """The choices of an EB from its choices file (written by the eb_choices job)."""
    record = jsonio.load(path)
    md = jsonio.load(Path(path).with_name(Path(record["ms"]).name + ".metadata.json"))
    return EBChoices(
        metadata=md,
        roles=record["field_roles"],
        science_spws=[s["id"] for s in record["science_spws"]],
        refants=[RefantCandidate(**c) for c in record["refants"]],
        tsys_fields=record["tsys_field_map"],
        tsys_spwmap=record["tsys_spwmap"],
    )
