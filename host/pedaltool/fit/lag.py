"""How far one signal lags another: FFT cross-correlation and the lags to search in it.

One place for what recording alignment (whitened, ``fit.recording.align``), ``compare``
(a pedal fitted from a recording against its capture) and the demo (the virtual pedal's I/O
latency) each need.
"""

from __future__ import annotations

import numpy as np


def cross_correlation(y: np.ndarray, ref: np.ndarray, whiten: bool = False) -> np.ndarray:
    """Circular cross-correlation c[k] = sum over n of y[n + k] * ref[n] (negative k at the
    end), zero-padded so that no lag up to either length wraps. ``whiten``: every frequency
    weighted alike (PHAT), robust to a device's EQ."""
    nf = 1 << int(np.ceil(np.log2(len(y) + len(ref))))
    cross = np.fft.rfft(y, nf) * np.conj(np.fft.rfft(ref, nf))
    if whiten:
        cross = cross / np.maximum(np.abs(cross), 1e-12)
    return np.fft.irfft(cross, nf)


def lag_window(cc: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(lags, values) of ``cc``, a :func:`cross_correlation`, at every lag with
    lo <= |lag| <= hi samples (lag 0 once)."""
    pos = np.arange(lo, hi + 1)
    lags = np.concatenate([pos, -pos[pos > 0]])
    return lags, cc[lags]
