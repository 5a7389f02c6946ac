"""Read and validate a ``.nam`` file into typed pieces, with errors that name the key.

A ``.nam`` file is one JSON object (see ``../shared/notes/nam.md`` §1): ``version``,
``architecture``, ``config``, ``weights`` (one flat list of floats), optional ``sample_rate``
(Hz; missing means 48 kHz, as the plugin assumes) and optional ``metadata``.

Problems inside a config raise :class:`ConfigError` (key path + problem); :func:`pedaltool.nam.load`
turns it into a one-line :class:`~pedaltool.errors.NamFileError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pedaltool.audio import MAX_RATE_HZ, MIN_RATE_HZ
from pedaltool.errors import NamFileError

#: Files larger than this are refused without being read (real captures are < 1 MB).
MAX_FILE_BYTES = 50 * 1024 * 1024
#: File-format versions NeuralAmpModelerCore accepts (newer patch releases load with a note).
EARLIEST_VERSION = (0, 5, 0)
LATEST_VERSION = (0, 7, 0)
#: No valid file can hold more weights than this (50 MB at >= 2 characters per number); a
#: config asking for more is refused before anything is allocated.
MAX_WEIGHTS = MAX_FILE_BYTES // 2
#: Sample rate assumed when a file has none (the plugin's ``GetNAMSampleRate``), Hz.
DEFAULT_SAMPLE_RATE = 48000.0


class ConfigError(Exception):
    """A problem at a key path inside a .nam document (internal; becomes NamFileError)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


@dataclass
class NamDocument:
    """The top level of a .nam file (or of a nested model such as a ``condition_dsp``)."""

    version: tuple[int, int, int]
    version_text: str
    architecture: str
    config: dict
    weights: np.ndarray  # float32, as NeuralAmpModelerCore stores them
    sample_rate: float | None  # Hz, None when the file has none
    metadata: dict
    where: str = ""  # key path prefix of this document inside the file ("" = top level)
    notes: list[str] = field(default_factory=list)

    @property
    def effective_sample_rate(self) -> float:
        return self.sample_rate if self.sample_rate is not None else DEFAULT_SAMPLE_RATE


