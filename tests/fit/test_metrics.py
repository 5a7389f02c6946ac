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


def test_the_metrics_are_the_issue_s_definitions():
    """ESR = sum((y_hat - y)^2) / sum(y^2); the pre-emphasised one after y[n] - 0.85 y[n-1];
    the log-spectral distance is the mean over STFTs of 256, 1024 and 4096 points at 75 %
    overlap of the RMS dB difference (bins floored 80 dB under the target's peak)."""
    from scipy import signal

    rng = np.random.default_rng(5)
    y = rng.standard_normal(48000)
    y_hat = y + 0.1 * np.cumsum(rng.standard_normal(48000)) / 100

    def pre(v):
        return np.concatenate([[v[0]], v[1:] - 0.85 * v[:-1]])

    assert metrics.esr(y_hat, y) == np.sum((y_hat - y) ** 2) / np.sum(y ** 2)
    ref = np.sum((pre(y_hat) - pre(y)) ** 2) / np.sum(pre(y) ** 2)
    assert abs(metrics.esr_pre(y_hat, y) - ref) < 1e-12 * ref
    dists = []
    for n in (256, 1024, 4096):
        b = np.abs(signal.stft(y, nperseg=n, noverlap=3 * n // 4, boundary=None)[2])
        a = np.abs(signal.stft(y_hat, nperseg=n, noverlap=3 * n // 4, boundary=None)[2])
        floor = b.max() * 1e-4
        la, lb = (20 * np.log10(np.maximum(m, floor)) for m in (a, b))
        dists.append(np.sqrt(np.mean((la - lb) ** 2)))
    assert len(set(np.round(dists, 3))) == 3  # the resolutions disagree: each one counts
    assert abs(metrics.log_spectral_distance_db(y_hat, y) - np.mean(dists)) < 1e-9
