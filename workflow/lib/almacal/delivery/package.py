"""The delivery package of an MOUS in ALMA's layout (``results/<mous>/member.<mous>/``).

As an ALMA QA2 package (docs/design.md, "Delivery"):

- ``calibration/``: per EB the calibration tables the workflow applied, archived as the
  pipeline does (``<eb>.ms.caltables.tgz``: the a-priori tables applied to ``<eb>.ms`` before the
  split; ``<eb>.ms.split.caltables.tgz``: the tables applied to ``<eb>.ms.split``), the flag
  versions (``<eb>.ms.flagversions.tgz``, ``<eb>.ms.split.flagversions.tgz``), the apply lists
  (``<eb>.ms.calapply.txt``, ``<eb>.ms.split.calapply.txt``: one applycal line per call the
  workflow made, with its tables, gainfield, spwmap, interp and calwt per table, as the
  pipeline's calapply files), the flag files applied (automatic and the reducer's) and the flux
  file;
- ``script/``: each EB's ``<eb>.ms.scriptForCalibration.py`` and the files it reads;
- ``qa/``: the QA report folder and the MOUS calibration summary;
- ``product/``: the MOUS products given, the FITS files of an image folder (left out when
  there are none);
- ``log/``: ``<mous>.casa_commands.log`` and per EB its jobs' CASA logs, ``<eb>.log.tgz``;
- ``README``: the MOUS, its EBs, flags per EB, fluxscale results, WVR and renormalisation
  decisions and the QA scores, from the run's products.
"""

import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from almacal import jsonio
from almacal.delivery.records import Call, read_record
from almacal.qa import scores as qa_scores

# The applycal calls that calibrate each measurement set, by the job that makes them.
APPLY_JOBS = {".ms": "split_eb", ".ms.split": "applycal_split_cal"}
# The flag versions archived: of <eb>.ms (the last: what the split saw) and of <eb>.ms.split
# (the last: what the final applycal saw).
FINAL_FLAG_VERSIONS = {".ms": "raw_user", ".ms.split": "split_user"}
# The flag files the workflow writes per EB (those that exist are delivered).
AUTOMATIC_FLAG_FILES = (
    ".ms.tsysflag.flags.txt",
    ".ms.split.lowgainflag.flags.txt",
    ".ms.split.correctedampflag.flags.txt",
)
# Snakemake's mark in a directory() output: not part of the package.
SNAKEMAKE_MARKER = ".snakemake_timestamp"


@dataclass(frozen=True)
class Application:
    """One applycal call: what it calibrates and, per table, how."""

    vis: str
    field: str
    spw: str
    gaintable: list[str]
    gainfield: list[str]
    spwmap: list[list[int]]
    interp: list[str]
    calwt: list[bool]

    def line(self) -> str:
        """The call as a line of a calapply file (the pipeline's form; tables by name)."""
        args = {
            "vis": self.vis,
            "field": self.field,
            "intent": "",
            "spw": self.spw,
            "antenna": "",
            "gaintable": self.gaintable,
            "gainfield": self.gainfield,
            "spwmap": self.spwmap,
            "interp": self.interp,
            "calwt": self.calwt,
        }
        return "applycal(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def _per_table(value: Any, n: int, default: Any) -> list:
    if value is None:
        return [default] * n
    if isinstance(value, list):
        return list(value) + [default] * (n - len(value))
    return [value] * n


def application(call: Call) -> Application:
    """An applycal call of a record, each per-table argument a list of one entry per table
    (applycal's own defaults where the call left one out)."""
    kw = call.kwargs
    tables = _per_table(kw.get("gaintable"), 0, "") if kw.get("gaintable") else []
    n = len(tables)
    spwmap = kw.get("spwmap") or []
    if spwmap and not isinstance(spwmap[0], list):  # one table's map
        spwmap = [spwmap]
    return Application(
        vis=Path(kw["vis"]).name,
        field=kw.get("field", ""),
        spw=kw.get("spw", ""),
        gaintable=[Path(t).name for t in tables],
        gainfield=_per_table(kw.get("gainfield"), n, ""),
        spwmap=_per_table(spwmap, n, []),
        interp=_per_table(kw.get("interp"), n, "linear"),
        calwt=_per_table(kw.get("calwt"), n, True),
    )


