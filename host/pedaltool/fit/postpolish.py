"""The post-EQ polished as general biquads: every coefficient free, by output error.

The fitter grows its EQs from parametric sections (RBJ peaks, shelves, high- and low-passes),
which keeps them stable and easy to fit, but every one of those sections is minimum-phase: its
zeros lie inside the unit circle. A miked cabinet is not, and ESR is a waveform measure, so a
post-EQ that matches the cabinet's magnitude with the wrong phase still leaves much of the
error. The firmware runs any stable biquad at the same cost (its sections take five Q26
coefficients), so the last step frees the zeros: starting from the fitted cascade, its
direct-form coefficients ``(b0, b1, b2, a1, a2)`` per section are refined by Levenberg-Marquardt
on the squared error over the fitting signal, with the signal entering the post-EQ held
fixed (so the output is a cascade of linear filters and the Jacobian is exact and cheap).
The cost is the raw error only (an ESR + pre-emphasised ESR cost did worse on the Bugera's
evaluation DI); the caller keeps the result only when it validates better on ESR +
pre-emphasised ESR.
Measured in docs/fitting-log.md ("The post-EQ's zeros set free").
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from pedaltool.pedal.model import pole_radius

# a trial step that takes a section's poles beyond this radius (or beyond the radius they
# started at, when that is larger) is refused: the integer engine lets poles near z = 1 decay
# only slowly (docs/arithmetic.md, "Known limitation"); pedal.sanity refuses a written section
# only from 0.99999 on (MAX_POLE_RADIUS)
POLE_RADIUS_MAX = 0.9995
MAX_TRIES = 10  # damping increases per iteration before giving up
REL_TOL = 1e-4  # stop when an iteration lowers the cost by less than this (relative)


def pole_radii(sos: np.ndarray) -> np.ndarray:
    """The larger pole radius of each normalised row (a0 = 1: the poles of z^2 + a1 z + a2)."""
    return np.array([pole_radius(a1, a2)
                     for a1, a2 in np.asarray(sos, dtype=np.float64)[:, 4:6]])


def _delayed(v: np.ndarray, j: int) -> np.ndarray:
    return np.concatenate([np.zeros(j), v[: len(v) - j]]) if j else v


def _jacobian(sos: np.ndarray, free: list[int], v: np.ndarray, y_hat: np.ndarray,
              rows: slice, w_rows: np.ndarray | float) -> np.ndarray:
    """d(output)/d(b0, b1, b2, a1, a2) of each ``free`` section, ``rows`` of it weighted by
    ``w_rows``. For section k, with u_k the input through the other sections:
    dy/db_j = z^-j u_k / A_k and dy/da_j = -z^-j y / A_k."""
    cols = []
    for k in free:
        others = np.delete(sos, k, axis=0)
        u = signal.sosfilt(others, v) if len(others) else v
        a = [1.0, sos[k, 4], sos[k, 5]]
        w = signal.lfilter([1.0], a, u)
        q = signal.lfilter([1.0], a, y_hat)
        cols += [_delayed(w, j)[rows] * w_rows for j in (0, 1, 2)]
        cols += [-_delayed(q, j)[rows] * w_rows for j in (1, 2)]
    return np.stack(cols, axis=1)


def polish_post(sos: np.ndarray, v: np.ndarray, y: np.ndarray,
                weight: np.ndarray | None = None, held: tuple[int, ...] = (),
                max_iter: int = 20, stride: int = 2) -> np.ndarray:
    """The cascade ``sos`` (rows [b0 b1 b2 1 a1 a2]) refined so that ``sosfilt(sos, v)`` is
    closer to ``y`` in squared error over every ``stride``-th sample, each sample's error
    multiplied by ``weight`` (default 1) as the long fit's residual is (fit.optimise), every
    freed section's poles kept within POLE_RADIUS_MAX (or its own starting radius, if larger);
    the sections indexed by ``held`` are left as they are. Returns the refined cascade (the
    same shape; ``sos`` itself when no step lowers the error). ``v``: the signal entering the
    post-EQ; ``y``: the capture's output."""
    sos = np.array(sos, dtype=np.float64)
    coefs = [0, 1, 2, 4, 5]
    free = [k for k in range(len(sos)) if k not in held]
    if not free:
        return sos
    radius = np.maximum(POLE_RADIUS_MAX, pole_radii(sos[free]) + 1e-12)
    rows = slice(None, None, stride)
    w_rows = 1.0 if weight is None else np.asarray(weight, dtype=np.float64)[rows]
    scale = float(np.sqrt(np.sum((np.asarray(y)[rows] * w_rows) ** 2))) or 1.0
    w_rows = w_rows / scale

    def residual(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y_hat = signal.sosfilt(s, v)
        return (y_hat - y)[rows] * w_rows, y_hat

    r, y_hat = residual(sos)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        jac = _jacobian(sos, free, v, y_hat, rows, w_rows)
        grad, hess = jac.T @ r, jac.T @ jac
        damp = np.diag(np.diag(hess) + 1e-12)
        accepted = False
        for _ in range(MAX_TRIES):
            trial = sos.copy()
            trial[np.ix_(free, coefs)] += np.linalg.solve(hess + lam * damp,
                                                          -grad).reshape(len(free), 5)
            if np.all(pole_radii(trial[free]) < radius):
                r2, y2 = residual(trial)
                c2 = float(r2 @ r2)
                if c2 < cost:
                    accepted, gain = True, (cost - c2) / cost
                    sos, r, y_hat, cost = trial, r2, y2, c2
                    lam = max(lam / 3.0, 1e-7)
                    break
            lam *= 4.0
        if not accepted or gain < REL_TOL:
            break  # no step lowers the error at any damping tried, or too little
    return sos
