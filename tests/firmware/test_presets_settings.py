"""Presets (bad .pedal files never play) and settings (atomic save survives a power cut)."""

import json

import numpy as np
import pytest
from fwsim import make_slot, pedal_bytes, pedal_model, read_wav16, run_fw, write_wav16
from pedaltool.pedal.fileformat import to_bytes
from pedaltool.pedal.quantise import quantise

BLOCK = 32
LED = 14
SETTLED = 20


def bad_files() -> dict[str, bytes]:
    good = pedal_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    m44 = pedal_model("at 44.1k")
    m44.sample_rate = 44100
    rng = np.random.default_rng(5)
    return {
        "2_crc.pedal": bytes(flipped),
        "3_truncated.pedal": good[: len(good) // 2],
        "4_rate.pedal": to_bytes(quantise(m44)),
        "5_noise.pedal": rng.integers(0, 256, 900, dtype=np.uint8).tobytes(),
        "6_empty.pedal": b"",
    }


def noise(n, seed=2):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 5000, n), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixed")
    slot = make_slot(tmp, {"1_good.pedal": pedal_bytes(), **bad_files()})
    (tmp / "settings.json").write_text(json.dumps({"preset": "2_crc.pedal"}))
    r = run_fw(tmp, slot, write_wav16(tmp / "in.wav", noise(48000)),
               stdin="preset list\npreset 2\npreset next\nstatus\n")
    return r


def test_bad_files_are_reported_and_skipped(mixed):
    r = mixed
    assert r.returncode == 0, r.stderr
    boot_errs = r.lines[: r.lines.index(next(ln for ln in r.lines if ln.startswith("@boot")))]
    assert len(boot_errs) == 5 and all(ln.startswith("@err preset") for ln in boot_errs)
    joined = " ".join(boot_errs)
    for name in ("2_crc", "3_truncated", "4_rate", "5_noise", "6_empty"):
        assert name in joined
    assert "44100" in joined  # the incompatible file says why
    boot = json.loads(r.tagged("boot")[0])
    assert boot["preset"] == 1  # the saved preset is corrupt now: the first good one plays


def test_bad_presets_cannot_be_selected(mixed):
    r = mixed
    lst = json.loads(r.tagged("list")[0])
    assert [p["ok"] for p in lst] == [True, False, False, False, False, False]
    assert all(p["error"] for p in lst[1:])
    replies = r.replies
    assert replies[1].startswith("@err preset 2 (2_crc.pedal)")
    assert replies[2] == "@ok preset 1 tiny drive"  # next wraps over the bad ones
    st = json.loads(r.tagged("status")[0])
    assert st["preset"] == 1 and st["fault"] is None and st["bypass"] is False


UNBUILDABLE = """
from pedalcore import engine as _e
_Base = _e.Engine
class _Picky(_Base):
    def __init__(self, pedal, n):
        if pedal.name == "too big":  # as a model too large for the board's heap fails
            raise MemoryError("memory allocation failed, allocating 8216 bytes")
        _Base.__init__(self, pedal, n)
_e.Engine = _Picky
"""


def test_a_preset_that_fails_to_build_at_boot_gives_way_to_the_next_good_one(tmp_path):
    """A file both readers accept can still fail in the engine (a model too big for the
    board's heap): the next good preset plays, as after a file the reader refuses (an audit:
    the pedal stayed dry, "preset": null, with a good preset in the bank)."""
    slot = make_slot(tmp_path, {"1_big.pedal": pedal_bytes(pedal_model("too big")),
                                "2_good.pedal": pedal_bytes()})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)),
               stdin="status\n", prelude=UNBUILDABLE)
    assert r.returncode == 0, r.stderr
    assert any("1_big.pedal" in e and "MemoryError" in e for e in r.tagged("err"))
    assert json.loads(r.tagged("boot")[0])["preset"] == 2
    st = json.loads(r.tagged("status")[0])
    assert st["preset"] == 2 and st["fault"] is None and st["bypass"] is False
    # none builds: the fault says so, not the last engine error (the review)
    slot = make_slot(tmp_path, {"1_big.pedal": pedal_bytes(pedal_model("too big"))})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)),
               stdin="status\n", prelude=UNBUILDABLE)
    st = json.loads(r.tagged("status")[0])
    assert st["preset"] is None and st["fault"] == "no loadable preset", st


