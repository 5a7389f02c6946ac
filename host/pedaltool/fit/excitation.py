"""The fitter's own excitation: signals that look like real playing plus sweeps and noise.

Everything here is for *fitting* only (seeded, never used for scoring). Levels are in the
capture's digital input scale: 1.0 = 0 dBFS (12 dBu unless the capture says otherwise); a real
guitar pickup DI peaks around 0.3 (RMS about 0.08) there, hard picking higher.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

# Standard-tuning open strings (Hz) and frets used for notes and chords.
_OPEN = np.array([82.41, 110.0, 146.83, 196.0, 246.94, 329.63])
_CHORDS = ([0, 2, 2, 1, 0, 0], [3, 2, 0, 0, 0, 3], [0, 0, 2, 2, 2, 0], [0, 2, 2, 0, 0, 0],
           [-1, 3, 2, 0, 1, 0], [5, 7, 7, -1, -1, -1])


def _pickup(x: np.ndarray, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A magnetic pickup: resonant low-pass (2.5-5 kHz, Q 1.5-3) and a gentle high-pass."""
    from pedaltool.fit.blocks import section_sos

    f = rng.uniform(2500, 5000)
    lp = section_sos("lp2", np.array([np.log2(f), np.log2(rng.uniform(1.5, 3.0))]), rate_hz)
    hp = section_sos("hp1", np.array([np.log2(40.0)]), rate_hz)
    return signal.sosfilt(np.vstack([lp, hp]), x)


def pluck(freq_hz: float, dur_s: float, rate_hz: float, rng: np.random.Generator,
          brightness: float = 0.5, decay_s: float = 2.0) -> np.ndarray:
    """One Karplus-Strong string note (unit peak before the pickup), vectorised with lfilter."""
    n = int(dur_s * rate_hz)
    period = max(int(round(rate_hz / freq_hz)), 2)
    burst = rng.standard_normal(period)
    # a softer pluck is a darker burst
    a = 1.0 - 0.9 * brightness
    burst = signal.lfilter([1 - a], [1, -a], burst)
    exc = np.zeros(n)
    exc[:period] = burst
    g = np.exp(-period / (decay_s * rate_hz) * 6.9)  # -60 dB after decay_s
    den = np.zeros(period + 2)
    den[0] = 1.0
    den[period] = -g / 2
    den[period + 1] = -g / 2
    y = signal.lfilter([1.0], den, exc)
    return y / max(np.max(np.abs(y)), 1e-9)


def playing(dur_s: float, rate_hz: float, seed: int = 1, peak_range=(0.02, 0.6)) -> np.ndarray:
    """Single notes, strummed chords and palm mutes with dynamics from soft to hard."""
    rng = np.random.default_rng(seed)
    n = int(dur_s * rate_hz)
    out = np.zeros(n + int(3 * rate_hz))
    t = 0
    while t < n:
        kind = rng.choice(["note", "chord", "mute"], p=[0.45, 0.35, 0.2])
        peak = float(np.exp(rng.uniform(np.log(peak_range[0]), np.log(peak_range[1]))))
        bright = rng.uniform(0.2, 1.0)
        if kind == "chord":
            shape = _CHORDS[rng.integers(len(_CHORDS))]
            strum = int(rng.uniform(0.005, 0.03) * rate_hz)
            dur = rng.uniform(0.5, 1.5)
            ev = np.zeros(int((dur + 0.2) * rate_hz))
            for k, fret in enumerate(shape):
                if fret < 0:
                    continue
                note = pluck(_OPEN[k] * 2 ** (fret / 12), dur, rate_hz, rng, bright, 2.5)
                ev[k * strum: k * strum + len(note)] += note * rng.uniform(0.6, 1.0)
        else:
            f = _OPEN[rng.integers(6)] * 2 ** (rng.integers(0, 15) / 12)
            dur = rng.uniform(0.25, 1.0) if kind == "note" else rng.uniform(0.08, 0.2)
            decay = 2.0 if kind == "note" else 0.15
            ev = pluck(f, dur, rate_hz, rng, bright * (0.5 if kind == "mute" else 1.0), decay)
        ev = _pickup(ev, rate_hz, rng)
        ev *= peak / max(np.max(np.abs(ev)), 1e-9)
        out[t: t + len(ev)] += ev
        t += int(len(ev) * rng.uniform(0.3, 1.0))
    return out[:n]


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS pink-ish noise (-3 dB/octave from 20 Hz), band-limited at 16 kHz."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    spec /= np.sqrt(np.maximum(f, 20.0 / 48000))
    spec[f > 0.34] *= 0.1
    y = np.fft.irfft(spec, n)
    return y / np.std(y)


def exp_sweep(dur_s: float, rate_hz: float, f0: float = 30.0, f1: float = 16000.0) -> np.ndarray:
    t = np.arange(int(dur_s * rate_hz)) / rate_hz
    k = np.log(f1 / f0)
    y = np.sin(2 * np.pi * f0 * dur_s / k * (np.exp(t * k / dur_s) - 1))
    fade = min(len(y) // 20, 480)
    y[:fade] *= np.linspace(0, 1, fade)
    y[-fade:] *= np.linspace(1, 0, fade)
    return y


def fitting_signal(rate_hz: float, level: float = 1.0, seed: int = 7,
                   play_s: float = 2.0) -> np.ndarray:
    """The fitting excitation: playing (most of it), then pink noise and sweeps at several
    levels. ``level`` scales everything (1.0 = the capture's calibrated DI level)."""
    rng = np.random.default_rng(seed)
    parts = [playing(play_s, rate_hz, seed)]
    gap = np.zeros(int(0.02 * rate_hz))
    for rms in (0.005, 0.02, 0.06, 0.15):
        parts += [gap, rms * pink_noise(int(0.1 * rate_hz), rng)]
    for peak in (0.02, 0.1, 0.3):
        parts += [gap, peak * exp_sweep(0.15, rate_hz)]
    return level * np.concatenate(parts)


def bla_noise(n: int, rate_hz: float, rms: float, seed: int = 3) -> np.ndarray:
    """Pink-ish noise at a given RMS for best-linear-approximation measurements."""
    return rms * pink_noise(n, np.random.default_rng(seed))
