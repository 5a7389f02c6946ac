"""The float pedal model: an ordered list of stages (see docs/architecture.md) + source info.

Signals are float64 in full-scale units (1.0 = 0 dBFS = int16 32768). ``simulate_float`` is the
ideal (unquantised) behaviour that the integer engine approximates; the fitter optimises these
parameters and ``pedaltool.pedal.quantise`` turns them into the integer contract.

Knobs: a dict with any of ``drive``, ``tone``, ``level`` in 0..1. ``None`` (or a missing key)
means the fitted point: every knob offset is exactly 0 dB. A knob value v moves the bound stage's
gain by ``min_db + (max_db - min_db) * v`` dB (so the fitted point sits at
``v0 = -min_db / (max_db - min_db)``, see :func:`fitted_knob`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

KNOB_NAMES = ("drive", "tone", "level")
MAX_DELAY = 4095  # samples a delay stage holds (pedalcore.pedalfile.MAX_DELAY, tested equal)


@dataclass
class GainStage:
    """y = 10^(gain_db/20) * x; optional knob ('drive' or 'level') offset in dB."""

    gain_db: float
    knob: str | None = None
    knob_min_db: float = 0.0
    knob_max_db: float = 0.0
    kind: str = field(default="gain", init=False)


@dataclass
class BiquadStage:
    """H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)."""

    b0: float
    b1: float
    b2: float
    a1: float
    a2: float
    kind: str = field(default="biquad", init=False)

    @property
    def ba(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([self.b0, self.b1, self.b2]), np.array([1.0, self.a1, self.a2])


@dataclass
class TableStage:
    """Waveshaper: u = in_gain * x (+ env bias); y = interp(values over [x_min, x_max] at u).

    ``values``: N+1 outputs (full-scale units; values beyond +-1 are allowed, the quantiser scales
    the table into int16 and carries the factor to the next gain-like stage) at
    u = x_min + i*(x_max-x_min)/N, N a power of two (16..1024). Outside [x_min, x_max] the
    output clamps to the end values. Optional knob ('drive') scales in_gain by its dB offset.
    """

    in_gain: float
    x_min: float
    x_max: float
    values: np.ndarray
    knob: str | None = None
    knob_min_db: float = 0.0
    knob_max_db: float = 0.0
    kind: str = field(default="table", init=False)


@dataclass
class EnvBiasStage:
    """Envelope follower of |x| (one pole, attack/release time constants in ms).

    Must be immediately followed by a TableStage: u += depth * env (table input units).
    """

    attack_ms: float
    release_ms: float
    depth: float
    kind: str = field(default="env_bias", init=False)


@dataclass
class TapStage:
    """Save a copy of the signal in slot 0..3 (for a later MixStage)."""

    slot: int = 0
    kind: str = field(default="tap", init=False)


@dataclass
class MixStage:
    """y = x + gain * (the signal saved by TapStage(slot))."""

    slot: int = 0
    gain: float = 1.0
    kind: str = field(default="mix", init=False)


@dataclass
class ToneStage:
    """Tilt EQ around crossover_hz: y = g_lo*lp + g_hi*(x - lp), lp a one-pole low-pass.

    Tone knob t in 0..1: g_hi = +(t - 0.5)*range_db dB, g_lo = -(t - 0.5)*range_db dB; the fitted
    point is t = 0.5 (flat, y = x). range_db <= 12.
    """

    crossover_hz: float
    range_db: float = 12.0
    kind: str = field(default="tone", init=False)


@dataclass
class DelayStage:
    """Integer delay (latency alignment) in samples (0..4095)."""

    samples: int
    kind: str = field(default="delay", init=False)


@dataclass
class DcBlockStage:
    """First-order DC blocker: g (1 - z^-1) / (1 - R z^-1), R = exp(-2 pi fc/fs), g=(1+R)/2."""

    corner_hz: float = 5.0
    kind: str = field(default="dcblock", init=False)


Stage = (GainStage | BiquadStage | TableStage | EnvBiasStage | TapStage | MixStage | ToneStage
         | DelayStage | DcBlockStage)


RECORDED_GEAR = "recording"  # SourceInfo.gear_type of a model fitted from a recorded pair


SHA_PREFIX = 16  # hex characters of the capture's sha256 a .pedal keeps


@dataclass
class SourceInfo:
    """Where the model came from: the capture's file name, sha256 (hex), gear and tone type
    (RECORDED_GEAR for a model fitted from a recorded pair)."""

    file_name: str = ""
    sha256: str = ""
    gear_type: str = ""
    tone_type: str = ""

    def as_dict(self) -> dict:
        """The JSON reports' ``source``: the sha256 cut to what a .pedal keeps (SHA_PREFIX),
        so a fit's report and `info` of its file agree."""
        return {"file": self.file_name, "sha256_prefix": self.sha256[:SHA_PREFIX],
                "gear_type": self.gear_type, "tone_type": self.tone_type}


