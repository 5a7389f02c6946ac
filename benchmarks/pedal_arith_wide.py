"""What wider inter-stage samples would buy (a design study for a format version 2; the
firmware does not implement it).

The contract (docs/arithmetic.md) rounds every stage's output to int16. On 7 of the 11 scored
fits the device-vs-float ESR misses 1e-5 because that rounding, between stages where an amp's
signal is weak, is amplified by the EQ and the tables. This script runs the same quantised
models (every coefficient, table value, shift and error-feedback choice unchanged) with every
sample carrying F more fractional bits below the int16 LSB (the full-scale range unchanged,
saturation scaled with it), in numba int64, and prints the device-vs-float ESR on the fit's
evaluation DI and the idle floor after a loud passage for each F. F = 0 is checked equal to the
contract's simulator, sample for sample, and its ESR is ``accuracy.esr_vs_float`` (the float
model gets the float DI; the device its int16 rounding, or the finer grid for F > 0). "F=4
t16" rounds each table's (and every non-biquad stage's) output back to the int16 grid: wide
samples only inside biquad runs and into the next stage. "in16": the float model itself fed
the int16-rounded DI, the floor that no inner width can go below while the input is 16 bits.

    python benchmarks/pedal_arith_wide.py [--only SUBSTR] [--effort quick|normal] [--boundaries]

``--boundaries``: for each fit, the ESR with 4 extra bits everywhere but at one stage's
output, rounded to int16 there, boundary by boundary: where the int16 grid costs most.

It fits every scored capture first (about 35 s each at the default effort).
"""

from __future__ import annotations

import argparse

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)

# isort: split
import numpy as np
from bench_fit import MODELS, TARGETS
from benchinfo import print_table
from numba import njit

WIDTHS = (1, 2, 3, 4)


@njit(cache=True)
def _sat(v, f):
    hi = (32767 << f) + ((1 << f) - 1)
    lo = -(32768 << f)
    return hi if v > hi else (lo if v < lo else v)


@njit(cache=True)
def _gain(x, m, s, f):
    r = (1 << s) >> 1
    for i in range(len(x)):
        x[i] = _sat((x[i] * m + r) >> s, f)


@njit(cache=True)
def _biquad(x, c, f):
    # arith.biquad_sample with the saturation bounds scaled; the general loop computes the same
    # y as the fast/half loops when the lo parts or the feedback are zero
    x1 = x2 = y1 = y2 = e1 = e2 = 0
    top = (32767 << f) + ((1 << f) - 1)
    bot = -(32768 << f)
    for i in range(len(x)):
        xi = x[i]
        hi = c[0] * xi + c[1] * x1 + c[2] * x2 + c[3] * y1 + c[4] * y2
        lo = (c[5] * xi + c[6] * x1 + c[7] * x2 + c[8] * y1 + c[9] * y2 + c[10] * e1
              + c[11] * e2)
        hi += lo >> 14
        lo &= 16383
        y = (hi + 2048) >> 12
        if y > top:
            y, e = top, 0
        elif y < bot:
            y, e = bot, 0
        else:
            e = ((hi - (y << 12)) << 14) + lo
        x2, x1, y2, y1, e2, e1 = x1, xi, y1, y, e1, e
        x[i] = y


@njit(cache=True)
def _table(x, t, pmax, gm, gs, off, bias, use_bias, f):
    for i in range(len(x)):
        p = ((x[i] * gm) >> (gs + f)) + off
        if use_bias:
            p += bias[i]
        p = min(max(p, 0), pmax)
        j = p >> 8
        a = t[j] << f
        x[i] = a + ((((t[j + 1] << f) - a) * (p & 255) + 128) >> 8)


@njit(cache=True)
def _env(x, ca, cr, dm, ds, bias, f):
    e = 0
    for i in range(len(x)):
        d = (abs(x[i]) << 8) - e
        c = ca if d > 0 else cr
        e += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
        bias[i] = ((e >> 8) * dm) >> (ds + f)


@njit(cache=True)
def _tone(x, c, glo, ghi, f):
    lps = 0
    for i in range(len(x)):
        xi = x[i]
        d = (xi << 8) - lps
        lps += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
        lp = (lps + 128) >> 8
        x[i] = _sat((glo * lp + ghi * (xi - lp) + 4096) >> 13, f)


