"""The .pedal file (docs/pedal-format.md): writer and reader on the host.

``to_bytes``/``from_bytes`` are the one spec; ``write_pedal`` is atomic (temp file + rename) and
runs the sanity check first; ``read_pedal`` raises :class:`PedalFormatError` naming the file for
corrupt, truncated, foreign or unsupported files. The firmware reader (pedalcore.pedalfile) reads
the same bytes and applies the same parameter bounds.
"""

from __future__ import annotations

import math
import os
import struct
import unicodedata
import zlib
from pathlib import Path

import numpy as np

from pedaltool.errors import PedalFormatError
from pedaltool.outfile import write_atomic
from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.model import SHA_PREFIX, Accuracy, SourceInfo
from pedaltool.pedal.quantise import _KIND_CODES, _KNOB_CODES, LOG2_DB, QStage, QuantisedPedal

# the layout's numbers are the firmware reader's (pedalcore.pedalfile), which reads what this
# writes: one place for them
_pf = fw_module("pedalfile")
MAGIC, VERSION, HEADER_SIZE = _pf.MAGIC, _pf.VERSION, _pf.HEADER_SIZE
MAX_FILE = _pf.MAX_FILE  # bytes
N_PARAMS = {_pf.KIND_NAMES[k]: n for k, n in _pf.N_PARAMS.items()}
KIND_NAMES, KNOB_NAMES = _pf.KIND_NAMES, _pf.KNOB_NAMES
META_NAME, META_FILE, META_SHA = _pf.META_NAME, _pf.META_SOURCE_FILE, _pf.META_SOURCE_SHA256
META_GEAR, META_TONE = _pf.META_GEAR_TYPE, _pf.META_TONE_TYPE
META_ESR, META_ESR_PRE, META_CYCLES = _pf.META_ESR, _pf.META_ESR_PRE, _pf.META_CYCLES
META_EFFORT = _pf.META_EFFORT
MAX_TEXT = 255  # bytes of UTF-8 per text field


def _text(s: str) -> bytes:
    """``s`` as UTF-8 of at most MAX_TEXT bytes (cut at a character). A character UTF-8 has
    no bytes for (a lone surrogate: a file name that is not UTF-8, as Python reads it, or a
    capture's metadata) becomes "?": it failed the whole fit at the end (an audit). A control
    character (C0, DEL, C1: a line break in a capture's name) becomes a space: the pedal
    prints names in one-line console replies."""
    s = "".join(" " if unicodedata.category(c) == "Cc" else c for c in s or "")
    raw = s.encode("utf-8", "replace")[:MAX_TEXT]
    return raw.decode("utf-8", "ignore").encode("utf-8")


def to_bytes(qp: QuantisedPedal) -> bytes:
    """Serialise (no sanity check here; see write_pedal)."""
    body = bytearray()
    for st in qp.stages:
        p = [int(v) for v in st.p]
        if len(p) != N_PARAMS[st.kind]:
            raise PedalFormatError(f"{st.kind}: expected {N_PARAMS[st.kind]} parameters")
        tab = np.zeros(0, np.int16) if st.table is None else np.asarray(st.table, np.int16)
        body += struct.pack(_pf.STAGE_HEADER_FMT, _KIND_CODES[st.kind], _KNOB_CODES[st.knob],
                            len(p), len(tab), 0)
        body += struct.pack(f"<{len(p)}i", *p)
        body += tab.astype("<i2").tobytes()
    meta = [(META_NAME, _text(qp.name)), (META_FILE, _text(qp.source.file_name)),
            (META_SHA, _text(qp.source.sha256[:SHA_PREFIX])),
            (META_GEAR, _text(qp.source.gear_type)), (META_TONE, _text(qp.source.tone_type)),
            (META_ESR, struct.pack("<f", qp.accuracy.esr)),
            (META_ESR_PRE, struct.pack("<f", qp.accuracy.esr_pre)),
            (META_CYCLES, struct.pack("<f", qp.accuracy.cycles))]
    if qp.accuracy.effort:  # files fitted before the key existed have none
        meta.append((META_EFFORT, _text(qp.accuracy.effort)))
    body += struct.pack("<H", len(meta))
    for key, raw in meta:
        body += struct.pack(_pf.META_ENTRY_FMT, key, 0, len(raw)) + raw
    total = HEADER_SIZE + len(body) + 4
    head = MAGIC + struct.pack("<HHIIHHI", VERSION, HEADER_SIZE, total, int(qp.sample_rate),
                               len(qp.stages), 0, 0)
    data = head + bytes(body)
    return data + struct.pack("<I", zlib.crc32(data) & 0xFFFFFFFF)