def applications(record_path: str) -> tuple[list[Application], list[str]]:
    """The applycal calls of a job's record, and the tables they name (workflow paths)."""
    record = read_record(record_path, Path(record_path).name.split(".")[0])
    calls = [c for c in record.calls if c.task == "applycal"]
    tables = []
    for call in calls:
        tables += [t for t in call.kwargs.get("gaintable", []) if t not in tables]
    return [application(c) for c in calls], tables


def write_calapply(path: Path, vis: str, apps: list[Application]) -> None:
    lines = [f"# Apply file for {vis}", *[a.line() for a in apps]]
    if not apps:
        lines.append(f"# no calibration table was applied to {vis}")
    path.write_text("\n".join(lines) + "\n")


def _tgz(archive: Path, members: list[str]) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for member in members:
            tar.add(member, arcname=Path(member).name)


def _flag_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip() and line[0] != "#")


@dataclass(frozen=True)
class EBFiles:
    """Where the products of one EB are (paths relative to the workflow's directory)."""

    eb: str
    results: str  # results/<mous>/<eb>
    logs: str  # logs/<mous>/<eb>
    script: str  # the folder of its scriptForCalibration.py
    user_flag_files: tuple[str, ...]

    def product(self, suffix: str) -> Path:
        return Path(self.results, f"{self.eb}{suffix}")


def deliver_eb(eb: EBFiles, package: Path) -> dict:
    """calibration/, script/ and log/ of one EB; returns what the README says of it."""
    calibration = package / "calibration"
    for ms, job in APPLY_JOBS.items():
        apps, tables = applications(str(Path(eb.logs, f"{job}.casa_commands.py")))
        if not apps and ms == ".ms.split":
            raise ValueError(f"{eb.logs}/{job}.casa_commands.py: no applycal call")
        write_calapply(calibration / f"{eb.eb}{ms}.calapply.txt", f"{eb.eb}{ms}", apps)
        if tables:  # (an EB without Tsys, WVR and positions: no table before the split)
            _tgz(calibration / f"{eb.eb}{ms}.caltables.tgz", tables)
        versions = f"{eb.product(ms)}.flagversions"
        _tgz(calibration / f"{eb.eb}{ms}.flagversions.tgz", [versions])
    automatic = {}
    for suffix in AUTOMATIC_FLAG_FILES:
        if eb.product(suffix).exists():
            shutil.copy(eb.product(suffix), calibration)
            automatic[eb.eb + suffix] = _flag_lines(eb.product(suffix))
    users = {}
    for user in eb.user_flag_files:
        shutil.copy(user, calibration)
        users[Path(user).name] = _flag_lines(Path(user))
    for item in Path(eb.script).iterdir():
        if item.name != SNAKEMAKE_MARKER:
            shutil.copy(item, package / "script")
    _tgz(package / "log" / f"{eb.eb}.log.tgz", sorted(str(p) for p in Path(eb.logs).glob("*.log")))
    return {
        "automatic_flag_lines": automatic,
        "user_flag_lines": users,
        "fluxscale": jsonio.load(eb.product(".ms.split.fluxscale.json")),
        "renorm": jsonio.load(eb.product(".ms.split.renorm.json")),
        "wvr": jsonio.load(eb.product(".ms.wvrgcal.json"))
        if eb.product(".ms.wvrgcal.json").exists()
        else None,
    }


