"""Why the biquad arithmetic is what it is: the contract vs. the same without error feedback
and vs. Q14 coefficients without feedback (48 kHz, evaluation DI, idle floor after a loud
passage). Run: python benchmarks/pedal_arith_variants.py [--seconds 10]"""

import argparse

import numpy as np
from pedaltool import signals
from pedaltool.pedal import quantise
from pedaltool.pedal.accuracy import eq_test_models, esr, loud_passage
from pedaltool.pedal.model import simulate_float
from pedaltool.pedal.quantise import QStage
from pedaltool.pedal.simulate import float_to_int16, simulate


def _variant(qp, var):
    for i, st in enumerate(qp.stages):
        if st.kind != "biquad":
            continue
        p = list(st.p)
        p[5] = p[6] = 0
        if var == "Q14, no feedback":
            p[:5] = [int(round(v / 2**12)) << 12 for v in p[:5]]
        qp.stages[i] = QStage(st.kind, None, tuple(p))
    return qp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    rate = 48000
    x = signals.evaluation_di(float(rate), ap.parse_args().seconds).astype(float)
    loud = np.concatenate([float_to_int16(loud_passage(rate)), np.zeros(2 * rate, np.int16)])
    print(f"{'case':<14} {'variant':<18} {'ESR':>9} {'idle dBFS':>10} {'idle mean LSB':>14}")
    for case in ("hp20", "lowshelf80+6", "cascade10"):
        model = eq_test_models(rate)[case]
        ref = simulate_float(model, x)
        for var in ("contract", "no feedback", "Q14, no feedback"):
            qp = quantise(model)
            if var != "contract":
                qp = _variant(qp, var)
            try:
                y = simulate(qp, float_to_int16(x)).astype(float) / 32768
            except ValueError as exc:
                print(f"{case:<14} {var:<18} rejected: {str(exc).split(': ', 2)[-1]}")
                continue
            t = simulate(qp, loud)[-rate:].astype(float) / 32768
            idle = 20 * np.log10(max(np.sqrt(np.mean(t**2)), 1e-12))
            print(f"{case:<14} {var:<18} {esr(ref, y):>9.2e} {idle:>10.1f} "
                  f"{np.mean(t) * 32768:>14.2f}")


if __name__ == "__main__":
    main()
