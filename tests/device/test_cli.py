"""The device commands as a user runs them: separate processes against a virtual pedal."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from minimal_firmware import make_bank

REPO = Path(__file__).resolve().parents[2]
PEDALTOOL = [str(Path(sys.executable).parent / "pedaltool")]


def run(args, cwd, check=True, timeout=600):
    env = dict(os.environ)
    env.pop("PEDALTOOL_PORT", None)
    p = subprocess.run(PEDALTOOL + args, cwd=cwd, capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"pedaltool {' '.join(args)} -> {p.returncode}\n{p.stdout}\n"
                             f"{p.stderr}")
    return p


def shell(cmd, cwd, timeout=900):
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.mark.slow
def test_flash_status_set_preset_as_commands(pedal, tmp_path):
    make_bank(tmp_path / "pedals", names=("alpha", "beta"))
    p = run(["flash", "--port", pedal.port], cwd=tmp_path)
    assert "pedal running preset 1 (alpha)" in p.stdout
    assert "verified" in p.stderr  # per-file progress
    # the restart drops what was not saved, and says so (an audit: with nothing to write)
    assert "stopping the pedal's program to read its files (knob and preset changes not " \
        "stored with `pedaltool save` are dropped)" in p.stderr
    out = run(["status", "--json", "--port", pedal.port], cwd=tmp_path).stdout
    st = json.loads(out)
    assert st["name"] == "alpha" and st["schema"] == 1 and out.count("\n") == 1
    assert "drive 0.700" in run(["set", "drive", "0.7", "--port", pedal.port], tmp_path).stdout
    listing = run(["preset", "--port", pedal.port], cwd=tmp_path).stdout.splitlines()
    assert [line.split()[:2] for line in listing] == [["1", "alpha"], ["2", "beta"]]
    assert listing[0].endswith("(playing)") and not listing[1].endswith("(playing)")
    run(["preset", "next", "--port", pedal.port], cwd=tmp_path)
    st = json.loads(run(["status", "--json", "--port", pedal.port], cwd=tmp_path).stdout)
    assert st["name"] == "beta" and abs(st["knobs"]["drive"] - 0.7) < 0.01
    # a bad value is one line on stderr and exit 2, and the pedal keeps running
    bad = run(["set", "drive", "banana", "--port", pedal.port], cwd=tmp_path, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")
    assert len(bad.stderr.strip().splitlines()) == 1
    dry = run(["flash", "--dry-run", "--port", pedal.port], cwd=tmp_path)
    assert "already up to date" in dry.stdout
    assert "are dropped" in dry.stderr  # a dry run stops the program too


@pytest.mark.slow
def test_flash_shows_a_bank_files_line_break_escaped_as_preset_list_does(pedal, tmp_path):
    """A bank file named "line\nbreak.pedal" broke flash's progress line in two (an audit);
    `preset list` shows it as line\\nbreak.pedal, and so do flash and its dry run now."""
    bank = make_bank(tmp_path / "pedals", names=("alpha",))
    shutil.copy(bank / "alpha.pedal", bank / "line\nbreak.pedal")
    dry = run(["flash", "--dry-run", "--port", pedal.port], cwd=tmp_path)
    assert "  would upload bank/line\\nbreak.pedal (" in dry.stdout, dry.stdout
    p = run(["flash", "--port", pedal.port], cwd=tmp_path)
    assert "  upload bank/line\\nbreak.pedal (" in p.stderr, p.stderr
    assert "line\n" not in p.stderr + p.stdout + dry.stdout
    listing = run(["preset", "list", "--port", pedal.port], cwd=tmp_path).stdout
    assert "line\\nbreak.pedal" in listing, listing


def test_flash_without_device_says_how_to_use_virtual(tmp_path):
    make_bank(tmp_path / "pedals", names=("alpha",))
    p = run(["flash", "--port", str(tmp_path / "ttyACM9")], cwd=tmp_path, check=False)
    assert p.returncode == 2
    assert "pedaltool virtual" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_flash_with_an_empty_bank_says_so_before_looking_for_a_board(tmp_path):
    # the next step is a fit, whether a board is plugged in or not
    (tmp_path / "pedals").mkdir()
    p = run(["flash", "--port", str(tmp_path / "ttyACM9")], cwd=tmp_path, check=False)
    assert p.returncode == 2 and "no .pedal files to flash" in p.stderr
    assert "pedaltool fit" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    # a folder that is not there: said as such, not as an empty bank (an audit)
    p = run(["flash", "--bank", "nosuchdir", "--port", str(tmp_path / "ttyACM9")], cwd=tmp_path,
            check=False)
    assert p.returncode == 2 and p.stderr.startswith(
        "error: nosuchdir: no such folder (the bank of .pedal files"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_flash_with_a_file_as_the_bank_says_it_as_the_docs_list_it(tmp_path):
    """`--bank di.wav` read click's "Invalid value for '--bank': Directory 'di.wav' is a
    file.", which troubleshooting.md does not list: it lists "DIR: is a file, not a folder
    (the bank of .pedal files: ...)", flash.bank_files's words (an audit)."""
    (tmp_path / "di.wav").write_bytes(b"RIFF")
    p = run(["flash", "--bank", "di.wav", "--port", str(tmp_path / "ttyACM9")], cwd=tmp_path,
            check=False)
    assert p.returncode == 2 and p.stderr.startswith(
        "error: di.wav: is a file, not a folder (the bank of .pedal files"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_file_as_the_virtual_pedals_or_the_demos_folder_is_said_as_the_docs_list_it(
        tmp_path):
    """`virtual --fs FILE` and `demo --out FILE` read click's "Invalid value for '--fs':
    Directory 'x' is a file.", which troubleshooting.md does not list: it lists "DIR: cannot
    write the pedal filesystem folder (...)" and "DIR: cannot write the demo folder (...)"
    (an audit). Refused before anything starts or is fitted."""
    (tmp_path / "x").write_bytes(b"not a folder")
    for args, what in ((["virtual", "--fs", "x"], "pedal filesystem folder"),
                       (["demo", "--out", "x"], "demo folder")):
        p = run(args, cwd=tmp_path, check=False)
        assert p.returncode == 2 and p.stderr == (
            f"error: x: cannot write the {what} (x is a file, not a folder)\n"), p.stderr
        assert p.stdout == ""
    assert sorted(f.name for f in tmp_path.iterdir()) == ["x"]


def test_virtual_input_of_another_kind_is_said_without_an_order_to_check(tmp_path):
    """`virtual --input x.pedal` read "not a WAV file (a .pedal model: check the order of the
    arguments)", though --input is an option (an audit). Refused before the pedal starts."""
    from pedaltool.pedal.fileformat import MAGIC

    (tmp_path / "x.pedal").write_bytes(MAGIC + bytes(60))
    p = run(["virtual", "--input", "x.pedal"], cwd=tmp_path, check=False)
    assert p.returncode == 2 and p.stderr.endswith(
        "x.pedal: not a WAV file (a .pedal model)\n"), p.stderr
    assert len(p.stderr.splitlines()) == 1


def test_flash_names_a_folder_in_the_bank(tmp_path):
    (tmp_path / "pedals" / "amp.pedal").mkdir(parents=True)
    p = run(["flash", "--port", str(tmp_path / "ttyACM9")], cwd=tmp_path, check=False)
    assert p.returncode == 2, p.stderr
    assert "pedals/amp.pedal: a folder, not a .pedal model" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_install_micropython_without_file_names_the_download(tmp_path):
    p = run(["install-micropython", "--board", "rpi_pico2"], cwd=tmp_path, check=False)
    assert p.returncode == 2
    assert "https://micropython.org/download/RPI_PICO2/" in p.stderr


@pytest.mark.slow
def test_fit_then_flash_verbatim(pedal, tmp_path):
    """The README's two commands, verbatim, against the virtual pedal."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    p = shell(f"pedaltool fit examples/diode_clipper.nam && pedaltool flash --port {pedal.port}",
              cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    from pedaltool.pedal import read_pedal

    qp = read_pedal(tmp_path / "pedals" / "diode_clipper.pedal")
    assert f"pedal running preset 1 ({qp.name or 'diode_clipper'})" in p.stdout


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_virtual_command_is_found_by_flash_without_port(tmp_path, stop):
    """`pedaltool virtual` in one process; `flash` and `status` in others find it by themselves.
    Ctrl-C or a plain kill stops it cleanly, even when started with SIGINT ignored (what a
    non-interactive shell does to background jobs)."""
    import signal

    make_bank(tmp_path / "pedals", names=("alpha",))
    exe = PEDALTOOL[0]
    env = dict(os.environ)
    env.pop("PEDALTOOL_PORT", None)
    proc = subprocess.Popen([exe, "virtual"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        first = proc.stdout.readline()
        assert first.startswith("virtual pedal on /dev/")
        port = first.split()[-1]
        p = run(["flash"], cwd=tmp_path)  # no --port: only the virtual pedal is around
        assert port in p.stdout and "preset 1 (alpha)" in p.stdout
        st = json.loads(run(["status", "--json"], cwd=tmp_path).stdout)
        assert st["name"] == "alpha"
    finally:
        proc.send_signal(getattr(signal, stop))
        out, _ = proc.communicate(timeout=20)
    assert "virtual pedal stopped" in out
    from pedaltool.device.virtual import REGISTRY_DIR

    assert not list(REGISTRY_DIR.glob(f"{proc.pid}-*.json"))  # its registry entry is gone


def test_a_virtual_pedal_whose_output_is_closed_stops_cleanly(tmp_path):
    """`pedaltool virtual | true`: the first line's closed pipe ended the command before its
    clean-up, leaving its registry entry (which `flash` would find) and its filesystem
    folder behind (a review). It stops as Ctrl-C stops it, quietly, with the closed pipe's
    status (1, cli.base.CLOSED_PIPE_EXIT); deterministic: the pipe is closed before it
    starts."""
    env = dict(os.environ, TMPDIR=str(tmp_path))  # its registry and folder: here
    env.pop("PEDALTOOL_PORT", None)
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.Popen(PEDALTOOL + ["virtual"], cwd=tmp_path, stdout=write,
                            stderr=subprocess.PIPE, text=True, env=env)
    os.close(write)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # (only if it hangs: this test's own process)
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and err == "", (proc.returncode, err)
    assert not list(tmp_path.glob(f"pedaltool-virtual-{os.getuid()}/*.json"))
    assert not list(tmp_path.glob("pedaltool-virtual-fs-*"))


def test_preset_list_lines_show_broken_files():
    from pedaltool.device.replies import preset_lines

    lines = preset_lines([{"index": 1, "file": "a.pedal", "name": "amp", "ok": True,
                           "current": True},
                          {"index": 2, "file": "b.pedal", "name": "", "ok": False,
                           "error": "CRC mismatch", "current": False}])
    assert lines[0].split() == ["1", "amp", "a.pedal", "(playing)"]  # which one (an audit)
    assert lines[1].split()[:3] == ["2", "-", "b.pedal"] and "ERROR: CRC mismatch" in lines[1]
    assert "pedaltool flash" in preset_lines([])[0]
    # a name with a line break and an escape (a .pedal from elsewhere): the pedal's JSON
    # carries them, and they are printed escaped, one line a preset (the review)
    from pedaltool.device.replies import status_lines

    odd = "Kl\n@err preset 2\x1b[31m"
    lines = preset_lines([{"index": 1, "file": "a.pedal", "name": odd, "ok": True}])
    assert lines == ["  1  Kl\\n@err preset 2\\x1b[31m  a.pedal"]
    assert "     preset: 1 (Kl\\n@err preset 2\\x1b[31m)" in status_lines({"preset": 1,
                                                                          "name": odd})


def test_virtual_and_demo_refuse_what_cannot_work_in_one_line(tmp_path):
    """Checked before the pedal starts (it would only fail to boot, and a later `flash` say
    that) or the demo fits; nothing is left behind, in the temporary folder either."""
    import numpy as np
    from pedaltool.audio import write_wav

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    (tmp_path / "text.wav").write_text("not audio")
    di = tmp_path / "di.wav"
    write_wav(di, np.zeros(4800), 48000)
    di_bytes = di.read_bytes()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env_tmp = {"TMPDIR": str(scratch)}
    for args, problem in (
            (["virtual", "--fs", str(blocker / "fs")], "cannot write the pedal filesystem folder"),
            (["virtual", "--output", str(blocker / "o.wav")], "a_file is a file, not a folder"),
            (["virtual", "--input", str(tmp_path / "text.wav")], "text.wav: not a WAV file"),
            # the board writes over any file it is given: an audit's DI was lost so
            (["virtual", "--input", str(di), "--output", "./di.wav"],
             "the output WAV would replace the input"),
            (["virtual", "--output", str(tmp_path / "o.nam")], "give a .wav name"),
            (["demo", "--quick", "--out", str(blocker / "d")], "cannot write the demo folder")):
        p = subprocess.run(PEDALTOOL + args, cwd=tmp_path, capture_output=True, text=True,
                           env=dict(os.environ, **env_tmp), timeout=120)
        assert p.returncode == 2 and problem in p.stderr, (args, p.stderr)
        assert len(p.stderr.splitlines()) == 1 and p.stdout == "", (args, p.stdout, p.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "di.wav", "text.wav", "tmp"]
    assert di.read_bytes() == di_bytes
    assert list(scratch.iterdir()) == []


def test_the_virtual_pedals_output_folder_is_made(tmp_path):
    """The simulated board opens the output file and would crash at every boot on a missing
    folder; the pedal makes it, as every other pedaltool output's folder is made."""
    from pedaltool.device.virtual import VirtualPedal

    vp = VirtualPedal(output_wav=tmp_path / "new" / "deeper" / "out.wav")
    try:
        assert (tmp_path / "new" / "deeper").is_dir()
    finally:
        vp.stop()


def test_virtual_says_what_was_done_to_its_input_as_every_command_does(monkeypatch, capsys):
    """The virtual pedal's input notes go through the one `say_notes`: a resampled or clipped
    input is a warning there as in `render` and `fit` (it printed "note:" for everything)."""
    from pathlib import Path
    from types import SimpleNamespace

    from pedaltool.cli import device_cmds

    vp = SimpleNamespace(start=lambda: "/dev/pts/9", stop=lambda: None, fs_dir="/tmp/fs",
                         input_wav=Path("/music/riff.wav"),
                         input_notes=["resampled from 44100 Hz to 48000 Hz",
                                      "2-channel file: using the first channel only"])

    def ctrl_c(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(device_cmds.time, "sleep", ctrl_c)
    device_cmds._run_virtual(vp)
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: riff.wav: resampled from 44100 Hz to 48000 Hz",
                   "note: riff.wav: 2-channel file: using the first channel only"]


def test_a_negative_preset_number_goes_to_the_pedal(tmp_path):
    """`preset -1` was refused by the command line as "No such option '-1'" (an audit): it is
    a preset number, for the pedal to refuse (here: no pedal on that port)."""
    from click.testing import CliRunner
    from pedaltool.cli import main

    r = CliRunner().invoke(main, ["preset", "-1", "--port", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "No such option" not in r.output
    assert "nope: no such port" in r.output


def test_status_is_shown_in_a_fixed_order_with_units():
    """The firmware's status JSON comes in hash order with Python's spellings ("bypass:
    False", "fault: None"; an audit): shown as labelled lines in a fixed order, with units;
    a key this version does not know follows as it is."""
    from pedaltool.device.replies import status_lines

    st = {"fault": None, "xruns": 0, "board": "rpi_pico", "bypass": False, "knobs":
          {"drive": 0.7, "tone": None}, "preset": 2, "name": "beta", "gate_dbfs": -60.0,
          "in_peak_dbfs": -12.5, "out_peak_dbfs": -120.0, "cpu_load": 23.4, "cpu_peak": 40.1,
          "resyncs": 1, "mem_free": 81234, "blocks": 900, "block_frames": 32,
          "rate_hz": 48000, "later": [1, 2]}
    assert status_lines(st) == [
        "     preset: 2 (beta)",
        "     effect: engaged",
        "      knobs: drive 0.700, tone fitted",  # (null: "pot" read as a pot, a review)
        "       gate: -60 dBFS",
        "      peaks: in -12.5 dBFS, out silent (since the last status)",
        "   CPU load: 23.4 % (peak 40.1 %)",
        "      xruns: 0 (resyncs 1)",
        "free memory: 81234 bytes",
        "      fault: none",
        "      board: rpi_pico, 48000 Hz, 32-frame blocks (900 played)",
        "      later: [1, 2]",
    ]
    st.update(bypass=True, gate_dbfs=None, fault="no presets in bank", preset=None, name=None)
    lines = status_lines(st)
    assert "effect: bypassed" in lines[1] and "gate: off" in lines[3]
    assert lines[0].endswith("preset: - (-)") and lines[8].endswith("fault: no presets in bank")
    # full scale is clipping, and says what to turn; a virtual pedal's CPU is this computer's
    # (an audit read "rpi_pico ... peak 149.7 %" as the board's)
    assert "clipping" not in status_lines({**st, "out_peak_dbfs": -0.1})[4]  # not full scale
    st.update(in_peak_dbfs=-3.2, out_peak_dbfs=-0.0, platform="linux")
    lines = status_lines(st)
    assert lines[4].endswith("peaks: in -3.2 dBFS, out 0 dBFS (clipping: turn the level knob "
                             "down) (since the last status)")
    assert lines[5].endswith("(this computer's, in a virtual pedal: not the board's)")
    st.update(platform="rp2")
    assert status_lines(st)[5].endswith("CPU load: 23.4 % (peak 40.1 %)")
    assert "platform" not in "".join(status_lines(st))


def test_status_json_says_an_error_as_one_line_of_json(tmp_path):
    """`status --json` promises one line of JSON, an error included; the error object came
    indented over four lines (an audit)."""
    p = run(["status", "--json", "--port", str(tmp_path / "no-such-port")], cwd=tmp_path,
            check=False)
    assert p.returncode == 2
    assert p.stdout.count("\n") == 1
    assert json.loads(p.stdout)["error"] == p.stderr.strip().removeprefix("error: ")


def test_a_bad_bypass_state_names_the_argument(tmp_path):
    """`bypass maybe` said "Invalid value for '{on|off}'" (an audit)."""
    p = run(["bypass", "maybe"], cwd=tmp_path, check=False)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("error: Invalid value for '[on|off|toggle]': 'maybe' is not one "
                               "of")


def test_bypass_alone_switches_it_over_as_the_footswitch_does(monkeypatch):
    """`pedaltool bypass` was an error; its help reads as a toggle (an audit)."""
    from click.testing import CliRunner
    from pedaltool.cli import device_cmds
    from pedaltool.cli.base import main

    sent = []
    monkeypatch.setattr(device_cmds, "_one", lambda port, command: sent.append(command))
    assert CliRunner().invoke(main, ["bypass"]).exit_code == 0
    assert CliRunner().invoke(main, ["bypass", "on"]).exit_code == 0
    assert sent == ["bypass toggle", "bypass on"]


def test_two_virtual_pedals_cannot_share_a_filesystem_folder(tmp_path):
    """Both started, and two flashes then wrote the same slots (an audit)."""
    from pedaltool.device.virtual import VirtualPedal
    from pedaltool.errors import DeviceError

    first = VirtualPedal(fs_dir=tmp_path / "fs")
    first.start()
    try:
        second = VirtualPedal(fs_dir=tmp_path / "fs")
        with pytest.raises(DeviceError, match=r"fs: another virtual pedal runs on this folder; "
                           r"give each its own --fs folder"):
            second.start()
        second.stop()  # nothing to stop: it never started
        assert first.port and (tmp_path / "fs").is_dir()
    finally:
        first.stop()
    third = VirtualPedal(fs_dir=tmp_path / "fs")  # free again
    third.start()
    third.stop()


def test_an_unusable_registry_folder_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """A file where the registry folder goes was an internal error (FileExistsError), and a
    read-only one left the temporary filesystem behind (an audit)."""
    from pedaltool.device import virtual
    from pedaltool.errors import DeviceError

    blocker = tmp_path / "registry"
    blocker.write_text("not a folder")
    monkeypatch.setattr(virtual, "REGISTRY_DIR", blocker)
    vp = virtual.VirtualPedal(register=True)
    with pytest.raises(DeviceError, match=r"registry: cannot list the virtual pedal there"):
        vp.start()
    assert not vp.fs_dir.exists() and vp._proc.poll() is not None


def test_virtual_cleans_up_after_a_double_ctrl_c(tmp_path):
    """Two SIGINTs 0.1 s apart stopped `pedaltool virtual` with "error: interrupted", its
    temporary filesystem and registry file left behind (an audit)."""
    import signal
    import time

    proc = subprocess.Popen(PEDALTOOL + ["virtual"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        fs = Path(lines[1].split("filesystem:")[1].strip())
        assert lines[0].startswith("virtual pedal on ") and fs.is_dir()
        time.sleep(1.0)  # running
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "virtual pedal stopped" in out and err == "", (out, err)
    assert not fs.exists()


def test_a_virtual_pedal_that_fails_to_start_leaves_its_folder_free(tmp_path):
    """The folder lock was taken first and kept when the start then failed (an unreadable
    input): a retry on the folder in the same process was told another pedal ran there (a
    review)."""
    from pedaltool.device.virtual import VirtualPedal
    from pedaltool.errors import PedaltoolError

    bad = VirtualPedal(fs_dir=tmp_path / "fs", input_wav=tmp_path / "missing.wav")
    with pytest.raises(PedaltoolError, match="missing.wav"):
        bad.start()
    good = VirtualPedal(fs_dir=tmp_path / "fs")
    good.start()
    good.stop()


def test_a_preset_is_labelled_alike_in_flash_status_and_the_boot_line():
    """flash's "pedal running preset ..." printed "None (None)" for a pedal with no preset
    playing, where status and the boot line print "- (-)" (three copies of the label, a
    review): one preset_label now; a name's line break escaped in each."""
    from pedaltool.device.replies import preset_label, readable_reply, status_lines

    assert preset_label(None, None) == "- (-)"
    assert preset_label(2, "a\nb") == "2 (a\\nb)"
    assert status_lines({"preset": None, "name": None})[0].endswith("- (-)")
    assert readable_reply('@boot {"preset": 2, "name": "a\\nb"}')[0].startswith(
        "pedal started: preset 2 (a\\nb),")


def test_an_err_reply_says_the_command_once():
    """``console._err_text``: the command's words once, whichever way the pedal's reply
    starts (its head, the whole command and more, or its own words)."""
    from pedaltool.device.console import _err_text

    assert _err_text("set drive 2", "set drive: expected 0..1 or pot") == (
        "set drive 2: expected 0..1 or pot")
    assert _err_text("preset 9", "preset 9: 9 out of range 1..2") == (
        "preset 9: 9 out of range 1..2")
    assert _err_text("preset 2", "preset 2 (b.pedal): ValueError: bad magic") == (
        "preset 2 (b.pedal): ValueError: bad magic")
    assert _err_text("preset 1", "preset 10 (x.pedal): no") == "preset 1: preset 10 (x.pedal): no"
    assert _err_text("bypass maybe", "usage: bypass on|off|toggle") == (
        "bypass maybe: usage: bypass on|off|toggle")


def test_the_console_shows_replies_as_a_guitarist_reads_them():
    """`pedaltool console` printed the protocol (`@status {...}`, an audit): each known reply
    as the commands show it, a board's bench without a note, anything else as it came."""
    from pedaltool.device.replies import readable_reply

    assert readable_reply("@ok drive 0.600") == ["drive 0.600"]
    assert readable_reply("@err unknown command: x") == ["error: unknown command: x"]
    assert readable_reply('@boot {"version": "0.1", "preset": 2, "name": "amp", '
                          '"board": "rpi_pico"}') == [
        "pedal started: preset 2 (amp), firmware 0.1, board rpi_pico"]
    assert readable_reply('@list [{"index": 1, "file": "a.pedal", "name": "amp", "ok": true}]'
                          ) == ["  1  amp  a.pedal"]
    bench = '@bench {"cpu_mhz": 125, "load_pct": 38.6, "platform": "%s"}'
    assert readable_reply(bench % "rp2") == ["bench:", "  cpu_mhz: 125", "  load_pct: 38.6"]
    assert readable_reply(bench % "linux")[0] == (
        "bench (this computer's, in a virtual pedal: not the board's):")
    # a reply of a shape it does not know (a list of names, a firmware of another version):
    # as it came (a review: it raised, and ended the console's reader thread)
    assert readable_reply('@list ["alpha"]') == ['@list ["alpha"]']
    assert readable_reply("Traceback (most recent call last):") == [
        "Traceback (most recent call last):"]
    assert readable_reply("@status {not json") == ["@status {not json"]
    assert any(line.endswith("effect: engaged") for line in readable_reply(
        '@status {"preset": 1, "name": "amp", "bypass": false}'))


def test_a_console_log_that_cannot_be_written_stops_neither_the_pedal_nor_its_clean_up():
    """`demo` on a full disk: the pump thread died with a traceback at the log's flush, and
    stop() raised at its close and left the temporary filesystem behind (an audit)."""
    import threading

    from pedaltool.device.transport import Link
    from pedaltool.device.virtual import VirtualPedal

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full (a device that is always full) on this platform")
    died: list = []
    hook = threading.excepthook
    threading.excepthook = died.append
    try:
        vp = VirtualPedal(transcript="/dev/full")
        port = vp.start()
        try:
            with Link(port) as link, link.raw_repl():  # the pedal answers: the log is written
                assert link.identify()
        finally:
            vp.stop()
    finally:
        threading.excepthook = hook
    assert died == [] and vp.transcript_error and not vp.fs_dir.exists()


def test_a_file_in_pedaltool_port_is_named_as_where_the_port_came_from(tmp_path):
    """$PEDALTOOL_PORT naming a file said "leave --port out to search" to a user who gave no
    --port: the search was still skipped (an audit)."""
    (tmp_path / "di.wav").write_bytes(b"RIFF")
    env = dict(os.environ, PEDALTOOL_PORT=str(tmp_path / "di.wav"))
    p = subprocess.run(PEDALTOOL + ["status"], cwd=tmp_path, capture_output=True, text=True,
                       env=env, timeout=600)
    assert p.returncode == 2, p
    assert p.stderr.startswith(f"error: {tmp_path / 'di.wav'}: not a serial port (a file)")
    assert "$PEDALTOOL_PORT" in p.stderr, p.stderr
