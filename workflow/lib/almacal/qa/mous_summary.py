"""MOUS summary: per-EB flags and fluxscale results, and the phase calibrators' flux across EBs."""

from almacal import jsonio


def _load(path: str) -> dict:
    return jsonio.load(path)


def mous_summary(
    *,
    ebs: list[str],
    fluxes: list[str],
    split: list[str],
    flags: list[str],
    cal: list[str],
    summary: str,
) -> None:
    per_eb = {}
    transfer_flux: dict[str, dict[str, list[float]]] = {}
    for eb, flux_file, split_file, flag_file, cal_file in zip(ebs, fluxes, split, flags, cal):
        flux = _load(flux_file)
        per_eb[eb] = {
            "fluxscale": flux,
            "flagged_fraction_after_split": _load(split_file)["flags_after_split"][
                "flagged_fraction"
            ],
            "flagged_fraction_before_bandpass": _load(flag_file)["flagged_fraction"],
            "flagged_fraction_calibrated": _load(cal_file)["flags_after_applycal"][
                "flagged_fraction"
            ],
        }
        for field in flux["transfer"]:
            for spw, entry in flux["fields"].get(field, {}).get("spws", {}).items():
                transfer_flux.setdefault(field, {}).setdefault(spw, []).append(entry["flux_jy"])
    consistency = {
        field: {
            spw: {"flux_jy_per_eb": values, "max_over_min": max(values) / min(values)}
            for spw, values in spws.items()
        }
        for field, spws in transfer_flux.items()
    }
    jsonio.write(summary, {"ebs": per_eb, "transfer_flux_consistency": consistency})
