"""WaveNet configs: both dialects parsed into dataclasses, checked like NeuralAmpModelerCore.

Follows ``parse_config_json`` in Core's ``NAM/wavenet/model.cpp`` (see ``../shared/notes/nam.md``
§1.2): legacy A1 keys (``head_size``/``head_bias``, ``gated``, ``kernel_size``) and the current
ones (``head{}``, ``gating_mode``, ``kernel_sizes``, ``secondary_activation``, FiLM slots,
``slimmable``). Also Core's slimmable-WaveNet channel selection (``slim_arrays_for``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from pedaltool.nam.activations import Activation, parse_activation
from pedaltool.nam.file import Cfg, ConfigError, NamDocument, parse_document

FILM_SLOTS = (
    "conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
    "activation_pre_film", "activation_post_film", "layer1x1_post_film", "head1x1_post_film",
)
GATING = ("none", "gated", "blended")
MAX_HISTORY_FLOATS = 16_000_000  # refuse configs whose conv histories alone exceed 64 MB



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



def slim_arrays_for(spec: WaveNetSpec, ratio: float) -> list[LayerArraySpec] | None:
    """Core's SlimmableWavenet: per array pick ``allowed[min(floor(r*len), len-1)]`` channels."""
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