def is_pedal_data(head: bytes) -> bool:
    """Do these first bytes of a file start a .pedal model? (Of any format version: the
    version is the field after the magic, docs/pedal-format.md.)"""
    return head[:4] == MAGIC


def from_bytes(data: bytes, name: str = "pedal", order_hint: bool = False) -> QuantisedPedal:
    """Parse with the firmware's reader (same checks), then convert to a QuantisedPedal.
    ``order_hint``: the file is one of several given in an order
    (:func:`pedaltool.filekind.wrong_kind_hint`)."""
    try:
        ped = _pf.parse(data, name)
    except ValueError as exc:
        msg = str(exc)
        if msg.endswith("(bad magic)"):  # what is it then? (arguments swapped, a typo)
            from pedaltool.filekind import wrong_kind_hint  # (it reads is_pedal_data here)

            kind = wrong_kind_hint(data, "pedal", order_hint)
            if kind:
                msg = msg.replace("(bad magic)", f"(bad magic: it is {kind})")
        raise PedalFormatError(msg) from None
    except struct.error as exc:  # defensive: the parser bounds-checks before unpacking
        raise PedalFormatError(f"{name}: malformed ({exc})") from None
    stages = []
    ranges = {}
    for st in ped.stages:
        kind = KIND_NAMES[st.kind]
        knob = KNOB_NAMES[st.knob]
        # the reader pads a table with its last value repeated (the engine's form): drop it
        tab = None if st.table is None else np.array(st.table[:-1], dtype=np.int16)
        p = tuple(int(v) for v in st.p)
        stages.append(QStage(kind, knob, p, tab))
        if knob and knob not in ranges:  # a knob on several stages: its first (pedal_info)
            ranges[knob] = knob_range_db(stages[-1])
    m = ped.meta
    src = SourceInfo(m.get(META_FILE, ""), m.get(META_SHA, ""), m.get(META_GEAR, ""),
                     m.get(META_TONE, ""))
    acc = Accuracy(float(m.get(META_ESR, float("nan"))), float(m.get(META_ESR_PRE, float("nan"))),
                   float(m.get(META_CYCLES, float("nan"))), str(m.get(META_EFFORT, "")))
    return QuantisedPedal(stages, int(ped.rate), m.get(META_NAME, ""), src, acc, ranges)


def knob_range_db(st: QStage) -> tuple[float, float]:
    """(min, max) dB of the knob on stage ``st`` (a gain, table or tone stage with a knob),
    from its log2 Q10 parameters."""
    lo, hi = (st.p[2], st.p[3]) if st.kind == "gain" else (st.p[4], st.p[5]) \
        if st.kind == "table" else (st.p[1], st.p[2])
    return lo / 1024 * LOG2_DB, hi / 1024 * LOG2_DB  # (quantise._log2q inverted)


def write_pedal(path, qp: QuantisedPedal, check: bool = True) -> Path:
    """Sanity-check (unless check=False, tests only) and write atomically. Returns the path."""
    from pedaltool.pedal.sanity import sanity_check

    path = Path(path)
    if check:
        sanity_check(qp)
    data = to_bytes(qp)
    from_bytes(data, path.name)  # the file we write must read back
    write_atomic(path, data, make_folder=True, error=PedalFormatError)
    return path


