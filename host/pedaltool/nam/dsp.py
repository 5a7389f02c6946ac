"""The interface every architecture implements, and the registry ``architecture`` -> builder.

A :class:`Dsp` processes blocks of samples shaped (channels, samples) through a *state* object
that carries everything needed to continue (conv histories, LSTM h/c), so a long signal can be
rendered in chunks with results identical to one big block. Like NeuralAmpModelerCore's ``DSP``,
a fresh state followed by ``prewarm_samples`` zeros is the state the plugin has after ``Reset``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from pedaltool.nam.file import ConfigError, NamDocument


class Dsp:
    """Base class. Subclasses set the attributes below and implement the two methods."""

    architecture: str = ""
    in_channels: int = 1
    out_channels: int = 1
    receptive_field: int = 1  # samples of input that influence one output sample
    prewarm_samples: int = 0  # zeros Core feeds on Reset before real audio
    num_params: int = 0  # floats in the weight list
    macs_per_sample: int = 0  # weight multiplies per output sample

    def fresh_state(self) -> object:
        """The state right after construction (before prewarm)."""
        raise NotImplementedError

    def process(self, state: object, x: np.ndarray) -> np.ndarray:
        """Advance ``state`` over ``x`` (in_channels, N) float32 -> (out_channels, N)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Architecture details for ``pedaltool info``."""
        return {}

    def copy_state(self, state: object) -> object:
        return copy.deepcopy(state)


Builder = Callable[[NamDocument, "float | None"], Dsp]
_REGISTRY: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``builder(doc, slim)`` the loader for ``architecture == name``."""

    def deco(fn: Builder) -> Builder:
        _REGISTRY[name] = fn
        return fn

    return deco


def build_dsp(doc: NamDocument, slim: float | None = None) -> Dsp:
    """Build the DSP for a parsed document (nested models included)."""
    _ensure_loaded()
    builder = _REGISTRY.get(doc.architecture)
    if builder is None:
        key = f"{doc.where}.architecture" if doc.where else "architecture"
        raise ConfigError(key, f"unknown architecture {doc.architecture!r} (supported: "
                          f"{', '.join(sorted(_REGISTRY))})")
    return builder(doc, slim)


def known_architectures() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def _ensure_loaded() -> None:
    # The modules register themselves on import.
    from pedaltool.nam import convnet, linear, lstm, slimmable, wavenet  # noqa: F401
