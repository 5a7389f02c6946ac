"""Float PedalModel -> QuantisedPedal (the integer contract of docs/arithmetic.md).

Headroom management: inside the chain the signal is int16. Each run of consecutive biquads is
rescaled so that after every prefix of the run the int16 signal peaks 1.5 dB below full scale
(6 dB in the last idle retry, IDLE_RETRIES) when the float model is driven by a full-scale
probe (plucked-string notes + a chirp visiting every resonance: see ``headroom_probe``), but
never with more gain than the L1 norm of the prefix's impulse response allows (the worst case
of any input); the excess (or deficit) is carried as a level factor and folded into the next
gain-like stage (table input gain, gain, mix, env depth). A table whose values exceed full
scale is scaled down the same way. If nothing absorbs the level factor, a plain gain stage is
appended at the end.

Three choices keep the int16 rounding quiet without changing the format: a steep table gets
a finer device grid with the same curve (``_table_grid``); in a run whose input rests at 0,
each section's error feedback is chosen by the noise that reaches the output, through the
later runs too (``_ef_choice``); and a model that idles loudly gets its runs' sections
reordered where that makes it quieter (``run_order``, ``quantise``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np

from pedaltool.errors import FitError
from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.model import (
    Accuracy,
    PedalModel,
    SourceInfo,
    check_model,
    dcblock_ba,
    env_coef,
    fitted_knob,
    iter_stage_outputs,
    one_pole_coef,
    pole_radius,
)

LOG2_DB = 20 * math.log10(2)  # dB per octave of gain
Q26 = 1 << 26
BQ_SUM_LIMIT = 14.9  # sum of |coefficients| per section (contract limit 15.0)


@dataclass
class QStage:
    """A quantised stage: kind name, knob name, integer parameters (docs/pedal-format.md order)
    and, for a table, the N+1 int16 values."""

    kind: str
    knob: str | None
    p: tuple
    table: np.ndarray | None = None


@dataclass
class QuantisedPedal:
    stages: list
    sample_rate: int
    name: str = ""
    source: SourceInfo = field(default_factory=SourceInfo)
    accuracy: Accuracy = field(default_factory=Accuracy)
    knob_ranges: dict = field(default_factory=dict)  # knob -> (min_db, max_db) of the float model

    def fitted_knobs(self) -> dict:
        """Knob positions (0..1) of the fitted point, for display."""
        return {k: fitted_knob(lo, hi) for k, (lo, hi) in self.knob_ranges.items()}


def _log2q(db: float) -> int:
    return int(round(db / LOG2_DB * 1024))


def _knob_q(knob, min_db, max_db):
    if knob is None:
        return 0, 0
    return _log2q(min_db), _log2q(max_db)


def _mant_shift(g: float, limit: float, smin: int, smax: int, what: str) -> tuple[int, int]:
    """g ~= m * 2^-s with |m| <= limit, s in [smin, smax] as large as possible."""
    if not math.isfinite(g):
        raise FitError(f"the {what} is not finite")
    if g == 0:
        return 0, smin
    s = math.floor(math.log2(limit / abs(g)))
    s = min(s, smax)
    if s < smin:
        raise FitError(f"the {what} ({g:.4g}) is too large for the integer contract")
    return int(round(g * 2.0**s)), s


def _q_gain(g: float, knob, min_db, max_db, what="gain"):
    lo, hi = _knob_q(knob, min_db, max_db)
    m, s = _mant_shift(g * _knob_head(lo, hi), 32700, 0, 30, what)
    m = int(round(g * 2.0**s))
    return QStage("gain", knob, (m, s, lo, hi))


_EF_W = np.linspace(0, np.pi, 4097)


_EF_CANDIDATES = [(k1, k2) for k1 in (-2, -1, 0, 1, 2) for k2 in (-1, 0, 1)]


@functools.lru_cache(maxsize=1)
def _ef_candidate_power() -> np.ndarray:
    """|K(z)|^2 on _EF_W for the error-feedback candidates (rows, in _EF_CANDIDATES order)."""
    z = np.exp(-1j * _EF_W)
    return np.array([np.abs(1 + k1 * z + k2 * z * z) ** 2 for k1, k2 in _EF_CANDIDATES])


def _ef_ranked(a: np.ndarray, weight: np.ndarray | None = None) -> list:
    """Integer error-feedback polynomials K = 1 + k1 z^-1 + k2 z^-2, best first, ranked by the
    noise power of K(z)/A(z) (the output rounding noise transfer), weighted by |H_after|^2 of
    the sections that follow in the run (on the grid _EF_W). Returns [(power, (k1, k2))]."""
    z = np.exp(-1j * _EF_W)
    inv = 1.0 / np.abs(1 + a[1] * z + a[2] * z * z) ** 2
    if weight is not None:
        inv = inv * weight
    power = _ef_candidate_power() @ inv / len(_EF_W)
    return sorted(zip(power.tolist(), _EF_CANDIDATES, strict=True))


IDLE_NOISE_SLACK = 2.0  # accept up to 2x (3 dB) more rounding noise to get a silent section
HEADROOM_DB = 1.5  # a run's int16 signal peaks this far below full scale on the probe


@dataclass(frozen=True)
class IdleCheck:
    """How the quantiser looks for a section's silent error feedback (_ef_pick). ``slack``: how
    much more rounding noise (a power ratio) a section may take to fall silent; ``clipping``:
    the idle check's drives include a clipping input (_idle_drive_arrays), which finds the
    cycles a section saturated by full-scale input is left in, at the price of more sections
    judged not silent; ``headroom_db``: how far below full scale each run's int16 signal
    peaks on the headroom probe (_quantise_sections): more headroom, more rounding noise, and
    other numbers in the sections, in which one that cycled near z = 1 may fall silent."""

    slack: float = IDLE_NOISE_SLACK
    clipping: bool = False
    headroom_db: float = HEADROOM_DB


DEFAULT_IDLE_CHECK = IdleCheck()
# stages after which a run's input is still the converter's, clipping included: such a run's
# sections are always idle-checked with the clipping drives (docs/arithmetic.md "Idle after a
# clipping input")
CONVERTER_FED_AFTER = ("delay", "gain", "tap")


@functools.lru_cache(maxsize=4096)
def _idle_silent(p: tuple, clipping: bool = False) -> bool:
    """Does the section (quantised params p) fall to exact digital silence once its input
    stops? Loud noise, a low square and a decaying tone drive it into varied states first
    (``clipping``: then also clipped full-scale noise and a full-scale square).
    Cached: the error-feedback choice asks it of several candidates, and the fast path and
    quantise()'s reorder trials ask it again of the one chosen."""
    from pedaltool.pedal._fast import biquad_k

    arith = fw_module("arith")
    c = np.array(arith.biquad_kernel_coefs(list(p[:5]), p[5], p[6]), np.int64)
    for x in _idle_drives(clipping):
        biquad_k(x, c, np.zeros(6, np.int64))
        if np.any(x[-12000:] != 0):
            return False
    return True


