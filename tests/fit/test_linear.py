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


def test_section_responses_are_each_sections_response_to_the_bit():
    """The EQ fits' Jacobian takes every stepped copy of a section in one broadcast call; it
    must give exactly what one call per section gives, or the fits would change."""
    from pedaltool.fit.blocks import (
        N_PARAMS,
        response_db,
        section_responses_db,
        section_sos,
        unit_delay,
    )

    rate, grid = 48000.0, np.geomspace(20.0, 20000.0, 240)
    rng = np.random.default_rng(5)
    for kind in ("peak", "hp1", "hp2", "lp2", "lshelf", "hshelf"):
        n = N_PARAMS[kind]
        params = [np.concatenate([[rng.uniform(4.5, 14.0)], rng.uniform(-12, 12, n - 1)])
                  for _ in range(50)]
        sos = np.array([section_sos(kind, p, rate) for p in params])
        rows = section_responses_db(sos, unit_delay(grid, rate))
        one_by_one = np.array([response_db(s[None, :], grid, rate) for s in sos])
        assert rows.shape == (50, len(grid))
        assert np.array_equal(rows.view(np.int64), one_by_one.view(np.int64)), kind
