"""Candidate structures and their device cost; the choice under a cycle budget.

The cost comes from ``pedaltool.pedal.cost.cycles_per_sample`` when that module exists. Until
then a PROVISIONAL local table (below, clearly an estimate for MicroPython viper on an RP2040)
is used and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# RP2040 at 125 MHz, 48 kHz: half of the CPU left free by default.
RP2040_HZ = 125e6
DEFAULT_BUDGET = int(RP2040_HZ / 48000 / 2)  # 1302 cycles/sample

# PROVISIONAL cycles per sample per stage (viper, Cortex-M0+), used only when
# pedaltool.pedal.cost is not importable. Replace by the firmware room's measured model.
PROVISIONAL_CYCLES = {
    "frame": 60, "delay": 15, "gain": 20, "biquad": 90, "table": 60, "env_bias": 45,
    "tap": 10, "mix": 20, "tone": 180, "dcblock": 40,
}


@dataclass
class Structure:
    """What the fitter builds: EQ section kinds per nonlinear stage, post-EQ kinds, table size,
    optional envelope bias and parallel linear path."""

    name: str
    pre: list[list[str]]  # one list of section kinds per nonlinear stage
    post: list[str]
    knots: int = 48
    inner_knots: int = 24
    env: bool = False
    mix: bool = False
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def stage_types(self) -> list[str]:
        """The firmware stage list (types only, in order) this structure compiles to."""
        out = ["delay"]
        if self.mix:
            out.append("tap")
        for k, pre in enumerate(self.pre):
            out += ["biquad"] * len(pre)
            if k == 0:
                out.append("gain")  # drive knob
            if self.env:
                out.append("env_bias")
            out.append("table")
        if self.mix:
            out.append("mix")
        out += ["biquad"] * len(self.post)
        out += ["tone", "gain"]  # tone knob, level knob
        return out


def cost_cycles(structure: Structure, arch: str = "rp2040") -> tuple[int, str]:
    """(cycles per sample, source) where source is 'pedal.cost' or 'provisional'."""
    types = structure.stage_types()
    try:
        from pedaltool.pedal import cost as pedal_cost  # type: ignore

        return int(round(pedal_cost.cycles_per_sample(types, arch))), "pedal.cost"
    except Exception:  # noqa: BLE001 - any missing/old cost model falls back
        pass
    return PROVISIONAL_CYCLES["frame"] + sum(PROVISIONAL_CYCLES[t] for t in types), "provisional"


PRE3 = ["hp1", "peak", "peak", "peak"]
POST5 = ["hp2", "peak", "peak", "peak", "lp2"]
POST_CAB = ["hp2"] + ["peak"] * 8 + ["hshelf", "lp2"]


def candidates() -> list[Structure]:
    """All structures the fitter knows, simplest first."""
    return [
        Structure("wh", [PRE3], POST5, notes="Wiener-Hammerstein: pre-EQ, table, post-EQ"),
        Structure("wh+mix", [PRE3], POST5, mix=True,
                  notes="WH plus a parallel clean path (Tube Screamer style)"),
        Structure("wh+env", [PRE3], POST5, env=True,
                  notes="WH with envelope-driven bias (sag, touch)"),
        Structure("wh2", [PRE3, ["peak", "peak", "peak"]], POST5, env=True,
                  notes="two tables with EQ between (preamp, tone stack, power amp)"),
        Structure("wh+cab", [PRE3], POST_CAB, notes="WH with a long post-EQ for a cabinet"),
        Structure("wh2+cab", [PRE3, ["peak", "peak", "peak"]], POST_CAB, env=True,
                  notes="two tables and a long post-EQ (amp + cab)"),
    ]


def baseline_structure() -> Structure:
    """The naive baseline: one pre biquad, tanh-like table, one post biquad."""
    return Structure("baseline", [["peak"]], ["peak"], knots=0, notes="biquad + tanh + biquad")


def within_budget(budget: int, arch: str = "rp2040") -> list[Structure]:
    return [s for s in candidates() if cost_cycles(s, arch)[0] <= budget]
