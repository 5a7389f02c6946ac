"""Candidate structures, their device cost, and which ones fit a cycle budget.

Cost = ``pedaltool.pedal.cost.cycles_per_sample`` of the exact firmware stage list a structure
compiles to (measured kernel cycles on the target arch, default RP2040 armv6m). Each structure
*flavour* (plain WH, WH + parallel clean path, WH + envelope bias, two tables, long post-EQ for a
cab) is grown to the largest pre/post-EQ that fits the budget, so the budget decides how many
biquads a capture gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pedaltool.pedal import cost as pedal_cost

DEFAULT_ARCH = "armv6m"
DEFAULT_BUDGET = int(pedal_cost.budget_default(48000))  # 1302 cycles/sample at 48 kHz


@dataclass
class Structure:
    """What the fitter builds: EQ section kinds per nonlinear stage, post-EQ kinds, table size
    (2^k + 1 values; 0 = the baseline's tanh), envelope bias, parallel clean path."""

    name: str
    pre: list[list[str]]  # one list of section kinds per nonlinear stage
    post: list[str]
    knots: int = 65
    inner_knots: int = 17
    env: bool = False
    mix: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def stage_types(self, knobs: bool = True) -> list[str]:
        """The firmware stage list (kinds, in order) this structure compiles to; mirrors
        :func:`pedaltool.fit.convert.to_pedal_model`."""
        out = ["delay"]
        if self.mix:
            out.append("tap")
        for pre in self.pre:
            out += ["biquad"] * len(pre)
            if self.env:
                out.append("env_bias")
            out.append("table")
        if self.mix:
            out.append("mix")
        out += ["biquad"] * len(self.post)
        if knobs:
            out.append("tone")
        out.append("gain")
        return out

    @property
    def biquads(self) -> int:
        return sum(len(p) for p in self.pre) + len(self.post)


def cost_cycles(structure: Structure, arch: str = DEFAULT_ARCH) -> float:
    """CPU cycles per sample of the structure on ``arch`` (firmware cost model)."""
    return float(pedal_cost.cycles_per_sample(structure.stage_types(), arch))


def _make(flavour: str, n_pre: int, n_post: int) -> Structure:
    """A flavour with n_pre peaking sections before the (first) table and n_post peaks after
    it; the post-EQ always has a 2nd-order high-pass and low-pass around its peaks."""
    pre = ["hp1"] + ["peak"] * n_pre
    post = ["hp2"] + ["peak"] * n_post + ["lp2"]
    if flavour == "wh":
        return Structure(f"wh-{n_pre}/{n_post}", [pre], post,
                         notes="Wiener-Hammerstein: pre-EQ, table, post-EQ")
    if flavour == "wh+mix":
        return Structure(f"wh+mix-{n_pre}/{n_post}", [pre], post, mix=True,
                         notes="WH plus a parallel clean path (Tube Screamer style)")
    if flavour == "wh+env":
        return Structure(f"wh+env-{n_pre}/{n_post}", [pre], post, env=True,
                         notes="WH with envelope-driven bias into the table (sag, touch)")
    if flavour == "wh2":
        return Structure(f"wh2-{n_pre}/{n_post}", [pre, ["peak", "peak"]], post,
                         notes="two tables with EQ between (preamp, tone stack, power amp)")
    raise ValueError(flavour)


ALL_FLAVOURS = ("wh", "wh+mix", "wh+env", "wh2")
# tried by default: wh+env never beat the others on the shared captures and costs fit time;
# ask for it with FitConfig(flavours=ALL_FLAVOURS)
FLAVOURS = ("wh", "wh+mix", "wh2")


def grow(flavour: str, budget: float, arch: str = DEFAULT_ARCH, max_pre: int = 3,
         max_post: int = 8) -> Structure | None:
    """The largest structure of a flavour within budget: post peaks first (a cab needs many),
    alternating with pre peaks (pre-EQ carries the accuracy) up to the caps."""
    n_pre, n_post = 1, 0
    best = None
    if cost_cycles(_make(flavour, n_pre, n_post), arch) > budget:
        n_pre = 0
        if cost_cycles(_make(flavour, 0, 0), arch) > budget:
            return None
    best = _make(flavour, n_pre, n_post)
    while True:
        options = []
        want_pre = n_pre < max_pre and n_pre < 2 + n_post // 3
        if want_pre:
            options.append((n_pre + 1, n_post))
        if n_post < max_post:
            options.append((n_pre, n_post + 1))
        if not want_pre and n_pre < max_pre:
            options.append((n_pre + 1, n_post))
        grown = False
        for a, b in options:
            s = _make(flavour, a, b)
            if cost_cycles(s, arch) <= budget:
                n_pre, n_post, best, grown = a, b, s, True
                break
        if not grown:
            return best


def within_budget(budget: float, arch: str = DEFAULT_ARCH,
                  flavours: tuple[str, ...] = FLAVOURS) -> list[Structure]:
    """One structure per flavour that fits the budget (largest EQ of that flavour)."""
    out = []
    for f in flavours:
        s = grow(f, budget, arch)
        if s is not None:
            out.append(s)
    return out


def baseline_structure() -> Structure:
    """The naive baseline: one pre biquad, a tanh, one post biquad (no knobs beyond level)."""
    return Structure("baseline", [["peak"]], ["peak"], knots=65, notes="biquad + tanh + biquad")
