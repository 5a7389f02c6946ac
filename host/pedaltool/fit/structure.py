"""Candidate structures, their device cost, and which ones fit a cycle budget.

Cost = ``pedaltool.pedal.cost.cycles_per_sample`` of the exact firmware stage list a structure
compiles to (measured kernel cycles on the target arch, default RP2040 armv6m, and the
engine's estimated per-block dispatch). Each structure
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
    """CPU cycles per sample of the structure on ``arch`` (firmware cost model: kernels,
    block I/O and the engine's estimated dispatch), every biquad at the full section's cost:
    what the budget bounds."""
    return float(pedal_cost.cycles_per_sample(structure.stage_types(), arch,
                                              include_dispatch=True))


def half_section_cycles(arch: str = DEFAULT_ARCH) -> float:
    """CPU cycles per sample that one more biquad on the Q12 loop with error feedback (the
    HALF loop, which the quantiser's fast sections of real fits use; the FAST loop without
    feedback is cheaper but rare) adds on ``arch``: its kernel and its share of the dispatch
    (64 on the RP2040)."""
    one = pedal_cost.cycles_per_sample(["biquad_half"], arch, include_dispatch=True)
    return float(pedal_cost.cycles_per_sample(["biquad_half"] * 2, arch, include_dispatch=True)
                 - one)


def written_cycles(qpedal, arch: str = DEFAULT_ARCH) -> float:
    """CPU cycles per sample of a quantised pedal on ``arch`` (as :func:`cost_cycles`): what
    the written file costs. Sections the quantiser put on the shorter Q12 loop cost less, so
    this is at most :func:`cost_cycles` of its structure."""
    return float(pedal_cost.cycles_per_sample(qpedal, arch, include_dispatch=True))


# sections between two tables (the EQ of the next stage): a coupling-cap high-pass and two
# peaks (a tone stack's mid scoop and presence), as amps are built
INTER_STAGE = ["hp1", "peak", "peak"]

# values of a table that feeds another stage. 33 instead of 17 (same device cost, 64 more
# bytes per table): HM-2 wh2+env 0.114 -> 0.078, Bugera wh3 0.182 -> 0.144, JCM2000 crunch
# wh3 0.0053 -> 0.0065 (float ESR on the evaluation DI after the long fit, 2026-11-25)
INNER_KNOTS = 33
INTER_STAGES = {"wh2": ["peak", "peak"], "wh2+mix": ["peak", "peak"], "wh3": ["hp1", "peak"]}
# (max pre peaks, max post peaks) per flavour; a cab flavour spends the budget on the post-EQ
CAPS = {"cab": (1, 14), "wh2+cab": (1, 12), "wh2+cab+env": (1, 12)}

_NOTES = {
    "wh": "Wiener-Hammerstein: pre-EQ, table, post-EQ",
    "wh+mix": "WH plus a parallel clean path (Tube Screamer style)",
    "wh+env": "WH with envelope-driven bias into the table (sag, touch)",
    "wh2": "two tables with EQ between (preamp, tone stack, power amp)",
    "wh2+env": "two tables, each with an envelope-driven bias (sag, bias shift)",
    "wh2+mix": "two tables with EQ between, plus a parallel clean path",
    "wh3": "three tables with EQ between (preamp stages, tone stack, power amp)",
    "cab": "WH with a long post-EQ (amp + cab: the cabinet's response as a biquad cascade)",
    "wh2+cab": "two tables and a long post-EQ (amp + cab)",
    "wh2+cab+env": "two tables with envelope-driven bias and a long post-EQ (amp + cab, sag)",
}


def flavour_of(name: str) -> str:
    """The flavour of a structure name such as 'wh2+env-3/5'."""
    return name.rsplit("-", 1)[0] if "/" in name else name


def _make(flavour: str, n_pre: int, n_post: int) -> Structure:
    """A flavour with n_pre peaking sections before the (first) table and n_post peaks after
    the last; the post-EQ always has a 2nd-order high-pass and low-pass around its peaks, and
    every later table gets INTER_STAGE sections in front of it."""
    if flavour not in _NOTES:
        raise ValueError(flavour)
    pre = ["hp1"] + ["peak"] * n_pre
    post = ["hp2"] + ["peak"] * n_post + ["lp2"]
    base = flavour.split("+")[0]
    tables = {"wh": 1, "cab": 1, "wh2": 2, "wh3": 3}[base]
    inter = INTER_STAGES.get(flavour, INTER_STAGE)
    pres = [pre] + [list(inter) for _ in range(tables - 1)]
    return Structure(f"{flavour}-{n_pre}/{n_post}", pres, post, env=flavour.endswith("+env"),
                     mix=flavour.endswith("+mix"), notes=_NOTES[flavour],
                     inner_knots=INNER_KNOTS)


ALL_FLAVOURS = tuple(_NOTES)
# tried by default, each long-fitted when two processes run (no ranking by the noisy quick
# fits). wh2 never validated best on a mild capture (2026-11-25 to 2026-12-03 runs) and only
# cost fit time; wh+env from the start never beat the others. Ask for any flavour with
# FitConfig(flavours=...); ALL_FLAVOURS lists them
FLAVOURS = ("wh", "wh+mix")
# a capture whose noise BLA loses this much gain from 0.002 to 0.25 x its calibrated level is
# driven into saturation (cranked amps and distortion pedals: 34-40 dB measured, the JCM2000
# crunch 21 dB) and gets the multi-stage flavours: they took the JCM2000 crunch from 0.023 to
# 0.006, the HM-2 from 0.25 to 0.08, the Bugera from 0.26 to 0.13. The TS9, OD808, Klon and
# JCM2000 clean (4-12 dB) keep the single-table ones (wh3 / wh2+env did not beat wh on the Klon)
SATURATING_DB = 16.0
# Device ESR on the evaluation DI, default fit (2026-12-04), flavours (wh3, wh2+env, wh2+cab)
# with the two best quick fits long-fitted -> these two, both long-fitted: Splawn 0.157 ->
# 0.091 (the quick ranking had left wh2+cab out), HM-2 0.096 -> 0.078 (wh2+cab+env), JCM2000
# crunch 0.0052 -> 0.0077 (wh3 was its best), Bugera 0.144, AC15 0.288, 5150 0.253, A1 0.711
# unchanged; 4-8 s less fit time (wh3 has the slowest long fit)
SATURATING_FLAVOURS = ("wh2+cab", "wh2+cab+env")


# what the thorough effort adds (wh3: the JCM2000 crunch's best, 0.0052 vs 0.0077, but the
# slowest long fit); its other extra is the envelope promotion (with_envelope)
THOROUGH_SATURATING_EXTRA = ("wh3",)


def flavours_for(saturating: bool, thorough: bool = False) -> tuple[str, ...]:
    """Flavours tried for a capture that is driven into saturation (compresses by
    SATURATING_DB or more) or not."""
    if saturating:
        return SATURATING_FLAVOURS + (THOROUGH_SATURATING_EXTRA if thorough else ())
    return FLAVOURS


def with_envelope(st: Structure, budget: float, arch: str = DEFAULT_ARCH) -> Structure | None:
    """``st`` with an envelope-driven bias into every table and the same EQ, so a fitted model
    of ``st`` is its starting point (envelope depth 0); None when ``st`` has envelopes already
    or the result exceeds ``budget`` cycles/sample on ``arch``."""
    if st.env or st.knots == 0 or st.name == "baseline":
        return None
    flavour, _, size = st.name.rpartition("-")
    out = Structure(f"{flavour}+env-{size}", [list(p) for p in st.pre], list(st.post),
                    knots=st.knots, inner_knots=st.inner_knots, env=True, mix=st.mix,
                    notes=st.notes + ", with an envelope-driven bias into each table",
                    extra=dict(st.extra))
    return out if cost_cycles(out, arch) <= budget else None


def grow(flavour: str, budget: float, arch: str = DEFAULT_ARCH, max_pre: int | None = None,
         max_post: int | None = None) -> Structure | None:
    """The largest structure of a flavour within budget: post peaks first (a cab needs many),
    alternating with pre peaks (pre-EQ carries the accuracy) up to the caps."""
    cap_pre, cap_post = _caps(flavour)
    max_pre = cap_pre if max_pre is None else max_pre
    max_post = cap_post if max_post is None else max_post
    n_pre, n_post = 1, 0
    best = None
    if cost_cycles(_make(flavour, n_pre, n_post), arch) > budget:
        n_pre = 0
        if cost_cycles(_make(flavour, 0, 0), arch) > budget:
            return None
    best = _make(flavour, n_pre, n_post)
    while True:
        grown = False
        for a, b in _next_sizes(n_pre, n_post, max_pre, max_post):
            s = _make(flavour, a, b)
            if cost_cycles(s, arch) <= budget:
                n_pre, n_post, best, grown = a, b, s, True
                break
        if not grown:
            return best


def _caps(flavour: str) -> tuple[int, int]:
    """(max pre peaks, max post peaks) of a flavour; an envelope flavour has its own
    flavour's (``with_envelope`` makes them from any)."""
    return CAPS.get(flavour, CAPS.get(flavour.replace("+env", ""), (3, 8)))


def _next_sizes(n_pre: int, n_post: int, max_pre: int, max_post: int) -> list[tuple[int, int]]:
    """The (pre peaks, post peaks) one section larger than (n_pre, n_post), in the order
    :func:`grow` tries them: a pre peak while the pre-EQ is short for the post-EQ, else a post
    peak, else a pre peak; none at the caps."""
    options = []
    want_pre = n_pre < max_pre and n_pre < 2 + n_post // 3
    if want_pre:
        options.append((n_pre + 1, n_post))
    if n_post < max_post:
        options.append((n_pre, n_post + 1))
    if not want_pre and n_pre < max_pre:
        options.append((n_pre + 1, n_post))
    return options


def sizes(st: Structure) -> tuple[int, int]:
    """(peaks in the first pre-EQ, peaks in the post-EQ) of a grown structure."""
    return st.pre[0].count("peak"), st.post.count("peak")


def larger(st: Structure) -> Structure | None:
    """``st`` one section larger, as :func:`grow` would have made it with a larger budget (its
    first option, the same flavour, envelopes and tables): a peak added to the first pre-EQ
    (before its table) or to the post-EQ (before its low-pass). None at the flavour's caps,
    and for the baseline."""
    if "/" not in st.name:  # (the baseline)
        return None
    flavour = flavour_of(st.name)
    cap_pre, cap_post = _caps(flavour)
    n_pre, n_post = sizes(st)
    options = _next_sizes(n_pre, n_post, cap_pre, cap_post)
    if not options:
        return None
    a, b = options[0]
    pre = [list(p) for p in st.pre]
    post = list(st.post)
    if a > n_pre:
        pre[0].append("peak")
    else:
        post.insert(len(post) - 1 if post and post[-1] == "lp2" else len(post), "peak")
    return Structure(f"{flavour}-{a}/{b}", pre, post, knots=st.knots,
                     inner_knots=st.inner_knots, env=st.env, mix=st.mix, notes=st.notes,
                     extra=dict(st.extra))


def smallest_cycles(arch: str = DEFAULT_ARCH, flavours: tuple[str, ...] = ALL_FLAVOURS
                    ) -> float:
    """Cycles/sample on ``arch`` of the cheapest structure the fitter grows from
    ``flavours`` (of all of them: a bare ``wh``): a budget below it fits the naive baseline
    alone (:func:`baseline_cycles`)."""
    return min(cost_cycles(_make(f, 0, 0), arch) for f in flavours)


def baseline_cycles(arch: str = DEFAULT_ARCH) -> float:
    """Cycles/sample of the naive baseline (:func:`baseline_structure`) on ``arch``: the
    cheapest model the fitter writes, so a budget below it fits nothing."""
    return cost_cycles(baseline_structure(), arch)


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
