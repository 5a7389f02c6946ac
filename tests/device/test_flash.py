"""flash over a real pty to the virtual pedal: A/B slots, hashes, only-what-changed, restart."""

import json
import re

import pytest
from console_scenario import set_next_save_restart
from minimal_firmware import make_bank, make_firmware
from pedaltool.device.console import Console
from pedaltool.device.flash import flash
from pedaltool.device.transport import Link
from pedaltool.errors import DeviceError


def _flash(pedal, fw, bank, **kw):
    return flash(pedal.port, board=kw.pop("board", "rpi_pico"), bank_dir=bank, fw_dir=fw, **kw)


def test_flash_fresh_board_then_settings_survive_restart(pedal, fw_v1, bank_v1):
    res = _flash(pedal, fw_v1, bank_v1)
    assert res.plan.current is None and res.plan.target == "a"
    assert res.boot["version"] == "v1"
    assert res.status["name"] == "alpha"
    fs = pedal.fs_dir
    assert (fs / "pt/current").read_text() == "a"
    man = json.loads((fs / "pt/a/manifest.json").read_text())
    assert set(man["files"]) == {"pedalcore/__init__.py", "pedalcore/app.mpy", "board.json",
                                 "bank/alpha.pedal", "bank/beta.pedal"}
    assert (fs / "pt/a/bank/beta.pedal").read_bytes() == (bank_v1 / "beta.pedal").read_bytes()
    # the console: set -> save -> restart -> kept
    boot, st = set_next_save_restart(pedal.port)
    assert boot.data["name"] == "beta"
    assert st["knobs"]["drive"] == pytest.approx(0.8)
    assert st["name"] == "beta"


def test_second_flash_uploads_only_what_changed(pedal, fw_v1, bank_v1, tmp_path):
    _flash(pedal, fw_v1, bank_v1)
    again = _flash(pedal, fw_v1, bank_v1)
    assert again.plan.up_to_date and (pedal.fs_dir / "pt/current").read_text() == "a"
    bank2 = make_bank(tmp_path / "bank2", names=("alpha", "beta", "gamma"))
    res = _flash(pedal, fw_v1, bank2)
    actions = {s.rel: s.action for s in res.plan.steps}
    assert actions["bank/gamma.pedal"] == "upload"
    assert actions["pedalcore/app.mpy"] == "copy"  # copied on the board, not re-sent
    assert res.plan.target == "b" and (pedal.fs_dir / "pt/current").read_text() == "b"
    # models-only: firmware copied from the running slot, only the bank comes from the host
    bank3 = make_bank(tmp_path / "bank3", names=("delta",))
    res = _flash(pedal, fw_v1, bank3, models_only=True)
    assert res.status["name"] == "delta"
    assert {s.action for s in res.plan.steps if s.rel.startswith("pedalcore")} <= {"copy", "keep"}
    assert res.plan.stale  # slot a still had alpha/beta: removed


def test_dry_run_changes_nothing(pedal, fw_v1, bank_v1):
    res = _flash(pedal, fw_v1, bank_v1, dry_run=True)
    assert [s.action for s in res.plan.steps] == ["upload"] * len(res.plan.steps)
    assert not (pedal.fs_dir / "pt").exists() and not (pedal.fs_dir / "main.py").exists()


def test_models_only_on_fresh_board_is_refused(pedal, fw_v1, bank_v1):
    with pytest.raises(DeviceError, match="without --models-only"):
        _flash(pedal, fw_v1, bank_v1, models_only=True)


def test_empty_bank_is_refused(pedal, fw_v1, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeviceError, match="no .pedal files.*pedaltool fit"):
        _flash(pedal, fw_v1, tmp_path / "empty")


def test_boot_falls_back_when_current_slot_is_damaged(pedal, fw_v1, bank_v1, tmp_path):
    _flash(pedal, fw_v1, bank_v1)
    fw2 = make_firmware(tmp_path / "fw2", version="v2")
    _flash(pedal, fw2, bank_v1)
    assert (pedal.fs_dir / "pt/current").read_text() == "b"
    # flip one byte of a bank file of the running slot (flash wear, a bad write...): the
    # slot still boots (the app refuses that preset alone, tests/firmware/test_boot_via_main)
    p = pedal.fs_dir / "pt/b/bank/alpha.pedal"
    data = bytearray(p.read_bytes())
    data[10] ^= 0xFF
    p.write_bytes(bytes(data))
    with Link(pedal.port) as link:
        boot = Console(link).restart()
    assert boot.data["version"] == "v2"
    # and one of its firmware files: the boot loader falls back to the other slot
    p = next((pedal.fs_dir / "pt/b/pedalcore").glob("app.*"))  # (.mpy as flashed)
    p.write_bytes(p.read_bytes() + b"#")
    with Link(pedal.port) as link:
        boot = Console(link).restart()
    assert boot.data["version"] == "v1"  # slot a


