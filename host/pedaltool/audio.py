"""WAV in/out, resampling and level conversions: the one place pedaltool touches audio files.

Reading accepts RIFF/WAVE (and RF64/BW64, its 64-bit-size form) with 8/16/24/32-bit PCM or
32/64-bit IEEE float samples (plain or WAVE_FORMAT_EXTENSIBLE), mono or multi-channel (the
first channel is used, with a note).
Samples come back as float32 in [-1, 1) full scale (0 dBFS = 1.0).

Writing always produces 32-bit float mono WAV, atomically: the data goes to a temporary file in
the destination folder which is renamed over the target only when complete, so an error never
leaves a partial output file behind.

Errors are :class:`pedaltool.errors.AudioFileError` with a one-line message naming the file.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from pedaltool.errors import AudioFileError
from pedaltool.filekind import WAV_MAGICS, wrong_kind_hint
from pedaltool.outfile import write_atomic, write_atomic_set

#: Sample rates outside this range (Hz) are refused as implausible for guitar audio.
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 384000
#: The analog level (dBu) of a 0 dBFS sine at a typical interface input (plugin default).
DEFAULT_INTERFACE_DBU = 12.0

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
# a data chunk size a writer leaves when it never finishes the file: 0 (a recorder stopped
# mid-take) or 0xFFFFFFFF (a streaming writer)
_UNSET_SIZES = (0, 0xFFFFFFFF)


@dataclass
class AudioClip:
    """A mono signal read from a file.

    samples: float32 array, full scale 1.0; rate_hz: sample rate in Hz; notes: human-readable
    remarks about what was done on reading (channel dropped, resampled, ...).
    """

    samples: np.ndarray
    rate_hz: float
    notes: list[str] = field(default_factory=list)
    resampled: bool = False  # read at another rate than the file's (a note says so too)
    sha256: str = ""  # hex sha256 of the file's bytes as read ("" when not read from a file)
    channels: int = 1  # the file's channels (``samples`` is its first)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.rate_hz)


def _fail(path: Path | str, problem: str) -> AudioFileError:
    return AudioFileError(f"{path}: {problem}")


def _decode(raw: bytes, fmt: int, bits: int, block_align: int, channel: int = 0) -> np.ndarray:
    """Bytes of interleaved frames -> float32 array of one channel (0: the first)."""
    nbytes = bits // 8
    nframes = len(raw) // block_align
    if nframes == 0:
        return np.zeros(0, np.float32)
    frames = np.frombuffer(raw, dtype=np.uint8, count=nframes * block_align)
    at = channel * nbytes
    first = np.ascontiguousarray(frames.reshape(nframes, block_align)[:, at:at + nbytes])
    if fmt == _FORMAT_FLOAT:
        with np.errstate(over="ignore"):  # beyond float32: infinite, refused by read_wav
            return first.view("<f4" if bits == 32 else "<f8")[:, 0].astype(np.float32)
    if bits == 8:  # unsigned, offset 128
        return ((first[:, 0].astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if bits == 16:  # (scaled in place: a power of two is exact, and a long file is big)
        out = first.view("<i2")[:, 0].astype(np.float32)
        out *= np.float32(1.0 / 32768.0)
        return out
    if bits == 32:
        return (first.view("<i4")[:, 0].astype(np.float64) / 2147483648.0).astype(np.float32)
    # 24-bit: assemble three little-endian bytes into a sign-extended integer
    val = (first[:, 0].astype(np.int32) | (first[:, 1].astype(np.int32) << 8)
           | (first[:, 2].astype(np.int32) << 16))
    val = np.where(val >= 1 << 23, val - (1 << 24), val)
    return (val.astype(np.float64) / float(1 << 23)).astype(np.float32)


def read_wav(path: str | os.PathLike, rate_hz: float | None = None,
             order_hint: bool = False) -> AudioClip:
    """Read a WAV file as a mono float32 clip.

    If ``rate_hz`` is given and differs from the file's rate, the signal is resampled to it
    (polyphase, :func:`resample`) and a note says so. ``order_hint``: the file is one of
    several given in an order (:func:`pedaltool.filekind.wrong_kind_hint`).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise _fail(p, "file not found") from None
    except IsADirectoryError:
        raise _fail(p, "is a directory, not a WAV file") from None
    except OSError as exc:
        raise _fail(p, f"cannot read ({exc.strerror or exc})") from None
    if len(data) == 0:
        raise _fail(p, "empty file")
    # RF64 and BW64 (EBU 3306, ITU BS.2088): a RIFF whose 32-bit sizes may be 0xFFFFFFFF,
    # the real ones in a "ds64" chunk first; some recorders write it for every file (an
    # audit: it was refused as "the format for files over 4 GB")
    if len(data) < 12 or data[:4] not in WAV_MAGICS or data[8:12] != b"WAVE":
        hint = wrong_kind_hint(data, "wav", order_hint) or "no RIFF/WAVE header"
        raise _fail(p, f"not a WAV file ({hint})")
    wide = data[:4] != b"RIFF"
    view = memoryview(data)  # the audio is read through it: a slice of bytes is a copy
    fmt_info = None
    audio = None
    wide_data_size = None  # the ds64 chunk's data size
    notes: list[str] = []
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if wide and cid == b"data" and size == 0xFFFFFFFF:
            if wide_data_size is None:
                raise _fail(p, f"corrupt {data[:4].decode()} WAV: no ds64 chunk before its "
                               "data")
            size = wide_data_size
        body = view[pos + 8 : pos + 8 + size]
        if cid == b"ds64" and wide and len(body) >= 16:
            (wide_data_size,) = struct.unpack("<Q", body[8:16])
        elif cid == b"fmt ":
            if len(body) < 16:
                raise _fail(p, "corrupt WAV: fmt chunk too short")
            fmt, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
            if fmt == _FORMAT_EXTENSIBLE:
                if len(body) < 26:
                    raise _fail(p, "corrupt WAV: extensible fmt chunk too short")
                (fmt,) = struct.unpack("<H", body[24:26])
            fmt_info = (fmt, channels, rate, block_align, bits)
        elif cid == b"data":
            if fmt_info is None:
                raise _fail(p, "corrupt WAV: data chunk before fmt chunk")
            if (size in _UNSET_SIZES and len(data) > pos + 8
                    and not (size == 0 and _chunk_id(data, pos + 8, whole=True))):
                # a recorder that stopped before writing the size (or a streaming writer
                # that never does): what follows is the audio, as FFmpeg reads it (an audit:
                # size 0 was "no audio samples", 0xFFFFFFFF "truncated" though complete);
                # a size 0 with a chunk after it is an empty data chunk
                body = view[pos + 8:]
                notes.append(f"data chunk size unset ({size:#x}, a recording not finalised?):"
                             f" read the {len(body)} bytes to the end of the file")
            elif len(body) < size:
                notes.append(f"data chunk truncated: {len(body)} of {size} bytes present")
            audio, promised = body, len(body) if size in _UNSET_SIZES else size
            break
        pos += 8 + size + (size & 1)  # chunks are padded to even sizes ...
        if size & 1 and not _chunk_id(data, pos) and _chunk_id(data, pos - 1):
            pos -= 1  # ... but some writers leave the pad byte out (an audit: "no data chunk")
    if fmt_info is None:
        raise _fail(p, "corrupt WAV: no fmt chunk")
    if audio is None:
        raise _fail(p, "corrupt WAV: no data chunk")
    fmt, channels, rate, block_align, bits = fmt_info
    if fmt == _FORMAT_PCM and not 1 <= bits <= 32:
        raise _fail(p, f"unsupported PCM sample size {bits} bits (expected 1 to 32)")
    if fmt == _FORMAT_FLOAT and bits not in (32, 64):
        raise _fail(p, f"unsupported float sample size {bits} bits (expected 32 or 64)")
    if fmt not in (_FORMAT_PCM, _FORMAT_FLOAT):
        raise _fail(p, f"unsupported WAV encoding (format tag 0x{fmt:04x}; need PCM or float)")
    if channels < 1:
        raise _fail(p, "corrupt WAV: zero channels")
    # a 12- or 20-bit sample sits left-justified in whole bytes (16, 24): read at that width,
    # it has its full scale there (an audit: a valid 12-bit file was refused)
    width = 8 * ((bits + 7) // 8)
    frame = channels * (width // 8)
    if block_align != frame:  # (a wrong one read the samples out of step: noise, unsaid)
        chans = (f"{channels} channels of {bits} bits take" if channels > 1
                 else f"1 channel of {bits} bits takes")
        raise _fail(p, f"corrupt WAV: a frame size of {block_align} bytes, where {chans} "
                       f"{frame}")
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise _fail(p, f"unsupported sample rate {rate} Hz (expected {MIN_RATE_HZ}-{MAX_RATE_HZ})")
    samples = _decode(audio, fmt, width, block_align)
    if samples.size == 0:
        raise _fail(p, f"truncated: no audio samples of the {promised} bytes its data chunk "
                    "promises" if len(audio) < promised else "no audio samples (empty data "
                    "chunk)")
    if not np.all(np.isfinite(samples)):
        raise _fail(p, "contains NaN or infinite samples (or float samples beyond 3.4e38)")
    if channels > 1:
        note = f"{channels}-channel file: using the first channel only"
        if silent(samples):  # a DI recorded on an interface's second input: said for every
            # command (an audit: render wrote silence, compare and fit called the file silent)
            loud = [c for c in range(1, channels)
                    if not silent(_decode(audio, fmt, width, block_align, c))]
            if loud:
                note += f"; it is silent, and channel {loud[0] + 1} is not: export that channel"
        notes.append(note)
    # at 8 bits a full-scale crest rounds flat for a dozen samples: clipping cannot be told
    flat = clipped_samples(samples) if bits > 8 else 0
    if flat:
        notes.append(f"clipped: {flat} samples ({100 * flat / samples.size:.2g} %) sit flat at "
                     "full scale; record with more headroom")
    clip = AudioClip(samples=samples, rate_hz=float(rate), notes=notes,
                     sha256=hashlib.sha256(data).hexdigest(), channels=channels)
    return clip if rate_hz is None else at_rate(clip, rate_hz)


def _chunk_id(data: bytes, pos: int, whole: bool = False) -> bool:
    """Could a RIFF chunk start at ``pos``: four printable ASCII characters and a size (with
    ``whole``, a size the file holds: 8-bit audio just under its centre is printable too)?"""
    if not (pos + 8 <= len(data) and all(0x20 <= c <= 0x7E for c in data[pos:pos + 4])):
        return False
    return not whole or pos + 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0] <= len(data)


def at_rate(clip: AudioClip, rate_hz: float) -> AudioClip:
    """``clip`` resampled to ``rate_hz`` (itself if it is at that rate), with a note saying so:
    what ``read_wav(path, rate_hz)`` gives, without reading the file again (a file read twice
    can change in between, and a pipe gives its bytes once)."""
    if float(rate_hz) == float(clip.rate_hz):
        return clip
    return replace(clip, samples=resample(clip.samples, clip.rate_hz, rate_hz),
                   rate_hz=float(rate_hz), notes=clip.notes + [rate_note(clip.rate_hz, rate_hz)],
                   resampled=resample_ratio(clip.rate_hz, rate_hz) != 1)


CLIP_LEVEL = 0.99  # a sample at or above this magnitude (-0.09 dBFS) is at full scale
# identical samples in a row at full scale: a flat top. 6, because a 16-bit full-scale sine
# rounds flat at its crests for up to 5 (15-20 Hz; 3 at 30 Hz, none from 82 Hz on), while
# a recorder's clipping holds the rail for longer (a 110 Hz sine 1.2x over full scale: 109
# samples a crest; 5 % over at 1 kHz: 5-14)
CLIP_RUN = 6


def clipped_samples(x: np.ndarray) -> int:
    """How many samples of ``x`` sit in flat runs (CLIP_RUN or more identical samples in a
    row) at full scale, on either rail (+32767 and -32768 are different magnitudes): what a
    recorder's or converter's clipping leaves; 0 for a clean file."""
    x = np.asarray(x)
    hot = (x >= CLIP_LEVEL) | (x <= -CLIP_LEVEL)  # (no |x| copy of a long file)
    if not hot.any():
        return 0
    # pair i: samples i and i+1 equal and at full scale; a run of k pairs is k+1 samples
    pairs = (x[1:] == x[:-1]) & hot[1:]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], pairs.astype(np.int8), [0]])))
    samples = edges[1::2] - edges[::2] + 1
    return int(samples[samples >= CLIP_RUN].sum())


