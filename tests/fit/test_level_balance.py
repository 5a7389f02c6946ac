"""The long fits' weighting of the fitting playing by its level (``core.fitting_weight``,
``core.level_balance``): on a capture that is not saturating each passage counts by its
time, not its loudness; validation weighs the held-out playing half-way
(``core.validation_score``)."""

from types import SimpleNamespace

import numpy as np
from pedaltool.fit import core

RATE = 48000


def _playing(rng) -> tuple[np.ndarray, np.ndarray]:
    """1 s loud, 1 s 20 dB softer, 0.5 s of silence, 0.5 s loud again: noise through a
    soft clipper (the output does not scale with the input)."""
    parts = [0.3 * rng.standard_normal(RATE), 0.03 * rng.standard_normal(RATE),
             np.zeros(RATE // 2), 0.3 * rng.standard_normal(RATE // 2)]
    x = np.concatenate(parts)
    return x, np.tanh(3.0 * x)


def _energy(w, y, a, b):
    return float(np.sum((w[a:b] * y[a:b]) ** 2))


def test_each_passage_counts_by_its_time_not_its_loudness():
    x, y = _playing(np.random.default_rng(1))
    w = core.level_balance(x, y, round(core.LEVEL_WINDOW_S * RATE))
    loud, soft = (RATE // 10, 9 * RATE // 10), (11 * RATE // 10, 19 * RATE // 10)
    # unweighted the loud passage carries ~10x the soft one's output energy (the clipper
    # compresses 20 dB of input into ~10 dB of output)
    assert _energy(np.ones_like(y), y, *loud) > 5 * _energy(np.ones_like(y), y, *soft)
    # weighted by the input's level, the soft passage's output counts more than the loud
    # one's (the input's level is what is balanced: the output of a compressor is not)
    assert _energy(w, y, *soft) > _energy(w, y, *loud)
    # the playing's share of the cost is unchanged: its weighted energy is its energy
    assert np.isclose(np.sum((w * y) ** 2), np.sum(y * y), rtol=1e-12)


def test_silence_is_not_blown_up():
    x, y = _playing(np.random.default_rng(2))
    w = core.level_balance(x, y, round(core.LEVEL_WINDOW_S * RATE))
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    # at most LEVEL_FLOOR_DB above the loudest passage's weight, silence included
    assert np.max(w) / np.min(w) <= 10 ** (core.LEVEL_FLOOR_DB / 20) * (1 + 1e-9)
    silence = slice(2 * RATE + RATE // 10, 2 * RATE + 4 * RATE // 10)
    assert np.allclose(w[silence], np.max(w))


def _dataset() -> core.Dataset:
    x, y = _playing(np.random.default_rng(3))
    n = len(x)
    synth = 0.1 * np.random.default_rng(4).standard_normal(RATE)
    return core.Dataset(np.concatenate([x, synth]), np.concatenate([y, np.tanh(synth)]),
                        np.zeros(0), np.zeros(0), n_play=n)


MILD = SimpleNamespace(saturating=False, rate_hz=float(RATE))


def test_fitting_weight_balances_the_playing_only_when_asked():
    plain = core.fitting_weight(_dataset())
    n = _dataset().n_play
    assert np.all(plain[:n] == 1.0) and np.all(plain[n:] == core.SYNTH_WEIGHT)
    ds = core.with_level_balance(_dataset(), MILD)
    w = core.fitting_weight(ds)
    assert np.all(w[n:] == core.SYNTH_WEIGHT)  # the noise and sweeps as before
    assert np.array_equal(w[:n], core.level_balance(ds.x_fit[:n], ds.y_fit[:n], 2400))
    # a recorded pair (no playing/synthetic split): no weight at all, balanced or not
    pair = core.Dataset(ds.x_fit, ds.y_fit, np.zeros(0), np.zeros(0))
    assert core.with_level_balance(pair, MILD) is pair and core.fitting_weight(pair) is None


def test_only_a_capture_that_is_not_saturating_is_balanced():
    ds = _dataset()
    assert core.with_level_balance(ds, MILD).play_weight is not None
    assert core.with_level_balance(ds, SimpleNamespace(saturating=True, rate_hz=48e3)) is ds
    # from the probe's compression when the probe does not say (a .nam capture's)
    mild = SimpleNamespace(saturating=None, rate_hz=48e3, gain_db=np.array([10.0, 8, 5, 2]))
    hard = SimpleNamespace(saturating=None, rate_hz=48e3, gain_db=np.array([30.0, 20, 5, -8]))
    assert core.with_level_balance(ds, mild).play_weight is not None
    assert core.with_level_balance(ds, hard) is ds


def test_the_window_follows_the_rate():
    ds = _dataset()
    at_32k = core.with_level_balance(ds, SimpleNamespace(saturating=False, rate_hz=32e3))
    n = ds.n_play
    assert np.array_equal(at_32k.play_weight,
                          core.level_balance(ds.x_fit[:n], ds.y_fit[:n], 1600))


def test_short_or_silent_playing_is_weighted_plainly():
    rng = np.random.default_rng(5)
    x = 0.1 * rng.standard_normal(100)  # shorter than the window
    w = core.level_balance(x, np.tanh(x), 2400)
    assert w.shape == (100,) and np.all(np.isfinite(w)) and np.all(w > 0)
    assert np.isclose(np.sum((w * np.tanh(x)) ** 2), np.sum(np.tanh(x) ** 2))
    for silent_x, silent_y in ((np.zeros(5000), np.zeros(5000)), (x, np.zeros(100))):
        assert np.array_equal(core.level_balance(silent_x, silent_y, 2400),
                              np.ones(len(silent_x)))


def _validated(ds: core.Dataset) -> core.Dataset:
    x, y = _playing(np.random.default_rng(6))
    return core.Dataset(ds.x_fit, ds.y_fit, x, y, n_play=ds.n_play)


def test_validation_weighs_the_held_out_playing_half_way_on_a_mild_capture_only():
    ds = _validated(_dataset())
    mild = core.with_level_balance(ds, MILD)
    full = core.level_balance(ds.x_val, ds.y_val, 2400)
    assert np.array_equal(mild.val_weight, full ** core.VALIDATION_BALANCE)
    hard = core.with_level_balance(ds, SimpleNamespace(saturating=True, rate_hz=48e3))
    assert hard.val_weight is None
    # a dataset that shares another's validation keeps its weights (not computed again)
    other = core.share_validation(_dataset(), mild)
    assert core.with_level_balance(other, MILD).val_weight is mild.val_weight


def test_validation_counts_an_error_in_soft_playing_more_than_loudness_would(monkeypatch):
    """The same 5 % error only in the soft passage weighs more in the weighted validation
    ESR than in the plain one; only in the loud passage, less."""
    from pedaltool.fit.metrics import esr, esr_pre

    ds = core.with_level_balance(_validated(_dataset()), MILD)
    w = ds.val_weight
    for where, more in ((slice(RATE, 2 * RATE), True), (slice(0, RATE), False)):
        yh = ds.y_val.copy()
        yh[where] *= 1.05
        monkeypatch.setattr(core, "simulate", lambda model, x, yh=yh: yh)
        e, ep = core.validation_score(None, ds)
        assert (e, ep) == (esr(w * yh, w * ds.y_val), esr_pre(w * yh, w * ds.y_val))
        assert (e > esr(yh, ds.y_val)) is more
