# The USB-serial console: a non-blocking line reader on sys.stdin (select.poll, never waits)
# and the command parser. Every reply is one line "@<tag> <payload>" (docs/architecture.md).
# Bad input of any kind gets "@err <reason>" and never stops the audio: the reader caps the line
# length, drops undecodable bytes and control characters, and dispatch() catches everything.
import json
import select
import sys

MAX_LINE = 120

HELP = ("commands: help | status | set drive|tone|level 0..1|pot | set gate DBFS|off"
        " | preset N|next|prev|list | bypass on|off|toggle | save | bench")


def dumps(obj):
    """Compact JSON like json.dumps, but floats with 4 significant digits ("98.6", not
    MicroPython's 17-digit "98.59999999999999")."""
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            return "null"
        return "%.4g" % obj
    if isinstance(obj, dict):
        return "{" + ", ".join(json.dumps(str(k)) + ": " + dumps(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ", ".join(dumps(v) for v in obj) + "]"
    return json.dumps(obj)


def one_line(s):
    """``s`` with each control character (C0, DEL, C1) as a space: a reply is one line, whatever
    a preset's name or an error's text holds (a name with a line break forged a reply line
    of its own, an audit; a C1 code starts a terminal escape)."""
    for c in s:
        if c < " " or "\x7f" <= c <= "\x9f":
            return "".join(" " if (ch < " " or "\x7f" <= ch <= "\x9f") else ch for ch in s)
    return s


def reply(tag, payload=""):
    """Print one protocol line. ``payload``: a str, or an iterable of str pieces written one
    after the other (a long reply is never built as one string; the app writes those a piece
    at a time between audio blocks, LongReply)."""
    if isinstance(payload, str):
        if payload:
            print("@" + tag + " " + one_line(payload))
        else:
            print("@" + tag)
        return
    LongReply(tag, payload).finish()


class LongReply:
    """One protocol line written in pieces, one per more(), so that the audio loop runs
    between them: a 115200-baud UART console (the ESP32 DevKitC's) sends 100 bytes in 9 ms
    and a print waits for it, so a whole `preset list` at once could hold the loop longer than
    the input ring lasts."""

    def __init__(self, tag, pieces):
        sys.stdout.write("@" + tag + " ")
        self.pieces = iter(pieces)

    def more(self):
        """Write the next piece; False once the line is ended (the last piece written, or a
        failure: the pieces are made here, outside dispatch()'s catch, and a failure must not
        stop the pedal, so the line so far is ended, which the host reads as a broken reply,
        and the reason follows)."""
        w = sys.stdout.write
        try:
            piece = next(self.pieces)
        except StopIteration:
            w("\n")
            return False
        except Exception as e:
            w("\n")
            reply("err", "internal: " + type(e).__name__ + " " + str(e)[:80])
            return False
        w(one_line(piece))
        return True

    def finish(self):
        """Write the rest of the line at once."""
        while self.more():
            pass


class LineReader:
    """Collects bytes from a stream into lines without ever blocking.

    poll() returns one complete line (str, stripped) or None. Lines longer than MAX_LINE are
    dropped whole and reported as "" + overflow flag so the caller can answer with an error.
    """

    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stdin
        self._raw = getattr(self.stream, "buffer", self.stream)
        self._poll = select.poll()
        self._poll.register(self.stream, select.POLLIN)
        self._line = bytearray(MAX_LINE)
        self._len = 0
        self._byte = bytearray(1)
        self.overflow = False
        self._dropping = False
        self.closed = False
        self._ready()  # the first ipoll allocates its reusable result tuple: do it now

    def _ready(self):
        # ipoll reuses its result tuple: no allocation per poll (poll() builds a list)
        for _obj, ev in self._poll.ipoll(0):
            if ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN:
                self.closed = True
                return False
            return bool(ev & select.POLLIN)
        return False

    def poll(self, max_bytes=64):
        """Read what is waiting (up to max_bytes); return a finished line or None."""
        if self.closed:
            return None
        b = self._byte
        while max_bytes > 0 and self._ready():
            max_bytes -= 1
            try:
                got = self._raw.readinto(b)
            except (OSError, AttributeError):
                got = self._read_str()
            if not got:
                self.closed = True  # EOF (pipe closed): stop polling, keep the audio running
                return None
            c = b[0]
            if c == 10 or c == 13:
                if self._dropping:
                    self._dropping = False
                    self._len = 0
                    self.overflow = True
                    return ""
                if self._len == 0:
                    continue
                line = bytes(self._line[:self._len])
                self._len = 0
                self.overflow = False
                try:
                    text = line.decode().strip()
                except Exception:  # UnicodeError on ports that check UTF-8
                    return "\x00"  # undecodable: reported as garbage by dispatch
                if text:  # (spaces alone are a blank line, not the overflow marker "")
                    return text
                continue
            if self._dropping:
                continue
            if c == 8 or c == 127:  # backspace / DEL from a terminal: "preset 3<BS>2" is 2
                if self._len:
                    self._len -= 1
                continue
            if c == 9:
                c = 32  # a tab separates words as a space does
            elif c < 32:
                continue  # other control characters are noise on a serial line
            if self._len >= MAX_LINE:
                self._dropping = True
                continue
            self._line[self._len] = c
            self._len += 1
        return None

    def _read_str(self):
        s = self.stream.read(1)
        if not s:
            return 0
        self._byte[0] = ord(s[0]) & 0xFF
        return 1


def _parse_float(text):
    try:
        return float(text)
    except ValueError:
        return None


def dispatch(app, line):
    """Run one command line against the app. Returns (tag, payload) or None when the app
    answers later (a command that waits for a click-free fade, e.g. preset)."""
    if not line:
        return ("err", "line too long" if line == "" else "empty")
    if line == "\x00":
        return ("err", "undecodable input")
    parts = line.split()
    cmd = parts[0].lower()
    args = parts[1:]
    try:
        if cmd in ("help", "status", "save", "bench") and args:
            return ("err", "usage: " + cmd + " (no arguments)")
        if cmd == "help":
            return ("help", HELP)
        if cmd == "status":
            return ("status", app.status_json())
        if cmd == "set":
            if len(args) != 2:
                return ("err", "usage: set KEY VALUE")
            return app.cmd_set(args[0].lower(), args[1].lower())
        if cmd == "preset":
            if len(args) != 1:
                return ("err", "usage: preset N|next|prev|list")
            a = args[0].lower()
            if a == "list":
                return ("list", app.presets_json())
            if a in ("next", "prev"):
                return app.cmd_preset(a)
            try:
                n = int(a)
            except ValueError:
                return ("err", "preset: expected N, next, prev or list")
            return app.cmd_preset(n)
        if cmd == "bypass":
            if len(args) != 1 or args[0].lower() not in ("on", "off", "toggle"):
                return ("err", "usage: bypass on|off|toggle")
            return app.cmd_bypass(args[0].lower())
        if cmd == "save":
            return app.cmd_save()
        if cmd == "bench":
            return app.cmd_bench()
        return ("err", "unknown command: " + cmd[:24])
    except Exception as e:  # a bug in a handler must not stop the pedal
        return ("err", "internal: " + type(e).__name__ + " " + str(e)[:60])


def parse_knob_value(text):
    """'0.7' -> 0.7 (0..1), or None."""
    v = _parse_float(text)
    if v is None or v != v or v < 0 or v > 1:
        return None
    return v + 0.0  # (-0 reads as 0, not "-0.000")


def parse_gate(text):
    """'off' -> 'off'; '-60' -> -60.0 dBFS (-120..0); else None."""
    if text == "off":
        return "off"
    v = _parse_float(text)
    if v is None or v != v or v < -120 or v > 0:
        return None
    return v
