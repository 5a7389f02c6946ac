"""Joint refinement of a block model against the oracle's output.

The residual stacks the raw error and the 1 - 0.85 z^-1 pre-emphasised error, each normalised by
its target energy (so the cost is ESR + pre-emphasised ESR), plus a small smoothness penalty on
the tables.

The output is linear in the last table's values and the parallel mix gain (the "linear
parameters" c), and nonlinear in everything else (EQ sections, drive, envelope, inner tables:
theta). The solver is variable projection (Golub & Pereyra; Kaufman's Jacobian): c is
eliminated exactly, r(theta) = min_c |A(theta) c - b(theta)|, and Levenberg-Marquardt runs over
theta alone with the projected Jacobian (I - A A^+) dr/dtheta. Damping only theta keeps the
~65 table values from fighting the EQ gains and the drive inside one damped step, which is what
made the joint LM crawl (it needed lambda ~ 1..10 and made ~1e-4 progress per step). A trial
step is scored with the linearised optimal change of c (one filter pass, no refiltering of the
table basis); an accepted point gets the exact c at the start of the next iteration.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import signal

from pedaltool.fit import linear
from pedaltool.fit.blocks import BlockModel, cascade_sos, table_input
from pedaltool.fit.colfilter import sosfilt_bank, sosfilt_rows
from pedaltool.fit.keptrows import kept_rows_into
from pedaltool.fit.metrics import pre_emphasise
from pedaltool.fit.table import hat_basis_reached, second_difference, table_lookup

SMOOTH = 3e-3  # table smoothness weight (relative to the normalised residual)
SLOPE_WEIGHT = 1.0  # first-difference weight relative to the second-difference one
TANH_K = 3.0  # the baseline's tanh table: tanh(3 u) over u in [-1, 1]
FD_STEP = 1e-4  # relative forward-difference step for the nonlinear parameters
MAX_TRIES = 10  # damping increases per iteration before giving up
F_TOL = 1e-3  # stop after two iterations that lower the cost by less than this (relative)


@dataclass
class _Slot:
    name: str
    stage: int  # -1 for post/mix
    sl: slice


class JointProblem:
    """Packs a BlockModel's free parameters into one vector p = [theta | c] and evaluates
    residuals; theta (the first ``n_nl`` entries) are nonlinear, c the linear parameters."""

    def __init__(self, model: BlockModel, x: np.ndarray, y: np.ndarray,
                 fit_env: bool, fit_mix: bool, stride: int = 1, tanh_table: bool = False,
                 weight: np.ndarray | None = None):
        self.m0 = copy.deepcopy(model)
        self.rate = model.rate_hz
        d = model.delay
        self.xd = np.concatenate([np.zeros(d), x])[: len(x)] if d else np.asarray(x, float)
        # filters run over every sample; the residual keeps every stride-th one (cheaper
        # least-squares algebra, same information for a smooth system)
        self.stride = stride
        self.y_full = np.asarray(y, dtype=np.float64)
        # weight of each kept sample's error (e.g. less for synthetic excitation than for
        # playing); 1.0 without weights: x * 1.0 is x, the same bits
        self.w = (np.ones(len(self.y_full[::stride])) if weight is None
                  else np.asarray(weight, np.float64)[::stride])
        self._hat_buffer: np.ndarray | None = None  # _linear_cols builds the basis in it
        # nonlinear_jacobian's two (parameters x samples) buffers, reused: a fresh 80 MB array
        # a call is paid again in page faults
        self._jac_buffers: tuple[np.ndarray, np.ndarray] | None = None
        self.y = self._w(self.y_full[::stride])
        self.y_pre = self._w(pre_emphasise(self.y_full)[::stride])
        self.ny = np.sqrt(np.sum(self.y ** 2)) + 1e-12
        self.ny_pre = np.sqrt(np.sum(self.y_pre ** 2)) + 1e-12
        self.fit_env, self.fit_mix = fit_env, fit_mix
        # the naive baseline: last table = a * tanh(TANH_K * u), only the scale a is free
        self.tanh_table = tanh_table
        self.rms_y = self.ny / np.sqrt(len(self.y))
        slots, lo, hi, p0 = [], [], [], []

        def add(name, stage, vals, lo_, hi_):
            i = sum(len(v) for v in p0)
            slots.append(_Slot(name, stage, slice(i, i + len(vals))))
            p0.append(np.asarray(vals, float))
            lo.append(np.asarray(lo_, float))
            hi.append(np.asarray(hi_, float))

        last = len(model.stages) - 1
        for k, st in enumerate(model.stages):
            a, b = linear.bounds_of(st.pre, self.rate)
            add("pre", k, linear.clip_into(linear.pack(st.pre), a, b), a, b)
            g = np.log(st.in_gain)
            add("drive", k, [g], [g - 4], [g + 4])
            if fit_env:
                add("env", k, [st.env_depth, np.log(max(st.env_ms, 1.0))], [-2.0, np.log(1.0)],
                    [2.0, np.log(300.0)])
            if k != last:
                add("values", k, st.values, -np.inf * np.ones(len(st.values)),
                    np.inf * np.ones(len(st.values)))
        a, b = linear.bounds_of(model.post, self.rate)
        add("post", -1, linear.clip_into(linear.pack(model.post), a, b), a, b)
        self.n_nl = sum(len(v) for v in p0)
        lv = model.stages[last].values
        if tanh_table:
            add("tanhscale", last, [float(np.max(np.abs(lv)))], [-np.inf], [np.inf])
        else:
            add("lastvalues", last, lv, -np.inf * np.ones(len(lv)), np.inf * np.ones(len(lv)))
        if fit_mix:
            add("mix", -1, [model.mix_gain], [-np.inf], [np.inf])
        self.slots = slots
        self.p0 = np.concatenate(p0)
        self.lo = np.concatenate(lo)
        self.hi = np.concatenate(hi)
        nk = len(model.stages[last].values)
        self.d2 = smoothness_operator(nk) if not tanh_table else np.zeros((0, nk))
        self.inner_d2 = {k: smoothness_operator(len(st.values))
                         for k, st in enumerate(model.stages) if k != last}
        n = len(self.y)
        self.n_pen = self.d2.shape[0] + sum(d.shape[0] for d in self.inner_d2.values())
        # b: the part of the residual that does not depend on c (the inner tables' penalty
        # is added per theta in _offset)
        self.b = np.concatenate([self.y / self.ny, self.y_pre / self.ny_pre,
                                 np.zeros(self.n_pen)])
        self.n_rows = 2 * n + self.n_pen

    def _w(self, e: np.ndarray) -> np.ndarray:
        """Apply the per-sample weight to subsampled rows (last axis)."""
        return e * self.w

    # -- parameter vector <-> model ---------------------------------------------------------

    def model(self, p: np.ndarray) -> BlockModel:
        m = _fresh_copy(self.m0)
        for s in self.slots:
            v = p[s.sl]
            if s.name == "pre":
                m.stages[s.stage].pre = linear.unpack(m.stages[s.stage].pre, v)
            elif s.name == "drive":
                m.stages[s.stage].in_gain = float(np.exp(v[0]))
            elif s.name == "env":
                m.stages[s.stage].env_depth = float(v[0])
                m.stages[s.stage].env_ms = float(np.exp(v[1]))
            elif s.name in ("values", "lastvalues"):
                m.stages[s.stage].values = np.array(v, dtype=np.float64)
            elif s.name == "tanhscale":
                st = m.stages[s.stage]
                st.values = v[0] * np.tanh(TANH_K * st.knots)
            elif s.name == "post":
                m.post = linear.unpack(m.post, v)
            elif s.name == "mix":
                m.mix_gain = float(v[0])
        return m

    # -- forward model -----------------------------------------------------------------------

    def _trace(self, m: BlockModel, start: int = 0, v: np.ndarray | None = None,
               u: np.ndarray | None = None) -> tuple[list, list]:
        """Run the stages from ``start``: returns (vin, uin), each stage's EQ input and table
        input (entries before ``start`` are None). Start at stage ``start``'s EQ with input
        ``v`` (None: the delayed input, for start 0), or at its table with input ``u``."""
        n = len(m.stages)
        vin, uin = [None] * n, [None] * n
        if v is None and u is None:
            v = self.xd
        for k in range(start, n):
            st = m.stages[k]
            if u is None or k != start:
                vin[k] = v
                u = table_input(st, signal.sosfilt(cascade_sos(st.pre, self.rate), v), self.rate)
            uin[k] = u
            if k < n - 1:
                v = table_lookup(u, st.knots, st.values)
        return vin, uin

    def _last_input(self, m: BlockModel) -> np.ndarray:
        """The last table's input u (everything before it), for the model m."""
        return self._trace(m)[1][-1]

    def _penalty(self, m: BlockModel) -> np.ndarray:
        rows = [SMOOTH * (self.d2 @ m.stages[-1].values) / self.rms_y]
        for k, d2 in self.inner_d2.items():
            rows.append(SMOOTH * (d2 @ m.stages[k].values))
        return np.concatenate(rows)

    def _table_out(self, m: BlockModel, u_last: np.ndarray | None = None) -> np.ndarray:
        """Signal entering the post-EQ (last table output plus the mix path)."""
        st = m.stages[-1]
        u = self._last_input(m) if u_last is None else u_last
        v = table_lookup(u, st.knots, st.values)
        if m.mix_gain:
            v = v + m.mix_gain * self.xd
        return v

    def output(self, m: BlockModel) -> np.ndarray:
        return signal.sosfilt(cascade_sos(m.post, self.rate), self._table_out(m))

    def residual(self, p: np.ndarray) -> np.ndarray:
        m = self.model(p)
        return self._residual_of(self.output(m), m)

    def _residual_of(self, y_hat: np.ndarray, m: BlockModel) -> np.ndarray:
        return np.concatenate([self._error_rows(y_hat[:, None])[:, 0], self._penalty(m)])

    def _error_rows(self, y_hat: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The residual's error rows of each column of ``y_hat`` (samples x signals): rows
        [0, n) raw, [n, 2n) pre-emphasised, written into ``out``'s first 2n rows if given."""
        if out is None:
            out = np.empty((2 * len(self.y), y_hat.shape[1]))
        return kept_rows_into(out, y_hat, self.y_full, self.w, self.stride, self.ny,
                              self.ny_pre)

    # -- the linear parameters ---------------------------------------------------------------

    def _linear_cols(self, m: BlockModel) -> tuple[np.ndarray, np.ndarray]:
        """d(output)/d(linear parameters) for the parameters the signal reaches: (columns,
        shape (samples, reached parameters), post-filtered; mask of the reached ones). A knot
        the table input never comes near has an all-zero column, left out of the filtering.
        The columns live in a buffer the next call overwrites."""
        u = self._last_input(m)
        n_mix = int(self.fit_mix)  # the mix column is filled in place, not appended
        if self.tanh_table:
            st = m.stages[-1]
            cols = np.empty((len(u), 1 + n_mix))
            cols[:, 0] = table_lookup(u, st.knots, np.tanh(TANH_K * st.knots))
            live = np.ones(1, dtype=bool)
        else:
            k = len(m.stages[-1].values)
            if self._hat_buffer is None:  # reused: the columns are copied into A at once
                self._hat_buffer = np.empty(len(u) * (k + n_mix))
            cols, live = hat_basis_reached(u, k, n_mix, self._hat_buffer)
        if self.fit_mix:
            cols[:, -1] = self.xd
            live = np.append(live, True)
        return sosfilt_bank(cascade_sos(m.post, self.rate), cols), live

    def linear_matrix(self, p: np.ndarray) -> np.ndarray:
        """A(theta): d(residual)/d(c), shape (n_rows, n_c); the residual is A c - b + e(theta)
        with e the inner tables' penalty."""
        m = self.model(p)
        cols, live = self._linear_cols(m)
        n = len(self.y)
        a = np.zeros((self.n_rows, len(live)))
        kept_rows_into(a, cols, None, self.w, self.stride, self.ny, self.ny_pre,
                       np.flatnonzero(live))
        nd = self.d2.shape[0]
        if nd:
            a[2 * n:2 * n + nd, : self.d2.shape[1]] = SMOOTH * self.d2 / self.rms_y
        return a

    def _offset(self, p: np.ndarray) -> np.ndarray:
        """b - e(theta): the residual is A c - (b - e)."""
        off = self.b.copy()
        pen = self._penalty(self.model(p))
        nd = self.d2.shape[0]
        if len(pen) > nd:
            off[2 * len(self.y) + nd:] -= pen[nd:]
        return off

    def solve_linear(self, p: np.ndarray, a: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact least-squares c for the theta in p. Returns (p with that c, A, the Cholesky
        factor of A^T A (with a tiny ridge))."""
        a = self.linear_matrix(p) if a is None else a
        g = a.T @ a
        g[np.diag_indices_from(g)] += 1e-12 * np.trace(g) / len(g) + 1e-300
        chol = _cholesky(g)
        c = _chol_solve(chol, a.T @ self._offset(p))
        q = p.copy()
        q[self.n_nl:] = c
        return q, a, chol

    def nonlinear_jacobian(self, p: np.ndarray, r0: np.ndarray) -> np.ndarray:
        """d(residual)/d(theta) by forward differences with c fixed. A column reruns only the
        chain from the stage its parameter belongs to (the stages before it are cached): the
        post-EQ columns refilter the table output, an inner table's values start at that
        table, the EQ/drive/envelope of stage k at stage k's input. The post-EQ filtering of
        every column (the bulk of the work) is one call on all of them."""
        m = self.model(p)
        vin, uin = self._trace(m)
        v = self._table_out(m, uin[-1])
        post = cascade_sos(m.post, self.rate)
        n = self.n_nl
        steps = np.empty(n)
        models = []
        if self._jac_buffers is None or self._jac_buffers[0].shape != (n, len(v)):
            self._jac_buffers = (np.empty((n, len(v))), np.empty((len(v), n)))
        post_in, filtered = self._jac_buffers  # what enters the post-EQ, per parameter
        bank = np.empty((len(post), 6, n))  # the post-EQ it goes through
        for sl in self.slots:
            if sl.sl.start >= n:
                continue
            if sl.name == "post":  # one broadcast write
                post_in[sl.sl] = v
            for j in range(sl.sl.start, sl.sl.stop):
                h = FD_STEP * (1.0 + abs(p[j]))
                q = p.copy()
                q[j] = p[j] + h if p[j] + h <= self.hi[j] else p[j] - h
                steps[j] = q[j] - p[j]
                mq = self.model(q)
                models.append(mq)
                if sl.name == "post":  # only the post-EQ changes: refilter v
                    bank[:, :, j] = cascade_sos(mq.post, self.rate)
                    continue
                k = sl.stage
                if sl.name == "values":
                    _, uq = self._trace(mq, k + 1, v=table_lookup(uin[k], mq.stages[k].knots,
                                                               mq.stages[k].values))
                else:
                    _, uq = self._trace(mq, k, v=vin[k])
                post_in[j] = self._table_out(mq, uq[-1])
                bank[:, :, j] = post
        rq = np.empty((self.n_rows, n))
        self._error_rows(sosfilt_rows(bank, post_in, filtered), rq)
        rq[2 * len(self.y):] = np.stack([self._penalty(mq) for mq in models], axis=1)
        rq -= r0[:, None]  # in place: no 26 MB temporaries (the Bugera's long fit)
        rq /= steps
        return rq


def _fresh_copy(m: BlockModel) -> BlockModel:
    """A copy of m whose stages and section lists can be replaced without touching m (arrays
    and sections are shared: ``JointProblem.model`` replaces them, never writes into them).
    A deepcopy per Jacobian column was a tenth of the refinement's time."""
    return dataclasses.replace(
        m, stages=[dataclasses.replace(st, pre=list(st.pre)) for st in m.stages],
        post=list(m.post), extras=copy.deepcopy(m.extras))


def _cholesky(g: np.ndarray) -> np.ndarray:
    for eps in (0.0, 1e-10, 1e-8, 1e-6):
        try:
            return np.linalg.cholesky(g + eps * np.trace(g) / len(g) * np.eye(len(g)))
        except np.linalg.LinAlgError:
            continue
    return np.linalg.cholesky(g + 1e-4 * np.trace(g) / len(g) * np.eye(len(g)))


def _chol_solve(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    z = solve_triangular(chol, rhs, lower=True)
    return solve_triangular(chol.T, z, lower=False)


def smoothness_operator(n: int) -> np.ndarray:
    """Stacked second and first differences of the table values. Knots the fitting data never
    visits are decided by this penalty alone: the first differences make them continue flat
    (saturate) rather than extrapolate the last slope, which exploded on louder playing."""
    d1 = np.zeros((n - 1, n))
    for r in range(n - 1):
        d1[r, r:r + 2] = (-1.0, 1.0)
    return np.vstack([second_difference(n), SLOPE_WEIGHT * d1])


def refine(model: BlockModel, x: np.ndarray, y: np.ndarray, fit_env: bool, fit_mix: bool,
           max_nfev: int = 30, stride: int = 6, tanh_table: bool = False,
           weight: np.ndarray | None = None,
           on_iter: Callable[[int, float], None] | None = None) -> tuple[BlockModel, float]:
    """Exact solve for the linear parameters, then variable-projection Levenberg-Marquardt over
    the nonlinear ones (``max_nfev`` Jacobian evaluations at most). Returns (model, final cost)
    where cost = ESR + pre-emphasised ESR (+ penalty) on (x, y). ``on_iter(k, cost)`` after
    each iteration (progress)."""
    prob = JointProblem(model, x, y, fit_env, fit_mix, stride, tanh_table, weight)
    fin = np.isfinite(prob.lo) & np.isfinite(prob.hi)
    p = prob.p0.copy()
    p[fin] = linear.clip_into(p[fin], prob.lo[fin], prob.hi[fin])
    p = varpro_lm(prob, p, max_nfev, on_iter=on_iter)
    r = prob.residual(p)
    return prob.model(p), float(np.sum(r ** 2))


def varpro_lm(prob: JointProblem, p: np.ndarray, max_iter: int = 30,
              f_tol: float = F_TOL,
              on_iter: Callable[[int, float], None] | None = None) -> np.ndarray:
    """Levenberg-Marquardt over theta = p[:n_nl] with c = p[n_nl:] eliminated (Kaufman's
    variable projection). Box bounds on theta by projection; Moré's scaling (running maximum
    of diag(J^T J)); Nielsen's damping update from the gain ratio. Returns p with the exact c
    for the final theta."""
    n = prob.n_nl
    lo, hi = prob.lo[:n], prob.hi[:n]
    p, a, chol = prob.solve_linear(p)
    r = prob.residual(p)
    cost = float(r @ r)
    if n == 0 or max_iter <= 0:
        return p
    lam, nu = 1e-3, 2.0
    scale = None
    small = 0
    for k in range(max_iter):
        jt = prob.nonlinear_jacobian(p, r)
        # projected Jacobian (I - A G^-1 A^T) J_theta and the matching change of c per step
        dc_per = _chol_solve(chol, a.T @ jt)  # (n_c, n)
        jt -= a @ dc_per  # in place (jt is not needed after): one large temporary fewer
        jp = jt
        hess = jp.T @ jp
        grad = jp.T @ r
        dg = np.diag(hess).copy()
        scale = dg if scale is None else np.maximum(scale, dg)
        dscale = np.maximum(scale, 1e-12 * max(float(np.max(scale)), 1e-30))
        accepted = False
        for _try in range(MAX_TRIES):
            try:
                step = -np.linalg.solve(hess + lam * np.diag(dscale), grad)
            except np.linalg.LinAlgError:
                lam, nu = lam * nu, nu * 2
                continue
            theta = np.clip(p[:n] + step, lo, hi)
            s = theta - p[:n]
            pred = -(2.0 * grad @ s + s @ hess @ s)
            q = p.copy()
            q[:n] = theta
            q[n:] = p[n:] - dc_per @ s
            rq = prob.residual(q)
            cq = float(rq @ rq)
            rho = (cost - cq) / pred if pred > 0 else -1.0
            if np.isfinite(cq) and cq < cost and rho > 1e-4:
                lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                lam = max(lam, 1e-12)
                nu = 2.0
                accepted = True
                break
            lam, nu = lam * nu, nu * 2
        if not accepted:
            break
        # exact c at the new theta (the next Jacobian needs A there anyway)
        p, a, chol = prob.solve_linear(q)
        r = prob.residual(p)
        c_new = float(r @ r)
        if not c_new <= cq:  # the linearised c was better (ill-conditioned A): keep it
            p, r, c_new = q, rq, cq
            a = prob.linear_matrix(p)
            _, _, chol = prob.solve_linear(p, a)
        rel = (cost - c_new) / max(cost, 1e-30)
        cost = c_new
        if on_iter:
            on_iter(k + 1, cost)
        small = small + 1 if rel < f_tol else 0
        if small >= 2:
            break
    return p
