"""WaveNet (both config dialects) with NeuralAmpModelerCore semantics, vectorised over time.

Config parsing follows ``parse_config_json`` in Core's ``NAM/wavenet/model.cpp``; the forward pass
follows ``Layer::Process`` / ``LayerArray::ProcessInner`` / ``WaveNet::process`` (see
``../shared/notes/nam.md`` §1.2). Every conv is computed for a whole block of samples at once:
each layer keeps the last ``(k-1)*dilation`` samples of its conv input as history, so a block's
conv is ``k`` matrix products over shifted views of ``[history | block]``. Core quirks kept:
``layer1x1_post_film`` only acts in blended layers; ``head_scale`` is the last weight.

Fast path (the A1/A2 shapes): the input mixin and the conv bias are folded into the current-tap
matrix product (extra rows ``[condition; 1]`` under the layer input), and the layer1x1 bias into
the 1x1 product (a row of ones under the activation), so a plain layer costs 3 GEMMs + 1
activation + 2 adds per block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pedaltool.nam.activations import Activation, parse_activation
from pedaltool.nam.dsp import Dsp, build_dsp, register
from pedaltool.nam.file import (
    Cfg,
    ConfigError,
    NamDocument,
    WeightReader,
    as_int,
    build_checked,
    parse_document,
)

FILM_SLOTS = (
    "conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
    "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film",
)
GATING = ("none", "gated", "blended")
_F32 = np.float32
MAX_HISTORY_FLOATS = 16_000_000  # refuse configs whose conv histories alone exceed 64 MB
_ALIGN = 16  # block widths are padded to a multiple of this (see WaveNet.process)


# ---- config ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilmSpec:
    active: bool = False
    shift: bool = True
    groups: int = 1


@dataclass
class LayerArraySpec:
    """One layer array's hyper-parameters (both dialects normalised)."""

    input_size: int
    condition_size: int
    channels: int
    bottleneck: int
    head_size: int
    head_kernel: int
    head_bias: bool
    kernel_sizes: list[int]
    dilations: list[int]
    activations: list[Activation]
    gating: list[str]
    secondaries: list[Activation | None]
    groups_input: int = 1
    groups_mixin: int = 1
    layer1x1_active: bool = True
    layer1x1_groups: int = 1
    head1x1_active: bool = False
    head1x1_out: int = 0
    head1x1_groups: int = 1
    films: dict[str, FilmSpec] = field(default_factory=dict)
    allowed_channels: list[int] | None = None  # slimmable "slice_channels_uniform"

    @property
    def head_in(self) -> int:
        """Rows of the head accumulator: head1x1 outputs, else the bottleneck."""
        return self.head1x1_out if self.head1x1_active else self.bottleneck

    def z_rows(self, i: int) -> int:
        return self.bottleneck * (1 if self.gating[i] == "none" else 2)

    def receptive_field(self) -> int:
        return sum((k - 1) * d for k, d in zip(self.kernel_sizes, self.dilations, strict=True)) \
            + self.head_kernel - 1


@dataclass
class HeadSpec:
    """The optional post-stack head: activation before each conv, none after."""

    in_channels: int
    channels: int
    out_channels: int
    kernel_sizes: list[int]
    activation: Activation


@dataclass
class WaveNetSpec:
    arrays: list[LayerArraySpec]
    head: HeadSpec | None
    in_channels: int
    condition_doc: NamDocument | None


def _film(lc: Cfg, name: str) -> FilmSpec:
    if name not in lc.data or lc.data[name] is False or lc.data[name] is None:
        return FilmSpec(False)
    f = lc.sub(name)
    return FilmSpec(f.bool("active", True), f.bool("shift", True), f.int("groups", 1))


def _per_layer(value: object, n: int, key: str) -> list:
    if isinstance(value, list):
        if len(value) != n:
            raise ConfigError(key, f"has {len(value)} entries but there are {n} dilations")
        return value
    return [value] * n


