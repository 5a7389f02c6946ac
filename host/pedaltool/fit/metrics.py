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


LSD_FFT_SIZES = (256, 1024, 4096)


def _stft_magnitude(x: np.ndarray, n: int) -> np.ndarray:
    """|STFT| with n-point frames at 75 % overlap."""
    return np.abs(signal.stft(x, nperseg=n, noverlap=3 * n // 4, boundary=None)[2])


def _db(m: np.ndarray, floor: float) -> np.ndarray:
    return 20 * np.log10(np.maximum(m, floor))


class Target:
    """A target signal to score several outputs against (the model, the baseline, float and
    device-exact): its spectra are computed once, which halves the cost of scoring a fit."""

    def __init__(self, y: np.ndarray, fft_sizes: tuple[int, ...] = LSD_FFT_SIZES):
        self.y = np.asarray(y, dtype=np.float64).ravel()
        self.fft_sizes = fft_sizes
        self._spectra: dict[int, tuple[float, np.ndarray]] = {}  # n -> (floor, log |STFT|)

    def _spectrum(self, n: int) -> tuple[float, np.ndarray]:
        if n not in self._spectra:
            mb = _stft_magnitude(self.y, n)
            floor = max(float(mb.max()), 1e-12) * 1e-4
            self._spectra[n] = floor, _db(mb, floor)
        return self._spectra[n]

    def prepare(self) -> Target:
        """Compute the target's spectra now (scoring computes them once, when first needed):
        for a thread, so that later scores in other threads only read them."""
        for n in self.fft_sizes:
            if len(self.y) >= n:
                self._spectrum(n)
        return self

    def lsd_db(self, y_hat: np.ndarray) -> float:
        """Multi-resolution log-spectral distance in dB (RMS over time-frequency bins, mean
        over resolutions). Bins more than 80 dB below the target's peak bin are floored
        there."""
        a, b = _pair(y_hat, self.y)
        if len(b) < len(self.y):  # a shorter output: score against the same length
            return Target(b, self.fft_sizes).lsd_db(a)
        dists = []
        for n in self.fft_sizes:
            if len(b) < n:
                continue
            floor, lb = self._spectrum(n)
            la = _db(_stft_magnitude(a, n), floor)
            dists.append(float(np.sqrt(np.mean((la - lb) ** 2))))
        return float(np.mean(dists)) if dists else float("nan")

    def metrics(self, y_hat: np.ndarray) -> dict[str, float]:
        """ESR, pre-emphasised ESR and log-spectral distance of y_hat as a dict (JSON-ready)."""
        return {"esr": esr(y_hat, self.y), "esr_pre": esr_pre(y_hat, self.y),
                "lsd_db": self.lsd_db(y_hat)}


def log_spectral_distance_db(y_hat: np.ndarray, y: np.ndarray,
                             fft_sizes: tuple[int, ...] = LSD_FFT_SIZES) -> float:
    """Multi-resolution log-spectral distance in dB (see :meth:`Target.lsd_db`)."""
    return Target(y, fft_sizes).lsd_db(y_hat)


def all_metrics(y_hat: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ESR, pre-emphasised ESR and log-spectral distance as a dict (JSON-ready); scoring
    several outputs against one target, use :class:`Target`."""
    return Target(y).metrics(y_hat)
