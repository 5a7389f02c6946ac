"""The float block model the fitter works on, and its vectorised float simulation.

A :class:`BlockModel` is the chain (stages in firmware order)::

    delay D -> tap -> [ pre-EQ_i -> (env_bias_i) -> table_i ] for each nonlinear stage i
            -> mix (tap * mix_gain) -> post-EQ -> out

Every EQ section is a parametric biquad :class:`Section` (RBJ cookbook kinds) so it is stable by
construction, until the post-EQ's polish (``fit.postpolish``) makes general ones of the post-EQ's
sections, keeping their poles inside itself. Tables are piecewise-linear on ``K`` evenly
spaced knots over [-1, 1] of the table input ``u = in_gain * (s + depth * env(|s|))`` and
clamp outside (the firmware's semantics). The output level is part of the last table's values
(no separate output gain).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from pedaltool.fit.table import table_lookup

KINDS = ("peak", "lshelf", "hshelf", "hp2", "lp2", "hp1", "lp1")
# parameters per kind: f = log2(Hz), g = dB, q = log2(Q). A Section of kind "biquad" (not a
# fitted kind) is a general section, its direct-form coefficients (b0, b1, b2, a1, a2) with
# a0 = 1: only the post-EQ's polish (fit.postpolish) makes them, after every refinement
N_PARAMS = {"peak": 3, "lshelf": 2, "hshelf": 2, "hp2": 2, "lp2": 2, "hp1": 1, "lp1": 1}


@dataclass
class Section:
    """One biquad. ``params`` = (log2 f_Hz, [gain_dB], [log2 Q]) per parametric kind, or the
    coefficients (b0, b1, b2, a1, a2) of a general "biquad"."""

    kind: str
    params: np.ndarray

    def sos(self, rate_hz: float) -> np.ndarray:
        return section_sos(self.kind, self.params, rate_hz)


def section_sos(kind: str, p: np.ndarray, rate_hz: float) -> np.ndarray:
    """RBJ-cookbook biquad (or a general "biquad"'s own coefficients) as one normalised sos
    row [b0 b1 b2 1 a1 a2]."""
    if kind == "biquad":
        b0, b1, b2, a1, a2 = (float(c) for c in p)
        return np.array([b0, b1, b2, 1.0, a1, a2])
    f = min(2.0 ** p[0], 0.49 * rate_hz)
    w0 = 2 * np.pi * f / rate_hz
    cw, sw = np.cos(w0), np.sin(w0)
    if kind in ("hp1", "lp1"):
        k = np.tan(w0 / 2)
        if kind == "lp1":
            b = [k / (1 + k), k / (1 + k), 0.0]
        else:
            b = [1 / (1 + k), -1 / (1 + k), 0.0]
        return np.array(b + [1.0, (k - 1) / (k + 1), 0.0])
    if kind == "peak":
        a_ = 10 ** (p[1] / 40)
        alpha = sw / (2 * 2.0 ** p[2])
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    elif kind in ("hp2", "lp2"):
        alpha = sw / (2 * 2.0 ** p[1])
        if kind == "lp2":
            b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        else:
            b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:  # shelves, slope S = 1
        a_ = 10 ** (p[1] / 40)
        alpha = sw / 2 * np.sqrt(2.0)
        sa = 2 * np.sqrt(a_) * alpha
        if kind == "lshelf":
            b = [a_ * ((a_ + 1) - (a_ - 1) * cw + sa), 2 * a_ * ((a_ - 1) - (a_ + 1) * cw),
                 a_ * ((a_ + 1) - (a_ - 1) * cw - sa)]
            a = [(a_ + 1) + (a_ - 1) * cw + sa, -2 * ((a_ - 1) + (a_ + 1) * cw),
                 (a_ + 1) + (a_ - 1) * cw - sa]
        else:
            b = [a_ * ((a_ + 1) + (a_ - 1) * cw + sa), -2 * a_ * ((a_ - 1) + (a_ + 1) * cw),
                 a_ * ((a_ + 1) + (a_ - 1) * cw - sa)]
            a = [(a_ + 1) - (a_ - 1) * cw + sa, 2 * ((a_ - 1) - (a_ + 1) * cw),
                 (a_ + 1) - (a_ - 1) * cw - sa]
    return np.array([b[0] / a[0], b[1] / a[0], b[2] / a[0], 1.0, a[1] / a[0], a[2] / a[0]])


def cascade_sos(sections: list[Section], rate_hz: float) -> np.ndarray:
    if not sections:
        return np.array([[1.0, 0, 0, 1.0, 0, 0]])
    return np.vstack([s.sos(rate_hz) for s in sections])


def response_db(sos: np.ndarray, freqs_hz: np.ndarray, rate_hz: float) -> np.ndarray:
    """Magnitude response in dB of an sos cascade at the given frequencies.

    Evaluated directly rather than with scipy's sosfreqz: the same numbers with far less
    per-call overhead, and the EQ fits call this thousands of times."""
    # the operations and their order are scipy's (Horner in z^-1, sections multiplied in
    # turn), so the result is bit-identical and the fits do not change
    sos = np.atleast_2d(np.asarray(sos, dtype=np.float64))
    zm1 = unit_delay(freqs_hz, rate_hz)
    h = 1.0
    for b0, b1, b2, a0, a1, a2 in sos:
        h = h * ((b0 + (b1 + b2 * zm1) * zm1) / (a0 + (a1 + a2 * zm1) * zm1))
    return 20 * np.log10(np.maximum(np.abs(h), 1e-12))


def unit_delay(freqs_hz: np.ndarray, rate_hz: float) -> np.ndarray:
    """z^-1 on the unit circle at the given frequencies (Hz)."""
    return np.exp(-1j * (2 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / rate_hz))


def section_responses_db(sos: np.ndarray, zm1: np.ndarray) -> np.ndarray:
    """Magnitude response in dB of each sos row on its own (not the cascade), one row of the
    result per section, at ``zm1 = unit_delay(freqs, rate)``. The same operations as
    :func:`response_db` on a one-row cascade, broadcast over the rows: bit-identical to it row
    by row (tested), for a fraction of the per-call overhead."""
    b0, b1, b2, a0, a1, a2 = (sos[:, i:i + 1] for i in range(6))
    h = 1.0 * ((b0 + (b1 + b2 * zm1) * zm1) / (a0 + (a1 + a2 * zm1) * zm1))
    return 20 * np.log10(np.maximum(np.abs(h), 1e-12))


@dataclass
class NonlinearStage:
    """pre-EQ -> optional envelope bias -> table."""

    pre: list[Section]
    in_gain: float
    values: np.ndarray  # table values on linspace(-1, 1, K)
    env_depth: float = 0.0
    env_ms: float = 0.0  # one-pole time constant of the envelope follower (attack = release)

    @property
    def knots(self) -> np.ndarray:
        return np.linspace(-1.0, 1.0, len(self.values))


@dataclass
class BlockModel:
    """The fitted float model (see module docstring). ``rate_hz`` is the model's sample rate."""

    rate_hz: float
    delay: int
    stages: list[NonlinearStage]
    post: list[Section]
    mix_gain: float = 0.0  # parallel linear path (tap of the delayed input), 0 = none
    structure: str = ""
    extras: dict = field(default_factory=dict)


def envelope(s: np.ndarray, tau_ms: float, rate_hz: float) -> np.ndarray:
    """One-pole low-pass of |s| (time constant in ms)."""
    a = np.exp(-1000.0 / (max(tau_ms, 0.05) * rate_hz))
    return signal.lfilter([1 - a], [1, -a], np.abs(s))


def table_input(stage: NonlinearStage, s: np.ndarray, rate_hz: float) -> np.ndarray:
    if stage.env_depth != 0.0:
        s = s + stage.env_depth * envelope(s, stage.env_ms, rate_hz)
    return stage.in_gain * s


def simulate(model: BlockModel, x: np.ndarray) -> np.ndarray:
    """Run the float model over a whole signal (float64 in, float64 out)."""
    return signal.sosfilt(cascade_sos(model.post, model.rate_hz), post_input(model, x))


def post_input(model: BlockModel, x: np.ndarray) -> np.ndarray:
    """The signal entering the model's post-EQ (the last table's output plus the mix path)
    when it plays ``x`` (float64)."""
    x = np.asarray(x, dtype=np.float64)
    xd = np.concatenate([np.zeros(model.delay), x])[: len(x)] if model.delay else x
    v = xd
    for st in model.stages:
        s = signal.sosfilt(cascade_sos(st.pre, model.rate_hz), v)
        v = table_lookup(table_input(st, s, model.rate_hz), st.knots, st.values)
    if model.mix_gain:
        v = v + model.mix_gain * xd
    return v