def _parse_array(lc: Cfg, i: int) -> LayerArraySpec:
    channels = lc.int("channels")
    bottleneck = lc.int("bottleneck", channels)
    input_size = lc.int("input_size")
    condition_size = lc.int("condition_size")
    if lc.has("head"):
        h = lc.sub("head")
        head_size, head_kernel, head_bias = h.int("out_channels"), h.int("kernel_size"), \
            h.bool("bias")
    elif "head_size" in lc.data:
        head_size, head_kernel, head_bias = lc.int("head_size"), 1, lc.bool("head_bias")
    else:
        raise ConfigError(lc.key("head"), "missing: need a 'head' object or legacy "
                          "'head_size' and 'head_bias'")
    dilations = lc.int_list("dilations", 1, 1 << 20)
    n = len(dilations)
    if "kernel_size" in lc.data and "kernel_sizes" in lc.data:
        raise ConfigError(lc.key("kernel_sizes"), "only one of kernel_size or kernel_sizes "
                          "may be given")
    if "kernel_sizes" in lc.data:
        kernel_sizes = lc.int_list("kernel_sizes", 1, 1024)
        if len(kernel_sizes) != n:
            raise ConfigError(lc.key("kernel_sizes"), f"has {len(kernel_sizes)} entries but "
                              f"there are {n} dilations")
    else:
        kernel_sizes = [lc.int("kernel_size", lo=1, hi=1024)] * n
    acts_raw = _per_layer(lc.raw("activation"), n, lc.key("activation"))
    acts = [parse_activation(a, f"{lc.key('activation')}" + (f"[{j}]" if isinstance(
        lc.raw("activation"), list) else "")) for j, a in enumerate(acts_raw)]
    # gating: "gating_mode" (string or list), else legacy "gated" bool, else none
    if "gating_mode" in lc.data:
        gm = _per_layer(lc.raw("gating_mode"), n, lc.key("gating_mode"))
        for j, g in enumerate(gm):
            if g not in GATING:
                raise ConfigError(lc.key("gating_mode"), f"invalid gating mode {g!r} at layer "
                                  f"{j} (expected none, gated or blended)")
        gating = list(gm)
    elif "gated" in lc.data:
        gating = ["gated" if lc.bool("gated") else "none"] * n
    else:
        gating = ["none"] * n
    sec_raw = lc.data.get("secondary_activation")
    if isinstance(sec_raw, list) and len(sec_raw) != n and any(g != "none" for g in gating):
        raise ConfigError(lc.key("secondary_activation"), f"has {len(sec_raw)} entries but "
                          f"there are {n} dilations")
    secondaries: list[Activation | None] = []
    for j, g in enumerate(gating):
        if g == "none":
            secondaries.append(None)
            continue
        if sec_raw is None or "gating_mode" not in lc.data:
            secondaries.append(Activation("Sigmoid"))  # Core's default for gating
            continue
        spec = sec_raw[j] if isinstance(sec_raw, list) else sec_raw
        secondaries.append(parse_activation(spec, lc.key("secondary_activation")))
    spec = LayerArraySpec(
        input_size=input_size, condition_size=condition_size, channels=channels,
        bottleneck=bottleneck, head_size=head_size, head_kernel=head_kernel, head_bias=head_bias,
        kernel_sizes=kernel_sizes, dilations=dilations, activations=acts, gating=gating,
        secondaries=secondaries,
        groups_input=lc.int("groups_input", 1), groups_mixin=lc.int("groups_input_mixin", 1),
    )
    if "layer1x1" in lc.data:
        l1 = lc.sub("layer1x1")
        spec.layer1x1_active, spec.layer1x1_groups = l1.bool("active"), l1.int("groups", 1)
    if "head1x1" in lc.data:
        h1 = lc.sub("head1x1")
        spec.head1x1_active = h1.bool("active")
        spec.head1x1_out = h1.int("out_channels", channels)
        spec.head1x1_groups = h1.int("groups", 1)
    spec.films = {name: _film(lc, name) for name in FILM_SLOTS}
    if spec.films["layer1x1_post_film"].active and not spec.layer1x1_active:
        raise ConfigError(lc.key("layer1x1_post_film"), "cannot be active when layer1x1 is "
                          "inactive")
    if not spec.layer1x1_active and bottleneck != channels:
        raise ConfigError(lc.key("bottleneck"), "must equal channels when layer1x1 is inactive")
    for j, a in enumerate(acts):
        a.check_channels(bottleneck, f"{lc.key('activation')}[{j}]")
    for j, s in enumerate(secondaries):
        if s is not None:
            s.check_channels(bottleneck, f"{lc.key('secondary_activation')}[{j}]")
    sl = lc.data.get("slimmable")
    if isinstance(sl, dict):
        s = Cfg(sl, lc.key("slimmable"))
        method = s.raw("method", "")
        if method != "slice_channels_uniform":
            if method:
                raise ConfigError(s.key("method"), f"unsupported slimmable method {method!r}")
        else:
            kw = s.data.get("kwargs")
            if isinstance(kw, dict) and "allowed_channels" in kw:
                allowed = Cfg(kw, s.key("kwargs")).int_list("allowed_channels")
            else:
                allowed = list(range(1, channels + 1))
            if any(b <= a for a, b in zip(allowed, allowed[1:], strict=False)):
                raise ConfigError(s.key("kwargs.allowed_channels"), "must be sorted ascending")
            if allowed[-1] != channels:
                raise ConfigError(s.key("kwargs.allowed_channels"), "last entry must equal "
                                  f"channels ({channels})")
            spec.allowed_channels = allowed
    return spec


