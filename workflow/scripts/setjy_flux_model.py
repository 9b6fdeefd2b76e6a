"""Flux calibrator model on {eb}.ms.split: setjy manual flux density and spectral index.

Values come from the MOUS flux file in the ALMA pipeline's flux.csv form
(ms,field,spw,I,Q,U,V,spix,uvmin,uvmax,comment), I at the centre frequency of the spw.
The job first resets MODEL_DATA to a 1 Jy point source for every field (clearcal), so the
model it leaves does not depend on what ran before.
"""

from pathlib import Path

import pandas as pd

import eb_metadata
import flag_state
from casa_job import CasaJob

FLUX_COLUMNS = ["ms", "field", "spw", "I", "Q", "U", "V", "spix"]


def read_flux_file(flux_file: str) -> pd.DataFrame:
    table = pd.read_csv(flux_file, comment="#", skipinitialspace=True, dtype={"ms": str, "field": str})
    missing = [c for c in FLUX_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{flux_file}: missing column(s) {missing}; expected {FLUX_COLUMNS}")
    return table


def flux_rows(table: pd.DataFrame, eb: str, fields: list[dict], flux_file: str) -> pd.DataFrame:
    """Rows of this EB's flux calibrator(s): field by name or id, ms by '<eb>.ms' or '<eb>'."""
    ids = {str(f["id"]): f["name"] for f in fields}
    names = table["field"].map(lambda v: ids.get(v.strip(), v.strip()))
    mine = table["ms"].str.strip().isin([eb, f"{eb}.ms"])
    return table[mine].assign(field=names[mine])


def setjy_flux_model(
    *,
    vis: str,
    eb: str,
    metadata: str,
    flux_file: str,
    model: str,
    field_roles: dict,
    science_spws: list[int],
    log: str,
    commands: str,
) -> None:
    md = eb_metadata.load(metadata)
    roles = eb_metadata.field_roles(md, field_roles)
    spws = {s["id"]: s for s in md["spws"]}
    science = eb_metadata.science_spws(md, science_spws)
    rows = flux_rows(read_flux_file(flux_file), eb, md["fields"], flux_file)
    models = []
    with CasaJob(log=log, commands=commands, title=f"flux model of {vis}") as job:
        job.task("clearcal", vis=vis, addmodel=True)
        for field in roles["flux"]:
            for spw in science:
                row = rows[(rows["field"] == field) & (rows["spw"].astype(int) == spw)]
                if row.empty:
                    raise ValueError(
                        f"{flux_file}: no flux density for EB {eb}, field {field}, spw {spw} "
                        f"(expected a row 'ms={eb}.ms,field={field},spw={spw},I,...')"
                    )
                row = row.iloc[0]
                stokes = [float(row[c]) for c in ("I", "Q", "U", "V")]
                centre_hz = 0.5 * (spws[spw]["first_freq_hz"] + spws[spw]["last_freq_hz"])
                reffreq = f"{centre_hz / 1e9:.9f}GHz"
                job.task("setjy", vis=vis, field=field, spw=str(spw), standard="manual",
                         fluxdensity=stokes, spix=[float(row["spix"])], reffreq=reffreq,
                         usescratch=True)
                models.append({"field": field, "spw": spw, "fluxdensity_jy": stokes,
                               "spix": float(row["spix"]), "reffreq": reffreq,
                               "source": Path(flux_file).name})
    flag_state.write_json(model, {"flux_calibrators": roles["flux"], "models": models})


if "snakemake" in globals():
    setjy_flux_model(
        vis=snakemake.input.vis,
        eb=snakemake.wildcards.eb,
        metadata=snakemake.input.metadata,
        flux_file=snakemake.input.flux_file,
        model=snakemake.output.model,
        field_roles=snakemake.params.field_roles,
        science_spws=snakemake.params.science_spws,
        log=snakemake.log.casa,
        commands=snakemake.log.commands,
    )
