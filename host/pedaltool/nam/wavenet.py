"""WaveNet with NeuralAmpModelerCore semantics, vectorised over time.

Configs are parsed in ``wavenet_config.py``; the forward pass follows ``Layer::Process`` /
``LayerArray::ProcessInner`` / ``WaveNet::process`` (see ``../shared/notes/nam.md`` §1.2).
Every conv is computed for a whole block of samples at once: each layer keeps the last
``(k-1)*dilation`` samples of its conv input as history, so a block's conv is ``k`` matrix
products over shifted views of ``[history | block]``. Core quirks kept: ``layer1x1_post_film``
only acts in blended layers; ``head_scale`` is the last weight.

Fast path (the A1/A2 shapes): the input mixin and the conv bias are folded into the current-tap
matrix product (extra rows ``[condition; 1]`` under the layer input), and the layer1x1 bias into
the 1x1 product (a row of ones under the activation), so a plain layer costs 3 GEMMs + 1
activation + 2 adds per block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pedaltool.nam.activations import Activation
from pedaltool.nam.dsp import Dsp, build_dsp, register
from pedaltool.nam.file import ConfigError, NamDocument, WeightReader, build_checked
from pedaltool.nam.wavenet_config import (
    FILM_SLOTS,
    FilmSpec,
    LayerArraySpec,
    WaveNetSpec,
    parse_spec,
    slim_arrays_for,
)

_F32 = np.float32
_ALIGN = 16  # block widths are padded to a multiple of this (see WaveNet.process)


# ---- weights ---------------------------------------------------------------------------------


# the largest dense matrix a grouped convolution is expanded to (elements): a file's few
# weights of 4096 channels in 4096 groups became 4096 x 4096 per layer, 948 MB and 200x
# slower than real time to be read (a review); a real capture's 16-64 channels are far below
MAX_DENSE = 1 << 22


def _dense(w: np.ndarray, groups: int, n_in: int) -> np.ndarray:
    """Grouped weight (out, in/groups, k) -> block-diagonal dense (out, in, k)."""
    if groups == 1:
        return np.ascontiguousarray(w)
    out, gin, k = w.shape
    if out * n_in * k > MAX_DENSE:
        raise ConfigError("", f"a grouped convolution of {n_in} to {out} channels in {groups} "
                          f"groups is larger than pedaltool computes ({out * n_in * k:,} "
                          f"weights as a dense matrix, at most {MAX_DENSE:,})")
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
        if hh == 0:
            head = a.head_taps[0] @ acc
        else:
            head = a.head_taps[-1] @ accbuf[:, hh:]
            for k in range(hh):
                head += a.head_taps[k] @ accbuf[:, k:k + n]
        if a.head_b is not None:
            head += a.head_b
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


__all__ = ["WaveNet", "parse_spec", "load_wavenet"]
