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
from scipy import optimize, signal

from pedaltool.fit import linear
from pedaltool.fit.blocks import BlockModel, cascade_sos, envelope
from pedaltool.fit.metrics import pre_emphasise
from pedaltool.fit.table import hat_basis_dense, hat_basis_rows, second_difference

SMOOTH = 3e-3  # table smoothness weight (relative to the normalised residual)


@dataclass
class _Slot:
    name: str
    stage: int  # -1 for post/mix
    sl: slice


class JointProblem:
    """Packs a BlockModel's free parameters into one vector and evaluates residuals."""

    def __init__(self, model: BlockModel, x: np.ndarray, y: np.ndarray,
                 fit_env: bool, fit_mix: bool):
        self.m0 = copy.deepcopy(model)
        self.rate = model.rate_hz
        d = model.delay
        self.xd = np.concatenate([np.zeros(d), x])[: len(x)] if d else np.asarray(x, float)
        self.y = np.asarray(y, dtype=np.float64)
        self.y_pre = pre_emphasise(self.y)
        self.ny = np.sqrt(np.sum(self.y ** 2)) + 1e-12
        self.ny_pre = np.sqrt(np.sum(self.y_pre ** 2)) + 1e-12
        self.fit_env, self.fit_mix = fit_env, fit_mix
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
            add("drive", k, [np.log(st.in_gain)], [np.log(st.in_gain) - 4], [np.log(st.in_gain) + 4])
            if fit_env:
                add("env", k, [st.env_depth, np.log(max(st.env_ms, 1.0))], [-2.0, np.log(1.0)],
                    [2.0, np.log(300.0)])
            if k != last:
                add("values", k, st.values, -np.inf * np.ones(len(st.values)),
                    np.inf * np.ones(len(st.values)))
        a, b = linear.bounds_of(model.post, self.rate)
        add("post", -1, linear.clip_into(linear.pack(model.post), a, b), a, b)
        self.n_nl = sum(len(v) for v in p0)
        add("lastvalues", last, model.stages[last].values, -np.inf * np.ones(len(model.stages[last].values)),
            np.inf * np.ones(len(model.stages[last].values)))
        if fit_mix:
            add("mix", -1, [model.mix_gain], [-np.inf], [np.inf])
        self.slots = slots
        self.p0 = np.concatenate(p0)
        self.lo = np.concatenate(lo)
        self.hi = np.concatenate(hi)
        nk = len(model.stages[last].values)
        self.d2 = second_difference(nk)
        self.inner_d2 = {k: second_difference(len(st.values))
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
        e = self.output(m) - self.y
        return np.concatenate([e / self.ny, pre_emphasise(e) / self.ny_pre, self._penalty(m)])

    def jacobian(self, p: np.ndarray) -> np.ndarray:
        r0 = self.residual(p)
        jac = np.empty((len(r0), len(p)))
        for j in range(self.n_nl):
            h = 1e-4 * (1.0 + abs(p[j]))
            q = p.copy()
            q[j] = p[j] + h if p[j] + h <= self.hi[j] else p[j] - h
            jac[:, j] = (self.residual(q) - r0) / (q[j] - p[j])
        m = self.model(p)
        u = self._last_input(m)
        nk = len(m.stages[-1].values)
        cols = hat_basis_dense(u, nk)
        if self.fit_mix:
            cols = np.vstack([cols, self.xd[None, :]])
        cols = signal.sosfilt(cascade_sos(m.post, self.rate), cols, axis=-1)
        n = len(self.y)
        lin = slice(self.n_nl, self.n_nl + cols.shape[0])
        jac[:n, lin] = cols.T / self.ny
        jac[n:2 * n, lin] = pre_emphasise_cols(cols).T / self.ny_pre
        jac[2 * n:, lin] = 0.0
        npen = self.d2.shape[0]
        jac[2 * n:2 * n + npen, self.n_nl:self.n_nl + nk] = SMOOTH * self.d2 / self.rms_y
        return jac

    def solve_linear(self, p: np.ndarray) -> np.ndarray:
        """Exact least-squares update of the linear parameters (last table, mix) only."""
        jac_lin = self._linear_jac(p)
        r = self.residual(p)
        step, *_ = np.linalg.lstsq(jac_lin, -r, rcond=None)
        q = p.copy()
        q[self.n_nl:] += step
        return q

    def _linear_jac(self, p: np.ndarray) -> np.ndarray:
        m = self.model(p)
        u = self._last_input(m)
        nk = len(m.stages[-1].values)
        cols = hat_basis_dense(u, nk)
        if self.fit_mix:
            cols = np.vstack([cols, self.xd[None, :]])
        cols = signal.sosfilt(cascade_sos(m.post, self.rate), cols, axis=-1)
        pen = np.zeros((self.d2.shape[0] + sum(d.shape[0] for d in self.inner_d2.values()),
                        cols.shape[0]))
        pen[: self.d2.shape[0], :nk] = SMOOTH * self.d2 / self.rms_y
        return np.vstack([cols.T / self.ny, pre_emphasise_cols(cols).T / self.ny_pre, pen])


def pre_emphasise_cols(c: np.ndarray) -> np.ndarray:
    out = c.copy()
    out[:, 1:] -= 0.85 * c[:, :-1]
    return out


def refine(model: BlockModel, x: np.ndarray, y: np.ndarray, fit_env: bool, fit_mix: bool,
           max_nfev: int = 30) -> tuple[BlockModel, float]:
    """Linear solve for the tables, then joint TRF refinement. Returns (model, final cost)
    where cost = ESR + pre-emphasised ESR (+ penalty) on (x, y)."""
    prob = JointProblem(model, x, y, fit_env, fit_mix)
    p = prob.p0
    p = np.where(np.isfinite(prob.lo), np.maximum(p, prob.lo + 1e-9 * np.abs(prob.lo)), p)
    p = np.where(np.isfinite(prob.hi), np.minimum(p, prob.hi - 1e-9 * np.abs(prob.hi)), p)
    p = prob.solve_linear(p)
    if max_nfev > 0:
        res = optimize.least_squares(prob.residual, p, jac=prob.jacobian,
                                     bounds=(prob.lo, prob.hi), method="trf",
                                     x_scale="jac", max_nfev=max_nfev)
        p = res.x
    r = prob.residual(p)
    return prob.model(p), float(np.sum(r ** 2))


def table_rows(u: np.ndarray, n_knots: int):  # re-exported for callers that need the basis
    return hat_basis_rows(u, n_knots)
