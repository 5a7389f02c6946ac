"""Speed and memory of pedaltool's numpy NAM inference (issue 2, target 2).

Prints a table of real-time factor (audio seconds per wall-clock second; higher is faster) on
10 s of audio for the A1 presets, A2, and LSTMs (numpy and numba recurrence), the PyTorch
trainer's time where it can load the model (torch threads = 1), ratios against the anchors
measured on this machine, and the peak memory (RSS) of a child process rendering 60 s.

    python benchmarks/bench_nam.py            # full table (~1-2 min)
    python benchmarks/bench_nam.py --quick    # fewer repeats, no PyTorch

Because the machine is shared, each time is the best of several runs and the CPU time of the
process is printed too (``RTF cpu`` = audio seconds per CPU second: what an idle machine gives).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from benchinfo import RATE, describe, test_signal

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models"
# NeuralAmpModelerCore's anchors as issue 2 gives them (seconds to render 10 s of audio on
# the machine of that day): constants, since Core is not built here, so "ours vs Core"
# moves with this machine's speed on the day (docs/nam.md); PyTorch's is timed in the run
ANCHOR_CORE = {"A1 standard": 0.81, "LSTM 1x24": 0.19}
ANCHOR_TORCH = {"LSTM 1x24": 12.5}


def models(tmp: Path) -> list[tuple[str, dict, dict]]:
    """(label, how to load, PyTorch-loadable dict or None)."""
    from pedaltool.nam import synth

    lstm24 = tmp / "lstm_1x24.nam"
    lstm24.write_text(json.dumps(synth.lstm(24, 1, seed=1)))
    lite = tmp / "a1_lite.nam"
    lite.write_text(json.dumps(synth.a1_wavenet("lite", seed=2)))
    nano = tmp / "a1_nano.nam"
    nano.write_text(json.dumps(synth.a1_wavenet("nano", seed=3)))
    a2 = json.loads((MODELS / "core_A2.nam").read_text())
    a2_full = a2["config"]["submodels"][-1]["model"]
    a2_lite = a2["config"]["submodels"][0]["model"]
    return [
        ("A1 standard", {"path": MODELS / "tim_r_ts9.nam"}, None),
        ("A1 lite", {"path": lite}, None),
        ("A1 feather", {"path": MODELS / "peter_n_hm2_swede_feather.nam"}, None),
        ("A1 nano", {"path": nano}, None),
        ("A2 full (8 ch)", {"path": MODELS / "core_A2.nam"}, a2_full),
        ("A2 lite (3 ch)", {"path": MODELS / "core_A2.nam", "slim": 0.0}, a2_lite),
        ("LSTM 1x24", {"path": lstm24}, json.loads(lstm24.read_text())),
        ("LSTM 1x24 numpy", {"path": lstm24, "numba": False}, None),
        ("LSTM 1x3 (core_lstm)", {"path": MODELS / "core_lstm.nam"},
         json.loads((MODELS / "core_lstm.nam").read_text())),
        ("LSTM 1x3 numpy", {"path": MODELS / "core_lstm.nam", "numba": False}, None),
    ]


def load(spec: dict):
    from pedaltool import nam

    m = nam.load(spec["path"], slim=spec.get("slim"))
    if "numba" in spec:
        m.dsp.use_numba = spec["numba"]
    return m


def time_ours(spec: dict, x: np.ndarray, repeats: int) -> tuple[float, float]:
    m = load(spec)
    m.render(x[:4096])  # compile numba, prewarm, allocate
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        m.render(x)
        best_wall = min(best_wall, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu


def time_torch(doc: dict, x: np.ndarray, repeats: int) -> float | str:
    try:
        import torch
        from nam.models._from_nam import init_from_nam
    except Exception as exc:  # noqa: BLE001 - optional dev tool
        return f"n/a ({type(exc).__name__})"
    torch.set_num_threads(1)
    try:
        model = init_from_nam(doc)
    except Exception as exc:  # noqa: BLE001 - it cannot load every file
        return f"cannot load ({type(exc).__name__})"
    model.eval()
    xt = torch.tensor(x)
    best = float("inf")
    with torch.no_grad():
        model(xt[:4096])
        for _ in range(repeats):
            t = time.perf_counter()
            model(xt)
            best = min(best, time.perf_counter() - t)
    return best


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    /proc/self/status VmHWM is per address space (reset by exec); getrusage's ru_maxrss is
    inherited across exec on Linux and would report the parent's peak (e.g. after torch).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_memory(label: str, seconds: float) -> None:
    """Run in a subprocess: render ``seconds`` of audio, print peak RSS in MB as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = {lab: s for lab, s, _ in models(Path(tmp))}[label]
        x = test_signal(seconds)
        m = load(spec)
        m.render(x[:4096])
        base = peak_rss_mb()
        tracemalloc.start()
        y = m.render(x)
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        peak = peak_rss_mb()
    print(json.dumps({"base_mb": base, "peak_mb": peak, "traced_mb": traced, "n": len(y)}))


