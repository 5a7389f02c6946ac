"""The fused residual-rows kernel equals the numpy formula it replaced, to the bit."""

import numpy as np
import pytest
from pedaltool.fit.keptrows import kept_rows_into


def _numpy_rows(cols, minus, w, k, ny, ny_pre):
    n = (cols.shape[0] + k - 1) // k
    sub, prev = cols[::k], cols[k - 1::k][: n - 1]
    if minus is not None:
        sub, prev = sub - minus[::k, None], prev - minus[k - 1::k, None][: n - 1]
    pre = sub.copy()
    pre[1:] -= 0.85 * prev
    return sub * w[:, None] / ny, pre * w[:, None] / ny_pre


@pytest.mark.parametrize("samples, stride", [(6001, 6), (6000, 6), (997, 8), (50, 1)])
@pytest.mark.parametrize("with_minus", [False, True])
def test_rows_equal_the_numpy_formula(samples, stride, with_minus):
    rng = np.random.default_rng(samples + stride)
    cols = rng.standard_normal((samples, 5))
    minus = rng.standard_normal(samples) if with_minus else None
    n = (samples + stride - 1) // stride
    for w in (np.ones(n), rng.uniform(0.1, 1.0, n)):
        raw, pre = _numpy_rows(cols, minus, w, stride, 3.7, 1.9)
        out = kept_rows_into(np.full((2 * n + 3, 5), np.nan), cols, minus, w, stride, 3.7, 1.9)
        assert np.array_equal(out[:n], raw) and np.array_equal(out[n:2 * n], pre)
        assert np.all(np.isnan(out[2 * n:]))  # rows past the error rows are left alone


def test_columns_go_where_dest_says():
    rng = np.random.default_rng(1)
    cols = rng.standard_normal((600, 3))
    n = 100
    out = np.zeros((2 * n, 6))
    kept_rows_into(out, cols, None, np.ones(n), 6, 1.0, 1.0, np.array([0, 2, 5]))
    raw, pre = _numpy_rows(cols, None, np.ones(n), 6, 1.0, 1.0)
    assert np.array_equal(out[:n, [0, 2, 5]], raw) and np.array_equal(out[n:, [0, 2, 5]], pre)
    assert not np.any(out[:, [1, 3, 4]])


def test_shapes_that_would_write_outside_out_are_refused():
    cols = np.zeros((600, 3))
    n = 100
    with pytest.raises(ValueError, match="shapes do not fit"):
        kept_rows_into(np.zeros((2 * n - 1, 3)), cols, None, np.ones(n), 6, 1.0, 1.0)
    with pytest.raises(ValueError, match="shapes do not fit"):
        kept_rows_into(np.zeros((2 * n, 3)), cols, None, np.ones(n - 1), 6, 1.0, 1.0)
    with pytest.raises(ValueError, match="shapes do not fit"):
        kept_rows_into(np.zeros((2 * n, 3)), cols, None, np.ones(n), 6, 1.0, 1.0,
                       np.array([0, 1, 3]))
    with pytest.raises(ValueError, match="shapes do not fit"):
        kept_rows_into(np.zeros((2 * n, 3)), cols, np.zeros(599), np.ones(n), 6, 1.0, 1.0)
