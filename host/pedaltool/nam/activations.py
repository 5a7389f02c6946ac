"""The activation functions NeuralAmpModelerCore knows (``NAM/activations.h``), on numpy arrays.

Each activation is applied in place to a float array shaped (channels, samples). Specs come from
the config as a name (``"Tanh"``) or an object (``{"type": "LeakyReLU", "negative_slope": 0.1}``).
``Tanh`` is the exact tanh (Core's default and its ``render`` tool), computed within 1 ulp
(``pedaltool.nam._tanh``, about 3x faster than ``np.tanh``); ``Fasttanh`` is the plugin's
rational approximation, available under its own name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pedaltool.nam.file import ConfigError

NAMES = (
    "Tanh", "Hardtanh", "Fasttanh", "ReLU", "LeakyReLU", "PReLU", "Sigmoid", "SiLU",
    "Hardswish", "LeakyHardtanh", "Softsign",
)
_ALIASES = {"LeakyHardTanh": "LeakyHardtanh"}


@dataclass(frozen=True)
class Activation:
    """A parsed activation: ``name`` plus its parameters (floats)."""

    name: str
    negative_slopes: tuple[float, ...] = (0.01,)
    min_val: float = -1.0
    max_val: float = 1.0
    min_slope: float = 0.01
    max_slope: float = 0.01

    def check_channels(self, channels: int, where: str) -> None:
        """PReLU with per-channel slopes must have one slope per channel (or exactly one)."""
        n = len(self.negative_slopes)
        if self.name == "PReLU" and n not in (1, channels):
            raise ConfigError(where, f"PReLU has {n} negative_slopes but the layer has "
                              f"{channels} channels")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Apply in place to ``x`` (channels, samples) and return it."""
        return _APPLY[self.name](self, x)


def fast_tanh(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The plugin's rational tanh approximation (``nam::activations::fast_tanh``)."""
    ax = np.abs(x)
    x2 = x * x
    num = x * (2.45550750702956 + 2.45550750702956 * ax + (0.893229853513558
                                                           + 0.821226666969744 * ax) * x2)
    den = 2.44506634652299 + (2.44506634652299 + x2) * np.abs(x + 0.814642734961073 * x * ax)
    return np.divide(num, den, out=out)


def _tanh():
    # imported on first use: numba takes 0.3 s to import, which reading a .nam file alone
    # (pedaltool info) does not need
    from pedaltool.nam import _tanh

    return _tanh


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-x)), written to stay finite for large |x|
    with np.errstate(over="ignore"):
        np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1.0
        np.reciprocal(x, out=x)
    return x


def _silu(x: np.ndarray) -> np.ndarray:
    s = _sigmoid(x.copy())
    x *= s
    return x


def _hardswish(x: np.ndarray) -> np.ndarray:
    y = np.where(x <= -3.0, 0.0, np.where(x >= 3.0, x, x * (x + 3.0) / 6.0))
    x[...] = y
    return x


def _leaky_hardtanh(a: Activation, x: np.ndarray) -> np.ndarray:
    lo = (x - a.min_val) * a.min_slope + a.min_val
    hi = (x - a.max_val) * a.max_slope + a.max_val
    x[...] = np.where(x < a.min_val, lo, np.where(x > a.max_val, hi, x))
    return x


def _prelu(a: Activation, x: np.ndarray) -> np.ndarray:
    slopes = np.asarray(a.negative_slopes, dtype=x.dtype)
    if slopes.size > 1:
        slopes = slopes.reshape(-1, *([1] * (x.ndim - 1)))
    x[...] = np.where(x > 0, x, x * slopes)
    return x


def _leaky_relu(a: Activation, x: np.ndarray) -> np.ndarray:
    x[...] = np.where(x > 0, x, x * x.dtype.type(a.negative_slopes[0]))
    return x


_APPLY = {
    "Tanh": lambda a, x: _tanh().tanh_inplace(x),
    "Hardtanh": lambda a, x: np.clip(x, -1.0, 1.0, out=x),
    "Fasttanh": lambda a, x: fast_tanh(x, out=x),
    "ReLU": lambda a, x: np.maximum(x, 0.0, out=x),
    "LeakyReLU": _leaky_relu,
    "PReLU": _prelu,
    "Sigmoid": lambda a, x: _sigmoid(x),
    "SiLU": lambda a, x: _silu(x),
    "Hardswish": lambda a, x: _hardswish(x),
    "LeakyHardtanh": _leaky_hardtanh,
    "Softsign": lambda a, x: np.divide(x, 1.0 + np.abs(x), out=x),
}


def _num(spec: dict, key: str, default: float, where: str) -> float:
    v = spec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise ConfigError(f"{where}.{key}", f"expected a finite number, found {v!r}")
    return float(v)


def parse_activation(spec: object, where: str) -> Activation:
    """Parse a name or ``{"type": ...}`` object; ``where`` is the config key path for errors."""
    params: dict = {}
    if isinstance(spec, str):
        name = spec
    elif isinstance(spec, dict):
        name = spec.get("type")
        if not isinstance(name, str):
            raise ConfigError(f"{where}.type", f"expected an activation name, found {name!r}")
        params = spec
    else:
        raise ConfigError(where, f"expected an activation name or object, found {spec!r}")
    name = _ALIASES.get(name, name)
    if name not in NAMES:
        raise ConfigError(where, f"unknown activation {name!r} (known: {', '.join(NAMES)})")
    if name == "LeakyReLU":
        return Activation(name, negative_slopes=(_num(params, "negative_slope", 0.01, where),))
    if name == "PReLU":
        if "negative_slopes" in params:
            sl = params["negative_slopes"]
            if not isinstance(sl, list) or not sl:
                raise ConfigError(f"{where}.negative_slopes", "expected a non-empty list")
            vals = tuple(_num({"v": v}, "v", 0.0, f"{where}.negative_slopes") for v in sl)
            return Activation(name, negative_slopes=vals)
        return Activation(name, negative_slopes=(_num(params, "negative_slope", 0.01, where),))
    if name == "LeakyHardtanh":
        return Activation(
            name,
            min_val=_num(params, "min_val", -1.0, where),
            max_val=_num(params, "max_val", 1.0, where),
            min_slope=_num(params, "min_slope", 0.01, where),
            max_slope=_num(params, "max_slope", 0.01, where),
        )
    return Activation(name)
