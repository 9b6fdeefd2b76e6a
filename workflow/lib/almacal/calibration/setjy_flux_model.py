"""Flux calibrator model on {eb}.ms.split: setjy manual flux density and spectral index, or the
Butler-JPL-Horizons 2012 model of a solar-system body.

A flux calibrator named after a solar-system body with a Butler-JPL-Horizons 2012 model (Ceres,
Mars, Titan, ...) gets that model: a resolved disc from the ephemeris and brightness model that
ship with the CASA data, per channel (rows of the flux file for it are ignored, said in the log).

Values come from the MOUS flux file in the ALMA pipeline's flux.csv form
(ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment), I at the centre frequency of the spw. Where the
flux file has no row for a flux calibrator and spw, the flux densities the ASDM's Source table
carries (the ALMA calibrator catalogue values at import, as the pipeline's hifa_importdata reads
them) are used instead, at their own frequency, with the spectral index fitted across the
source's spws (0 with a single frequency); the log, the commands record and the JSON say so.
Every model is written to MODEL_DATA (``usescratch=True``), as a reducer's script does: one
write of the column here saves more in the solves than it costs. A virtual model
(``usescratch=False``) is evaluated on the fly by every solve that reads the flux calibrator:
measured on a 1.5 GB EB, a phase solve on the bandpass/flux calibrator took 5.8-6.2 s with the
virtual model and 3.1-3.9 s with MODEL_DATA, and the six solves of an EB took 41 s longer at
5 GB than the script's, while writing MODEL_DATA costs setjy 2 s at 1.5 GB and 9 s at 5 GB
(docs/benchmarks.md). A solar-system body's model needs MODEL_DATA anyway (CASA has no virtual
model for an ephemeris object). The job first deletes every model (delmod: virtual models and
the MODEL_DATA column if one exists), so every field but the flux calibrators is a 1 Jy point
source and the model it leaves does not depend on what ran before.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from almacal import choices, inputs, jsonio, ms_state
from almacal.casa_job import CasaJob


def read_flux_file(flux_file: str) -> pd.DataFrame:
    """The rows of a flux file that ``inputs.flux_file_errors`` has passed."""
    return pd.read_csv(
        flux_file, comment="#", skipinitialspace=True, dtype={"ms": str, "field": str}
    )


def flux_rows(table: pd.DataFrame, eb: str, fields: list[dict], flux_file: str) -> pd.DataFrame:
    """Rows of this EB's flux calibrator(s): field by name or id, ms by '<eb>.ms' or '<eb>'."""
    ids = {str(f["id"]): f["name"] for f in fields}
    names = table["field"].map(lambda v: ids.get(v.strip(), v.strip()))
    mine = table["ms"].str.strip().isin([eb, f"{eb}.ms"])
    return table[mine].assign(field=names[mine])


# Bodies with a Butler-JPL-Horizons 2012 model and an ephemeris in the CASA data (casadata).
SOLAR_SYSTEM_BODIES = (
    "Venus",
    "Mars",
    "Jupiter",
    "Uranus",
    "Neptune",
    "Io",
    "Europa",
    "Ganymede",
    "Callisto",
    "Titan",
    "Ceres",
    "Juno",
    "Pallas",
    "Vesta",
)
SOLAR_SYSTEM_STANDARD = "Butler-JPL-Horizons 2012"


def solar_system_body(field: str) -> str | None:
    """The solar-system body a flux calibrator's field name denotes (setjy matches names so)."""
    return next((b for b in SOLAR_SYSTEM_BODIES if field.strip().lower() == b.lower()), None)


def source_table_model(md: dict, field: str, spw: int) -> dict | None:
    """Manual setjy model of ``field`` in ``spw`` from the ASDM Source-table fluxes (or None)."""
    entries = [e for e in md.get("source_fluxes", []) if e["source"] == field and e["I"] > 0]
    own = [e for e in entries if e["spw"] == spw]
    if not own:
        return None
    freqs = np.array([e["freq_hz"] for e in entries])
    spix = 0.0
    if np.ptp(np.log(freqs)) > 0:
        spix = float(np.polyfit(np.log(freqs), np.log([e["I"] for e in entries]), 1)[0])
    return {
        "fluxdensity_jy": [own[0][k] for k in ("I", "Q", "U", "V")],
        "spix": spix,
        "reffreq": f"{own[0]['freq_hz'] / 1e9:.9f}GHz",
        "source": "ASDM Source table",
    }


