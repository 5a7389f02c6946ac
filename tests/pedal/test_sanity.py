"""The sanity check that guards every written .pedal."""

import numpy as np
import pytest
from pedal_helpers import fitted_looking, q_biquad
from pedaltool.errors import PedalFormatError
from pedaltool.pedal import model as M
from pedaltool.pedal import quantise, sanity_check
from pedaltool.pedal.quantise import QStage, QuantisedPedal


def test_fitted_model_passes(fitted_qp):
    sanity_check(fitted_qp)


def test_near_unstable_filter_is_refused():
    qp = QuantisedPedal([q_biquad((1e-6, 0, 0), (-1.99998, 0.99999))], 48000, "ring")
    with pytest.raises(PedalFormatError, match="ring: biquad pole too close"):
        sanity_check(qp)


def test_excessive_gain_is_refused():
    qp = quantise(M.PedalModel([M.GainStage(70.0)], 48000, name="loud"))
    with pytest.raises(PedalFormatError, match="loud: small-signal gain"):
        sanity_check(qp)


def test_dc_after_silence_is_refused():
    """A table whose rest point is far from zero outputs DC in silence: refused."""
    vals = np.full(257, 0.5)
    qp = quantise(M.PedalModel([M.TableStage(1.0, -1, 1, vals)], 48000, name="dc"))
    with pytest.raises(PedalFormatError, match="dc: output sits at a DC offset of -6.0 dBFS"):
        sanity_check(qp)


def test_self_oscillation_is_refused():
    """A resonance that rings for seconds (poles at |z| = 0.99998 at 1 kHz) is refused."""
    r, w = 0.99998, 2 * np.pi * 1000 / 48000
    qp = QuantisedPedal([q_biquad((0.01, 0, 0), (-2 * r * np.cos(w), r * r), (-1, 1))], 48000,
                        "ring")
    with pytest.raises(PedalFormatError, match="ring: output does not decay"):
        sanity_check(qp)


def test_contract_violation_is_refused():
    qp = QuantisedPedal([QStage("delay", None, (99999,))], 48000, "far")
    with pytest.raises(PedalFormatError, match="far: stage 0: delay: out of range"):
        sanity_check(qp)


def test_fitted_looking_at_every_rate_passes():
    for rate in (44100, 32000):
        sanity_check(quantise(fitted_looking(rate, env=True, mix=True)))
