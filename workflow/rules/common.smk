import functools
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml
from snakemake.utils import validate

# The workflow's library (workflow/lib/almacal): importable here and, through PYTHONPATH, in
# every job (local or on a cluster node, which parses this file again).
LIB = str(Path(workflow.basedir, "workflow", "lib").resolve())
sys.path.insert(0, LIB)
_other_paths = [
    p for p in os.getenv("PYTHONPATH", "").split(os.pathsep) if p and p != LIB
]
os.environ.update(PYTHONPATH=os.pathsep.join([LIB, *_other_paths]))

from almacal import choices, inputs, job_resources, jsonio, ms_state, raw_data
from almacal import flag_files as user_flags
from almacal.imaging import params as imaging_params
from almacal.solves import BY_NAME as SOLVE_TABLE
from almacal.qa.plot_files import eb_plot_suffixes
from almacal.solves import SOLVES

# A config of your own (`--configfile my.yaml` or `--config mous=...`) names the MOUSes to
# calibrate: its `mous` section replaces the demo's instead of being merged with it (Snakemake
# merges the two dicts); every other key still defaults to config/config.yaml.
_own_config = workflow.config_settings.overwrite_config
if "mous" in _own_config:
    config["mous"] = _own_config["mous"]

validate(config, schema="../schemas/config.schema.yaml")

# Offline CASA: measures data from the pinned `casadata` package (envs/casasiteconfig.py).
# Set here so that every job, local or on a cluster node, inherits it.
os.environ.setdefault(
    "CASASITECONFIG", str(Path(workflow.basedir, "envs", "casasiteconfig.py").resolve())
)


def _eb_table():
    """(mous, eb) -> the EB's config entry: safe names, EB names unique across MOUSes."""
    table, errors = {}, []
    for mous, entry in config["mous"].items():
        errors += inputs.name_errors("MOUS", mous)
        for eb, eb_entry in entry["ebs"].items():
            errors += inputs.name_errors("EB", eb)
            clash = [m for (m, e) in table if e == eb]
            if clash:
                errors.append(
                    f"config: EB {eb} is listed under MOUS {clash[0]} and {mous}"
                )
            table[(mous, eb)] = eb_entry
    if errors:
        raise inputs.InputError("\n".join(errors))
    return table


EBS = _eb_table()


# MOUS and EB names are single, safe path components (checked above).
wildcard_constraints:
    mous=inputs.SAFE_NAME.pattern,
    eb=inputs.SAFE_NAME.pattern,


# Every product of one EB lives in results/<mous>/<eb>/, named as in the ALMA scripts.
def eb_path(suffix):
    """Product of one EB: eb_path(".ms.split.bandpass") is results/<mous>/<eb>/<eb>.ms.split.bandpass."""
    return f"results/{{mous}}/{{eb}}/{{eb}}{suffix}"


def imaging_settings():
    """The imaging section of config, as the jobs take it (a change reruns them)."""
    return dict(config["imaging"])


def mous_logs(step):
    """The CASA log and task calls of an MOUS-level job."""
    return {
        "casa": f"logs/{{mous}}/{step}.casa.log",
        "commands": f"logs/{{mous}}/{step}.casa_commands.py",
    }


def mous_eb_products(pattern):
    """``pattern`` (an eb_path-like string) for every EB of the MOUS."""
    return lambda w: expand(pattern, mous=w.mous, eb=mous_ebs(w.mous))


def casa_logs(step):
    """The CASA log and the recorded task calls of one job (fails on SEVERE lines)."""
    return {
        "casa": f"logs/{{mous}}/{{eb}}/{step}.casa.log",
        "commands": f"logs/{{mous}}/{{eb}}/{step}.casa_commands.py",
    }


@functools.lru_cache(maxsize=None)
def raw_size_mb(raw):
    """Size of an EB's raw data (ASDM or MS folder), read once per run."""
    path = Path(raw)
    if not path.exists():
        return 0.0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


@functools.lru_cache(maxsize=None)
def raw_of_eb():
    """EB name -> its raw data (names are unique across MOUSes)."""
    return {eb: entry["raw"] for (_, eb), entry in EBS.items()}


