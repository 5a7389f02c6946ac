"""The product firmware (firmware/) on the virtual pedal, driven by the device link."""

import os
import random

import pytest
from console_scenario import set_next_save_restart
from minimal_firmware import make_bank
from pedaltool.device.console import Console
from pedaltool.device.flash import flash
from pedaltool.device.transport import Link
from pedaltool.errors import DeviceError


@pytest.fixture
def flashed(pedal, tmp_path):
    bank = make_bank(tmp_path / "bank", names=("alpha", "beta"))
    res = flash(pedal.port, bank_dir=bank)  # the board profile is recognised, not passed
    return pedal, res


@pytest.mark.slow
def test_flash_status_set_save_restart_keeps_settings(flashed):
    pedal, res = flashed
    assert res.plan.board == "rpi_pico"
    assert res.status["name"] == "alpha" and res.boot["name"] == "alpha"
    names = {s.rel for s in res.plan.steps}
    assert "pedalcore/app.mpy" in names and "board.json" in names
    assert not any("kernels_thumb" in n for n in names)  # ARM-only module, board is x64
    boot, st = set_next_save_restart(pedal.port)
    assert boot.data["name"] == "beta" and st["name"] == "beta"
    assert st["knobs"]["drive"] == pytest.approx(0.8, abs=0.01)


def test_a_bank_none_of_whose_presets_loads_is_said_so(flashed):
    """It said "the pedal runs preset None, which is not in the flashed bank", which the
    troubleshooting page calls a bug (a review)."""
    from pedaltool.device.flash import restart_and_confirm

    pedal, res = flashed
    for p in (pedal.fs_dir / f"pt/{res.plan.target}/bank").glob("*.pedal"):
        p.write_bytes(b"not a pedal")
    with Link(pedal.port) as link, pytest.raises(
            DeviceError, match="no preset of the flashed bank loads on the pedal"):
        restart_and_confirm(link, res.plan)


@pytest.mark.slow
def test_console_garbage_never_stops_the_pedal(flashed):
    pedal, _ = flashed
    rng = random.Random(5)
    with Link(pedal.port) as link:
        con = Console(link)
        ser = link.serial
        junk = [b"set drive banana\n", b"preset 999\n", b"\xff\xfe\x00garbage\n",
                b"x" * 500 + b"\n", b"set\n", b"bypass maybe\n", b"\n\n\r\n", b"status extra\n"]
        junk += [bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 80))) + b"\n"
                 for _ in range(20)]
        for j in junk:
            ser.write(j)
        link.read_lines_until(lambda s: False, 0.5)
        # bad commands are answered with @err, never kill the loop
        with pytest.raises(DeviceError, match="set drive banana"):
            con.command("set drive banana")
        assert con.command("set drive 0.25").tag == "ok"
        st = con.status()
    assert st["knobs"]["drive"] == pytest.approx(0.25, abs=0.01)
    assert st["fault"] is None
    assert os.path.exists(pedal.fs_dir / "pt/current")