def _idle_drives(clipping: bool = False) -> list:
    """Fresh int16-range inputs for the idle checks: loud noise, a low square and a decaying
    tone (``clipping``: then clipped full-scale noise and a full-scale square), at three
    levels, each followed by 1 s of zeros at 48 kHz (the last 0.25 s is checked)."""
    return [x.copy() for x in _idle_drive_arrays(clipping)]


@functools.lru_cache(maxsize=2)
def _idle_drive_arrays(clipping: bool) -> tuple:
    rng = np.random.default_rng(5)
    n = 12000
    t = np.arange(n)
    parts = [
        rng.integers(-16000, 16000, n),
        np.where(np.sin(2 * np.pi * t / 480) >= 0, 12000, -12000),
        (20000 * np.sin(2 * np.pi * t / 97) * np.exp(-t / 3000)).astype(np.int64)]
    if clipping:
        # a guitar clipping the converter: a section that saturates on it is left in states
        # the milder drives never reach, and some cycle from there (docs/arithmetic.md "Idle
        # after a clipping input")
        parts += [np.clip(np.rint(rng.normal(0, 16384, n)), -32768, 32767).astype(np.int64),
                  np.where(np.sin(2 * np.pi * t / 600) >= 0, 32767, -32768)]
    drive = np.concatenate(parts)
    return tuple(np.concatenate([drive // scale, np.zeros(48000, np.int64)])
                 for scale in (1, 8, 64))


def _ef_pick(a: np.ndarray, weight: np.ndarray | None, silent,
             slack: float = IDLE_NOISE_SLACK) -> tuple[float, tuple, bool]:
    """(power, (k1, k2), silent?) of the error feedback to use: the first candidate, in order
    of least weighted noise power, within ``slack`` (a power ratio) of the least for which
    ``silent(k)`` holds (the section falls silent after its input stops: no zero-input limit
    cycle); else the least-power one, not silent."""
    ranked = _ef_ranked(a, weight)
    best = ranked[0][0]
    for power, k in ranked:
        if power > slack * best:
            break
        if silent(k):
            return power, k, True
    return best, ranked[0][1], False


def _ef_choice(a: np.ndarray, weight: np.ndarray | None = None, p5: tuple | None = None,
               down: np.ndarray | None = None, idle: IdleCheck = DEFAULT_IDLE_CHECK
               ) -> tuple[int, int]:
    """The error feedback of least weighted noise power; with the section's quantised
    coefficients p5, the one _ef_pick takes with the idle check on them.

    ``down``: |H|^2 of the biquads in the later runs (``_downstream_power``), where the
    section's noise also goes after the tables. _ef_pick's choice (weighted by its own run
    only) then gives way to the candidate with the least noise power weighted by both, among
    those with less of it than that choice, and only to a silent one if that choice is
    silent: never a section that idles where it would not have, never more noise at the
    output by this estimate. Only for a run whose input is 0 in silence (``_quantise``): the
    idle check drives a section from zeros, which is not what a section after a table resting
    off zero gets. ``idle``: the slack and drives of the idle check (IdleCheck)."""
    if p5 is None:
        return _ef_ranked(a, weight)[0][1]
    def silent(kk: tuple) -> bool:
        return _idle_silent(tuple(p5) + kk, idle.clipping)

    _, k, quiet = _ef_pick(a, weight, silent, idle.slack)
    if down is None:
        return k
    ranked = _ef_ranked(a, down if weight is None else weight * down)
    limit = next(power for power, kk in ranked if kk == k)
    for power, kk in ranked:
        if power >= limit:
            break
        if not quiet or silent(kk):
            return kk
    return k


def quantise_biquad(b, a, kind="biquad", weight=None, down=None,
                    idle: IdleCheck = DEFAULT_IDLE_CHECK) -> QStage:
    """One section (a0 = 1) -> Q26 ints; DC gains of numerator and denominator are preserved
    exactly (so low-frequency poles/zeros keep their DC behaviour)."""
    b = np.asarray(b, float)
    a = np.asarray(a, float)
    cb0 = int(round(b[0] * Q26))
    cb2 = int(round(b[2] * Q26))
    cb1 = int(round((b[0] + b[1] + b[2]) * Q26)) - cb0 - cb2
    ca2 = int(round(a[2] * Q26))
    ca1 = int(round((1 + a[1] + a[2]) * Q26)) - Q26 - ca2
    k1, k2 = _ef_choice(a, weight, (cb0, cb1, cb2, ca1, ca2), down, idle)
    return QStage(kind, None, (cb0, cb1, cb2, ca1, ca2, k1, k2))


# --- fast sections (docs/arithmetic.md "fast section"): Q12 coefficients, no error feedback ----
FAST_SECTIONS = True  # let the quantiser choose the 5-multiply path where it is accurate enough
# bound on the ESR the run's fast sections may add (any input spectrum), to first order at the
# run's output; a steep table after the run can make more of it (HM-2 fit: 3e-6 let the fast
# sections add ~4e-6 to its 1.2e-5; docs/arithmetic.md "Fast sections")
FAST_ESR_BUDGET = 2e-6


def _q12_section(b, a) -> tuple:
    """The section's Q26 ints with every coefficient a multiple of 2^14 (Q12), DC sums kept."""
    q = 1 << 12
    cb0 = int(round(b[0] * q))
    cb2 = int(round(b[2] * q))
    cb1 = int(round((b[0] + b[1] + b[2]) * q)) - cb0 - cb2
    ca2 = int(round(a[2] * q))
    ca1 = int(round((1 + a[1] + a[2]) * q)) - q - ca2
    return tuple(v << 14 for v in (cb0, cb1, cb2, ca1, ca2))


FAST_BAND_HZ = (20.0, 12000.0)  # where a fast section's relative error is bounded


def _response_error(b, a, p5: tuple, rate: float) -> np.ndarray | None:
    """The section's relative response error |H_q12 - H| / |H| at each frequency of _EF_W in
    FAST_BAND_HZ (below 0.45 fs) if it is quantised to p5 (None if |H| = 0 there).
    Input-independent: for any input spectrum in that band, the ESR the run's fast sections
    add is at most max over frequency of (the sum of these over the sections)^2."""
    from scipy.signal import freqz

    cq = np.array(p5, float) / Q26
    if pole_radius(cq[3], cq[4]) >= 1.0:
        return None  # rounding moved a pole onto/outside the unit circle (e.g. a dcblock)
    h = freqz(b, a, worN=_EF_W)[1]
    hq = freqz(cq[:3], [1.0, cq[3], cq[4]], worN=_EF_W)[1]
    f = _EF_W * rate / (2 * np.pi)
    band = (f >= FAST_BAND_HZ[0]) & (f <= min(FAST_BAND_HZ[1], 0.45 * rate))
    mag = np.abs(h[band])
    if not np.all(mag > 0):
        return None
    return np.abs(hq[band] - h[band]) / mag


def _fast_feedback(a, weight, p5: tuple, down=None, idle: IdleCheck = DEFAULT_IDLE_CHECK
                   ) -> tuple[int, int] | None:
    """The error feedback for the section with Q12 coefficients p5 (chosen as for any section),
    or None if no candidate lets it idle to exact silence or p5 breaks the firmware's bounds."""
    pf = fw_module("pedalfile")
    if pf.check_stage(2, 0, list(p5) + [0, 0], 0):
        return None
    k = _ef_choice(a, weight, p5, down, idle)
    return k if _idle_silent(tuple(p5) + k, idle.clipping) else None


def _section_ba(st, rate: float):
    if st.kind == "dcblock":
        return dcblock_ba(st.corner_hz, rate)
    b, a = st.ba
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(a))):
        raise FitError("biquad: coefficients are not finite")
    if pole_radius(a[1], a[2]) >= 1.0:
        raise FitError("biquad: unstable section (pole on or outside the unit circle)")
    return b, a