def resample(x: np.ndarray, from_hz: float, to_hz: float) -> np.ndarray:
    """Polyphase resampling (scipy ``resample_poly``) from ``from_hz`` to ``to_hz``.

    The ratio is reduced to a fraction with a denominator of at most 1000, which is exact
    between the common rates up to 192 kHz (44.1k/48k/96k ...); 384 kHz to 44.1 kHz is 7 ppm
    off (147/1280 needs a larger denominator). Output length is ceil(len(x) * to / from).
    """
    from scipy.signal import resample_poly

    ratio = resample_ratio(from_hz, to_hz)
    if ratio == 1:
        return np.asarray(x, dtype=np.float32)
    y = resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator)
    return y.astype(np.float32)


def resample_ratio(from_hz: float, to_hz: float) -> Fraction:
    """The ratio :func:`resample` applies: ``to_hz / from_hz`` with a denominator of at most
    1000 (1: the samples are kept as they are)."""
    if from_hz <= 0 or to_hz <= 0:
        raise AudioFileError(f"cannot resample from {from_hz} Hz to {to_hz} Hz")
    return Fraction(float(to_hz) / float(from_hz)).limit_denominator(1000)


def rate_note(from_hz: float, to_hz: float, to_what: str = "") -> str:
    """What :func:`resample` does to a signal at ``from_hz`` played at ``to_hz`` (``to_what``:
    whose rate that is, e.g. "the pedal's "), as a note says it: a rate within a 1/1000 step
    of ``to_hz`` (48001 Hz for 48000) is taken as it, unchanged, and is not called resampled."""
    if resample_ratio(from_hz, to_hz) != 1:
        return f"resampled from {from_hz:g} Hz to {to_what}{to_hz:g} Hz"
    return (f"taken as {to_hz:g} Hz: its {from_hz:g} Hz is "
            f"{abs(from_hz / float(to_hz) - 1) * 100:.2g} % away (not resampled)")