@pytest.mark.slow
def test_virtual_pedal_plays_a_wav_in_real_time(tmp_path):
    import time
    import wave

    import numpy as np
    from pedaltool.audio import read_wav
    from pedaltool.device.virtual import VirtualPedal

    # a 16-bit stereo WAV at 44.1 kHz: the pedal gets its first channel at its own 48 kHz
    x = (0.3 * np.sin(2 * np.pi * 220 * np.arange(44100 * 3) / 44100))
    pcm = np.round(np.stack([x, 0 * x], axis=1) * 32767).astype("<i2")
    with wave.open(str(tmp_path / "in.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(pcm.tobytes())
    vp = VirtualPedal(input_wav=tmp_path / "in.wav", output_wav=tmp_path / "out.wav")
    vp.start()
    assert any("44100" in n for n in vp.input_notes), vp.input_notes
    try:
        flash(vp.port, bank_dir=make_bank(tmp_path / "bank"))
        time.sleep(0.8)
        with Link(vp.port) as link:
            st = Console(link).status()
    finally:
        vp.stop()  # Ctrl-C, Ctrl-D: the firmware and the simulator close the WAV properly
    assert st["in_peak_dbfs"] > -12  # the pedal hears the WAV (0.3 = -10.5 dBFS)
    y = read_wav(tmp_path / "out.wav").samples
    assert 0.5 < len(y) / 48000 < 3.1  # paced like real converters, not faster
    assert np.abs(y).max() > 0.05


@pytest.mark.slow
def test_a_pedal_stopped_at_its_repl_is_started_again(flashed):
    """One Ctrl-C on the port stops the firmware at MicroPython's REPL, which answers `help`
    with `<function>` and a prompt that ends no line: status, set and preset said "the pedal
    firmware does not answer" until a flash (an audit). They restart it now; and a control
    character in a command (`set drive $'0.5\\x03'`) is refused before it is sent."""
    pedal, _ = flashed
    with Link(pedal.port) as link:
        link.serial.write(b"\r\x03")
        link.read_lines_until(lambda s: False, 1.0)
        link.serial.write(b"help\r\n")  # the REPL's own answer, not the firmware's
        _, lines = link.read_lines_until(lambda s: "<function" in s, 5.0)
        assert any("<function" in s for s in lines), lines
        con = Console(link)
        assert con.status()["name"] == "alpha"
        with pytest.raises(DeviceError, match="no control characters"):
            con.command("set drive 0.5\x03")
        assert con.command("set drive 0.5").tag == "ok"


def test_a_refused_command_says_its_reason_once(flashed):
    """The firmware's reason starts with the command's words, which the message gives before
    it: "set drive 2: set drive: expected 0..1 or pot", "save: save: ..." (an audit)."""
    pedal, _ = flashed
    with Link(pedal.port) as link:
        con = Console(link)
        for command, reason in (("set drive 2", "expected 0..1 or pot"),
                                ("preset 9", "9 out of range 1..2"),
                                ("bypass maybe", "usage: bypass on|off|toggle")):
            with pytest.raises(DeviceError) as exc:
                con.command(command)
            assert str(exc.value) == f"{pedal.port}: {command}: {reason}"


def test_a_damaged_preset_asked_for_says_the_preset_once(flashed, tmp_path):
    """The pedal refuses a preset whose file it could not load with "preset 2 (beta.pedal):
    ...", its own head, which the message put after the command's: "PORT: preset 2: preset
    2 (beta.pedal): ValueError: ..." (an audit; that line was the load's report, the
    command's own reply came after it and was dropped). The preset is said once, with its
    file."""
    pedal, res = flashed
    (pedal.fs_dir / f"pt/{res.plan.target}/bank/beta.pedal").write_bytes(b"not a pedal")
    with Link(pedal.port) as link:
        con = Console(link)
        con.restart()
        with pytest.raises(DeviceError) as exc:
            con.command("preset 2")
    msg = str(exc.value)
    assert msg.startswith(f"{pedal.port}: preset 2 (beta.pedal): "), msg
    assert msg.count("preset 2") == 1 and "bad magic" in msg, msg
    flash(pedal.port, bank_dir=tmp_path / "bank")  # what troubleshooting.md says to do
    with Link(pedal.port) as link:
        assert Console(link).command("preset 2").tag == "ok"


def test_a_pedal_left_in_the_raw_repl_is_started_again(flashed):
    """A flash killed mid-upload leaves the board in the raw REPL, which echoes nothing:
    status, set and the console said "the pedal firmware does not answer" on every try until
    another flash (an audit). That silence now restarts the firmware."""
    from pedaltool.device.console import one_shot

    pedal, _ = flashed
    with Link(pedal.port) as link:  # a raw REPL entered by hand: close() does not leave it
        link.serial.write(b"\r\x03")
        link.read_lines_until(lambda s: False, 0.5)
        link.serial.write(b"\r\x01")
        line, lines = link.read_lines_until(lambda s: "raw REPL" in s, 5.0)
        assert line is not None, lines
    assert one_shot(pedal.port, "status").data["name"] == "alpha"


def test_a_board_without_the_firmware_says_so_at_once(pedal):
    """A board with MicroPython and no pedal firmware: a restart brings up MicroPython's
    banner, which is said as such, not as "did not print @boot" after the 20 s wait (an
    audit)."""
    from pedaltool.device.console import one_shot

    with pytest.raises(DeviceError, match=r"the pedal firmware did not start after a reset "
                       r"\(the board went to its MicroPython prompt: is it installed\? "
                       r"`pedaltool flash` installs it\)"):
        one_shot(pedal.port, "status")


def test_a_console_line_that_is_not_utf8_is_not_sent_and_the_console_goes_on(flashed,
                                                                              monkeypatch):
    """Bytes the terminal cannot decode (input() gives them as surrogates) were said as
    "connection lost" and ended the console (an audit): that line alone is refused."""
    import builtins
    import io
    import time

    from pedaltool.device.console import interactive

    pedal, _ = flashed
    typed = iter(["\udcff\udcfe", "status"])

    def fake_input(prompt=""):
        try:
            return next(typed)
        except StopIteration:
            time.sleep(1.0)  # the reply to `status` comes in meanwhile
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", fake_input)
    out = io.StringIO()
    interactive(pedal.port, out)
    text = out.getvalue()
    assert "not sent: that line is not UTF-8 text" in text
    assert "@status {" in text and text.endswith("console closed\n")


@pytest.mark.slow
def test_the_console_says_when_the_pedal_goes_away(flashed, monkeypatch):
    """The virtual pedal stopped (a board unplugged) while the console waits for a line: the
    next line ends it with 'connection lost' (exit 2), not an internal error (an audit)."""
    import builtins
    import io

    from pedaltool.device.console import interactive

    pedal, _ = flashed
    typed = iter(["status"])
    out = io.StringIO()

    def fake_input(prompt=""):
        try:
            return next(typed)
        except StopIteration:
            pedal.stop()  # gone while the user types
            return "status"

    monkeypatch.setattr(builtins, "input", fake_input)
    with pytest.raises(DeviceError, match=f"^{pedal.port}: connection lost"):
        interactive(pedal.port, out)