def _l1_norm(bas, n: int = 1 << 16) -> float:
    """Sum of |h| of the cascade's impulse response (the worst-case peak gain in time)."""
    from scipy.signal import sosfilt

    sos = np.array([np.concatenate([b, a]) for b, a in bas])
    imp = np.zeros(n)
    imp[0] = 1.0
    return float(np.sum(np.abs(sosfilt(sos, imp))))


EF_WEIGHTED = True  # weight the EF choice by the later sections (~10 % less noise, cascade10)
HEADROOM_MARGIN = 10 ** (HEADROOM_DB / 20)  # (run_order's estimate keeps it in every trial)
PROBE_CORNER_HZ = 1500.0  # the headroom probe's chirp is full scale up to here


@functools.lru_cache(maxsize=8)
def headroom_probe(rate: int, seconds: float = 1.5, seed: int = 99) -> np.ndarray:
    """Full-scale material for measuring the levels inside biquad runs: plucked-string-like
    notes (harmonic, decaying; open strings and chords) and a log chirp 20 Hz..0.45 fs that
    visits every resonance, at full scale up to 1.5 kHz and -6 dB/octave above (a guitar's
    spectrum). Independent of the evaluation signal."""
    from scipy.signal import chirp

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    notes = np.zeros(n)
    pos = 0
    while pos < n:
        ln = min(int(rng.uniform(0.08, 0.25) * rate), n - pos)
        seg = np.arange(ln) / rate
        for f0 in rng.choice([82.4, 110.0, 146.8, 196.0, 246.9, 329.6], size=rng.integers(1, 4)):
            amp = 1.0 / np.arange(1, 16) ** rng.uniform(0.7, 1.5)
            ph = rng.uniform(0, 2 * np.pi, 15)
            for h in range(15):
                if f0 * (h + 1) < 0.45 * rate:
                    notes[pos:pos + ln] += amp[h] * np.sin(2 * np.pi * f0 * (h + 1) * seg + ph[h]) \
                        * np.exp(-seg * rng.uniform(3, 12))
        pos += ln
    notes /= np.max(np.abs(notes))
    sweep = chirp(t, 20.0, seconds, 0.45 * rate, method="logarithmic")
    # instantaneous frequency of the log chirp; full scale up to PROBE_CORNER_HZ, then falling
    # 6 dB/octave like a guitar's spectrum (a full-scale 15 kHz tone never comes from a pickup)
    f_inst = 20.0 * (0.45 * rate / 20.0) ** (t / seconds)
    sweep *= np.minimum(1.0, PROBE_CORNER_HZ / f_inst)
    probe = np.concatenate([notes, sweep])
    probe.setflags(write=False)  # cached: shared by every call
    return probe


