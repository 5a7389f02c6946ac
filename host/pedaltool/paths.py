"""Where the firmware, board profiles and bundled examples live.

In a wheel they are package data (``pedaltool/_firmware`` ...); in a source checkout (editable
install, tests) they are the repository's top-level folders.
"""

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent.parent


def _pick(packaged: str, repo: str) -> Path:
    p = _PKG / packaged
    return p if p.is_dir() else _REPO / repo


def firmware_dir() -> Path:
    """The MicroPython firmware tree (``main.py`` and the ``pedalcore`` package)."""
    return _pick("_firmware", "firmware")


def boards_dir() -> Path:
    """The board profiles (``*.toml``)."""
    return _pick("_boards", "boards")


def examples_dir() -> Path:
    """Bundled example capture and signals."""
    return _pick("_examples", "examples")