def machine() -> str:
    return f"{describe()}, numpy {np.__version__}, load average {os.getloadavg()[0]:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--memory-seconds", type=float, default=60.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--child-memory", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        child_memory(args.child_memory, args.memory_seconds)
        return
    repeats = 2 if args.quick else args.repeats
    x = test_signal(args.seconds)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"# pedaltool NAM inference benchmark, {stamp}")
    print(f"# {machine()}; BLAS limited to 1 thread; torch threads = 1")
    print(f"# {args.seconds:g} s of audio at {RATE} Hz; best of {repeats} runs\n")
    head = ("| model | MACs/sample | ours wall s | RTF wall | RTF cpu | Core anchor s | "
            "ours vs Core | PyTorch s | ours vs PyTorch |")
    print(head)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, torch_doc in models(Path(tmp)):
            m = load(spec)
            reps = 1 if (spec.get("numba") is False and "1x24" in label) else repeats
            wall, cpu = time_ours(spec, x, reps)
            core = ANCHOR_CORE.get(label)
            core_s = f"{core:.2f}" if core else ""
            vs_core = f"{core / wall:.2f}x" if core else ""
            torch_s, vs_torch = "", ""
            if torch_doc is not None and not args.quick and not args.no_torch:
                t = time_torch(torch_doc, x, min(reps, 3))
                if isinstance(t, float):
                    torch_s, vs_torch = f"{t:.2f}", f"{t / wall:.1f}x"
                else:
                    torch_s = t
            print(f"| {label} | {m.macs_per_sample:,} | {wall:.3f} | {args.seconds / wall:.1f}x |"
                  f" {args.seconds / cpu:.1f}x | {core_s} | {vs_core} | {torch_s} | {vs_torch} |",
                  flush=True)
    if "LSTM 1x24" in ANCHOR_TORCH:
        print(f"\nAnchors (issue 2, same machine): Core renders 10 s A1 standard in "
              f"{ANCHOR_CORE['A1 standard']} s and LSTM 1x24 in {ANCHOR_CORE['LSTM 1x24']} s; "
              f"the issue quotes PyTorch at {ANCHOR_TORCH['LSTM 1x24']} s for the LSTM.")
    print(f"\n| model | peak RSS, {args.memory_seconds:g} s render (MB) | RSS before render (MB) |"
          " allocated by render (tracemalloc peak, MB) |")
    print("|---|---:|---:|---:|")
    for label in ("A1 standard", "A2 full (8 ch)", "LSTM 1x24"):
        out = subprocess.run(
            [sys.executable, __file__, "--child-memory", label,
             "--memory-seconds", str(args.memory_seconds)],
            capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {label} | {r['peak_mb']:.0f} | {r['base_mb']:.0f} | {r['traced_mb']:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