REORDER_RUNS = True  # let the quantiser reorder a run's sections when the model idles loudly
REORDER_BELOW_DBFS = -100.0  # idle floor (dBFS) above which quantise() tries reordered runs
IDLE_LIMIT_DBFS = -90.0  # the contract's idle floor after loud inputs (docs/arithmetic.md)
# the idle checks quantise() retries with, in turn, when the model still idles above
# IDLE_LIMIT_DBFS: a little more rounding noise while playing for silence after it. The
# clipping drives (2026-12-06: an HM-2 fit's input section, silent after milder input, cycled
# by 1 LSB after a clipping one, and its steep tables made that -73 dBFS; docs/arithmetic.md
# "Idle after a clipping input"). The wider slack: a Splawn fit, 2026-12-05, -72 dBFS -> exact
# silence at 4x, device vs float 4.9e-5 -> 5.5e-5. Not 8x: on another Splawn fit that silenced
# a -87 dBFS idle for 14x the noise (5.2e-5 -> 7.4e-4, docs/arithmetic.md "A real case").
# 6 dB of headroom instead of 1.5 (2026-12-07): the example diode clipper's naive model, whose
# converter-fed section cycled by 1 LSB into a table 78 LSB steep at rest, -88.2 -> -101.4
# dBFS, device vs float 2.9e-6 -> 6.4e-6; the HM-2's N = 0 fit -89.4 -> -90.3, 2.5e-5 -> 5.0e-5
# (docs/arithmetic.md "More headroom as the last idle retry")
IDLE_RETRIES = (IdleCheck(clipping=True), IdleCheck(slack=4.0), IdleCheck(4.0, clipping=True),
                IdleCheck(headroom_db=6.0))


NOISY_IDLE_PENALTY = 100.0  # run_order's weight on a section left without a silent feedback
MOVE_ROUNDS = 2  # run_order's rounds of single-section moves after the greedy pass


def run_order(bas: list, hs: list, u: np.ndarray) -> list[int]:
    """The order of a run's sections (indices into bas) with the least estimated rounding
    noise at the run's output, relative to the signal.

    A linear cascade gives the same output in any order, but not the same noise: section k
    rounds at the run's int16 level r_k (set by the headroom probe ``u`` after the sections
    before it) and its noise reaches the output through K/A_k and the sections after it. The
    estimate is sum_k P_k / r_k^2, P_k the weighted power of the error feedback that
    _ef_choice would take there (NOISY_IDLE_PENALTY times more if no candidate near the least
    power idles to silence; without the later runs' weight: _quantise_sections then makes the
    real choice in the order found). Both factors depend only on the *sets* of sections
    before and after k. Search: a greedy pass (fill the first place first), then up to
    MOVE_ROUNDS rounds of single-section moves (every section to every place, the best one
    each round). On 16 orders of each run of a real fit (JCM2000 clean) the estimate ranked
    the measured device-vs-float ESR with a log-correlation of 0.95 (pre-EQ) and 0.97 (post-EQ)."""
    from scipy.signal import lfilter

    n = len(bas)
    upeak = float(np.max(np.abs(u)))
    imp0 = np.zeros(1 << 14, np.float32)  # float32 and a shorter L1 sum: an estimate, 2-3x faster
    imp0[0] = 1.0
    signals = {frozenset(): (u.astype(np.float32), imp0)}  # set -> (probe, impulse) after it
    level: dict = {}  # set of sections -> r (int16 level / float level) after them
    terms: dict = {}  # (section, set before it) -> its noise estimate
    # each section's (unscaled b, a) in Q26, for _idle_silent: its poles decide the idle
    p5s = [tuple(int(round(v * Q26)) for v in (b[0], b[1], b[2], a[1], a[2])) for b, a in bas]
    ones = np.ones(len(_EF_W))

    def level_of(sset: frozenset) -> float:
        if sset not in level:
            base = max((t for t in signals if t <= sset), key=len)
            v, imp = signals[base]
            for k in sorted(sset - base):
                v, imp = lfilter(*bas[k], v), lfilter(*bas[k], imp)
            if len(signals) < 64:  # ~0.6 MB each
                signals[sset] = (v, imp)
            peak = HEADROOM_MARGIN * float(np.max(np.abs(v))) / upeak
            level[sset] = 1.0 / max(min(float(np.sum(np.abs(imp))), peak), 1e-9)
        return level[sset]

    def ef_power(k: int, weight: np.ndarray) -> float:
        power, _, quiet = _ef_pick(bas[k][1], weight, lambda kk: _idle_silent(p5s[k] + kk))
        return power if quiet else power * NOISY_IDLE_PENALTY

    def term(k: int, before: frozenset) -> float:
        if (k, before) not in terms:
            rest = [hs[j] for j in range(n) if j != k and j not in before]
            weight = np.prod(rest, axis=0) if rest else ones
            terms[k, before] = ef_power(k, weight) / level_of(before | {k}) ** 2
        return terms[k, before]

    def total(order: list) -> float:
        return sum(term(k, frozenset(order[:i])) for i, k in enumerate(order))

    order: list[int] = []
    while len(order) < n:
        before = frozenset(order)
        order.append(min((j for j in range(n) if j not in before),
                         key=lambda j: (term(j, before), j)))
    best = total(order)
    for _ in range(MOVE_ROUNDS):  # single-section moves, the best one each round
        moves = []
        for i in range(n):
            rest = order[:i] + order[i + 1:]
            moves += [rest[:j] + [order[i]] + rest[j:] for j in range(n) if j != i]
        cand = min(moves, key=total)
        if total(cand) >= best * (1 - 1e-9):
            break
        order, best = cand, total(cand)
    return order