@dataclass
class Accuracy:
    """Fitted accuracy vs the capture: ESR, pre-emphasised ESR, cost (cycles per sample), and
    the fitter's effort ('quick', 'normal', 'thorough'; '' if unknown), which `compare` fits its
    naive baseline at."""

    esr: float = float("nan")
    esr_pre: float = float("nan")
    cycles: float = float("nan")
    effort: str = ""


@dataclass
class PedalModel:
    stages: list
    sample_rate: int = 48000
    name: str = ""
    source: SourceInfo = field(default_factory=SourceInfo)
    accuracy: Accuracy = field(default_factory=Accuracy)


def fitted_knob(min_db: float, max_db: float) -> float:
    """The 0..1 knob position at the fitted point (offset 0 dB): the centre whenever the range
    contains it (the knob map has two segments that meet there, as in firmware arith.knob_log2)."""
    if max_db == min_db or min_db <= 0.0 <= max_db:
        return 0.5
    return 0.0 if min_db > 0.0 else 1.0


def knob_offset_db(stage, knobs: dict | None) -> float:
    """The dB offset a knob applies to a gain/table stage (0 at the fitted point)."""
    name = getattr(stage, "knob", None)
    if name is None or not knobs or knobs.get(name) is None:
        return 0.0
    v = float(np.clip(knobs[name], 0.0, 1.0))
    lo, hi = stage.knob_min_db, stage.knob_max_db
    if lo > 0.0 or hi < 0.0:
        return lo + (hi - lo) * v
    return hi * (2 * v - 1) if v >= 0.5 else lo * (1 - 2 * v)


def pole_radius(a1: float, a2: float) -> float:
    """The larger pole radius of the biquad denominator 1 + a1 z^-1 + a2 z^-2 (1 or more:
    unstable)."""
    return float(np.max(np.abs(np.roots([1.0, a1, a2]))))


def dcblock_ba(corner_hz: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
    r = float(np.exp(-2 * np.pi * corner_hz / rate))
    g = (1 + r) / 2
    return np.array([g, -g, 0.0]), np.array([1.0, -r, 0.0])


def one_pole_coef(hz: float, rate: float) -> float:
    """c of lp += c (x - lp) for a corner at hz."""
    return float(1 - np.exp(-2 * np.pi * hz / rate))


def env_coef(ms: float, rate: float) -> float:
    """c of env += c (|x| - env) for a time constant of ms milliseconds."""
    return float(1 - np.exp(-1000.0 / (max(ms, 1e-3) * rate)))


def _env_follow_py(x: np.ndarray, ca: float, cr: float) -> np.ndarray:
    out = np.empty_like(x)
    e = 0.0
    ax = np.abs(x)
    for i in range(len(x)):
        a = ax[i]
        e += (ca if a > e else cr) * (a - e)
        out[i] = e
    return out


try:  # the follower is a per-sample recursion: compile it when numba is there
    from numba import njit

    _env_follow = njit(cache=True)(_env_follow_py)
except ImportError:  # pragma: no cover - numba is a dependency; keep working without it
    _env_follow = _env_follow_py


TONE_MAX_RANGE_DB = 12.0  # the tone knob's widest range (dB, knob 0 to 1023)
STAGE_KINDS = ("gain", "biquad", "table", "env_bias", "tap", "mix", "tone", "delay", "dcblock")


def _bad_number(s) -> str | None:
    """The first numeric field of stage ``s`` that is not a finite number (NaN, infinite),
    by name: the quantiser met them as "cannot convert float NaN to integer" (a review)."""
    for f in fields(s):
        v = getattr(s, f.name)
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) \
                and not np.isfinite(v):
            return f.name
    return None


def _stage_range_problem(s, rate: float) -> str | None:
    """A parameter of stage ``s`` outside what it means (None if none)."""
    k = s.kind
    if k in ("tone", "dcblock"):
        hz = s.crossover_hz if k == "tone" else s.corner_hz
        if not 0.0 < hz < rate / 2:
            return f"{k}: {hz:g} Hz is outside 0..{rate / 2:g} Hz (half the sample rate)"
    if k == "env_bias" and not (s.attack_ms > 0 and s.release_ms > 0):
        return "env_bias: the attack and release times must be above 0 ms"
    if k == "delay" and not (float(s.samples) == int(s.samples) and 0 <= s.samples <= MAX_DELAY):
        return (f"delay: {s.samples:g} samples; the firmware delays by whole samples, 0.."
                f"{MAX_DELAY}")
    if getattr(s, "knob", None) and not s.knob_min_db <= s.knob_max_db:
        return f"{k}: its {s.knob} knob's range runs backwards ({s.knob_min_db:g} to " \
               f"{s.knob_max_db:g} dB)"
    return None


