"""Quantisation accuracy of the integer contract vs the float model (docs/arithmetic.md).

``esr_vs_float`` scores device-exact output against ``simulate_float`` (ESR = sum(e^2)/sum(y^2));
``idle_floor_dbfs`` measures what the device outputs in silence after a loud passage (limit
cycles, DC drift), ``contract_idle_dbfs`` the loudest of that after the contract's own loud
passages (``idle_passages``);
``eq_test_models`` are the low-frequency EQ cases we hold the contract to.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from pedaltool.pedal.model import BiquadStage, PedalModel, simulate_float
from pedaltool.pedal.quantise import quantise
from pedaltool.pedal.sanity import full_scale_input
from pedaltool.pedal.simulate import float_to_int16, idle_tail_dbfs, simulate


def rbj(kind: str, f0: float, rate: float, q: float = 0.7071, gain_db: float = 0.0):
    """RBJ audio-EQ-cookbook biquad (b, a) normalised to a0 = 1."""
    a_lin = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / rate
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    if kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * a_lin, -2 * cw, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cw, 1 - alpha / a_lin]
    elif kind in ("lowshelf", "highshelf"):
        sa = 2 * np.sqrt(a_lin) * alpha
        s = 1 if kind == "lowshelf" else -1
        b = [a_lin * ((a_lin + 1) - s * (a_lin - 1) * cw + sa),
             s * 2 * a_lin * ((a_lin - 1) - s * (a_lin + 1) * cw),
             a_lin * ((a_lin + 1) - s * (a_lin - 1) * cw - sa)]
        a = [(a_lin + 1) + s * (a_lin - 1) * cw + sa,
             -s * 2 * ((a_lin - 1) + s * (a_lin + 1) * cw),
             (a_lin + 1) + s * (a_lin - 1) * cw - sa]
    else:
        raise ValueError(kind)
    b = np.array(b) / a[0]
    a = np.array(a) / a[0]
    return b, a


def biquad_stage(b, a) -> BiquadStage:
    return BiquadStage(float(b[0]), float(b[1]), float(b[2]), float(a[1]), float(a[2]))


def eq_test_models(rate: int) -> dict[str, PedalModel]:
    """The EQ cases of the contract: 20 Hz HP, 80 Hz low shelf +6 dB, 5 kHz peak, 10 sections."""
    cascade = [rbj("highpass", 20, rate), rbj("lowshelf", 80, rate, gain_db=6),
               rbj("peak", 200, rate, 0.7, -4), rbj("peak", 500, rate, 2.0, 3),
               rbj("peak", 1000, rate, 1.0, -6), rbj("peak", 2500, rate, 3.0, 5),
               rbj("peak", 5000, rate, 1.0, 6), rbj("highshelf", 8000, rate, gain_db=-6),
               rbj("lowpass", min(12000, 0.4 * rate), rate), rbj("lowpass", 6000, rate, 0.8)]
    cases = {
        "hp20": [rbj("highpass", 20, rate)],
        "lowshelf80+6": [rbj("lowshelf", 80, rate, gain_db=6)],
        "peak5k+6": [rbj("peak", 5000, rate, 1.0, 6)],
        "cascade10": cascade,
    }
    return {k: PedalModel([biquad_stage(b, a) for b, a in v], rate, name=k)
            for k, v in cases.items()}


def esr(ref: np.ndarray, y: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    return float(np.sum((np.asarray(y, np.float64) - ref) ** 2) / max(np.sum(ref**2), 1e-30))


def esr_vs_float(model: PedalModel, x: np.ndarray, knobs=None, qp=None) -> float:
    """ESR of the device-exact output vs the float model, both fed the same float signal.
    ``qp``: the quantised model to run (a written file's); ``quantise(model)`` if None."""
    qp = quantise(model) if qp is None else qp
    y_dev = simulate(qp, float_to_int16(x), knobs).astype(np.float64) / 32768.0
    return esr(simulate_float(model, x, knobs), y_dev)


def idle_floor_dbfs(model: PedalModel, loud: np.ndarray, silence_s: float = 2.0,
                    measure_s: float = 1.0, qp=None) -> float:
    """RMS (incl. DC) in dBFS of the last ``measure_s`` of ``silence_s`` zeros after ``loud``.
    ``qp``: the quantised model to run (a written file's); ``quantise(model)`` if None."""
    qp = quantise(model) if qp is None else qp
    return idle_tail_dbfs(qp, loud, silence_s, measure_s)


def contract_idle_dbfs(qp) -> float:
    """The contract's idle floor of a quantised model (dBFS, limit ``IDLE_LIMIT_DBFS``): RMS of
    the device's output in silence after a loud input, the loudest after each of
    ``idle_passages``, at the fitted knobs (docs/arithmetic.md). The quantiser and the fitter
    both judge a model by it."""
    return max(idle_levels_dbfs(qp))


def idle_levels_dbfs(qp) -> list[float]:
    """The device's idle floor (dBFS, at the fitted knobs) after each of ``idle_passages``."""
    return [idle_tail_dbfs(qp, x) for x in idle_passages(int(qp.sample_rate))]


def idle_passages(rate: int) -> list[np.ndarray]:
    """The loud inputs the contract's idle floor follows (float, full scale 1.0):
    ``loud_passage`` (peaks at -1 dBFS), the same 6 dB hotter and clipped (a guitar driving
    the converter into its rails), and the silence check's full-scale input (noise, a chirp to
    fs/4, a low square; ``sanity.full_scale_input``). Sections that saturate are left in states
    a milder passage never reaches, and some cycle in silence from there; which passage finds
    a cycle differs from model to model (docs/arithmetic.md "Idle after a clipping input")."""
    x = loud_passage(rate)
    clipped = np.clip(2.0 * x / np.max(np.abs(x)), -1.0, 1.0)
    return [x, clipped, full_scale_input(rate) / 32768.0]


def loud_passage(rate: int, seconds: float = 1.0, seed: int = 7) -> np.ndarray:
    """Full-scale-ish material: low chirp + noise bursts peaking near -1 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    chirp = sps.chirp(t, 20, seconds, rate / 3, method="logarithmic")
    x = 0.6 * chirp + 0.3 * np.clip(rng.normal(0, 0.5, n), -1, 1)
    return 0.89 * x / np.max(np.abs(x))