def _downstream_power(stages: list, j: int, rate: float) -> np.ndarray | None:
    """|H|^2 on _EF_W of the biquad/dcblock stages from stage j on (the later runs: what a
    run's rounding noise goes through after the tables, taken here as plain gains); None if
    there are none."""
    out = None
    for st in stages[j:]:
        if st.kind in ("biquad", "dcblock"):
            h = _section_power(*_section_ba(st, rate))
            out = h if out is None else out * h
    return out


def _section_power(b, a) -> np.ndarray:
    """|H|^2 of a section on the error-feedback grid _EF_W."""
    from scipy.signal import freqz

    return np.abs(freqz(b, a, worN=_EF_W)[1]) ** 2


def _quantise_run(run, rate: float, u: np.ndarray | None, reorder: dict | None = None,
                  down: np.ndarray | None = None, done: dict | None = None, key=None,
                  idle: IdleCheck = DEFAULT_IDLE_CHECK):
    """A run of biquad/dcblock stages -> (QStages, level factor r of the run's output).

    ``u``: the float model's signal entering the run on the headroom probe. Every prefix k of
    the run is scaled so that the int16 signal after it peaks ``idle.headroom_db`` below full
    scale when the run's input peaks at full scale on the probe (never above the L1 norm, the
    worst case for any input). Without u, the L1 norm is used. ``reorder`` (a dict, None for
    the fitted order): the sections in the order of least rounding noise (run_order, kept in
    the dict under "order" for the next call). ``down``: see _ef_choice. ``done``: results
    by (``key``, order), for calls whose other arguments ``key`` determines (quantise()'s
    trials redo only the run they reorder; an order that is the fitted one is the fitted
    order's result). ``idle``: see IdleCheck."""
    bas = [_section_ba(st, rate) for st in run]
    hs = [_section_power(b, a) for b, a in bas]
    upeak = float(np.max(np.abs(u))) if u is not None else 0.0
    order = None
    if reorder is not None and upeak > 0 and len(run) > 1:
        if "order" not in reorder:
            reorder["order"] = run_order(bas, hs, u)
        if reorder["order"] != list(range(len(run))):
            order = tuple(reorder["order"])
    if done is not None and (key, order) in done:
        return done[key, order]
    if order is not None:
        run, bas, hs = ([seq[k] for k in order] for seq in (run, bas, hs))
    result = _quantise_sections(run, bas, hs, rate, u, upeak, down, idle)
    if done is not None:
        done[key, order] = result
    return result


def _quantise_sections(run, bas, hs, rate: float, u: np.ndarray | None, upeak: float,
                       down: np.ndarray | None = None,
                       idle: IdleCheck = DEFAULT_IDLE_CHECK):
    """_quantise_run for the sections in the given order."""
    from scipy.signal import lfilter

    v = u
    r_prev = 1.0
    out = []
    fast_err = 0.0  # per frequency: the sum of the fast sections' relative errors so far
    margin = 10 ** (idle.headroom_db / 20)
    for k, (st, (b, a)) in enumerate(zip(run, bas, strict=True)):
        l1 = _l1_norm(bas[: k + 1])
        if upeak > 0:
            v = lfilter(b, a, v)
            norm = min(l1, margin * float(np.max(np.abs(v))) / upeak)
        else:
            norm = l1
        r = 1.0 / max(norm, 1e-9)
        scale = r / r_prev
        lim = BQ_SUM_LIMIT - abs(a[1]) - abs(a[2])
        sb = float(np.sum(np.abs(b)))
        if sb * scale > lim:
            scale = lim / sb
            r = r_prev * scale
        after = np.prod(hs[k + 1:], axis=0) if k + 1 < len(hs) else None
        weight = after if EF_WEIGHTED else None
        if FAST_SECTIONS:
            p5 = _q12_section(b * scale, a)
            err = _response_error(b * scale, a, p5, rate)
            ok = err is not None and float(np.max(fast_err + err)) ** 2 <= FAST_ESR_BUDGET
            kf = _fast_feedback(a, weight, p5, down, idle) if ok else None
            if kf is not None:
                fast_err += err
                out.append(QStage(st.kind, None, p5 + kf))
                r_prev = r
                continue
        out.append(quantise_biquad(b * scale, a, st.kind, weight, down, idle))
        r_prev = r
    return out, r_prev


TABLE_PEAK = 0.999  # table outputs beyond this are scaled down; the level factor carries it
TABLE_UNIT_STEP_LSB = 1.0  # target output step (LSB) per table position unit; see _table_grid
TABLE_SEGMENTS_TOTAL = 1024  # refined tables share this many segments (2 KB; a file <= ~3 KB)


