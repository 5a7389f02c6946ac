"""Run the real firmware (pedalcore.app.run) in the MicroPython unix port on the simulated board.

A *slot* is built like the device layout (docs/architecture.md): ``slot/pedalcore/`` (a copy of
firmware/pedalcore), ``slot/board.json`` (from a board profile), ``slot/bank/*.pedal``. The sim
(firmware/sim/machine.py) is first on MICROPYPATH, then the slot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pedaltool import boards
from pedaltool.device.virtual import micropython_executable
from pedaltool.paths import firmware_dir
from pedaltool.pedal.accuracy import biquad_stage, rbj
from pedaltool.pedal.fileformat import to_bytes
from pedaltool.pedal.model import GainStage, PedalModel, TableStage
from pedaltool.pedal.quantise import quantise

RATE = 48000


def pedal_model(name: str = "tiny drive", gain_db: float = 6.0) -> PedalModel:
    """A small but complete chain: drive gain (knob), table, low-pass, level gain (knob)."""
    xs = np.linspace(-1.0, 1.0, 65)
    b, a = rbj("lowpass", 5000, RATE)
    return PedalModel([
        GainStage(gain_db, knob="drive", knob_min_db=-12, knob_max_db=12),
        TableStage(1.0, -1.0, 1.0, np.tanh(2 * xs) / np.tanh(2.0)),
        biquad_stage(b, a),
        GainStage(-3.0, knob="level", knob_min_db=-20, knob_max_db=6),
    ], RATE, name=name)


def pedal_bytes(model: PedalModel | None = None) -> bytes:
    return to_bytes(quantise(model or pedal_model()))


def board_json(board: str = "rpi_pico", **audio) -> dict:
    d = json.loads(boards.to_device_json(boards.load_board(board)))
    d["audio"].update(audio)
    return d


def make_slot(root: Path, pedals: dict[str, bytes], board: dict | str = "rpi_pico") -> Path:
    slot = root / "slot"
    if slot.exists():
        shutil.rmtree(slot)
    shutil.copytree(firmware_dir() / "pedalcore", slot / "pedalcore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    bd = board_json(board) if isinstance(board, str) else board
    (slot / "board.json").write_text(json.dumps(bd))
    (slot / "bank").mkdir()
    for fname, data in pedals.items():
        (slot / "bank" / fname).write_bytes(data)
    return slot


def write_wav16(path: Path, x: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(x, "<i2").tobytes())
    return path


def read_wav16(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").copy()


@dataclass
class FwRun:
    returncode: int
    stdout: str
    stderr: str
    lines: list[str]        # protocol lines ("@...")
    final: dict | None      # status after app.run returned (printed by the runner)
    sim: dict | None        # simulator facts (frames, i2c log, led log)

    def tagged(self, tag: str) -> list[str]:
        return [ln[len(tag) + 2:] for ln in self.lines if ln.split(" ")[0] == "@" + tag]

    @property
    def replies(self) -> list[str]:
        """Console replies: the lines after @boot, without the runner's own lines."""
        tags = [ln.split(" ")[0] for ln in self.lines]
        start = tags.index("@boot") + 1 if "@boot" in tags else 0
        return [ln for ln in self.lines[start:]
                if ln.split(" ")[0] not in ("@final", "@sim", "@cut")]


RUNNER = """
import sys, json, machine, micropython
from pedalcore import app
{prelude}
a = app.run({slot!r}, {settings!r})
print("@final " + a.status_json())
s = machine.sim
print("@sim " + json.dumps({{"frames_in": s.frames_in, "frames_out": s.frames_out,
    "i2c": s.i2c_log, "led": s.led_log, "dropped": s.dropped,
    "max_late_us": s.max_late_us}}))
"""

#: prelude: run the control tick (pots, footswitch, LED, console poll) under heap_lock too, so a
#: test fails if the idle loop allocates anything at all
LOCK_CONTROL = """
_orig_control = app.App._control
def _locked_control(self):
    micropython.heap_lock()
    try:
        _orig_control(self)
    finally:
        micropython.heap_unlock()
app.App._control = _locked_control
"""


def at_engine_block(n: int, action: str) -> str:
    """A prelude: the engine runs ``action`` (one line of MicroPython; ``_t`` is ``time``)
    just before it processes its ``n``-th block."""
    return f"""
import time as _t
from pedalcore import engine as _e
_Base = _e.Engine
class _AtBlock(_Base):
    calls = 0
    def process(self, buf):
        _AtBlock.calls += 1
        if _AtBlock.calls == {n}:
            {action}
        _Base.process(self, buf)
_e.Engine = _AtBlock
"""


def run_micropython_code(code: str, slot: Path, heapsize: str = "2M") -> str:
    """Run ``code`` on the MicroPython unix port with the slot's ``pedalcore`` importable;
    its stdout (an AssertionError with both streams if it fails)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = str(slot)
    p = subprocess.run([micropython_executable(), "-X", f"heapsize={heapsize}", "-c", code],
                       capture_output=True, text=True, env=env, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"micropython failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def run_fw(tmp: Path, slot: Path, input_wav: Path | None, *, stdin: str | bytes = "",
           script: str | None = None, settings: Path | None = None, realtime: str = "0",
           at_end: str = "stop", extra_env: dict | None = None, heapsize: str = "512k",
           prelude: str = "", timeout: float = 300) -> FwRun:
    """Run app.run once to the end of the input; return its protocol lines and final status."""
    settings = settings or (tmp / "settings.json")
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(firmware_dir() / "sim"), str(slot)])
    env["PEDALTOOL_SIM_INPUT"] = str(input_wav) if input_wav else ""
    env["PEDALTOOL_SIM_OUTPUT"] = str(tmp / "out.wav")
    env["PEDALTOOL_SIM_REALTIME"] = realtime
    env["PEDALTOOL_SIM_AT_END"] = at_end
    env["PEDALTOOL_SIM_PORT"] = "rp2"
    if script is not None:
        (tmp / "script.txt").write_text(script)
        env["PEDALTOOL_SIM_SCRIPT"] = str(tmp / "script.txt")
    env.update(extra_env or {})
    code = RUNNER.format(slot=str(slot), settings=str(settings), prelude=prelude)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run([micropython_executable(), "-X", f"heapsize={heapsize}", "-c", code],
                       input=data, capture_output=True, env=env, cwd=tmp, timeout=timeout)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    lines = [ln.strip() for ln in out.splitlines() if ln.startswith("@")]
    final = sim = None
    for ln in lines:
        if ln.startswith("@final "):
            final = json.loads(ln[7:])
        if ln.startswith("@sim "):
            sim = json.loads(ln[5:])
    return FwRun(p.returncode, out, err, lines, final, sim)
