"""Snakemake adapter: simulate one demo EB as a real ASDM with its truth (almasim.simulate_eb)."""

import yaml

from almacal.casa_job import CasaSevereError, severe_lines
from almasim import simulate_eb

with open(snakemake.input.parameters) as stream:
    demo = yaml.safe_load(stream)
simulate_eb(
    params=demo,
    eb=snakemake.wildcards.eb,
    asdm=snakemake.output.asdm,
    truth=snakemake.output.truth,
    antpos_json=snakemake.output.antpos,
    log=snakemake.log[0],
)
if severe_lines(snakemake.log[0]):  # CASA can fail without raising
    raise CasaSevereError(f"CASA logged SEVERE messages, see {snakemake.log[0]}")