def eb_size_mb(wildcards):
    raw = raw_of_eb().get(wildcards.get("eb"))
    return raw_size_mb(raw) if raw else 0.0


def job_mem_mb(rule_name):
    """Memory (MB) asked for by the jobs of ``rule_name``, from the measured cost of that
    rule and the EB's raw size (almacal.job_resources); more on each retry."""
    return lambda wildcards, attempt: job_resources.mem_mb(
        rule_name, eb_size_mb(wildcards) / 1e3, attempt
    )


def job_runtime(rule_name):
    """Wall-time limit (minutes) of the jobs of ``rule_name``, as job_mem_mb."""
    return lambda wildcards, attempt: job_resources.runtime_min(
        rule_name, eb_size_mb(wildcards) / 1e3, attempt
    )


def mous_size_mb(wildcards):
    """Size of the raw data of every EB of the MOUS (MB)."""
    return sum(
        raw_size_mb(entry["raw"])
        for (m, _), entry in EBS.items()
        if m == wildcards.mous
    )


def mous_casa_mem_mb(wildcards, attempt):
    """Memory of an MOUS imaging job (MB): about 0.5-0.6 GB measured on the demo, plus room
    for the images and the data of all EBs; doubled on a retry."""
    return int(2000 + 2 * mous_size_mb(wildcards)) * attempt


def mous_casa_runtime(wildcards, attempt):
    """Wall-time limit of an MOUS imaging job (minutes): under 2 minutes on the demo."""
    return int(20 + mous_size_mb(wildcards) / 5) * attempt


def eb_entry(wildcards):
    return EBS[(wildcards.mous, wildcards.eb)]


def raw_input(wildcards):
    """The EB's raw ASDM directory or existing measurement set."""
    return eb_entry(wildcards)["raw"]


def has_antenna_positions(wildcards):
    return "antenna_positions" in eb_entry(wildcards)


def antpos_table(wildcards):
    """Antenna-position caltable of the EB, if a position file is configured."""
    if has_antenna_positions(wildcards):
        return expand(eb_path(".ms.antpos"), **wildcards)
    return []


def choice(key):
    """A calibration choice, overridden per EB under `overrides:` in config."""

    def lookup(wildcards):
        overrides = eb_entry(wildcards).get("overrides", {})
        return overrides.get(key, config["calibration"].get(key))

    return lookup


def flag_files(stage):
    """The MOUS-wide and per-EB flag files of one stage ('raw', 'split' or 'tsys') that exist."""

    def existing(wildcards):
        folder = config["mous"][wildcards.mous]["flags_dir"]
        return user_flags.stage_files(folder, wildcards.eb, stage)

    return existing


def choice_key(mous, eb, key):
    """The config key path a choice of an EB comes from (for messages)."""
    if key in EBS[(mous, eb)].get("overrides", {}):
        return f"mous.{mous}.ebs.{eb}.overrides.{key}"
    return f"calibration.{key}"


def imported_metadata(mous, eb):
    """The metadata of an EB already imported (None before its first import)."""
    path = Path(f"results/{mous}/{eb}/{eb}.ms.metadata.json")
    return jsonio.load(path) if path.exists() else None


def eb_input_errors(mous, eb, md):
    """Inputs of one EB: antenna positions, and with its metadata the choices and flag files."""
    entry = EBS[(mous, eb)]
    errors = []
    # (a position file not there yet may be made by a rule, as the demo's are: checked by the
    # job that reads it; one that no rule makes is Snakemake's missing input)
    if "antenna_positions" in entry and Path(entry["antenna_positions"]).exists():
        errors += inputs.antenna_position_errors(entry["antenna_positions"], eb, md)
    wildcards = SimpleNamespace(mous=mous, eb=eb)
    roles = choice("field_roles")(wildcards) or {}
    structure = raw_data.structure_errors(
        eb, entry["raw"], roles_given={"bandpass", "phase"} <= set(roles)
    )
    if structure or md is None:  # what the raw data lack: no other check means anything
        return errors + structure
    try:
        eb_choices = choices.resolve(
            md,
            roles=roles,
            spws=choice("science_spws")(wildcards),
        )
    except ValueError as err:
        return errors + [
            f"config: {choice_key(mous, eb, 'field_roles')}: EB {eb}: {err}"
        ]
    nchan = {s["id"]: s["nchan"] for s in md["spws"]}
    errors += imaging_params.config_errors(
        config["imaging"], eb, {spw: nchan[spw] for spw in eb_choices.science_spws}
    )
    try:
        choices.tsys_field_map(md, choice("tsys_field_map")(wildcards))
    except ValueError as err:
        errors.append(
            f"config: {choice_key(mous, eb, 'tsys_field_map')}: EB {eb}: {err}"
        )
    refant = choice("refant")(wildcards) or ""
    errors += inputs.antenna_name_errors(
        choice_key(mous, eb, "refant"), refant.split(","), eb, md
    )
    if has_wvr(wildcards):
        errors += inputs.antenna_name_errors(
            choice_key(mous, eb, "wvr") + ".flag",
            choice("wvr")(wildcards)["flag"],
            eb,
            md,
        )
    for stage in user_flags.STAGES:
        files = flag_files(stage)(wildcards)
        try:
            user_flags.stage_commands(files, md, eb, stage, eb_choices.science_spws)
        except user_flags.FlagFileError as err:
            errors.append(f"EB {eb}: {err}")
    return errors


