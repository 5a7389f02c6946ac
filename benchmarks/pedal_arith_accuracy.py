"""Quantisation accuracy of the integer arithmetic contract (docs/arithmetic.md).

For each rate and EQ case: ESR of the device-exact output vs the float model on the project's
evaluation DI, and the idle floor (dBFS) in silence after loud inputs: after the loud passage
alone ("loud"), and the contract's measure, the loudest after each of its three loud inputs,
two of them clipping ("contract", ``accuracy.contract_idle_dbfs``). Targets: ESR <= 1e-5,
contract idle <= -90 dBFS. "fitted-chain*" (table, env bias, tone, dcblock) is shown for
information. Run: python benchmarks/pedal_arith_accuracy.py [--seconds 20]
"""

import argparse

from pedaltool import signals
from pedaltool.pedal import model as M
from pedaltool.pedal.accuracy import (
    biquad_stage,
    contract_idle_dbfs,
    eq_test_models,
    esr_vs_float,
    loud_passage,
    rbj,
)
from pedaltool.pedal.quantise import quantise
from pedaltool.pedal.simulate import idle_tail_dbfs


def fitted_chain(rate: int) -> M.PedalModel:
    """A fitted-looking chain: delay, pre-EQ, env bias -> table (drive), post-EQ, tone, dcblock,
    level (the shape the fitter writes)."""
    import numpy as np

    u = np.linspace(-4, 4, 257)
    table = 0.8 * np.tanh(u + 0.15) - 0.8 * np.tanh(0.15)
    return M.PedalModel([
        M.DelayStage(3), biquad_stage(*rbj("highpass", 40, rate)),
        biquad_stage(*rbj("peak", 700, rate, 0.8, 6)), M.EnvBiasStage(5.0, 80.0, -0.8),
        M.TableStage(6.0, -4, 4, table, knob="drive", knob_min_db=-18, knob_max_db=12),
        biquad_stage(*rbj("lowpass", 4000, rate, 0.9)),
        biquad_stage(*rbj("peak", 120, rate, 1.0, -3)),
        biquad_stage(*rbj("highshelf", 3000, rate, 0.7, -4)), M.ToneStage(900, 12),
        M.DcBlockStage(8.0), M.GainStage(-8.0, knob="level", knob_min_db=-30, knob_max_db=10),
    ], rate, name="fitted-chain")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    print(f"{'rate':>6} {'case':<14} {'ESR':>10} {'idle loud':>10} {'contract':>9}  ok")
    for rate in (48000, 44100, 32000):
        x = signals.evaluation_di(float(rate), args.seconds).astype(float)
        cases = dict(eq_test_models(rate))
        cases["fitted-chain*"] = fitted_chain(rate)
        for name, model in cases.items():
            qp = quantise(model)
            e = esr_vs_float(model, x, qp=qp)
            loud = idle_tail_dbfs(qp, loud_passage(rate))
            idle = contract_idle_dbfs(qp)
            ok = "yes" if e <= 1e-5 and idle <= -90 else "NO"
            if name.endswith("*"):  # not an EQ: ESR shown for information (env follower)
                ok = "idle yes" if idle <= -90 else "idle NO"
            print(f"{rate:>6} {name:<14} {e:>10.2e} {loud:>10.1f} {idle:>9.1f}  {ok}")


if __name__ == "__main__":
    main()