def table_max_log2n(n_tables: int) -> int:
    """The finest grid (log2 segments) each of a model's n_tables tables may be refined to."""
    return int(math.log2(TABLE_SEGMENTS_TOTAL)) - max(0, math.ceil(math.log2(max(n_tables, 1))))


def _table_grid(vals: np.ndarray, log2n: int, max_log2n: int, scale: float) -> int:
    """The number of segments (log2) the device table gets: the fitted one, refined (up to
    max_log2n) until one position unit (1/256 of a segment) moves the int16 output by at
    most TABLE_UNIT_STEP_LSB. A steep table on a coarse grid turns the position's own rounding
    (the floor in ``(x * gm) >> gs``, an env bias stepping by one unit) into output steps of
    many LSB; the refined grid holds the same piecewise-linear curve (its breakpoints include
    the fitted ones), so only that rounding shrinks. ``scale``: table_out_scale's factor."""
    step = float(np.max(np.abs(np.diff(vals)))) * scale * 32768 / 256  # LSB per unit
    while log2n < max_log2n and step > TABLE_UNIT_STEP_LSB:
        log2n += 1
        step /= 2
    return log2n


TABLE_GAIN_LIMIT = 65000  # |gm| of a table's input gain ...
TABLE_GAIN_MIN_SHIFT = 2  # ... at gs >= this (arith.table_block: docs/arithmetic.md)


def _knob_head(lo: int, hi: int) -> float:
    """The factor a knob's range (``_knob_q``) may raise its stage's gain by at its top, with
    a little margin."""
    return 2.0 ** (max(lo, hi, 0) / 1024) * 1.002


def table_grid_limit(st, g_eff: float, max_log2n: int) -> int:
    """``max_log2n``, or less where a finer grid would make the table's input gain too large
    for the contract: the gain grows with the segments (``unit``), and refining a table only
    serves its position's rounding (``_table_grid``), so it stops there instead of failing (a
    review: in_gain 1200 with a +12 dB drive range failed at 1024 segments and quantised at
    its fitted 64). ``g_eff``: the table's input gain on the int16 signal."""
    span = float(st.x_max - st.x_min)
    if not (span > 0 and math.isfinite(span) and math.isfinite(g_eff) and g_eff):
        return max_log2n  # (_table_mapping and _mant_shift say what is wrong)
    per_segment = abs(g_eff) * 256 / span / 32768 * _knob_head(
        *_knob_q(st.knob, st.knob_min_db, st.knob_max_db))
    room = TABLE_GAIN_LIMIT / 2.0 ** TABLE_GAIN_MIN_SHIFT / per_segment
    return min(max_log2n, math.floor(math.log2(room))) if room >= 1 else max_log2n


def _table_mapping(st, max_log2n: int):
    """The device table of a TableStage: (values on the device grid, nseg, log2n, span, unit)
    with unit = table positions per unit of table input."""
    vals = np.asarray(st.values, float)
    nseg = len(vals) - 1
    log2n = int(round(math.log2(max(nseg, 1))))
    if nseg < 16 or (1 << log2n) != nseg or log2n > 10:
        raise FitError(f"table: {len(vals)} values; need 2^k + 1 with k in 4..10")
    if not np.all(np.isfinite(vals)):
        raise FitError("table: values are not finite")
    span = float(st.x_max - st.x_min)
    if not (span > 0 and math.isfinite(span)):
        raise FitError("table: empty or invalid input range")
    fine = _table_grid(vals, log2n, max_log2n, table_out_scale(st))
    if fine != log2n:
        vals = np.interp(np.arange((1 << fine) + 1) / (1 << (fine - log2n)),
                         np.arange(nseg + 1), vals)
        nseg, log2n = 1 << fine, fine
    unit = nseg * 256 / span  # table positions per unit of table input
    return vals, nseg, log2n, span, unit


def table_out_scale(st) -> float:
    """Factor applied to a table's values so that they fit int16 (1.0 if they already do)."""
    peak = float(np.max(np.abs(np.asarray(st.values, float))))
    return 1.0 if peak <= TABLE_PEAK else TABLE_PEAK / peak


def _q_table(st, g_eff: float, max_log2n: int) -> QStage:
    vals, nseg, log2n, span, unit = _table_mapping(st, max_log2n)
    vals = vals * table_out_scale(st)
    scale = g_eff * unit / 32768
    lo, hi = _knob_q(st.knob, st.knob_min_db, st.knob_max_db)
    gm, gs = _mant_shift(scale * _knob_head(lo, hi), TABLE_GAIN_LIMIT, TABLE_GAIN_MIN_SHIFT,
                         30, "table input gain")
    gm = int(round(scale * 2.0**gs))
    off = int(round(-st.x_min * unit))
    if abs(off) > (1 << 29):
        raise FitError("table: input range offset too large")
    tv = np.clip(np.round(vals * 32768), -32768, 32767).astype(np.int16)
    return QStage("table", st.knob, (log2n, gm, gs, off, lo, hi), tv)


def _q_env(st, table, level: float, rate: float, max_log2n: int) -> QStage:
    _, _, _, _, unit = _table_mapping(table, max_log2n)
    f = st.depth * unit / (32768 * level)
    if f == 0:
        dm, ds = 0, 1
    else:
        dm, ds = _mant_shift(f, 32700, 1, 30, "env_bias depth")
    ca = int(np.clip(round(env_coef(st.attack_ms, rate) * 32768), 1, 32767))
    cr = int(np.clip(round(env_coef(st.release_ms, rate) * 32768), 1, 32767))
    return QStage("env_bias", None, (ca, cr, dm, ds))


