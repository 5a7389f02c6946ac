"""The renderer's float32 tanh against numpy's: accuracy (ulp) and speed, and the renders.

    python benchmarks/bench_tanh.py           # the table
    python benchmarks/bench_tanh.py --refit   # derive the coefficients of pedaltool.nam._tanh

Accuracy: every 3rd float32 in [0, 9.5] (360 million values), in float32 ulps of the float64
tanh. Speed: ns per value on 16 x 4096 values in cache (one WaveNet layer's block), best of 5;
then 10 s through the speed anchor's capture (the TS9, an A1 standard WaveNet) rendered with
each (CPU s, best of 3, one thread).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from benchinfo import anchor_render_cpu, numpy_tanh, renders_with_tanh, stamp


def refit(degree: int = 4, clamp: float = 9.03) -> tuple[np.ndarray, np.ndarray, float]:
    """(P, Q, max relative error) of tanh(x) ~ x P(x^2) / Q(x^2) on [0, clamp], Q(0) = 1 and
    Q's coefficients >= 0 (no pole): linearised least squares x P - tanh Q = 0 weighted by
    1/(tanh Q), reweighted towards the largest relative errors (Lawson), the best kept."""
    from scipy.optimize import lsq_linear

    x = np.concatenate([np.linspace(1e-3, clamp, 30000), np.geomspace(1e-7, 1e-3, 300)])
    t, y = x * x, np.tanh(x)
    w, q = 1 / y, np.ones_like(x)
    cols_p = np.stack([x * t**j for j in range(degree + 1)], 1)
    cols_q = np.stack([-y * t**j for j in range(1, degree + 1)], 1)
    a = np.concatenate([cols_p, cols_q], 1)
    lower = np.r_[np.full(degree + 1, -np.inf), np.zeros(degree)]
    best = None
    for _ in range(60):
        wa = a * (w / q)[:, None]
        scale = np.abs(wa).max(0)
        sol = lsq_linear(wa / scale, y * w / q, bounds=(lower, np.inf), method="bvls").x / scale
        p, qc = sol[: degree + 1], np.r_[1.0, sol[degree + 1:]]
        q = np.polyval(qc[::-1], t)
        err = np.abs(x * np.polyval(p[::-1], t) / q - y) / y
        if best is None or err.max() < best[2]:
            best = (p, qc, float(err.max()))
        w = w * (err / err.max() + 1e-3) ** 0.5
    return best


def ulp_errors(fn) -> tuple[float, float]:
    """(max, mean) error of fn over every 3rd float32 in [0, 9.5], in ulps, in chunks."""
    top = int(np.float32(9.5).view(np.int32))
    worst, total, count = 0.0, 0.0, 0
    for lo in range(0, top, 3 * 2**24):
        x = np.arange(lo, min(lo + 3 * 2**24, top), 3, dtype=np.int32).view(np.float32)
        ref = np.tanh(x.astype(np.float64))
        ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
        e = np.abs(fn(x.copy()).astype(np.float64) - ref) / ulp
        worst, total, count = max(worst, float(e.max())), total + float(e.sum()), count + e.size
    return worst, total / count


def ns_per_value(fn) -> float:
    x = np.random.default_rng(1).standard_normal((16, 4096)).astype(np.float32) * 2
    fn(x.copy())
    times = []
    for _ in range(5):
        z = x.copy()
        t0 = time.perf_counter()
        for _ in range(200):
            fn(z)
        times.append(time.perf_counter() - t0)
    return min(times) / 200 / x.size * 1e9


def render_cpu(tanh) -> float:
    """The speed anchor's render (10 s through the TS9, CPU s, best of 3) with ``tanh``."""
    with renders_with_tanh(tanh):
        return anchor_render_cpu()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refit", action="store_true", help="derive the coefficients and stop")
    if ap.parse_args().refit:
        p, q, err = refit()
        print(f"max relative error (float64): {err:.2e}")
        print("P =", tuple(p.tolist()))
        print("Q =", tuple(q.tolist()))
        return
    from pedaltool.nam._tanh import tanh_inplace

    print(stamp())
    print("| tanh | max ulp | mean ulp | ns/value | TS9 render of 10 s, CPU s |")
    print("|---|---:|---:|---:|---:|")
    for name, fn in (("np.tanh (float32)", numpy_tanh), ("pedaltool.nam._tanh", tanh_inplace)):
        worst, mean = ulp_errors(fn)
        print(f"| {name} | {worst:.2f} | {mean:.3f} | {ns_per_value(fn):.2f} | "
              f"{render_cpu(fn):.2f} |", flush=True)


if __name__ == "__main__":
    main()