def check_model(model: PedalModel) -> str | None:
    """Problems of a model that make it unplayable (None if it can run): unknown kinds,
    parameters that are not finite numbers or outside what they mean (a crossover beyond
    half the rate, a fractional delay, a reversed knob range), env_bias not followed by a
    table, a mix reading a slot never tapped, a bad tap slot, a tone range the firmware's tone
    stage cannot play."""
    tapped = set()
    st = model.stages
    for i, s in enumerate(st):
        k = getattr(s, "kind", None)
        if k not in STAGE_KINDS:
            return f"stage {i}: unknown stage kind {k!r}"
        bad = _bad_number(s)
        if bad:
            return f"stage {i}: {k}: {bad} is not a finite number"
        why = _stage_range_problem(s, float(model.sample_rate))
        if why:
            return f"stage {i}: {why}"
        if k == "env_bias" and (i + 1 >= len(st) or st[i + 1].kind != "table"):
            return f"stage {i}: env_bias must be followed by a table stage"
        if k == "tap":
            if not 0 <= s.slot <= 3:
                return f"stage {i}: tap slot must be 0..3"
            tapped.add(s.slot)
        if k == "mix" and s.slot not in tapped:
            return f"stage {i}: mix slot {s.slot} is never tapped"
        if k == "tone" and not 0.0 <= s.range_db <= TONE_MAX_RANGE_DB:
            # (the quantiser took its size and capped it: the device then cut where the float
            # model boosted, a review)
            return f"stage {i}: tone range {s.range_db:g} dB is outside 0..{TONE_MAX_RANGE_DB:g}"
    return None


def iter_stage_outputs(model: PedalModel, x, knobs: dict | None = None):
    """Yield the float64 signal after each stage of the model, in order."""
    why = check_model(model)
    if why:
        raise ValueError(why)
    from scipy.signal import lfilter

    y = np.asarray(x, dtype=np.float64).copy()
    rate = float(model.sample_rate)
    slots: dict[int, np.ndarray] = {}
    bias = None
    for st in model.stages:
        k = st.kind
        if k == "gain":
            y = y * 10 ** ((st.gain_db + knob_offset_db(st, knobs)) / 20)
        elif k == "biquad":
            b, a = st.ba
            y = lfilter(b, a, y)
        elif k == "dcblock":
            b, a = dcblock_ba(st.corner_hz, rate)
            y = lfilter(b, a, y)
        elif k == "env_bias":
            ca, cr = env_coef(st.attack_ms, rate), env_coef(st.release_ms, rate)
            bias = st.depth * _env_follow(y, ca, cr)
        elif k == "table":
            g = st.in_gain * 10 ** (knob_offset_db(st, knobs) / 20)
            u = g * y + (bias if bias is not None else 0.0)
            bias = None
            vals = np.asarray(st.values, dtype=np.float64)
            grid = np.linspace(st.x_min, st.x_max, len(vals))
            y = np.interp(u, grid, vals)
        elif k == "tap":
            slots[st.slot] = y.copy()
        elif k == "mix":
            y = y + st.gain * slots[st.slot]
        elif k == "tone":
            c = one_pole_coef(st.crossover_hz, rate)
            lp = lfilter([c], [1.0, -(1 - c)], y)
            t = 0.5 if not knobs or knobs.get("tone") is None else float(knobs["tone"])
            db = (t - 0.5) * st.range_db
            y = 10 ** (-db / 20) * lp + 10 ** (db / 20) * (y - lp)
        elif k == "delay":
            d = int(st.samples)
            # (a delay longer than the signal leaves it silent: y[:-d] took from its end)
            y = np.concatenate([np.zeros(min(d, len(y))), y[: max(len(y) - d, 0)]]) if d else y
        else:
            raise ValueError(f"unknown stage kind {k!r}")
        yield y


def simulate_float(model: PedalModel, x, knobs: dict | None = None) -> np.ndarray:
    """Run the model in float64 over a whole signal (full-scale units); returns float64."""
    y = np.asarray(x, dtype=np.float64).copy()
    for out in iter_stage_outputs(model, x, knobs):
        y = out
    return y
