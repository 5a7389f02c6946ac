"""What machine a benchmark ran on: shared by every script in benchmarks/ (run as scripts, so
they import this module from their own folder)."""

import contextlib
import datetime
import os
import platform
import time
from pathlib import Path

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)
from pedaltool.simd_level import cpuinfo
from pedaltool.simd_level import describe as simd


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or '?' where it cannot be read."""
    return cpuinfo("model name") or "?"


def describe() -> str:
    """One line: OS, kernel, arch, core count, CPU model."""
    u = platform.uname()
    return f"{u.system} {u.release} {platform.machine()}, {os.cpu_count()} cores ({cpu_model()})"


def stamp() -> str:
    """The line a benchmark's table starts with:
    ``machine: <describe()>; SIMD <pedaltool.simd_level.describe()>; date <UTC now>``."""
    return (f"machine: {describe()}; SIMD {simd()}; "
            f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def print_table(title: str, head: str, rows: list[str], note: str = "") -> None:
    """A study's table once its rows have streamed: a blank line, :func:`stamp` (with
    ``; note``), ``title``, ``head`` and the rows."""
    print(f"\n{stamp()}" + (f"; {note}" if note else ""))
    print(title)
    print(head)
    print("\n".join(rows))


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


def _best_cpu(fn, repeats: int) -> float:
    """The least CPU seconds of ``repeats`` calls of fn()."""
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


@contextlib.contextmanager
def renders_with_tanh(tanh):
    """Inside the block, every Tanh activation of pedaltool's renderer is ``tanh(z)`` (in
    place on a float32 block), then the renderer's own again."""
    from pedaltool.nam import activations

    own = activations._APPLY["Tanh"]
    activations._APPLY["Tanh"] = lambda a, z: tanh(z)
    try:
        yield
    finally:
        activations._APPLY["Tanh"] = own


def numpy_tanh(z):
    """``np.tanh`` in place: the renderer's tanh before 2026-12-05."""
    import numpy as np

    return np.tanh(z, out=z)


def anchor_render_cpu(repeats: int = 3) -> float:
    """CPU seconds (best of ``repeats``, one thread) of 10 s of :func:`test_signal` through
    ANCHOR_CAPTURE, after a short prewarm (numba's first dispatch is not the machine's
    speed)."""
    from pedaltool import nam
    from threadpoolctl import threadpool_limits

    model, x = nam.load(ANCHOR_CAPTURE), test_signal(10.0)
    with threadpool_limits(limits=1):
        model.render(x[:4096])
        return _best_cpu(lambda: model.render(x), repeats)


def speed_anchor(repeats: int = 3) -> dict:
    """CPU seconds (best of ``repeats``, one thread) of two fixed workloads that stand for a
    fit's work: ``render``, 10 s of :func:`test_signal` through an A1 standard capture (the
    numpy WaveNet, as the fit's renders; the "A1 standard" row of bench_nam.py, so earlier
    runs in docs/nam.md compare: 0.324 s on 2026-11-25), and ``filters``, 5 times 40 signals
    of 150 000 samples through one 9-biquad cascade (numba: the refinement's hot loop). This
    machine's speed varies by several times between days and by 2x between hours: fit times
    compare across runs only next to these."""
    import numpy as np
    from pedaltool.fit.colfilter import sosfilt_bank
    from threadpoolctl import threadpool_limits

    sos = np.tile([0.2, 0.1, 0.05, 1.0, -0.9, 0.2], (9, 1))
    cols = np.random.default_rng(2).standard_normal((150_000, 40))
    # the anchor stands for the machine, not for this code: its render keeps numpy's tanh,
    # as before the renderer got its own (2026-12-05), so that anchors compare across runs
    with renders_with_tanh(numpy_tanh):
        render = anchor_render_cpu(repeats)
    with threadpool_limits(limits=1):
        sosfilt_bank(sos, cols.copy())  # numba's first dispatch
        filters = _best_cpu(lambda: [sosfilt_bank(sos, cols.copy()) for _ in range(5)], repeats)
    return {"render": render, "filters": filters}


def describe_anchor(a: dict) -> str:
    return f"speed anchor: render {a['render']:.2f} s, filters {a['filters']:.2f} s of CPU"
