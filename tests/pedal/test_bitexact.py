"""The numba host engine equals the pure-Python reference (the firmware engine under CPython)
sample for sample, for every stage kind, knob setting and the noise gate."""

import numpy as np
import pytest
from pedal_helpers import adversarial_int16, extreme_pedal, fitted_looking, musical, to_i16
from pedaltool.pedal import model as M
from pedaltool.pedal import quantise, simulate

N = 5000


def _signals(rate):
    rng = np.random.default_rng(rate)
    return {
        "noise": rng.integers(-32768, 32768, N).astype(np.int16),
        "musical": to_i16(musical(rate, N, seed=3)),
        "adversarial": adversarial_int16(N),
    }


def _models():
    u = np.linspace(-2, 2, 65)
    yield "fitted48k", quantise(fitted_looking(48000, env=True, mix=True))
    yield "plain44k", quantise(fitted_looking(44100))
    yield "mix32k", quantise(fitted_looking(32000, mix=True))
    yield "extreme", extreme_pedal()
    yield "small-table", quantise(M.PedalModel(
        [M.GainStage(6.0, "drive", -6, 6), M.TableStage(1.0, -2, 2, np.tanh(u) * 0.5),
         M.DelayStage(17)], 48000))


@pytest.mark.parametrize("name,qp", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_fast_equals_reference(name, qp):
    for sig_name, x in _signals(qp.sample_rate).items():
        for knobs in (None, {"drive": 0.8, "tone": 0.1, "level": 0.3}):
            ref = simulate(qp, x, knobs, engine="reference")
            fast = simulate(qp, x, knobs)
            bad = np.flatnonzero(ref != fast)
            assert len(bad) == 0, f"{name}/{sig_name}/{knobs}: first mismatch at {bad[:5]}"


def test_gate_fast_equals_reference():
    qp = quantise(fitted_looking(48000))
    x = to_i16(musical(48000, 12000, seed=5))
    x[6000:] //= 300  # a quiet tail the gate must close on
    for thr in (-50.0, -30.0):
        ref = simulate(qp, x, None, engine="reference", gate_dbfs=thr)
        fast = simulate(qp, x, None, gate_dbfs=thr)
        assert np.array_equal(ref, fast)
    closed = simulate(qp, x, None, gate_dbfs=-50.0)
    assert np.all(closed[-2000:] == 0)  # the gate closed after the hold time
    assert np.any(simulate(qp, x)[-2000:] != 0)  # and it is off by default


def test_block_size_does_not_change_the_output():
    qp = quantise(fitted_looking(48000, env=True))
    x = to_i16(musical(48000, 3000, seed=1))
    a = simulate(qp, x, engine="reference", block=32)
    b = simulate(qp, x, engine="reference", block=128)
    assert np.array_equal(a, b)
