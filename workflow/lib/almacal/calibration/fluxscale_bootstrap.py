"""fluxscale: {eb}.ms.split.flux_inf from ampli_inf, and the fitted fluxes as JSON."""

import shutil

from almacal import choices, jsonio
from almacal.casa_job import CasaJob


def fitted_fluxes(result: dict, field_names: list[str]) -> dict:
    """fluxscale's return value as JSON: per field, per spw flux and error, fitted spectrum."""
    fluxes = {}
    freqs = list(result.get("freq", []))
    for key, entry in result.items():
        if not key.isdigit():
            continue
        name = entry.get("fieldName", field_names[int(key)])
        per_spw = {}
        for spw_key, spw_entry in entry.items():
            if spw_key.isdigit() and float(spw_entry.get("numSol", [0])[0]) > 0:
                per_spw[spw_key] = {
                    "flux_jy": float(spw_entry["fluxd"][0]),
                    "error_jy": float(spw_entry["fluxdErr"][0]),
                    "n_solutions": int(spw_entry["numSol"][0]),
                    "freq_hz": float(freqs[int(spw_key)]) if int(spw_key) < len(freqs) else None,
                }
        spidx = list(entry.get("spidx", []))
        fit = {
            "flux_jy": float(entry["fitFluxd"]) if "fitFluxd" in entry else None,
            "error_jy": float(entry["fitFluxdErr"]) if "fitFluxdErr" in entry else None,
            "spix": float(spidx[1]) if len(spidx) > 1 else None,
            "reffreq_hz": float(entry["fitRefFreq"]) if "fitRefFreq" in entry else None,
        }
        fluxes[name] = {"spws": per_spw, "fit": fit}
    return fluxes


def fluxscale_bootstrap(
    *,
    vis: str,
    eb_choices: str,
    ampli_inf: str,
    caltable: str,
    fluxes: str,
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    md, roles = ebc.metadata, ebc.roles
    transfer = [f for f in ebc.calibrators if f not in roles["flux"]]
    if not transfer:
        # one field is flux, bandpass and phase calibrator: ampli_inf, solved against its setjy
        # model, is on the flux scale already
        reason = (
            f"skipped: no transfer field (the flux calibrator {', '.join(roles['flux'])} is "
            "every calibrator): the flux scale is setjy's, flux_inf is ampli_inf"
        )
        with CasaJob(log=log, commands=commands, title=f"fluxscale {caltable}") as job:
            job.note(reason)
            shutil.rmtree(caltable, ignore_errors=True)
            shutil.copytree(ampli_inf, caltable)
        jsonio.write(
            fluxes,
            {"reference": roles["flux"], "transfer": [], "fields": {}, "skipped": reason},
        )
        return
    with CasaJob(log=log, commands=commands, title=f"fluxscale {caltable}") as job:
        result = job.task(
            "fluxscale",
            vis=vis,
            caltable=ampli_inf,
            fluxtable=caltable,
            reference=",".join(roles["flux"]),
            transfer=",".join(transfer),
            fitorder=1,
        )
    field_names = [f["name"] for f in md["fields"]]
    jsonio.write(
        fluxes,
        {
            "reference": roles["flux"],
            "transfer": transfer,
            "fields": fitted_fluxes(result, field_names),
        },
    )