def check_inputs():
    """Every input checked before any job runs: flux files, antenna positions, choices and flag
    files of the EBs already imported (EBs not imported yet: by the job that first reads their
    metadata, before its first CASA call). One error lists every problem."""
    errors = []
    for mous, entry in config["mous"].items():
        ebs = list(entry["ebs"])
        metadata = {eb: imported_metadata(mous, eb) for eb in ebs}
        known = {eb: md for eb, md in metadata.items() if md is not None}
        errors += inputs.flux_file_errors(entry["flux_file"], ebs, known)
        errors += imaging_params.request_errors(mous, entry.get("qa2"))
        for eb in ebs:
            errors += eb_input_errors(mous, eb, metadata[eb])
    if errors:
        raise inputs.InputError("\n".join(errors))


def all_products():
    products = []
    for mous, eb in EBS:
        products += expand(eb_path(".ms.split.cal"), mous=mous, eb=eb)
        # the automatic low-gain and outlier flags (flag_split and the QA need them too): by name
        products += expand(eb_path(".ms.split.lowgainflag.json"), mous=mous, eb=eb)
        products += expand(eb_path(".ms.split.correctedampflag.json"), mous=mous, eb=eb)
    for mous in config["mous"]:
        products += expand("results/{mous}/{mous}.calibration_summary.json", mous=mous)
        products += expand("results/{mous}/{mous}.casa_commands.log", mous=mous)
        products += expand("results/{mous}/qa", mous=mous)
        products += expand("results/{mous}/member.{mous}", mous=mous)
        products += expand("results/{mous}/{mous}.sensitivity.json", mous=mous)
    return products


DEMO_RAW = "resources/demo_mous/raw"


def demo_path(suffix):
    """Raw data of a simulated demo EB: demo_path(".truth.json")."""
    return f"{DEMO_RAW}/{{eb}}{suffix}"


@functools.lru_cache(maxsize=None)
def eb_raw_contents(mous, eb):
    """WVR and SysCal data of the EB's raw data (almacal.raw_data), read once per run."""
    entry = EBS[(mous, eb)]
    return raw_data.contents(eb, entry["raw"], entry.get("raw_contents"))


def has_wvr(wildcards):
    return eb_raw_contents(wildcards.mous, wildcards.eb).wvr


def has_syscal(wildcards):
    """A Tsys table is made: the raw data carry SysCal rows and config does not turn Tsys off."""
    wanted = choice("tsys")(wildcards) != "never"
    return wanted and eb_raw_contents(wildcards.mous, wildcards.eb).syscal


def wvr_inputs(wildcards):
    if has_wvr(wildcards):
        return {"wvr": eb_path(".ms.wvrgcal"), "wvr_stats": eb_path(".ms.wvrgcal.json")}
    return {}


def tsys_inputs(wildcards):
    if has_syscal(wildcards):
        return {
            "tsys": eb_path(".ms.tsys"),
            "tsys_spwmap": eb_path(".ms.tsys.spwmap.json"),
        }
    return {}


