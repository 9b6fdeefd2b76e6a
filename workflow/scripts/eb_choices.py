"""Snakemake adapter: every choice derived from the EB's data, in {eb}.ms.choices.json."""

from almacal.calibration.eb_choices import eb_choices

eb_choices(
    eb=snakemake.wildcards.eb,
    metadata=snakemake.input.metadata,
    apriori=snakemake.input.apriori,
    output=snakemake.output.choices,
    field_roles=snakemake.params.field_roles,
    science_spws=snakemake.params.science_spws,
    refant=snakemake.params.refant,
    tsys_field_map=snakemake.params.tsys_field_map,
    tsys_spwmap=snakemake.params.tsys_spwmap,
    log=snakemake.log[0],
)
