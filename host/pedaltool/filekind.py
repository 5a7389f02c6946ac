"""What a file is, by its first bytes: the hint when a command is given the wrong kind of file
(arguments in the wrong order are the usual cause)."""

from __future__ import annotations


def file_kind(head: bytes) -> str | None:
    """'pedal', 'wav', 'nam' (a JSON object: a capture) or None, from a file's first bytes."""
    from pedaltool.pedal.fileformat import is_pedal_data

    if is_pedal_data(head):
        return "pedal"
    if head[:4] in (b"RIFF", b"RF64", b"BW64"):
        return "wav"
    if head[:16].lstrip().startswith(b"{"):
        return "nam"
    return None


#: how each kind is named in "not a <expected> (...)" messages (any JSON object is taken for
#: a capture, so that one is a question)
KIND_HINTS = {"pedal": "a .pedal model:", "wav": "a WAV file:", "nam": "JSON, a .nam capture?"}


def wrong_kind_hint(head: bytes) -> str | None:
    """"a WAV file: check the order of the arguments" for a recognised kind, else None."""
    kind = file_kind(head)
    return None if kind is None else f"{KIND_HINTS[kind]} check the order of the arguments"
