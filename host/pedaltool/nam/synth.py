"""Synthetic .nam documents with seeded random weights: the A1 presets, LSTM presets and small
models of every other architecture. Used by tests and benchmarks (not real captures)."""

from __future__ import annotations

import numpy as np

A1_PRESETS = {"standard": 16, "lite": 12, "feather": 8, "nano": 4}


def _doc(arch: str, config: dict, n_weights: int, seed: int, scale: float = 0.3,
         version: str = "0.5.4", sample_rate: float | None = 48000.0) -> dict:
    rng = np.random.default_rng(seed)
    d = {"version": version, "architecture": arch, "config": config,
         "weights": [float(v) for v in rng.normal(0.0, scale, n_weights)]}
    if sample_rate is not None:
        d["sample_rate"] = sample_rate
    return d


def a1_wavenet(preset: str = "standard", seed: int = 0) -> dict:
    """An A1 WaveNet (standard/lite/feather/nano shapes, nam.md §3) with random weights."""
    from pedaltool.nam.model import load_dict  # sizes the weight list by a dry run

    c = A1_PRESETS[preset]
    if preset == "standard":
        d0, d1 = [2 ** i for i in range(10)], [2 ** i for i in range(10)]
        h0 = 8
    else:
        d0 = [2 ** i for i in range(7)]
        d1 = [128, 256, 512] + [2 ** i for i in range(10)]
        h0 = c // 2
    c1 = h0
    config = {
        "layers": [
            {"input_size": 1, "condition_size": 1, "head_size": h0, "channels": c,
             "kernel_size": 3, "dilations": d0, "activation": "Tanh", "gated": False,
             "head_bias": False},
            {"input_size": c, "condition_size": 1, "head_size": 1, "channels": c1,
             "kernel_size": 3, "dilations": d1, "activation": "Tanh", "gated": False,
             "head_bias": True},
        ],
        "head": None, "head_scale": 0.02,
    }
    return _sized("WaveNet", config, seed, load_dict, scale=0.2)


def lstm(hidden: int = 24, layers: int = 1, seed: int = 0) -> dict:
    """An LSTM capture shape (A1 presets: 1x24, 2x8, 1x16, 1x12) with random weights."""
    n = sum(4 * hidden * ((1 if i == 0 else hidden) + hidden) + 4 * hidden + 2 * hidden
            for i in range(layers)) + hidden + 1
    return _doc("LSTM", {"input_size": 1, "hidden_size": hidden, "num_layers": layers}, n, seed,
                scale=0.2)


def convnet(channels: int = 4, dilations=(1, 2, 4), batchnorm: bool = True,
            activation: str = "Tanh", seed: int = 0) -> dict:
    per = []
    for i, _ in enumerate(dilations):
        cin = 1 if i == 0 else channels
        per.append(channels * cin * 2 + (4 * channels + 1 if batchnorm else channels))
    n = sum(per) + channels + 1
    d = _doc("ConvNet", {"channels": channels, "dilations": list(dilations),
                         "batchnorm": batchnorm, "activation": activation}, n, seed)
    if batchnorm:  # running variances and eps must be positive
        pos = 0
        for i, _ in enumerate(dilations):
            cin = 1 if i == 0 else channels
            pos += channels * cin * 2
            var0 = pos + channels
            for j in range(channels):
                d["weights"][var0 + j] = abs(d["weights"][var0 + j]) + 0.5
            pos += 4 * channels
            d["weights"][pos] = 1e-5
            pos += 1
    return d


def linear(taps: int = 8, bias: bool = True, seed: int = 0) -> dict:
    return _doc("Linear", {"receptive_field": taps, "bias": bias}, taps + int(bias), seed)


def _sized(arch: str, config: dict, seed: int, load_dict, scale: float) -> dict:
    """Make a document whose weight count is whatever the config needs."""
    from pedaltool.errors import NamFileError

    probe = _doc(arch, config, 1, seed)
    try:
        load_dict(probe)
    except NamFileError as exc:  # "... expected N floats ..., found 1"
        msg = str(exc)
        n = int(msg.split("expected ")[1].split(" ")[0])
        return _doc(arch, config, n, seed, scale=scale)
    return probe
