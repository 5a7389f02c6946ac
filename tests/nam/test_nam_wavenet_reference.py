"""WaveNet features no shared capture uses (post-stack head, head kernels > 1 in several arrays,
layer1x1 off, head1x1, gated + blended with secondary activations, bottleneck != channels),
checked against a plain float64 re-implementation in the "pad RF-1 zeros, valid convs" style
(nam.md section 1.7), which shares no code with pedaltool.nam.wavenet."""

import numpy as np
from pedaltool import nam

CONFIG = {
    "layers": [
        {"input_size": 1, "condition_size": 1, "channels": 4, "bottleneck": 3,
         "head": {"out_channels": 3, "kernel_size": 2, "bias": True},
         "kernel_sizes": [2, 3], "dilations": [1, 3],
         "activation": ["Tanh", {"type": "LeakyReLU", "negative_slope": 0.1}],
         "gating_mode": ["gated", "blended"], "secondary_activation": ["Sigmoid", "Hardswish"],
         "head1x1": {"active": True, "out_channels": 2, "groups": 1},
         "layer1x1": {"active": True, "groups": 1}},
        {"input_size": 4, "condition_size": 1, "channels": 3, "bottleneck": 3,
         "head": {"out_channels": 2, "kernel_size": 3, "bias": False},
         "kernel_size": 3, "dilations": [2], "activation": "SiLU", "gating_mode": "none",
         "layer1x1": {"active": False, "groups": 1}},
    ],
    "head": {"channels": 3, "out_channels": 1, "kernel_sizes": [2, 1], "activation": "Tanh"},
    "head_scale": 0.5,
}


def _acts(name, x, slope=0.1):
    return {"Tanh": np.tanh, "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
            "LeakyReLU": lambda v: np.where(v > 0, v, slope * v),
            "Hardswish": lambda v: np.where(v <= -3, 0, np.where(v >= 3, v, v * (v + 3) / 6)),
            "SiLU": lambda v: v / (1 + np.exp(-v))}[name](x)


def _conv(x, w, b, d):  # valid, right-aligned: tap k multiplies x[t - (K-1-k) d]
    k = w.shape[2]
    n = x.shape[1] - (k - 1) * d
    out = sum(w[:, :, j] @ x[:, j * d:j * d + n] for j in range(k))
    return out + (b[:, None] if b is not None else 0.0)


def _reference(weights, x, rf):
    w = iter(np.asarray(weights, dtype=np.float64))

    def take(*shape):
        return np.array([next(w) for _ in range(int(np.prod(shape)))]).reshape(shape)

    xp = np.concatenate([np.zeros(rf - 1), x.astype(np.float64)])[None, :]
    cond = xp
    y, head_prev = xp, None
    specs = [
        dict(C=4, B=3, ks=[2, 3], ds=[1, 3], gating=["gated", "blended"],
             act=[("Tanh", None), ("LeakyReLU", None)], sec=["Sigmoid", "Hardswish"], h1=2,
             l1=True, hs=3, hk=2, hb=True, inp=1),
        dict(C=3, B=3, ks=[3], ds=[2], gating=["none"], act=[("SiLU", None)], sec=[None],
             h1=None, l1=False, hs=2, hk=3, hb=False, inp=4),
    ]
    for s in specs:
        y = take(s["C"], s["inp"], 1)[:, :, 0] @ y
        acc = head_prev
        for i, (k, d) in enumerate(zip(s["ks"], s["ds"], strict=True)):
            gated = s["gating"][i] != "none"
            Z = 2 * s["B"] if gated else s["B"]
            wc, bc = take(Z, s["C"], k), take(Z)
            wm = take(Z, 1, 1)[:, :, 0]
            z = _conv(y, wc, bc, d)
            n = z.shape[1]
            z = z + wm @ cond[:, -n:]
            B = s["B"]
            if s["gating"][i] == "gated":
                a = _acts(s["act"][i][0], z[:B]) * _acts(s["sec"][i], z[B:])
            elif s["gating"][i] == "blended":
                al = _acts(s["sec"][i], z[B:])
                a = al * _acts(s["act"][i][0], z[:B]) + (1 - al) * z[:B]
            else:
                a = _acts(s["act"][i][0], z)
            if s["l1"]:
                w1, b1 = take(s["C"], B, 1)[:, :, 0], take(s["C"])
                y = y[:, -n:] + w1 @ a + b1[:, None]
            else:
                y = y[:, -n:]
            if s["h1"]:
                wh, bh = take(s["h1"], B, 1)[:, :, 0], take(s["h1"])
                h = wh @ a + bh[:, None]
            else:
                h = a
            acc = h if acc is None else acc[:, -n:] + h
        whr = take(s["hs"], acc.shape[0], s["hk"])
        bhr = take(s["hs"]) if s["hb"] else None
        head_prev = _conv(acc, whr, bhr, 1)
    post = [(take(3, 2, 2), take(3)), (take(1, 3, 1), take(1))]
    out = head_prev * next(w)  # head_scale: the last weight
    for wp, bp in post:
        out = _conv(np.tanh(out), wp, bp, 1)
    return out[0, -len(x):]


def test_wavenet_general_path_matches_a_float64_reference():
    rng = np.random.default_rng(7)
    doc = {"version": "0.7.0", "architecture": "WaveNet", "config": CONFIG, "weights": [0.0],
           "sample_rate": 48000}
    try:
        nam.load_dict(doc)
    except nam.NamFileError as exc:
        n = int(str(exc).split("expected ")[1].split(" ")[0])
    doc["weights"] = rng.normal(0, 0.5, n).tolist()
    m = nam.load_dict(doc)
    # receptive field: 1 + (1 + 2*3 + 1) + (2*2 + 2) + (2 - 1)
    assert m.receptive_field == 1 + 8 + 6 + 1
    x = (0.5 * np.sin(np.arange(3000) * 0.03) + 0.2 * rng.standard_normal(3000)).astype(
        np.float32)
    y = m.render(x)
    ref = _reference(doc["weights"], x, m.receptive_field)
    assert np.max(np.abs(y - ref)) < 1e-5 * max(1.0, np.max(np.abs(ref)))
    assert np.std(ref) > 1e-3  # the comparison is not trivially about zeros