def quantise(model: PedalModel, downstream: bool = True) -> QuantisedPedal:
    """Quantise a float model to the integer contract (see module docstring for headroom).

    ``downstream``: choose each section's error feedback by the noise that reaches the output
    through the later runs too (``_ef_choice``). It never leaves a section cycling in silence
    where the plain choice would not, but it chooses at the fitted knobs: at the knobs'
    extremes (where the sanity check listens) a model can then idle louder, so the fitter
    tries ``downstream=False`` before it narrows the knob ranges (``fit.api._quantised``).

    With REORDER_RUNS, a model that idles louder than REORDER_BELOW_DBFS after a loud input
    (the contract's idle measure) gets its biquad runs' sections put in their order of least
    rounding noise (run_order, which avoids places where a section has no silent error
    feedback): run by run, a reordered run is kept only if the model then idles no louder
    after the worst of the contract's loud inputs (``accuracy.idle_passages``; on a tie, after
    the next worst).
    The per-section idle check cannot see how a later section amplifies an earlier one's
    residue; the order can. Idle is never traded for noise, and a quiet model (most) costs
    one idle simulation more.

    A model that still idles above the contract's floor (IDLE_LIMIT_DBFS) is quantised again,
    reordering included, with each of IDLE_RETRIES in turn as the idle check (IdleCheck: the
    clipping drives, a wider slack) and the first that idles within the floor is taken (else
    ``quieter_trial``'s choice): noise is traded for idle only where the contract's idle is
    not met."""
    n_runs = len(_biquad_runs(model.stages))
    if not n_runs:
        return _quantise(model, {}, downstream)  # no section: no order or feedback to choose
    trials: list = []
    done: dict = {}  # _quantise_run's results, shared by every trial below
    orders: dict = {run: {} for run in range(n_runs)}  # each run's run_order, once computed
    for idle in (DEFAULT_IDLE_CHECK, *IDLE_RETRIES):
        qp, level = _quantise_reordered(model, downstream, idle, done, orders)
        if level <= IDLE_LIMIT_DBFS:
            return qp
        trials.append((qp, level))
    return quieter_trial(trials)


# a retry that misses the contract's idle floor too is still taken when it idles this much
# more quietly than the first quantisation (dB): a Splawn fit (2026-12-06, a draw of
# docs/fitting-log.md) idled at -68.7 dBFS, its retry with the clipping drives at -87.4 for
# 1.4 % more device-vs-float error; smaller steps are not worth the retries' extra noise
QUIETER_STEP_DB = 3.0


def quieter_trial(trials: list[tuple[QuantisedPedal, float]]) -> QuantisedPedal:
    """Of quantise()'s trials [(model, contract idle in dBFS)], none within the floor, in the
    order tried (each retry trades more rounding noise while playing): the first retry that
    idles QUIETER_STEP_DB or more below the first trial, else the first trial."""
    first, level = trials[0]
    return next((qp for qp, lv in trials[1:] if lv <= level - QUIETER_STEP_DB), first)


def _quantise_reordered(model: PedalModel, downstream: bool, idle: IdleCheck, done: dict,
                        orders: dict) -> tuple[QuantisedPedal, float]:
    """(model, its contract idle in dBFS) quantised with the ``idle`` check, each run
    reordered where that makes the model idle no louder (quantise()). ``done``: see
    _quantise; ``orders``: run number -> the dict that keeps its run_order (which does not
    depend on the idle check)."""
    from pedaltool.pedal.accuracy import idle_levels_dbfs

    best = _quantise(model, {}, downstream, done, idle)
    idles = sorted(idle_levels_dbfs(best), reverse=True)
    if idles[0] <= REORDER_BELOW_DBFS or not REORDER_RUNS:
        return best, idles[0]
    chosen: dict = {}
    for run in orders:
        trial = _quantise(model, chosen | {run: orders[run]}, downstream, done, idle)
        if [s.p for s in trial.stages] == [s.p for s in best.stages]:
            continue
        trial_idles = sorted(idle_levels_dbfs(trial), reverse=True)
        if trial_idles <= idles:  # no louder after the worst loud input (a tie: the next)
            best, chosen, idles = trial, chosen | {run: orders[run]}, trial_idles
    return best, idles[0]


