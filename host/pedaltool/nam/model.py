"""``NamModel``: a loaded capture you can render, plus its metadata.

Rendering reproduces NeuralAmpModelerCore after ``Reset`` (prewarm on, exact tanh): the model's
state is what Core has after feeding ``prewarm_samples`` zeros, then the input is processed in
blocks. The block size only changes speed and memory, never the result: every block continues
from the state the previous one left (conv histories, LSTM h/c), and results are the same for
any chunking up to float32 rounding (OpenBLAS may pick another sgemm kernel for another block
width; tested, docs/nam.md).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pedaltool.errors import NamFileError
from pedaltool.nam.dsp import Dsp, build_dsp
from pedaltool.nam.file import ConfigError, NamDocument, parse_document, read_json

#: Default render block (samples): big enough to amortise Python overhead, small enough that a
#: WaveNet's per-layer buffers stay in cache (measured best: 2048-4096 on this machine).
DEFAULT_BLOCK = 2048

_blas_controller = None


def blas_single_thread():
    """Context manager limiting BLAS to one thread while rendering.

    Our matrix products are small (16 x 48 by 48 x 2048): OpenBLAS threads cost more in
    hand-off than they save, and on a loaded machine they can be 10x slower (measured).
    Without threadpoolctl installed this does nothing.
    """
    global _blas_controller
    if _blas_controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas_controller = ThreadpoolController()
        except Exception:  # noqa: BLE001 - optional speed-up only
            _blas_controller = False
    if _blas_controller is False:
        return contextlib.nullcontext()
    return _blas_controller.limit(limits=1, user_api="blas")
#: Core's prewarm feeds zeros in whole buffers; this is the buffer size the plugin/render use.
PREWARM_BLOCK = 64


@dataclass
class NamMetadata:
    """What the file says about the capture (every field optional).

    loudness: dB of the model's output for the trainer's standard input; input_level_dbu: the
    analog level (dBu) of a 0 dBFS sine going into the gear; output_level_dbu: the dBu that
    gives 0 dBFS at the recording interface; validation_esr: the trainer's final ESR.
    """

    name: str | None = None
    modeled_by: str | None = None
    gear_make: str | None = None
    gear_model: str | None = None
    gear_type: str | None = None
    tone_type: str | None = None
    loudness: float | None = None
    gain: float | None = None
    input_level_dbu: float | None = None
    output_level_dbu: float | None = None
    validation_esr: float | None = None
    date: str | None = None
    extra: dict = field(default_factory=dict)
    # number fields the file gives something else in (a string, an integer too large for a
    # float, an infinity): {key: the value as written, shortened}; they count as absent
    ignored: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, md: dict) -> NamMetadata:
        def s(k):
            v = md.get(k)
            return v if isinstance(v, str) else None

        def f(v):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                return None
            try:
                x = float(v)  # an int beyond a double's range: OverflowError
            except OverflowError:
                return None
            return x if math.isfinite(x) else None

        training = md.get("training")
        esr = f(training.get("validation_esr")) if isinstance(training, dict) else None
        date = md.get("date")
        date_s = None
        if isinstance(date, dict):
            try:
                date_s = "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(
                    *(int(date[k]) for k in ("year", "month", "day", "hour", "minute", "second")))
            except (KeyError, TypeError, ValueError, OverflowError):
                date_s = None
        known = {"name", "modeled_by", "gear_make", "gear_model", "gear_type", "tone_type",
                 "loudness", "gain", "input_level_dbu", "output_level_dbu", "training", "date"}
        numbers = {k: f(md.get(k)) for k in NUMBER_FIELDS}
        return cls(
            name=s("name"), modeled_by=s("modeled_by"), gear_make=s("gear_make"),
            gear_model=s("gear_model"), gear_type=s("gear_type"), tone_type=s("tone_type"),
            **numbers, validation_esr=esr, date=date_s,
            extra={k: v for k, v in md.items() if k not in known},
            ignored={k: _shortened(md[k]) for k in NUMBER_FIELDS
                     if md.get(k) is not None and numbers[k] is None},
        )


NUMBER_FIELDS = ("loudness", "gain", "input_level_dbu", "output_level_dbu")
# the interface level (dBu at 0 dBFS) a capture without input_level_dbu is played at: the
# plugin's and NeuralAudio's default
DEFAULT_INPUT_LEVEL_DBU = 12.0
# interface levels a calibration can mean (dBu at 0 dBFS): real interfaces sit near +4..+24;
# beyond these the DI would be a thousand times too quiet or too loud, a broken field
CALIBRATION_DBU_RANGE = (-40.0, 60.0)


def calibration_problem(dbu: float | None) -> str | None:
    """Why an ``input_level_dbu`` cannot be a calibration (outside CALIBRATION_DBU_RANGE),
    else None: what fit and compare refuse a capture for, and info warns about."""
    lo, hi = CALIBRATION_DBU_RANGE
    if dbu is None or lo <= dbu <= hi:
        return None
    return (f"input_level_dbu {dbu:g} is outside {lo:g}..{hi:g} dBu (an interface's level at "
            "0 dBFS): a broken calibration")


def _shortened(v) -> str:
    """A metadata value as a note shows it: its JSON, at most 40 characters."""
    # (inf: JSON has no word for it; a name's letters as they are, not \u escapes)
    text = repr(v) if isinstance(v, float) else json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def ignored_notes(md: NamMetadata) -> list[str]:
    """A note for each number field ``md`` ignored; the input level's is a warning (it sets
    the level everything is played at: audio.note_kind)."""
    return [f"ignored metadata {k}: {v} is not a number" + (
        f" ({DEFAULT_INPUT_LEVEL_DBU:g} dBu assumed, as the plugin does)"
        if k == "input_level_dbu" else "") for k, v in md.ignored.items()]


class NamStream:
    """Block-by-block rendering that continues exactly where the previous block stopped."""

    def __init__(self, model: NamModel):
        self.model = model
        self.state = model._initial_state()

    def process(self, x: np.ndarray) -> np.ndarray:
        """Render the next block (1-D float) -> 1-D float32 of the same length."""
        x = np.asarray(x, dtype=np.float32).reshape(1, -1)
        if x.shape[1] == 0:
            return np.zeros(0, np.float32)
        with blas_single_thread(), np.errstate(all="ignore"):
            return self.model.dsp.process(self.state, x)[0].astype(np.float32, copy=False)


class NamModel:
    """A loaded .nam capture. Use :func:`pedaltool.nam.load`."""

    def __init__(self, dsp: Dsp, doc: NamDocument, path: Path | None, slim: float | None):
        self.dsp = dsp
        self.path = path
        self.slim = slim
        self.sha256 = ""  # hex sha256 of the file's bytes as load() read them ("": no file)
        self.architecture: str = doc.architecture
        self.version: str = doc.version_text
        self.sample_rate: float = doc.effective_sample_rate
        self.sample_rate_in_file: float | None = doc.sample_rate
        self.metadata = NamMetadata.from_dict(doc.metadata)
        self.notes: list[str] = list(doc.notes) + ignored_notes(self.metadata)
        if doc.sample_rate is None:
            self.notes.append("no sample_rate in the file: assuming 48000 Hz (as the plugin does)")
        self._warm: object | None = None

    # ---- facts -------------------------------------------------------------------------------
    @property
    def receptive_field(self) -> int:
        """Input samples that influence one output sample (1 for recurrent models)."""
        return int(self.dsp.receptive_field)

    @property
    def num_params(self) -> int:
        """Number of floats in the file's weight list(s)."""
        return int(self.dsp.num_params)

    @property
    def macs_per_sample(self) -> int:
        """Weight multiplies per output sample (activations not counted)."""
        return int(self.dsp.macs_per_sample)

    @property
    def prewarm_samples(self) -> int:
        return int(self.dsp.prewarm_samples)

    def describe(self) -> dict:
        return self.dsp.describe()

    def info(self) -> dict:
        """Everything ``pedaltool info`` shows, as plain JSON-able values."""
        md = {k: v for k, v in asdict(self.metadata).items() if v not in (None, {}, [])}
        broken = calibration_problem(self.metadata.input_level_dbu)
        return {
            "file": self.path.name if self.path else None,
            "architecture": self.architecture,
            "version": self.version,
            # an int where it is whole, as every other JSON report gives a rate
            "sample_rate_hz": int(self.sample_rate) if float(self.sample_rate).is_integer()
            else self.sample_rate,
            "sample_rate_in_file": self.sample_rate_in_file is not None,
            "num_params": self.num_params,
            "receptive_field_samples": self.receptive_field,
            "receptive_field_ms": round(1000.0 * self.receptive_field / self.sample_rate, 3),
            "macs_per_sample": self.macs_per_sample,
            "prewarm_samples": self.prewarm_samples,
            "slim": self.slim,
            # null for a level fit and compare refuse (the warning in notes says why)
            "input_level_dbu_used": None if broken else input_level_dbu(self),
            "metadata": md,
            "details": self.describe(),
            "notes": list(self.notes) + ([f"{broken}; fit and compare refuse this capture"]
                                         if broken else []),
        }

    # ---- rendering ---------------------------------------------------------------------------
    def _initial_state(self) -> object:
        """Core's state after Reset: fresh state + prewarm zeros (whole 64-sample buffers)."""
        if self._warm is None:
            st = self.dsp.fresh_state()
            n = self.dsp.prewarm_samples
            if n > 0:
                n = -(-n // PREWARM_BLOCK) * PREWARM_BLOCK
                with blas_single_thread(), np.errstate(all="ignore"):
                    self.dsp.process(st, np.zeros((1, n), np.float32))
            self._warm = st
        return self.dsp.copy_state(self._warm)

    def stream(self) -> NamStream:
        """A fresh stream (state as after Core's Reset) for block-by-block rendering."""
        return NamStream(self)

    def render_chunks(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Render an iterable of consecutive input blocks, yielding output blocks."""
        st = self.stream()
        for c in chunks:
            yield st.process(c)

    def render(self, x: np.ndarray, block: int = DEFAULT_BLOCK,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Render a whole signal (1-D, full scale 1.0) -> float32 array of the same length.

        Deterministic, offline, Core semantics. ``progress(n)`` is called with the number of
        samples done after each block.
        """
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError("render expects a 1-D signal")
        if not np.all(np.isfinite(x)):
            raise ValueError("input signal contains NaN or infinite samples")
        x = x.astype(np.float32, copy=False)
        y = np.empty(len(x), np.float32)
        st = self.stream()
        dsp = self.dsp
        with blas_single_thread(), np.errstate(all="ignore"):
            for i in range(0, len(x), block):
                y[i:i + block] = dsp.process(st.state, x[None, i:i + block])[0]
                if progress is not None:
                    progress(min(i + block, len(x)))
        return y

    def __repr__(self) -> str:
        name = self.path.name if self.path else "<dict>"
        return (f"NamModel({name}, {self.architecture}, {self.sample_rate:g} Hz, "
                f"{self.num_params} params)")


def load(path: str | Path, slim: float | None = None, data: bytes | None = None,
         order_hint: bool = False) -> NamModel:
    """Load and validate a .nam file.

    ``slim`` (0..1) selects a size of a slimmable model like the plugin's Slim knob (a
    SlimmableContainer picks the first submodel with ``slim < max_value``; a slimmable WaveNet
    keeps ``allowed_channels[min(floor(slim*len), len-1)]`` channels). ``None`` = full size.
    ``data``: the file's bytes when they were read already (a pipe's, which gives them once;
    ``filekind.stream_bytes``), ``path`` then only names them. ``order_hint``: the file is
    one of several given in an order (:func:`pedaltool.filekind.wrong_kind_hint`).
    Raises :class:`~pedaltool.errors.NamFileError` naming the file and the problem.
    """
    p = Path(path)
    doc_json, sha256 = read_json(p, data, order_hint)
    model = load_dict(doc_json, slim=slim, name=str(path), path=p)
    model.sha256 = sha256
    return model


def slim_changes_nothing(path: str | Path, data: bytes | None = None) -> bool:
    """True when the Slim setting cannot change this capture: not a SlimmableContainer, and
    its smallest size costs as much as its full size (no slimmable layers). ``data``: as
    :func:`load`'s."""
    smallest = load(path, slim=0.0, data=data)
    return (smallest.architecture != "SlimmableContainer"
            and smallest.macs_per_sample == load(path, data=data).macs_per_sample)


def load_dict(doc_json: dict, slim: float | None = None, name: str = "<model>",
              path: Path | None = None) -> NamModel:
    """Like :func:`load` for an already-parsed JSON object."""
    if slim is not None and (not isinstance(slim, (int, float)) or not 0.0 <= slim <= 1.0):
        raise NamFileError(f"{name}: slim must be between 0 and 1, got {slim!r}")
    try:
        doc = parse_document(doc_json)
        dsp = build_dsp(doc, slim)
        if dsp.in_channels != 1 or dsp.out_channels != 1:
            raise ConfigError("config", "only mono (1 in, 1 out) models are supported")
    except ConfigError as exc:
        raise NamFileError(f"{name}: {exc}") from None
    except (RecursionError, MemoryError):
        raise NamFileError(f"{name}: model is too large or nested too deeply") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError,
            ZeroDivisionError, OverflowError) as exc:
        # A combination of config values the validation above did not foresee: still the
        # file's fault, reported in one line.
        raise NamFileError(f"{name}: inconsistent model config ({type(exc).__name__}: "
                           f"{exc})") from None
    return NamModel(dsp, doc, path, slim)


def check_finite_output(y: np.ndarray, name: str, why: str, error=NamFileError) -> None:
    """``error`` unless a capture's output ``y`` is finite: its weights, or the level it is
    played at, overflow float32. ``name`` names the capture; ``why`` ends the message."""
    if not np.all(np.isfinite(y)):
        raise error(f"{name}: the capture's output overflows (not finite) {why}")


def input_level_dbu(model: NamModel) -> float:
    """The analog level (dBu) that a 0 dBFS peak sine at the model's input corresponds to.

    This is the file's ``metadata.input_level_dbu`` when present, otherwise 12 dBu (0 dBFS =
    +12 dBu, the plugin's and NeuralAudio's default interface level). Use it to set
    test-signal levels: a guitar at ``L`` dBu is ``L - input_level_dbu(model)`` dBFS.
    """
    v = model.metadata.input_level_dbu
    return float(v) if v is not None else DEFAULT_INPUT_LEVEL_DBU
