"""Tsys caltable {eb}.ms.tsys (gencal caltype='tsys') and the TDM->FDM spw map."""

import numpy as np

import eb_metadata
import flag_state
from casa_job import CasaJob


def caltable_ids(caltable: str, column: str) -> list[int]:
    """Distinct values of an id column (SPECTRAL_WINDOW_ID, FIELD_ID) of a caltable."""
    from casatools import table

    tb = table()
    tb.open(caltable)
    ids = sorted(int(i) for i in np.unique(tb.getcol(column)))
    tb.close()
    return ids


def gencal_tsys(
    *,
    ms: str,
    metadata: str,
    tsys: str,
    spwmap: str,
    science_spws: list[int],
    tsys_spwmap: list[int],
    log: str,
    commands: str,
) -> None:
    md = eb_metadata.load(metadata)
    with CasaJob(log=log, commands=commands, title=f"Tsys table of {ms}") as job:
        job.task("gencal", vis=ms, caltable=tsys, caltype="tsys")
        tsys_spws = caltable_ids(tsys, "SPECTRAL_WINDOW_ID")
        names = {f["id"]: f["name"] for f in md["fields"]}
        tsys_fields = [names[i] for i in caltable_ids(tsys, "FIELD_ID")]
        science = eb_metadata.science_spws(md, science_spws)
        mapping = eb_metadata.tsys_spwmap(md, tsys_spws, tsys_spwmap)
        unmapped = [s for s in science if mapping[s] not in tsys_spws]
        if unmapped:
            raise ValueError(f"{ms}: science spw(s) {unmapped} have no Tsys spw in {tsys}")
        job.note(f"Tsys spw map (science spw -> Tsys spw): {mapping}")
        flag_state.write_json(
            spwmap,
            {
                "spwmap": mapping,
                "tsys_spws": tsys_spws,
                "tsys_fields": tsys_fields,
                "science_spws": science,
                "source": "config" if tsys_spwmap else "baseband and frequency coverage",
            },
        )


if "snakemake" in globals():
    gencal_tsys(
        ms=snakemake.input.ms,
        metadata=snakemake.input.metadata,
        tsys=snakemake.output.tsys,
        spwmap=snakemake.output.spwmap,
        science_spws=snakemake.params.science_spws,
        tsys_spwmap=snakemake.params.tsys_spwmap,
        log=snakemake.log.casa,
        commands=snakemake.log.commands,
    )
