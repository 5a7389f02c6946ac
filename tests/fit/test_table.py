"""The hat basis of the waveshaper table: what np.interp and the firmware interpolate."""

import numpy as np
from pedaltool.fit.table import hat_basis_reached, hat_basis_rows, table_lookup


def test_reached_basis_is_the_interpolation_and_leaves_spare_columns_zero():
    rng = np.random.default_rng(0)
    k = 17
    u = np.concatenate([rng.uniform(-0.4, 0.7, 5000), [-1.3, 1.2, 0.0, 0.125]])  # clamped too
    b, reached = hat_basis_reached(u, k, spare=2)
    knots = np.linspace(-1.0, 1.0, k)
    assert b.shape == (len(u), int(reached.sum()) + 2) and b.flags.c_contiguous
    assert not np.any(b[:, -2:])
    # reached = the knots u comes near: the two around every sample, nothing else
    i, w = hat_basis_rows(u, k)
    assert set(np.flatnonzero(reached)) == set(i) | set(i + 1)
    # each row holds 1 - w and w, exactly, in the columns of its two knots
    col = np.cumsum(reached) - 1
    rows = np.arange(len(u))
    assert np.array_equal(b[rows, col[i]], 1.0 - w) and np.array_equal(b[rows, col[i + 1]], w)
    assert np.count_nonzero(b) <= 2 * len(u)
    values = rng.standard_normal(k)
    assert np.allclose(b[:, :-2] @ values[reached], np.interp(u, knots, values), atol=1e-12)


def test_basis_built_in_a_reused_buffer_is_the_same():
    rng = np.random.default_rng(1)
    buf = np.full(3000 * 35, np.nan)
    for lo, hi in ((-0.3, 0.3), (-0.9, 0.2), (-0.05, 0.05)):  # fewer and more knots reached
        u = rng.uniform(lo, hi, 3000)
        fresh, reached = hat_basis_reached(u, 33, 1)
        fresh[:, -1] = 7.0  # the caller's spare column, filled after
        again, reached2 = hat_basis_reached(u, 33, 1, buf)
        again[:, -1] = 7.0
        assert np.array_equal(reached, reached2) and np.array_equal(fresh, again)
        assert again.flags.c_contiguous and np.shares_memory(again, buf)


def test_table_lookup_is_np_interp_bit_for_bit():
    # the fitter's forward model swapped np.interp for it: a fit must not change by one bit
    rng = np.random.default_rng(1)
    for k in (5, 17, 64, 65, 257):
        knots = np.linspace(-1.0, 1.0, k)
        values = rng.standard_normal(k)
        for u in (rng.uniform(-1.3, 1.3, 20000), 0.01 * rng.standard_normal(5000), knots,
                  np.nextafter(knots, 2.0), np.nextafter(knots, -2.0),
                  rng.integers(-1000, 1001, 5000) / 1000.0,
                  np.array([np.nan, -np.inf, np.inf, -1.0, 1.0, 0.0, -0.0, 1e-300])):
            want = np.interp(u, knots, values)
            got = table_lookup(u, knots, values)
            assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True), k