def _rests_at_zero(stages: list, rate: int, ranges: dict) -> bool:
    """Do the quantised stages so far give exact 0 in silence (the last 0.25 s of 1 s of zeros),
    i.e. is the idle input of the biquad run that follows them 0? At the fitted knobs (the
    drive knob scales a table's input, not its rest value; tone and level come after the runs
    in every structure)."""
    from pedaltool.pedal.simulate import simulate

    qp = QuantisedPedal(list(stages), rate, knob_ranges=dict(ranges))
    return not np.any(simulate(qp, np.zeros(rate, np.int16))[-rate // 4:])


def _biquad_runs(stages: list) -> list[tuple[int, int]]:
    """(start, end) of each run of consecutive biquad/dcblock stages, in chain order."""
    runs: list[tuple[int, int]] = []
    for i, st in enumerate(stages):
        if st.kind in ("biquad", "dcblock"):
            if runs and runs[-1][1] == i:
                runs[-1] = (runs[-1][0], i + 1)
            else:
                runs.append((i, i + 1))
    return runs


def _quantise(model: PedalModel, reorder: dict, downstream: bool = True,
              done: dict | None = None, idle: IdleCheck = DEFAULT_IDLE_CHECK
              ) -> QuantisedPedal:
    """quantise() with the biquad runs numbered in ``reorder`` (0 = the first run) in the
    order of run_order (each run's dict caches it). ``done``: the runs quantised by earlier
    calls on the same model (_quantise_run; keyed by the run, its weight and its idle
    check)."""
    rate = int(model.sample_rate)
    if not 8000 <= rate <= 192000:
        raise FitError(f"unsupported sample rate {rate} Hz")
    why = check_model(model)
    if why:
        raise FitError(why)
    stages = list(model.stages)
    probe = headroom_probe(rate)
    inner = [probe] + list(iter_stage_outputs(model, probe))  # inner[i] = input of stage i
    tmax = table_max_log2n(sum(st.kind == "table" for st in stages))
    out: list[QStage] = []
    level = 1.0  # int16 signal / float-model signal at this point of the chain
    tap_level: dict[int, float] = {}
    ranges: dict = {}
    runs = {i: (n, j) for n, (i, j) in enumerate(_biquad_runs(stages))}  # start -> (no, end)
    i = 0
    while i < len(stages):
        st = stages[i]
        k = st.kind
        if getattr(st, "knob", None):
            ranges[st.knob] = (st.knob_min_db, st.knob_max_db)
        if i in runs:
            run_no, j = runs[i]
            # the later runs' weight only where the run's input is 0 in silence (_ef_choice)
            weigh = downstream and (not out or _rests_at_zero(out, rate, ranges))
            # a run fed by the converter gets its clipping: its idle check drives it so too
            fed = all(s.kind in CONVERTER_FED_AFTER for s in stages[:i])
            run_idle = replace(idle, clipping=True) if fed else idle
            qs, r = _quantise_run(stages[i:j], rate, inner[i], reorder.get(run_no),
                                  _downstream_power(stages, j, rate) if weigh else None,
                                  done, (run_no, weigh, run_idle), run_idle)
            out += qs
            level *= r
            i = j
            continue
        if k == "gain":
            g = 10 ** (st.gain_db / 20) / level
            out.append(_q_gain(g, st.knob, st.knob_min_db, st.knob_max_db))
            level = 1.0
        elif k == "table":
            g_eff = st.in_gain / level
            out.append(_q_table(st, g_eff, table_grid_limit(st, g_eff, tmax)))
            level = table_out_scale(st)
        elif k == "env_bias":
            if i + 1 >= len(stages) or stages[i + 1].kind != "table":
                raise FitError("env_bias must be followed by a table stage")
            table = stages[i + 1]  # (its grid, as _q_table will make it)
            out.append(_q_env(st, table, level, rate,
                              table_grid_limit(table, table.in_gain / level, tmax)))
        elif k == "tap":
            if not 0 <= st.slot <= 3:
                raise FitError("tap: slot must be 0..3")
            tap_level[st.slot] = level
            out.append(QStage("tap", None, (int(st.slot),)))
        elif k == "mix":
            if st.slot not in tap_level:
                raise FitError(f"mix: slot {st.slot} is never tapped")
            g = st.gain * level / tap_level[st.slot]
            m, s = _mant_shift(g, 32700, 0, 30, "mix gain")
            out.append(QStage("mix", None, (int(st.slot), m, s)))
        elif k == "tone":
            c = int(np.clip(round(one_pole_coef(st.crossover_hz, rate) * 32768), 1, 32767))
            half = st.range_db / 2  # (0..TONE_MAX_RANGE_DB: check_model)
            hq = min(_log2q(half), 1020)
            out.append(QStage("tone", "tone", (c, -hq, hq)))
            ranges["tone"] = (-half, half)
        elif k == "delay":  # (whole, 0..MAX_DELAY: check_model)
            out.append(QStage("delay", None, (int(st.samples),)))
        else:
            raise FitError(f"unknown stage kind {k!r}")
        i += 1
    if abs(level - 1.0) > 1e-12:
        out.append(_q_gain(1.0 / level, None, 0.0, 0.0, "output makeup gain"))
    qp = QuantisedPedal(out, rate, model.name, model.source, model.accuracy, ranges)
    why = check_quantised(qp)
    if why:
        raise FitError(f"quantised model out of contract: {why}")
    return qp


# the stage kinds' and knobs' codes in a .pedal, by name: the firmware reader's (one place)
_KIND_CODES = {name: code for code, name in fw_module("pedalfile").KIND_NAMES.items()}
_KNOB_CODES = {name: code for code, name in fw_module("pedalfile").KNOB_NAMES.items()}


def check_quantised(qp: QuantisedPedal) -> str | None:
    """The firmware's own parameter/structure bounds (pedalcore.pedalfile) on a QuantisedPedal."""
    pf = fw_module("pedalfile")
    if len(qp.stages) > pf.MAX_STAGES:  # (the reader's limit: it raised from simulate)
        return f"{len(qp.stages)} stages; the firmware reads at most {pf.MAX_STAGES}"
    fstages = []
    for i, st in enumerate(qp.stages):
        if st.kind not in _KIND_CODES:
            return f"stage {i}: unknown kind {st.kind}"
        if st.knob not in _KNOB_CODES:
            return f"stage {i}: unknown knob {st.knob}"
        ntab = 0 if st.table is None else len(st.table)
        why = pf.check_stage(_KIND_CODES[st.kind], _KNOB_CODES[st.knob], list(st.p), ntab)
        if why:
            return f"stage {i}: {why}"
        fstages.append(pf.Stage(_KIND_CODES[st.kind], _KNOB_CODES[st.knob], list(st.p)))
    return pf.check_structure(fstages)
