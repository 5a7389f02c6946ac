"""The refinement's residual rows of many signals in one pass (numba).

The residual reads each error signal at every ``stride``-th sample, raw and pre-emphasised
(1 - 0.85 z^-1, which needs the sample before each kept one), weighted per kept sample and
normalised by the target's energy. In numpy that was six whole-array passes and temporaries per
call, a tenth of a fit's CPU; this kernel reads each needed sample once and writes the rows
straight into the matrix that uses them. The operations and their order are numpy's
(``(s - m) * w / ny``; ``((s - m) - 0.85 * (p - m')) * w / ny_pre``), so the results are the
same to the bit (``tests/fit/test_keptrows.py``).
"""

from __future__ import annotations

import numba
import numpy as np

from pedaltool.fit.metrics import PRE_EMPHASIS  # a global: numba folds it into the code


@numba.njit(cache=True)
def _rows_into(out, cols, minus, use_minus, w, stride, ny, ny_pre, dest):  # pragma: no cover
    n = (cols.shape[0] + stride - 1) // stride
    for r in range(n):
        i = r * stride
        wr = w[r]
        for j in range(cols.shape[1]):
            s = cols[i, j]
            if use_minus:
                s = s - minus[i]
            out[r, dest[j]] = s * wr / ny
            if r > 0:
                p = cols[i - 1, j]
                if use_minus:
                    p = p - minus[i - 1]
                out[n + r, dest[j]] = (s - PRE_EMPHASIS * p) * wr / ny_pre
            else:
                out[n + r, dest[j]] = s * wr / ny_pre


def kept_rows_into(out: np.ndarray, cols: np.ndarray, minus: np.ndarray | None,
                   w: np.ndarray, stride: int, ny: float, ny_pre: float,
                   dest: np.ndarray | None = None) -> np.ndarray:
    """Write the residual rows of each column of ``cols`` (samples x signals, ``minus``
    subtracted first when given) into ``out``: rows [0, n) raw, [n, 2n) pre-emphasised, with
    n = ceil(samples / stride) kept samples, ``w`` their weights (length n); column j goes to
    ``out[:, dest[j]]`` (default: column j). Returns ``out``."""
    m = cols.shape[1]
    n = -(-cols.shape[0] // stride)
    dest = np.arange(m) if dest is None else np.asarray(dest, np.int64)
    use_minus = minus is not None
    # the kernel does not check bounds (numba's default): a wrong shape here would write
    # outside ``out`` silently
    if (out.shape[0] < 2 * n or len(w) < n or len(dest) != m
            or (m and not 0 <= dest.min() <= dest.max() < out.shape[1])
            or (use_minus and len(minus) < cols.shape[0])):
        raise ValueError(f"kept_rows_into: shapes do not fit (out {out.shape}, cols "
                         f"{cols.shape}, stride {stride}, weights {len(w)}, dest {len(dest)})")
    # with nothing to subtract, w stands in for ``minus`` (the kernel never reads it)
    _rows_into(out, cols, minus if use_minus else w, use_minus, w, int(stride), float(ny),
               float(ny_pre), dest)
    return out
