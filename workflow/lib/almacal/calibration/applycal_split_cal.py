"""Final applycal on {eb}.ms.split by field role, split to {eb}.ms.split.cal.

Bandpass and flux calibrators get their own per-integration phases (phase_int); the phase
calibrator and the targets get the phase calibrator's per-scan phases (phase_inf); all get the
bandpass and the fluxscaled amplitudes (flux_inf); the targets also the amplitude renormalisation
table when renorm_factors decided to make one (calwt off for it: it corrects a scale, not the
noise). applycal flags data without solutions; the job
restores the split-stage flag version afterwards, so {eb}.ms.split keeps the state upstream
jobs saw.
"""

from almacal import eb_metadata
from almacal import flag_state
from almacal.casa_job import CasaJob


def applycal_plan(roles: dict, tables: dict) -> list[dict]:
    """applycal arguments per field group, as in the ALMA manual scripts."""
    plan = []
    phase = ",".join(roles["phase"])
    for field in eb_metadata.calibrator_fields(roles):
        own = field not in roles["phase"]
        plan.append(
            {
                "field": field,
                "gaintable": [tables["bandpass"], tables["phase_int" if own else "phase_inf"],
                              tables["flux_inf"]],
                "gainfield": ["", field, field],
            }
        )
    targets = eb_metadata.target_fields(roles)
    if targets:
        step = {
            "field": ",".join(targets),
            "gaintable": [tables["bandpass"], tables["phase_inf"], tables["flux_inf"]],
            "gainfield": ["", phase, phase],
            "interp": ["linear,linear"] * 3,
            "calwt": [True] * 3,
        }
        if tables.get("renorm"):
            step["gaintable"].append(tables["renorm"])
            step["gainfield"].append("")
            step["interp"].append("nearest,linear")
            step["calwt"].append(False)
        plan.append(step)
    return plan


def applycal_split_cal(
    *, vis: str, metadata: str, tables: dict, cal: str, summary: str, field_roles: dict,
    log: str, commands: str,
) -> None:
    md = eb_metadata.load(metadata)
    roles = eb_metadata.field_roles(md, field_roles)
    plan = applycal_plan(roles, tables)
    flag_state.forget(cal)
    with CasaJob(log=log, commands=commands, title=f"final applycal and split of {vis}") as job:
        flag_state.restore(job, vis, flag_state.SPLIT_USER)
        try:
            for step in plan:
                job.task("applycal", vis=vis, flagbackup=False,
                         **{"interp": "linear,linear", "calwt": True, **step})
            job.task("split", vis=vis, outputvis=cal, datacolumn="corrected", keepflags=True)
        finally:
            flag_state.restore(job, vis, flag_state.SPLIT_USER)
        flag_state.write_json(
            summary, {"applycal": plan, "flags_after_applycal": flag_state.summary(job, cal)}
        )