def test_a_preset_that_fails_when_asked_for_is_refused_in_one_reply(tmp_path):
    """A preset the reader accepts at boot that fails when a command loads it: one `@err`,
    in the form a preset known to be bad is refused in, and the preset that played plays
    again. The load reported it too, before the command's own reply: two `@err` lines for
    one command, the client took the first and the next command's sync dropped the other
    (an audit)."""
    slot = make_slot(tmp_path, {"1_good.pedal": pedal_bytes(),
                                "2_big.pedal": pedal_bytes(pedal_model("too big"))})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)),
               stdin="preset 2\nstatus\n", prelude=UNBUILDABLE)
    assert r.returncode == 0, r.stderr
    errs = [ln for ln in r.replies if ln.startswith("@err")]
    assert len(errs) == 1, r.replies
    assert errs[0].startswith("@err preset 2 (2_big.pedal): engine: MemoryError"), errs
    # the preset that played plays again: it left the pedal dry (bypassed), preset None
    assert errs[0].endswith("; preset 1 plays again"), errs
    st = json.loads(r.tagged("status")[0])
    assert st["preset"] == 1 and st["bypass"] is False and st["fault"] is None, st
    # at boot, where no command replies, the load still reports (the test above)


FRAGMENTED = """
from pedalcore import engine as _e
_Base = _e.Engine
_built = [0]
class _Once(_Base):
    def __init__(self, pedal, n):
        _built[0] += 1
        if _built[0] > 1:  # a heap too fragmented for any second model
            raise MemoryError("memory allocation failed, allocating 8216 bytes")
        _Base.__init__(self, pedal, n)
_e.Engine = _Once
"""


def test_a_preset_that_played_and_fails_to_load_again_is_said_too(tmp_path):
    """The preset that played is loaded again after a refused one; when that fails as well
    (a fragmented heap), the reply says so and the pedal is dry (bypassed)."""
    slot = make_slot(tmp_path, {"1_good.pedal": pedal_bytes(), "2_good.pedal": pedal_bytes()})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)),
               stdin="preset 2\nstatus\n", prelude=FRAGMENTED)
    assert r.returncode == 0, r.stderr
    errs = [ln for ln in r.replies if ln.startswith("@err")]
    assert len(errs) == 1 and errs[0].startswith("@err preset 2 (2_good.pedal): engine: "
                                                 "MemoryError"), r.replies
    assert errs[0].endswith("; preset 1 did not load again either"), errs
    st = json.loads(r.tagged("status")[0])
    assert st["preset"] is None and st["bypass"] is True, st


def test_a_name_with_a_line_break_stays_on_its_reply_line(tmp_path):
    """A .pedal from elsewhere whose name holds a line break and an escape: the `preset N`
    reply printed it raw, a forged `@err` line of its own (an audit). Every reply is one
    line (console.one_line); the readers still accept the file."""
    import struct
    import zlib

    evil = b"Kl\n@err preset 2: CRC mismatch\x1b[31m\xc2\x9b"
    data = pedal_bytes(pedal_model("e" * len(evil)))
    data = data.replace(b"e" * len(evil), evil)[:-4]
    slot = make_slot(tmp_path, {"1_odd.pedal": data + struct.pack("<I", zlib.crc32(data)),
                                "2_good.pedal": pedal_bytes()})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)),
               stdin="preset 2\npreset 1\npreset list\n")
    assert r.returncode == 0, r.stderr
    assert "@ok preset 1 Kl @err preset 2: CRC mismatch [31m" in r.replies  # (end stripped)
    assert not any(ln.startswith("@err") for ln in r.lines), r.lines
    # JSON escapes the line break and the escape itself; a C1 code it prints raw is a space
    assert json.loads(r.tagged("list")[0])[0]["name"] == "Kl\n@err preset 2: CRC mismatch" \
        "\x1b[31m "


def test_all_bad_bank_falls_back_to_bypass_never_noise(tmp_path):
    slot = make_slot(tmp_path, bad_files())
    x = noise(48000)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x),
               stdin="bypass off\nstatus\n")
    assert r.returncode == 0, r.stderr
    assert len(r.tagged("err")) >= 5
    assert r.replies[-2].startswith("@err bypass off: no effect loaded")
    st = json.loads(r.tagged("status")[0])
    assert st["bypass"] is True and st["fault"] == "no loadable preset" and st["preset"] is None
    y = read_wav16(tmp_path / "out.wav")[BLOCK:]
    k = SETTLED * BLOCK
    assert np.array_equal(y[k:], x[k:len(y)])  # the dry signal, bit for bit
    led = [(t, v) for t, pin, v in r.sim["led"] if pin == LED]
    assert len(led) > 12  # fast blink (60 ms): a fault
    gaps = np.diff([t for t, _ in led[2:12]])
    assert gaps.max() <= 70


def test_empty_bank(tmp_path):
    slot = make_slot(tmp_path, {})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)),
               stdin="preset next\n")
    assert r.returncode == 0, r.stderr
    assert r.final["fault"] == "no presets in bank"
    assert r.replies == ["@err preset: no presets"]


