"""One machine-readable file per EB with the figures of its ALMA-specific corrections.

{eb}.corrections.json gathers what the a-priori and amplitude corrections did, for the QA report
and for reducers: Tsys medians per antenna and spw (and the TDM->FDM map), the antenna-position
offsets applied, WVR (whether it is applied and why, wvrgcal per-antenna figures, radiometers
flagged by config and by the assessment, calibrators' phase rms without and with it; or why the
EB has none), the flux models (and where their values came from), and the
amplitude renormalisation (maximum factor per field and spw as the pipeline defines it, where it
is reached, per scan; the decision).
"""

from pathlib import Path

import numpy as np

from almacal import jsonio, raw_data
from almacal.casa_job import CasaJob
from almacal.qa import common as qa_common


def read_json(path: str | None) -> dict | None:
    return jsonio.load(path) if path else None


def antenna_position_offsets(antpos: str, antennas: list[str]) -> dict[str, list[float]]:
    """ITRF offsets (m) the antpos caltable applies, per antenna with a non-zero one."""
    from casatools import table

    tb = table()
    tb.open(antpos)
    offsets = tb.getcol("FPARAM")[:, 0, :]  # [xyz, row]
    ants = tb.getcol("ANTENNA1")
    tb.close()
    return {
        antennas[int(a)]: [round(float(v), 6) for v in offsets[:, i]]
        for i, a in enumerate(ants)
        if np.any(offsets[:, i] != 0)
    }


def eb_corrections(
    *,
    metadata: str,
    tsys: str | None,
    tsys_spwmap: str | None,
    antpos: str | None,
    wvr_stats: str | None,
    flux_model: str,
    renorm: str,
    corrections: str,
    log: str,
    commands: str,
) -> None:
    md = jsonio.load(metadata)
    eb = qa_common.eb_name(md)
    antennas = [a["name"] for a in md["antennas"]]
    with CasaJob(log=log, commands=commands, title=f"corrections summary of {eb}") as job:
        job.note(f"read {tsys}, {antpos}, {wvr_stats}, {flux_model}, {renorm}")
        tsys_figures = None
        if tsys:
            tsys_figures = {
                **qa_common.tsys_medians(qa_common.read_caltable(tsys)),
                "spwmap": read_json(tsys_spwmap),
            }
        positions = antenna_position_offsets(antpos, antennas) if antpos else None
    wvr = read_json(wvr_stats)
    if wvr is None:
        wvr_figures = {
            "applied": False,
            "reason": raw_data.NO_WVR,
        }
    else:
        assessment = wvr["assessment"]
        wvr_figures = {
            "applied": wvr["applied"],
            "reason": wvr["reason"],
            "improvement": assessment["improvement"],
            "toffset_s": wvr["toffset_s"],
            "flagged_antennas": wvr["wvrflag"],
            "flagged_by_assessment": wvr["wvrflag_auto"],
            "tie": wvr["tie"],
            "per_antenna": wvr["antennas"],
            "ratio_per_antenna": assessment["ratio_per_antenna"],
            "calibrator_phase_rms_deg_before": assessment["calibrator_phase_rms_deg_without"],
            "calibrator_phase_rms_deg_after": assessment["calibrator_phase_rms_deg_with"],
        }
    rn = read_json(renorm)
    renorm_figures = {
        "applied": rn["apply"],
        "decision": rn["decision"],
        "threshold": rn["threshold"],
        "max_factor": rn["max_rn"],
        "max_median_factor": rn["max_median_rn"],
        "fields": {
            field: {
                spw: {
                    "max_factor": s["max_rn"],
                    "max_factor_at": {"scan": s["max_rn_scan"], "field_id": s["max_rn_field"]},
                    "max_median_factor": s["max_median_rn"],
                    "exceeds_threshold": s["exceeds_threshold"],
                    "per_scan": {scan: v["max_rn"] for scan, v in s["scans"].items()},
                }
                for spw, s in per_spw.items()
            }
            for field, per_spw in rn["fields"].items()
        },
        "excluded_channels": rn["excluded_channels"],
    }
    Path(corrections).parent.mkdir(parents=True, exist_ok=True)
    jsonio.write(
        corrections,
        {
            "eb": eb,
            "tsys": tsys_figures,
            "antenna_positions": {"applied": positions is not None, "offsets_m": positions},
            "wvr": wvr_figures,
            "flux_models": read_json(flux_model)["models"],
            "renormalization": renorm_figures,
        },
    )
