"""The many-signal biquad kernel matches scipy's sosfilt bit for bit."""

import numpy as np
import pytest
from pedaltool.fit.blocks import Section, cascade_sos
from pedaltool.fit.colfilter import sosfilt_bank, sosfilt_rows
from scipy import signal


def _post_eq(shift: float = 0.0) -> np.ndarray:
    """A post-EQ like the fitter's: 2nd-order high-pass at 30 Hz, peaks, 2nd-order low-pass."""
    secs = [Section("hp2", np.array([np.log2(30.0 + shift), -0.5])),
            Section("peak", np.array([np.log2(700.0), 6.0 + shift, 0.5])),
            Section("peak", np.array([np.log2(3000.0), -4.0, 1.0])),
            Section("lp2", np.array([np.log2(9000.0), -0.3]))]
    return cascade_sos(secs, 48000.0)


def test_one_shared_cascade_is_bit_identical_to_sosfilt():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20000, 7))
    x[:, 2] = 0.0  # an all-zero signal stays zero
    x[:500, 4] = 0.0  # a signal that starts late
    sos = _post_eq()
    y = sosfilt_bank(sos, x.copy())
    for j in range(x.shape[1]):
        assert np.array_equal(y[:, j], signal.sosfilt(sos, x[:, j]))
    assert not np.any(y[:, 2])


def test_a_cascade_per_signal_is_bit_identical_to_sosfilt():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20000, 5))
    bank = np.stack([_post_eq(0.5 * j) for j in range(5)], axis=-1)
    y = sosfilt_bank(bank, x.copy())
    for j in range(5):
        assert np.array_equal(y[:, j], signal.sosfilt(_post_eq(0.5 * j), x[:, j]))


def test_signals_given_as_rows_come_out_as_the_same_columns_bit_for_bit():
    rng = np.random.default_rng(5)
    rows = rng.standard_normal((6, 20000))
    rows[3] = 0.0
    bank = np.stack([_post_eq(0.5 * j) for j in range(6)], axis=-1)
    want = sosfilt_bank(bank, np.ascontiguousarray(rows.T))
    out = np.full((20000, 6), np.nan)
    assert sosfilt_rows(bank, rows, out) is out
    assert np.array_equal(out, want)
    assert np.array_equal(sosfilt_rows(_post_eq(), rows), sosfilt_bank(_post_eq(), rows.T.copy()))
    with pytest.raises(ValueError, match="out must be"):
        sosfilt_rows(bank, rows, np.empty((6, 20000)))
    with pytest.raises(ValueError, match="sosfilt_rows: sos of shape"):
        sosfilt_rows(bank[:, :, :5], rows)


def test_it_filters_in_place_and_refuses_what_it_cannot():
    x = np.zeros((100, 3))
    x[0] = 1.0
    assert sosfilt_bank(_post_eq(), x) is x
    assert x[1, 0] != 0.0
    with pytest.raises(ValueError, match="C-contiguous"):
        sosfilt_bank(_post_eq(), np.zeros((3, 100)).T)
    with pytest.raises(ValueError, match="normalised"):
        sosfilt_bank(_post_eq() * 2.0, np.zeros((100, 3)))
    with pytest.raises(ValueError, match="signals"):
        sosfilt_bank(np.stack([_post_eq()] * 2, axis=-1), np.zeros((100, 3)))