@njit(cache=True)
def _mix(x, t, m, s, f):
    r = (1 << s) >> 1
    for i in range(len(x)):
        x[i] = _sat(x[i] + ((t[i] * m + r) >> s), f)


def _narrow(sig: np.ndarray, f: int) -> None:
    if f:
        sig[:] = ((sig + (1 << (f - 1))) >> f) << f


def to_wide(x: np.ndarray, f: int) -> np.ndarray:
    """A float signal (full scale 1.0) on the grid of ``f`` extra bits (the codec's 24-bit
    slot would carry them), as ``float_to_int16`` does for f = 0."""
    s = float(32768 << f)
    return np.clip(np.round(np.asarray(x, np.float64) * s), -s, s - 1).astype(np.int64)


def run_wide(qp, x_wide: np.ndarray, f: int, int16_tables: bool = False,
             int16_at: frozenset = frozenset(), names: list | None = None) -> np.ndarray:
    """The quantised pedal at its fitted knobs, no gate, samples with ``f`` extra bits; the
    output rounded to int16. ``int16_tables``: every non-biquad stage's output rounded to
    the int16 grid; ``int16_at``: the outputs of these boundaries (numbered in chain order,
    each biquad section one) rounded to it. ``names``: filled with each boundary's stage kind."""
    names = [] if names is None else names
    from pedaltool.pedal._fast import delay_k
    from pedaltool.pedal._fw import fw_module
    from pedaltool.pedal.simulate import firmware_pedal, knob_positions

    eng_mod, pf = fw_module("engine"), fw_module("pedalfile")
    eng = eng_mod.Engine(firmware_pedal(qp), 256)
    for k, v in knob_positions(None).items():
        eng.set_knob(k, v, True)
    sig = np.array(x_wide, np.int64)
    slots, bias = {}, np.zeros(len(sig), np.int64)
    for op in eng.all_ops:
        kind = op.kind
        if kind == pf.BIQUAD:
            c = np.array(op.arr, np.int64)
            for sec in range(op.a):
                _biquad(sig, c[12 * sec:12 * sec + 12], f)
                if len(names) in int16_at:
                    _narrow(sig, f)
                names.append("biquad")
            continue
        if kind == pf.GAIN:
            _gain(sig, op.cur, op.a, f)
        elif kind == pf.TABLE:
            _table(sig, np.array(op.arr, np.int64), op.a, op.cur, op.c, op.d, bias, bool(op.e),
                   f)
        elif kind == pf.ENV_BIAS:
            _env(sig, op.a, op.b, op.c, op.d, bias, f)
        elif kind == pf.TAP:
            slots[id(op.arr)] = sig.copy()
        elif kind == pf.MIX:
            _mix(sig, slots[id(op.arr)], op.a, op.b, f)
        elif kind == pf.TONE:
            _tone(sig, op.a, op.cur, op.cur2, f)
        elif kind == pf.DELAY:
            delay_k(sig, op.a)
        if int16_tables or len(names) in int16_at:
            _narrow(sig, f)
        names.append(pf.KIND_NAMES[kind])
    return np.clip((sig + ((1 << f) >> 1)) >> f, -32768, 32767).astype(np.int16)


def study(res) -> dict:
    """ESR vs float and idle floor (dBFS) per width for one FitResult."""
    from pedaltool.pedal import quantise, simulate
    from pedaltool.pedal.accuracy import esr, loud_passage
    from pedaltool.pedal.model import simulate_float
    from pedaltool.pedal.simulate import float_to_int16

    pm = res.pedal_model
    qp = quantise(pm)
    x = res.eval_x
    ref = simulate_float(pm, x)  # as accuracy.esr_vs_float: the float model gets the float DI
    dev = simulate(qp, float_to_int16(x))
    if not np.array_equal(run_wide(qp, to_wide(x, 0), 0), dev):
        raise AssertionError(f"{res.name}: the F=0 emulation differs from the contract")
    rate = int(pm.sample_rate)
    loud = np.concatenate([loud_passage(rate), np.zeros(2 * rate)])

    def idle(y):
        tail = y[-rate:].astype(np.float64) / 32768.0
        ms = float(np.mean(tail ** 2))
        return 10 * np.log10(ms) if ms > 0 else -240.0

    out = {"structure": res.structure,
           0: (esr(ref, dev / 32768.0), idle(simulate(qp, float_to_int16(loud))))}
    for f in WIDTHS:
        out[f] = (esr(ref, run_wide(qp, to_wide(x, f), f) / 32768.0),
                  idle(run_wide(qp, to_wide(loud, f), f)))
    out["t16"] = (esr(ref, run_wide(qp, to_wide(x, 4), 4, True) / 32768.0), 0.0)
    # the float model itself fed the int16-rounded DI: a floor no inner width can go below
    # while the input is 16 bits
    out["in16"] = (esr(ref, simulate_float(pm, float_to_int16(x) / 32768.0)), 0.0)
    return out


