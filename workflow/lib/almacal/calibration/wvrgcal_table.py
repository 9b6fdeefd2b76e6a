"""WVR phase correction {eb}.ms.wvrgcal (wvrgcal), whether to apply it, and its figures as JSON.

As the ALMA pipeline's hifa_wvrgcalflag: wvrgcal with the radiometers config names as bad
(wvrflag); then per-integration phase solutions on the bandpass and phase calibrators, after a
temporary bandpass, without and with the WVR table (almacal.wvr_assessment); radiometers whose
with/without phase-rms ratio on the bandpass calibrator is an outlier are added to wvrflag and
wvrgcal is run once more; the table is applied (by split_eb) only when it reduces the phase rms
(improvement >= accept_threshold) and enough antennas keep their own radiometer. Config can force
the decision (``apply: always | never``); with ``flag_outliers: false`` as well, the assessment is
not made (its figures are then empty). The temporary solves write caltables only: {eb}.ms is
read, never changed.

The phase calibrator and the targets are tied (one solution across them), and wvrgcal's
statistics come from the target, as in the ALMA scripts.
"""

import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from almacal import channels, choices, jsonio
from almacal import wvr_assessment as assess
from almacal.casa_job import CasaJob

MIN_WVR_ANTENNAS = 3  # the pipeline's ants_with_wvr_nr_thresh
MIN_WVR_FRACTION = 0.2  # its ants_with_wvr_thresh
ROLES = ("bandpass", "phase")  # the calibrators assessed; radiometers are flagged on the first


def _run_wvrgcal(job: CasaJob, ms: str, caltable: str, wvr: dict, wvrflag: list[str], ebc) -> dict:
    """wvrgcal into ``caltable`` (replaced); its per-antenna statistics."""
    roles = ebc.roles
    tie = [",".join(roles["phase"] + [t for t in roles["target"] if t not in roles["phase"]])]
    result = job.task(
        "wvrgcal",
        vis=ms,
        caltable=caltable,
        toffset=float(wvr["toffset"]),
        wvrflag=wvrflag,
        tie=tie,
        statsource=roles["target"][0] if roles["target"] else "",
    )
    per_antenna = {}
    if isinstance(result, dict) and "Name" in result:
        for i, name in enumerate(result["Name"]):
            per_antenna[str(name)] = {
                key: (bool(result[key][i]) if key in ("WVR", "Flag") else float(result[key][i]))
                for key in ("WVR", "Flag", "RMS_um", "Disc_um")
                if key in result
            }
    return {"tie": tie, "antennas": per_antenna}


def _phase_solve(job: CasaJob, ms: str, caltable: str, ebc, gaintable: list[str]) -> None:
    """Per-integration phase solutions on the assessed calibrators, ``gaintable`` applied."""
    job.task(
        "gaincal",
        vis=ms,
        caltable=caltable,
        field=",".join(f for role in ROLES for f in ebc.roles.get(role, [])),
        spw=choices.spw_selection(ebc.science_spws),
        solint="int",
        calmode="p",
        refant=ebc.refant,
        minsnr=3.0,
        gaintable=gaintable,
        interp=["nearest,linear"] + ["nearest"] * (len(gaintable) - 1),
    )


def _views(caltable: str, ebc) -> dict[tuple[str, int], np.ndarray]:
    """Phase-rms views (antenna x chunk) per (role, spw) of a per-integration phase caltable
    (none when gaincal found no solution and wrote no table)."""
    if not Path(caltable).exists():
        return {}
    md = ebc.metadata
    names = [a["name"] for a in md["antennas"]]
    field_ids = {f["name"]: f["id"] for f in md["fields"]}
    references = [names.index(c.name) for c in ebc.refants]
    views = {}
    for role in ROLES:
        ids = [field_ids[f] for f in ebc.roles.get(role, [])]
        for spw, sols in assess.read_phase_solutions(caltable, ids).items():
            views[(role, spw)] = assess.phase_rms_view(sols, len(names), references)[0]
    return views