def tsysflag_inputs(wildcards):
    """The automatic Tsys flags of an EB with a Tsys table: the figures and the flag file."""
    if has_syscal(wildcards):
        return {
            "tsysflag": eb_path(".ms.tsysflag.json"),
            "tsysflag_file": eb_path(".ms.tsysflag.flags.txt"),
        }
    return {}


def mous_ebs(mous):
    return [eb for m, eb in EBS if m == mous]


# The CASA jobs of one EB in the order they run (the MOUS casa_commands.log lists their task
# calls in this order). check_rules() fails the parse when a rule with a CASA command record is in
# neither this list nor QA_RULES.
PROCESSING_ORDER = [
    "import_eb",
    "flag_apriori",
    "tsysflag",
    "gencal_tsys",
    "gencal_antpos",
    "wvrgcal",
    "split_eb",
    "lowgainflag",
    "correctedampflag",
    "flag_split",
    "setjy_flux_model",
    "spwphaseup",
    *[solve.rule for solve in SOLVES],
    "renorm_factors",
    "renorm_table",
    "applycal_split_cal",
    "targets_ms",
    "image_calibrators",
]

# The CASA jobs of an MOUS (its images, from every EB), listed after the EBs' in
# casa_commands.log; check_rules() counts them as PROCESSING_ORDER's.
MOUS_PROCESSING_ORDER = ["image_continuum", "image_cubes"]

# The SLURM group of each cluster rule, declared in the SLURM profile (its `groups:`), where
# groups take effect; a local run or dry run has none.
SLURM_PROFILE = Path(workflow.basedir, "workflow", "profiles", "slurm", "config.yaml")
# Rules that run on their own on a cluster, outside the SLURM group jobs of an EB: a checkpoint
# inside a group job can end Snakemake early with exit status 0 (snakemake/snakemake#823).
# The MOUS's delivery package (workflow/rules/deliver.smk) is one job per MOUS, after every EB.
UNGROUPED_RULES = {
    "renorm_factors",
    "renorm_table",
    "simulate_demo_eb",
    "delivery_package",
}


def check_rules(rules, local_rules, qa_rules):
    """Every CASA job in PROCESSING_ORDER (or QA_RULES); every cluster job in a SLURM group of
    the SLURM profile (or UNGROUPED_RULES), and every group there a rule of the workflow.
    """
    errors = []
    groups = yaml.safe_load(SLURM_PROFILE.read_text()).get("groups") or {}
    for declared in rules:
        name = declared.name
        if name == "all" or name in local_rules:
            continue
        if (
            "commands" in declared.log.keys()
            and name not in PROCESSING_ORDER + MOUS_PROCESSING_ORDER + qa_rules
        ):
            errors.append(
                f"{name} records CASA commands but is in neither PROCESSING_ORDER "
                "(or MOUS_PROCESSING_ORDER, workflow/rules/common.smk) nor QA_RULES (workflow/rules/qa.smk), so its calls "
                "would be missing from casa_commands.log"
            )
        if name not in groups and name not in UNGROUPED_RULES:
            errors.append(
                f"{name} has no group in {SLURM_PROFILE}, so on SLURM it would run as a job of "
                "its own; give it one there (prepare, calibrate, apply, corrections, image) or "
                "list it in UNGROUPED_RULES"
            )
    unknown = sorted(set(groups) - {r.name for r in rules})
    if unknown:
        errors.append(f"{SLURM_PROFILE} groups rules that do not exist: {unknown}")
    missing = [
        name
        for name in PROCESSING_ORDER + MOUS_PROCESSING_ORDER
        if name not in {r.name for r in rules}
    ]
    if missing:
        errors.append(f"PROCESSING_ORDER names rules that do not exist: {missing}")
    if errors:
        raise ValueError("workflow rules:\n" + "\n".join(errors))


# Every job below reads {eb}.ms.split in the flag state left by flag_split and the model left by
# setjy_flux_model; only those two jobs (and the final applycal) write to it, in DAG order.
SPLIT_STATE = {
    "vis": eb_path(".ms.split"),
    "metadata": eb_path(".ms.metadata.json"),
    "flags": eb_path(".ms.split.flags_user.json"),
    "model": eb_path(".ms.split.setjy.json"),
}


