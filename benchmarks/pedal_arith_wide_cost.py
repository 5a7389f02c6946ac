"""What the dearer biquads of wider samples would cost in accuracy (a design study for a
format version 2; the firmware does not implement it; docs/arithmetic.md, "Wider samples").

20-bit samples need a split product in every biquad section: an estimated 15-25 more cycles
per section on the RP2040. This charges every biquad kernel variant ``--extra`` more cycles
on every arch in the cost model (``pedal.cost.stage_costs``), so the fitter grows smaller
structures within the same default budget, and runs ``bench_fit.py`` on that: its table's
ESR columns are what the fewer sections cost (its "dev/float" column is still the int16
contract's; ``pedal_arith_wide.py`` measures what the wide samples themselves buy).

    python benchmarks/pedal_arith_wide_cost.py [--extra CYCLES] [bench_fit options]

Default: ``--extra 20 --set scored`` (about 2.5 minutes on a 2-core machine).
"""

from __future__ import annotations

import sys

import pedaltool  # noqa: F401  (before numpy: the fit's SIMD level, pedaltool.simd_level)

# isort: split
import bench_fit
from pedaltool.pedal import cost

BIQUAD_KEYS = ("biquad", "biquad_half", "biquad_fast")


def charge_biquads(extra: float) -> None:
    """Make every biquad kernel variant ``extra`` cycles dearer (this process and the fit's
    forked workers)."""
    measured = cost.stage_costs

    def dearer(arch: str = cost.DEFAULT_ARCH, impl: str | None = None) -> dict[str, float]:
        c = dict(measured(arch, impl))
        for k in BIQUAD_KEYS:
            if k in c:
                c[k] += extra
        return c

    cost.stage_costs = dearer


def main() -> None:
    args = sys.argv[1:]
    extra = 20.0
    if "--extra" in args:
        k = args.index("--extra")
        extra = float(args[k + 1])
        del args[k:k + 2]
    charge_biquads(extra)
    print(f"every biquad section charged {extra:g} more cycles per sample", flush=True)
    sys.argv = [sys.argv[0], *(args or ["--set", "scored"])]
    bench_fit.main()


if __name__ == "__main__":
    main()
