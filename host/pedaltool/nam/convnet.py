"""ConvNet (``NAM/convnet.cpp``): blocks of (dilated conv k=2 -> [batch norm] -> activation),
then a linear head. Batch norm is folded as Core does: ``scale = w / sqrt(eps + var)``,
``loc = b - scale * mean``. Receptive field = 1 + sum(dilations).
"""

from __future__ import annotations

import numpy as np

from pedaltool.nam.activations import Activation, parse_activation
from pedaltool.nam.dsp import Dsp, register
from pedaltool.nam.file import Cfg, ConfigError, NamDocument, WeightReader, build_checked
from pedaltool.nam.wavenet import _dense

_F32 = np.float32


class ConvNet(Dsp):
    architecture = "ConvNet"

    def __init__(self, blocks, act: Activation, head_w, head_b, dilations, num_params,
                 batchnorm: bool):
        self.blocks = blocks  # (tap0 (C, Cin), tap1 (C, Cin), scale (C,1)|None, loc (C,1))
        self.act = act
        self.head_w, self.head_b = head_w, head_b
        self.dilations = dilations
        self.receptive_field = 1 + sum(dilations)
        self.prewarm_samples = self.receptive_field
        self.num_params = num_params
        self.batchnorm = batchnorm
        self.out_channels = head_w.shape[0]
        self.macs_per_sample = int(sum(2 * t0.size for t0, *_ in blocks) + head_w.size)

    def describe(self) -> dict:
        return {"channels": self.blocks[0][0].shape[0], "dilations": self.dilations,
                "batchnorm": self.batchnorm, "activation": self.act.name}

    def fresh_state(self) -> list:
        return [np.zeros((t0.shape[1], d), _F32)
                for (t0, *_), d in zip(self.blocks, self.dilations, strict=True)]

    def process(self, state: list, x: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        m = -(-n // 16) * 16  # padded width: see WaveNet.process (chunking invariance)
        y = np.pad(np.asarray(x, _F32), ((0, 0), (0, m - n)))
        for (t0, t1, scale, loc), d, i in zip(self.blocks, self.dilations,
                                              range(len(self.blocks)), strict=True):
            buf = np.concatenate([state[i], y], axis=1)
            z = t1 @ buf[:, d:]
            z += t0 @ buf[:, :m]
            if scale is not None:
                z *= scale
            z += loc
            state[i] = buf[:, n:n + d].copy()
            y = self.act(z)
        return (self.head_w @ y + self.head_b)[:, :n]


def _build(reader: WeightReader, doc: NamDocument, cfg: dict) -> ConvNet:
    C, g, cin = cfg["channels"], cfg["groups"], cfg["in"]
    blocks = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, _ in enumerate(cfg["dilations"]):
            ci = cin if i == 0 else C
            w = _dense(reader.take(C, ci // g, 2), g, ci)
            if cfg["batchnorm"]:
                mean, var, bw, bb = (reader.take(C) for _ in range(4))
                eps = reader.take(1)[0]
                scale = (bw / np.sqrt(eps + var)).astype(_F32)
                loc = (bb - scale * mean).astype(_F32)
                sc = scale.reshape(-1, 1)
            else:
                loc = reader.take(C)
                sc = None
            blocks.append((np.ascontiguousarray(w[:, :, 0]), np.ascontiguousarray(w[:, :, 1]),
                           sc, loc.reshape(-1, 1)))
    hw = reader.take(cfg["out"], C)
    hb = reader.take(cfg["out"]).reshape(-1, 1)
    if reader.weights is not None:
        for _, _, sc, loc in blocks:
            if not np.all(np.isfinite(loc)) or (sc is not None and not np.all(np.isfinite(sc))):
                raise ConfigError("weights", "batch norm has a zero or negative variance + eps")
    return ConvNet(blocks, cfg["act"], hw, hb, cfg["dilations"], len(doc.weights),
                   cfg["batchnorm"])


@register("ConvNet")
def load_convnet(doc: NamDocument, slim: float | None = None) -> ConvNet:
    c = Cfg(doc.config, f"{doc.where}.config" if doc.where else "config")
    cfg = {
        "channels": c.int("channels", hi=4096),
        "dilations": c.int_list("dilations", 1, 1 << 20),
        "batchnorm": c.bool("batchnorm"),
        "act": parse_activation(c.raw("activation"), c.key("activation")),
        "groups": c.int("groups", 1),
        "in": c.int("in_channels", 1, hi=64),
        "out": c.int("out_channels", 1, hi=64),
    }
    cfg["act"].check_channels(cfg["channels"], c.key("activation"))
    if cfg["channels"] % cfg["groups"] or cfg["in"] % cfg["groups"]:
        raise ConfigError(c.key("groups"), f"{cfg['groups']} groups do not divide the channels")
    return build_checked(_build, doc, cfg)