# notes on how a file was read that change what is heard: said as warnings
_WARNING_NOTES = ("resampled", "input peaks", "data chunk truncated", "data chunk size unset",
                  "clipped", "ignored metadata input_level_dbu", "input_level_dbu")


def note_kind(note: str) -> str:
    """'warning' for a note on an input that changes what is heard (resampled, clipped,
    truncated), else 'note': the prefix a command says it with (``note``: as read_wav or
    render_file made it, without the file's name)."""
    return "warning" if note.startswith(_WARNING_NOTES) else "note"


def note_lines(notes: list[str], where: str | None = None) -> list[str]:
    """``notes`` on an input (``where``: its name, or None) as they are said on stderr and
    listed in a JSON report's ``notes``: each with its :func:`note_kind`."""
    return [f"{note_kind(note)}: " + (f"{where}: " if where else "") + note for note in notes]


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate_hz: float,
              make_folder: bool = False) -> None:
    """Write mono 32-bit float WAV atomically (temp file in the same folder, then rename);
    ``make_folder``: create missing folders on the way."""
    write_atomic(path, _wav_bytes(Path(path), samples, rate_hz), make_folder,
                 error=AudioFileError)


def write_wavs(files: list[tuple[str | os.PathLike, np.ndarray]], rate_hz: float,
               make_folder: bool = False) -> None:
    """:func:`write_wav` for WAVs that belong together (an A/B pair): all of them or, on a
    failure, none replaced (``outfile.write_atomic_set``)."""
    write_atomic_set([(p, _wav_bytes(Path(p), x, rate_hz)) for p, x in files], make_folder,
                     error=AudioFileError)


