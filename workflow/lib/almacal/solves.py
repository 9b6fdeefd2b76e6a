"""The calibration tables solved on ``{eb}.ms.split``, declared once.

Each entry says what a table is: the CASA task that makes it, the fields it is solved on (by
role), its solve mode, what it is solved on top of, which fields it is applied to in the final
applycal and how its QA shows it. The rules (workflow/rules/calibrate.smk), the final applycal
plan, the processing order of ``casa_commands.log``, the QA summary, the QA plots and the report
all read this table; adding a solve is one entry here and one rule.

A table marked ``spwmap`` is applied with the spw map that the ``spwphaseup`` rule decided
({eb}.ms.split.spwphaseup.json, almacal.calibration.spwphaseup) wherever it is applied: in the
final applycal and on the fly in the solves made on top of it. Its phases are solved on top of
``phase_offsets`` (the per-spw phase offsets on the bandpass calibrator), so they are common to
all spws and one spw's solutions serve another.
"""

from dataclasses import dataclass
from typing import Literal

FieldSet = Literal["bandpass", "flux", "calibrators"]
# Which fields a table is applied to in the final applycal:
#   "all"         every field (time-independent: gainfield '')
#   "own"         the bandpass and flux calibrators, each with its own solutions
#   "transfer"    the phase calibrator with its own solutions and the targets with the phase
#                 calibrator's (phase transfer)
#   "calibrators" each calibrator its own solutions; the targets the phase calibrator's
AppliedTo = Literal["all", "own", "transfer", "calibrators"]


@dataclass(frozen=True)
class Solve:
    """One caltable ``{eb}.ms.split.<name>``."""

    name: str
    rule: str
    task: Literal["gaincal", "bandpass", "fluxscale"]
    fields: FieldSet
    description: str
    calmode: str = ""
    gaintype: str = ""
    combine: str = ""
    on_top_of: tuple[str, ...] = ()
    applied_to: AppliedTo | None = None
    # QA plot of the table: "gain_phase"/"gain_amplitude" (qa_plot_gain), "bandpass"
    # (amplitude and phase vs channel) or None; the report's section title and caption.
    qa_plot: Literal["gain_phase", "gain_amplitude", "bandpass"] | None = None
    qa_title: str = ""
    qa_caption: str = ""
    # the config section (calibration.<config>) holding its solint and options
    config: str = ""
    # applied with the spwphaseup decision's spw map (a low-SNR spw takes another spw's phases)
    spwmap: bool = False

    @property
    def suffix(self) -> str:
        return f".ms.split.{self.name}"

    @property
    def settings(self) -> str:
        return self.config or self.name

    @property
    def qa_plot_names(self) -> tuple[str, ...]:
        """The QA plots of the table, as ``qa/<eb>.<name>.png``: the bandpass's amplitude and
        phase, a gain table's one plot, none without qa_plot."""
        if self.qa_plot == "bandpass":
            return (f"{self.name}_amplitude", f"{self.name}_phase")
        return (self.name,) if self.qa_plot else ()


SOLVES: tuple[Solve, ...] = (
    Solve(
        "ap_pre_bandpass",
        rule="gaincal_ap_pre_bandpass",
        task="gaincal",
        fields="bandpass",
        calmode="p",
        gaintype="G",
        description="Short-timescale phase solution on the bandpass calibrator, central channels.",
    ),
    Solve(
        "bandpass",
        rule="bandpass",
        task="bandpass",
        fields="bandpass",
        combine="scan",
        on_top_of=("ap_pre_bandpass",),
        applied_to="all",
        qa_plot="bandpass",
        description="Bandpass per antenna and channel on the bandpass calibrator (solnorm, "
        "combine scans).",
    ),
    Solve(
        "phase_offsets",
        rule="gaincal_phase_offsets",
        task="gaincal",
        fields="bandpass",
        calmode="p",
        gaintype="G",
        combine="scan",
        on_top_of=("bandpass",),
        applied_to="all",
        description="Per-spw phase offsets per antenna on the bandpass calibrator (solint inf, "
        "scans combined; hifa_spwphaseup): after them the phases of all spws agree, so a "
        "low-SNR spw can take another spw's phase solutions.",
    ),
    Solve(
        "phase_int",
        rule="gaincal_phase_int",
        task="gaincal",
        fields="calibrators",
        calmode="p",
        gaintype="G",
        on_top_of=("bandpass", "phase_offsets"),
        applied_to="own",
        spwmap=True,
        qa_plot="gain_phase",
        qa_title="Phase, per integration",
        qa_caption="phase_int: per-integration phases of the calibrators vs time (applied to "
        "the bandpass and flux calibrators).",
        description="Per-integration phases of all calibrators (applied to bandpass/flux "
        "calibrators), after the phase offsets; applied with the spwphaseup map.",
    ),
    Solve(
        "phase_inf",
        rule="gaincal_phase_inf",
        task="gaincal",
        fields="calibrators",
        calmode="p",
        gaintype="G",
        on_top_of=("bandpass", "phase_offsets"),
        applied_to="transfer",
        spwmap=True,
        qa_plot="gain_phase",
        qa_title="Phase, per scan",
        qa_caption="phase_inf: per-scan phases vs time (transferred to the phase calibrator "
        "and the target).",
        description="Per-scan phases of all calibrators, after the phase offsets (transferred to "
        "the target with the spwphaseup map).",
    ),
    Solve(
        "ampli_inf",
        rule="gaincal_ampli_inf",
        task="gaincal",
        fields="calibrators",
        calmode="a",
        on_top_of=("bandpass", "phase_offsets", "phase_int"),
        description="Per-scan amplitudes of all calibrators, after bandpass, phase offsets and "
        "phase_int.",
    ),
    Solve(
        "flux_inf",
        rule="fluxscale",
        task="fluxscale",
        fields="calibrators",
        on_top_of=("ampli_inf",),
        applied_to="calibrators",
        qa_plot="gain_amplitude",
        qa_title="Flux-scaled amplitude",
        qa_caption="flux_inf: per-scan amplitude gains after fluxscale vs time.",
        config="ampli_inf",
        description="Flux scale bootstrapped from the flux calibrator: {eb}.ms.split.flux_inf "
        "and fitted fluxes.",
    ),
)

BY_NAME = {solve.name: solve for solve in SOLVES}


def solve(name: str) -> Solve:
    """The table entry ``name``; raises KeyError naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no solve {name!r}; known: {sorted(BY_NAME)}") from None


def applied(roles_of_field: str) -> list[Solve]:
    """Tables applied to a field group in the final applycal, in solve order.

    ``roles_of_field`` is "own" (bandpass/flux calibrator), "phase" (phase calibrator) or
    "target".
    """
    wanted = {
        "own": {"all", "own", "calibrators"},
        "phase": {"all", "transfer", "calibrators"},
        "target": {"all", "transfer", "calibrators"},
    }[roles_of_field]
    return [s for s in SOLVES if s.applied_to in wanted]


def gaintable_spwmaps(tables: list[Solve], spwmap: list[int]) -> list[list[int]] | None:
    """The CASA ``spwmap`` argument (one list per gaintable) for applying ``tables``: the
    spwphaseup map for the tables marked ``spwmap``, [] for the others; None when no table
    takes a map or the map is the identity (the argument is then left out)."""
    if not spwmap or not any(t.spwmap for t in tables):
        return None
    return [list(spwmap) if t.spwmap else [] for t in tables]
