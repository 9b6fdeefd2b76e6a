"""Tsys caltable {eb}.ms.tsys (gencal caltype='tsys') and the TDM->FDM spw map.

The automatic Tsys flags ({eb}.ms.tsysflag.flags.txt, almacal.calibration.tsysflag), then the
lines of the reducer's Tsys flag files (ALMA's flagtsystemplate idea: e.g. channels contaminated
by a source's line; a mode='unflag' line undoes an automatic flag) are applied to the table.
"""

import numpy as np

from almacal import choices, flag_state, jsonio
from almacal import flag_files as user_flags
from almacal.casa_job import CasaJob


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
    eb: str,
    ms: str,
    flag_files: list[str],
    eb_choices: str,
    tsys: str,
    spwmap: str,
    spwmap_override: list[int],
    log: str,
    commands: str,
) -> None:
    ebc = choices.load(eb_choices)
    md, science = ebc.metadata, ebc.science_spws
    with CasaJob(log=log, commands=commands, title=f"Tsys table of {ms}") as job:
        job.task("gencal", vis=ms, caltable=tsys, caltype="tsys")
        tsys_spws = caltable_ids(tsys, "SPECTRAL_WINDOW_ID")
        tsys_flags = user_flags.stage_commands(flag_files, md, eb, "tsys", science)
        flag_state.apply_flag_commands(job, tsys, tsys_flags, "Tsys flags")
        names = {f["id"]: f["name"] for f in md["fields"]}
        tsys_fields = [names[i] for i in caltable_ids(tsys, "FIELD_ID")]
        mapping = ebc.tsys_spwmap  # onto the SYSCAL spws (the choices file)
        if set(tsys_spws) != set(md["syscal_spws"]):
            raise ValueError(
                f"{ms}: {tsys} holds spws {tsys_spws}, the SYSCAL table {md['syscal_spws']}"
            )
        unmapped = [s for s in science if mapping[s] not in tsys_spws]
        if unmapped:
            raise ValueError(f"{ms}: science spw(s) {unmapped} have no Tsys spw in {tsys}")
        job.note(f"Tsys spw map (science spw -> Tsys spw): {mapping}")
        jsonio.write(
            spwmap,
            {
                "spwmap": mapping,
                "tsys_spws": tsys_spws,
                "tsys_fields": tsys_fields,
                "tsys_flag_commands": [c.text for c in tsys_flags],
                "science_spws": science,
                "source": "config" if spwmap_override else "baseband and frequency coverage",
            },
        )
