"""Raw-stage user flags, applycal of Tsys, antenna positions and WVR, split to {eb}.ms.split.

The job owns the flags of {eb}.ms from the a-priori version on: it restores that version, applies
the raw-stage flag files, applies the a-priori calibration field by field (Tsys from the field's
own Tsys measurements when the Tsys table has them, as the ALMA scripts do; otherwise interpolated
in time; the WVR table when the wvrgcal job decided to apply it) and splits the science spws.
"""

from almacal import choices, flag_state, jsonio, ms_state, raw_data
from almacal import flag_files as user_flags
from almacal.casa_job import CasaJob


def tsys_gainfield(field: str, tsys_fields: dict[str, str], with_tsys: set[str]) -> str:
    """The field whose Tsys solutions ``field`` takes: its Tsys field (choices.tsys_field_map)
    when the Tsys table has solutions of that field, else '' (interpolated in time over all)."""
    source = tsys_fields.get(field, "")
    return source if source in with_tsys else ""


def apply_apriori(
    job: CasaJob,
    ms: str,
    fields: list[str],
    spws: str,
    gaintables: list,
    tsys_fields: dict[str, str],
    with_tsys: set[str],
) -> None:
    """applycal of the a-priori tables field by field (Tsys from the field's Tsys field)."""
    if not gaintables:
        return
    for field in fields:
        job.task(
            "applycal",
            vis=ms,
            field=field,
            spw=spws,
            gaintable=[table for _, table, _ in gaintables],
            gainfield=[
                tsys_gainfield(field, tsys_fields, with_tsys) if name == "tsys" else ""
                for name, _, _ in gaintables
            ],
            interp=[
                {"tsys": "linear,linear", "wvr": "nearest"}.get(name, "")
                for name, _, _ in gaintables
            ],
            spwmap=[spwmap for _, _, spwmap in gaintables],
            calwt=True,
            flagbackup=False,
        )


def split_eb(
    *,
    eb: str,
    ms: str,
    eb_choices: str,
    tsys: str | None,
    tsys_spwmap: str | None,
    antpos: str | None,
    wvr: str | None,
    wvr_stats: str | None,
    flag_files: list[str],
    split: str,
    summary: str,
    log: str,
    commands: str,
) -> None:
    eb_choices = choices.load(eb_choices)
    md, science = eb_choices.metadata, eb_choices.science_spws
    fields = eb_choices.calibrators + eb_choices.targets + eb_choices.checks
    spws = choices.spw_selection(science)
    user_commands = user_flags.stage_commands(flag_files, md, eb, "raw", science)
    flag_state.forget(split)
    with (
        ms_state.writing(ms, "split_eb", summary),
        ms_state.writing(split, "split_eb", summary),
        CasaJob(log=log, commands=commands, title=f"a-priori calibration and split of {ms}") as job,
    ):
        flag_state.restore(job, ms, flag_state.APRIORI)
        n_user = flag_state.apply_flag_commands(job, ms, user_commands, "raw-stage user flags")
        flag_state.save(job, ms, flag_state.RAW_USER, "a-priori and raw-stage user flags")
        gaintables = []
        with_tsys = set()  # fields with their own Tsys measurements
        if tsys:
            tsys_setup = jsonio.load(tsys_spwmap)
            with_tsys = set(tsys_setup["tsys_fields"])
            gaintables.append(("tsys", tsys, tsys_setup["spwmap"]))
        if antpos:
            gaintables.append(("antpos", antpos, []))
        if wvr:
            decision = jsonio.load(wvr_stats)
            wvr_note = f"WVR correction {'' if decision['applied'] else 'not '}applied: "
            wvr_note += decision["reason"]
            if decision["applied"]:
                gaintables.append(("wvr", wvr, []))
        else:
            wvr_note = raw_data.NO_WVR
        job.note(wvr_note)
        apply_apriori(job, ms, fields, spws, gaintables, eb_choices.tsys_fields, with_tsys)
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
        # {eb}.ms keeps its a-priori flags between jobs, so that the jobs reading it before the
        # split (wvrgcal's assessment) see the same flags when rerun as in a clean run
        flag_state.restore(job, ms, flag_state.APRIORI)
        jsonio.write(
            summary,
            {
                "fields": fields,
                "science_spws": spws,
                "applied": [name for name, _, _ in gaintables],
                "tsys_gainfield": {
                    f: tsys_gainfield(f, eb_choices.tsys_fields, with_tsys) for f in fields
                }
                if tsys
                else {},
                "wvr": wvr_note,
                "raw_user_flag_commands": n_user,
                "flags_after_split": flag_state.summary(job, split),
            },
        )