def read_pedal(path, data: bytes | None = None, order_hint: bool = False) -> QuantisedPedal:
    """Read and validate a .pedal file; PedalFormatError names the file and the problem.
    ``data``: the file's bytes when they were read already (a pipe's, which gives them once;
    ``filekind.stream_bytes``), ``path`` then only names them. ``order_hint``: the file is one
    of several given in an order (:func:`pedaltool.filekind.wrong_kind_hint`)."""
    shown = str(path)  # as the user gave it, so a file in another folder is findable
    size = 0  # (of a file; bytes given: "more than" the limit, all that can be said)
    try:
        # never more than a .pedal can be plus one byte: a huge file (or /dev/zero) is told
        # by its size, as the firmware's load tells it, not read whole
        if data is None:
            with open(path, "rb") as f:
                data = f.read(MAX_FILE + 1)
                size = os.fstat(f.fileno()).st_size
    except IsADirectoryError:
        raise PedalFormatError(f"{shown}: is a directory, not a .pedal file") from None
    except FileNotFoundError:  # worded as the .nam and WAV readers word it
        raise PedalFormatError(f"{shown}: file not found") from None
    except OSError as exc:
        raise PedalFormatError(f"{shown}: cannot read ({exc.strerror or exc})") from None
    data = data[:MAX_FILE + 1]
    if len(data) > MAX_FILE and is_pedal_data(data):  # (another kind: its magic says)
        got = f"{size} bytes" if size > MAX_FILE else f"more than {MAX_FILE} bytes"
        raise PedalFormatError(f"{shown}: too large ({got}; a .pedal has at most {MAX_FILE})")
    return from_bytes(data, shown, order_hint)


def pedal_info(path, data: bytes | None = None) -> dict:
    """What a .pedal file holds, as plain JSON-able values (``pedaltool info X.pedal``): name,
    rate (Hz), size (bytes), the capture it came from, the stages in order (runs of biquads
    counted), knob ranges (dB) and the accuracy the fit recorded. PedalFormatError for a file
    the reader rejects. ``data``: as :func:`read_pedal`'s."""
    path = Path(path)
    qp = read_pedal(path, data)
    runs: list[list] = []  # [label, count]: a run of biquads is one entry
    for st in qp.stages:
        label = st.kind + (f" ({st.knob})" if st.knob and st.knob != st.kind else "")
        if runs and runs[-1][0] == label == "biquad":
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    stages = [f"{n} x {label}" if n > 1 else label for label, n in runs]
    # a knob that moves several stages by different ranges (the fitter never writes one):
    # knob_ranges_db gives its first, and a note all of them
    notes = []
    for knob in qp.knob_ranges:
        moved = [(st.kind, knob_range_db(st)) for st in qp.stages if st.knob == knob]
        if len({r for _, r in moved}) > 1:
            notes.append(f"note: the {knob} knob moves {len(moved)} stages by different "
                         "ranges: " + ", ".join(f"{kind} {lo:+.2f}..{hi:+.2f} dB"
                                                for kind, (lo, hi) in moved)
                         + "; its range above is the first's")
    acc = qp.accuracy
    # NaN: not recorded; an infinity (a damaged or foreign writer's) is no score either, and
    # strict JSON has no word for it
    num = lambda v: v if math.isfinite(v) else None  # noqa: E731
    return {
        "file": path.name, "bytes": path.stat().st_size if data is None else len(data),
        "name": qp.name,
        "sample_rate_hz": qp.sample_rate,
        "source": qp.source.as_dict(),
        "stages": stages,
        "knob_ranges_db": {k: [round(lo, 2), round(hi, 2)]
                           for k, (lo, hi) in qp.knob_ranges.items()},
        # what the fit recorded: its device-exact scores (null: not recorded), cost, effort
        "device": {"esr": num(acc.esr), "esr_pre": num(acc.esr_pre)},
        "cycles_per_sample": num(acc.cycles), "effort": acc.effort or None,
        "notes": notes,
    }