def parse_spec(doc: NamDocument) -> WaveNetSpec:
    """Parse and cross-check a WaveNet config (dimension rules as in Core)."""
    c = Cfg(doc.config, f"{doc.where}.config" if doc.where else "config")
    layers = c.raw("layers")
    if not isinstance(layers, list) or not layers:
        raise ConfigError(c.key("layers"), "expected a non-empty list of layer arrays")
    arrays = [_parse_array(Cfg(lc, f"{c.key('layers')}[{i}]"), i) for i, lc in enumerate(layers)]
    c.float("head_scale")  # informational (the last weight is used), but Core requires it
    in_channels = c.int("in_channels", 1)
    if in_channels != 1:
        raise ConfigError(c.key("in_channels"), f"only mono models are supported, found "
                          f"{in_channels} input channels")
    cond_doc = None
    if c.has("condition_dsp"):
        cond_doc = parse_document(c.raw("condition_dsp"), c.key("condition_dsp"))
        if cond_doc.sample_rate != doc.sample_rate:
            raise ConfigError(c.key("condition_dsp.sample_rate"), f"{cond_doc.sample_rate} "
                              f"differs from the model's {doc.sample_rate}")
    for i, a in enumerate(arrays):
        key = f"{c.key('layers')}[{i}]"
        if i == 0 and a.input_size != in_channels:
            raise ConfigError(f"{key}.input_size", f"is {a.input_size} but the model has "
                              f"{in_channels} input channel(s)")
        if i > 0:
            prev = arrays[i - 1]
            if a.channels != prev.head_size:
                raise ConfigError(f"{key}.channels", f"({a.channels}) must equal the previous "
                                  f"array's head size ({prev.head_size})")
            if a.input_size != prev.channels:
                raise ConfigError(f"{key}.input_size", f"({a.input_size}) must equal the "
                                  f"previous array's channels ({prev.channels})")
            if a.head_in != prev.head_size:
                raise ConfigError(f"{key}", f"head accumulator has {a.head_in} rows but the "
                                  f"previous array's head outputs {prev.head_size}")
        if cond_doc is None and a.condition_size != in_channels:
            raise ConfigError(f"{key}.condition_size", f"({a.condition_size}) must equal the "
                              f"input channels ({in_channels}) without a condition_dsp")
        for what, g, n_in, n_out in (
            ("groups_input", a.groups_input, a.channels, a.bottleneck),
            ("groups_input_mixin", a.groups_mixin, a.condition_size, a.bottleneck),
            ("layer1x1.groups", a.layer1x1_groups if a.layer1x1_active else 1, a.bottleneck,
             a.channels),
            ("head1x1.groups", a.head1x1_groups if a.head1x1_active else 1, a.bottleneck,
             max(a.head1x1_out, 1)),
        ):
            if n_in % g or n_out % g:
                raise ConfigError(f"{key}.{what}", f"{g} groups do not divide {n_in} inputs "
                                  f"and {n_out} outputs")
    history = sum(a.channels * a.receptive_field() for a in arrays)
    if history > MAX_HISTORY_FLOATS:
        raise ConfigError(c.key("layers"), f"needs {4 * history / 1e6:.0f} MB of conv history "
                          f"(limit {4 * MAX_HISTORY_FLOATS / 1e6:.0f} MB): dilations too large")
    head = None
    if c.has("head"):
        h = c.sub("head")
        implied = arrays[-1].head_size
        if h.has("in_channels") and h.int("in_channels") != implied:
            raise ConfigError(h.key("in_channels"), f"must equal the last array's head size "
                              f"({implied})")
        head = HeadSpec(implied, h.int("channels"), h.int("out_channels"),
                        h.int_list("kernel_sizes", 1, 1024), parse_activation(
                            h.raw("activation"), h.key("activation")))
    out_ch = head.out_channels if head else arrays[-1].head_size
    if not doc.where and out_ch != 1:
        raise ConfigError(c.key("layers"), f"only mono models are supported, found {out_ch} "
                          "output channels")
    return WaveNetSpec(arrays, head, in_channels, cond_doc)


# ---- weights ---------------------------------------------------------------------------------


