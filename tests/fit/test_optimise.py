"""The joint refinement (fit/optimise.py) on block models of the fitter's own structure: the
oracle is a known BlockModel, so the optimum is known (ESR ~0 up to the table penalty)."""

import copy

import numpy as np
import pytest
from fit_helpers import known_model
from pedaltool import signals
from pedaltool.fit import optimise
from pedaltool.fit.blocks import BlockModel, cascade_sos, simulate
from pedaltool.fit.metrics import esr
from scipy import signal

RATE = 48000


@pytest.fixture(scope="module")
def known():
    """(model, x_fit, y_fit, x_val, y_val): 1 s of fitting playing, 1 s of other playing."""
    m = known_model()
    x = signals.fitting_di(RATE, 1.0, seed=777).astype(np.float64) * 1.5
    xv = signals.fitting_di(RATE, 1.0, seed=4242).astype(np.float64) * 1.5
    return m, x, simulate(m, x), xv, simulate(m, xv)


def _detuned(m: BlockModel) -> BlockModel:
    """Every EQ frequency 0.7 octave too high, the table a straight line (what an initial
    model looks like before refinement)."""
    s = copy.deepcopy(m)
    for sec in s.stages[0].pre + s.post:
        sec.params[0] += 0.7
    s.stages[0].values = 0.3 * s.stages[0].knots
    return s


def test_refinement_recovers_a_known_model(known):
    m, x, y, xv, yv = known
    fitted, cost = optimise.refine(_detuned(m), x, y, fit_env=False, fit_mix=False, max_nfev=20,
                                   stride=4)
    e = esr(simulate(fitted, xv), yv)
    # the joint LM of before (damping the 33 table values with the EQ) stalled at 4.5e-3 here;
    # variable projection reaches 9e-5 (the rest is the table smoothness penalty)
    assert e < 5e-4, e
    assert cost < 1e-3, cost
    # the recovered EQ: the pre-EQ's 700 Hz boost is found again (within 5 %)
    f = sorted(2 ** s.params[0] for s in fitted.stages[0].pre if s.kind == "peak")
    assert any(abs(fk / 700.0 - 1) < 0.05 for fk in f), f


def test_refinement_never_increases_the_cost(known):
    m, x, y, _, _ = known
    start = _detuned(m)
    _, c0 = optimise.refine(start, x, y, False, False, max_nfev=0, stride=4)
    _, c3 = optimise.refine(start, x, y, False, False, max_nfev=3, stride=4)
    assert c3 < c0


def test_linear_parameters_are_solved_exactly(known):
    """With the nonlinear parameters at the truth, the table comes out of the linear solve:
    no iterations are needed to reach the optimum."""
    m, x, y, xv, yv = known
    start = copy.deepcopy(m)
    start.stages[0].values = np.zeros_like(start.stages[0].values)
    fitted, _ = optimise.refine(start, x, y, False, False, max_nfev=0, stride=4)
    assert esr(simulate(fitted, xv), yv) < 5e-4
    # on the knots the fitting signal visits (the others follow the smoothness penalty)
    u = m.stages[0].in_gain * signal.sosfilt(cascade_sos(m.stages[0].pre, RATE), x)
    kn = m.stages[0].knots
    seen = (kn > u.min()) & (kn < u.max())
    assert seen.sum() > 10
    assert np.max(np.abs(fitted.stages[0].values - m.stages[0].values)[seen]) < 0.01


def test_sample_weight_ignores_a_corrupted_segment(known):
    """Weight 0 removes a segment from the fit: a garbled second half changes nothing."""
    m, x, y, xv, yv = known
    bad = y.copy()
    half = len(y) // 2
    bad[half:] = np.random.default_rng(3).standard_normal(len(y) - half) * np.std(y)
    w = np.ones(len(y))
    w[half:] = 0.0
    start = copy.deepcopy(m)
    start.stages[0].values = np.zeros_like(start.stages[0].values)
    fitted, _ = optimise.refine(start, x, bad, False, False, max_nfev=0, stride=4, weight=w)
    assert esr(simulate(fitted, xv), yv) < 1e-3


def test_long_fit_releases_the_envelope_the_quick_fit_left_out(known):
    """core.final_fit on an envelope structure starts the envelope (depth 0 after the quick
    fit) from ENV_START and fits it: on a system with an envelope-driven bias it recovers the
    depth and time constant; the same long fit without the envelope cannot follow it."""
    from pedaltool.fit import core
    from pedaltool.fit import structure as S

    m, x, _, xv, _ = known
    truth = copy.deepcopy(m)
    truth.stages[0].env_depth, truth.stages[0].env_ms = 1.0, 15.0
    ds = core.Dataset(x, simulate(truth, x), xv, simulate(truth, xv))
    e0, ep0 = core.score(m, xv, ds.y_val)  # everything right but the (missing) envelope
    fits = {}
    for env in (True, False):
        st = S.Structure("wh-test", [["hp1", "peak", "peak"]], ["hp2", "peak", "peak", "lp2"],
                         knots=33, env=env)
        fits[env] = core.final_fit(core.Candidate(st, copy.deepcopy(m), e0, ep0, 0.0), None,
                                   ds, nfev=15)
    got = fits[True].model.stages[0]
    assert abs(got.env_depth - 1.0) < 0.05 and 14.0 < got.env_ms < 16.0, (got.env_depth,
                                                                          got.env_ms)
    assert fits[True].val_esr < 1e-4 < 1e-3 < fits[False].val_esr < e0, (
        fits[True].val_esr, fits[False].val_esr, e0)
    assert fits[False].model.stages[0].env_depth == 0.0


def test_a_long_fit_that_validates_as_nan_keeps_the_quick_fit(known, monkeypatch):
    """``e + ep > crit`` is False for NaN: a long fit whose model overflowed on the validation
    replaced its quick fit, and its NaN then sorted anywhere among the finalists (a review)."""
    from pedaltool.fit import core
    from pedaltool.fit import structure as S

    m, x, _, xv, _ = known
    ds = core.Dataset(x, simulate(m, x), xv, simulate(m, xv))
    st = S.Structure("wh-test", [["hp1", "peak", "peak"]], ["hp2", "peak", "peak", "lp2"],
                     knots=33)
    quick = core.Candidate(st, copy.deepcopy(m), 0.01, 0.02, 0.0)
    monkeypatch.setattr(core, "validation_score", lambda model, ds: (float("nan"), float("nan")))
    got = core.final_fit(quick, None, ds, nfev=1)
    assert (got.val_esr, got.val_esr_pre) == (0.01, 0.02) and "kept the quick fit" in got.log[-1]
    # and a NaN that gets through (a quick fit's, a polish's) ranks last
    from pedaltool.fit import api

    lost = core.Candidate(st, m, float("nan"), 0.0, 0.0)
    assert lost.crit == float("inf")
    assert sorted([lost, quick], key=api._rank) == [quick, lost]
