"""Accuracy metrics for a pedal model against its capture (all on float arrays, same rate).

* ESR  = sum((y_hat - y)^2) / sum(y^2) (energy of the error relative to the target).
* pre-emphasised ESR: both signals filtered by 1 - 0.85 z^-1 first (NAM trainer convention,
  harsher on distorted tones because it weights the treble).
* multi-resolution log-spectral distance (dB): RMS difference of the log magnitude STFTs at
  FFT sizes 256/1024/4096, averaged over the resolutions.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

PRE_EMPHASIS = 0.85


def _pair(y_hat: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_hat, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    n = min(len(a), len(b))
    return a[:n], b[:n]


def esr(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Error-to-signal ratio (linear, not dB). 0 = identical; 1 = as bad as silence."""
    a, b = _pair(y_hat, y)
    den = float(np.sum(b * b))
    if den <= 0.0:
        return float("inf") if np.any(a) else 0.0
    return float(np.sum((a - b) ** 2) / den)


def pre_emphasise(x: np.ndarray, coef: float = PRE_EMPHASIS) -> np.ndarray:
    """y[n] = x[n] - coef * x[n-1] (float64)."""
    x = np.asarray(x, dtype=np.float64)
    y = x.copy()
    y[1:] -= coef * x[:-1]
    return y


def esr_pre(y_hat: np.ndarray, y: np.ndarray) -> float:
    """ESR after 1 - 0.85 z^-1 pre-emphasis of both signals."""
    a, b = _pair(y_hat, y)
    return esr(pre_emphasise(a), pre_emphasise(b))


def log_spectral_distance_db(
    y_hat: np.ndarray, y: np.ndarray, fft_sizes: tuple[int, ...] = (256, 1024, 4096)
) -> float:
    """Multi-resolution log-spectral distance in dB (RMS over time-frequency bins, mean over
    resolutions). Bins more than 80 dB below the target's peak bin are floored there."""
    a, b = _pair(y_hat, y)
    dists = []
    for n in fft_sizes:
        if len(b) < n:
            continue
        _, _, sa = signal.stft(a, nperseg=n, noverlap=3 * n // 4, boundary=None)
        _, _, sb = signal.stft(b, nperseg=n, noverlap=3 * n // 4, boundary=None)
        ma, mb = np.abs(sa), np.abs(sb)
        floor = max(float(mb.max()), 1e-12) * 1e-4
        la = 20 * np.log10(np.maximum(ma, floor))
        lb = 20 * np.log10(np.maximum(mb, floor))
        dists.append(float(np.sqrt(np.mean((la - lb) ** 2))))
    return float(np.mean(dists)) if dists else float("nan")


def all_metrics(y_hat: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ESR, pre-emphasised ESR and log-spectral distance as a dict (JSON-ready)."""
    return {
        "esr": esr(y_hat, y),
        "esr_pre": esr_pre(y_hat, y),
        "lsd_db": log_spectral_distance_db(y_hat, y),
    }
