"""The console script's exit (``pedaltool.cli.run``): it skips the interpreter's teardown,
so check that what an ordinary exit would do still happens: piped output arrives, the exit
code is the command's, atexit handlers run."""

import subprocess
import sys

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
