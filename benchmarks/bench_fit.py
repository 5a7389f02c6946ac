"""Fit every capture in ../shared/models and print a table: device-exact ESR on the evaluation
DI vs the target of its class, the naive baseline side by side, the arithmetic contract on the
written model (device vs float ESR, idle floor after loud inputs), cost and fit time.

    nice -n 10 python benchmarks/bench_fit.py [--only SUBSTR] [--quick] [--json OUT.json]
        [--set scored] [--perturb N] [--draws K]

A fit's scores are a draw: renders that differ by float32 roundings send its long fits down
other paths (docs/fitting-log.md, "How far a score moves between equally valid runs"); judge a
change over several draws (--draws).

Format corner-case captures (core_* except core_wavenet_a1_standard) only have to not crash:
a clear refusal (FitError / NamFileError) counts as a pass for them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchinfo import describe, describe_anchor, simd, speed_anchor, stamp

# isort: split
from pedaltool.fit.report import times_text, up_text  # 4.98 is not "5.0" beside 5x

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO.parent / "shared" / "models"

# target device-exact ESR per capture (issue 3)
TARGETS = {
    "tim_r_ts9": ("pedal", 0.01), "keith_b_klone_g6_t6_o5": ("pedal", 0.01),
    "phillipe_p_maxon_od808_feather": ("pedal", 0.01),
    "peter_n_hm2_swede_feather": ("pedal", 0.01),
    "tim_r_jcm2000_clean": ("clean/crunch amp", 0.02),
    "tim_r_jcm2000_crunch": ("clean/crunch amp", 0.02),
    "phillipe_p_vox_ac15_topboost": ("clean/crunch amp", 0.02),
    "phillipe_p_bugera333_crunch_cab": ("amp+cab", 0.05),
    "helga_b_5150_blockletter_noboost": ("high gain", 0.10),
    "tim_r_splawn_promod_gear2_g12": ("high gain", 0.10),
    "core_wavenet_a1_standard": ("high gain", 0.10),
}

FIT_SECONDS = 30.0  # fit time target (issue 3: per A1 standard capture; held to every one here)


def run_one(path: Path, effort: str) -> dict:
    from pedaltool.errors import PedaltoolError
    from pedaltool.fit import FitConfig, fit_capture

    t0, c0 = time.time(), _cpu()
    try:
        res = fit_capture(path, FitConfig(effort=effort))
        d = res.as_dict()
        d["wall_s"], d["cpu_s"] = time.time() - t0, _cpu() - c0
        d["quantisation"] = quantisation(res)
        return d
    except PedaltoolError as exc:
        return {"name": path.stem, "refused": str(exc), "wall_s": time.time() - t0,
                "cpu_s": _cpu() - c0}


def quantisation(res) -> dict:
    """The arithmetic contract on the written model (issue 3, docs/arithmetic.md): ESR of the
    device-exact output vs the float model on the evaluation DI (target <= 1e-5), and the idle
    floor in silence after a loud input (target <= -90 dBFS; the loudest after each of the
    contract's ``idle_passages``), at the fitted knobs. The written model itself
    (``res.qpedal``): the fitter may have quantised its float model with the plain error
    feedback (``fit.api._quantised``), which ``quantise(pm)`` would not."""
    from pedaltool.pedal.accuracy import contract_idle_dbfs, esr_vs_float

    pm, qp = res.pedal_model, res.qpedal
    return {"esr_vs_float": esr_vs_float(pm, res.eval_x, qp=qp),
            "idle_dbfs": contract_idle_dbfs(qp)}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the fit's worker processes)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


DEV_FLOAT_LIMIT = 1e-5  # the arithmetic contract: device vs float ESR ...
IDLE_LIMIT = -90.0  # ... and the idle floor (dBFS)


def contract_met(q: dict) -> tuple[bool, bool]:
    """(device vs float <= 1e-5, idle <= -90 dBFS) of a report's "quantisation": the
    arithmetic contract's two targets."""
    return q["esr_vs_float"] <= DEV_FLOAT_LIMIT, q["idle_dbfs"] <= IDLE_LIMIT


def row(d: dict) -> tuple:
    name = d["name"]
    cls, target = TARGETS.get(name, ("format case", None))
    if "refused" in d:
        ok = "pass (refused)" if target is None else "FAIL"
        return (name, cls, "-", "refused: " + d["refused"][:60], "", "", "", "", "", "", "", "",
                "", ok, f"{d['wall_s']:.0f}/{d['cpu_s']:.0f}")
    e = d["device"]["esr"]
    b = (d.get("baseline") or {}).get("esr", float("nan"))
    ratio = d["improvement_vs_baseline"]
    if target is None:
        ok = "pass (no crash)"
    else:
        ok = ("ESR ok" if e <= target else "ESR NOT MET") + (", 5x ok" if ratio >= 5 else
                                                             ", 5x NOT MET")
    if not d.get("sane", True):
        ok += ", NOT WRITTEN (sanity)"
    q = d["quantisation"]
    if not all(contract_met(q)):
        ok += ", QUANTISATION NOT MET"
    if target is not None and d["wall_s"] > FIT_SECONDS:
        ok += ", TIME NOT MET"
    share = d.get("rp2040_share_est")
    if target is not None and share is not None and share > 0.5:  # (the issue's "half")
        ok += ", HALF RP2040 NOT MET (est.)"
    # each figure a target bounds is rounded to its target's side: never printed as met
    return (name, cls, f"{target:g}" if target else "-", d["structure"],
            f"{d['cycles_per_sample']:.0f}", up_text(e, ".4f", target or float("inf")),
            f"{d['device']['esr_pre']:.4f}", f"{d['device']['lsd_db']:.1f}", f"{b:.4f}",
            times_text(ratio), up_text(q["esr_vs_float"], ".1e", DEV_FLOAT_LIMIT),
            up_text(q["idle_dbfs"], ".0f", IDLE_LIMIT),
            up_text(None if share is None else 100 * share, ".0f", 50.0), ok,
            f"{up_text(d['wall_s'], '.0f', FIT_SECONDS)}/{d['cpu_s']:.0f}")


_SCALE = [1.0]  # the renders' scale factor, set per draw


def perturb_oracle(n: int) -> None:
    """Every render through a capture (the fit's datasets, probe and evaluation target) comes
    out scaled by 1 + n*2^-24 from now on: the size of one float32 rounding per unit of n,
    which any other summation order in the renderer would also cause."""
    from pedaltool.fit import api

    if not getattr(api.Oracle.__call__, "scaled", False):
        call = api.Oracle.__call__

        def scaled(self, x):
            y = call(self, x)
            return y * _SCALE[0] if _SCALE[0] != 1.0 else y

        scaled.scaled = True
        api.Oracle.__call__ = scaled
    _SCALE[0] = 1.0 + n * 2.0**-24


def spread_rows(draws: list[tuple[int, list]]) -> tuple[tuple, list[tuple]]:
    """(header, rows) of the scored captures' device ESR in each draw, its range, and in how
    many draws the ESR and 5x targets and the arithmetic contract's two (device vs float
    <= 1e-5, idle <= -90 dBFS; a draw of the Splawn idled at -69 where the one draw of the
    targets table met it) are met."""
    header = ("capture", "target") + tuple(f"N={n}" for n, _ in draws) + (
        "worst/best", "ESR met", "5x met", "dev/float met", "idle met")
    names = [d["name"] for d in draws[0][1] if d["name"] in TARGETS and "refused" not in d]
    rows = []
    for name in names:
        got = [next(d for d in res if d["name"] == name) for _, res in draws]
        esr = [d["device"]["esr"] for d in got]
        five = sum(d["improvement_vs_baseline"] >= 5 for d in got)  # as row() judges it
        target = TARGETS[name][1]
        met = [contract_met(d["quantisation"]) for d in got]
        dev_float, idle = (sum(m[k] for m in met) for k in (0, 1))
        rows.append((name, f"{target:g}", *(up_text(e, ".4f", target) for e in esr),
                     f"{max(esr) / min(esr):.2f}x", f"{sum(e <= target for e in esr)} of "
                     f"{len(esr)}", f"{five} of {len(esr)}", f"{dev_float} of {len(esr)}",
                     f"{idle} of {len(esr)}"))
    return header, rows


HEADER = ("capture", "class", "target", "structure", "cycles", "ESR", "ESR pre", "LSD dB",
          "baseline", "x better", "dev/float", "idle dB", "RP2040 % est", "verdict",
          "wall/cpu s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="substring of the capture names to run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--thorough", action="store_true",
                    help="the thorough effort (not the 30 s fit-time target's)")
    ap.add_argument("--json", default="")
    ap.add_argument("--set", choices=("scored", "format", "all"), default="all",
                    help="scored: the 11 captures with targets; format: the corner cases")
    ap.add_argument("--perturb", type=int, default=0, metavar="N",
                    help="scale every render of the capture by 1 + N*2^-24 (about N float32 "
                    "roundings): an equally valid oracle, to see how far a score moves on "
                    "differences at the level of float32 rounding")
    ap.add_argument("--draws", type=int, default=1, metavar="K",
                    help="run K draws (N, N+1, ... N+K-1) and end with each scored capture's "
                    "ESR in every draw and in how many the targets are met (one draw of the "
                    "scored set takes about 6-8 min)")
    args = ap.parse_args()
    from pedaltool.fit.report import format_rows

    paths = [p for p in sorted(MODELS.glob("*.nam")) if args.only in p.stem]
    if args.set != "all":
        paths = [p for p in paths if (p.stem in TARGETS) == (args.set == "scored")]
    effort = "quick" if args.quick else "thorough" if args.thorough else "normal"
    before = speed_anchor()
    print(describe_anchor(before), "(before)", flush=True)
    draws = []
    for n in range(args.perturb, args.perturb + max(1, args.draws)):
        perturb_oracle(n)
        if n or args.draws > 1:
            print(f"draw N={n}: renders scaled by 1 + {n}*2^-24", flush=True)
        results = []
        for p in paths:
            print(f"... {p.name}", flush=True)
            results.append(run_one(p, effort))
            print(format_rows(HEADER, [row(results[-1])]).splitlines()[-1], flush=True)
        draws.append((n, results))
    print()
    after = speed_anchor()
    for n, results in draws:
        print(f"{stamp()}; effort {effort}" + (f"; renders scaled by 1 + {n}*2^-24" if n else ""))
        print(f"{describe_anchor(before)} before, {after['render']:.2f} s and "
              f"{after['filters']:.2f} s after (fit times compare across runs only next to "
              "these)")
        print(format_rows(HEADER, [row(d) for d in results]))
    if len(draws) > 1:
        print()
        print(f"device ESR over {len(draws)} equally valid draws:")
        print(format_rows(*spread_rows(draws)))
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": describe(), "simd": simd(), "anchor_before": before, "anchor_after": after,
             "results": draws[0][1],
             "draws": [{"perturb": n, "results": r} for n, r in draws]},
            indent=1, default=float))


if __name__ == "__main__":
    main()
