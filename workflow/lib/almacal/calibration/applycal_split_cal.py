"""Final applycal on {eb}.ms.split by field role, split to {eb}.ms.split.cal.

Bandpass and flux calibrators get their own per-integration phases (phase_int); the phase
calibrator and the targets get the phase calibrator's per-scan phases (phase_inf); all get the
bandpass, the per-spw phase offsets (phase_offsets) and the fluxscaled amplitudes (flux_inf); the
phase tables go with the spw map of the spwphaseup decision; the targets also the amplitude renormalisation
table when renorm_factors decided to make one, like a Tsys table as the ALMA pipeline applies it
(each field its own factors, calwt on: the weights follow the spw-mean factor). applycal flags
data without solutions; the job restores the split-stage flag version afterwards, so
{eb}.ms.split keeps the state upstream jobs saw.
"""

from almacal import choices, flag_state, jsonio, ms_state, solves
from almacal.casa_job import CasaJob


def applycal_plan(roles: dict, tables: dict, spwmap: list[int] | None = None) -> list[dict]:
    """applycal arguments per field group, as in the ALMA manual scripts, from the solve table.

        Each calibrator gets the tables applied to its group ('own' for the bandpass and flux
        calibrators, 'phase' for the phase calibrator) with its own solutions; the targets get
        theirs from the phase calibrator, and so do the check sources (without the renormalisation,
    which corrects the targets' lines). Time-independent tables (applied to all) take gainfield ''.
    The tables the solve table marks ``spwmap`` are applied with ``spwmap`` (the spwphaseup
    decision; [] or None: each spw its own solutions).
    """
    plan = []
    phase = ",".join(roles["phase"])
    for field in choices.calibrator_fields(roles):
        used = solves.applied("phase" if field in roles["phase"] else "own")
        step = {
            "field": field,
            "gaintable": [tables[s.name] for s in used],
            "gainfield": ["" if s.applied_to == "all" else field for s in used],
        }
        maps = solves.gaintable_spwmaps(used, spwmap or [])
        if maps is not None:
            step["spwmap"] = maps
        plan.append(step)
    used = solves.applied("target")
    for fields, renormalised in (
        (choices.target_fields(roles), True),
        (choices.check_fields(roles), False),  # a quasar: no line to renormalise
    ):
        if not fields:
            continue
        step = {
            "field": ",".join(fields),
            "gaintable": [tables[s.name] for s in used],
            "gainfield": ["" if s.applied_to == "all" else phase for s in used],
            "interp": ["linear,linear"] * len(used),
            "calwt": [True] * len(used),
        }
        maps = solves.gaintable_spwmaps(used, spwmap or [])
        if maps is not None:
            step["spwmap"] = maps
        if renormalised and tables.get("renorm"):
            step["gaintable"].append(tables["renorm"])
            step["gainfield"].append("nearest")  # each field (mosaic pointing) its own factors
            step["interp"].append("nearest,linear")
            step["calwt"].append(True)
            if "spwmap" in step:
                step["spwmap"].append([])
        plan.append(step)
    return plan


def applycal_split_cal(
    *,
    vis: str,
    eb_choices: str,
    tables: dict,
    spwphaseup: str,
    cal: str,
    summary: str,
    log: str,
    commands: str,
) -> None:
    spwmap = jsonio.load(spwphaseup)["spwmap"]
    plan = applycal_plan(choices.load(eb_choices).roles, tables, spwmap)
    flag_state.forget(cal)
    with (
        ms_state.writing(vis, "applycal_split_cal", summary),
        CasaJob(log=log, commands=commands, title=f"final applycal and split of {vis}") as job,
    ):
        flag_state.restore(job, vis, flag_state.SPLIT_USER)
        try:
            for step in plan:
                job.task(
                    "applycal",
                    vis=vis,
                    flagbackup=False,
                    **{"interp": "linear,linear", "calwt": True, **step},
                )
            job.task("split", vis=vis, outputvis=cal, datacolumn="corrected", keepflags=True)
        finally:
            flag_state.restore(job, vis, flag_state.SPLIT_USER)
        jsonio.write(
            summary, {"applycal": plan, "flags_after_applycal": flag_state.summary(job, cal)}
        )