POWER_CUT = """
import pedalcore.settings as _s
class _DyingOs:
    def rename(self, a, b):
        print("@cut " + a)
        raise SystemExit(7)  # the power goes out between the write and the rename
_s.os = _DyingOs()
"""


def test_power_loss_during_save_keeps_the_old_settings(tmp_path):
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(), "b.pedal": pedal_bytes()})
    wav = write_wav16(tmp_path / "in.wav", noise(24000))
    settings = tmp_path / "settings.json"
    r1 = run_fw(tmp_path, slot, wav, stdin="set drive 0.7\nset gate -50\npreset 2\nsave\n")
    assert r1.returncode == 0 and "@ok saved" in r1.lines
    old = settings.read_text()
    assert json.loads(old) == {"preset": "b.pedal", "knobs": {"drive": 0.7}, "gate_dbfs": -50.0}

    r2 = run_fw(tmp_path, slot, wav, stdin="set drive 0.2\nset gate off\nsave\n",
                prelude=POWER_CUT)
    assert r2.returncode == 7 and r2.tagged("cut")  # it really died inside save()
    assert settings.read_text() == old  # untouched
    assert json.loads((tmp_path / "settings.json.tmp").read_text())["knobs"]["drive"] == 0.2

    r3 = run_fw(tmp_path, slot, wav, stdin="status\n")
    st = json.loads(r3.tagged("status")[0])
    assert st["knobs"]["drive"] == 0.7 and st["gate_dbfs"] == -50 and st["preset"] == 2

    r4 = run_fw(tmp_path, slot, wav, stdin="set drive 0.4\nsave\n")  # the stale .tmp is fine
    assert "@ok saved" in r4.lines
    assert json.loads(settings.read_text())["knobs"]["drive"] == 0.4


@pytest.mark.parametrize("content", [
    "", "{", "[1, 2]", '{"preset": 5, "knobs": {"drive": 9}}', "\x00\x01garbage",
    # over the 2 KB cap: nested too deep to parse in the heap (a MemoryError stopped the boot,
    # a firmware review), and well-formed but far larger than save() ever writes
    "[" * 20000 + "]" * 20000, '{"preset": "a.pedal", "junk": "' + "x" * 100000 + '"}'])
def test_unreadable_settings_give_defaults(tmp_path, content):
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    (tmp_path / "settings.json").write_text(content)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)), stdin="status\n")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.tagged("status")[0])
    assert st["preset"] == 1 and st["knobs"]["drive"] == 0.5 and st["gate_dbfs"] is None


FULL_DISK = """
import pedalcore.settings as _s
import os as _real
class _FullOs:
    def rename(self, a, b):
        raise OSError(28)  # ENOSPC: the filesystem filled up
    def remove(self, p):
        _real.remove(p)
_s.os = _FullOs()
"""


def test_save_on_a_full_filesystem_says_so_and_leaves_no_temp_file(tmp_path):
    """`save` with the filesystem full answered '@err save: OSError 28' and left
    settings.json.tmp behind (an audit); now in words, the old settings kept, no temp file."""
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(), "b.pedal": pedal_bytes()})
    wav = write_wav16(tmp_path / "in.wav", noise(24000))
    settings = tmp_path / "settings.json"
    r1 = run_fw(tmp_path, slot, wav, stdin="set drive 0.7\nsave\n")
    assert "@ok saved" in r1.lines
    old = settings.read_text()
    r2 = run_fw(tmp_path, slot, wav, stdin="set drive 0.2\nsave\n", prelude=FULL_DISK)
    assert r2.returncode == 0, r2.stderr
    assert "@err save: the pedal's filesystem is full; settings not saved" in r2.lines, r2.lines
    assert settings.read_text() == old and not (tmp_path / "settings.json.tmp").exists()


def test_a_long_model_name_is_kept_to_64_characters(tmp_path):
    """Every preset's name stays in the firmware's memory (a review: long names ran a Pico out
    of it at start)."""
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(pedal_model("x" * 200))})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(4800)), stdin="status\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.tagged("status")[0])["name"] == "x" * 64


def test_a_long_press_on_a_full_filesystem_says_what_happened(tmp_path):
    """A long press changes the preset and saves it: on a full filesystem the reply was a bare
    '@err OSError 28' though the preset had changed (a firmware review)."""
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(), "b.pedal": pedal_bytes()})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", noise(48000)),
               script="300 press 15 900\n", prelude=FULL_DISK)
    assert r.returncode == 0, r.stderr
    assert ("@err preset 2 tiny drive plays, but the pedal's filesystem is full; settings not "
            "saved") in r.lines, r.lines
    assert r.final["preset"] == 2
