"""Snakemake adapter: the check sources of one EB fitted in the uv plane ({eb}.ms.split.cal): flux, offset from the phase centre, coherence."""

from almacal.qa.check_source import qa_check_source

qa_check_source(
    cal=snakemake.input.cal,
    eb_choices=snakemake.input.choices,
    output=snakemake.output.check_source,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
