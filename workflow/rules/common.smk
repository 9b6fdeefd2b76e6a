import functools
import json
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
os.environ["PYTHONPATH"] = os.pathsep.join(
    [LIB, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != LIB]]
)

from almacal import eb_metadata
from almacal import flag_files as user_flags

validate(config, schema="../schemas/config.schema.yaml")

# Offline CASA: measures data from the pinned `casadata` package (envs/casasiteconfig.py).
# Set here so that every job, local or on a cluster node, inherits it.
os.environ.setdefault(
    "CASASITECONFIG", str(Path(workflow.basedir, "envs", "casasiteconfig.py").resolve())
)


def _eb_table():
    """(mous, eb) -> the EB's config entry, with EB names unique across MOUSes."""
    table = {}
    for mous, entry in config["mous"].items():
        for eb, eb_entry in entry["ebs"].items():
            clash = [m for (m, e) in table if e == eb]
            if clash:
                raise ValueError(
                    f"config: EB {eb} is listed under MOUS {clash[0]} and {mous}"
                )
            table[(mous, eb)] = eb_entry
    return table


EBS = _eb_table()


# MOUS and EB names are single path components (uid___A002_X..., or any name without '/').
wildcard_constraints:
    mous=r"[^/]+",
    eb=r"[^/]+",


# Every product of one EB lives in results/<mous>/<eb>/, named as in the ALMA scripts.
def eb_path(suffix):
    """Product of one EB: eb_path(".ms.split.bandpass") is results/<mous>/<eb>/<eb>.ms.split.bandpass."""
    return f"results/{{mous}}/{{eb}}/{{eb}}{suffix}"


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


def casa_mem_mb(wildcards, attempt):
    """Memory of a CASA job (MB): about 0.2-0.3 GB measured on the demo (benchmarks/), plus
    room that grows with the EB's raw data size; doubled on a retry."""
    return int(1000 + 2 * eb_size_mb(wildcards)) * attempt


def casa_runtime(wildcards, attempt):
    """Wall-time limit of a CASA job (minutes): 2-8 s each on the demo; grows with the EB."""
    return int(10 + eb_size_mb(wildcards) / 20) * attempt


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
        folder = Path(config["mous"][wildcards.mous]["flags_dir"])
        names = [f"mous.{stage}.flags.txt", f"{wildcards.eb}.{stage}.flags.txt"]
        return [str(folder / name) for name in names if (folder / name).exists()]

    return existing




def check_user_flags():
    """Check every flag-file line against the EBs already imported, before any job runs.

    EBs not imported yet are checked by the job that applies their flags, before any CASA call.
    """
    errors = []
    for mous, eb in EBS:
        metadata = Path(f"results/{mous}/{eb}/{eb}.ms.metadata.json")
        if not metadata.exists():
            continue
        md = eb_metadata.load(metadata)
        wildcards = SimpleNamespace(mous=mous, eb=eb)
        science = eb_metadata.science_spws(md, choice("science_spws")(wildcards))
        stages = (
            ("raw", [s["id"] for s in md["spws"]]),
            ("split", science),
            ("tsys", eb_metadata.atmosphere_spws(md)),
        )
        for stage, spws in stages:
            files = flag_files(stage)(wildcards)
            own = [f for f in files if Path(f).name.startswith(f"{eb}.")]
            try:
                user_flags.checked_commands(files, md, spws, eb_files=own)
            except user_flags.FlagFileError as err:
                errors.append(f"EB {eb}: {err}")
    if errors:
        raise user_flags.FlagFileError("\n".join(errors))


check_user_flags()


def all_products():
    products = []
    for mous, eb in EBS:
        products += expand(eb_path(".ms.split.cal"), mous=mous, eb=eb)
    for mous in config["mous"]:
        products += expand("results/{mous}/{mous}.calibration_summary.json", mous=mous)
        products += expand("results/{mous}/{mous}.casa_commands.log", mous=mous)
        products += expand("results/{mous}/qa", mous=mous)
    return products


DEMO_RAW = "resources/demo_mous/raw"


def demo_path(suffix):
    """Raw data of a simulated demo EB: demo_path(".truth.json")."""
    return f"{DEMO_RAW}/{{eb}}{suffix}"


def is_demo(wildcards):
    """EBs of the built-in simulated MOUS, made by workflow/rules/demo.smk."""
    return Path(raw_input(wildcards)).parent == Path(DEMO_RAW)


def has_syscal(wildcards):
    """Whether the raw data carry Tsys (ASDM SysCal table or MS SYSCAL subtable)."""
    raw = Path(raw_input(wildcards))
    return (
        (raw / "SysCal.xml").exists() or (raw / "SYSCAL").is_dir() or is_demo(wildcards)
    )


@functools.lru_cache(maxsize=None)
def raw_has_wvr(raw):
    """Whether raw data carry ALMA WVR data: a spw named ...WVR... (ASDM SpectralWindow.xml, or
    the MS's SPECTRAL_WINDOW) and scan intents (wvrgcal needs them). 7 m ACA data have none.
    """
    path = Path(raw)
    if (path / "SpectralWindow.xml").exists():
        return "WVR" in (path / "SpectralWindow.xml").read_text()
    from casatools import msmetadata

    md = msmetadata()
    md.open(str(path))
    try:
        wvr = any("WVR" in md.namesforspws(s)[0] for s in range(md.nspw()))
        return wvr and any(i for i in md.intents())
    finally:
        md.close()


@functools.lru_cache(maxsize=None)
def demo_execution_blocks(parameters):
    """The demo's EB parameters by name (the demo parameter file, read once per run)."""
    with open(parameters) as stream:
        return {b["name"]: b for b in yaml.safe_load(stream)["execution_blocks"]}


def has_wvr(wildcards):
    """WVR data in the EB: from the raw data, or for the demo from what its simulation makes."""
    if is_demo(wildcards):
        blocks = demo_execution_blocks(
            config.get("demo_parameters", "resources/demo_mous.yaml")
        )
        entry = blocks[Path(raw_input(wildcards)).name]
        return entry.get("wvr", entry.get("array", "12m") == "12m")
    return raw_has_wvr(raw_input(wildcards))


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


def mous_ebs(mous):
    return [eb for m, eb in EBS if m == mous]


# Jobs of one EB in the order they run (for the MOUS casa_commands.log).
PROCESSING_ORDER = [
    "import_eb",
    "flag_apriori",
    "gencal_tsys",
    "gencal_antpos",
    "wvrgcal",
    "split_eb",
    "flag_split",
    "setjy_flux_model",
    "gaincal_ap_pre_bandpass",
    "bandpass",
    "gaincal_phase_int",
    "gaincal_phase_inf",
    "gaincal_ampli_inf",
    "fluxscale",
    "applycal_split_cal",
]


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
    if json.loads(Path(decision).read_text())["apply"]:
        return [eb_path(".ms.split.renorm.tbl").format(**wildcards)]
    return []


def solve_params(table):
    """Field roles, reference antenna and the solve settings of one caltable."""
    return {
        "field_roles": choice("field_roles"),
        "refant": choice("refant"),
        "minsnr": config["calibration"]["minsnr"],
        "solve": config["calibration"][table],
    }