def _figures(without: dict, with_wvr: dict) -> tuple[dict, dict]:
    """Per view: improvement and median phase rms; per antenna: median with/without ratio."""
    views, ratios = {}, {}
    for key in without:
        if key not in with_wvr:
            continue
        ratio = assess.ratio_view(with_wvr[key], without[key])
        ratios[key] = ratio
        views[f"{key[0]} spw {key[1]}"] = {
            "role": key[0],
            "spw": key[1],
            "improvement": assess.improvement(ratio),
            "phase_rms_deg_without": float(np.nanmedian(without[key])),
            "phase_rms_deg_with": float(np.nanmedian(with_wvr[key])),
        }
    return views, ratios


def _radiometers(wvrgcal_result: dict, names: list[str]) -> list[str]:
    """Antennas with a radiometer: wvrgcal's WVR column (else every antenna but the 7 m CMs)."""
    stats = wvrgcal_result["antennas"]
    if stats and all("WVR" in s for s in stats.values()):
        return [n for n in names if stats.get(n, {}).get("WVR")]
    return [n for n in names if not n.startswith("CM")]


@contextmanager
def _removed_afterwards(folder: str):
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _median_or_none(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _temporary_bandpass(job: CasaJob, ms: str, tmp: str, ebc) -> str:
    """A phase-up gaincal and a bandpass on the bandpass calibrator (else the phase
    calibrator), in ``tmp``: what the phase solutions of the assessment are made with."""
    md = ebc.metadata
    fields = ",".join(ebc.roles.get("bandpass") or ebc.roles.get("phase") or [])
    phase_up, bandpass = f"{tmp}/phase_up", f"{tmp}/bandpass"
    job.task(
        "gaincal",
        vis=ms,
        caltable=phase_up,
        field=fields,
        spw=channels.central_channels(md, ebc.science_spws, 0.2),
        solint="int",
        calmode="p",
        refant=ebc.refant,
        minsnr=3.0,
    )
    job.task(
        "bandpass",
        vis=ms,
        caltable=bandpass,
        field=fields,
        spw=choices.spw_selection(ebc.science_spws),
        solint="inf",
        combine="scan",
        refant=ebc.refant,
        minsnr=3.0,
        gaintable=[phase_up],
    )
    return bandpass


def _outliers(ratios: dict, skip: set[int], wvr: dict) -> tuple[set[int], dict]:
    """Antennas whose with/without ratio on the bandpass calibrator is a high outlier in any
    spw (``wvr.flag_outliers``), and the limit per spw."""
    outliers, limits = set(), {}
    if not wvr["flag_outliers"]:
        return outliers, limits
    for (role, spw), ratio in ratios.items():
        if role == ROLES[0]:
            bad, limit = assess.high_outliers(
                ratio, float(wvr["fhi_limit"]), int(wvr["fhi_minsample"]), skip
            )
            outliers |= bad
            limits[f"spw {spw}"] = limit
    return outliers, limits


def _ratio_per_antenna(ratios: dict, names: list[str]) -> dict[str, float | None]:
    """Median with/without ratio of each antenna on the bandpass calibrator (all spws)."""
    first = [r for (role, _), r in ratios.items() if role == ROLES[0]]
    out = {}
    for i, name in enumerate(names):
        values = np.concatenate([r[i][np.isfinite(r[i])] for r in first]) if first else []
        out[name] = float(np.median(values)) if len(values) else None
    return out


def wvrgcal_table(
    *,
    ms: str,
    eb_choices: str,
    caltable: str,
    stats: str,
    wvr: dict,
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    names = [a["name"] for a in ebc.metadata["antennas"]]
    unknown = sorted(set(wvr["flag"]) - set(names))
    if unknown:
        raise ValueError(f"{ms}: WVR antennas to flag {unknown} are not in the EB")
    wvrflag = list(wvr["flag"])
    tmp = f"{caltable}.assessment"  # the temporary solves (a fixed name: the commands log)
    shutil.rmtree(tmp, ignore_errors=True)
    Path(tmp).mkdir()
    with (
        _removed_afterwards(tmp),
        CasaJob(log=log, commands=commands, title=f"WVR correction of {ms}") as job,
    ):
        wvrgcal_result = _run_wvrgcal(job, ms, caltable, wvr, wvrflag, ebc)
        radiometers = _radiometers(wvrgcal_result, names)
        views, ratios, limits, auto_flagged, before_flagging = {}, {}, {}, [], None
        if not assessed(wvr):
            job.note(
                f"WVR assessment not made: wvr.apply is {wvr['apply']} and wvr.flag_outliers "
                "false, so its figures would change nothing"
            )
        else:
            bandpass = _temporary_bandpass(job, ms, tmp, ebc)
            _phase_solve(job, ms, f"{tmp}/without_wvr", ebc, [bandpass])
            _phase_solve(job, ms, f"{tmp}/with_wvr", ebc, [bandpass, caltable])
            without = _views(f"{tmp}/without_wvr", ebc)
            views, ratios = _figures(without, _views(f"{tmp}/with_wvr", ebc))
            skip = {i for i, n in enumerate(names) if n in wvrflag or n not in radiometers}
            outliers, limits = _outliers(ratios, skip, wvr)
            auto_flagged = sorted(names[a] for a in outliers)
            before_flagging = _median_or_none([v["improvement"] for v in views.values()])
        if auto_flagged:
            job.note(
                f"radiometers of {', '.join(auto_flagged)} spoil the phases (with/without WVR "
                f"phase-rms ratio above median + {wvr['fhi_limit']} MAD on the bandpass "
                "calibrator): wvrgcal again with them in wvrflag"
            )
            wvrflag = wvrflag + auto_flagged
            job.task("rmtables", tablenames=[caltable, f"{tmp}/with_wvr"])
            wvrgcal_result = _run_wvrgcal(job, ms, caltable, wvr, wvrflag, ebc)
            _phase_solve(job, ms, f"{tmp}/with_wvr", ebc, [bandpass, caltable])
            views, ratios = _figures(without, _views(f"{tmp}/with_wvr", ebc))
        overall = _median_or_none([v["improvement"] for v in views.values()])
        applied, reason = decide(
            wvr["apply"],
            overall,
            float(wvr["accept_threshold"]),
            len([n for n in radiometers if n not in wvrflag]),
            len(names),
        )
        job.note(f"WVR correction {'applied' if applied else 'not applied'}: {reason}")
    jsonio.write(
        stats,
        {
            "wvrflag": wvrflag,
            "wvrflag_config": list(wvr["flag"]),
            "wvrflag_auto": auto_flagged,
            "toffset_s": float(wvr["toffset"]),
            **wvrgcal_result,
            "assessment": {
                "improvement": overall,
                "improvement_before_auto_flags": before_flagging,
                "views": views,
                "ratio_per_antenna": _ratio_per_antenna(ratios, names),
                "outlier_limits": limits,
                "calibrator_phase_rms_deg_without": _median_or_none(
                    [v["phase_rms_deg_without"] for v in views.values()]
                ),
                "calibrator_phase_rms_deg_with": _median_or_none(
                    [v["phase_rms_deg_with"] for v in views.values()]
                ),
            },
            "apply": wvr["apply"],
            "applied": applied,
            "reason": reason,
        },
    )


def assessed(wvr: dict) -> bool:
    """Whether the WVR table is assessed: its figures decide (``wvr.apply: auto``) or find
    radiometers to flag (``wvr.flag_outliers``); else it is not made (it costs solves)."""
    return wvr["apply"] == "auto" or bool(wvr["flag_outliers"])


def decide(
    mode: str, improvement: float | None, threshold: float, n_radiometers: int, n_antennas: int
) -> tuple[bool, str]:
    """Whether to apply the WVR table, and why."""
    if mode == "always":
        return True, "applied as config says (wvr.apply: always)"
    if mode == "never":
        return False, "not applied as config says (wvr.apply: never)"
    if n_radiometers < MIN_WVR_ANTENNAS or n_radiometers < MIN_WVR_FRACTION * n_antennas:
        return False, (
            f"only {n_radiometers} of {n_antennas} antennas keep a usable radiometer (at least "
            f"{MIN_WVR_ANTENNAS} and {MIN_WVR_FRACTION:.0%} needed)"
        )
    if improvement is None:
        return False, "no phase solutions on the calibrators to assess the WVR correction with"
    if improvement < threshold:
        return False, (
            f"it does not reduce the calibrators' phase rms: improvement (rms without / with "
            f"WVR) {improvement:.2f} < {threshold}"
        )
    return True, f"it reduces the calibrators' phase rms {improvement:.2f} times"