def boundaries(res, f: int = 4) -> list[tuple[str, float]]:
    """Device-vs-float ESR of the written model (``res.qpedal``) with ``f`` extra bits
    everywhere but one boundary, rounded to int16 there: (stage kind, ESR) per boundary in
    chain order, after ("input", ESR) with only the DI on the int16 grid and ("none", ESR)
    with no int16 boundary inside the chain (the output is rounded to int16 in every row, so
    the last boundary's row is "none" again)."""
    from pedaltool.pedal import simulate
    from pedaltool.pedal.accuracy import esr
    from pedaltool.pedal.model import simulate_float
    from pedaltool.pedal.simulate import float_to_int16

    qp, x = res.qpedal, res.eval_x
    if not np.array_equal(run_wide(qp, to_wide(x, 0), 0), simulate(qp, float_to_int16(x))):
        raise AssertionError(f"{res.name}: the F=0 emulation differs from the contract")
    ref = simulate_float(res.pedal_model, x)
    names: list = []
    rows = [("none", esr(ref, run_wide(qp, to_wide(x, f), f, names=names) / 32768.0)),
            ("input", esr(ref, run_wide(qp, to_wide(x, 0) << f, f) / 32768.0))]
    for j, kind in enumerate(names):
        y = run_wide(qp, to_wide(x, f), f, int16_at=frozenset({j}))
        rows.append((kind, esr(ref, y / 32768.0)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="substring of the capture names to run")
    ap.add_argument("--effort", default="normal", choices=("quick", "normal"))
    ap.add_argument("--boundaries", action="store_true",
                    help="instead: which stage boundary's int16 rounding costs what (4 extra "
                    "bits everywhere else)")
    args = ap.parse_args()
    from pedaltool.fit import FitConfig, fit_capture

    names = [n for n in TARGETS if args.only in n]
    if args.boundaries:
        for n in names:
            res = fit_capture(MODELS / f"{n}.nam", FitConfig(effort=args.effort))
            rows = [f"{j - 2 if j > 1 else '':>4}  {kind:<9}{e:>9.1e}"
                    for j, (kind, e) in enumerate(boundaries(res))]
            print_table(f"{n} ({res.structure}): device-vs-float ESR of the written model "
                        "with int16 at one boundary and the output only (none: the output "
                        "only; input: the DI too)",
                        f"{'#':>4}  {'stage':<9}{'ESR':>9}", rows,
                        note=f"effort {args.effort}")
        return
    head = (f"{'capture':<34}{'structure':<17}" + "".join(f"{f'F={f}':>9}" for f in (0, *WIDTHS))
            + f"{'F=4 t16':>9}{'in16':>9}  {'idle F=0':>9}{'idle F=4':>9}")
    rows = []
    for n in names:
        print(f"... {n}", flush=True)
        d = study(fit_capture(MODELS / f"{n}.nam", FitConfig(effort=args.effort)))
        rows.append(f"{n:<34}{d['structure']:<17}"
                    + "".join(f"{d[f][0]:>9.1e}" for f in (0, *WIDTHS))
                    + f"{d['t16'][0]:>9.1e}{d['in16'][0]:>9.1e}  {d[0][1]:>9.0f}{d[4][1]:>9.0f}")
        print(rows[-1], flush=True)
    print_table("device-vs-float ESR on the evaluation DI (target <= 1e-5) with F extra "
                "fractional bits per sample; idle dBFS after a loud passage (target <= -90)",
                head, rows, note=f"effort {args.effort}")


if __name__ == "__main__":
    main()
