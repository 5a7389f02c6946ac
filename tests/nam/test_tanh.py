"""The renderer's float32 tanh (pedaltool.nam._tanh) against the true tanh."""

import numpy as np
import pytest
from pedaltool.nam._tanh import tanh_inplace


def _ulp_error(x: np.ndarray) -> np.ndarray:
    """|kernel(x) - tanh(x)| in float32 ulps of the true value (float64 tanh)."""
    y = tanh_inplace(x.copy())
    ref = np.tanh(x.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.abs(y.astype(np.float64) - ref) / ulp


def test_within_one_ulp_over_the_float32_range_that_matters():
    # a stride through every float32 from 0 to 9.5 (beyond 9.03 tanh is 1 in float32), and
    # every float32 near 0.5, 3.9 and 8.2, where rational fits and numpy are worst
    grid = np.arange(0, np.float32(9.5).view(np.int32), 997, dtype=np.int32).view(np.float32)
    near = [np.arange(-20000, 20000, dtype=np.int32) + np.float32(c).view(np.int32)
            for c in (0.5, 3.87, 8.24)]
    x = np.concatenate([grid] + [n.view(np.float32) for n in near])
    err = _ulp_error(x)
    assert err.max() <= 1.0, f"{err.max():.2f} ulp at {x[err.argmax()]}"
    assert err.mean() < 0.1


def test_odd_and_exact_at_the_ends():
    x = np.random.default_rng(1).standard_normal(100_000).astype(np.float32) * 4
    assert np.array_equal(tanh_inplace(-x), -tanh_inplace(x.copy()))
    special = np.array([0.0, -0.0, np.inf, -np.inf, 9.04, 40.0, -1e30, 1e-30, -1e-40],
                       np.float32)
    y = tanh_inplace(special.copy())
    assert np.array_equal(y, np.tanh(special.astype(np.float64)).astype(np.float32))
    assert np.array_equal(np.signbit(y), np.signbit(special))
    assert np.isnan(tanh_inplace(np.array([np.nan], np.float32))[0])


def test_monotonic_on_a_dense_grid():
    x = np.linspace(-10, 10, 2_000_001, dtype=np.float32)
    assert np.all(np.diff(tanh_inplace(x.copy())) >= 0)


@pytest.mark.parametrize("make", [
    lambda a: a[:, ::2],  # not contiguous
    lambda a: a.astype(np.float64),
    lambda a: a.T,  # Fortran order
    lambda a: a[:0],  # empty
])
def test_other_arrays_are_tanh_in_place(make):
    a = make(np.random.default_rng(2).standard_normal((6, 40)).astype(np.float32) * 3)
    want = np.tanh(a)
    got = tanh_inplace(a)
    assert got is a and np.allclose(a, want, rtol=0, atol=2e-7)


def test_a_2d_block_is_computed_in_place():
    a = np.random.default_rng(3).standard_normal((16, 64)).astype(np.float32) * 3
    ref = np.tanh(a.astype(np.float64))
    out = tanh_inplace(a)
    assert out is a and np.max(np.abs(a - ref)) < 1.2e-7
