"""Waveshaper tables: the piecewise-linear hat basis and the smoothness operator."""

from __future__ import annotations

import numba
import numpy as np


def hat_basis_rows(u: np.ndarray, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """For table input u (clamped to [-1, 1]) return (left knot index, weight of right knot):
    value(u) = (1 - w) * v[i] + w * v[i + 1], exactly what np.interp and the firmware do."""
    pos = (np.clip(u, -1.0, 1.0) + 1.0) * 0.5 * (n_knots - 1)
    i = np.minimum(np.floor(pos).astype(np.int64), n_knots - 2)
    return i, pos - i


def hat_basis_reached(u: np.ndarray, n_knots: int, spare: int = 0,
                      buffer: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The hat basis of the knots u comes near, one column each: (basis, shape (len(u),
    reached knots + ``spare``), C-contiguous; boolean mask of the reached knots among all
    n_knots). Column j is hat_k(u) of the j-th reached knot k; the ``spare`` last columns are
    zeros for the caller to fill (appending a column later copies the whole array).
    ``buffer``: a flat float64 array of at least len(u) * (n_knots + spare) values to build
    the basis in (the result is a view of it); a fresh 50 MB array each call cost more in page
    faults than filling it."""
    i, w = hat_basis_rows(u, n_knots)
    reached = np.zeros(n_knots, dtype=bool)
    reached[i] = True
    reached[i + 1] = True
    col = np.cumsum(reached) - 1  # knot -> its column
    shape = (len(u), int(reached.sum()) + spare)
    b = np.empty(shape) if buffer is None else buffer[: shape[0] * shape[1]].reshape(shape)
    _fill_hat_rows(b, col[i], col[i + 1], w)
    return b, reached


@numba.njit(cache=True)
def _fill_hat_rows(b, left, right, w):  # pragma: no cover - compiled
    # one pass over the rows: np.zeros plus two fancy-indexed writes took 4x longer
    for r in range(b.shape[0]):
        for j in range(b.shape[1]):
            b[r, j] = 0.0
        b[r, left[r]] = 1.0 - w[r]
        b[r, right[r]] = w[r]


def table_lookup(u: np.ndarray, knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.interp(u, knots, values)`` for evenly spaced knots, bit for bit, about 5x faster:
    the knot is found by arithmetic instead of a binary search, and the value is computed with
    np.interp's own formula and order of operations. The fitter's forward model looks tables up
    thousands of times per fit (3.6 s of a 58 s TS9 fit in np.interp)."""
    u = np.ascontiguousarray(u, dtype=np.float64)
    out = np.empty_like(u)
    _lookup(u.reshape(-1), np.ascontiguousarray(knots, dtype=np.float64),
            np.ascontiguousarray(values, dtype=np.float64), out.reshape(-1))
    return out


@numba.njit(cache=True)
def _lookup(u, xp, fp, out):  # pragma: no cover - compiled
    k = len(xp)
    x0 = xp[0]
    xl = xp[k - 1]
    scale = (k - 1) / (xl - x0)
    for r in range(len(u)):
        x = u[r]
        if x != x:  # NaN stays NaN, as in np.interp
            out[r] = x
        elif x < x0:
            out[r] = fp[0]
        elif x >= xl:
            out[r] = fp[k - 1]
        else:
            j = min(int((x - x0) * scale), k - 2)
            # the guess can be one knot off where (x - x0) * scale rounds across an integer:
            # np.interp's binary search finds the j with xp[j] <= x < xp[j + 1]
            while j > 0 and xp[j] > x:
                j -= 1
            while j < k - 2 and xp[j + 1] <= x:
                j += 1
            if xp[j] == x:
                out[r] = fp[j]
            else:
                slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
                v = slope * (x - xp[j]) + fp[j]
                if v != v:
                    v = slope * (x - xp[j + 1]) + fp[j + 1]
                    if v != v and fp[j] == fp[j + 1]:
                        v = fp[j]
                out[r] = v


def second_difference(n: int) -> np.ndarray:
    """(n-2, n) second-difference operator, used as a smoothness penalty on table values."""
    d = np.zeros((n - 2, n))
    for r in range(n - 2):
        d[r, r:r + 3] = (1.0, -2.0, 1.0)
    return d
