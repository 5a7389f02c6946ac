"""pedaltool.fit.lag: the one cross-correlation that alignment, compare and the demo use."""

import numpy as np
import pytest
from pedaltool.fit.lag import cross_correlation, lag_window


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("shift", [-300, 0, 7, 4096])
def test_the_peak_is_at_the_lag_of_y_behind_ref(whiten, shift):
    ref = np.random.default_rng(3).standard_normal(20000)
    y = np.roll(ref, shift)  # y[n + shift] = ref[n]: y comes ``shift`` samples later
    lags, vals = lag_window(np.abs(cross_correlation(y, ref, whiten)), 0, 5000)
    assert lags[np.argmax(vals)] == shift


def test_a_lag_window_holds_each_lag_once_and_no_more():
    cc = np.arange(100.0)
    lags, vals = lag_window(cc, 0, 3)
    assert sorted(lags) == [-3, -2, -1, 0, 1, 2, 3]
    assert list(vals) == [cc[k] for k in lags]  # negative lags from the end
    assert sorted(lag_window(cc, 4, 5)[0]) == [-5, -4, 4, 5]
