"""Snakemake adapter: MOUS summary: per-EB flags and fluxscale results, and the phase calibrators' flux across EBs."""

from almacal.qa.mous_summary import mous_summary

mous_summary(
    ebs=list(snakemake.params.ebs),
    fluxes=list(snakemake.input.fluxes),
    split=list(snakemake.input.split),
    flags=list(snakemake.input.flags),
    cal=list(snakemake.input.cal),
    summary=snakemake.output.summary,
)
