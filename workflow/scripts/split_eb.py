"""Raw-stage user flags, applycal of Tsys and antenna positions, split to {eb}.ms.split.

The job owns the flags of {eb}.ms from the a-priori version on: it restores that version, applies
the raw-stage flag files, applies the a-priori calibration field by field (Tsys from the field's
own Tsys measurements when the Tsys table has them, as the ALMA scripts do; otherwise interpolated
in time) and splits the science spws.
"""

import json
from pathlib import Path

import eb_metadata
import flag_files as user_flags
import flag_state
from casa_job import CasaJob


def split_eb(
    *,
    eb: str,
    ms: str,
    metadata: str,
    tsys: str | None,
    tsys_spwmap: str | None,
    antpos: str | None,
    flag_files: list[str],
    split: str,
    summary: str,
    field_roles: dict,
    science_spws: list[int],
    log: str,
    commands: str,
) -> None:
    md = eb_metadata.load(metadata)
    roles = eb_metadata.field_roles(md, field_roles)
    fields = eb_metadata.calibrator_fields(roles) + [
        f for f in roles["target"] if f not in eb_metadata.calibrator_fields(roles)
    ]
    spws = eb_metadata.spw_selection(eb_metadata.science_spws(md, science_spws))
    all_spws = [s["id"] for s in md["spws"]]
    own = [f for f in flag_files if Path(f).name.startswith(f"{eb}.")]
    user_commands = user_flags.checked_commands(flag_files, md, all_spws, eb_files=own)
    flag_state.forget(split)
    with CasaJob(log=log, commands=commands, title=f"a-priori calibration and split of {ms}") as job:
        flag_state.restore(job, ms, flag_state.APRIORI)
        n_user = flag_state.apply_flag_commands(job, ms, user_commands, "raw-stage user flags")
        flag_state.save(job, ms, flag_state.RAW_USER, "a-priori and raw-stage user flags")
        gaintables = []
        with_tsys = set()  # fields with their own Tsys measurements
        if tsys:
            tsys_setup = json.loads(Path(tsys_spwmap).read_text())
            with_tsys = set(tsys_setup["tsys_fields"])
            gaintables.append(("tsys", tsys, tsys_setup["spwmap"]))
        if antpos:
            gaintables.append(("antpos", antpos, []))
        for field in fields:
            if not gaintables:
                break
            gainfield = [field if (name == "tsys" and field in with_tsys) else ""
                         for name, _, _ in gaintables]
            job.task(
                "applycal",
                vis=ms,
                field=field,
                spw=spws,
                gaintable=[table for _, table, _ in gaintables],
                gainfield=gainfield,
                interp=["linear,linear" if name == "tsys" else "" for name, _, _ in gaintables],
                spwmap=[spwmap for _, _, spwmap in gaintables],
                calwt=True,
                flagbackup=False,
            )
        job.task(
            "mstransform",
            vis=ms,
            outputvis=split,
            field=",".join(fields),
            spw=spws,
            datacolumn="corrected" if gaintables else "data",
            reindex=False,
            keepflags=True,
        )
        flag_state.save(job, split, flag_state.SPLIT_ORIGINAL, "as split")
        flag_state.write_json(
            summary,
            {
                "fields": fields,
                "science_spws": spws,
                "applied": [name for name, _, _ in gaintables],
                "raw_user_flag_commands": n_user,
                "flags_after_split": flag_state.summary(job, split),
            },
        )


if "snakemake" in globals():
    split_eb(
        eb=snakemake.wildcards.eb,
        ms=snakemake.input.ms,
        metadata=snakemake.input.metadata,
        tsys=snakemake.input.get("tsys"),
        tsys_spwmap=snakemake.input.get("tsys_spwmap"),
        antpos=snakemake.input.antpos[0] if snakemake.input.antpos else None,
        flag_files=list(snakemake.input.flag_files),
        split=snakemake.output.split,
        summary=snakemake.output.summary,
        field_roles=snakemake.params.field_roles,
        science_spws=snakemake.params.science_spws,
        log=snakemake.log.casa,
        commands=snakemake.log.commands,
    )
