"""A diode-clipper overdrive pedal, simulated from its circuit: the source of the bundled capture.

Signal path (9 V pedal, values as built in the simulation)::

    guitar -> C_in 22 nF (R_bias 1 MOhm to ground) -> op-amp (+) input
              op-amp feedback: out -> R_f 51 kOhm || C_f 470 pF -> (-) -> R_g 4.7 kOhm -> C_g 47 nF
              -> ground; output limited by the rails
           -> R_s 10 kOhm -> node v: antiparallel 1N914 pair || C_d 4.7 nF to ground
           -> level x1.5 -> out

1. Input coupling: C_in into R_bias, a high-pass at 7.2 Hz.
2. Non-inverting op-amp gain stage: gain 1 + Z_f / Z_g with Z_f = R_f || C_f and
   Z_g = R_g + 1/(s C_g). The gain rises from 1 at DC (corner R_f C_g at 66 Hz) to
   1 + 51/4.7 = 11.9 (21.5 dB) above 720 Hz (R_g C_g), rolled off above 6.6 kHz by C_f. The
   op-amp output swings ±3.5 V around its 4.5 V bias (a 9 V supply): modelled as a smooth limit
   3.5 V * tanh(v / 3.5 V).
3. Clipper: R_s into the antiparallel diode pair (Shockley: I_s 2.52 nA, n 1.752, V_T 25.85 mV)
   in parallel with C_d; C_d dv/dt = (u - v)/R_s - 2 I_s sinh(v / (n V_T)). Solved per sample
   with the trapezoidal rule and Newton's method at 4x oversampling (polyphase resampling with
   scipy.signal.resample_poly), then decimated back.
4. Level: x 1.5 (a make-up stage after the clipper).

Levels: the digital input is read as an interface calibrated to 12 dBu at 0 dBFS (a full-scale
sine = 12 dBu RMS = 4.37 V peak), so ``volts = x * 4.37``; the output is written back at the
same scale (the clipped ±0.6 V becomes about ±0.2 FS after the level stage).

Run ``python examples/diode_clipper.py IN.wav OUT.wav`` to process a file. The Newton loop uses
numba when it is installed (a pedaltool dependency) and plain Python otherwise (slow).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

try:  # numba is a pedaltool dependency; the fallback only keeps this file importable
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):
        def wrap(f):
            return f
        return wrap if not args or not callable(args[0]) else args[0]

#: Volts at digital full scale (peak) for an interface reading 12 dBu at 0 dBFS.
VOLTS_AT_FULL_SCALE = 0.7746 * 10 ** (12.0 / 20.0) * math.sqrt(2.0)
INPUT_LEVEL_DBU = 12.0


@dataclass(frozen=True)
class Components:
    """Component values (SI units: ohm, farad, volt, ampere)."""

    c_in: float = 22e-9
    r_bias: float = 1e6
    r_f: float = 51e3  # the drive pot (100 kOhm) set about half way
    c_f: float = 470e-12
    r_g: float = 4.7e3
    c_g: float = 47e-9
    rail_v: float = 3.5
    r_s: float = 10e3
    c_d: float = 4.7e-9
    i_s: float = 2.52e-9  # 1N914
    n_vt: float = 1.752 * 25.85e-3
    level: float = 1.5


def _bilinear(b_s, a_s, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    b, a = sps.bilinear(b_s, a_s, fs=rate_hz)
    return b / a[0], a / a[0]


def gain_stage_coefficients(c: Components, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Digital (b, a) of input coupling x op-amp gain stage (linear part), bilinear transform.

    H(s) = [s R_bias C_in / (1 + s R_bias C_in)] * [1 + Z_f / Z_g],
    Z_f / Z_g = s R_f C_g / ((1 + s R_f C_f)(1 + s R_g C_g)).
    """
    t_in = c.r_bias * c.c_in
    hp_b, hp_a = [t_in, 0.0], [t_in, 1.0]
    tf, tg = c.r_f * c.c_f, c.r_g * c.c_g
    den = np.polymul([tf, 1.0], [tg, 1.0])
    num = np.polyadd(den, [c.r_f * c.c_g, 0.0])
    return _bilinear(np.polymul(hp_b, num), np.polymul(hp_a, den), rate_hz)


@njit(cache=False)
def _clipper(u, rate_hz, r_s, c_d, i_s, n_vt):  # pragma: no cover - compiled
    """Trapezoidal rule + Newton for C dv/dt = (u - v)/R - 2 I_s sinh(v / nVt). Volts in/out."""
    n = u.shape[0]
    v_out = np.empty(n)
    k = 1.0 / (2.0 * rate_hz * c_d)  # T / (2C)
    v = 0.0
    f_prev = (u[0] - v) / r_s - 2.0 * i_s * math.sinh(v / n_vt)
    for i in range(n):
        ui = u[i]
        base = v + k * f_prev
        x = v
        for _ in range(60):
            s = math.sinh(x / n_vt)
            ch = math.cosh(x / n_vt)
            g = x - base - k * ((ui - x) / r_s - 2.0 * i_s * s)
            dg = 1.0 + k * (1.0 / r_s + 2.0 * i_s * ch / n_vt)
            step = g / dg
            if step > 0.05:  # the exponential makes full steps overshoot far from the root
                step = 0.05
            elif step < -0.05:
                step = -0.05
            x -= step
            if abs(step) < 1e-12:
                break
        v = x
        f_prev = (ui - v) / r_s - 2.0 * i_s * math.sinh(v / n_vt)
        v_out[i] = v
    return v_out


def process(x: np.ndarray, rate_hz: float = 48000.0, oversample: int = 4,
            components: Components | None = None) -> np.ndarray:
    """Run the pedal over a digital signal (float, full scale 1.0 at 12 dBu = 0 dBFS).

    Returns float32 of the same length and rate. Deterministic.
    """
    c = components or Components()
    fs = rate_hz * oversample
    v = sps.resample_poly(np.asarray(x, dtype=np.float64) * VOLTS_AT_FULL_SCALE, oversample, 1)
    b, a = gain_stage_coefficients(c, fs)
    v = sps.lfilter(b, a, v)
    v = c.rail_v * np.tanh(v / c.rail_v)
    v = _clipper(v, fs, c.r_s, c.c_d, c.i_s, c.n_vt)
    y = sps.resample_poly(v, 1, oversample)[: len(x)] * c.level
    return (y / VOLTS_AT_FULL_SCALE).astype(np.float32)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python examples/diode_clipper.py IN.wav OUT.wav", file=sys.stderr)
        return 2
    from pedaltool.audio import read_wav, write_wav

    clip = read_wav(argv[1])
    write_wav(argv[2], process(clip.samples, clip.rate_hz), clip.rate_hz)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