def _wav_bytes(p: Path, samples: np.ndarray, rate_hz: float) -> bytearray:
    """Mono 32-bit float WAV file contents; ``p`` names the file in an error."""
    x = np.asarray(samples, dtype="<f4").ravel()
    rate = int(round(float(rate_hz)))
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise _fail(p, f"refusing to write sample rate {rate_hz} Hz")
    if not np.all(np.isfinite(x)):
        raise _fail(p, "refusing to write NaN or infinite samples")
    payload = 4 * x.size
    fmt = struct.pack("<HHIIHHH", _FORMAT_FLOAT, 1, rate, rate * 4, 4, 32, 0)
    fact = struct.pack("<I", x.size)
    riff_size = 4 + (8 + len(fmt)) + (8 + len(fact)) + (8 + payload)
    if riff_size > 0xFFFFFFFF:  # (struct.error after the whole render, a review)
        raise _fail(p, f"{x.size / rate / 3600:.1f} h of audio is too long for a WAV file "
                    "(4 GiB): render a shorter input")
    head = b"".join([b"RIFF", struct.pack("<I", riff_size), b"WAVE",
                     b"fmt ", struct.pack("<I", len(fmt)), fmt,
                     b"fact", struct.pack("<I", len(fact)), fact,
                     b"data", struct.pack("<I", payload)])
    out = bytearray(len(head) + payload)  # the samples copied once (an hour is 0.7 GB)
    out[:len(head)] = head
    out[len(head):] = memoryview(np.ascontiguousarray(x)).cast("B")
    return out


