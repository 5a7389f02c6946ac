"""Joint refinement of a block model against the oracle's output.

The residual stacks the raw error and the 1 - 0.85 z^-1 pre-emphasised error, each normalised by
its target energy (so the cost is ESR + pre-emphasised ESR), plus a small smoothness penalty on
the tables. Solved with scipy.optimize.least_squares (TRF, bounds). The Jacobian is finite
differences for the nonlinear parameters (EQ sections, drive, envelope, inner tables) and exact
for the parameters the output is linear in (the last table's values and the parallel mix gain),
which are the majority.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy import signal

from pedaltool.fit import linear
from pedaltool.fit.blocks import BlockModel, cascade_sos, envelope
from pedaltool.fit.metrics import pre_emphasise
from pedaltool.fit.table import hat_basis_dense, hat_basis_rows, second_difference

SMOOTH = 3e-3  # table smoothness weight (relative to the normalised residual)
SLOPE_WEIGHT = 1.0  # first-difference weight relative to the second-difference one
TANH_K = 3.0  # the baseline's tanh table: tanh(3 u) over u in [-1, 1]


@dataclass
class _Slot:
    name: str
    stage: int  # -1 for post/mix
    sl: slice


class JointProblem:
    """Packs a BlockModel's free parameters into one vector and evaluates residuals."""

    def __init__(self, model: BlockModel, x: np.ndarray, y: np.ndarray,
                 fit_env: bool, fit_mix: bool, stride: int = 1, tanh_table: bool = False):
        self.m0 = copy.deepcopy(model)
        self.rate = model.rate_hz
        d = model.delay
        self.xd = np.concatenate([np.zeros(d), x])[: len(x)] if d else np.asarray(x, float)
        # filters run over every sample; the residual keeps every stride-th one (cheaper
        # least-squares algebra, same information for a smooth system)
        self.stride = stride
        self.y_full = np.asarray(y, dtype=np.float64)
        self.y = self.y_full[::stride]
        self.y_pre = pre_emphasise(self.y_full)[::stride]
        self.ny = np.sqrt(np.sum(self.y ** 2)) + 1e-12
        self.ny_pre = np.sqrt(np.sum(self.y_pre ** 2)) + 1e-12
        self.fit_env, self.fit_mix = fit_env, fit_mix
        # the naive baseline: last table = a * tanh(TANH_K * u), only the scale a is free
        self.tanh_table = tanh_table
        self.rms_y = self.ny / np.sqrt(len(self.y))
        self.ny_pre_full = self.ny_pre
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

    def model(self, p: np.ndarray) -> BlockModel:
        m = copy.deepcopy(self.m0)
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

    def _last_input(self, m: BlockModel) -> np.ndarray:
        """The last table's input u (everything before it), for the model m."""
        v = self.xd
        for k, st in enumerate(m.stages):
            s = signal.sosfilt(cascade_sos(st.pre, self.rate), v)
            if st.env_depth != 0.0:
                s = s + st.env_depth * envelope(s, st.env_ms, self.rate)
            u = st.in_gain * s
            if k == len(m.stages) - 1:
                return u
            v = np.interp(u, st.knots, st.values)
        raise AssertionError("model has no stage")

    def _penalty(self, m: BlockModel) -> np.ndarray:
        rows = [SMOOTH * (self.d2 @ m.stages[-1].values) / self.rms_y]
        for k, d2 in self.inner_d2.items():
            rows.append(SMOOTH * (d2 @ m.stages[k].values))
        return np.concatenate(rows)

    def output(self, m: BlockModel) -> np.ndarray:
        st = m.stages[-1]
        v = np.interp(self._last_input(m), st.knots, st.values)
        if m.mix_gain:
            v = v + m.mix_gain * self.xd
        return signal.sosfilt(cascade_sos(m.post, self.rate), v)

    def residual(self, p: np.ndarray) -> np.ndarray:
        m = self.model(p)
        return self._residual_of(self.output(m), m)

    def _residual_of(self, y_hat: np.ndarray, m: BlockModel) -> np.ndarray:
        e = y_hat - self.y_full
        k = self.stride
        return np.concatenate([e[::k] / self.ny, pre_emphasise(e)[::k] / self.ny_pre,
                               self._penalty(m)])

    def jacobian(self, p: np.ndarray) -> np.ndarray:
        m = self.model(p)
        st = m.stages[-1]
        v = np.interp(self._last_input(m), st.knots, st.values)
        if m.mix_gain:
            v = v + m.mix_gain * self.xd
        r0 = self._residual_of(signal.sosfilt(cascade_sos(m.post, self.rate), v), m)
        jac = np.empty((len(r0), len(p)))
        post = next(s.sl for s in self.slots if s.name == "post")
        for j in range(self.n_nl):
            h = 1e-4 * (1.0 + abs(p[j]))
            q = p.copy()
            q[j] = p[j] + h if p[j] + h <= self.hi[j] else p[j] - h
            if post.start <= j < post.stop:  # only the post-EQ changes: refilter v
                mq = copy.copy(m)
                mq.post = linear.unpack(m.post, q[post])
                rq = self._residual_of(signal.sosfilt(cascade_sos(mq.post, self.rate), v), m)
            else:
                rq = self.residual(q)
            jac[:, j] = (rq - r0) / (q[j] - p[j])
        cols = self._linear_cols(m)
        nk = len(m.stages[-1].values)
        n = len(self.y)
        k = self.stride
        lin = slice(self.n_nl, self.n_nl + cols.shape[0])
        jac[:n, lin] = cols[:, ::k].T / self.ny
        jac[n:2 * n, lin] = pre_emphasise_cols(cols, k).T / self.ny_pre
        jac[2 * n:, lin] = 0.0
        npen = self.d2.shape[0]
        if npen:
            jac[2 * n:2 * n + npen, self.n_nl:self.n_nl + nk] = SMOOTH * self.d2 / self.rms_y
        return jac

    def _linear_cols(self, m: BlockModel) -> np.ndarray:
        """d(output)/d(linear parameters), one row per parameter, post-filtered."""
        u = self._last_input(m)
        if self.tanh_table:
            st = m.stages[-1]
            cols = np.interp(u, st.knots, np.tanh(TANH_K * st.knots))[None, :]
        else:
            cols = hat_basis_dense(u, len(m.stages[-1].values))
        if self.fit_mix:
            cols = np.vstack([cols, self.xd[None, :]])
        return signal.sosfilt(cascade_sos(m.post, self.rate), cols, axis=-1)

    def solve_linear(self, p: np.ndarray) -> np.ndarray:
        """Exact least-squares update of the linear parameters (last table, mix) only."""
        jac_lin = self._linear_jac(p)
        r = self.residual(p)
        a = jac_lin.T @ jac_lin
        a += 1e-10 * np.trace(a) / len(a) * np.eye(len(a))
        step = np.linalg.solve(a, -(jac_lin.T @ r))
        q = p.copy()
        q[self.n_nl:] += step
        return q

    def _linear_jac(self, p: np.ndarray) -> np.ndarray:
        m = self.model(p)
        cols = self._linear_cols(m)
        nk = self.d2.shape[1] if not self.tanh_table else 1
        pen = np.zeros((self.d2.shape[0] + sum(d.shape[0] for d in self.inner_d2.values()),
                        cols.shape[0]))
        if self.d2.shape[0]:
            pen[: self.d2.shape[0], :nk] = SMOOTH * self.d2 / self.rms_y
        k = self.stride
        return np.vstack([cols[:, ::k].T / self.ny, pre_emphasise_cols(cols, k).T / self.ny_pre,
                          pen])


