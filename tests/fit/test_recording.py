"""Fitting from a DI / reamp WAV pair: automatic alignment and clear refusals."""

import numpy as np
import pytest
from fit_helpers import RATE, WienerHammerstein
from pedaltool import signals
from pedaltool.audio import write_wav
from pedaltool.errors import FitError
from pedaltool.fit import FitConfig, fit_recording
from pedaltool.fit.recording import align


def _pair(seconds=8.0, offset=300):
    di = signals.fitting_di(RATE, seconds, seed=99).astype(np.float64)
    wet = WienerHammerstein()(di).astype(np.float64)
    # the reamp was recorded `offset` samples late, with some lead-in
    wet = np.concatenate([np.zeros(offset), wet])
    return di, wet


def test_alignment_finds_the_recording_offset():
    di, wet = _pair(offset=300)
    d, t, lag = align(di, wet, RATE)
    # the system's own latency (4 samples) and its filters' delay are part of the lag
    assert 304 <= lag <= 308
    assert len(d) == len(t)


def test_mismatched_pair_is_refused():
    di, _ = _pair()
    other = signals.fitting_di(RATE, 8.0, seed=123).astype(np.float64)
    with pytest.raises(FitError, match="do not match"):
        align(di, np.tanh(5 * other), RATE, "di.wav / other.wav")


@pytest.mark.slow
def test_fit_from_wav_pair(tmp_path):
    di, wet = _pair()
    write_wav(tmp_path / "di.wav", di, RATE)
    write_wav(tmp_path / "reamp.wav", wet, RATE)
    res = fit_recording(tmp_path / "di.wav", tmp_path / "reamp.wav",
                        FitConfig(effort="quick", flavours=("wh",)))
    assert res.score.esr < 0.1, res.score  # held-out 20 % of the pair, device-exact
    assert res.baseline.esr > res.score.esr


def test_pair_with_different_rates_is_refused(tmp_path):
    di, wet = _pair(seconds=4.0)
    write_wav(tmp_path / "di.wav", di, RATE)
    write_wav(tmp_path / "reamp.wav", wet[::2], RATE // 2)
    with pytest.raises(FitError, match="sample rates differ"):
        fit_recording(tmp_path / "di.wav", tmp_path / "reamp.wav")


def test_silent_reamp_is_refused():
    di, wet = _pair(seconds=4.0)
    with pytest.raises(FitError, match="silent"):
        align(di, np.zeros_like(wet), RATE, "di.wav / silent.wav")
