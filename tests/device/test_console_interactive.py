"""`pedaltool console` in a real terminal (a pty): commands, replies, the Ctrl-] way out."""

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from minimal_firmware import make_bank, make_firmware
from pedaltool.device.flash import flash


def _read_until(fd, needle: bytes, timeout_s: float) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout_s
    while needle not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


@pytest.mark.slow
def test_interactive_console_and_ctrl_bracket(pedal, tmp_path):
    fw = make_firmware(tmp_path / "fw")
    flash(pedal.port, board="rpi_pico", bank_dir=make_bank(tmp_path / "bank"), fw_dir=fw)
    m, s = os.openpty()
    exe = str(Path(sys.executable).parent / "pedaltool")
    proc = subprocess.Popen([exe, "console", "--port", pedal.port], stdin=s, stdout=s,
                            stderr=s, start_new_session=True)
    os.close(s)
    try:
        banner = _read_until(m, b"Ctrl-]", 60)
        assert b"quit with Ctrl-]" in banner
        os.write(m, b"status\r")
        # readable, as `pedaltool status` shows it, not the protocol line (an audit)
        got = _read_until(m, b"board: ", 10)
        assert b"effect: " in got and b"board: " in got and b"@status" not in got, got
        # a reply it cannot read (this firmware's list is of names): shown as it came, and
        # the console goes on (a review: the reader thread died on it)
        os.write(m, b"preset list\r")
        assert b'@list ["' in _read_until(m, b"@list", 10)
        os.write(m, b"set drive 7\r")
        got = _read_until(m, b"error: ", 10)
        assert b"\nerror: " in got and b"@err" not in got, got  # (this firmware's own words)
        os.write(m, b"\x1d")  # Ctrl-]
        rest = _read_until(m, b"console closed", 10)
        assert b"console closed" in rest
        # the quit word the key's macro types, echoed by the terminal, is taken back
        assert rest.rindex(b"__pedaltool_quit__") < rest.index(b"\x1b[1A\x1b[2K"), rest
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(m)