def read_json(path: str | os.PathLike, data: bytes | None = None,
              order_hint: bool = False) -> tuple[dict, str]:
    """Read a .nam file's JSON object, refusing huge files before reading them; with the hex
    sha256 of the bytes read (what a .pedal records of its capture: hashed from these bytes,
    not from a second read, which a pipe cannot give and a file can change between).
    ``data``: the file's bytes when they were read already (a pipe's, ``filekind.stream_bytes``),
    ``path`` then only names them. ``order_hint``: the file is one of several given in an order
    (:func:`pedaltool.filekind.wrong_kind_hint`)."""
    p = Path(path)
    shown = str(path)  # as the user gave it, so a file in another folder is findable
    if data is None:
        data = _read_nam_bytes(p, shown)
    if len(data) > MAX_FILE_BYTES:
        raise NamFileError(f"{shown}: more than the {MAX_FILE_BYTES // 2**20} MB a capture may "
                           "have; refusing to read the rest")
    if not data.strip():
        raise NamFileError(f"{shown}: empty file (expected a .nam JSON document)")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise NamFileError(f"{shown}: not a .nam file ({not_nam_text(data, order_hint)})") from None
    except json.JSONDecodeError as exc:
        raise NamFileError(f"{shown}: malformed JSON at line {exc.lineno} column {exc.colno}:"
                           f" {exc.msg}") from None
    except RecursionError:
        raise NamFileError(f"{shown}: malformed JSON (nested too deeply)") from None
    except ValueError as exc:  # an integer of more digits than Python converts (4300)
        raise NamFileError(f"{shown}: malformed JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise NamFileError(f"{shown}: not a .nam file (top level is {type(doc).__name__}, "
                           "expected a JSON object)")
    return doc, hashlib.sha256(data).hexdigest()


def _read_nam_bytes(p: Path, shown: str) -> bytes:
    """The bytes of the .nam file ``p`` (``shown``: its name as given), up to one past the
    size limit; NamFileError for a folder, a file over the limit or one that cannot be read."""
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise NamFileError(f"{shown}: is a directory, not a .nam file")
        if size > MAX_FILE_BYTES:
            raise NamFileError(
                f"{shown}: file is {size / 1e6:.1f} MB, larger than the {MAX_FILE_BYTES // 2**20}"
                " MB limit for a .nam capture; refusing to read it")
        with open(p, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise NamFileError(f"{shown}: file not found") from None
    except OSError as exc:
        raise NamFileError(f"{shown}: cannot read ({exc.strerror or exc})") from None


def parse_version(text: object, key: str = "version") -> tuple[tuple[int, int, int], list[str]]:
    """Check a file-format version like Core does; returns (major, minor, patch) and notes."""
    if not isinstance(text, str):
        raise ConfigError(key, f"expected a version string like \"0.5.4\", found {text!r}")
    parts = text.strip().split(".")
    if len(parts) != 3 or not all(x.isdigit() for x in parts):
        raise ConfigError(key, f"malformed version {text!r} (expected MAJOR.MINOR.PATCH)")
    v = (int(parts[0]), int(parts[1]), int(parts[2]))
    lo, hi = EARLIEST_VERSION, LATEST_VERSION
    if v < lo:
        raise ConfigError(key, f"unsupported file version {text} (oldest supported is "
                          f"{'.'.join(map(str, lo))})")
    if v[:2] > hi[:2]:
        raise ConfigError(key, f"unsupported file version {text} (newest supported is "
                          f"{hi[0]}.{hi[1]}.x)")
    notes = []
    if v > hi:
        notes.append(f"file version {text} is newer than {'.'.join(map(str, hi))}; "
                     "loaded as partially supported")
    return v, notes


def parse_document(doc: object, where: str = "") -> NamDocument:
    """Validate the top-level keys of a .nam dict (also used for nested models)."""
    pre = f"{where}." if where else ""
    if not isinstance(doc, dict):
        raise ConfigError(where, f"expected a .nam object, found {type(doc).__name__}")
    for key in ("version", "architecture", "config", "weights"):
        if key not in doc:
            raise ConfigError(pre + key, "missing required key")
    version, notes = parse_version(doc["version"], pre + "version")
    arch = doc["architecture"]
    if not isinstance(arch, str):
        raise ConfigError(pre + "architecture", f"expected a name, found {arch!r}")
    config = doc["config"]
    if not isinstance(config, dict):
        raise ConfigError(pre + "config", f"expected an object, found {type(config).__name__}")
    weights = parse_weights(doc["weights"], pre + "weights")
    sr = doc.get("sample_rate")
    if sr is not None:
        if isinstance(sr, bool) or not isinstance(sr, (int, float)) or not math.isfinite(sr):
            raise ConfigError(pre + "sample_rate", f"expected a number in Hz, found {sr!r}")
        if not MIN_RATE_HZ <= sr <= MAX_RATE_HZ:  # (the rates a WAV is read and written at:
            # a 4 kHz capture was rendered whole, then its output refused; a review)
            raise ConfigError(pre + "sample_rate", f"implausible sample rate {sr!r} Hz "
                              f"(expected {MIN_RATE_HZ}-{MAX_RATE_HZ})")
        sr = float(sr)
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    return NamDocument(version, doc["version"], arch, config, weights, sr, metadata, where,
                       notes)


def parse_weights(values: object, key: str) -> np.ndarray:
    """A flat list of finite numbers -> float32 array."""
    if not isinstance(values, list):
        raise ConfigError(key, f"expected a list of numbers, found {type(values).__name__}")
    for i, v in enumerate(values):
        if type(v) not in (float, int):
            raise ConfigError(f"{key}[{i}]", f"expected a number, found {v!r}")
    try:
        w64 = np.asarray(values, dtype=np.float64)
    except OverflowError:
        raise ConfigError(key, "a weight is too large to be a float") from None
    with np.errstate(over="ignore"):
        w = w64.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        v = values[bad[0]]
        # (1e300 is finite, but no float32: "not finite" misnamed it, an audit found)
        what = "not finite" if not np.isfinite(w64[bad[0]]) else "beyond float32's range"
        raise ConfigError(f"{key}[{bad[0]}]", f"weight is {what} ({v!r}); "
                          f"{bad.size} weight(s) that are not finite float32s in total")
    return w


class Cfg:
    """Typed, path-aware access to one JSON object of a config."""

    def __init__(self, data: object, where: str):
        if not isinstance(data, dict):
            raise ConfigError(where, f"expected an object, found {_tn(data)}")
        self.data = data
        self.where = where

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def has(self, name: str) -> bool:
        return name in self.data and self.data[name] is not None

    def raw(self, name: str, default: object = ...) -> object:
        if name not in self.data:
            if default is ...:
                raise ConfigError(self.key(name), "missing required key")
            return default
        return self.data[name]

    def int(self, name: str, default: object = ..., lo: int | None = 1,
            hi: int = 1 << 16) -> int:
        v = self.raw(name, default)
        return as_int(v, self.key(name), lo, hi)

    def bool(self, name: str, default: object = ...) -> bool:
        v = self.raw(name, default)
        if not isinstance(v, bool):
            raise ConfigError(self.key(name), f"expected true or false, found {v!r}")
        return v

    def float(self, name: str, default: object = ...) -> float:
        v = self.raw(name, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(self.key(name), f"expected a finite number, found {v!r}")
        return float(v)

    def sub(self, name: str) -> Cfg:
        return Cfg(self.raw(name), self.key(name))

    def int_list(self, name: str, lo: int = 1, hi: int = 1 << 16, max_len: int = 4096
                 ) -> list[int]:
        v = self.raw(name)
        if not isinstance(v, list) or not v:
            raise ConfigError(self.key(name), f"expected a non-empty list of integers, found "
                              f"{_short(v)}")
        if len(v) > max_len:
            raise ConfigError(self.key(name), f"list too long ({len(v)} > {max_len})")
        return [as_int(x, f"{self.key(name)}[{i}]", lo, hi) for i, x in enumerate(v)]


def as_int(v: object, key: str, lo: int | None = 1, hi: int = 1 << 16) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(key, f"expected an integer, found {_short(v)}")
    if isinstance(v, float):
        if not v.is_integer():
            raise ConfigError(key, f"expected an integer, found {v!r}")
        v = int(v)
    if lo is not None and v < lo:
        raise ConfigError(key, f"must be at least {lo}, found {v}")
    if v > hi:
        raise ConfigError(key, f"must be at most {hi}, found {v}")
    return v


def _tn(v: object) -> str:
    return "null" if v is None else type(v).__name__


def _short(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


# how far a dry run counts past the weights the file holds before it stops (floats): its
# zero arrays, and the copies a builder makes of them, cost memory (a 151-byte LSTM config of
# hidden size 2400 took 617 MB to be told it was 23 million floats short; a review)
COUNT_PAST_THE_FILE = 1 << 20


class _FarTooFew(Exception):
    def __init__(self, at_least: int):
        self.at_least = at_least


class WeightReader:
    """Hands out consecutive slices of the flat weight vector as shaped float32 arrays.

    Built with ``weights=None`` it only counts (a dry run), so a model can be sized first and a
    wrong-length list reported as "expected N, found M" before anything is built; ``have``:
    the file's count, past which (by COUNT_PAST_THE_FILE) the dry run stops.
    """

    def __init__(self, weights: np.ndarray | None, have: int | None = None):
        self.weights = weights
        self.have = have
        self.pos = 0

    def take(self, *shape: int) -> np.ndarray:
        n = 1
        for s in shape:
            n *= int(s)
        start = self.pos
        self.pos += n
        if self.weights is None:
            if self.pos > MAX_WEIGHTS:
                raise ConfigError("config", f"describes a model with more than {MAX_WEIGHTS:,} "
                                  "weights, more than any .nam file can hold")
            if self.have is not None and self.pos > self.have + COUNT_PAST_THE_FILE:
                raise _FarTooFew(self.pos)
            return np.zeros(shape, dtype=np.float32)
        if self.pos > len(self.weights):  # cannot happen after the dry run; kept as a guard
            raise ConfigError("weights", f"too few weights (need more than {len(self.weights)})")
        return self.weights[start : self.pos].reshape(shape)


def build_checked(build, doc: NamDocument, *args, **kwargs):
    """Run ``build(reader, doc, ...)`` once to count weights, check the count, then for real."""
    counter = WeightReader(None, len(doc.weights))
    key = f"{doc.where}.weights" if doc.where else "weights"
    try:
        build(counter, doc, *args, **kwargs)
    except _FarTooFew as far:
        raise ConfigError(key, f"expected at least {far.at_least} floats for this "
                          f"{doc.architecture} config, found {len(doc.weights)}") from None
    if counter.pos != len(doc.weights):
        raise ConfigError(key, f"expected {counter.pos} floats for this {doc.architecture} "
                          f"config, found {len(doc.weights)}")
    reader = WeightReader(doc.weights)
    return build(reader, doc, *args, **kwargs)


def not_nam_text(head: bytes, order_hint: bool = False) -> str:
    """Why a file that is not UTF-8 text is not a .nam capture, from its first bytes
    (``order_hint``: as :func:`pedaltool.filekind.wrong_kind_hint`'s)."""
    from pedaltool.filekind import file_kind, wrong_kind_hint

    if file_kind(head) == "pedal":  # where a capture is expected, a .pedal is made from one
        return "a .pedal model, not a capture: fit the .nam it came from"
    return wrong_kind_hint(head, "nam", order_hint) or "not UTF-8 text"

