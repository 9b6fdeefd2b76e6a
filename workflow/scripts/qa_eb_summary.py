"""Snakemake adapter: QA numbers of one EB in one JSON: flags per stage, solution statistics, fluxscale, calibrated"""

from almacal.qa.eb_summary import qa_eb_summary
from almacal.solves import SOLVES

qa_eb_summary(
    eb_choices=snakemake.input.choices,
    apriori=snakemake.input.apriori,
    split_summary=snakemake.input.split_summary,
    user_flags=snakemake.input.user_flags,
    cal_summary=snakemake.input.cal_summary,
    fluxscale=snakemake.input.fluxscale,
    split=snakemake.input.split,
    cal=snakemake.input.cal,
    caltables={solve.name: snakemake.input[solve.name] for solve in SOLVES},
    tsys=snakemake.input.get("tsys"),
    tsys_spwmap=snakemake.input.get("tsys_spwmap"),
    tsysflag=snakemake.input.get("tsysflag"),
    tsysflag_file=snakemake.input.get("tsysflag_file"),
    lowgainflag=snakemake.input.lowgainflag,
    lowgainflag_file=snakemake.input.lowgainflag_file,
    correctedampflag=snakemake.input.correctedampflag,
    correctedampflag_file=snakemake.input.correctedampflag_file,
    corrections=snakemake.input.corrections,
    check_source=snakemake.input.get("check_source"),
    spwphaseup=snakemake.input.spwphaseup,
    solints=dict(snakemake.params.solints),
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