def solar_system_models(
    job: CasaJob, vis: str, field: str, science: list[int], rows: pd.DataFrame, flux_file: str
) -> list[dict]:
    """setjy with the Butler-JPL-Horizons 2012 model of a solar-system body (a resolved disc from
    the ephemeris shipped with the CASA data), per channel."""
    if not rows[rows["field"] == field].empty:
        job.note(
            f"{flux_file}: rows for {field} ignored: a solar-system body is modelled with "
            f"{SOLAR_SYSTEM_STANDARD}, not as a point source"
        )
    result = job.task(
        "setjy",
        vis=vis,
        field=field,
        spw=choices.spw_selection(science),
        standard=SOLAR_SYSTEM_STANDARD,
        scalebychan=True,
        usescratch=True,  # CASA has no virtual model for an ephemeris object
    )
    per_spw = next(
        (v for v in (result or {}).values() if isinstance(v, dict) and v.get("fieldName") == field),
        None,
    )
    if per_spw is None:
        raise RuntimeError(
            f"setjy({SOLAR_SYSTEM_STANDARD}) returned no model for {field}: {result}"
        )
    return [
        {
            "field": field,
            "spw": spw,
            "fluxdensity_jy": [float(v) for v in per_spw[str(spw)]["fluxd"]],
            "spix": None,
            "reffreq": "per channel",
            "source": SOLAR_SYSTEM_STANDARD,
        }
        for spw in science
    ]


def setjy_flux_model(
    *,
    vis: str,
    eb: str,
    eb_choices: str,
    flux_file: str,
    model: str,
    mous_ebs: list[str],
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    md, roles, science = ebc.metadata, ebc.roles, ebc.science_spws
    errors = inputs.flux_file_errors(flux_file, mous_ebs, {eb: md})
    if errors:  # before delmod changes the MS
        raise inputs.InputError("\n".join(errors))
    spws = {s["id"]: s for s in md["spws"]}
    rows = flux_rows(read_flux_file(flux_file), eb, md["fields"], flux_file)
    models = []
    with ms_state.writing(vis, "setjy_flux_model", model):
        with CasaJob(log=log, commands=commands, title=f"flux model of {vis}") as job:
            job.task("delmod", vis=vis, otf=True, scr=True)
            for field in roles["flux"]:
                if solar_system_body(field):
                    models += solar_system_models(job, vis, field, science, rows, flux_file)
                    continue
                for spw in science:
                    row = rows[(rows["field"] == field) & (rows["spw"].astype(int) == spw)]
                    if not row.empty:
                        row = row.iloc[0]
                        centre_hz = 0.5 * (spws[spw]["first_freq_hz"] + spws[spw]["last_freq_hz"])
                        entry = {
                            "fluxdensity_jy": [float(row[c]) for c in ("I", "Q", "U", "V")],
                            "spix": float(row["spix"]),
                            "reffreq": f"{centre_hz / 1e9:.9f}GHz",
                            "source": Path(flux_file).name,
                        }
                    else:
                        entry = source_table_model(md, field, spw)
                        if entry is None:
                            raise ValueError(
                                f"{flux_file}: no flux density for EB {eb}, field {field}, spw {spw} "
                                f"(expected a row 'ms={eb}.ms,field={field},spw={spw},I,...'), and "
                                f"the raw data's Source table carries none"
                            )
                        job.note(
                            f"WARNING: {flux_file} has no row for EB {eb}, field {field}, spw "
                            f"{spw}: using the ASDM Source table flux density "
                            f"{entry['fluxdensity_jy'][0]:.4f} Jy at {entry['reffreq']}, "
                            f"spectral index {entry['spix']:.3f}"
                        )
                    job.task(
                        "setjy",
                        vis=vis,
                        field=field,
                        spw=str(spw),
                        standard="manual",
                        fluxdensity=entry["fluxdensity_jy"],
                        spix=[entry["spix"]],
                        reffreq=entry["reffreq"],
                        usescratch=True,
                    )
                    models.append({"field": field, "spw": spw, **entry})
        jsonio.write(model, {"flux_calibrators": roles["flux"], "models": models})
