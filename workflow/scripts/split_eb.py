"""Snakemake adapter: Raw-stage user flags, applycal of Tsys and antenna positions, split to {eb}.ms.split."""

from almacal.calibration.split_eb import split_eb

split_eb(
    eb=snakemake.wildcards.eb,
    ms=snakemake.input.ms,
    eb_choices=snakemake.input.choices,
    tsys=snakemake.input.get("tsys"),
    tsys_spwmap=snakemake.input.get("tsys_spwmap"),
    antpos=snakemake.input.antpos[0] if snakemake.input.antpos else None,
    wvr=snakemake.input.get("wvr"),
    wvr_stats=snakemake.input.get("wvr_stats"),
    flag_files=list(snakemake.input.flag_files),
    split=snakemake.output.split,
    summary=snakemake.output.summary,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
