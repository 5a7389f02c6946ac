"""The device layout end to end: the boot loader (firmware/main.py) starts pedalcore.app from
pt/a with pt/settings.json, on the simulated board, exactly as on a pedal."""

import hashlib
import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from fwsim import make_slot, pedal_bytes, read_wav16, write_wav16
from pedaltool.device.virtual import micropython_executable
from pedaltool.paths import firmware_dir


def _flashed(tmp_path) -> tuple:
    """A board's filesystem as `pedaltool flash` leaves it after a first flash (slot a, its
    manifest, main.py), and a function that boots it: (fs, boot(stdin) -> '@' lines)."""
    fs = tmp_path / "fs"
    (fs / "pt").mkdir(parents=True)
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(), "b.pedal": pedal_bytes()})
    shutil.copytree(slot, fs / "pt" / "a")
    files = {}
    for p in sorted((fs / "pt" / "a").rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            files[str(p.relative_to(fs / "pt" / "a"))] = {
                "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (fs / "pt" / "a" / "manifest.json").write_text(json.dumps({"files": files}))
    (fs / "pt" / "current").write_text("a")
    shutil.copy(firmware_dir() / "main.py", fs / "main.py")
    write_wav16(tmp_path / "in.wav", (np.arange(9600) % 200 * 50).astype(np.int16))
    env = dict(os.environ, MICROPYPATH=str(firmware_dir() / "sim"),
               PEDALTOOL_SIM_INPUT=str(tmp_path / "in.wav"),
               PEDALTOOL_SIM_OUTPUT=str(tmp_path / "out.wav"),
               PEDALTOOL_SIM_REALTIME="0", PEDALTOOL_SIM_AT_END="stop")

    def boot(stdin: str) -> list[str]:
        p = subprocess.run([micropython_executable(), "-X", "heapsize=512k", "main.py"],
                           input=stdin, capture_output=True, text=True, env=env, cwd=fs)
        assert p.returncode == 0, p.stderr
        return [ln for ln in p.stdout.splitlines() if ln.startswith("@")]

    return fs, boot


def test_main_boots_the_slot_and_settings_persist(tmp_path):
    fs, boot = _flashed(tmp_path)

    first = boot("preset 2\nset tone 0.25\nsave\n")
    assert first[0].startswith("@boot ") and json.loads(first[0][6:])["preset"] == 1
    assert first[1:] == ["@ok preset 2 tiny drive", "@ok tone 0.250", "@ok saved"]
    assert json.loads((fs / "pt" / "settings.json").read_text())["preset"] == "b.pedal"
    # every input frame came out, plus one primed block at start and after each quiet action
    # (preset change, save: fade out, restart the I2S rings, fade in)
    assert len(read_wav16(tmp_path / "out.wav")) == 9600 + 3 * 32

    again = boot("status\n")  # the "restart": settings kept
    st = json.loads(again[1][len("@status "):])
    assert json.loads(again[0][6:])["preset"] == 2
    assert st["preset"] == 2 and st["knobs"]["tone"] == 0.25


def test_a_damaged_preset_costs_that_preset_not_the_slot(tmp_path):
    """A bit flipped in one bank file failed the whole slot's manifest check: after a first
    flash (no other slot) the pedal played nothing at all (a firmware review). Now the app
    refuses that preset alone, by its CRC, and plays the other."""
    fs, boot = _flashed(tmp_path)
    bad = fs / "pt" / "a" / "bank" / "b.pedal"
    data = bytearray(bad.read_bytes())
    data[40] ^= 1
    bad.write_bytes(bytes(data))
    lines = boot("preset 1\n")
    assert lines[0].startswith("@err preset 2 (b.pedal)") and "CRC" in lines[0]
    assert any(ln.startswith("@boot ") and json.loads(ln[6:])["preset"] == 1 for ln in lines)
    assert "@ok preset 1 tiny drive" in lines


@pytest.mark.parametrize("damage, why", [
    (lambda m: m["files"]["pedalcore/app.py"].pop("size"),
     "bad manifest entry for pedalcore/app.py"),
    (lambda m: m.update(files=sorted(m["files"])), "bad manifest"),  # a list, not a mapping
])
def test_a_manifest_of_the_wrong_shape_is_a_bad_slot_not_a_traceback(tmp_path, damage, why):
    fs, boot = _flashed(tmp_path)
    man = fs / "pt" / "a" / "manifest.json"
    m = json.loads(man.read_text())
    damage(m)
    man.write_text(json.dumps(m))
    assert boot("") == [f"@err slot a: {why}",
                        "@err no valid firmware on this board; run `pedaltool flash`"]


def test_a_slot_whose_app_stops_at_start_gives_way_to_the_other(tmp_path):
    """A new slot that verifies but whose firmware stops at start (here a profile with
    debounce_ms "20ms", which the host accepted) dropped the board to the REPL on every boot,
    silent until reflashed, though flash said it keeps the previous slot (a firmware review).
    Now the boot loader starts the other slot."""
    fs, boot = _flashed(tmp_path)
    shutil.copytree(fs / "pt" / "a", fs / "pt" / "b")
    board = json.loads((fs / "pt" / "b" / "board.json").read_text())
    board["controls"]["debounce_ms"] = "20ms"
    (fs / "pt" / "b" / "board.json").write_text(json.dumps(board))
    files = {}
    for p in sorted((fs / "pt" / "b").rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            data = p.read_bytes()
            files[str(p.relative_to(fs / "pt" / "b"))] = {
                "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (fs / "pt" / "b" / "manifest.json").write_text(json.dumps({"files": files}))
    (fs / "pt" / "current").write_text("b")
    lines = boot("status\n")
    assert lines[0].startswith("@err slot b stopped: ValueError"), lines
    assert lines[1].startswith("@boot ") and json.loads(lines[1][6:])["preset"] == 1
    assert lines[2].startswith("@status ")


def _slot_with_app(fs, slot: str, app_source: str) -> None:
    """pt/<slot>: a stand-in app and its manifest (the boot loader's checks pass)."""
    base = fs / "pt" / slot
    (base / "pedalcore").mkdir(parents=True)
    (base / "pedalcore" / "__init__.py").write_text("")
    (base / "pedalcore" / "app.py").write_text(app_source)
    files = {}
    for p in sorted(base.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            files[str(p.relative_to(base))] = {"size": len(data),
                                               "sha256": hashlib.sha256(data).hexdigest()}
    (base / "manifest.json").write_text(json.dumps({"files": files}))


def test_a_slot_that_fails_after_it_played_goes_to_the_repl_not_the_other_slot(tmp_path):
    """The fallback is for a slot that cannot start; one that played and then failed (the
    app's fault streak, a bug) shows its traceback at the REPL, as before (a review)."""
    fs, _ = _flashed(tmp_path)
    _slot_with_app(fs, "b", "STARTED = False\n\ndef run(slot_dir, settings_path):\n"
                            "    global STARTED\n    print('@boot {\"slot\": \"' + slot_dir + '\"}')\n"
                            "    STARTED = True\n    raise RuntimeError('late')\n")
    (fs / "pt" / "current").write_text("b")
    env = dict(os.environ, MICROPYPATH=str(firmware_dir() / "sim"),  # (as _flashed's boot)
               PEDALTOOL_SIM_INPUT=str(tmp_path / "in.wav"),
               PEDALTOOL_SIM_OUTPUT=str(tmp_path / "out.wav"),
               PEDALTOOL_SIM_REALTIME="0", PEDALTOOL_SIM_AT_END="stop")
    p = subprocess.run([micropython_executable(), "-X", "heapsize=512k", "main.py"],
                       capture_output=True, text=True, cwd=fs, env=env, timeout=120)
    assert p.returncode == 1 and "RuntimeError: late" in p.stdout + p.stderr
    assert [ln for ln in p.stdout.splitlines() if ln.startswith("@")] == \
        ['@boot {"slot": "pt/b"}']


def test_when_no_slot_starts_the_board_says_so_and_stays_at_the_repl(tmp_path):
    fs, boot = _flashed(tmp_path)
    shutil.rmtree(fs / "pt" / "a")
    for slot in "ab":
        _slot_with_app(fs, slot, "def run(slot_dir, settings_path):\n"
                                 "    raise ValueError('bad profile')\n")
    assert boot("") == ["@err slot a stopped: ValueError('bad profile',)",
                        "@err slot b stopped: ValueError('bad profile',)",
                        "@err no slot starts on this board; run `pedaltool flash`"]