def test_a_new_slot_that_stops_at_start_is_said_and_the_old_one_plays(pedal, fw_v1, bank_v1,
                                                                     tmp_path):
    """A new slot that verified but whose firmware stopped at start left the board at the REPL,
    and flash said the previous slot is kept (a firmware review). Now the boot loader starts
    the previous slot, and flash says the new one failed."""
    _flash(pedal, fw_v1, bank_v1)
    fw2 = make_firmware(tmp_path / "fw2", version="v2")
    (fw2 / "pedalcore" / "app.py").write_text(
        "def run(slot_dir, settings_path):\n    raise ValueError('bad profile')\n")
    with pytest.raises(DeviceError, match=r"the new firmware \(slot b\) stopped at start"
                                          r".*; the pedal plays pt/a as before"):
        _flash(pedal, fw2, bank_v1)
    # (the board's own line, which the error quotes when it reads it after the reset)
    assert "@err slot b stopped: ValueError('bad profile'" in \
        pedal.transcript_path.read_text(errors="replace")
    # pt/current names the slot that plays again, so the next flash writes over b (planned
    # from b, --models-only copied b's firmware over a and no slot started; a review)
    assert (pedal.fs_dir / "pt/current").read_text() == "a"
    with Link(pedal.port) as link:
        boot = Console(link).restart()
    assert boot.data["version"] == "v1" and boot.data["slot"] == "pt/a"
    res = _flash(pedal, fw_v1, make_bank(tmp_path / "bank2", names=("delta",)),
                 models_only=True)
    assert res.plan.target == "b" and res.boot["slot"] == "pt/b"
    assert res.status["name"] == "delta"


def test_flash_plans_from_the_slot_that_boots_not_the_one_named(pedal, fw_v1, bank_v1,
                                                               tmp_path):
    """pt/current names slot b, whose board.json a builder edited on the board: the boot loader
    plays slot a. flash planned from b, so --models-only copied b's damaged firmware over a
    and left no valid firmware (a review). Now it plans from a, and writes b."""
    _flash(pedal, fw_v1, bank_v1)
    _flash(pedal, fw_v1, make_bank(tmp_path / "bank2", names=("alpha", "gamma")))
    assert (pedal.fs_dir / "pt/current").read_text() == "b"
    p = pedal.fs_dir / "pt/b/board.json"
    p.write_text(p.read_text().replace("}", ' }', 1))  # same meaning, another size
    res = _flash(pedal, fw_v1, make_bank(tmp_path / "bank3", names=("delta",)),
                 models_only=True)
    assert res.plan.current == "a" and res.plan.target == "b"
    assert res.status["name"] == "delta" and res.boot["slot"] == "pt/b"


def test_no_valid_slot_leaves_the_repl(pedal, fw_v1):
    (pedal.fs_dir / "main.py").write_bytes((fw_v1 / "main.py").read_bytes())
    with Link(pedal.port) as link:
        link.soft_reset()
        line, _ = link.read_lines_until(lambda s: s.startswith("@err"), 10)
        assert "no valid firmware" in line and "pedaltool flash" in line
        with link.raw_repl():  # still reachable for flashing
            assert link.eval_json("print(1+1)") == 2


class Noise:
    """write_hook: flip one byte at stream offset ``at`` (a glitch on a noisy USB line)."""

    def __init__(self, at):
        self.at = at
        self.seen = 0

    def __call__(self, data):
        start, self.seen = self.seen, self.seen + len(data)
        if start <= self.at < self.seen:
            b = bytearray(data)
            b[self.at - start] ^= 0x5A
            return bytes(b)
        return None


