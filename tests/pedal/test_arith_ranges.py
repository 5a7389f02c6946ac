"""Every intermediate of the arithmetic stays within signed 32 bits (checked on the 64-bit host,
where nothing would wrap), on adversarial full-scale input with parameters at their limits."""

import numpy as np
import pytest
from pedal_helpers import adversarial_int16, extreme_pedal, q_biquad
from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.quantise import QuantisedPedal, check_quantised
from pedaltool.pedal.simulate import simulate


def test_extreme_pedal_is_inside_the_contract():
    assert check_quantised(extreme_pedal()) is None


@pytest.mark.parametrize("knobs", [None, {"drive": 0.0, "tone": 0.0, "level": 0.0},
                                   {"drive": 1.0, "tone": 1.0, "level": 1.0}])
def test_no_intermediate_leaves_int32(range_check, knobs):
    x = adversarial_int16(6000)
    y = simulate(extreme_pedal(), x, knobs, engine="reference")
    assert y.dtype == np.int16 and len(y) == len(x)
    assert np.any(y != 0)


def test_range_check_can_fail(range_check):
    """A section beyond the coefficient-sum limit does overflow int32: the check catches it."""
    bad = QuantisedPedal([q_biquad((7.9, -7.9, 7.9), (0.0, 0.0), (0, 0))], 48000, "bad")
    assert "coefficient sum" in check_quantised(bad)  # the reader rejects it
    c = range_check.biquad_kernel_coefs(list(bad.stages[0].p[:5]), 0, 0)
    buf = [int(v) for v in adversarial_int16(512)]
    with pytest.raises(OverflowError):
        range_check.biquad_block(buf, len(buf), c, [0] * 6, 0)


@pytest.mark.parametrize("first", [32767, -32768])
def test_a_section_at_the_readers_coefficient_sum_limit_stays_inside_int32(range_check, first):
    """The largest coefficient sum the reader accepts, driven to its worst case (b = (c, -c, c)
    on a full-scale input alternating in sign: every product at full scale with one sign),
    stays inside 32 bits; one LSB more is refused by the reader. (A limit raised to 17 would
    overflow here: 17 * 2^12 * 2^15 > 2^31.)"""
    from pedaltool.pedal.quantise import QStage

    limit = fw_module("pedalfile").BQ_SUM_LIMIT  # Q26
    c = limit // 3
    at = QStage("biquad", None, (limit - 2 * c, -c, c, 0, 0, 0, 0))  # the sum: the limit
    assert check_quantised(QuantisedPedal([at], 48000, "at")) is None
    over = QStage("biquad", None, (limit - 2 * c + 1, -c, c, 0, 0, 0, 0))
    assert "coefficient sum" in check_quantised(QuantisedPedal([over], 48000, "over"))
    other = -32768 if first > 0 else 32767
    buf = [first if i % 2 == 0 else other for i in range(64)]
    range_check.biquad_block(buf, len(buf), range_check.biquad_kernel_coefs(
        list(at.p[:5]), 0, 0), [0] * 6, 0)
    assert set(buf[2:]) == {32767, -32768}  # saturated: the products were at full scale


def test_knob_scaling_stays_inside_mantissa_limits():
    arith = fw_module("arith")
    for m in (1, 1000, 16384, 32767):
        for lq in range(-8192, 1, 97):
            assert 0 <= arith.scale_by_log2(m, lq) <= m
    mant = [arith.pow2_q(lq)[0] for lq in range(0, 1024)]
    assert min(mant) >= 16384 and max(mant) <= 32768
    assert np.all(np.diff(mant) >= 0)  # monotonic: the knob never jumps backwards
    # accuracy of the dB table: within 0.002 dB
    exact = 16384 * 2 ** (np.arange(1024) / 1024)
    assert np.max(np.abs(20 * np.log10(np.array(mant) / exact))) < 0.002
