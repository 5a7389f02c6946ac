"""Quantisation accuracy of the integer arithmetic contract (docs/arithmetic.md).

For each rate and EQ case: ESR of the device-exact output vs the float model on the project's
evaluation DI, and the idle floor (dBFS) in silence after a loud passage. Targets: ESR <= 1e-5,
idle <= -90 dBFS. Run: python benchmarks/pedal_arith_accuracy.py [--seconds 20]
"""

import argparse

from pedaltool import signals
from pedaltool.pedal.accuracy import eq_test_models, esr_vs_float, idle_floor_dbfs, loud_passage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    print(f"{'rate':>6} {'case':<14} {'ESR':>10} {'idle dBFS':>10}  ok")
    for rate in (48000, 44100, 32000):
        x = signals.evaluation_di(float(rate), args.seconds).astype(float)
        for name, model in eq_test_models(rate).items():
            e = esr_vs_float(model, x)
            idle = idle_floor_dbfs(model, loud_passage(rate))
            ok = "yes" if e <= 1e-5 and idle <= -90 else "NO"
            print(f"{rate:>6} {name:<14} {e:>10.2e} {idle:>10.1f}  {ok}")


if __name__ == "__main__":
    main()
