"""Firmware cost model: CPU cycles per sample of a pedal model's stage list on a target.

The numbers are measurements, not guesses: ``benchmarks/bench_firmware_cost.py --update``
compiles the firmware kernels with mpy-cross, runs their machine code in an instruction-level
emulator (armv6m, armv7emsp; xtensawin asm) or counts the disassembled loop (xtensawin viper),
and writes
``cost_data.json`` next to this file with the date, machine and method. This module only reads
that data (no emulator needed at run time).

Model: cycles/sample = sum of the per-stage kernel costs (per sample, measured on -12 dBFS
noise) + the engine's I/O kernels per sample (I2S unpack + output mix), and with
``include_dispatch`` (the fitter's budget) the interpreter's per-block work of calling them.
That last part could not be measured on the targets here (only on the x64 unix port): it is an
estimate, see ``dispatch_cycles_per_sample`` and docs/performance.md.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from pedaltool.errors import PedaltoolError

COST_DATA = Path(__file__).with_name("cost_data.json")
SAMPLE_RATE_HZ = 48000
DEFAULT_ARCH = "armv6m"
DEFAULT_BLOCK = 64  # samples per engine block when no board profile says otherwise


class CostModelError(PedaltoolError):
    """Unknown arch/stage, or the measured cost data is missing."""


@dataclass(frozen=True)
class ArchInfo:
    name: str
    cpu: str
    clock_hz: float


ARCHES: dict[str, ArchInfo] = {
    "armv6m": ArchInfo("armv6m", "RP2040 Cortex-M0+", 125e6),
    "armv7emsp": ArchInfo("armv7emsp", "RP2350 Cortex-M33", 150e6),
    "xtensawin": ArchInfo("xtensawin", "ESP32-S3 Xtensa LX7", 240e6),
}

# pedal-model stage kind -> kernel cost key (dcblock runs as a biquad section)
STAGE_KEYS = {"gain": "gain", "biquad": "biquad", "dcblock": "biquad", "table": "table",
              "biquad_half": "biquad_half", "biquad_fast": "biquad_fast",
              "env_bias": "env_bias", "tap": "tap", "mix": "mix", "tone": "tone",
              "delay": "delay"}


Q12_STEP = 1 << 14  # a fast section's Q26 coefficients are multiples of this (Q12)


def biquad_cost_key(params) -> str:
    """Cost key of a quantised biquad/dcblock section from its .pedal ints
    (b0, b1, b2, a1, a2, k1, k2): "biquad_fast" (Q12 coefficients, no error feedback: the
    5-multiply loop), "biquad_half" (Q12 with feedback) or "biquad" (the full Q26 section).
    See docs/arithmetic.md "Fast sections"."""
    p = list(params)
    if len(p) < 7 or any(int(v) % Q12_STEP for v in p[:5]):
        return "biquad"
    return "biquad_fast" if p[5] == 0 and p[6] == 0 else "biquad_half"


def _params(stage):
    if isinstance(stage, dict):
        return stage.get("p")
    return getattr(stage, "p", None)


def _kind(stage) -> str:
    if isinstance(stage, str):
        return stage
    if isinstance(stage, dict):
        return str(stage.get("kind", stage.get("type", "")))
    return str(getattr(stage, "kind", ""))


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CostModelError(f"{p}: cost data missing (run benchmarks/bench_firmware_cost.py "
                             "--update)")
    return json.loads(p.read_text())


def _stage_keys(stages) -> list[tuple[str, object]]:
    """(cost key, stage) per stage: the kernel each runs on, a ``table`` right after an
    ``env_bias`` as ``table_bias`` (the biased table kernel); CostModelError on an unknown
    kind. ``stages``: a model or an iterable as :func:`cycles_per_sample` takes."""
    if hasattr(stages, "stages"):
        stages = stages.stages
    out = []
    prev = ""
    for st in stages:
        kind = _kind(st)
        key = STAGE_KEYS.get(kind)
        if key is None:
            raise CostModelError(f"cost model: unknown stage kind {kind!r}")
        out.append(("table_bias" if key == "table" and prev == "env_bias" else key, st))
        prev = kind
    return out


def _impl(arch: str, impl: str | None) -> str:
    """The kernel implementation: ``impl``, else the arch's default (what its engine runs)."""
    arches = cost_data()["arches"]
    if arch not in arches:
        raise CostModelError(f"cost model: unknown arch {arch!r} (have "
                             f"{', '.join(sorted(arches))})")
    return impl or arches[arch]["default_impl"]


