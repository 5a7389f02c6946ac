"""Progress for long work without a terminal: a line every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

EVERY_S = 5.0  # a long job says how far it is at least this often


def every(say: Callable[[str], None], total: int, label: str = "rendering",
          seconds: float = EVERY_S) -> Callable[[int], None]:
    """A callback(done) that calls ``say("<label>: N %")`` at most every ``seconds`` (a log
    or a pipe gets no progress bar; a 10-minute DI takes minutes to render here)."""
    shown = [time.monotonic()]

    def tick(done: int) -> None:
        now = time.monotonic()
        if now - shown[0] >= seconds:
            shown[0] = now
            say(f"{label}: {100 * done // max(total, 1)} %")

    return tick
