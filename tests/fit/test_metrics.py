import numpy as np
from pedaltool.fit import metrics


def test_esr_identical_is_zero_and_silence_is_one():
    y = np.random.default_rng(0).standard_normal(4000)
    assert metrics.esr(y, y) == 0.0
    assert metrics.esr(np.zeros_like(y), y) == 1.0
    assert abs(metrics.esr(0.9 * y, y) - 0.01) < 1e-12


def test_pre_emphasis_weights_treble():
    rng = np.random.default_rng(1)
    y = rng.standard_normal(8000)
    hf_err = np.zeros_like(y)
    hf_err[::2] = 0.05
    hf_err[1::2] = -0.05  # Nyquist-rate error: boosted by 1 + 0.85
    assert metrics.esr_pre(y + hf_err, y) > metrics.esr(y + hf_err, y)


def test_log_spectral_distance_zero_for_identical_and_6db_for_double():
    y = np.random.default_rng(2).standard_normal(20000)
    assert metrics.log_spectral_distance_db(y, y) == 0.0
    assert abs(metrics.log_spectral_distance_db(2 * y, y) - 6.02) < 0.05
    m = metrics.all_metrics(y, y)
    assert set(m) == {"esr", "esr_pre", "lsd_db"}


def test_one_target_scores_several_outputs_as_separate_calls_do():
    """Target caches the target's spectra; every output's score must not depend on what was
    scored before it, and a shorter output is scored against the same length of target."""
    rng = np.random.default_rng(3)
    y = rng.standard_normal(30000)
    outs = [y + 0.1 * rng.standard_normal(30000), np.tanh(2 * y), 0.5 * y]
    target = metrics.Target(y)
    for a in outs + outs[::-1]:
        fresh = {"esr": metrics.esr(a, y), "esr_pre": metrics.esr_pre(a, y),
                 "lsd_db": metrics.Target(y).lsd_db(a)}
        assert target.metrics(a) == fresh
    short = outs[1][:20000]
    assert target.lsd_db(short) == metrics.Target(y[:20000]).lsd_db(short)
    assert target.lsd_db(short) != target.lsd_db(outs[1])