def xtensa_static_cycles(counts: dict) -> int:
    """Cycles/sample of an xtensawin loop body counted statically (``counts``: its
    "instructions", "loads_stores" and "branches"): 1 an instruction, + 1 a load or store
    (the load-use stall), + 2 a branch; an upper bound, both sides of every ``if`` counted
    (docs/performance.md)."""
    return counts["instructions"] + counts["loads_stores"] + 2 * counts["branches"]


def cost_data(path: Path | None = None) -> dict:
    """The measured data (dict): date, machine, method and per-arch per-stage cycles."""
    return _load(str(path or COST_DATA))


def stage_costs(arch: str = DEFAULT_ARCH, impl: str | None = None) -> dict[str, float]:
    """Cycles per sample per stage key for ``arch`` with kernel implementation ``impl``.

    ``impl``: ``"viper"`` (kernels.py), ``"thumb"`` (kernels_thumb.py asm where it exists,
    viper for the rest), ``"xtensa"`` (kernels_xtensa.py asm on xtensawin: biquads, gain,
    table; viper for the rest) or None = the arch's default (what the engine runs there).
    """
    impl = _impl(arch, impl)
    a = cost_data()["arches"][arch]
    if impl not in a["impls"]:
        raise CostModelError(f"cost model: no {impl!r} kernels measured for {arch}")
    costs = dict(a["impls"].get("viper", {}))
    costs.update(a["impls"][impl])
    return costs


def cycles_per_sample(stages: Iterable, arch: str = DEFAULT_ARCH, impl: str | None = None,
                      block: int | None = None, include_dispatch: bool = False) -> float:
    """CPU cycles per sample of running ``stages`` in the firmware on ``arch`` (measured).

    ``stages``: a PedalModel or QuantisedPedal, or an iterable of stage objects (``.kind``),
    dicts (``"kind"``) or kind strings (``"biquad"``, ``"biquad_half"``, ``"table"``, ...). A
    ``table`` right after an ``env_bias`` costs as the biased table kernel. A quantised
    biquad (``.p``/``"p"`` = its .pedal ints) whose coefficients are Q12 costs as the fast
    section kernel (``biquad_cost_key``); a float model's biquads cost as full sections.
    Includes the engine's per-sample I/O kernels. ``include_dispatch`` adds the *estimated*
    interpreter work of the engine's kernel calls amortised over ``block`` samples
    (:func:`dispatch_cycles_per_sample`): what the fitter's budget bounds.
    """
    keyed = _stage_keys(stages)
    impl = _impl(arch, impl)
    costs = stage_costs(arch, impl)
    io = cost_data()["arches"][arch].get("io_per_sample", {})
    total = float(io.get(impl, io.get("viper", 0.0)))
    if include_dispatch:
        total += dispatch_cycles_per_sample([st for _, st in keyed], arch, block, impl)
    for key, st in keyed:
        if key == "biquad" and _params(st) is not None:
            key = biquad_cost_key(_params(st))  # a quantised section: fast path or not
            if key not in costs:
                key = "biquad"
        # not measured (kernel missing): charge the dearest measured stage, never less
        total += costs[key] if key in costs else max(costs.values())
    return total


@cache
def default_block(arch: str) -> int:
    """Samples per engine block on ``arch``: the smallest ``block_frames`` of the board
    profiles (boards/*.toml) for that arch, else DEFAULT_BLOCK."""
    try:
        import tomllib

        from pedaltool.paths import boards_dir

        blocks = []
        for p in boards_dir().glob("*.toml"):
            d = tomllib.loads(p.read_text())
            if d.get("mpy_arch") == arch and "block_frames" in d.get("audio", {}):
                blocks.append(int(d["audio"]["block_frames"]))
        return min(blocks) if blocks else DEFAULT_BLOCK
    except (OSError, ValueError):
        return DEFAULT_BLOCK


def chains_everything(arch: str = DEFAULT_ARCH, impl: str | None = None) -> bool:
    """True where the engine runs a whole model as ONE chain() call per block: the ARM asm
    kernels (kernels_thumb's chain holds every stage kind; engine._make_chains)."""
    return _impl(arch, impl) == "thumb"


def kernel_calls(stages: Iterable, arch: str = DEFAULT_ARCH, impl: str | None = None) -> int:
    """Kernel calls per block the engine makes for ``stages`` on ``arch``. With the ARM asm
    kernels, one for the whole model. Elsewhere a run of consecutive biquad/dcblock sections
    is one cascade op, and a run of >= 2 consecutive cascade/gain/table ops (a table not fed
    by an env_bias) is one chain call (engine.py CHAIN op); every other stage is a call."""
    keys = [key for key, _ in _stage_keys(stages)]
    if chains_everything(arch, impl):
        return min(len(keys), 1)
    chainable = []  # one entry per engine op: can it join a chain?
    prev = ""
    for key in keys:
        key = "biquad" if key.startswith("biquad") else key
        if not (key == "biquad" and prev == "biquad"):
            chainable.append(key in ("biquad", "gain", "table"))
        prev = key
    calls = 0
    run = 0
    for c in chainable:
        if c:
            run += 1
            continue
        calls += min(run, 1) + 1
        run = 0
    return calls + min(run, 1)


