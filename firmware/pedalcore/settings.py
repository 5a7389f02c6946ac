# Persistent settings (pt/settings.json): current preset, knob overrides, gate threshold.
#
# Saved atomically: the JSON goes to "<path>.tmp" first, then os.rename() replaces the old file
# in one step (atomic on littlefs; VfsFat removes the target first, still leaving either the old
# or the new file). A power cut before the rename leaves the old file intact and a stale .tmp
# that load() ignores and save() overwrites. A corrupt or missing file gives the defaults.
import json
import os

KNOB_NAMES = ("drive", "tone", "level")
# what save() writes is about 150 bytes (a preset's file name of up to 255 more): a larger file
# is not ours, and parsing it could exhaust the heap before the audio starts (nested 3000
# deep it did at 192 KB; under 2 KB it nests at most 1024 deep, which parses)
MAX_BYTES = 2048


def defaults():
    return {"preset": None, "knobs": {}, "gate_dbfs": None}


def _clean(d):
    """Keep only well-typed fields so a hand-edited file can never crash the pedal."""
    out = defaults()
    if not isinstance(d, dict):
        return out
    p = d.get("preset")
    if isinstance(p, str):
        out["preset"] = p
    knobs = d.get("knobs")
    if isinstance(knobs, dict):
        for k, v in knobs.items():
            if isinstance(k, str) and isinstance(v, (int, float)) and 0 <= v <= 1:
                out["knobs"][k] = float(v)
    g = d.get("gate_dbfs")
    if isinstance(g, (int, float)) and -120 <= g <= 0:
        out["gate_dbfs"] = float(g)
    return out


def load(path):
    """The saved settings, or the defaults if the file is missing, unreadable or too large."""
    try:
        with open(path) as f:
            text = f.read(MAX_BYTES + 1)
        if len(text) > MAX_BYTES:
            return defaults()
        return _clean(json.loads(text))
    except (OSError, ValueError):
        return defaults()


def save(path, settings):
    """Write settings atomically: temp file, flush, then rename over the old file. An
    OSError (a full filesystem) leaves the old file and removes the temp file."""
    tmp = path + ".tmp"
    data = json.dumps(_clean(settings))
    try:
        with open(tmp, "w") as f:
            f.write(data)
            f.flush()
        # A power cut here leaves the old settings.json untouched.
        os.rename(tmp, path)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
