"""Snakemake adapter: Tsys caltable {eb}.ms.tsys (gencal caltype='tsys') and the TDM->FDM spw map."""

from almacal.calibration.gencal_tsys import gencal_tsys

gencal_tsys(
    eb=snakemake.wildcards.eb,
    ms=snakemake.input.ms,
    flag_files=[snakemake.input.auto_flags, *snakemake.input.flag_files],
    eb_choices=snakemake.input.choices,
    tsys=snakemake.output.tsys,
    spwmap=snakemake.output.spwmap,
    spwmap_override=snakemake.params.tsys_spwmap,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