# The engine's per-block work around its kernels' sample loops (docs/performance.md,
# "Dispatch"):
# - the interpreter: Engine.process with one kernel call runs ~2490 x64 instructions of
#   bytecode and call (valgrind), scaled to the target as the viper chain's code scales
#   (x 1.68 on the Cortex-M0+, 1.59 on the M33, 1.80 on the LX7). An ESTIMATE, unverified on
#   a board; the app loop's own per-block work (I2S, controls, console) is not in it.
# - each further kernel call (off ARM, where env_bias, tone, tap, mix and delay are calls of
#   their own): ~39 viper passthrough samples on the unix port, scaled by the target's
#   passthrough cycles. Also an estimate.
# - the asm chain's set-up. On ARM MEASURED (its machine code emulated, tests/firmware/
#   test_cost_emulator.py): entry and exit, and per record its dispatch and the loads and
#   stores around its loop (a biquad's the dearest of its three loops: 81 full, 90 half,
#   89 fast). On the ESP32 the asm_xtensa chain's 713 cycles for 11 records (emulated).
# A viper-only port (impl "viper") pays cost_data.json's dispatch_cycles_per_call a call
# instead: the viper chain_block's set-up dominates there.
INTERP_CYCLES = {"armv6m": 4190.0, "armv7emsp": 3960.0, "xtensawin": 4480.0}
EXTRA_CALL_PASSTHROUGH_SAMPLES = 39.0
ARM_CHAIN_ENTRY_CYCLES = 86.0
ARM_CHAIN_RECORD_CYCLES = {"biquad": 90.0, "gain": 32.0, "table": 42.0, "tone": 57.0,
                           "tap": 32.0, "mix": 42.0, "delay": 52.0, "env_bias": 64.0,
                           "table_bias": 61.0}


def dispatch_cycles_per_sample(stages, arch: str = DEFAULT_ARCH, block: int | None = None,
                               impl: str | None = None) -> float:
    """ESTIMATED cycles per sample of the engine's per-block work around its kernels' sample
    loops for ``stages`` (a stage list as :func:`cycles_per_sample` takes), at blocks of
    ``block`` samples (default: the arch's board-profile block, 32 on the RP2040).

    ARM asm kernels (one chain() call a block): INTERP_CYCLES + the chain's measured set-up,
    ARM_CHAIN_ENTRY_CYCLES + ARM_CHAIN_RECORD_CYCLES per stage (about 172-174 cycles/sample
    for the scored fits at 32 frames). The ESP32's asm_xtensa kernels: INTERP_CYCLES, the
    chain's set-up and EXTRA_CALL_PASSTHROUGH_SAMPLES passthrough samples per further call.
    Viper: cost_data.json's ``dispatch_cycles_per_call`` per call.
    """
    keyed = _stage_keys(stages)
    if not keyed:
        return 0.0
    a = cost_data()["arches"][arch]
    impl = _impl(arch, impl)
    block = block or default_block(arch)
    calls = kernel_calls([st for _, st in keyed], arch, impl)
    if impl == "viper":
        return calls * float(a.get("dispatch_cycles_per_call", 0.0)) / block
    total = INTERP_CYCLES[arch]
    if impl != "thumb":  # asm_xtensa: its chain's set-up (11 records, counted once) and a
        # call per other op
        total += float((a.get("xtensa_chain") or {}).get("per_block_cycles", 0.0))
        total += (calls - 1) * EXTRA_CALL_PASSTHROUGH_SAMPLES * a["anchor"]["passthrough"]
        return total / block
    total += ARM_CHAIN_ENTRY_CYCLES
    for key, _ in keyed:
        total += ARM_CHAIN_RECORD_CYCLES["biquad" if key.startswith("biquad") else key]
    return total / block


def rp2040_share_estimate(qpedal) -> float:
    """Fraction (0..1) of an RP2040 at 125 MHz, at the model's own rate, that a quantised
    model takes by estimate: its kernels, block I/O and dispatch (:func:`cycles_per_sample`
    with ``include_dispatch``)."""
    cycles = cycles_per_sample(qpedal, "armv6m", include_dispatch=True)
    return cpu_fraction(cycles, "armv6m", float(qpedal.sample_rate))


