"""LSTM with NeuralAmpModelerCore semantics (``NAM/lstm.cpp``).

Weights per layer: ``W (4H, I+H)`` = [W_ih | W_hh] with gate blocks i, f, g, o; ``b (4H)`` =
b_ih + b_hh; ``h0 (H)``; ``c0 (H)``. Then the head ``W (out, H)``, ``b (out)``. The state starts
at the file's h0/c0 and Core prewarms 0.5 s of zeros (``int(0.5 * sample_rate)``).

The recurrence is sequential, so it runs one sample at a time: a pure-numpy loop (always
available, ~1x real time) or the same loop compiled with numba (used when numba imports; set
``PEDALTOOL_NUMBA=0`` to force numpy). Both compute in float64 with exact (not the plugin's
fast) tanh/sigmoid and agree to ~1e-14; the benchmark (``benchmarks/bench_nam.py``) shows why the
compiled path exists.
"""

from __future__ import annotations

import math
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


# exp(x) = 2^k * e^r with |r| <= ln2/2: Cody-Waite reduction + degree-12 Taylor polynomial,
# relative error <= 4e-16 (a few double ulps, measured over [-700, 700]), i.e. the exact
# function to double precision. Written out so LLVM vectorises it; libm's scalar exp/tanh made
# the LSTM 3x slower (benchmarks/bench_nam.py).
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10


def _get_numba_kernel():
    global _numba_kernel, _numba_failed
    if _numba_kernel is not None or _numba_failed:
        return _numba_kernel
    try:
        import numba
    except Exception:  # noqa: BLE001 - any import problem means: use numpy
        _numba_failed = True
        return None

    @numba.njit(inline="always")
    def exp_into(u, e, kbits, n):  # pragma: no cover - compiled
        fb = kbits.view(np.float64)
        for j in range(n):
            x = min(max(u[j], -700.0), 700.0)
            k = math.floor(x * _LOG2E + 0.5)
            r = (x - k * _LN2_HI) - k * _LN2_LO
            p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
                1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
                    1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                        1.0 / 479001600))))))))))))
            kbits[j] = (np.int64(k) + 1023) << 52
            e[j] = p
        for j in range(n):
            e[j] *= fb[j]

    @numba.njit(cache=True)
    def kernel(xin, w_in, w_hh, b, h, c, out):  # pragma: no cover - compiled
        # xin (T, I); w_in (I, 4H); w_hh (H, 4H) (transposed: contiguous inner loops)
        T, n_in = xin.shape
        H = h.shape[0]
        G = 4 * H
        z = np.empty(G)
        u = np.empty(G)
        e = np.empty(G)
        kb = np.empty(G, np.int64)
        for t in range(T):
            for j in range(G):
                z[j] = b[j]
            for k in range(n_in):
                xv = xin[t, k]
                for j in range(G):
                    z[j] += w_in[k, j] * xv
            for k in range(H):
                hv = h[k]
                for j in range(G):
                    z[j] += w_hh[k, j] * hv
            # sigmoid(v) = 1 / (1 + exp(-v)); tanh(v) = sign(v) (1 - exp(-2|v|)) / (1 + ...)
            for j in range(G):
                u[j] = -z[j]
            for j in range(2 * H, 3 * H):
                u[j] = -2.0 * abs(z[j])
            exp_into(u, e, kb, G)
            for j in range(H):
                ig = 1.0 / (1.0 + e[j])
                fg = 1.0 / (1.0 + e[H + j])
                eg = e[2 * H + j]
                gg = math.copysign((1.0 - eg) / (1.0 + eg), z[2 * H + j])
                og = 1.0 / (1.0 + e[3 * H + j])
                cj = fg * c[j] + ig * gg
                c[j] = cj
                u[j] = -2.0 * abs(cj)
                z[j] = og
            exp_into(u, e, kb, H)
            for j in range(H):
                ec = e[j]
                hj = z[j] * math.copysign((1.0 - ec) / (1.0 + ec), c[j])
                h[j] = hj
                out[t, j] = hj

    _numba_kernel = kernel
    return kernel


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

    def describe(self) -> dict:
        return {"layers": len(self.layers), "hidden_size": self.hidden}

    def fresh_state(self) -> list:
        return [[h0.copy(), c0.copy()] for *_, h0, c0 in self.layers]

    def _kernel(self):
        use = numba_enabled() if self.use_numba is None else self.use_numba
        return _get_numba_kernel() if use else None

    def process(self, state: list, x: np.ndarray) -> np.ndarray:
        kern = self._kernel()
        seq = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)  # (T, I)
        for (w_in, w_hh, b, _, _), (h, c) in zip(self.layers, state, strict=True):
            out = np.empty((seq.shape[0], h.shape[0]))
            if kern is not None:
                kern(seq, w_in, w_hh, b, h, c, out)
            else:
                _layer_numpy(seq, w_in, w_hh, b, h, c, out)
            seq = out
        y = self.head_w @ seq.T + self.head_b
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
