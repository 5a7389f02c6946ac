import numpy as np
from fit_helpers import RATE, peak_sos
from pedaltool.fit import linear
from pedaltool.fit.blocks import cascade_sos, response_db
from scipy import signal


def test_biquad_cascade_fit_recovers_a_known_response():
    target_sos = np.vstack([peak_sos(400, 8, 1.2), peak_sos(3000, -5, 2.0)])
    grid = linear.log_grid(RATE)
    target = response_db(target_sos, grid, RATE)
    secs, off = linear.fit_cascade_db(target, grid, ["peak", "peak"], RATE)
    got = response_db(cascade_sos(secs, RATE), grid, RATE) + off
    assert np.max(np.abs(got - target)) < 0.5


def test_bla_and_latency_of_a_delayed_filter():
    sos = peak_sos(1000, 6, 1.0)
    x = np.random.default_rng(3).standard_normal(RATE)
    y = np.concatenate([np.zeros(7), signal.sosfilt(sos, x)])[:RATE]
    f, h, coh = linear.bla(x, y, RATE)
    assert linear.latency_from_bla(h) == 7
    k = np.argmin(np.abs(f - 1000))
    assert abs(20 * np.log10(abs(h[k])) - 6.0) < 0.3
    assert np.median(coh) > 0.99