def renorm_table_if_needed(wildcards):
    """[{eb}.ms.split.renorm.tbl] when the renorm_factors checkpoint decided to renormalise."""
    decision = checkpoints.renorm_factors.get(**wildcards).output.factors
    if jsonio.load(decision)["apply"]:
        return [eb_path(".ms.split.renorm.tbl").format(**wildcards)]
    return []


def eb_intermediate_products(mous, eb):
    """Suffixes of the products an EB's final applycal rests on (for the missing-product check)."""
    wildcards = SimpleNamespace(mous=mous, eb=eb)
    products = [suffix for _, suffix in ms_state.WRITERS[".ms"]]
    products += [suffix for _, suffix in ms_state.WRITERS[".ms.split"][:-1]]
    products += [solve.suffix for solve in SOLVES]
    products += [".ms.split.spwphaseup.json"]
    products += [
        ".ms.split.fluxscale.json",
        ".ms.split.renorm.json",
        ".ms.split.renorm.npz",
    ]
    if has_syscal(wildcards):
        products += [".ms.tsys", ".ms.tsys.spwmap.json"]
    if has_wvr(wildcards):
        products += [".ms.wvrgcal", ".ms.wvrgcal.json"]
    if has_antenna_positions(wildcards):
        products += [".ms.antpos"]
    return sorted(set(products))


def check_ms_state():
    """Every MS in the state its declared summaries say, no product missing under a later one
    (almacal.ms_state); otherwise stop, naming EB, MS and the command that remakes it. Runs in
    the main Snakemake process only (a cluster job re-parses this file while its job runs), and
    not for commands that run no job (--unlock after an interrupted run)."""
    if not workflow.is_main_process or not ms_state.runs_jobs(sys.argv):
        return
    forced = set(ms_state.forced_targets(sys.argv))
    problems = []
    for mous, eb in EBS:
        base = f"results/{mous}/{eb}/{eb}"
        found = ms_state.ms_problems(base, eb)
        found += ms_state.missing_products(
            base, eb, eb_intermediate_products(mous, eb), ".ms.split.cal.json"
        )
        # remaking the first one remakes what follows; a run that does so may go on
        problems += [p for p in found[:1] if os.path.normpath(p.product) not in forced]
    if problems:
        raise ms_state.StateError(
            "measurement sets not in the state of their products (an interrupted run?):\n"
            + "\n".join(problem.message() for problem in problems)
        )


# The delivery (workflow/rules/deliver.smk).
def eb_steps(wildcards):
    """The jobs of PROCESSING_ORDER that make this EB's .ms.split.cal (its raw data and config
    decide which run): the steps of its calibration script; the imaging after it is not.
    """
    skipped = set()
    if not has_syscal(wildcards):
        skipped |= {"tsysflag", "gencal_tsys"}
    if not has_antenna_positions(wildcards):
        skipped.add("gencal_antpos")
    if not has_wvr(wildcards):
        skipped.add("wvrgcal")
    calibration = PROCESSING_ORDER[: PROCESSING_ORDER.index("applycal_split_cal") + 1]
    return [step for step in calibration if step not in skipped]


def eb_user_flag_files(wildcards):
    """The reducer's flag files an EB's jobs applied, every stage."""
    return [f for stage in user_flags.STAGES for f in flag_files(stage)(wildcards)]


def mous_package_inputs(wildcards):
    """Every EB's products the package archives (named so that Snakemake orders the jobs)."""
    ebs = mous_ebs(wildcards.mous)
    inputs = {
        "scripts": expand("results/{mous}/{eb}/script", mous=wildcards.mous, eb=ebs),
        "cal": expand(eb_path(".ms.split.cal.json"), mous=wildcards.mous, eb=ebs),
        "flag_files": [],
    }
    for eb in ebs:
        w = SimpleNamespace(mous=wildcards.mous, eb=eb)
        inputs["flag_files"] += eb_user_flag_files(w)
        inputs["flag_files"] += expand(
            eb_path(".ms.split.{heuristic}.flags.txt"),
            mous=wildcards.mous,
            eb=eb,
            heuristic=["lowgainflag", "correctedampflag"],
        )
        inputs["flag_files"] += expand(
            list(tsysflag_inputs(w).values()), mous=wildcards.mous, eb=eb
        )
    return inputs
