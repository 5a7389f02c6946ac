"""Fit every capture, then check that the firmware engine equals the host engine, sample for sample.

Issue 4 asks that `pedaltool render X.pedal IN.wav OUT.wav --engine firmware` (the firmware DSP
under the real MicroPython unix port) equals `--engine host` for every capture in
../shared/models once fitted. This script does exactly that on the evaluation DI, at the fitted
knob point and at a second knob setting, and prints a table.

    python benchmarks/verify_engines.py [--quick] [--only SUBSTRING] [--keep DIR]

`--quick` fits with the quick effort (the structure still comes from the same search); the
engine comparison itself is the same either way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)

# isort: split
import numpy as np
from pedaltool.errors import PedaltoolError
from pedaltool.fit.api import FitConfig, fit_capture, write_result
from pedaltool.pedal.fileformat import read_pedal
from pedaltool.pedal.render import float_to_int16, run_firmware_engine
from pedaltool.pedal.simulate import simulate
from pedaltool.signals import evaluation_di

MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
KNOB_SETTINGS = (None, {"drive": 0.8, "tone": 0.3, "level": 0.4})


def verify(pedal_path: Path, x: np.ndarray) -> list[tuple[str, int, int]]:
    """(knob setting, samples compared, samples that differ) for each knob setting."""
    qp = read_pedal(pedal_path)
    rows = []
    for knobs in KNOB_SETTINGS:
        host = simulate(qp, x, knobs)
        fw, kernels = run_firmware_engine(pedal_path, x, knobs)
        n = min(len(host), len(fw))
        diff = int(np.count_nonzero(host[:n] != fw[:n])) + abs(len(host) - len(fw))
        rows.append(("fitted" if knobs is None else "moved", n, diff, kernels))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", default="", help="folder to keep the fitted .pedal files in")
    args = ap.parse_args()
    x = float_to_int16(evaluation_di(48000))
    out_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="verify_engines_"))
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'capture':40s} {'structure':10s} {'knobs':7s} {'samples':>8s} {'differ':>7s} kernels")
    bad = 0
    for path in sorted(MODELS.glob("*.nam")):
        if args.only and args.only not in path.name:
            continue
        t0 = time.time()
        try:
            res = fit_capture(path, FitConfig(effort="quick" if args.quick else "normal"))
            pedal = write_result(res, out_dir / f"{path.stem}.pedal")
        except PedaltoolError as exc:
            print(f"{path.stem:40s} not fitted: {exc}")
            continue
        for setting, n, diff, kernels in verify(pedal, x):
            bad += diff > 0
            print(f"{path.stem:40s} {res.structure:10s} {setting:7s} {n:8d} {diff:7d} {kernels}"
                  f"  ({time.time() - t0:.0f} s)")
    print("ALL IDENTICAL" if bad == 0 else f"{bad} comparisons differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
