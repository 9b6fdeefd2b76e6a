"""Snakemake adapter: Import one EB: importasdm for a raw ASDM, a copy for an existing MS; listobs; metadata."""

from almacal.calibration.import_eb import import_eb

import_eb(
    raw=snakemake.input.raw,
    ms=snakemake.output.ms,
    listobs=snakemake.output.listobs,
    metadata=snakemake.output.metadata,
    log=snakemake.log.casa,
    commands=snakemake.log.commands,
)
