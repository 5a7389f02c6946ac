"""LSTM with NeuralAmpModelerCore semantics (``NAM/lstm.cpp``).

Weights per layer: ``W (4H, I+H)`` = [W_ih | W_hh] with gate blocks i, f, g, o; ``b (4H)`` =
b_ih + b_hh; ``h0 (H)``; ``c0 (H)``. Then the head ``W (out, H)``, ``b (out)``. The state starts
at the file's h0/c0 and Core prewarms 0.5 s of zeros (``int(0.5 * sample_rate)``).

The recurrence is sequential, so it runs one sample at a time: a pure-numpy loop (always
available, ~1-2x real time, float64) or the same loop compiled with numba (``_lstm_kernel.py``,
float32 like Core; used when numba imports; ``PEDALTOOL_NUMBA=0`` forces numpy). Both use exact
(not the plugin's fast) tanh/sigmoid and agree to float32 rounding; the benchmark
(``benchmarks/bench_nam.py``) shows why the compiled path exists.
"""

from __future__ import annotations

import os

import numpy as np

from pedaltool.nam.dsp import Dsp, register
from pedaltool.nam.file import Cfg, ConfigError, NamDocument, WeightReader, build_checked

_numba_kernel = None
_numba_failed = False


def numba_enabled() -> bool:
    """Whether the compiled recurrence will be used (numba importable and not disabled)."""
    if os.environ.get("PEDALTOOL_NUMBA", "1") == "0":
        return False
    return _get_numba_kernel() is not None


def _get_numba_kernel():
    """The compiled recurrence (``_lstm_kernel.lstm_layer``), or None without numba."""
    global _numba_kernel, _numba_failed
    if _numba_kernel is not None or _numba_failed:
        return _numba_kernel
    try:
        from pedaltool.nam._lstm_kernel import lstm_layer
    except Exception:  # noqa: BLE001 - any import problem means: use numpy
        _numba_failed = True
        return None
    _numba_kernel = lstm_layer
    return lstm_layer


def _layer_numpy(xin, w_in, w_hh, b, h, c, out) -> None:
    """The same recurrence as the compiled kernel, one numpy step per sample."""
    H = h.shape[0]
    zx = xin @ w_in + b  # input projections: row t only depends on sample t
    w_hh_t = np.ascontiguousarray(w_hh.T)
    for t in range(xin.shape[0]):
        z = zx[t] + w_hh_t @ h
        s = 1.0 / (1.0 + np.exp(-z))
        c *= s[H:2 * H]
        c += s[:H] * np.tanh(z[2 * H:3 * H])
        h[:] = s[3 * H:] * np.tanh(c)
        out[t] = h


class LSTM(Dsp):
    architecture = "LSTM"

    def __init__(self, layers, head_w, head_b, prewarm: int, num_params: int, hidden: int,
                 input_size: int):
        self.layers = layers  # list of (w_in (I,4H), w_hh (H,4H), b (4H), h0, c0) float64
        self.head_w = head_w  # (out, H)
        self.head_b = head_b  # (out, 1)
        self.receptive_field = 1
        self.prewarm_samples = prewarm
        self.num_params = num_params
        self.in_channels = input_size
        self.out_channels = head_w.shape[0]
        self.hidden = hidden
        self.macs_per_sample = int(sum(4 * hidden * (w_in.shape[0] + hidden)
                                       for w_in, *_ in layers) + head_w.size)
        self.use_numba: bool | None = None  # None = decide automatically
        self.layers32 = [tuple(np.ascontiguousarray(a, dtype=np.float32) for a in lay[:3])
                         for lay in layers]

    def describe(self) -> dict:
        return {"layers": len(self.layers), "hidden_size": self.hidden}

    def fresh_state(self) -> list:
        return [[h0.copy(), c0.copy()] for *_, h0, c0 in self.layers]

    def _kernel(self):
        use = numba_enabled() if self.use_numba is None else self.use_numba
        return _get_numba_kernel() if use else None

    def process(self, state: list, x: np.ndarray) -> np.ndarray:
        """The state holds float64 h/c; the compiled path runs in float32 (as Core does)."""
        kern = self._kernel()
        if kern is not None:
            seq = np.ascontiguousarray(np.asarray(x, dtype=np.float32).T)  # (T, I)
            for (w_in, w_hh, b), hc in zip(self.layers32, state, strict=True):
                h, c = hc[0].astype(np.float32), hc[1].astype(np.float32)
                out = np.empty((seq.shape[0], h.shape[0]), np.float32)
                kern(seq, w_in, w_hh, b, h, c, out)
                hc[0][...], hc[1][...] = h, c
                seq = out
        else:
            seq = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)
            for (w_in, w_hh, b, _, _), (h, c) in zip(self.layers, state, strict=True):
                out = np.empty((seq.shape[0], h.shape[0]))
                _layer_numpy(seq, w_in, w_hh, b, h, c, out)
                seq = out
        y = self.head_w @ seq.T.astype(np.float64) + self.head_b
        return y.astype(np.float32)


def _build(reader: WeightReader, doc: NamDocument, cfg: dict) -> LSTM:
    H, L, inp, outc = cfg["hidden"], cfg["layers"], cfg["input"], cfg["out"]
    layers = []
    for i in range(L):
        ii = inp if i == 0 else H
        w = reader.take(4 * H, ii + H).astype(np.float64)
        b = reader.take(4 * H).astype(np.float64)
        h0 = reader.take(H).astype(np.float64)
        c0 = reader.take(H).astype(np.float64)
        layers.append((np.ascontiguousarray(w[:, :ii].T), np.ascontiguousarray(w[:, ii:].T),
                       b, h0, c0))
    hw = reader.take(outc, H).astype(np.float64)
    hb = reader.take(outc).astype(np.float64).reshape(-1, 1)
    if doc.sample_rate is not None:
        prewarm = max(1, int(0.5 * doc.sample_rate))
    else:
        prewarm = 1  # Core: expected rate unknown -> one sample (rounded up to one buffer)
    return LSTM(layers, hw, hb, prewarm, len(doc.weights), H, inp)


@register("LSTM")
def load_lstm(doc: NamDocument, slim: float | None = None) -> LSTM:
    c = Cfg(doc.config, f"{doc.where}.config" if doc.where else "config")
    cfg = {
        "hidden": c.int("hidden_size", hi=4096),
        "layers": c.int("num_layers", hi=64),
        "input": c.int("input_size", hi=64),
        "out": c.int("out_channels", 1, hi=64),
    }
    if c.int("in_channels", cfg["input"], hi=64) != cfg["input"]:
        raise ConfigError(c.key("in_channels"), "must equal input_size")
    return build_checked(_build, doc, cfg)
