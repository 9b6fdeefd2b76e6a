"""The rerun plan: which products of which EBs a ``snakemake --dry-run`` will remake, and why.

``parse_dry_run`` reads the dry run's listing into jobs (rule, MOUS, EB, outputs, reasons);
``explain`` restates Snakemake's reason in a reducer's words (the flag file, flux file or config
value that changed, or the upstream product that will be remade); ``report`` formats the plan.
The command line is workflow/tools/plan_rerun.py.
"""

import ast
import re
from dataclasses import dataclass, field

PRODUCT = re.compile(r"results/(?P<mous>[^/]+)/(?P<eb>[^/]+)/(?:qa/)?(?P=eb)(?P<suffix>\.[^,\s]*)")
MOUS_PRODUCT = re.compile(r"results/(?P<mous>[^/]+)/(?P=mous)(?P<suffix>\.[^,\s]*)")
# A job of the listing: "rule x:" (or "localrule", "checkpoint"), at the start of the line or
# indented inside a "Group job <name>" block; its attributes follow, indented further.
JOB_HEADER = re.compile(r"^(?P<indent> *)(?:local)?(?:rule|checkpoint) (?P<rule>\w+):$")
ATTRIBUTE = re.compile(r"^(?P<indent> +)(?P<key>\w+): ?(?P<value>.*)$")


@dataclass
class PlannedJob:
    rule: str
    mous: str | None
    eb: str | None
    outputs: list[str]
    reasons: list[str] = field(default_factory=list)


def product_name(path: str) -> str:
    """'results/M/E/E.ms.split.bandpass' -> '.ms.split.bandpass'."""
    match = PRODUCT.search(path) or MOUS_PRODUCT.search(path)
    return match.group("suffix") if match else path


def _files(text: str) -> list[str]:
    return [f.strip() for f in text.split(",") if f.strip()]


def _changed_params(text: str) -> str:
    match = re.search(r"before: (\{.*\}) now: (\{.*\})", text)
    if not match:
        return "a config value of this step changed"
    try:
        before, now = (ast.literal_eval(group) for group in match.groups())
    except (ValueError, SyntaxError):
        return "a config value of this step changed"

    def flat(d, prefix=""):
        out = {}
        for key, value in d.items():
            if isinstance(value, dict):
                out.update(flat(value, f"{prefix}{key}."))
            else:
                out[f"{prefix}{key}"] = value
        return out

    b, n = flat(before), flat(now)
    changes = [
        f"{k}: {b.get(k)!r} -> {n.get(k)!r}"
        for k in sorted(set(b) | set(n))
        if b.get(k) != n.get(k)
    ]
    return "config value changed: " + "; ".join(changes) if changes else "a config value changed"


def explain(reason: str) -> list[str]:
    """One line per cause, in the reducer's words."""
    lines = []
    for part in re.split(r"; (?=[A-Z])", reason):
        head, _, rest = part.partition(":")
        if head == "Missing output files":
            lines.append("not made yet: " + ", ".join(product_name(f) for f in _files(rest)))
        elif head == "Updated input files":
            for path in _files(rest):
                kind = (
                    "flag file"
                    if path.endswith(".flags.txt")
                    else "flux file"
                    if path.endswith(".csv")
                    else "input"
                )
                lines.append(f"{kind} {path} changed")
        elif head == "Input files updated by another job":
            products = sorted({product_name(f) for f in _files(rest)})
            lines.append("upstream product remade: " + ", ".join(products))
        elif head.startswith("Params have changed"):
            lines.append(_changed_params(rest))
        elif head.startswith("Set of input files has changed"):
            lines.append(
                "a flag file was added or removed" + (f" ({rest.strip()})" if rest else "")
            )
        elif head.startswith("Code has changed"):
            lines.append("the workflow code of this step changed")
        elif head.startswith("Software environment"):
            lines.append("the software environment changed")
        elif head == "Forced execution":
            lines.append("forced from the command line")
        else:
            lines.append(part.strip())
    return lines


def parse_dry_run(output: str) -> list[PlannedJob]:
    """Jobs of a ``snakemake --dry-run`` listing (grouped jobs included; the rule ``all`` not)."""
    jobs, current, indent = [], None, 0
    for line in output.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            current = PlannedJob(rule=header.group("rule"), mous=None, eb=None, outputs=[])
            indent = len(header.group("indent"))
            jobs.append(current)
            continue
        attribute = ATTRIBUTE.match(line)
        if current is None or not attribute or len(attribute.group("indent")) <= indent:
            if line.strip():  # anything else at the job's level or left of it ends the job
                current = None
            continue
        key, value = attribute.group("key"), attribute.group("value")
        if key == "output":
            current.outputs = _files(value)
        elif key == "reason":
            current.reasons = explain(value)
        elif key == "wildcards":
            wildcards = dict(item.split("=", 1) for item in _files(value) if "=" in item)
            current.mous, current.eb = wildcards.get("mous"), wildcards.get("eb")
    return [job for job in jobs if job.rule != "all"]


def report(jobs: list[PlannedJob]) -> str:
    """The plan grouped by EB (MOUS-level jobs last), each job with its products and reasons."""
    if not jobs:
        return "Nothing to remake: every product is up to date."
    lines = ["Products that will be remade (nothing has run yet):"]
    groups: dict[tuple, list[PlannedJob]] = {}
    for job in jobs:
        groups.setdefault((job.mous or "", job.eb or ""), []).append(job)
    for (mous, eb), group in sorted(groups.items(), key=lambda item: (item[0][1] == "", item[0])):
        title = f"EB {eb} (MOUS {mous})" if eb else (f"MOUS {mous}" if mous else "other")
        lines.append(f"\n{title}: {len(group)} step(s)")
        for job in group:
            products = ", ".join(product_name(o) for o in job.outputs) or "-"
            lines.append(f"  {job.rule:<26} {products}")
            lines += [f"  {'':<26}   because {reason}" for reason in job.reasons]
            if job.rule == "renorm_factors":
                lines.append(
                    f"  {'':<26}   then renorm_table, if the new factors exceed the "
                    "threshold (decided when renorm_factors has run)"
                )
    return "\n".join(lines)