def _dense(w: np.ndarray, groups: int, n_in: int) -> np.ndarray:
    """Grouped weight (out, in/groups, k) -> block-diagonal dense (out, in, k)."""
    if groups == 1:
        return np.ascontiguousarray(w)
    out, gin, k = w.shape
    d = np.zeros((out, n_in, k), dtype=w.dtype)
    gout = out // groups
    for g in range(groups):
        d[g * gout:(g + 1) * gout, g * gin:(g + 1) * gin] = w[g * gout:(g + 1) * gout]
    return d


class _Take:
    """Reads a tensor of the full (file) shape and keeps the slimmed leading slice."""

    def __init__(self, reader: WeightReader):
        self.r = reader

    def __call__(self, full: tuple[int, ...], slim: tuple[int, ...] | None = None) -> np.ndarray:
        w = self.r.take(*full)
        if slim is not None and slim != full:
            w = w[tuple(slice(0, s) for s in slim)]
        return np.ascontiguousarray(w, dtype=_F32)


@dataclass
class _Film:
    w: np.ndarray  # (m*dim, c) dense
    b: np.ndarray  # (m*dim, 1)
    shift: bool
    dim: int

    def apply(self, x: np.ndarray, cond: np.ndarray, out: np.ndarray | None = None
              ) -> np.ndarray:
        ss = self.w @ cond
        ss += self.b
        if out is None:
            out = np.empty_like(x)
        np.multiply(x, ss[: self.dim], out=out)
        if self.shift:
            out += ss[self.dim:]
        return out


@dataclass
class _Layer:
    C: int
    B: int
    Z: int
    K: int
    d: int
    gating: str
    act: Activation
    sec: Activation | None
    taps: list[np.ndarray]  # K x (Z, C): tap k multiplies x[t - (K-1-k) d]
    conv_b: np.ndarray  # (Z, 1)
    mixin: np.ndarray  # (Z, c)
    l1_w: np.ndarray | None  # (C, B)
    l1_b: np.ndarray | None  # (C, 1)
    h1_w: np.ndarray | None
    h1_b: np.ndarray | None
    films: dict[str, _Film]
    fused_last: np.ndarray | None = None  # (Z, C + c + 1) = [tap_last | mixin | bias]
    l1_aug: np.ndarray | None = None  # (C, B + 1) = [l1_w | l1_b]

    @property
    def hist(self) -> int:
        return (self.K - 1) * self.d


@dataclass
class _Array:
    spec: LayerArraySpec
    rechannel: np.ndarray  # (C, in)
    layers: list[_Layer]
    head_taps: list[np.ndarray]  # head_kernel x (head_size, head_in)
    head_b: np.ndarray | None  # (head_size, 1)

    @property
    def head_hist(self) -> int:
        return len(self.head_taps) - 1


