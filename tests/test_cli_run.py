"""The console script's exit (``pedaltool.cli.run``): it skips the interpreter's teardown,
so check that what an ordinary exit would do still happens: piped output arrives, the exit
code is the command's, atexit handlers run."""

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_SCRIPT = """
import atexit, sys
mark = sys.argv[1]
atexit.register(lambda: open(mark, "w").write("ran"))
sys.argv = ["pedaltool"] + sys.argv[2:]
from pedaltool.cli import run
run()
"""


def _run(tmp_path, *args):
    mark = tmp_path / "atexit.txt"
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(mark), *args], capture_output=True,
                       text=True)
    return r, mark.read_text() if mark.exists() else ""


def test_output_code_and_atexit_of_a_command_that_succeeds(tmp_path):
    r, mark = _run(tmp_path, "--help")
    assert r.returncode == 0 and "pedaltool: turn a Neural Amp Modeler capture" in r.stdout
    assert mark == "ran"


def test_output_code_and_atexit_of_a_command_that_fails(tmp_path):
    r, mark = _run(tmp_path, "render", str(tmp_path / "missing.pedal"), "in.wav", "out.wav")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "missing.pedal" in r.stderr
    assert mark == "ran"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_an_output_on_a_full_disk_is_one_line(tmp_path):
    """stdout redirected to a full disk (/dev/full): one line on stderr and exit code 2, for
    a command's output and for the help alike; not an "internal error"."""
    for args in (["--help"], ["--version"], ["fit", "--help"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), *args],
                               stdout=full, stderr=subprocess.PIPE, text=True)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr == "error: cannot write the command's output (No space left on " \
                           "device)\n", (args, r.stderr)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_fit_whose_table_cannot_be_printed_still_writes_its_model(tmp_path, models_dir):
    out = tmp_path / "ts9.pedal"
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), "fit",
                            "--quick", str(models_dir / "tim_r_ts9.nam"), "-o", str(out)],
                           stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2 and r.stderr.endswith("error: cannot write the command's output "
                                                   "(No space left on device)\n"), r.stderr
    from pedaltool.pedal import read_pedal

    assert read_pedal(out).name == "tim_r_ts9"  # written before the table was printed


def test_a_closed_pipe_ends_the_command_quietly(tmp_path):
    """`pedaltool info X | head -1`: the reader goes away before the output is written. The
    command stops and says nothing, with code 1 as click's own help does (it printed
    "internal error (BrokenPipeError...)" and exited 3, found by an audit on 2026-12-06)."""
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    path = write_pedal(tmp_path / "amp.pedal", quantise(eq_test_models(48000)["hp20"]))
    for args in (["info", str(path)], ["--help"]):
        p = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # before the interpreter has even started: the first write fails
        err = p.stderr.read().decode()
        assert p.wait() == 1 and err == "", (args, p.returncode, err)


def test_a_command_that_fails_keeps_its_status_and_its_error_line_whatever_its_readers_do(
        tmp_path, models_dir):
    """A fit that fails (a silent capture) with its JSON for a reader gone before it wrote
    (`fit x.nam --json - | true`) exited 1 and said nothing: the closed pipe replaced the
    failure, which a reader still there (`| head -c 10`) got as exit 2 and its error line (a
    review: the status depended on when the reader went). A closed stderr, where the error
    line goes, changed an error's 2 into 1 the same way. The failure's own status stands,
    its line said where it can be; deterministic: each pipe is closed before the command
    starts."""
    import json

    doc = json.loads((models_dir / "core_wavenet.nam").read_text())
    doc["weights"] = [0.0] * len(doc["weights"])
    silent = tmp_path / "silent.nam"
    silent.write_text(json.dumps(doc))
    for args, err_closed in ((["fit", str(silent), "--json", "-", "-o",
                               str(tmp_path / "s.pedal")], False),
                             (["info", str(tmp_path / "missing.nam"), "--json"], True),
                             (["info", str(tmp_path / "missing.nam")], True)):
        p = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # before the interpreter has even started
        if err_closed:
            p.stderr.close()
            err = ""
        else:
            err = p.stderr.read().decode()
        assert p.wait(timeout=300) == 2, (args, p.returncode, err)
        if not err_closed:
            assert err.endswith(f"error: {silent}: the capture's output is silent; nothing "
                                "to fit\n"), err
            assert "Traceback" not in err and "Exception ignored" not in err


