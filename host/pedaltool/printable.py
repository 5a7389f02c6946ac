"""Text from a file or the pedal made safe to print."""

from __future__ import annotations


def shown(text: str) -> str:
    """``text`` from a file or the pedal (a preset's name) as it may be printed: control
    characters (a newline, an escape sequence) escaped, never acted on."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
