"""ALMA interferometric calibration of an MOUS, one execution block (EB) per wildcard.

Products follow the names of the ALMA manual-calibration scripts: {eb}.ms, {eb}.ms.tsys,
{eb}.ms.antpos, {eb}.ms.split, {eb}.ms.split.bandpass, ..., {eb}.ms.split.cal.
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/import.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/apply.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/qa.smk"
include: "workflow/rules/image.smk"
include: "workflow/rules/deliver.smk"


rule all:
    input:
        all_products(),


# Before any job runs: the rules are complete (processing order, SLURM groups) and every input
# is valid (workflow/rules/common.smk).
check_rules(
    workflow.rules,
    {
        "mous_summary",
        "casa_commands",
        "qa_report",
        "imaging_sensitivity",
        "calibration_script",
    },
    QA_RULES,
)
check_inputs()
check_ms_state()