class _Writes(io.RawIOBase):
    """A stdout that keeps each write(2) it is given."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.chunks.append(bytes(b))
        return len(b)


def _writes_of(monkeypatch, args: list[str]) -> tuple[int, list[bytes]]:
    """(exit status, stdout's write(2) calls) of ``pedaltool args`` run in this process."""
    from pedaltool.cli import main

    raw = _Writes()
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    with pytest.raises(SystemExit) as exited:
        main(args)
    out.flush()
    monkeypatch.undo()
    return exited.value.code, raw.chunks


def test_a_report_is_one_write(tmp_path, monkeypatch, repo_root):
    """`info X | head -1` exited 0 or 1 as the scheduler had it (a review): click.echo
    writes each line apart, and the reader that stopped after the first had gone before the
    next write, or not yet. A report is one write (cli.base.echo_lines), which a reader
    that is there takes whole: exit 0, every time."""
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    path = write_pedal(tmp_path / "amp.pedal", quantise(eq_test_models(48000)["hp20"]))
    for args in (["info", str(path)], ["info", str(repo_root / "examples" / "diode_clipper.nam")]):
        code, chunks = _writes_of(monkeypatch, args)
        text = b"".join(chunks).decode()
        assert code == 0 and len(chunks) == 1 and text.count("\n") >= 8, (args, chunks)


@pytest.mark.slow
def test_a_fit_report_is_one_write_with_what_it_wrote(tmp_path, monkeypatch, repo_root):
    """fit's table, the .pedal, plot and report it wrote: one write (a review: the report's
    "wrote" line was a write of its own, so `fit X --json r.json | head -1` still exited 0
    or 1 by chance)."""
    code, chunks = _writes_of(monkeypatch, [
        "fit", str(repo_root / "examples" / "diode_clipper.nam"), "--quick",
        "-o", str(tmp_path / "dc.pedal"), "--json", str(tmp_path / "r.json"),
        "--plot", str(tmp_path / "p.png")])
    text = b"".join(chunks).decode()
    assert code == 0 and len(chunks) == 1, chunks
    for name in ("dc.pedal", "p.png", "r.json"):
        assert f"wrote {tmp_path / name}" in text and (tmp_path / name).is_file()


def test_a_command_started_with_its_output_closed_still_does_its_work(tmp_path):
    """`pedaltool render ... >&- 2>&-`: Python starts with sys.stdout and sys.stderr None.
    The command still writes its file and exits 0 (it ended in a traceback, or wrote
    nothing: `sys.stderr.isatty()` on None, found by an audit on 2026-12-06)."""
    from pedaltool.audio import read_wav, write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    path = write_pedal(tmp_path / "amp.pedal", quantise(eq_test_models(48000)["hp20"]))
    write_wav(tmp_path / "di.wav", np.sin(np.arange(6 * 48000) / 9.0) * 0.3, 48000)
    out = tmp_path / "out.wav"
    for args in (["info", str(path)], ["render", str(path), str(tmp_path / "di.wav"), str(out)]):
        r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), *args],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           close_fds=True, pass_fds=(), preexec_fn=_close_stdio)
        assert r.returncode == 0, args
    assert read_wav(out).samples.size == 6 * 48000


def _close_stdio() -> None:
    """In the child, before exec: fds 1 and 2 closed, as the shell's `>&- 2>&-` leaves them."""
    os.close(1)
    os.close(2)


def test_a_missing_argument_is_one_line(tmp_path):
    """click laid a missing choice out over three lines ("Choose from:\\n\\ton,\\n\\toff",
    an audit, when `bypass` required its state); every usage error is said on one."""
    r, _ = _run(tmp_path, "set", "drive")
    assert r.returncode == 2 and r.stderr == (
        "error: Missing argument 'VALUE'. (see `pedaltool set --help`)\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_full_stderr_silences_the_progress_not_the_fit(tmp_path, models_dir):
    """`fit ... 2>/dev/full`: the first progress line failed, the fit stopped, no model was
    written and the report said "internal error (OSError ...) please report it"; `compare
    --json 2>/dev/full` printed no JSON at all (a review). Progress is commentary: the work
    and its result go on."""
    import json

    out, report = tmp_path / "ts9.pedal", tmp_path / "ts9.json"
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), "fit", "--quick",
                            str(models_dir / "tim_r_ts9.nam"), "-o", str(out), "--json",
                            str(report)], stdout=subprocess.PIPE, stderr=full, text=True)
    assert r.returncode == 0, r.stdout
    assert "error" not in json.loads(report.read_text())
    from pedaltool.pedal import read_pedal

    assert read_pedal(out).name == "tim_r_ts9"
    assert "tim_r_ts9" in r.stdout  # the result table, on stdout as usual
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), "compare",
                            str(models_dir / "tim_r_ts9.nam"), str(out), "--no-baseline",
                            "--json"], stdout=subprocess.PIPE, stderr=full, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["device"]["esr"] < 0.01


