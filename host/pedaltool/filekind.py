"""What a file is, by its first bytes: the hint when a command is given the wrong kind of file
(where a command takes several files in an order, arguments in the wrong order are the usual
cause)."""

from __future__ import annotations

import os
import stat

#: the first four bytes of a WAV file: RIFF, and its 64-bit-size forms RF64 and BW64
WAV_MAGICS = (b"RIFF", b"RF64", b"BW64")


def file_kind(head: bytes) -> str | None:
    """'pedal', 'wav', 'nam' (a JSON object: a capture) or None, from a file's first bytes."""
    from pedaltool.pedal.fileformat import is_pedal_data

    if is_pedal_data(head):
        return "pedal"
    if head[:4] in WAV_MAGICS and head[8:12] == b"WAVE":  # (a RIFF may be an AVI)
        return "wav"
    text = head[:16]
    if text.startswith(b"\xef\xbb\xbf"):  # a BOM, which the .nam reader accepts
        text = text[3:]
    if text.lstrip().startswith(b"{"):
        return "nam"
    return None


def head_of(path: str | os.PathLike, n: int = 64) -> bytes | None:
    """The first ``n`` bytes of a regular file; None for anything else, or a file that cannot
    be read (its reader says why). A pipe is left alone: it gives its bytes once, and the
    reader needs them (an audit: `fit <(cat x.nam)` said "empty file")."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return None


def stream_bytes(path: str | os.PathLike, limit: int) -> bytes | None:
    """All of a pipe's or a device's bytes, up to ``limit`` + 1 (a reader then tells a larger
    input by its length); None for a regular file, a folder or a name that cannot be opened,
    which their readers open and name themselves. A pipe gives its bytes once, so a command
    that needs them twice (what kind of file it is, then the reader) reads them here and
    hands them on (``info <(cat x.pedal)`` was refused, though ``fit`` takes a pipe: a review).
    OSError when reading fails."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            return None
        fh = open(path, "rb")
    except OSError:
        return None
    with fh:
        return fh.read(limit + 1)


#: how each kind is named in "not a <expected> (...)" messages (any JSON object is taken for
#: a capture, so that one is a question)
KIND_HINTS = {"pedal": "a .pedal model", "wav": "a WAV file", "nam": "JSON, a .nam capture?"}


def wrong_kind_hint(head: bytes, expected: str, order_hint: bool = False) -> str | None:
    """"a WAV file" for a file recognised as another kind than the ``expected`` one, else None
    (the reader's own reason stands: a RIFF file that is no WAVE is not "a WAV file").
    ``order_hint``: the file is one of several a command takes in an order (``render MODEL
    IN.wav OUT.wav``, ``compare MODEL PEDAL``), where a swap is the usual cause: "a WAV file:
    check the order of the arguments". Nowhere else: an option's file, a bank's file or a
    command's only file has no order to check (an audit: `flash` and `virtual --input` said
    it)."""
    kind = file_kind(head)
    if kind is None or kind == expected:
        return None
    name = KIND_HINTS[kind]
    if not order_hint:
        return name
    return f"{name}{'' if name.endswith('?') else ':'} check the order of the arguments"
