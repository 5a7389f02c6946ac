# The presets: the .pedal files in the slot's bank/ folder, in file-name order.
#
# Every file is checked with the engine's own loader (CRC, version, bounds) when the bank is
# scanned; a corrupt, truncated or incompatible file is kept in the list but marked bad with the
# loader's reason, reported on the console, and never selected. Switching is done by the app
# (fade out, engine.load, fade in), so this module is pure bookkeeping.
import os


class Preset:
    def __init__(self, filename):
        self.file = filename
        self.name = filename[:-6] if filename.endswith(".pedal") else filename
        self.ok = False
        self.error = "not checked"


def _model_name(engine, fallback):
    for attr in ("name", "model_name"):
        v = getattr(engine, attr, None)
        if isinstance(v, str) and v:
            return v
    info = getattr(engine, "info", None)
    if isinstance(info, dict) and isinstance(info.get("name"), str):
        return info["name"]
    return fallback


class Bank:
    def __init__(self, bank_dir):
        self.dir = bank_dir
        self.items = []
        try:
            names = sorted(n for n in os.listdir(bank_dir) if n.endswith(".pedal"))
        except OSError:
            names = []
        for n in names:
            self.items.append(Preset(n))

    def path(self, i):
        return self.dir + "/" + self.items[i].file

    def check_all(self, engine, report):
        """Load every file once with the engine (the CRC and compatibility check).

        report(msg) is called for each bad file. Leaves the engine holding the last good
        model, so the caller loads the wanted preset afterwards."""
        for i in range(len(self.items)):
            self.load(engine, i, report)

    def load(self, engine, i, report=None):
        """engine.load() preset i; updates its ok/error/name. Returns True on success."""
        p = self.items[i]
        try:
            engine.load(self.path(i))
        except (ValueError, OSError, MemoryError, KeyError, IndexError, TypeError) as e:
            p.ok = False
            p.error = (type(e).__name__ + ": " + str(e))[:80]
            if report is not None:
                report("preset %d (%s): %s" % (i + 1, p.file, p.error))
            return False
        p.ok = True
        p.error = ""
        p.name = _model_name(engine, p.name)
        return True

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

    def to_list(self):
        return [{"index": i + 1, "file": p.file, "name": p.name, "ok": p.ok,
                 "error": p.error} for i, p in enumerate(self.items)]
