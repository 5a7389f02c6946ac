# The presets: the .pedal files in the slot's bank/ folder, in file-name order.
#
# Every file is checked with the engine's own reader (pedalfile.load: CRC, version, bounds) when
# the bank is scanned, and its sample rate against the board's; a corrupt, truncated or
# incompatible file is kept in the list but marked bad with the reader's reason, reported on the
# console, and never selected. Switching is done by the app (fade out, build the engine, fade in).
import os

from pedalcore import pedalfile

NAME_CHARS = 64  # a preset's name as shown (its file name is flash's MAX_NAME_CHARS budget)
# what a bad file can raise from the reader (ValueError is the documented one)
LOAD_ERRORS = (ValueError, OSError, MemoryError, KeyError, IndexError, TypeError)


class Preset:
    def __init__(self, filename):
        self.file = filename
        self.name = filename[:-6] if filename.endswith(".pedal") else filename
        self.ok = False
        self.error = "not checked"


class Bank:
    def __init__(self, bank_dir, rate_hz):
        self.dir = bank_dir
        self.rate_hz = rate_hz
        self.items = []
        try:
            names = sorted(n for n in os.listdir(bank_dir) if n.endswith(".pedal"))
        except OSError:
            names = []
        for n in names:
            self.items.append(Preset(n))

    def path(self, i):
        return self.dir + "/" + self.items[i].file

    def refusal(self, i):
        """Why preset i is bad, as the pedal says it: "preset 2 (FILE): REASON"."""
        p = self.items[i]
        return "preset %d (%s): %s" % (i + 1, p.file, p.error)

    def check_all(self, report):
        """Read every file once (CRC, version, bounds, sample rate); report(msg) per bad one."""
        for i in range(len(self.items)):
            self.load(i, report)

    def load(self, i, report=None):
        """The parsed pedal model of preset i (pedalfile.Pedal), or None if it is bad."""
        p = self.items[i]
        try:
            pedal = pedalfile.load(self.path(i))
            if pedal.rate != self.rate_hz:
                raise ValueError("%s: fitted for %d Hz, the board runs at %d Hz"
                                 % (p.file, pedal.rate, self.rate_hz))
        except LOAD_ERRORS as e:
            p.ok = False
            msg = str(e).replace(self.dir + "/", "")  # the reader names the full path
            p.error = (type(e).__name__ + ": " + msg)[:100]
            if report is not None:
                report(self.refusal(i))
            return None
        p.ok = True
        p.error = ""
        if isinstance(pedal.name, str) and pedal.name:
            p.name = pedal.name[:NAME_CHARS]  # (every preset's name stays in memory)
        return pedal

    def index_of(self, filename):
        for i in range(len(self.items)):
            if self.items[i].file == filename:
                return i
        return None

    def first_ok(self):
        return self.step(-1, 1)

    def step(self, i, direction):
        """The next good preset after i in direction +1/-1 (wrapping), or None."""
        n = len(self.items)
        for k in range(1, n + 1):
            j = (i + direction * k) % n
            if self.items[j].ok:
                return j
        return None

    def entry(self, i):
        """Preset i (0-based) as the console's `preset list` shows it."""
        p = self.items[i]
        return {"index": i + 1, "file": p.file, "name": p.name, "ok": p.ok, "error": p.error}