# ---- levels ---------------------------------------------------------------------------------


def db_to_gain(db: float) -> float:
    """Decibels -> linear amplitude factor."""
    return 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    """Linear amplitude factor -> decibels (-inf for 0)."""
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


SILENT_DBFS = -100.0  # RMS below which a signal counts as silent


def silent(x: np.ndarray) -> bool:
    """Whether ``x`` counts as silent: an RMS under SILENT_DBFS, 0.3 of the pedal's 16-bit
    LSB: nothing a model can be fitted or scored on."""
    return not rms_dbfs(x) >= SILENT_DBFS


def silence_text(x: np.ndarray) -> str:
    """How silent a :func:`silent` signal is, for a message: "digital silence" or its RMS."""
    return "digital silence" if not np.any(x) else f"RMS {rms_dbfs(x):.0f} dBFS"


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dBFS (full scale 1.0 = 0 dBFS; a full-scale sine is -3.01 dBFS)."""
    x = np.asarray(x, dtype=np.float64)
    return gain_to_db(float(np.sqrt(np.mean(x * x)))) if x.size else -math.inf


def peak_dbfs(x: np.ndarray) -> float:
    """Peak level in dBFS."""
    x = np.asarray(x)
    return gain_to_db(float(np.max(np.abs(x)))) if x.size else -math.inf


def dbfs_to_dbu(dbfs: float, full_scale_dbu: float = DEFAULT_INTERFACE_DBU) -> float:
    """Digital level -> analog level, given the dBu that 0 dBFS corresponds to."""
    return dbfs + full_scale_dbu


def dbu_to_dbfs(dbu: float, full_scale_dbu: float = DEFAULT_INTERFACE_DBU) -> float:
    """Analog level -> digital level, given the dBu that 0 dBFS corresponds to."""
    return dbu - full_scale_dbu
