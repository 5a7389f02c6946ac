"""Shared helpers of the pedal tests (imported by the test modules)."""

import json
import subprocess
from pathlib import Path

import numpy as np
from pedaltool.paths import firmware_dir
from pedaltool.pedal import model as M
from pedaltool.pedal.accuracy import biquad_stage, rbj
from pedaltool.pedal.quantise import QStage, QuantisedPedal
from pedaltool.pedal.render import micropython_exe


def q_biquad(b, a, k=(-2, 1), kind="biquad"):
    s = 2**26
    return QStage(kind, None, (round(b[0] * s), round(b[1] * s), round(b[2] * s),
                               round(a[0] * s), round(a[1] * s), k[0], k[1]))


def extreme_pedal(rate=48000) -> QuantisedPedal:
    """Every stage kind with parameters at the limits of the contract."""
    tab = np.array([32767 if i % 2 else -32768 for i in range(257)], np.int16)
    st = [
        QStage("gain", None, (32767, 0, 0, 0)),  # +90 dB: saturates everything
        q_biquad((4.95, -4.95, 4.95), (0.0, 0.0), (2, 1)),
        q_biquad((4.0, -4.0, 4.0), (-1.99, 0.995), (-2, 1)),
        q_biquad((-4.0, 4.0, -4.0), (1.99, 0.995), (2, 1)),
        QStage("tap", None, (0,)),
        QStage("env_bias", None, (32767, 1, -32767, 1)),
        QStage("table", "drive", (8, 16383, 2, 1 << 29, -16384, 2048), tab),
        QStage("mix", None, (0, -32767, 0)),
        QStage("tone", "tone", (32767, -1020, 1020)),
        QStage("env_bias", None, (1, 32767, 32767, 1)),
        QStage("table", None, (8, -65535, 2, -(1 << 29), 0, 0), tab),
        QStage("delay", None, (4095,)),
        QStage("gain", "level", (-32767, 0, -8192, 0)),
        q_biquad((7.0, 0.0, -7.0), (0.0, -0.999), (0, -1), "dcblock"),
    ]
    return QuantisedPedal(st, rate, "extreme")


def adversarial_int16(n: int, seed: int = 0) -> np.ndarray:
    """Full-scale square waves, alternating extremes, clipped noise, steps and silence."""
    rng = np.random.default_rng(seed)
    parts = [np.tile([32767, -32768], n // 16), np.full(n // 16, -32768), np.full(n // 16, 32767),
             np.where(np.sin(np.arange(n // 8) * 2 * np.pi * 50 / 48000) >= 0, 32767, -32768),
             np.where(np.sin(np.arange(n // 8) * 2 * np.pi * 11000 / 48000) >= 0, 32767, -32768),
             rng.choice([-32768, 32767], n // 8), rng.integers(-32768, 32768, n // 8),
             np.zeros(n // 8)]
    x = np.concatenate(parts)
    return np.resize(x, n).astype(np.int16)


def run_micropython(script: str, tmp: Path, timeout: float | None = None,
                    heapsize: str = "16M") -> str:
    """Run a script under the MicroPython unix port with the firmware on sys.path."""
    path = tmp / "mp_script.py"
    path.write_text(f"import sys\nsys.path.insert(0, {str(firmware_dir())!r})\n" + script)
    proc = subprocess.run([micropython_exe(), "-X", f"heapsize={heapsize}", str(path)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"micropython failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def dump(obj, path: Path) -> None:
    path.write_text(json.dumps(obj))


def fitted_looking(rate: int = 48000, env: bool = False, mix: bool = False) -> M.PedalModel:
    """pre-EQ biquads -> table (drive) -> post-EQ biquads -> tone -> dcblock -> level."""
    u = np.linspace(-4, 4, 257)
    table = 0.8 * np.tanh(u + 0.15) - 0.8 * np.tanh(0.15)  # asymmetric
    stages = [M.DelayStage(3), biquad_stage(*rbj("highpass", 40, rate)),
              biquad_stage(*rbj("peak", 700, rate, 0.8, 6))]
    if mix:
        stages.append(M.TapStage(1))
    if env:
        stages.append(M.EnvBiasStage(5.0, 80.0, -0.8))
    stages += [M.TableStage(6.0, -4, 4, table, knob="drive", knob_min_db=-18, knob_max_db=12),
               biquad_stage(*rbj("lowpass", 4000, rate, 0.9)),
               biquad_stage(*rbj("peak", 120, rate, 1.0, -3)),
               biquad_stage(*rbj("highshelf", 3000, rate, 0.7, -4))]
    if mix:
        stages.append(M.MixStage(1, 0.3))
    stages += [M.ToneStage(900, 12), M.DcBlockStage(8.0),
               M.GainStage(-8.0, knob="level", knob_min_db=-30, knob_max_db=10)]
    return M.PedalModel(stages, rate, name="fitted-looking",
                        source=M.SourceInfo("amp.nam", "ab" * 32, "amp", "crunch"),
                        accuracy=M.Accuracy(0.012, 0.03, 812.0))


def musical(rate: int, n: int, seed: int = 0) -> np.ndarray:
    """Plucked-string-like notes at about -20 dBFS RMS with loud picks (float)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = np.zeros(n)
    pos = 0
    while pos < n:
        f0 = rng.choice([82.4, 110, 146.8, 196, 246.9, 329.6])
        ln = int(rng.uniform(0.15, 0.4) * rate)
        seg = np.arange(min(ln, n - pos)) / rate
        note = sum(np.sin(2 * np.pi * f0 * h * seg) / h ** 1.2 for h in range(1, 8))
        x[pos:pos + len(seg)] += rng.uniform(0.1, 0.9) * note * np.exp(-seg * 6)
        pos += ln
    return 0.25 * x / max(np.max(np.abs(x)), 1e-9) * 3 + 0.0 * t


def to_i16(x) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x) * 32768), -32768, 32767).astype(np.int16)