def cpu_fraction(cycles: float, arch: str = DEFAULT_ARCH,
                 rate_hz: float = SAMPLE_RATE_HZ) -> float:
    """Fraction (0..1) of the target's CPU that ``cycles`` per sample take at ``rate_hz``."""
    return cycles * rate_hz / ARCHES[arch].clock_hz


def budget_default(rate_hz: float = SAMPLE_RATE_HZ) -> float:
    """Default fitter budget: half of an RP2040 at 125 MHz, in cycles per sample (1302 @ 48 k)."""
    return 0.5 * ARCHES["armv6m"].clock_hz / rate_hz


# ---------------------------------------------------------------------------------------------
# writing the data (benchmarks/bench_firmware_cost.py --update)
# ---------------------------------------------------------------------------------------------
METHODS = {
    "armv6m": "mpy-cross 1.29 -march=armv6m machine code run in unicorn 2 (Cortex-M0 core), "
              "every executed instruction counted with Cortex-M0+ timings (ARM DDI 0484C: "
              "ld/st 2, taken branch 2, push/pop 1+N, muls 1); (run(96)-run(32))/64 samples",
    "armv7emsp": "mpy-cross -march=armv7emsp code run in unicorn 2 (Cortex-M33 core) with an "
                 "approximate M33 table (ld/st 2, taken branch 2, no load pipelining credit)",
    "xtensawin": "viper: static count of the disassembled per-sample loop (Capstone 6); "
                 "cycles ~ instructions + loads/stores + 2 x branches (upper bound: both sides "
                 "of every if are counted). xtensa (asm_xtensa chain kernel, shipped as viper "
                 "code): machine code executed in pedaltool.native_emu.XtensaMachine, 1 cycle "
                 "per instruction + 1 per load/store + 2 per taken branch; (run(96)-run(32))/64",
}

XTENSA_ASM_KEYS = ("biquad", "biquad_half", "biquad_fast", "gain", "table")


def xtensa_asm_entry(x: dict) -> dict:
    """The cost-data fields of the emulated asm_xtensa kernels (bench result ``x`` =
    res["xtensawin"] with "xtensa", "xtensa_chain", "xtensa_chain_mix")."""
    out = {"impl": {k: round(float(x["xtensa"][k]["cycles"]), 1) for k in XTENSA_ASM_KEYS
                    if k in x["xtensa"]}}
    if x.get("xtensa_chain"):
        out["chain"] = {
            "full8_cycles_per_sample": round(float(x["xtensa_chain"]["per_sample"]["cycles"]), 1),
            "mix_cycles_per_sample": round(float(x["xtensa_chain_mix"]["per_sample"]["cycles"]),
                                           1),
            "per_block_cycles": round(float(x["xtensa_chain"]["per_block_overhead_cycles"]), 1),
            "what": "kernels_xtensa.chain(): gain, 4 biquads, table, 4 biquads, gain in one "
                    "call; full8 = 8 full sections, mix = 3 full + 5 HALF sections",
        }
    return out


def update_xtensa_asm(x: dict, path: Path | None = None) -> Path:
    """Write only the asm_xtensa measurements into the existing cost data (bench
    ``--update-xtensa``): the other arches and the unix-port numbers stay as measured."""
    path = path or COST_DATA
    data = json.loads(Path(path).read_text())
    a = data["arches"]["xtensawin"]
    e = xtensa_asm_entry(x)
    a["impls"]["xtensa"] = e["impl"]
    a["default_impl"] = "xtensa"
    a["method"] = METHODS["xtensawin"]
    if "chain" in e:
        a["xtensa_chain"] = e["chain"]
    a["xtensa_measured"] = datetime.date.today().isoformat()
    path.write_text(json.dumps(data, indent=1) + "\n")
    _load.cache_clear()
    return path


def _chain_native(r: dict, arch: str) -> tuple[float, float] | None:
    """(instructions, cycles) per sample of the viper chain (8 biquads + table + 2 gains)."""
    v = r.get("viper", {})
    if not all(k in v for k in ("biquad", "table", "gain")):
        return None
    if arch == "xtensawin":
        def ins(s):
            return s["instructions"]

        cyc = xtensa_static_cycles
    else:
        def ins(s):
            return s["instructions"]

        def cyc(s):
            return s["cycles"]
    i = 8 * ins(v["biquad"]) + ins(v["table"]) + 2 * ins(v["gain"])
    c = 8 * cyc(v["biquad"]) + cyc(v["table"]) + 2 * cyc(v["gain"])
    return float(i), float(c)


