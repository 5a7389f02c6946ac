"""The idle floor on inputs the contract does not measure: for each .pedal in a folder, the
loudest idle (dBFS RMS, DC included, the last 1 s of 2 s of digital silence, at the fitted
knobs) after each of 31 held-out loud inputs, beside the contract's own measure
(``accuracy.contract_idle_dbfs``, the loudest after its three ``idle_passages``).

The held-out inputs: ``loud_passage`` of six other seeds, as given and 6 and 18 dB hotter
clipped at full scale; a 12 s fitting DI (another seed than the fitter's) normalised to
-6 dBFS peak, as given and 6 and 12 dB hotter clipped, cut after 3, 7 and 12 s; full-scale
sines of 40, 110, 1000 and 5000 Hz. Target: <= -90 dBFS (issue 3, the arithmetic contract).

    pedaltool fit ../shared/models/<capture>.nam ... -o FOLDER/ -j 2
    python benchmarks/bench_idle.py FOLDER

Results: docs/arithmetic.md, "Idle after a clipping input".
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchinfo import print_table

# isort: split
import numpy as np
from pedaltool import signals
from pedaltool.pedal.accuracy import contract_idle_dbfs, loud_passage
from pedaltool.pedal.fileformat import read_pedal
from pedaltool.pedal.simulate import idle_tail_levels_dbfs

LIMIT_DBFS = -90.0


def held_out_inputs(rate: int) -> list[tuple[str, np.ndarray]]:
    """(name, float input at full scale 1.0) for each held-out loud input."""
    out = []
    for seed in range(11, 17):
        x = loud_passage(rate, seed=seed)
        out += [(f"loud{seed}", x), (f"loud{seed} +6 dB", np.clip(2 * x, -1, 1)),
                (f"loud{seed} +18 dB", np.clip(8 * x, -1, 1))]
    di = signals.fitting_di(rate, 12.0, seed=21).astype(np.float64)
    di = 0.5 * di / np.max(np.abs(di))
    for gain in (1, 2, 4):
        for seconds in (3, 7, 12):
            out.append((f"DI {seconds} s x{gain}", np.clip(gain * di[:seconds * rate], -1, 1)))
    t = np.arange(rate) / rate
    out += [(f"sine {f} Hz", np.sin(2 * np.pi * f * t)) for f in (40, 110, 1000, 5000)]
    return out


def one_row(path: Path) -> str:
    qp = read_pedal(path)
    inputs = held_out_inputs(int(qp.sample_rate))
    both = [(idle_tail_levels_dbfs(qp, x), name) for name, x in inputs]
    idles = sorted(((full, name) for (full, _), name in both), reverse=True)
    bands = sorted(((band, name) for (_, band), name in both), reverse=True)
    above = sum(1 for level, _ in idles if level > LIMIT_DBFS)
    above_band = sum(1 for level, _ in bands if level > LIMIT_DBFS)
    worst, name = idles[0]
    worst_band, name_band = bands[0]
    return (f"| {path.stem} | {contract_idle_dbfs(qp):.1f} | {worst:.1f} ({name}) | "
            f"{above} of {len(idles)} | {worst_band:.1f} ({name_band}) | "
            f"{above_band} of {len(bands)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="a folder of .pedal files")
    args = ap.parse_args()
    rows = []
    for path in sorted(args.folder.glob("*.pedal")):
        rows.append(one_row(path))
        print(rows[-1], flush=True)
    print_table("idle after held-out loud inputs (dBFS; -240 = exact digital silence)",
                "| model | contract | worst held-out (input) | held-out above -90 | "
                "worst held-out, 20 Hz-20 kHz (input) | above -90 in that band |\n"
                "|---|---:|---:|---:|---:|---:|", rows)


if __name__ == "__main__":
    main()