@pytest.mark.parametrize("at", [300, 1200, 2500, 4000, 6500])
def test_line_noise_is_retried_and_verified(pedal, fw_v1, bank_v1, at):
    def factory(port):
        link = Link(port)
        link.write_hook = Noise(at)
        return link

    res = flash(pedal.port, board="rpi_pico", bank_dir=bank_v1, fw_dir=fw_v1,
                link_factory=factory)
    assert res.status["name"] == "alpha"
    for f in res.plan.files:
        assert (pedal.fs_dir / "pt/a" / f.rel).read_bytes() == f.data


def test_not_enough_space_is_refused_before_writing(pedal, fw_v1, bank_v1):
    from pedaltool.device import flash as F

    with Link(pedal.port) as link, link.raw_repl():
        info = link.identify()
        plan = F.make_plan(link, info, "rpi_pico", F.bank_files(bank_v1), fw_dir=fw_v1)
    assert plan.bytes_needed > 0
    # littlefs stores a file in whole 4 KiB blocks (an empty one takes one); the slot's new
    # folders (the slot, pedalcore, bank) are counted, 16 KiB each (a review), and two more
    # blocks. By hand, not with the plan's own helpers (a test audit)
    files = sum(max(1, -(-s.size // 4096)) * 4096 for s in plan.steps) + 2 * 4096 + 3 * 16384
    assert plan.bytes_needed >= files
    plan.bytes_free = plan.bytes_needed  # no head room left for settings.json
    with pytest.raises(DeviceError, match="not enough space on the pedal.*fewer presets") as exc:
        F.check_space(plan)
    # it says the figure it compares: more than is free (it said "need 128 kB, 132 kB free")
    need, free = map(int, re.search(r"need (\d+) kB .*, (\d+) kB free", str(exc.value)).groups())
    assert need > free
    assert not (pedal.fs_dir / "pt").exists()


def test_full_filesystem_error_from_the_board(pedal):
    from pedaltool.device.flash import _exec_fs

    with Link(pedal.port) as link, link.raw_repl():
        with pytest.raises(DeviceError, match="filesystem is full while writing x.pedal"):
            _exec_fs(link, "import errno\nraise OSError(errno.ENOSPC)", "x.pedal")


def test_dry_run_leaves_the_pedal_playing(pedal, fw_v1, bank_v1, tmp_path):
    _flash(pedal, fw_v1, bank_v1)
    bank2 = make_bank(tmp_path / "bank2", names=("gamma",))
    res = _flash(pedal, fw_v1, bank2, dry_run=True)
    assert not res.plan.up_to_date
    with Link(pedal.port) as link:  # the firmware runs again: it answers at once
        line, _ = link.read_lines_until(lambda s: s.startswith("@boot"), 10)
        assert line is not None
        assert Console(link).status()["name"] == "alpha"


def test_a_foreign_main_py_is_kept(pedal, fw_v1, bank_v1):
    (pedal.fs_dir / "main.py").write_text("print('my old project')\n")
    _flash(pedal, fw_v1, bank_v1)
    assert (pedal.fs_dir / "main_before_pedaltool.py").read_text() == "print('my old project')\n"
    assert (pedal.fs_dir / "main.py").read_bytes() == (fw_v1 / "main.py").read_bytes()


def test_a_bank_file_that_is_no_pedal_model_is_refused_in_one_line(tmp_path):
    from pedaltool.device.flash import bank_files

    (tmp_path / "json.pedal").write_text("{}")
    with pytest.raises(DeviceError) as exc:
        bank_files(tmp_path)
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path / 'json.pedal'}: not a .pedal file (bad magic: it is JSON")
    assert msg.count("json.pedal") == 1 and "refit it" in msg


def test_a_wav_named_as_a_bank_model_is_said_to_be_one_without_an_order_to_check(tmp_path):
    """A WAV renamed x.pedal in the bank read "not a .pedal file (bad magic: it is a WAV
    file: check the order of the arguments); refit it": flash takes no file arguments (an
    audit)."""
    from pedaltool.audio import write_wav
    from pedaltool.device.flash import bank_files

    write_wav(tmp_path / "x.pedal", [0.0] * 480, 48000)
    with pytest.raises(DeviceError) as exc:
        bank_files(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path / 'x.pedal'}: not a .pedal file (bad magic: "
                                     "it is a WAV file); refit it"), str(exc.value)


def test_a_bank_model_that_fails_the_sanity_check_is_refused(tmp_path, bank_v1):
    """Both readers check a file's bounds, not what it plays: a model edited by hand (a
    post-EQ section turned into a 1 kHz oscillator, the CRC made good) played a tone at
    -5 dBFS forever (an audit). flash checks every bank model as `fit` checks what it writes."""
    import dataclasses
    import math

    from pedaltool.device.flash import bank_files
    from pedaltool.pedal.fileformat import read_pedal, to_bytes

    bank_files(bank_v1)  # the fitted ones pass
    src = sorted(bank_v1.glob("*.pedal"))[0]
    qp = read_pedal(src)
    k = max(i for i, st in enumerate(qp.stages) if st.kind == "biquad")
    a1 = -int(2 * math.cos(2 * math.pi * 1000 / qp.sample_rate) * 2**26)
    stages = list(qp.stages)
    stages[k] = dataclasses.replace(stages[k], p=(1 << 20, 0, 0, a1, 2**26 - 1, 0, 0))
    (bank_v1 / src.name).write_bytes(to_bytes(dataclasses.replace(qp, stages=stages)))
    with pytest.raises(DeviceError, match=rf"^{re.escape(str(bank_v1 / src.name))}: fails the "
                       r"sanity check a fit writes with \(biquad pole too close to the unit "
                       r"circle\): it could play noise; refit it$"):
        bank_files(bank_v1)


def test_a_bank_model_fitted_for_another_rate_is_refused_before_writing(pedal, fw_v1,
                                                                        bank_v1, tmp_path):
    """A 32 kHz model for a 48 kHz board: the firmware refuses it at load, and a flash of a
    bank of such models switched the pedal to a slot with nothing to play, then failed (an
    audit). Refused before anything is written, naming the file and the fix."""
    _flash(pedal, fw_v1, bank_v1)
    before = (pedal.fs_dir / "pt/current").read_text()
    odd = make_bank(tmp_path / "odd", names=("slow",), rate=32000)
    with pytest.raises(DeviceError, match=r"slow.pedal: fitted for 32000 Hz, but the rpi_pico "
                       r"board runs at 48000 Hz; refit it with `pedaltool fit CAPTURE.nam "
                       r"--rate 48000`"):
        _flash(pedal, fw_v1, odd)
    assert (pedal.fs_dir / "pt/current").read_text() == before
    assert not (pedal.fs_dir / "pt" / ("b" if before == "a" else "a") / "bank/slow.pedal"
                ).exists()
    with Link(pedal.port) as link:  # and it plays on
        line, _ = link.read_lines_until(lambda s: s.startswith("@boot"), 10)
        assert line is not None and Console(link).status()["name"] == "alpha"


def test_models_only_checks_the_bank_against_the_pedals_own_profile(pedal, fw_v1, tmp_path):
    """--models-only keeps the running slot's board profile, so the bank is checked against
    that one (an audit: a pedal flashed with a 32 kHz profile was checked against the 48 kHz
    profile its machine suggests, switched to a slot of 48 kHz models and left with nothing
    it could play). A --board naming another profile is refused, as it would not be used."""
    from pedaltool.paths import boards_dir

    toml = tmp_path / "pico32k.toml"
    toml.write_text((boards_dir() / "rpi_pico.toml").read_text().replace(
        "sample_rate_hz = 48000", "sample_rate_hz = 32000", 1))
    _flash(pedal, fw_v1, make_bank(tmp_path / "slow", names=("slow",), rate=32000),
           board=str(toml))
    running = (pedal.fs_dir / "pt/current").read_text()
    other = pedal.fs_dir / "pt" / ("b" if running == "a" else "a")
    fast = make_bank(tmp_path / "fast", names=("fast",))
    with pytest.raises(DeviceError, match=r"fast.pedal: fitted for 48000 Hz, but the rpi_pico "
                       r"board runs at 32000 Hz; refit it with .*--rate 32000"):
        flash(pedal.port, board=None, bank_dir=fast, fw_dir=fw_v1, models_only=True)
    with pytest.raises(DeviceError, match=r"--models-only keeps the pedal's board profile "
                       r"\(rpi_pico, 32000 Hz\); rpi_pico is rpi_pico, 48000 Hz: flash "
                       r"without --models-only to change it"):
        _flash(pedal, fw_v1, fast, models_only=True)
    assert (pedal.fs_dir / "pt/current").read_text() == running
    assert not (other / "bank/fast.pedal").exists()
    # the same profile in a later version (another title): its name and rate are what count
    newer = tmp_path / "pico32k_newer.toml"
    newer.write_text(toml.read_text().replace('title = "', 'title = "newer ', 1))
    res = flash(pedal.port, board=str(newer), bank_dir=make_bank(
        tmp_path / "slow2", names=("slower",), rate=32000), fw_dir=fw_v1, models_only=True)
    assert res.status["name"] == "slower"


def test_a_bank_larger_than_the_pedal_can_hold_is_refused(tmp_path, bank_v1):
    """300 presets were flashed, and the firmware then ran out of memory listing them (an
    audit); in the rpi_pico's heap it cannot even start with 200 (docs/firmware.md)."""
    from pedaltool.device.flash import MAX_PRESETS, bank_files

    big = tmp_path / "big"
    big.mkdir()
    data = (bank_v1 / "alpha.pedal").read_bytes()
    for i in range(MAX_PRESETS):
        (big / f"p{i:03d}.pedal").write_bytes(data)
    assert len(bank_files(big)) == MAX_PRESETS
    (big / "one_more.pedal").write_bytes(data)
    with pytest.raises(DeviceError, match=rf"big: {MAX_PRESETS + 1} .pedal files; a bank "
                       rf"holds at most {MAX_PRESETS} "):
        bank_files(big)


def test_a_write_the_board_refuses_is_said_as_such_and_not_retried(pedal):
    """A name too long for the board's filesystem (its OSError 36) was retried as "[hash
    mismatch, retrying]" three times and then said as "OSError: OSError: 36" (an audit): the
    board's refusal is said in words, at once."""
    import hashlib

    from pedaltool.device import flash as F

    events: list[str] = []
    data = b"data"
    with Link(pedal.port) as link, link.raw_repl():
        F._exec_fs(link, F._HELPERS, "helpers")
        with pytest.raises(F.BoardRefused, match=r"the board refused it: File name too long "
                           r"\(OSError 36\)$"):
            F._verified_write(link, "pt/" + "x" * 300 + ".pedal", data,
                              hashlib.sha256(data).hexdigest(), len(data), None,
                              lambda e, s, n: events.append(e), None)
    assert "retry" not in events and "resync" not in events


def test_an_error_during_flash_starts_its_own_line(capsys):
    """The per-file progress line is ended before an error is said (it was appended to the
    open line: "upload bank/p004.pedal (2759 bytes) error: ...", an audit)."""
    from pedaltool.cli.device_cmds import _FlashProgress
    from pedaltool.device.flash import Step

    p = _FlashProgress()
    p("start", Step("upload", "bank/a.pedal", 10, "a.pedal"), 0)
    p.end_line()
    p.end_line()  # once only
    assert capsys.readouterr().err == "  upload bank/a.pedal (10 bytes) \n"
    p("start", Step("keep", "bank/b.pedal", 10, "b.pedal"), 0)
    p("done", Step("keep", "bank/b.pedal", 10, "b.pedal"), 0)
    p.end_line()  # nothing open
    assert capsys.readouterr().err == "  keep   bank/b.pedal (10 bytes) ok\n"


def test_a_bank_whose_names_the_pedal_cannot_hold_is_refused(tmp_path):
    """100 presets of 200-character names ran the firmware out of memory at start (a review):
    the names together are at most MAX_NAME_CHARS, refused before anything is sent."""
    from pedaltool.device.flash import MAX_NAME_CHARS, bank_files

    n = MAX_NAME_CHARS // 200 + 1
    bank = make_bank(tmp_path / "bank", names=("one",))
    model = (bank / "one.pedal").read_bytes()
    (bank / "one.pedal").unlink()
    for i in range(n):
        (bank / (f"{i:03d}" + "x" * 197 + ".pedal")).write_bytes(model)
    with pytest.raises(DeviceError, match=f"names hold {200 * n} characters; the pedal keeps "
                                          "every preset's name in memory, at most 12000"):
        bank_files(bank)
    (bank / ("000" + "x" * 197 + ".pedal")).unlink()
    assert len(bank_files(bank)) == n - 1  # 12000 characters: held


def test_macos_metadata_files_in_the_bank_are_left_out(tmp_path):
    from pedaltool.device.flash import bank_files

    bank = make_bank(tmp_path / "bank", names=("alpha",))
    (bank / "._alpha.pedal").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # AppleDouble
    assert [f.rel for f in bank_files(bank)] == ["bank/alpha.pedal"]


def test_a_bank_file_named_in_capitals_is_uploaded_as_the_firmware_lists_it(tmp_path):
    """NAME.PEDAL (a file copied from a FAT drive) is a model: uploaded as bank/NAME.pedal,
    the only suffix the firmware lists (it was left out unsaid). NAME.pedal beside it would
    be the same file on the pedal: refused in one line."""
    from pathlib import Path

    from pedaltool.device.flash import bank_files

    bank = make_bank(tmp_path / "bank", names=("alpha",))
    (bank / "alpha.pedal").rename(bank / "alpha.PEDAL")
    specs = bank_files(bank)
    assert [(f.rel, Path(f.source).name) for f in specs] == [("bank/alpha.pedal", "alpha.PEDAL")]
    (bank / "alpha.pedal").write_bytes((bank / "alpha.PEDAL").read_bytes())
    with pytest.raises(DeviceError) as exc:
        bank_files(bank)
    assert str(exc.value) == (f"{bank / 'alpha.PEDAL'} and alpha.pedal: both would be "
                              "bank/alpha.pedal on the pedal; keep one")


def test_an_unknown_board_is_named_once():
    """The profile loader's own words ("board 'x': x: unknown board ..." before, an audit)."""
    from pedaltool.device.flash import board_json

    with pytest.raises(DeviceError) as e:
        board_json("rpi_pico3")
    assert str(e.value).startswith("rpi_pico3: unknown board (known: ") and "rpi_pico," in str(
        e.value) and str(e.value).count("rpi_pico3") == 1


def test_an_unknown_board_is_refused_before_the_pedal_is_stopped(bank_v1):
    """`flash --board` with a typo stopped the pedal's program first, which drops its unsaved
    knob and preset changes, and only then named the board (an audit)."""
    stops: list = []

    def no_pedal(port):
        raise AssertionError("the pedal was reached")

    with pytest.raises(DeviceError, match=r"^rpi_pico3: unknown board"):
        flash("/dev/null", board="rpi_pico3", bank_dir=bank_v1, link_factory=no_pedal,
              progress=lambda *a: stops.append(a))
    assert stops == []


class _LocalLink:
    """read_text of a board's filesystem laid out in a folder (all _slot_verifies asks)."""

    def __init__(self, root):
        self.root = root

    def read_text(self, path):
        p = self.root / path
        return p.read_text() if p.exists() else None


@pytest.mark.parametrize("damage, boots", [
    (None, True),
    (lambda s: (s / "pedalcore/__init__.py").write_text("# edited"), False),
    (lambda s: (s / "bank/alpha.pedal").write_bytes(b"damaged"), True),  # the app's to refuse
    (lambda s: _edit_manifest(s, lambda m: m["files"].pop("pedalcore/app.mpy")), False),
    (lambda s: _edit_manifest(s, lambda m: m.update(files=sorted(m["files"]))), False),
    (lambda s: _edit_manifest(s, lambda m: m["files"]["board.json"].update(size="12")), False),
    (lambda s: (s / "manifest.json").unlink(), False),
])
def test_flash_and_the_boot_loader_agree_on_which_slot_boots(pedal, fw_v1, bank_v1, damage,
                                                            boots):
    """flash's running_slot (_verified_manifest) mirrors main.py's slot_problem (two places
    for one rule, one on the host, one on the board): the same verdict on the same slot."""
    import hashlib
    import subprocess

    from pedaltool.device.flash import _verified_manifest
    from pedaltool.device.virtual import micropython_executable

    _flash(pedal, fw_v1, bank_v1)
    fs = pedal.fs_dir
    slot = fs / "pt" / "a"
    if damage:
        damage(slot)
    files = {str(p.relative_to(slot)): [p.stat().st_size,
                                         hashlib.sha256(p.read_bytes()).hexdigest()]
             for p in slot.rglob("*") if p.is_file()}
    assert (_verified_manifest(_LocalLink(fs), files, "a") is not None) is boots
    loader = (fs / "main.py").read_text().rsplit("\nboot()", 1)[0]  # its functions, not a boot
    out = subprocess.run([micropython_executable(), "-c", loader + "\nprint(slot_problem('a'))"],
                         capture_output=True, text=True, cwd=fs, timeout=60)
    assert (out.stdout.strip() == "None") is boots, out.stdout + out.stderr


def _edit_manifest(slot, edit):
    m = json.loads((slot / "manifest.json").read_text())
    edit(m)
    (slot / "manifest.json").write_text(json.dumps(m))
