"""Client for the pedal's console protocol (docs/architecture.md): ``@<tag> <payload>`` lines.

:class:`Console` sends one command and returns its one-line reply, parsed (``status``,
``list``, ``bench`` and ``boot`` payloads are JSON). If the board sits at the MicroPython REPL
instead of running the pedal (e.g. after a manual Ctrl-C), it soft-resets it once so that
``main.py`` starts the firmware. :func:`interactive` is ``pedaltool console``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pedaltool.device.transport import Link
from pedaltool.errors import DeviceError

JSON_TAGS = {"status", "list", "bench", "boot"}
#: Seconds to wait for a reply line (bench runs the kernels on the board: longer).
REPLY_TIMEOUT_S = 3.0
BENCH_TIMEOUT_S = 30.0
BOOT_TIMEOUT_S = 20.0
# the line that ends MicroPython's banner when its REPL starts (after a reset with no program
# to run), on boards and on the unix port (whose first line names a commit, not a version)
REPL_BANNER = 'Type "help()" for more information'
QUIT_KEY = "\x1d"  # Ctrl-]
_QUIT_WORD = "__pedaltool_quit__"  # what the Ctrl-] readline macro submits


@dataclass
class Reply:
    tag: str
    payload: str
    data: Any = None  # parsed JSON for the JSON tags, else the payload text

    @property
    def ok(self) -> bool:
        return self.tag != "err"


def parse_reply(line: str) -> Reply:
    """``@status {...}`` -> Reply('status', '{...}', {...}). Raises DeviceError if malformed."""
    line = line.strip("\r\n\x04 ")
    if not line.startswith("@"):
        raise DeviceError(f"not a console reply: {line[:60]!r}")
    tag, _, payload = line[1:].partition(" ")
    data: Any = payload
    if tag in JSON_TAGS:
        try:
            data = json.loads(payload)
        except ValueError:
            raise DeviceError(f"@{tag}: payload is not JSON: {payload[:60]!r}") from None
    return Reply(tag, payload, data)


def _expected_tags(command: str) -> set[str] | None:
    """Tags that answer ``command`` (an ``@err`` always does); None: any tag."""
    words = command.split()
    if not words:
        return None
    head = words[0]
    if head == "status":
        return {"status"}
    if head == "help":
        return {"help"}
    if head == "bench":
        return {"bench"}
    if head == "preset" and len(words) > 1 and words[1] == "list":
        return {"list"}
    if head in ("set", "preset", "bypass", "save"):
        return {"ok"}
    return None


def _at_repl(lines: list[str]) -> bool:
    """Whether the replies to ``help`` came from MicroPython's REPL, not the firmware: its
    prompt, an error, or the help function's repr (``<function>``: the REPL's answer to a
    bare ``help``, whose next prompt ``>>> `` ends no line; the input buffer is cleared
    before the command is sent, so the one before it is gone)."""
    text = "\n".join(lines)
    return any(w in text for w in (">>>", "NameError", "SyntaxError", "<function"))


def _err_text(command: str, payload: str) -> str:
    """``command``'s ``@err`` reply as the error says it, the command's words once: "CMD:
    REASON" without the words the payload starts with ("set drive 2: expected 0..1 or pot",
    not "set drive 2: set drive: expected ...": an audit), and a payload that starts with
    the whole command and more of its own as it is ("preset 2 (amp.pedal): ValueError: ...",
    not "preset 2: preset 2 (amp.pedal): ...": an audit)."""
    head, sep, rest = payload.partition(": ")
    if sep and rest and (command == head or command.startswith(head + " ")):
        return f"{command}: {rest}"
    if payload.startswith(command + " "):
        return payload
    return f"{command}: {payload}"


class Console:
    """One-shot commands on an open :class:`Link` (not in the raw REPL)."""

    def __init__(self, link: Link):
        self.link = link

    def _send(self, command: str) -> None:
        ser = self.link.serial
        ser.reset_input_buffer()
        ser.write(command.encode() + b"\n")

    def sync(self, timeout_s: float = REPLY_TIMEOUT_S) -> None:
        """Make sure the firmware runs and has answered everything sent before.

        Sends ``help`` and waits for ``@help``: replies come in order, so anything older (a
        reply to earlier input, line noise) is consumed first. If the board sits at the REPL
        instead (``help`` prints MicroPython's own help), or sits in the raw REPL (which echoes
        nothing: a flash or mpremote killed mid-transfer leaves a board there), soft-reset it
        once to start the pedal.
        """
        restarted = False
        for _attempt in range(3):  # a garbled `help` on a noisy line is simply sent again
            self._send("help")
            line, lines = self.link.read_lines_until(lambda s: s.startswith("@help"), timeout_s)
            if line is not None:
                return
            at_repl = _at_repl(lines) or any("MicroPython" in ln for ln in lines)
            if not lines and not restarted:
                # silence: Ctrl-B leaves a raw REPL, whose friendly REPL then prints its
                # banner; a busy firmware drops the control character and the empty line
                # (only a banner restarts it: a restart loses unsaved knob changes)
                self.link.serial.write(b"\r\x02")
                _, more = self.link.read_lines_until(lambda s: REPL_BANNER in s, 1.0)
                at_repl = any(REPL_BANNER in ln for ln in more)
            if at_repl and not restarted:
                self.restart()
                restarted = True
        raise DeviceError(
            f"{self.link.port}: the pedal firmware does not answer; is it installed and running? "
            "(`pedaltool flash` installs it, `pedaltool console` shows what the board prints)"
        )

    def command(self, command: str, timeout_s: float | None = None, raise_err: bool = True
                ) -> Reply:
        """Send ``command``; return its reply. ``@err`` raises DeviceError unless asked not to."""
        command = command.strip()
        if "\n" in command or "\r" in command:
            raise DeviceError("a console command is one line")
        # (a Ctrl-C in a shell argument stopped the firmware: the board sat at its REPL)
        if any(ord(c) < 32 or ord(c) == 127 for c in command):
            raise DeviceError(f"{command!r}: a console command has no control characters")
        if timeout_s is None:
            timeout_s = BENCH_TIMEOUT_S if command.startswith("bench") else REPLY_TIMEOUT_S
        want = _expected_tags(command)
        self.sync()
        self.link.serial.write(command.encode() + b"\n")
        line, lines = self.link.read_lines_until(
            lambda s: s.startswith("@") and not s.startswith("@boot")
            and (want is None or s[1:].split(" ", 1)[0] in want | {"err"}),
            timeout_s,
        )
        if line is None:
            raise DeviceError(
                f"{self.link.port}: no reply to {command!r} within {timeout_s:g} s; see what "
                "the pedal prints with `pedaltool console`"
            )
        reply = parse_reply(line)
        if raise_err and reply.tag == "err":
            raise DeviceError(f"{self.link.port}: {_err_text(command, reply.payload)}")
        return reply

    def restart(self, timeout_s: float = BOOT_TIMEOUT_S) -> Reply:
        """Soft-reset the board and wait for the firmware's ``@boot`` line. MicroPython's
        banner instead means that no firmware started (none installed, or it failed at once):
        said then, not after ``timeout_s`` (an audit: a fresh board waited 20 s to say that it
        "did not print @boot")."""
        self.link.soft_reset()
        line, lines = self.link.read_lines_until(
            lambda s: s.startswith(("@boot ", "@err no valid", REPL_BANNER)), timeout_s
        )
        if line is not None and line.startswith(REPL_BANNER):
            why = next((ln for ln in reversed(lines) if "Error" in ln), None)
            raise DeviceError(
                f"{self.link.port}: the pedal firmware did not start after a reset (the board "
                "went to its MicroPython prompt" + (f": {why.strip()[:120]})" if why else
                ": is it installed? `pedaltool flash` installs it)"))
        if line is None:
            raise DeviceError(f"{self.link.port}: the pedal did not print @boot after a reset")
        reply = parse_reply(line)
        if reply.tag == "err":
            raise DeviceError(f"{self.link.port}: {reply.payload}")
        return reply

    def status(self) -> dict:
        return self.command("status").data


def one_shot(port: str | None, command: str, timeout_s: float | None = None) -> Reply:
    """Open the port, send one command, return the reply (the CLI's set/preset/status)."""
    from pedaltool.device.discovery import resolve_port

    with Link(resolve_port(port)) as link:
        return Console(link).command(command, timeout_s)


def interactive(port: str | None, out=None,
                show: Callable[[str], list[str]] | None = None) -> None:
    """``pedaltool console``: type commands (readline history), see every line the pedal prints.
    ``show``: how a line is printed (the CLI's readable replies), else as it came.

    Quit with Ctrl-] (then Enter if the terminal needs it), Ctrl-D or ``exit``.
    """
    from pedaltool.device.discovery import resolve_port

    out = out or sys.stdout
    port = resolve_port(port)
    try:
        import readline  # noqa: F401  (history and line editing for input())

        # Ctrl-] clears the line and submits a quit word, so it works as a one-key exit.
        readline.parse_and_bind(r'"\C-]": "\C-e\C-u' + _QUIT_WORD + r'\C-m"')
    except ImportError:
        pass
    with Link(port) as link:
        ser = link.serial
        stop = threading.Event()
        try:
            Console(link).sync()  # start the firmware if the board sits at the REPL
        except DeviceError as exc:
            out.write(f"note: {exc}\n")

        lost: list[BaseException] = []

        def reader() -> None:
            buf = b""
            while not stop.is_set():
                try:
                    n = ser.in_waiting
                    chunk = ser.read(n) if n else b""
                except (OSError, ValueError) as exc:  # (SerialException is an OSError)
                    if not stop.is_set():
                        lost.append(exc)
                        out.write(f"{port}: connection lost ({exc}); quit with Ctrl-D\n")
                        out.flush()
                    return
                if not chunk:
                    time.sleep(0.02)
                    continue
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    text = raw.decode(errors="replace").rstrip("\r")
                    try:
                        lines = show(text) if show else [text]
                    except Exception:  # a reply of a shape it does not know: as it came
                        lines = [text]  # (raised here, it ended this thread: a review)
                    for line in lines:
                        out.write(line + "\n")
                    out.flush()

        out.write(f"pedaltool console on {port}: type `help`; quit with Ctrl-] or Ctrl-D\n")
        out.flush()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            while True:
                try:
                    line = input()
                except EOFError:
                    break
                if QUIT_KEY in line or line.strip() in ("exit", "quit", _QUIT_WORD):
                    if _QUIT_WORD in line and sys.stdout.isatty():  # the macro's word, which
                        # the terminal echoed: taken back (an audit saw it printed)
                        sys.stdout.write("\x1b[1A\x1b[2K")
                        sys.stdout.flush()
                    break
                if lost:  # said when it happened; raised below
                    break
                try:
                    data = line.encode()
                except UnicodeEncodeError:  # bytes the terminal could not decode: this line
                    # only (it was said as "connection lost" and ended the console: an audit)
                    out.write("not sent: that line is not UTF-8 text\n")
                    out.flush()
                    continue
                try:
                    ser.write(data + b"\n")
                except (OSError, ValueError) as exc:  # the board unplugged, the pedal gone
                    raise DeviceError(f"{port}: connection lost ({exc})") from None
                time.sleep(0.05)
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            t.join(timeout=1)
        if lost:  # said when it happened; quitting after it is no success
            raise DeviceError(f"{port}: connection lost ({lost[0]})")
        out.write("console closed\n")