def dispatch_estimate(res: dict, arch: str, block: int | None = None) -> dict | None:
    """Interpreter dispatch cost on ``arch`` from the valgrind x64 instruction count.

    x64 instructions per block (exact, valgrind) / stages x instr_ratio x CPI, where
    instr_ratio = target instructions / x64 instructions of the same viper chain per sample
    (both measured) and CPI = the target's cycles per instruction on that chain (emulated on
    ARM, estimated on xtensa). Assumes the interpreter's C code scales like viper code.
    """
    dis = (res.get("unix") or {}).get("dispatch") or {}
    r = res.get(arch)
    if "x64_instr_per_block" not in dis or not r:
        return None
    native = _chain_native(r, arch)
    if native is None or not dis.get("x64_instr_per_sample"):
        return None
    ins, cyc = native
    ratio = ins / dis["x64_instr_per_sample"]
    cpi = cyc / ins
    calls = dis.get("calls") or dis["stages"]
    per_call = dis["x64_instr_per_block"] / calls * ratio * cpi
    block = block or default_block(arch)
    per_sample = per_call * calls / block
    return {"cycles_per_call": per_call, "instr_ratio": ratio, "cpi": cpi,
            "block": block, "cycles_per_sample": per_sample,
            "percent": 100 * cpu_fraction(per_sample, arch)}


def write_cost_data(res: dict, path: Path | None = None, block: int = DEFAULT_BLOCK) -> Path:
    """Turn a bench_firmware_cost result into the cost model's JSON data file."""
    path = path or COST_DATA

    def _dispatch_per_call(res, arch, per_stage_in_samples, passthrough):
        est = dispatch_estimate(res, arch)
        if est:
            return round(est["cycles_per_call"])
        return round(per_stage_in_samples * passthrough) if per_stage_in_samples else 0

    unix = res.get("unix") or {}
    eng = unix.get("engine") or {}
    per_stage_in_samples = None
    if "per_block_us" in eng and unix.get("passthrough_us_per_sample"):
        per_stage_in_samples = (eng["per_block_us"] / (eng.get("calls") or eng["stages"])
                                / unix["passthrough_us_per_sample"])
    arches = {}
    for arch in ("armv6m", "armv7emsp", "xtensawin"):
        r = res.get(arch)
        if not r:
            continue
        if arch == "xtensawin":
            def cyc(s):
                return float(xtensa_static_cycles(s))
        else:
            def cyc(s):
                return float(s["cycles"])
        impls = {"viper": {k: round(cyc(v), 1) for k, v in r["viper"].items()}}
        if r.get("thumb"):
            impls["thumb"] = {k: round(cyc(v), 1) for k, v in r["thumb"].items()}
        xt = xtensa_asm_entry(r) if r.get("xtensa") else None
        if xt:
            impls["xtensa"] = xt["impl"]
        io = {"viper": round(sum(cyc(v) for v in r.get("io", {}).values()), 1)}
        if r.get("thumb_io"):
            io["thumb"] = round(sum(cyc(v) for v in r["thumb_io"].values()), 1)
        passthrough = cyc(r["anchor"]["passthrough"])
        entry = {
            "cpu": ARCHES[arch].cpu, "clock_hz": ARCHES[arch].clock_hz,
            "method": METHODS[arch],
            "default_impl": ("thumb" if "thumb" in impls
                             else "xtensa" if "xtensa" in impls else "viper"),
            "impls": impls,
            "io_per_sample": io,
            "anchor": {k: round(cyc(v), 1) for k, v in r["anchor"].items()},
            "dispatch_cycles_per_call": _dispatch_per_call(res, arch, per_stage_in_samples,
                                                                 passthrough),
        }
        if xt and "chain" in xt:
            entry["xtensa_chain"] = xt["chain"]
        if not impls["viper"]:
            entry["note"] = "kernels.py not measured yet: viper costs missing"
        arches[arch] = entry
    data = {
        "measured": res.get("machine", {}).get("date", datetime.date.today().isoformat()),
        "machine": res.get("machine", {}),
        "how": "benchmarks/bench_firmware_cost.py --update (see docs/performance.md)",
        "dispatch_method": "ESTIMATE, not in cycles_per_sample by default: x64 instructions "
                           "per block of Engine.process (valgrind, exact) / stages x "
                           "(target / x64 instructions of the same viper chain) x the target's "
                           "CPI on that chain; fallback: unix wall time scaled by passthrough",
        "unix": {k: v for k, v in unix.items() if k != "notes"},
        "arches": arches,
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    _load.cache_clear()
    return path