def delivery_package(
    *,
    mous: str,
    ebs: list[EBFiles],
    qa_report: str,
    calibration_summary: str,
    casa_commands: str,
    flux_file: str,
    products: list[str],
    casa_version: str,
    package: str,
) -> None:
    """Write the package folder ``package`` (replacing an older one)."""
    out = Path(package)
    shutil.rmtree(out, ignore_errors=True)
    for folder in ("calibration", "script", "qa", "log"):
        (out / folder).mkdir(parents=True)
    per_eb = {eb.eb: deliver_eb(eb, out) for eb in ebs}
    shutil.copy(flux_file, out / "calibration" / "flux.csv")
    shutil.copytree(
        qa_report, out / "qa" / "report", ignore=shutil.ignore_patterns(SNAKEMAKE_MARKER)
    )
    shutil.copy(calibration_summary, out / "qa")
    shutil.copy(casa_commands, out / "log")
    if products:
        (out / "product").mkdir()
        for product in products:  # a folder of images: its FITS files, as ALMA delivers them
            files = sorted(Path(product).glob("*.fits")) if Path(product).is_dir() else [product]
            for file in files:
                shutil.copy(file, out / "product")
    summary = jsonio.load(Path(qa_report, f"{mous}.qa_summary.json"))
    (out / "README").write_text(
        readme(mous, [eb.eb for eb in ebs], per_eb, summary, products, casa_version, out)
    )


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return ["    " + line for line in lines]


