"""Does the swapped-pair check tell a swapped DI / reamp pair from a genuine one?

Each scored capture renders guitar DIs at its calibrated level (with -85 dBFS of input
noise, an interface's): fitting DIs of 3, 3, 8, 8 and 20 s and 8 s of the evaluation DI.
Each pair is given four ways: as recorded, swapped (the reamp as the DI), swapped with the
device's latency compensated (as a DAW that compensates exactly exports it: no lead), and
as recorded behind a hard -40 dBFS noise gate after the device (10 ms blocks under it
muted: a gate widens a genuine pair's dynamics). For each: the lag ``recording.align``
finds (samples, the reamp late when positive), ``recording.level_swing`` and what
``recording._check_swapped`` does with them: nothing, a warning, or a refusal. Nothing is
fitted.

    python benchmarks/swapped_pairs.py [--only SUBSTR]

About a minute on a 2-core machine. Results: docs/fitting.md ("A swapped pair").
"""

from __future__ import annotations

import argparse
from collections import Counter

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)

# isort: split
import numpy as np
from bench_fit import MODELS, TARGETS
from benchinfo import print_table
from pedaltool import nam, signals
from pedaltool.errors import FitError
from pedaltool.fit import api
from pedaltool.fit.recording import (
    _check_swapped,
    _envelope_block,
    _envelope_db,
    align,
    level_swing,
)

RATE = 48000
NOISE_DBFS = -85.0
GATE_DBFS = -40.0
# (DI kind, seconds, seed): the fitting DI's seeds are not the fitter's own (777..779)
TAKES = (("fit", 3.0, 7), ("fit", 3.0, 8), ("fit", 8.0, 9), ("fit", 8.0, 5), ("fit", 20.0, 10),
         ("eval", 8.0, 0))


def gate(y: np.ndarray, thr_db: float = GATE_DBFS) -> np.ndarray:
    """``y`` with every envelope block (the swing's own, 10 ms) under ``thr_db`` dBFS muted."""
    keep = np.repeat(_envelope_db(y, RATE) > thr_db, _envelope_block(RATE))
    out = y.copy()
    out[: len(keep)] *= keep
    return out


def verdict(lag: int, swing: float) -> str:
    """What fit_recording does with a pair of this lag and swing."""
    said: list[str] = []
    try:
        _check_swapped(lag, swing, "pair", said.append, RATE)
    except FitError:
        return "refused"
    return "warned" if said else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="captures whose name contains this")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    rows, counts = [], Counter()
    for name in (n for n in TARGETS if args.only in n):
        path = MODELS / f"{name}.nam"
        m = nam.load(path)
        level = api.calibration_scale(m, path)
        for kind, seconds, seed in TAKES:
            di = (signals.fitting_di(RATE, seconds, seed=seed) if kind == "fit"
                  else signals.evaluation_di(RATE, seconds)).astype(np.float64) * level
            di += 10 ** (NOISE_DBFS / 20) * rng.standard_normal(len(di))
            y = m.render(di)
            cells = []
            lag0 = align(di, y, RATE)[2]  # the device's latency: what a DAW compensates
            for way, (a, b) in (("genuine", (di, y)), ("swapped", (y, di)),
                                ("compensated", (np.roll(y, -lag0), di)),
                                ("gated", (di, gate(y)))):
                d, t, lag = align(a, b, RATE, way)
                swing = level_swing(d, t, RATE)
                v = verdict(lag, swing)
                counts[way, v] += 1
                cells.append(f"{lag:4d} {swing:6.2f} {v:8s}")
            rows.append(f"{name[:32]:32s} {kind:4s} {seconds:4.0f} s  " + "  ".join(cells))
            print(rows[-1], flush=True)
    ways = ("genuine", "swapped", "compensated", "gated")
    head = (f"{'capture':32s} {'DI':4s} {'len':>6s}  " + "  ".join(
        f"{w[:4] + ': lag swing verdict':25s}" for w in ways))
    print_table("swapped-pair check (recording._check_swapped)", head, rows)
    for way in ways:
        print(f"{way}: " + ", ".join(f"{v} {counts[way, v]}" for v in ("-", "warned", "refused")))


if __name__ == "__main__":
    main()
