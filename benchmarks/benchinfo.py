"""What machine a benchmark ran on: shared by every script in benchmarks/ (run as scripts, so
they import this module from their own folder)."""

import datetime
import os
import platform
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or '?' where it cannot be read."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def describe() -> str:
    """One line: OS, kernel, arch, core count, CPU model."""
    u = platform.uname()
    return f"{u.system} {u.release} {platform.machine()}, {os.cpu_count()} cores ({cpu_model()})"


def machine_info() -> dict:
    """The same as a dict, with today's date, for JSON reports."""
    return {"uname": " ".join(platform.uname()), "nproc": os.cpu_count(), "cpu": cpu_model(),
            "date": datetime.date.today().isoformat()}


RATE = 48000
MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
# an A1 standard capture: bench_nam.py's "A1 standard" row renders the same 10 s through it
ANCHOR_CAPTURE = MODELS / "tim_r_ts9.nam"


def test_signal(seconds: float, seed: int = 0):
    """Seeded guitar-level noise with a slow envelope, float32 (content does not change the
    speed)."""
    import numpy as np

    n = int(seconds * RATE)
    rng = np.random.default_rng(seed)
    env = 0.2 + 0.15 * np.sin(2 * np.pi * 0.7 * np.arange(n) / RATE)
    return (env * rng.standard_normal(n)).astype(np.float32)


def speed_anchor(repeats: int = 3) -> dict:
    """CPU seconds (best of ``repeats``, one thread) of two fixed workloads that stand for a
    fit's work: ``render``, 10 s of :func:`test_signal` through an A1 standard capture (the
    numpy WaveNet, as the fit's renders; the "A1 standard" row of bench_nam.py, so earlier
    runs in docs/nam.md compare: 0.324 s on 2026-11-25), and ``filters``, 5 times 40 signals
    of 150 000 samples through one 9-biquad cascade (numba: the refinement's hot loop). This
    machine's speed varies by several times between days and by 2x between hours: fit times
    compare across runs only next to these."""
    import numpy as np
    from pedaltool import nam
    from pedaltool.fit.colfilter import sosfilt_bank
    from threadpoolctl import threadpool_limits

    model = nam.load(ANCHOR_CAPTURE)
    x = test_signal(10.0)
    sos = np.tile([0.2, 0.1, 0.05, 1.0, -0.9, 0.2], (9, 1))
    cols = np.random.default_rng(2).standard_normal((150_000, 40))

    def best(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        return min(times)

    # the anchor stands for the machine, not for this code: its render keeps numpy's tanh,
    # as before the renderer got its own (2026-12-05), so that anchors compare across runs
    from pedaltool.nam import activations

    own_tanh = activations._APPLY["Tanh"]
    activations._APPLY["Tanh"] = lambda a, z: np.tanh(z, out=z)
    try:
        with threadpool_limits(limits=1):
            model.render(x[:4096])  # numba's first dispatch, prewarm: not the machine's speed
            sosfilt_bank(sos, cols.copy())
            return {"render": best(lambda: model.render(x)),
                    "filters": best(lambda: [sosfilt_bank(sos, cols.copy()) for _ in range(5)])}
    finally:
        activations._APPLY["Tanh"] = own_tanh


def describe_anchor(a: dict) -> str:
    return f"speed anchor: render {a['render']:.2f} s, filters {a['filters']:.2f} s of CPU"
