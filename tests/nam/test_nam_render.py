"""Chunked rendering, the architectures without a Core reference file, and the loader's facts."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from pedaltool import nam
from pedaltool.errors import NamFileError
from pedaltool.nam import synth
from pedaltool.nam.slimmable import select_submodel

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"


def _signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000.0
    return (0.3 * rng.standard_normal(n) * np.sin(2 * np.pi * 3 * t) ** 2
            + 0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _cuts(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(set(rng.integers(1, n, 25).tolist()) | {1, 2, 17, 4093})


CHUNK_CASES = {
    "a1_standard": lambda: nam.load(MODELS / "tim_r_ts9.nam"),
    "a1_feather": lambda: nam.load(MODELS / "peter_n_hm2_swede_feather.nam"),
    "a2_container": lambda: nam.load(MODELS / "core_A2.nam"),
    "a2_lite": lambda: nam.load(MODELS / "core_A2.nam", slim=0.0),
    "all_features": lambda: nam.load(MODELS / "core_wavenet_a2_max.nam"),
    "condition_dsp": lambda: nam.load(MODELS / "core_wavenet_condition_dsp.nam"),
    "lstm": lambda: nam.load(MODELS / "core_lstm.nam"),
    "lstm_2x8": lambda: nam.load_dict(synth.lstm(8, 2)),
    "convnet_bn": lambda: nam.load_dict(synth.convnet()),
    "linear": lambda: nam.load_dict(synth.linear()),
}


@pytest.mark.parametrize("case", sorted(CHUNK_CASES))
def test_chunked_rendering_is_identical_to_whole_signal(case):
    m = CHUNK_CASES[case]()
    x = _signal(12000)
    whole = m.render(x, block=len(x))
    chunks = np.split(x, _cuts(len(x), seed=len(case)))
    chunked = np.concatenate(list(m.render_chunks(chunks)))
    # equal up to float32 rounding: OpenBLAS picks its sgemm kernel by matrix size (a
    # small-matrix kernel below a size threshold, on some CPUs), so a block's width can change
    # the last bits. A state carried wrongly across a cut would be off by orders of magnitude
    # more than this (a few ulps of the peak)
    tol = 1e-5 * float(np.max(np.abs(whole)))
    assert np.max(np.abs(whole - chunked)) <= tol
    assert np.max(np.abs(whole - m.render(x))) <= tol  # the default block size too


@pytest.mark.parametrize("use_numba", [False, True])
def test_lstm_numpy_and_numba_paths_agree_with_core(use_numba, reference_dir):
    from pedaltool.audio import read_wav

    m = nam.load(MODELS / "core_lstm.nam")
    m.dsp.use_numba = use_numba
    x = read_wav(reference_dir / "probe.wav").samples[:20000]
    ref = np.fromfile(reference_dir / "core_outputs" / "core_lstm.f32", "<f4")[:20000]
    y = m.render(x)
    assert np.max(np.abs(y - ref)) < 1e-5


def test_lstm_numpy_and_numba_paths_agree_on_a_wide_lstm():
    x = _signal(3000)
    a = nam.load_dict(synth.lstm(24))
    b = nam.load_dict(synth.lstm(24))
    a.dsp.use_numba, b.dsp.use_numba = False, True
    assert np.max(np.abs(a.render(x) - b.render(x))) < 1e-6


def test_linear_uses_cores_tap_order():
    # Core's tools/test/test_linear.cpp: weights {0.5, -0.25, 0.125}, input 1, 2, 3
    doc = {"version": "0.5.0", "architecture": "Linear",
           "config": {"receptive_field": 3, "bias": False}, "weights": [0.5, -0.25, 0.125]}
    y = nam.load_dict(doc).render(np.array([1.0, 2.0, 3.0], np.float32))
    assert np.allclose(y, [0.5, 0.75, 1.125])


def test_convnet_matches_a_float64_reference():
    doc = synth.convnet(channels=3, dilations=(1, 2, 4), batchnorm=True)
    m = nam.load_dict(doc)
    x = _signal(3000)
    w = np.array(doc["weights"])
    # straightforward reference: zero history + prewarm is the steady state for zero input
    pad = np.concatenate([np.zeros(m.prewarm_samples + 64), x.astype(np.float64)])
    pos, y, cin = 0, pad[None, :], 1
    for d in (1, 2, 4):
        k = w[pos:pos + 3 * cin * 2].reshape(3, cin, 2)
        pos += 3 * cin * 2
        mean, var, g, b = (w[pos + 3 * i:pos + 3 * i + 3] for i in range(4))
        eps = w[pos + 12]
        pos += 13
        prev = np.concatenate([np.zeros((cin, d)), y[:, :-d]], axis=1)
        z = k[:, :, 0] @ prev + k[:, :, 1] @ y
        scale = g / np.sqrt(eps + var)
        z = scale[:, None] * z + (b - scale * mean)[:, None]
        y, cin = np.tanh(z), 3
    out = (w[pos:pos + 3] @ y + w[pos + 3])[-len(x):]
    assert np.max(np.abs(m.render(x) - out)) < 1e-5


def test_head_scale_is_the_last_weight_not_the_config_value():
    doc = json.loads((MODELS / "core_wavenet.nam").read_text())
    x = _signal(2000)
    base = nam.load_dict(doc).render(x)
    d2 = copy.deepcopy(doc)
    d2["config"]["head_scale"] = 123.0
    assert np.array_equal(nam.load_dict(d2).render(x), base)
    d3 = copy.deepcopy(doc)
    d3["weights"][-1] *= 2
    assert np.allclose(nam.load_dict(d3).render(x), 2 * base, rtol=1e-5, atol=1e-7)


def test_a1_preset_sizes_match_the_published_table():
    # nam.md section 3: params, MACs/sample, receptive field
    table = {"standard": (13802, 13320), "lite": (6554, 6228), "feather": (3026, 2808),
             "nano": (842, 732)}
    for preset, (params, macs) in table.items():
        m = nam.load_dict(synth.a1_wavenet(preset))
        assert (m.num_params, m.macs_per_sample, m.receptive_field) == (params, macs, 4093)
    m = nam.load_dict(synth.lstm(24))
    assert (m.num_params, m.macs_per_sample, m.receptive_field) == (2569, 2424, 1)


def test_a2_facts_and_container_selection():
    full = nam.load(MODELS / "core_A2.nam")
    lite = nam.load(MODELS / "core_A2.nam", slim=0.2)
    assert full.receptive_field == 6347 and full.macs_per_sample == 11776
    assert lite.macs_per_sample == 1731
    assert full.metadata.input_level_dbu == 14.76 and nam.input_level_dbu(full) == 14.76
    assert select_submodel([0.5, 1.0], None) == 1
    assert select_submodel([0.5, 1.0], 0.0) == 0
    assert select_submodel([0.5, 1.0], 0.5) == 1
    assert select_submodel([0.33, 0.66, 1.0], 1.0) == 2


def test_slimmable_wavenet_selects_channels_like_core():
    path = MODELS / "core_slimmable_wavenet.nam"  # allowed_channels [1, 2, 3]
    sizes = {s: nam.load(path, slim=s).macs_per_sample for s in (0.0, 0.34, 0.7, 1.0)}
    full = nam.load(path).macs_per_sample
    assert sizes[1.0] == sizes[0.7] == full
    assert sizes[0.0] < sizes[0.34] < full
    x = _signal(4000)
    y = nam.load(path, slim=0.0).render(x)
    assert np.all(np.isfinite(y)) and np.std(y) > 0


def test_missing_sample_rate_means_48k_and_version_rules():
    doc = json.loads((MODELS / "core_wavenet.nam").read_text())
    del doc["sample_rate"]
    m = nam.load_dict(doc)
    assert m.sample_rate == 48000.0 and any("48000" in n for n in m.notes)
    doc["version"] = "0.7.9"
    assert any("partially supported" in n for n in nam.load_dict(doc).notes)
    for bad in ("0.8.0", "1.0.0", "0.4.9", "0.5", "latest"):
        doc["version"] = bad
        with pytest.raises(NamFileError, match="version"):
            nam.load_dict(doc)


def test_metadata_is_parsed():
    m = nam.load(MODELS / "core_lstm.nam")
    md = m.metadata
    assert md.name == "Test LSTM" and md.gear_type == "amp" and md.tone_type == "clean"
    assert md.input_level_dbu == 18.3 and md.output_level_dbu == 12.3
    assert nam.input_level_dbu(m) == 18.3
    assert nam.input_level_dbu(nam.load(MODELS / "tim_r_ts9.nam")) == 12.0


def test_render_is_deterministic_and_short_signals_work():
    m = nam.load(MODELS / "tim_r_ts9.nam")
    x = _signal(48000)
    assert np.array_equal(m.render(x), m.render(x))
    assert m.render(x[:1]).shape == (1,)
    assert m.render(x[:0]).shape == (0,)
    assert np.array_equal(m.render(x[:100]), m.render(x)[:100])