def smoothness_operator(n: int) -> np.ndarray:
    """Stacked second and first differences of the table values. Knots the fitting data never
    visits are decided by this penalty alone: the first differences make them continue flat
    (saturate) rather than extrapolate the last slope, which exploded on louder playing."""
    d1 = np.zeros((n - 1, n))
    for r in range(n - 1):
        d1[r, r:r + 2] = (-1.0, 1.0)
    return np.vstack([second_difference(n), SLOPE_WEIGHT * d1])


def pre_emphasise_cols(c: np.ndarray, stride: int = 1) -> np.ndarray:
    """Rows of c pre-emphasised (1 - 0.85 z^-1), then every stride-th sample kept."""
    out = c[:, ::stride].copy()
    prev = c[:, stride - 1::stride][:, : out.shape[1] - 1]
    out[:, 1:] -= 0.85 * prev
    return out


def refine(model: BlockModel, x: np.ndarray, y: np.ndarray, fit_env: bool, fit_mix: bool,
           max_nfev: int = 30, stride: int = 6, tanh_table: bool = False
           ) -> tuple[BlockModel, float]:
    """Linear solve for the tables, then joint TRF refinement. Returns (model, final cost)
    where cost = ESR + pre-emphasised ESR (+ penalty) on (x, y)."""
    prob = JointProblem(model, x, y, fit_env, fit_mix, stride, tanh_table)
    fin = np.isfinite(prob.lo) & np.isfinite(prob.hi)
    p = prob.p0.copy()
    p[fin] = linear.clip_into(p[fin], prob.lo[fin], prob.hi[fin])
    p = prob.solve_linear(p)
    if max_nfev > 0:
        p = levenberg_marquardt(prob.residual, prob.jacobian, p, prob.lo, prob.hi, max_nfev)
    r = prob.residual(p)
    return prob.model(p), float(np.sum(r ** 2))


def levenberg_marquardt(fun, jac, p0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                        max_iter: int = 30, tol: float = 2e-4) -> np.ndarray:
    """Box-constrained Levenberg-Marquardt on the normal equations (the Jacobians here are
    tall, ~1e5 x 1e2, so J^T J is far cheaper than the SVDs scipy's TRF does each step).
    Steps are projected into [lo, hi]; Marquardt scaling by diag(J^T J)."""
    p = np.clip(p0, lo, hi)
    r = fun(p)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        j = jac(p)
        g = j.T @ r
        a = j.T @ j
        d = np.maximum(np.diag(a), 1e-12 * max(np.max(np.diag(a)), 1e-30))
        improved = False
        for _try in range(6):
            try:
                step = -np.linalg.solve(a + lam * np.diag(d), g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            q = np.clip(p + step, lo, hi)
            rq = fun(q)
            cq = float(rq @ rq)
            if np.isfinite(cq) and cq < cost:
                rel = (cost - cq) / max(cost, 1e-30)
                p, r, cost = q, rq, cq
                lam = max(lam / 3, 1e-9)
                improved = True
                break
            lam *= 8
        if not improved or rel < tol:
            break
    return p


def table_rows(u: np.ndarray, n_knots: int):  # re-exported for callers that need the basis
    return hat_basis_rows(u, n_knots)