def readme(
    mous: str,
    ebs: list[str],
    per_eb: dict[str, dict],
    qa: dict,
    products: list[str],
    casa_version: str,
    package: Path,
) -> str:
    """The package's README, filled from the run."""
    text = [
        "Atacama Large Millimeter/submillimeter Array (ALMA): calibrated data package",
        "#" * 78,
        f"MOUS: {mous}",
        f"Execution blocks ({len(ebs)}): {', '.join(ebs)}",
        f"CASA version used for the calibration: {casa_version} (casatasks/casatools)",
        "Calibrated with the almacal Snakemake workflow (one job per calibration product).",
        "",
        "Contents",
        "--------",
        "calibration/  per EB: <eb>.ms.caltables.tgz (Tsys, antenna-position, WVR tables applied",
        "              to <eb>.ms), <eb>.ms.split.caltables.tgz (bandpass, phase, flux and",
        "              renormalisation tables applied to <eb>.ms.split), <eb>.ms.calapply.txt and",
        "              <eb>.ms.split.calapply.txt (each applycal: fields, tables, gainfield, spwmap,",
        "              interp, calwt), <eb>.ms.flagversions.tgz (final version 'raw_user') and",
        "              <eb>.ms.split.flagversions.tgz (final version 'split_user'), the flag files",
        "              applied (automatic: *.tsysflag/lowgainflag/correctedampflag.flags.txt; the",
        "              reducer's: *.raw/split/tsys.flags.txt), flux.csv",
        "script/       <eb>.ms.scriptForCalibration.py per EB: raw ASDM -> <eb>.ms.split.cal with",
        "              casatasks alone (mysteps as in ALMA's scripts), and the files it reads",
        "qa/           report/index.html (the QA report), the MOUS calibration summary",
        "log/          <mous>.casa_commands.log (every CASA task call), <eb>.log.tgz (CASA logs)",
    ]
    if products:
        text.append("product/      " + ", ".join(Path(p).name for p in products))
    else:
        text.append("product/      not in this package (no images made by this workflow run)")
    text += [
        "",
        "To recalibrate an EB from its raw ASDM: cd to an empty folder and run",
        "    python <package>/script/<eb>.ms.scriptForCalibration.py --asdm <raw>/<eb>",
        "(a Python with casatasks; --mysteps 0,1 for single steps).",
        "To re-apply the delivered tables instead: import the ASDM, restore the flag version",
        "'raw_user' from <eb>.ms.flagversions.tgz, run the applycal lines of <eb>.ms.calapply.txt,",
        "mstransform the fields and spws they name (datacolumn='corrected', reindex=False,",
        "keepflags=True) to <eb>.ms.split, restore 'split_user' from",
        "<eb>.ms.split.flagversions.tgz, run the lines of <eb>.ms.split.calapply.txt and split",
        "the corrected data to <eb>.ms.split.cal.",
        "",
        "Flagging (fraction of the data flagged, per stage)",
        "--------------------------------------------------",
    ]
    stages = [
        ("apriori", "a priori"),
        ("split", "as split"),
        ("user", "before bandpass"),
        ("calibrated", "calibrated"),
        ("calibrated_cross_correlations", "calibrated, cross-corr."),
    ]
    rows = [
        [eb, *[f"{qa['flagging'][eb].get(key, float('nan')):.4f}" for key, _ in stages]]
        for eb in ebs
    ]
    text += _table(["EB", *[label for _, label in stages]], rows)
    text += ["", "Automatic and reducer's flag files applied (flag lines):"]
    for eb in ebs:
        auto = per_eb[eb]["automatic_flag_lines"]
        users = per_eb[eb]["user_flag_lines"]
        text.append(f"    {eb}:")
        text += [f"        {name}: {n}" for name, n in auto.items()] or [
            "        no automatic flags"
        ]
        text += [f"        {name}: {n} (reducer's)" for name, n in users.items()]
    text += ["", "Flux scale (fluxscale, per transfer field and spw)", "-" * 50]
    for eb in ebs:
        flux = per_eb[eb]["fluxscale"]
        if flux.get("skipped"):
            text.append(f"    {eb}: {flux['skipped']}")
            continue
        text.append(f"    {eb}: reference {', '.join(flux['reference'])}")
        rows = []
        for field, entry in flux["fields"].items():
            for spw, s in entry["spws"].items():
                rows.append([field, spw, _number(s["flux_jy"], 4), _number(s["error_jy"], 4), ""])
            fit = entry["fit"]
            rows.append(
                [field, "fit", _number(fit.get("flux_jy"), 4), "", _number(fit.get("spix"), 3)]
            )
        text += _table(["field", "spw", "flux (Jy)", "error (Jy)", "spix"], rows)
    text += ["", "WVR and amplitude renormalisation", "-" * 33]
    for eb in ebs:
        wvr = per_eb[eb]["wvr"]
        wvr_text = (
            "no WVR data"
            if wvr is None
            else f"{'applied' if wvr['applied'] else 'not applied'} ({wvr['reason']}; "
            f"wvrflag {wvr['wvrflag'] or 'none'})"
        )
        renorm = per_eb[eb]["renorm"]
        renorm_text = renorm.get("decision", "")
        text.append(f"    {eb}: WVR: {wvr_text}")
        text.append(f"    {' ' * len(eb)}  renormalisation: {renorm_text}")
    scores = qa_scores.worst_first(qa["scores"])
    bands: dict[str, int] = {}
    for s in scores:
        bands[qa_scores.score_class(s["score"])] = (
            bands.get(qa_scores.score_class(s["score"]), 0) + 1
        )
    names = {"s-good": "good", "s-ok": "ok", "s-warn": "warning", "s-bad": "bad"}
    text += [
        "",
        "QA scores (qa/report/index.html; 1 good, 0 bad)",
        "-" * 47,
        "    "
        + ", ".join(f"{names[cls]}: {bands.get(cls, 0)}" for cls, _ in qa_scores.SCORE_BANDS)
        + f" of {len(scores)} scores",
    ]
    below = [s for s in scores if s["score"] < qa_scores.SCORE_BANDS[0][1]]
    if below:
        text.append("    below 'good' (worst first):")
        rows = [
            [
                s.get("eb") or mous,
                s["title"],
                f"{s['score']:.2f}",
                names[qa_scores.score_class(s["score"])],
                str(s.get("subject", "")),
            ]
            for s in below
        ]
        text += _table(["EB", "check", "score", "verdict", "subject"], rows)
    else:
        text.append("    every score is in the 'good' band")
    files = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*")
        if p.is_file() and p.name != SNAKEMAKE_MARKER
    )
    files = ["README", *[f for f in files if not f.startswith("qa/report/")], "qa/report/..."]
    text += ["", "Files", "-----", *[f"    {f}" for f in files]]
    return "\n".join(text) + "\n"
