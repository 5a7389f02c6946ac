# pedaltool boot loader: the one file `pedaltool flash` keeps outside the A/B slots.
#
# It picks the firmware slot named in pt/current ("a" or "b"), checks that slot's manifest
# (every firmware file present with the right size and SHA-256; the bank's .pedal files are
# data the app checks one by one, so a damaged one costs its preset, not the slot), falls back
# to the other slot, puts the slot on sys.path and calls
# pedalcore.app.run(slot_dir, "pt/settings.json"); if that stops with an error (a profile the
# chip refuses, a bug), the other valid slot is started. If no slot is valid it prints one
# `@err` line and returns, which leaves the board in the REPL so that `pedaltool flash` can
# still reach it. It never imports anything from bank/ (.pedal files are data) and it must
# stay small, plain and old-MicroPython-compatible: it is updated rarely.
import sys

try:
    import os
except ImportError:  # very old ports
    import uos as os

PT = "pt"
SETTINGS = "pt/settings.json"
CHECK_HASHES = True  # about 0.2 s per 100 kB on an RP2040; catches a half-written slot
BOOT_VERSION = 1


def _say(tag, text):
    print("@" + tag + " " + text)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _sha256_hex(path):
    import hashlib
    import binascii

    h = hashlib.sha256()
    buf = bytearray(512)
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
    return binascii.hexlify(h.digest()).decode()


def slot_problem(slot):
    """None if pt/<slot> holds a complete, verified firmware set, else the reason."""
    import json

    base = PT + "/" + slot
    text = _read(base + "/manifest.json")
    if text is None:
        return "no manifest"
    try:
        man = json.loads(text)
        files = man["files"]
    except (ValueError, KeyError, TypeError):
        return "bad manifest"
    if not isinstance(files, dict):
        return "bad manifest"
    if "pedalcore/app.py" not in files and "pedalcore/app.mpy" not in files:
        return "no pedalcore/app"
    for name in files:
        if name.startswith("bank/"):
            continue  # a preset: the app refuses a damaged one alone (its CRC), and plays on
        meta = files[name]
        if not isinstance(meta, dict) or not isinstance(meta.get("size"), int):
            return "bad manifest entry for " + name
        path = base + "/" + name
        try:
            size = os.stat(path)[6]
        except OSError:
            return "missing " + name
        if size != meta["size"]:
            return "size of " + name
        if CHECK_HASHES and meta.get("sha256") and _sha256_hex(path) != meta["sha256"]:
            return "hash of " + name
    return None


def choose_slot(tried=()):
    """The slot to boot: pt/current if valid, else the other one, else None (``tried``: slots
    that failed to start, skipped)."""
    current = _read(PT + "/current")
    order = [current, "b" if current == "a" else "a"] if current in ("a", "b") else ["a", "b"]
    for slot in order:
        if slot in tried:
            continue
        if tried and slot == current:
            continue  # (said already, when it was tried first)
        why = slot_problem(slot)
        if why is None:
            if slot != current and not tried:  # (after a failed start: said already)
                _say("err", "slot " + str(current) + " is invalid; booting slot " + slot)
            return slot
        if slot == current:
            _say("err", "slot " + slot + ": " + why)
    return None


def _unload(slot_dir):
    """Forget a slot's modules, so that the other slot's pedalcore is imported afresh."""
    for name in list(sys.modules):
        if name == "pedalcore" or name.startswith("pedalcore."):
            del sys.modules[name]
    if slot_dir in sys.path:
        sys.path.remove(slot_dir)


def boot():
    tried = []
    while True:
        slot = choose_slot(tried)
        if slot is None:
            if not tried:
                _say("err", "no valid firmware on this board; run `pedaltool flash`")
            else:
                _say("err", "no slot starts on this board; run `pedaltool flash`")
            return  # (the REPL, where `pedaltool flash` reaches the board)
        slot_dir = PT + "/" + slot
        sys.path.insert(0, slot_dir)
        try:
            import pedalcore.app as app
        except (ImportError, SyntaxError, ValueError) as e:
            _say("err", "slot " + slot + ": cannot import pedalcore.app: " + repr(e))
        else:
            try:
                app.run(slot_dir, SETTINGS)
                return
            except Exception as e:  # (not Ctrl-C: flash stops the program with it)
                if getattr(app, "STARTED", False):
                    raise  # it played, then failed: a bug, shown at the REPL as ever
                # a slot that verifies but cannot start (a profile the chip refuses): the
                # other slot plays, where the board sat silent at the REPL until reflashed
                _say("err", "slot " + slot + " stopped: " + repr(e)[:100])
                if hasattr(sys, "print_exception"):
                    sys.print_exception(e)
        tried.append(slot)
        _unload(slot_dir)


boot()