def test_a_closed_stderr_pipe_silences_the_progress_not_the_fit(tmp_path, models_dir):
    """`fit ... 2>&1 | head -1`: the reader went away after the first line and the fit
    stopped with "internal error (BrokenPipeError ...)" in its report (a review)."""
    import json

    out, report = tmp_path / "ts9.pedal", tmp_path / "ts9.json"
    p = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(tmp_path / "m"), "fit", "--quick",
                          str(models_dir / "tim_r_ts9.nam"), "-o", str(out), "--json",
                          str(report)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.stderr.close()  # before the first progress line
    assert p.wait(timeout=600) == 0
    assert "error" not in json.loads(report.read_text()) and out.exists()


def test_a_refused_stderr_is_forgotten_by_the_next_command():
    """say_progress stops at the first refused line; the flag was module-wide, so a later
    command in the same process printed no progress at all (a review)."""
    from click.testing import CliRunner
    from pedaltool.cli import base, main

    base._stderr_gone = True
    r = CliRunner().invoke(main, ["info", "missing.nam"])
    assert r.exit_code == 2 and base._stderr_gone is False


_CALLBACK_SCRIPT = """
import ctypes, os, signal, sys, time
from pedaltool.cli import main

@main.command("callback-test")
def callback_test():
    def callback():  # as numba's LLVM calls back into Python while it compiles
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
        for _ in range(1000):  # the handler runs here, in the callback
            pass
    ctypes.CFUNCTYPE(None)(callback)()
    for _ in range(100):  # the work goes on after the callback
        time.sleep(0.01)
    print("went on")

main(["callback-test"])
"""


@pytest.mark.parametrize("sig, code, said", [("SIGTERM", 143, "stopped (SIGTERM)"),
                                             ("SIGINT", 130, "interrupted")])
def test_an_interrupt_in_a_callback_from_c_still_stops_the_command(sig, code, said):
    """SIGTERM or Ctrl-C that lands in a callback from C (numba compiling on a cold cache:
    an audit's `render` and `fit`) was printed as "Exception ignored ..." with a traceback,
    and the command went on to the end and exit 0."""
    # Ctrl-C as a terminal delivers it: a job a shell started in the background (CI under
    # `&`) inherits SIGINT ignored, and Python then leaves it ignored
    r = subprocess.run([sys.executable, "-c", _CALLBACK_SCRIPT, sig], capture_output=True,
                       text=True, preexec_fn=_sigint_as_from_a_terminal)
    assert (r.returncode, r.stdout, r.stderr) == (code, "", f"error: {said}\n")


def _sigint_as_from_a_terminal() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


_IMPORT_INTERRUPTED = """
import sys

class CtrlCDuringTheImport:  # as a Ctrl-C in the moment the command line is imported
    def find_spec(self, name, path=None, target=None):
        if name == "pedaltool.cli":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlCDuringTheImport())
from pedaltool.entry import run

run()
"""


def test_ctrl_c_while_the_command_line_is_imported_is_one_line():
    """The console script (pyproject's ``pedaltool``) imports the command line inside a guard:
    Ctrl-C in its first moments printed a KeyboardInterrupt traceback from an import (an
    audit); it is said as any interrupt, one line and exit 130."""
    import tomllib

    scripts = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())[
        "project"]["scripts"]
    assert scripts["pedaltool"] == "pedaltool.entry:run"
    r = subprocess.run([sys.executable, "-c", _IMPORT_INTERRUPTED], capture_output=True,
                       text=True)
    assert (r.returncode, r.stdout, r.stderr) == (130, "", "error: interrupted\n")


_OOM_SCRIPT = """
import sys
import pedaltool.pedal as render  # (the name the command imports)
def render_file(*args, **kwargs):  # numpy's MemoryError, as an hour of audio on 3 GB gave it
    raise MemoryError("Unable to allocate 659. MiB for an array with shape (172800000,) "
                      "and data type float32")
render.render_file = render_file
sys.argv = ["pedaltool"] + sys.argv[1:]
from pedaltool.cli import run
run()
"""


def test_out_of_memory_is_said_as_such_not_as_a_bug(tmp_path):
    """A 60-minute DI rendered on a machine with 3 GB said "internal error (MemoryError: ...)
    ... please report it" with exit code 3. It is one line saying what ran out and what
    helps, exit code 2 as for an input too big, and no report asked for."""
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    path = write_pedal(tmp_path / "amp.pedal", quantise(eq_test_models(48000)["hp20"]))
    wav = tmp_path / "in.wav"
    from pedaltool.audio import write_wav

    write_wav(wav, np.zeros(4800, np.float32), 48000)
    r = subprocess.run([sys.executable, "-c", _OOM_SCRIPT, "render", str(path), str(wav),
                        str(tmp_path / "out.wav")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("error: out of memory (Unable to allocate 659. MiB for an array with "
                        "shape (172800000,) and data type float32): the work does not fit in "
                        "this machine's free memory; a shorter input needs less\n"), r.stderr
    assert not (tmp_path / "out.wav").exists()
