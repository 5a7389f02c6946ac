"""Waveshaper tables: the piecewise-linear hat basis and the smoothness operator."""

from __future__ import annotations

import numpy as np


def hat_basis_rows(u: np.ndarray, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """For table input u (clamped to [-1, 1]) return (left knot index, weight of right knot):
    value(u) = (1 - w) * v[i] + w * v[i + 1], exactly what np.interp and the firmware do."""
    pos = (np.clip(u, -1.0, 1.0) + 1.0) * 0.5 * (n_knots - 1)
    i = np.minimum(np.floor(pos).astype(np.int64), n_knots - 2)
    return i, pos - i


def hat_basis_reached(u: np.ndarray, n_knots: int, spare: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The hat basis of the knots u comes near, one column each: (basis, shape (len(u),
    reached knots + ``spare``), C-contiguous; boolean mask of the reached knots among all
    n_knots). Column j is hat_k(u) of the j-th reached knot k; the ``spare`` last columns are
    zeros for the caller to fill (appending a column later copies the whole array)."""
    i, w = hat_basis_rows(u, n_knots)
    reached = np.zeros(n_knots, dtype=bool)
    reached[i] = True
    reached[i + 1] = True
    col = np.cumsum(reached) - 1  # knot -> its column
    b = np.zeros((len(u), int(reached.sum()) + spare))
    rows = np.arange(len(u))
    b[rows, col[i]] = 1.0 - w
    b[rows, col[i + 1]] += w
    return b, reached


def second_difference(n: int) -> np.ndarray:
    """(n-2, n) second-difference operator, used as a smoothness penalty on table values."""
    d = np.zeros((n - 2, n))
    for r in range(n - 2):
        d[r, r:r + 3] = (1.0, -2.0, 1.0)
    return d
