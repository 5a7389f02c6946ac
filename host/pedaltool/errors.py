"""One exception type per room. Each carries a one-line, user-facing message.

The CLI turns any :class:`PedaltoolError` into ``error: <message>`` on stderr and exit code 2.
Messages name the file (or port) and the problem, e.g. ``amp.nam: weights: expected 13802
floats, found 13801``.
"""

import os


class PedaltoolError(Exception):
    """Base class: a problem the user can act on (bad input, missing device, ...)."""


class NamFileError(PedaltoolError):
    """A .nam capture cannot be parsed, validated or rendered."""


class AudioFileError(PedaltoolError):
    """A WAV file cannot be read or written."""


class FitError(PedaltoolError):
    """A capture or recording pair cannot be turned into a pedal model."""


class PedalFormatError(PedaltoolError):
    """A .pedal file is corrupt, truncated, foreign or of an unsupported version."""


class DeviceError(PedaltoolError):
    """The pedal (a board or the virtual pedal) cannot be reached or updated."""


def debugging() -> bool:
    """PEDALTOOL_DEBUG is set: an internal bug raises its traceback instead of one line."""
    return bool(os.environ.get("PEDALTOOL_DEBUG"))


def internal_error_text(exc: Exception) -> str:
    """How an exception that is not a PedaltoolError is reported: one line. An internal bug
    asks for a report; running out of memory is not one and says what helps."""
    if isinstance(exc, MemoryError):  # (numpy's says how much it wanted)
        return (f"out of memory{f' ({exc})' if str(exc) else ''}: the work does not fit in "
                "this machine's free memory; a shorter input needs less")
    return (f"internal error ({type(exc).__name__}: {exc}); rerun with PEDALTOOL_DEBUG=1 "
            "for a traceback and please report it")
