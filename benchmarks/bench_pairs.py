"""Fit recorded pairs made by real captures and print a table: the pair fit's own held-out
scores (the model's and the naive baseline's, as `pedaltool fit --input --target` reports
them) beside `compare`'s scores of the written pedal against the capture on the evaluation
DI, the truth a pair's user never sees.

Each capture renders a 20 s fitting DI (seed 10, not the fitter's own) at its calibrated
level. The pair is given twice: as float samples, and with both files rounded to 16 bits (a
16-bit export). The two differ only by the rounding, -98 dBFS of noise, so their rows should
agree within a fit's draw (docs/fitting-log.md, "How far a score moves").

    python benchmarks/bench_pairs.py [--only SUBSTR] [--quick]

About 15 minutes on a 2-core machine with the code of 2026-12-06 10:40 (the saturating
pairs took 1.5-2.5 min each in one process; the pair fit now runs in two, about half).
Results: docs/fitting-log.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)

# isort: split
import numpy as np
from bench_fit import MODELS
from benchinfo import print_table
from pedaltool import nam, signals
from pedaltool.audio import write_wav
from pedaltool.errors import PedaltoolError
from pedaltool.fit import FitConfig, api
from pedaltool.fit.recording import fit_recording

RATE = 48000
CAPTURES = ("tim_r_ts9", "tim_r_jcm2000_clean", "peter_n_hm2_swede_feather",
            "helga_b_5150_blockletter_noboost", "tim_r_splawn_promod_gear2_g12")
DEPTHS = (("float", None), ("16-bit", 16))


def rounded(x: np.ndarray, bits: int | None) -> np.ndarray:
    """``x`` on a ``bits``-bit PCM grid (None: unchanged)."""
    if bits is None:
        return x
    q = 2.0 ** (bits - 1)
    return np.clip(np.round(x * q), -q, q - 1) / q


def one_pair(name: str, bits: int | None, effort: str, folder: Path) -> str:
    path = MODELS / f"{name}.nam"
    m = nam.load(path)
    di = signals.fitting_di(RATE, 20.0, seed=10).astype(np.float64) * api.calibration_scale(m, path)
    y = m.render(di)
    tag = "f" if bits is None else str(bits)
    dp, rp = folder / f"{name}_{tag}_di.wav", folder / f"{name}_{tag}.wav"
    write_wav(dp, rounded(di, bits), RATE)
    write_wav(rp, rounded(y, bits), RATE)
    try:
        res = fit_recording(dp, rp, FitConfig(effort=effort))
    except PedaltoolError as exc:
        return f"| {name} | {tag} | refused: {exc} | | | | |"
    out = folder / f"{name}_{tag}.pedal"
    api.write_result(res, out)
    cmp = api.compare(path, out)
    ratio = res.improvement
    return (f"| {name} | {tag} | {res.structure} | {res.score.esr:.4f} | "
            f"{res.baseline.esr:.4f} ({ratio:.1f}x) | {cmp['device']['esr']:.4f} | "
            f"{cmp['baseline']['esr']:.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="captures whose name contains this")
    ap.add_argument("--quick", action="store_true", help="fit at --quick effort")
    args = ap.parse_args()
    effort = "quick" if args.quick else "normal"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in (n for n in CAPTURES if args.only in n):
            for _, bits in DEPTHS:
                rows.append(one_pair(name, bits, effort, Path(tmp)))
                print(rows[-1], flush=True)
    print_table(f"recorded pairs (20 s fitting DI), effort {effort}",
                "| capture | samples | structure | pair ESR | pair baseline | vs capture | "
                "baseline vs capture |\n|---|---|---|---:|---:|---:|---:|", rows)


if __name__ == "__main__":
    main()
