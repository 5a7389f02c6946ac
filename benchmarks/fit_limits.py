"""What limits the saturating captures? Two hypotheses, measured on the float model (a design
study: neither is in the firmware).

**Aliasing.** A table run at 48 kHz folds the harmonics it makes above 24 kHz back into the
band; the NAM capture, a trained network, has no such fold. Oversampling around each table,
or antiderivative anti-aliasing, would remove it at a cost in cycles per sample. The fitted
float model is run on the evaluation DI with every table evaluated at F times the rate
(polyphase up- and down-sampling around it, ``scipy.signal.resample_poly``; everything else
unchanged, no refit), for F = 1, 2, 4, 8. "folded" is the energy of the difference between
the F = 1 and F = 8 outputs (what the fold adds at 48 kHz) over the capture's output energy,
on the ESR's scale: the most anti-aliasing could remove.

**A missing parallel branch.** A second block model, fitted by the same fitter (default
effort, no baseline) to the residual oracle x -> capture(x) - model(x), noise-free and
probed like a capture, and added to the first: "2 branches" is the ESR of the sum on the
evaluation DI (never seen by either fit). It costs twice the cycles, so it is an upper
bound on what a second static branch inside the budget could buy.

    python benchmarks/fit_limits.py [--only SUBSTR] [--no-branch]

It fits each scored capture (about 12 s each; the four mild ones only to learn that they
are) and studies those the fitter found driven into saturation (``FitResult.saturating``:
the rest are listed as skipped), with each one's residual (as long again).
"""

from __future__ import annotations

import argparse

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)

# isort: split
import numpy as np
from bench_fit import MODELS, TARGETS
from benchinfo import print_table
from scipy import signal

FACTORS = (1, 2, 4, 8)


def simulate_oversampled(model, x: np.ndarray, factor: int) -> np.ndarray:
    """``fit.blocks.simulate`` with each table evaluated at ``factor`` times the rate."""
    from pedaltool.fit.blocks import cascade_sos, table_input
    from pedaltool.fit.table import table_lookup

    xd = np.concatenate([np.zeros(model.delay), x])[: len(x)] if model.delay else x
    v = xd
    for st in model.stages:
        u = table_input(st, signal.sosfilt(cascade_sos(st.pre, model.rate_hz), v), model.rate_hz)
        if factor == 1:
            v = table_lookup(u, st.knots, st.values)
        else:
            up = signal.resample_poly(u, factor, 1)
            v = signal.resample_poly(table_lookup(up, st.knots, st.values), 1, factor)[: len(u)]
    if model.mix_gain:
        v = v + model.mix_gain * xd
    return signal.sosfilt(cascade_sos(model.post, model.rate_hz), v)


def second_branch(path, first, x: np.ndarray, residual: np.ndarray):
    """A block model fitted to the capture's residual after ``first`` (fit.api.fit_oracle on
    the residual oracle at the capture's calibrated level; scored on the residual of ``x``)."""
    from pedaltool import nam, signals
    from pedaltool.fit import FitConfig
    from pedaltool.fit.api import Oracle, fit_oracle
    from pedaltool.fit.blocks import simulate

    capture = nam.load(path)
    level = signals.level_scale_for(nam.input_level_dbu(capture))

    def render_residual(x32: np.ndarray) -> np.ndarray:
        return np.asarray(capture.render(x32), np.float64) - simulate(first, x32.astype(float))

    oracle = Oracle(render_residual, float(capture.sample_rate or 48000), 48000)
    return fit_oracle(oracle, f"{path.stem} residual", FitConfig(baseline=False),
                      level=level, eval_x=x, eval_y=residual)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="substring of the capture names to run")
    ap.add_argument("--no-branch", action="store_true", help="skip the second-branch fits")
    args = ap.parse_args()
    from pedaltool.fit import FitConfig, fit_capture
    from pedaltool.fit.blocks import simulate
    from pedaltool.fit.metrics import Target

    head = (f"{'capture':<34}{'target':>7}  {'structure':<17}"
            + "".join(f"{f'ESR F={f}':>10}" for f in FACTORS) + f"{'folded':>9}"
            + f"{'LSD F=1':>9}{'LSD F=8':>9}  {'2 branches':>10}  second branch")
    rows = []
    for n in (n for n in TARGETS if args.only in n):
        print(f"... {n}", flush=True)
        path = MODELS / f"{n}.nam"
        res = fit_capture(path, FitConfig())
        if not res.saturating:
            print(f"    skipped: {n} is not driven into saturation", flush=True)
            continue
        target = Target(res.eval_y)
        x = np.asarray(res.eval_x, np.float64)
        outs = [simulate_oversampled(res.model, x, f) for f in FACTORS]
        # F = 1 must be the fitter's own float model, or the comparison means nothing
        base = simulate(res.model, x)
        if not np.allclose(outs[0], base, rtol=0, atol=1e-12):
            raise SystemExit(f"{n}: the F = 1 run differs from fit.blocks.simulate")
        m = [target.metrics(o) for o in outs]
        energy = float(np.sum(target.y ** 2))
        folded = float(np.sum((outs[0] - outs[-1]) ** 2)) / energy
        both, what = float("nan"), "-"
        if not args.no_branch:
            residual = target.y - base
            second = second_branch(path, res.model, x, residual)
            both = float(np.sum((residual - simulate(second.model, x)) ** 2)) / energy
            what = second.structure
        rows.append(f"{n:<34}{TARGETS[n][1]:>7.2f}  {res.structure:<17}"
                    + "".join(f"{d['esr']:>10.4f}" for d in m) + f"{folded:>9.1e}"
                    + f"{m[0]['lsd_db']:>9.2f}{m[-1]['lsd_db']:>9.2f}  {both:>10.4f}  {what}")
        print(rows[-1], flush=True)
    print_table("float model vs the capture on the evaluation DI: each table run at F x the "
                "rate; a second block model fitted to the residual, added", head, rows)


if __name__ == "__main__":
    main()