def _read_film(take: _Take, fs: FilmSpec, c: int, dim_full: int, dim: int) -> _Film:
    m = 2 if fs.shift else 1
    if m * dim_full % fs.groups or c % fs.groups:
        raise ConfigError("", f"FiLM groups {fs.groups} do not divide its {c} inputs and "
                          f"{m * dim_full} outputs")
    w = take((m * dim_full, c // fs.groups, 1), (m * dim, c // fs.groups, 1))
    b = take((m * dim_full,), (m * dim,))
    return _Film(_dense(w, fs.groups, c)[:, :, 0].copy(), b.reshape(-1, 1), fs.shift, dim)


def _build_array(take: _Take, f: LayerArraySpec, s: LayerArraySpec) -> _Array:
    """Read one array's weights; ``f`` = shapes in the file, ``s`` = shapes to keep (slim)."""
    rech = take((f.channels, f.input_size, 1), (s.channels, s.input_size, 1))[:, :, 0].copy()
    c = f.condition_size
    layers = []
    for i in range(len(f.dilations)):
        K, d = f.kernel_sizes[i], f.dilations[i]
        Zf, Zs = f.z_rows(i), s.z_rows(i)
        gi = f.groups_input
        w = take((Zf, f.channels // gi, K), (Zs, s.channels // gi, K))
        w = _dense(w, gi, s.channels)
        b = take((Zf,), (Zs,))
        gm = f.groups_mixin
        mix = _dense(take((Zf, c // gm, 1), (Zs, c // gm, 1)), gm, c)[:, :, 0].copy()
        l1_w = l1_b = h1_w = h1_b = None
        if f.layer1x1_active:
            g = f.layer1x1_groups
            l1_w = _dense(take((f.channels, f.bottleneck // g, 1),
                               (s.channels, s.bottleneck // g, 1)), g, s.bottleneck)[:, :, 0]
            l1_b = take((f.channels,), (s.channels,)).reshape(-1, 1)
        if f.head1x1_active:
            g = f.head1x1_groups
            h1_w = _dense(take((f.head1x1_out, f.bottleneck // g, 1),
                               (s.head1x1_out, s.bottleneck // g, 1)), g, s.bottleneck)[:, :, 0]
            h1_b = take((f.head1x1_out,), (s.head1x1_out,)).reshape(-1, 1)
        dims = {
            "conv_pre_film": (f.channels, s.channels), "conv_post_film": (Zf, Zs),
            "input_mixin_pre_film": (c, c), "input_mixin_post_film": (Zf, Zs),
            "activation_pre_film": (Zf, Zs), "activation_post_film": (f.bottleneck, s.bottleneck),
            "layer1x1_post_film": (f.channels, s.channels),
            "head1x1_post_film": (f.head1x1_out, s.head1x1_out),
        }
        films = {}
        for name in FILM_SLOTS:
            fs = f.films.get(name, FilmSpec())
            if not fs.active or (name == "head1x1_post_film" and not f.head1x1_active):
                continue
            films[name] = _read_film(take, fs, c, *dims[name])
        layer = _Layer(
            C=s.channels, B=s.bottleneck, Z=Zs, K=K, d=d, gating=f.gating[i],
            act=f.activations[i], sec=f.secondaries[i],
            taps=[np.ascontiguousarray(w[:, :, k]) for k in range(K)], conv_b=b.reshape(-1, 1),
            mixin=mix, l1_w=None if l1_w is None else np.ascontiguousarray(l1_w), l1_b=l1_b,
            h1_w=None if h1_w is None else np.ascontiguousarray(h1_w), h1_b=h1_b, films=films,
        )
        if not (set(films) & {"conv_post_film", "input_mixin_pre_film", "input_mixin_post_film"}):
            layer.fused_last = np.ascontiguousarray(
                np.concatenate([layer.taps[-1], mix, layer.conv_b], axis=1))
        if layer.gating == "none" and l1_w is not None:
            layer.l1_aug = np.ascontiguousarray(np.concatenate([l1_w, l1_b], axis=1))
        layers.append(layer)
    hw = take((f.head_size, f.head_in, f.head_kernel), (s.head_size, s.head_in, f.head_kernel))
    hb = take((f.head_size,), (s.head_size,)).reshape(-1, 1) if f.head_bias else None
    taps = [np.ascontiguousarray(hw[:, :, k]) for k in range(f.head_kernel)]
    return _Array(s, rech, layers, taps, hb)


# ---- the DSP ---------------------------------------------------------------------------------


class WaveNet(Dsp):
    architecture = "WaveNet"

    def __init__(self, spec: WaveNetSpec, arrays: list[_Array],
                 post: list[tuple[np.ndarray, np.ndarray]], head_scale: float,
                 cond: Dsp | None, num_params: int):
        self.spec = spec
        self.arrays = arrays
        self.post = post  # post-stack head convs: (w (out, in, k), b (out, 1))
        self.head_scale = _F32(head_scale)
        self.cond = cond
        self.num_params = num_params
        self.in_channels = spec.in_channels
        self.out_channels = spec.head.out_channels if spec.head else arrays[-1].spec.head_size
        rf_arrays = sum(a.spec.receptive_field() for a in arrays)
        rf_head = sum(k - 1 for k in spec.head.kernel_sizes) if spec.head else 0
        cond_rf = cond.receptive_field if cond else 1
        self.receptive_field = cond_rf + rf_arrays + rf_head
        # Core: WaveNet prewarm = (condition DSP prewarm or 1) + sum of array RFs + head RF - 1
        self.prewarm_samples = (cond.prewarm_samples if cond else 1) + rf_arrays + rf_head
        self.macs_per_sample = self._count_macs()
        self._ws: dict[int, dict] = {}

    def _count_macs(self) -> int:
        n = self.cond.macs_per_sample if self.cond else 0
        for a in self.arrays:
            s = a.spec
            n += s.channels * s.input_size
            for L in a.layers:
                g = s.groups_input
                n += L.Z * (L.C // g) * L.K + L.Z * (s.condition_size // s.groups_mixin)
                if L.l1_w is not None:
                    n += L.C * L.B // s.layer1x1_groups
                if L.h1_w is not None:
                    n += L.h1_w.shape[0] * L.B // s.head1x1_groups
                n += sum(fm.w.size for fm in L.films.values())
            n += sum(t.size for t in a.head_taps)
        n += sum(w.size for w, _ in self.post)
        return int(n)

    def describe(self) -> dict:
        s = self.spec
        return {
            "layer_arrays": [
                {"channels": a.spec.channels, "bottleneck": a.spec.bottleneck,
                 "layers": len(a.layers), "kernel_sizes": sorted(set(a.spec.kernel_sizes)),
                 "dilations": a.spec.dilations, "head_size": a.spec.head_size,
                 "head_kernel": a.spec.head_kernel,
                 "activation": sorted({x.name for x in a.spec.activations}),
                 "gating": sorted(set(a.spec.gating))}
                for a in self.arrays],
            "post_stack_head": s.head is not None,
            "condition_dsp": self.cond.architecture if self.cond else None,
        }

    # state: per array, per layer conv-input history; head-accumulator history; post-head
    def fresh_state(self) -> dict:
        st = {"cond": self.cond.fresh_state() if self.cond else None, "arrays": []}
        for a in self.arrays:
            st["arrays"].append({
                "layers": [np.zeros((L.C, L.hist), _F32) for L in a.layers],
                "head": np.zeros((a.spec.head_in, a.head_hist), _F32),
            })
        st["post"] = [np.zeros((w.shape[1], w.shape[2] - 1), _F32) for w, _ in self.post]
        return st

    def _workspace(self, n: int) -> dict:
        ws = self._ws.get(n)
        if ws is not None:
            return ws
        if len(self._ws) > 8:
            self._ws.clear()
        ws = {"arrays": []}
        for a in self.arrays:
            c = a.spec.condition_size
            lay = []
            for L in a.layers:
                buf = np.empty((L.C + c + 1, L.hist + n), _F32)
                buf[L.C + c] = 1.0  # the bias row of the fused last-tap product
                z = np.empty((L.Z + 1, n), _F32)
                z[L.Z] = 1.0  # the bias row of the layer1x1 product
                lay.append({"buf": buf, "z": z, "t": np.empty((max(L.C, L.Z), n), _F32)})
            head = np.empty((a.spec.head_in, a.head_hist + n), _F32)
            out = np.empty((a.spec.channels, n), _F32)
            # Plain layers (the A1/A2 shapes) get their views prepared once per block size,
            # so the hot loop is only the numpy calls.
            for i, (L, lw) in enumerate(zip(a.layers, lay, strict=True)):
                if not (L.fused_last is not None and L.l1_aug is not None and not L.films
                        and L.gating == "none" and L.h1_w is None):
                    continue
                buf, H, C = lw["buf"], L.hist, L.C
                nxt = (lay[i + 1]["buf"][: a.layers[i + 1].C, a.layers[i + 1].hist:]
                       if i + 1 < len(lay) else out)
                lw["fast"] = (
                    buf[:C, :H], buf[C:C + c, H:], buf[:, H:],
                    [(L.taps[k], buf[:C, k * L.d:k * L.d + n]) for k in range(L.K - 1)],
                    lw["z"][:L.Z], lw["z"], lw["t"][:L.Z], lw["t"][:C], buf[:C, H:], nxt,
                    buf[:C, n:n + H], L.act, L.l1_aug, L.fused_last,
                )
            ws["arrays"].append({"layers": lay, "head": head, "out": out})
        self._ws[n] = ws
        return ws

    def process(self, state: dict, x: np.ndarray) -> np.ndarray:
        n = x.shape[1]
        x = np.asarray(x, dtype=_F32)
        cond = self.cond.process(state["cond"], x) if self.cond else x
        cond = np.asarray(cond, dtype=_F32)
        # Compute on a width that is a multiple of 16 samples (zero-padded; histories are
        # saved from the first n columns only). OpenBLAS handles a remainder of columns with
        # a different micro-kernel whose rounding differs, so without this the result of a
        # sample would depend on how the signal was cut into blocks.
        m = -(-n // _ALIGN) * _ALIGN
        if m != n:
            x = np.pad(x, ((0, 0), (0, m - n)))
            cond = np.pad(cond, ((0, 0), (0, m - n)))
        ws = self._workspace(m)
        y_in = x
        head_prev = None
        for a, ast, aws in zip(self.arrays, state["arrays"], ws["arrays"], strict=True):
            y_in, head_prev = self._run_array(a, ast, aws, y_in, cond, head_prev, m, n)
        out = head_prev * self.head_scale
        for (w, b), hist in zip(self.post, state["post"], strict=True):
            # activation before each conv (in place on a fresh array), then the conv
            act_in = self.spec.head.activation(out.copy())
            k = w.shape[2]
            buf = np.concatenate([hist, act_in], axis=1)
            res = np.repeat(b, m, axis=1)
            for j in range(k):
                res += w[:, :, j] @ buf[:, j:j + m]
            if k > 1:
                hist[...] = buf[:, n:n + k - 1]
            out = res
        return out[:, :n]

    def _run_array(self, a: _Array, ast: dict, aws: dict, x_in: np.ndarray, cond: np.ndarray,
                   head_prev: np.ndarray | None, n: int, n_valid: int
                   ) -> tuple[np.ndarray, np.ndarray]:
        """One layer array over a block of ``n`` columns, of which ``n_valid`` are real."""
        s = a.spec
        c = s.condition_size
        hh = a.head_hist
        accbuf = aws["head"]
        acc = accbuf[:, hh:]
        accbuf[:, :hh] = ast["head"]
        if head_prev is None:
            acc[...] = 0.0
        else:
            acc[...] = head_prev
        layers = a.layers
        # the rechannel output is the first layer's input
        first = aws["layers"][0]["buf"]
        y = first[: layers[0].C, layers[0].hist:]
        np.matmul(a.rechannel, x_in, out=y)
        matmul, add = np.matmul, np.add
        for i, L in enumerate(layers):
            lw = aws["layers"][i]
            fast = lw.get("fast")
            if fast is not None:  # same arithmetic as the general path below, fewer steps
                (hist_dst, cond_dst, fused_in, tap_views, z, zf, t_z, t_c, y, nxt, hist_src,
                 act, l1_aug, fused_w) = fast
                hist = ast["layers"][i]
                hist_dst[...] = hist
                cond_dst[...] = cond
                matmul(fused_w, fused_in, out=z)
                for w, v in tap_views:
                    matmul(w, v, out=t_z)
                    z += t_z
                if n_valid == n:
                    hist[...] = hist_src
                else:
                    hist[...] = lw["buf"][: L.C, n_valid:n_valid + L.hist]
                act(z)
                matmul(l1_aug, zf, out=t_c)
                add(y, t_c, out=nxt)
                acc += z
                continue
            buf = lw["buf"]
            H = L.hist
            nxt = (aws["layers"][i + 1]["buf"][: layers[i + 1].C, layers[i + 1].hist:]
                   if i + 1 < len(layers) else aws["out"])
            y = buf[: L.C, H:]  # this layer's (un-FiLMed) input
            buf[: L.C, :H] = ast["layers"][i]
            films = L.films
            if "conv_pre_film" in films:
                raw_y = y.copy()
                films["conv_pre_film"].apply(raw_y, cond, out=y)
            else:
                raw_y = y
            z = lw["z"][: L.Z]
            if L.fused_last is not None:
                buf[L.C: L.C + c, H:] = cond
                np.matmul(L.fused_last, buf[:, H:], out=z)
            else:
                np.matmul(L.taps[-1], buf[: L.C, H:], out=z)
                z += L.conv_b
            t = lw["t"][: L.Z]
            for k in range(L.K - 1):
                off = k * L.d
                np.matmul(L.taps[k], buf[: L.C, off:off + n], out=t)
                z += t
            if L.fused_last is None:
                if "conv_post_film" in films:
                    films["conv_post_film"].apply(z, cond, out=z)
                mc = cond
                if "input_mixin_pre_film" in films:
                    mc = films["input_mixin_pre_film"].apply(cond, cond)
                mix = L.mixin @ mc
                if "input_mixin_post_film" in films:
                    films["input_mixin_post_film"].apply(mix, cond, out=mix)
                z += mix
            # keep this layer's conv-input history for the next block
            ast["layers"][i][...] = buf[: L.C, n_valid:n_valid + H]
            if "activation_pre_film" in films:
                films["activation_pre_film"].apply(z, cond, out=z)
            B = L.B
            if L.gating == "none":
                L.act(z)
                a_out = z
            elif L.gating == "gated":
                top = L.act(z[:B].copy())
                top *= L.sec(z[B:].copy())
                a_out = top
            else:  # blended: alpha*act(x) + (1-alpha)*x
                raw = z[:B].copy()
                alpha = L.sec(z[B:].copy())
                actv = L.act(raw.copy())
                a_out = alpha * actv + (1.0 - alpha) * raw
            if "activation_post_film" in films:
                a_out = films["activation_post_film"].apply(a_out, cond)
            # residual
            if L.l1_w is not None:
                if L.l1_aug is not None and a_out is z and "activation_post_film" not in films:
                    lo = lw["t"][: L.C]
                    np.matmul(L.l1_aug, lw["z"], out=lo)
                else:
                    lo = L.l1_w @ a_out
                    lo += L.l1_b
                if L.gating == "blended" and "layer1x1_post_film" in films:
                    films["layer1x1_post_film"].apply(lo, cond, out=lo)
                np.add(raw_y, lo, out=nxt)
            else:
                nxt[...] = raw_y
            # head
            if L.h1_w is not None:
                h = L.h1_w @ a_out
                h += L.h1_b
                if "head1x1_post_film" in films:
                    films["head1x1_post_film"].apply(h, cond, out=h)
                acc += h
            else:
                acc += a_out
        ast["head"][...] = accbuf[:, n_valid:n_valid + hh]
        hs = a.spec.head_size
        if hh == 0:
            head = a.head_taps[0] @ acc
        else:
            head = a.head_taps[-1] @ accbuf[:, hh:]
            for k in range(hh):
                head += a.head_taps[k] @ accbuf[:, k:k + n]
        if a.head_b is not None:
            head += a.head_b
        assert head.shape[0] == hs
        return aws["out"], head


def _build(reader: WeightReader, doc: NamDocument, spec: WaveNetSpec,
           slim_arrays: list[LayerArraySpec] | None, cond: Dsp | None) -> WaveNet:
    take = _Take(reader)
    arrays = [
        _build_array(take, f, s)
        for f, s in zip(spec.arrays, slim_arrays or spec.arrays, strict=True)
    ]
    post = []
    if spec.head is not None:
        h = spec.head
        cin = h.in_channels
        for j, k in enumerate(h.kernel_sizes):
            cout = h.out_channels if j == len(h.kernel_sizes) - 1 else h.channels
            w = take((cout, cin, k))
            b = take((cout,)).reshape(-1, 1)
            post.append((w, b))
            cin = cout
    head_scale = float(reader.take(1)[0])
    return WaveNet(spec, arrays, post, head_scale, cond, len(doc.weights))


def slim_arrays_for(spec: WaveNetSpec, ratio: float) -> list[LayerArraySpec] | None:
    """Core's SlimmableWavenet: per array pick ``allowed[min(floor(r*len), len-1)]`` channels."""
    import copy
    import math

    if all(a.allowed_channels is None for a in spec.arrays):
        return None
    target = []
    for a in spec.arrays:
        al = a.allowed_channels
        target.append(a.channels if not al else al[min(int(math.floor(ratio * len(al))),
                                                       len(al) - 1)])
    if target == [a.channels for a in spec.arrays]:
        return None
    out = []
    na = len(spec.arrays)
    for i, a in enumerate(spec.arrays):
        if a.head_kernel != 1:
            raise ConfigError("config.layers", "slimming with head kernel_size > 1 is not "
                              "supported (as in Core)")
        if spec.head is not None:
            raise ConfigError("config.head", "slimmable WaveNet with a post-stack head is not "
                              "supported (as in Core)")
        groups = (a.groups_input, a.groups_mixin,
                  a.layer1x1_groups if a.layer1x1_active else 1,
                  a.head1x1_groups if a.head1x1_active else 1)
        if any(g != 1 for g in groups):
            raise ConfigError("config.layers", "slimmable WaveNet needs groups = 1 (as in Core)")
        s = copy.copy(a)
        s.channels = target[i]
        s.bottleneck = (target[i] if not a.layer1x1_active
                        else max(1, a.bottleneck * target[i] // a.channels))
        s.input_size = a.input_size if i == 0 else target[i - 1]
        s.head_size = target[i + 1] if i < na - 1 else a.head_size
        out.append(s)
    return out


@register("WaveNet")
def load_wavenet(doc: NamDocument, slim: float | None = None) -> WaveNet:
    spec = parse_spec(doc)
    cond = build_dsp(spec.condition_doc) if spec.condition_doc is not None else None
    if cond is not None:
        if cond.in_channels != spec.in_channels:
            raise ConfigError("config.condition_dsp", "input channels differ from the model's")
        for i, a in enumerate(spec.arrays):
            if a.condition_size != cond.out_channels:
                raise ConfigError(f"config.layers[{i}].condition_size", f"({a.condition_size}) "
                                  f"must equal the condition_dsp's {cond.out_channels} outputs")
    slim_specs = slim_arrays_for(spec, slim) if slim is not None else None
    return build_checked(_build, doc, spec, slim_specs, cond)


__all__ = ["WaveNet", "parse_spec", "load_wavenet", "as_int"]
