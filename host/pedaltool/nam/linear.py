"""Linear (``NAM/linear.cpp``): an FIR filter. Core's tap order: ``weights[0]`` multiplies the
current sample, ``y[t] = sum_j w[j] * x[t - j] (+ bias)``. (The PyTorch trainer's Conv1d has the
opposite order; pedaltool follows Core, see ``../shared/notes/nam.md`` §1.5.)
"""

from __future__ import annotations

import numpy as np

from pedaltool.nam.dsp import Dsp, register
from pedaltool.nam.file import Cfg, NamDocument, WeightReader, build_checked

_F32 = np.float32


class Linear(Dsp):
    architecture = "Linear"

    def __init__(self, taps: np.ndarray, bias: float, num_params: int):
        self.taps = taps  # taps[j] multiplies x[t - j]
        self.bias = _F32(bias)
        self.receptive_field = len(taps)
        self.prewarm_samples = 0
        self.num_params = num_params
        self.macs_per_sample = len(taps)

    def describe(self) -> dict:
        return {"taps": len(self.taps), "bias": bool(self.bias != 0)}

    def fresh_state(self) -> np.ndarray:
        return np.zeros(len(self.taps) - 1, _F32)

    def process(self, state: np.ndarray, x: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        buf = np.concatenate([state, np.asarray(x[0], _F32)])
        y = np.full(n, self.bias, dtype=_F32)
        k = len(self.taps)
        for j in range(k):  # y[t] += w[j] * buf[t + (k-1) - j]
            y += self.taps[j] * buf[k - 1 - j:k - 1 - j + n]
        state[...] = buf[n:]
        return y.reshape(1, -1)


def _build(reader: WeightReader, doc: NamDocument, cfg: dict) -> Linear:
    taps = reader.take(cfg["rf"]).copy()
    bias = float(reader.take(1)[0]) if cfg["bias"] else 0.0
    return Linear(taps, bias, len(doc.weights))


@register("Linear")
def load_linear(doc: NamDocument, slim: float | None = None) -> Linear:
    c = Cfg(doc.config, f"{doc.where}.config" if doc.where else "config")
    cfg = {"rf": c.int("receptive_field", hi=1 << 20), "bias": c.bool("bias")}
    return build_checked(_build, doc, cfg)
