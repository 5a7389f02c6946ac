"""Linear identification from the oracle: DC, latency, best linear approximations (BLA) at
several levels, and biquad-cascade fits to a magnitude response on a log-frequency grid."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, signal

from pedaltool.fit.blocks import (
    N_PARAMS,
    Section,
    cascade_sos,
    response_db,
    section_responses_db,
    section_sos,
    unit_delay,
)
from pedaltool.fit.excitation import bla_noise

Render = Callable[[np.ndarray], np.ndarray]


def measure_dc(render: Render, rate_hz: float) -> float:
    """Output at zero input (mean of the second half of 0.2 s of silence)."""
    y = render(np.zeros(int(0.2 * rate_hz)))
    return float(np.mean(y[len(y) // 2:]))


def bla(x: np.ndarray, y: np.ndarray, rate_hz: float, nfft: int = 4096):
    """Best linear approximation H = Sxy / Sxx (Welch), with its coherence.

    Returns (freqs_hz, H complex, coherence)."""
    f, sxy = signal.csd(x, y, fs=rate_hz, nperseg=nfft)
    _, sxx = signal.welch(x, fs=rate_hz, nperseg=nfft)
    with np.errstate(invalid="ignore", divide="ignore"):  # a silent output: 0/0, coherence 0
        _, coh = signal.coherence(x, y, fs=rate_hz, nperseg=nfft)
    return f, sxy / np.maximum(sxx, 1e-30), np.nan_to_num(coh)


def latency_from_bla(h: np.ndarray, max_lag: int = 200) -> int:
    """Integer pure delay (samples) from a BLA: the first sample where the impulse response
    reaches 30 % of its peak (the onset, not the peak, since the filters are causal)."""
    ir = np.fft.irfft(h)
    seg = np.abs(ir[:max_lag])
    peak = int(np.argmax(seg))
    above = np.nonzero(seg[: peak + 1] >= 0.3 * seg[peak])[0]
    return int(above[0]) if len(above) else peak


def measure_blas(render: Render, rate_hz: float, levels_rms: tuple[float, ...],
                 dur_s: float = 1.0) -> list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """BLAs at several RMS input levels from one concatenated render (the oracle is rendered
    once). Returns [(rms, freqs_hz, H, coherence)]."""
    n = int(dur_s * rate_hz)
    gap = int(0.05 * rate_hz)
    xs = [bla_noise(n, rate_hz, r, seed=11 + i) for i, r in enumerate(levels_rms)]
    x = np.concatenate([np.concatenate([np.zeros(gap), s]) for s in xs])
    y = np.asarray(render(x), dtype=np.float64)
    out = []
    for i, r in enumerate(levels_rms):
        a = i * (n + gap) + gap + 2048  # skip the onset transient
        b = (i + 1) * (n + gap)
        f, h, c = bla(x[a:b], y[a:b], rate_hz)
        out.append((r, f, h, c))
    return out


def log_grid(rate_hz: float, n: int = 160, f_lo: float = 30.0, f_hi: float | None = None):
    f_hi = f_hi or min(18000.0, 0.45 * rate_hz)
    return np.geomspace(f_lo, f_hi, n)


def smooth_db(freqs: np.ndarray, mag_db: np.ndarray, grid: np.ndarray,
              octaves: float = 1 / 6) -> np.ndarray:
    """Fractional-octave smoothing of a magnitude curve, sampled on ``grid``."""
    out = np.empty(len(grid))
    for i, g in enumerate(grid):
        sel = (freqs >= g * 2 ** (-octaves / 2)) & (freqs <= g * 2 ** (octaves / 2))
        out[i] = np.mean(mag_db[sel]) if np.any(sel) else np.interp(g, freqs, mag_db)
    return out


def default_sections(kinds: list[str]) -> list[Section]:
    """Starting sections: peaks spread log-uniformly 100 Hz-8 kHz, HP at 40 Hz, LP at 12 kHz,
    shelves at 200 Hz / 4 kHz, all flat (0 dB)."""
    n_peak = kinds.count("peak")
    peak_f = iter(np.geomspace(120, 7000, max(n_peak, 1)))
    out = []
    for k in kinds:
        if k == "peak":
            p = [np.log2(next(peak_f)), 0.0, 0.0]
        elif k == "hp2":
            p = [np.log2(40.0), -0.5]
        elif k == "lp2":
            p = [np.log2(12000.0), -0.5]
        elif k == "hp1":
            p = [np.log2(30.0)]
        elif k == "lp1":
            p = [np.log2(12000.0)]
        elif k == "lshelf":
            p = [np.log2(200.0), 0.0]
        else:
            p = [np.log2(4000.0), 0.0]
        out.append(Section(k, np.array(p, dtype=np.float64)))
    return out


def section_bounds(s: Section, rate_hz: float) -> tuple[list[float], list[float]]:
    """Bounds keep every section stable and inside the audio band. A general "biquad" has
    none that could (its stability is not a box): only fit.postpolish refines it, last."""
    if s.kind == "biquad":
        raise ValueError("a general biquad section is polished (fit.postpolish), not refined")
    fmin, fmax = np.log2(10.0), np.log2(0.45 * rate_hz)
    lo, hi = [fmin], [fmax]
    if s.kind in ("peak", "lshelf", "hshelf"):
        lo.append(-30.0)
        hi.append(30.0)
    if s.kind in ("peak", "hp2", "lp2"):
        lo.append(-2.5 if s.kind == "peak" else -1.5)  # Q from 0.18 (0.35) ...
        hi.append(3.5 if s.kind == "peak" else 2.0)  # ... to 11 (4)
    return lo, hi


def pack(sections: list[Section]) -> np.ndarray:
    return np.concatenate([s.params for s in sections]) if sections else np.zeros(0)


def unpack(sections: list[Section], p: np.ndarray) -> list[Section]:
    out, i = [], 0
    for s in sections:
        k = N_PARAMS[s.kind]
        out.append(Section(s.kind, np.asarray(p[i:i + k], dtype=np.float64).copy()))
        i += k
    return out


def bounds_of(sections: list[Section], rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = [], []
    for s in sections:
        a, b = section_bounds(s, rate_hz)
        lo += a
        hi += b
    return np.array(lo), np.array(hi)


def clip_into(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    eps = 1e-6 * (hi - lo)
    return np.minimum(np.maximum(p, lo + eps), hi - eps)


def fit_cascade_db(target_db: np.ndarray, grid_hz: np.ndarray, kinds: list[str],
                   rate_hz: float, weights: np.ndarray | None = None,
                   init: list[Section] | None = None) -> tuple[list[Section], float]:
    """Fit a cascade of parametric biquads (plus a free dB offset) to a magnitude curve on a
    log-frequency grid by least squares on the dB error. Returns (sections, offset_dB)."""
    w = np.ones(len(grid_hz)) if weights is None else weights
    starts = [init] if init is not None else [greedy_sections(target_db, grid_hz, kinds, rate_hz),
                                              default_sections(kinds)]
    best = None
    for secs in starts:
        lo, hi = bounds_of(secs, rate_hz)
        resid, jac = _cascade_problem(secs, target_db, grid_hz, rate_hz, w, lo, hi)
        p0 = np.concatenate([clip_into(pack(secs), lo, hi), [np.median(target_db)]])
        try:
            res = optimize.least_squares(
                resid, p0, jac=jac, bounds=(np.append(lo, -200.0), np.append(hi, 200.0)),
                max_nfev=300, x_scale=1.0, method="trf")
        except (np.linalg.LinAlgError, ValueError):
            continue  # this start is degenerate; the other one stands
        if best is None or res.cost < best[0]:
            best = (res.cost, unpack(secs, res.x[:-1]), float(res.x[-1]))
    if best is None:  # every start failed: flat sections, nothing better is known
        return default_sections(kinds), float(np.median(target_db))
    return best[1], best[2]


def _cascade_problem(secs: list[Section], target_db: np.ndarray, grid_hz: np.ndarray,
                     rate_hz: float, w: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Residual and Jacobian of the dB fit of a cascade, p = [section params | offset dB].

    The cascade's dB response is the sum of its sections' responses, so a forward-difference
    column only recomputes the one section its parameter belongs to (the EQ fits run this
    thousands of times; rerunning the whole cascade per column cost most of a quick fit)."""
    kinds = [s.kind for s in secs]
    spans, i = [], 0
    for k in kinds:
        spans.append((i, i + N_PARAMS[k]))
        i += N_PARAMS[k]

    zm1 = unit_delay(grid_hz, rate_hz)

    def secs_db(kinds_, qs):
        """Each section's own dB response, one row per (kind, params)."""
        return section_responses_db(
            np.array([section_sos(k, q, rate_hz) for k, q in zip(kinds_, qs, strict=True)]),
            zm1)

    last: list = [None, None]  # least_squares asks for jac(p) at the p it just evaluated

    def parts(p):
        key = p.tobytes()
        if last[0] != key:
            with np.errstate(all="ignore"):
                last[:] = key, list(secs_db(kinds, [p[a:b] for a, b in spans]))
        return last[1]

    def resid(p):
        with np.errstate(all="ignore"):
            r = w * (sum(parts(p), np.zeros(len(grid_hz))) + p[-1] - target_db)
        return np.nan_to_num(r, nan=1e3, posinf=1e3, neginf=-1e3)

    def jac(p):
        jm = np.empty((len(grid_hz), len(p)))
        base = parts(p)
        with np.errstate(all="ignore"):
            for k, (a, b), d0 in zip(kinds, spans, base, strict=True):
                qs, steps = [], []  # the section's parameters with one of them stepped
                for j in range(a, b):
                    h = _FD_EPS * max(1.0, abs(p[j]))
                    q = p[a:b].copy()
                    q[j - a] = p[j] + h if p[j] + h <= hi[j] else p[j] - h
                    qs.append(q)
                    steps.append(q[j - a] - p[j])
                stepped = secs_db([k] * len(qs), qs)
                jm[:, a:b] = (w * (stepped - d0) / np.array(steps)[:, None]).T
            np.nan_to_num(jm, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        jm[:, -1] = w
        return jm

    return resid, jac


_FD_EPS = 1.4901161193847656e-08  # sqrt(machine epsilon), scipy's 2-point step


def greedy_sections(target_db: np.ndarray, grid_hz: np.ndarray, kinds: list[str],
                    rate_hz: float) -> list[Section]:
    """Eichas-style start: non-peak sections at their defaults, then each peak on the largest
    remaining deviation of the (offset-removed) target, with that gain and Q = 1."""
    secs = default_sections(kinds)
    rest = target_db - response_db(cascade_sos([s for s in secs if s.kind != "peak"], rate_hz),
                                   grid_hz, rate_hz)
    rest = rest - np.median(rest)
    band = (grid_hz > 40) & (grid_hz < 0.4 * rate_hz)
    for s in secs:
        if s.kind != "peak":
            continue
        i = int(np.argmax(np.where(band, np.abs(rest), 0.0)))
        s.params = np.array([np.log2(grid_hz[i]), float(np.clip(rest[i], -24, 24)), 0.0])
        rest = rest - response_db(s.sos(rate_hz)[None, :], grid_hz, rate_hz)
    return secs
