"""Firmware DSP cost per sample on the targets, measured from the code mpy-cross emits.

    python benchmarks/bench_firmware_cost.py            # print the tables
    python benchmarks/bench_firmware_cost.py --update   # also rewrite the cost model's data
    python benchmarks/bench_firmware_cost.py --json out.json
    python benchmarks/bench_firmware_cost.py --update-xtensa   # only the asm_xtensa numbers

Method (docs/performance.md):
- armv6m (RP2040, Cortex-M0+ @ 125 MHz) and armv7emsp (RP2350, Cortex-M33 @ 150 MHz): every
  kernel is compiled with mpy-cross, its machine code is executed in the unicorn emulator with
  a fake MicroPython runtime (pedaltool.native_emu) and every executed instruction is counted
  with the core's cycle table. Cost per sample = (run(96) - run(32)) / 64 samples, which cancels
  the per-call entry/exit. Inputs: noise at -12 dBFS, realistic parameters.
- xtensawin (ESP32-S3 @ 240 MHz), viper kernels: static count of the disassembled per-sample
  loop (Capstone 6; binutils' objdump before 2026-12-07, the same counts); cycles are
  estimated as instructions + 1 per load + 2 per branch (an upper bound: every instruction of
  both sides of each ``if`` is counted).
- xtensawin, asm_xtensa chain kernel (kernels_xtensa.py, shipped as viper code): its machine
  code executed in pedaltool.native_emu.XtensaMachine, every executed instruction counted with
  the same rules (1 per instruction, +1 per load/store, +2 per taken branch);
  (run(96) - run(32)) / 64 samples as on ARM.
- unix port: wall time of the viper chain (8 biquads + table + 2 gains) per sample, as a ratio
  to a viper passthrough block kernel, under the real MicroPython unix port.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from benchinfo import machine_info
from pedaltool import mpy
from pedaltool.native_emu import (
    EmulatorError,
    ThumbMachine,
    XtensaChain,
    XtensaMachine,
    per_sample,
    xtensa_disassemble,
    xtensa_loop,
)
from pedaltool.paths import firmware_dir
from pedaltool.pedal import cost

HERE = Path(__file__).resolve().parent
ANCHOR = HERE / "viper_biquad_q14.py"
N_SMALL, N_LARGE = 32, 96
NMAX = 128


def _sys_path_firmware():
    root = str(firmware_dir())
    if root not in sys.path:
        sys.path.append(root)


def _arith():
    _sys_path_firmware()
    import pedalcore.arith as arith

    return arith


def _peaking_q26(f0: float, gain_db: float, q: float, fs: float = 48000.0) -> list[int]:
    """RBJ peaking EQ -> Q26 [b0, b1, b2, a1, a2]."""
    a = 10 ** (gain_db / 40)
    w = 2 * math.pi * f0 / fs
    al = math.sin(w) / (2 * q)
    a0 = 1 + al / a
    co = [(1 + al * a) / a0, -2 * math.cos(w) / a0, (1 - al * a) / a0,
          -2 * math.cos(w) / a0, (1 - al / a) / a0]
    return [round(v * (1 << 26)) for v in co]


class StageBench:
    """Builds the arguments of each kernel (reference signatures of arith.py) in emulator RAM."""

    def __init__(self, m: ThumbMachine, seed: int = 1):
        self.m = m
        self.rnd = random.Random(seed)
        self.arith = _arith()
        x = [self.rnd.randint(-8192, 8191) for _ in range(NMAX)]  # -12 dBFS noise
        self.x = x
        self.buf = m.alloc(struct.pack(f"<{NMAX}h", *x))
        self.buf2 = m.alloc(struct.pack(f"<{NMAX}h", *x))
        self.buf32 = m.alloc(struct.pack(f"<{NMAX}i", *[v << 16 for v in x]))
        self.bias = m.alloc(struct.pack(f"<{NMAX}i", *([0] * NMAX)))
        nseg = 256
        tab = [round(32767 * math.tanh(3.0 * (i / nseg * 2 - 1))) for i in range(nseg + 1)]
        tab.append(tab[-1])
        self.nseg = nseg
        self.table = m.alloc(struct.pack(f"<{nseg + 2}h", *tab))
        self.ring = m.alloc(struct.pack("<256h", *([0] * 256)))

    def refill(self):
        self.m.write(self.buf, struct.pack(f"<{NMAX}h", *self.x))

    def i32(self, vals: list[int]) -> int:
        return self.m.alloc(struct.pack(f"<{len(vals)}i", *vals))

    def args(self, stage: str) -> list[int]:
        """Arguments (after buf, n) in the order of arith.<stage>_block."""
        ar = self.arith
        if stage == "biquad":
            c = ar.biquad_kernel_coefs(_peaking_q26(800.0, 6.0, 0.7), 2, -1)
            return [self.i32(c), self.i32([0] * 6), 0]
        if stage in ("biquad_half", "biquad_fast"):
            # a fast section (docs/arithmetic.md): a 5 kHz peak in Q12, with / without feedback
            q12 = [(v + 8192) >> 14 << 14 for v in _peaking_q26(5000.0, 6.0, 1.0)]
            k = (-1, 0) if stage == "biquad_half" else (0, 0)
            c = ar.biquad_kernel_coefs(q12, *k)
            return [self.i32(c), self.i32([0] * 6), 0]
        if stage == "gain":
            return [23170, 0, 14]  # +3 dB: mantissa Q14, no ramp
        if stage in ("table", "table_bias"):
            a = [self.table, self.nseg << 8, 32768, 0, 15, 1 << 15]
            return a + ([self.bias] if stage == "table_bias" else [])
        if stage == "env":
            return [self.i32([0]), 2000, 60, 256, 10, self.bias]
        if stage == "tone":
            return [self.i32([0]), 4000, 8192, 0, 8192, 0]
        if stage == "tap":
            return [self.buf2]
        if stage == "mix":
            return [self.buf2, 16384, 15]
        if stage == "delay":
            return [self.ring, self.i32([0]), 17, 255]
        if stage == "fade":
            return [32768, 0]
        if stage == "peak":
            return []
        raise KeyError(stage)


# cost-model stage name -> (kernel function name in kernels.py, StageBench args key)
VIPER_STAGES = {
    "biquad": ("biquad_block", "biquad"),
    "biquad_half": ("biquad_block", "biquad_half"),
    "biquad_fast": ("biquad_block", "biquad_fast"),
    "gain": ("gain_block", "gain"),
    "table": ("table_block", "table"),
    "table_bias": ("table_bias_block", "table_bias"),
    "env_bias": ("env_block", "env"),
    "tone": ("tone_block", "tone"),
    "tap": ("tap_block", "tap"),
    "mix": ("mix_block", "mix"),
    "delay": ("delay_block", "delay"),
    "fade": ("fade_block", "fade"),
    "peak": ("peak_block", "peak"),
}


def _params(path: Path, fname: str) -> list[str]:
    """Parameter names of a module-level function (to build arguments by name)."""
    import ast

    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name == fname:
            return [a.arg for a in node.args.args]
    raise KeyError(fname)


def _emulate(m: ThumbMachine, sb: StageBench, entry: int, make_args, asm: bool):
    def run(n: int):
        sb.refill()
        args = make_args(n)
        _, st = (m.call_asm if asm else m.call_viper)(entry, args)
        return st

    return per_sample(run, N_SMALL, N_LARGE)


def measure_thumb_arch(arch: str) -> dict:
    """Per-sample cost of the anchor, the viper kernels, blockio and the asm kernels."""
    out: dict = {"anchor": {}, "viper": {}, "thumb": {}, "io": {}, "notes": []}
    m = ThumbMachine(arch)
    sb = StageBench(m)
    fs = mpy.compile_functions(ANCHOR, arch)
    coefs = sb.i32([4000, 8000, 4000, -20000, 9000])
    st = sb.i32([0] * 4)
    e = m.load_code(fs["biquad"].code)
    out["anchor"]["biquad_q14"] = _emulate(m, sb, e, lambda n: [sb.buf, n, coefs, st], False)
    e = m.load_code(fs["passthrough"].code)
    out["anchor"]["passthrough"] = _emulate(m, sb, e, lambda n: [sb.buf, n], False)

    kernels = firmware_dir() / "pedalcore" / "kernels.py"
    if kernels.is_file():
        kf = mpy.compile_functions(kernels, arch)
        for stage, (fname, key) in VIPER_STAGES.items():
            rc = kf.get(fname)
            if rc is None or rc.kind_name != "viper":
                out["notes"].append(f"kernels.py: no viper {fname}")
                continue
            if _params(kernels, fname) and len(_params(kernels, fname)) != len(
                    _params(Path(sb.arith.__file__), fname)):
                out["notes"].append(f"kernels.py: {fname} signature differs from arith.py")
                continue
            e = m.load_code(rc.code)
            extra = sb.args(key)
            out["viper"][stage] = _emulate(m, sb, e, lambda n, extra=extra: [sb.buf, n, *extra],
                                           False)
    else:
        out["notes"].append("firmware/pedalcore/kernels.py not found: viper kernels not measured")

    blockio = firmware_dir() / "pedalcore" / "blockio.py"
    bio = mpy.compile_functions(blockio, arch)
    named = {"src": sb.buf32, "dst": sb.buf32, "dry": sb.buf2, "wet": sb.buf, "w0": 0,
             "w1": 0, "v0": 32768, "v1": 32768}
    for fname in ("unpack_in", "mix_out"):
        if fname not in bio:
            out["notes"].append(f"blockio.py: no {fname}")
            continue
        params = _params(blockio, fname)
        e = m.load_code(bio[fname].code)
        out["io"][fname] = _emulate(
            m, sb, e, lambda n, params=params: [n if p == "n" else named[p] for p in params],
            False)

    tf = mpy.compile_functions(firmware_dir() / "pedalcore" / "kernels_thumb.py", arch)
    e = m.load_code(tf["chain"].code)
    # on ARM every stage is a record of the one asm chain() (kernels_thumb.py): a stage's
    # per-sample cost is the slope of a one-record program
    records = {
        "biquad": [1, *sb.args("biquad")[:2]],
        "biquad_half": [1, *sb.args("biquad_half")[:2]],
        "biquad_fast": [1, *sb.args("biquad_fast")[:2]],
        "gain": [2, 23170, 0, 14],
        "table": [3, sb.table, sb.nseg << 8, 32768, 0, 15, 1 << 15],
        "tone": [4, sb.i32([0]), 4000, 8192, 0, 8192, 0],
        "tap": [5, sb.buf2],
        "mix": [6, sb.buf2, 16384, 15],
        "delay": [7, sb.ring, sb.i32([0]), 17, 255],
        "env_bias": [8, sb.i32([0]), sb.bias, 2000, 60, 256, 10],
        "table_bias": [9, sb.table, sb.bias, sb.nseg << 8, 32768, 0, 15, 1 << 15],
    }
    for stage, rec in records.items():
        pa = sb.i32(rec + [0])
        out["thumb"][stage] = _emulate(m, sb, e, lambda n, pa=pa: [sb.buf, n, pa], True)
    # the whole 11-stage chain in one chain() call: per sample and the in-asm per-block cost
    bqc = sb.args("biquad")
    prog = [2, 23170, 0, 14]
    for k in range(8):
        prog += [1, bqc[0], sb.i32([0] * 6)]
        if k == 3:
            prog += [3, sb.table, sb.nseg << 8, 32768, 0, 15, 1 << 15]
    prog += [2, 23170, 0, 14, 0]
    pa = sb.i32(prog)
    e = m.load_code(tf["chain"].code)

    def run_chain(n):
        sb.refill()
        return m.call_asm(e, [sb.buf, n, pa])[1]

    ps = _emulate(m, sb, e, lambda n: [sb.buf, n, pa], True)
    total32 = run_chain(32)
    out["thumb_chain"] = {"per_sample": ps, "per_block_overhead_cycles":
                          total32.cycles - 32 * ps.cycles}
    # the realistic mix: 3 full (low-frequency) + 5 fast (Q12 with feedback) sections
    bqh = sb.args("biquad_half")
    prog = [2, 23170, 0, 14]
    for k in range(8):
        prog += [1, (bqc if k < 3 else bqh)[0], sb.i32([0] * 6)]
        if k == 3:
            prog += [3, sb.table, sb.nseg << 8, 32768, 0, 15, 1 << 15]
    prog += [2, 23170, 0, 14, 0]
    pm = sb.i32(prog)
    out["thumb_chain_mix"] = {"per_sample": _emulate(m, sb, e, lambda n: [sb.buf, n, pm], True)}
    out["thumb_io"] = {}
    e = m.load_code(tf["unpack_in"].code)
    out["thumb_io"]["unpack_in"] = _emulate(m, sb, e, lambda n: [sb.buf32, sb.buf2, sb.buf, n],
                                            True)
    mp = sb.i32([0, 0, 0, 32768 << 8, 0])
    e = m.load_code(tf["mix"].code)

    def mix_args(n):
        m.write(mp, struct.pack("<i", n))
        return [sb.buf2, sb.buf, sb.buf32, mp]

    out["thumb_io"]["mix_out"] = _emulate(m, sb, e, mix_args, True)
    return out


def measure_xtensawin() -> dict:
    """Static loop-body counts of every per-sample kernel compiled for xtensawin."""
    out: dict = {"anchor": {}, "viper": {}, "io": {}, "notes": []}
    fs = mpy.compile_functions(ANCHOR, "xtensawin")
    out["anchor"]["biquad_q14"] = xtensa_loop(fs["biquad"].code)
    out["anchor"]["passthrough"] = xtensa_loop(fs["passthrough"].code)
    kernels = firmware_dir() / "pedalcore" / "kernels.py"
    if kernels.is_file():
        kf = mpy.compile_functions(kernels, "xtensawin")
        for stage, (fname, _key) in VIPER_STAGES.items():
            if fname in kf and kf[fname].kind_name == "viper":
                if stage in FAST_LOOP_INDEX:
                    loops = xtensa_loops(kf[fname].code)
                    if len(loops) == 3:  # FAST, HALF, full loops in source order
                        out["viper"][stage] = loops[FAST_LOOP_INDEX[stage]]
                    continue
                out["viper"][stage] = xtensa_loop(kf[fname].code)
    else:
        out["notes"].append("firmware/pedalcore/kernels.py not found")
    bio = mpy.compile_functions(firmware_dir() / "pedalcore" / "blockio.py", "xtensawin")
    for name in ("unpack_in", "mix_out"):
        if name in bio:
            out["io"][name] = xtensa_loop(bio[name].code)
    return out


FAST_LOOP_INDEX = {"biquad_fast": 0, "biquad_half": 1}  # loops of kernels.biquad_block


def measure_xtensawin_asm() -> dict:
    """The asm_xtensa chain kernel executed in the Xtensa emulator: per stage (a one-record
    program each) and the whole 11-stage chain, per sample ((run(96) - run(32)) / 64) and the
    per-block cost at 32 samples. Same inputs and parameters as the ARM measurements."""
    ar = _arith()
    fs = mpy.compile_functions(firmware_dir() / "pedalcore" / "kernels_xtensa.py", "xtensawin")
    m = XtensaMachine()
    e = m.load_code(fs["chain"].code)
    rnd = random.Random(1)
    x = [rnd.randint(-8192, 8191) for _ in range(NMAX)]  # -12 dBFS noise (StageBench's)
    full = ar.biquad_kernel_coefs(_peaking_q26(800.0, 6.0, 0.7), 2, -1)
    q12 = [(v + 8192) >> 14 << 14 for v in _peaking_q26(5000.0, 6.0, 1.0)]
    half = ar.biquad_kernel_coefs(q12, -1, 0)
    fast = ar.biquad_kernel_coefs(q12, 0, 0)
    nseg = 256
    tab = [round(32767 * math.tanh(3.0 * (i / nseg * 2 - 1))) for i in range(nseg + 1)]
    tab.append(tab[-1])
    table = ("table", tab, nseg << 8, 32768, 0, 15, 1 << 15)
    gain = ("gain", 23170, 0, 14)

    def measure(stages):
        ch = XtensaChain(m, e, stages, nmax=NMAX)
        return per_sample(lambda n: ch.run(x[:n])[1], N_SMALL, N_LARGE), ch

    out: dict = {"xtensa": {}}
    for name, st in (("biquad", [("bq", full, [0] * 6)]), ("biquad_half", [("bq", half, [0] * 6)]),
                     ("biquad_fast", [("bq", fast, [0] * 6)]), ("gain", [gain]),
                     ("table", [table])):
        out["xtensa"][name] = measure(st)[0]

    def chain_of(sections):
        st = [gain]
        for k, c in enumerate(sections):
            st.append(("bq", c, [0] * 6))
            if k == 3:
                st.append(table)
        return st + [gain]

    ps, ch = measure(chain_of([full] * 8))
    total32 = ch.run(x[:32])[1]
    out["xtensa_chain"] = {"per_sample": ps,
                           "per_block_overhead_cycles": total32.cycles - 32 * ps.cycles}
    out["xtensa_chain_mix"] = {"per_sample": measure(chain_of([full] * 3 + [half] * 5))[0]}
    out["xtensa_mnemonics"] = sorted(m.mnemonics)
    return out


def xtensa_loops(code: bytes, innermost: bool = False) -> list:
    """Every outermost (or ``innermost``) loop of an xtensawin function, in address order
    (XtensaLoop each): biquad_block has three (FAST, HALF, full; docs/arithmetic.md);
    chain_block's innermost loops are the per-sample loops of its stage records."""
    from pedaltool.native_emu import _XT_LOADSTORE, XtensaLoop, xtensa_disassemble

    rows = xtensa_disassemble(code)
    code_start = 0
    if rows and rows[0][2] == "j":
        code_start = int(rows[0][3].split()[0], 16)
        rows = [r for r in rows if r[0] >= code_start]
    back = []
    for addr, _size, mn, ops in rows:
        if mn == "j" or mn.startswith("b"):
            try:
                t = int(ops.split(",")[-1].strip().split()[0], 16)
            except (ValueError, IndexError):
                continue
            if code_start <= t < addr:
                back.append((t, addr))
    if innermost:
        outer = [lp for lp in back if not any(o != lp and lp[0] <= o[0] and o[1] <= lp[1]
                                              for o in back)]
    else:
        outer = [lp for lp in back if not any(o != lp and o[0] <= lp[0] and lp[1] <= o[1]
                                              for o in back)]
    loops = []
    for t, a in sorted(set(outer)):
        body = [r for r in rows if t <= r[0] <= a]
        loops.append(XtensaLoop(
            instructions=len(body),
            loads_stores=sum(r[2].startswith(_XT_LOADSTORE) for r in body),
            branches=sum(r[2] == "j" or (r[2].startswith("b") and r[2] != "break")
                         for r in body),
            multiplies=sum(r[2].startswith("mul") for r in body), start=t, end=a))
    return loops


UNIX_SCRIPT = r"""
import sys, time
sys.path.insert(0, %(fw)r)
sys.path.insert(0, %(bench)r)
from array import array
import viper_biquad_q14 as anchor
from pedalcore import kernels as K
from pedalcore import arith
N = 64
REPS = %(reps)d
buf = array('h', [((i * 7919) %% 16384) - 8192 for i in range(N)])
coefs = [array('i', arith.biquad_kernel_coefs(%(q26)r, 2, -1)) for _ in range(8)]
states = [array('i', [0] * 6) for _ in range(8)]
nseg = 256
tab = array('h', [0] * (nseg + 2))
for i in range(nseg + 2):
    v = (i - 128) * 256
    tab[i] = 32767 if v > 32767 else v
def chain():
    K.gain_block(buf, N, 16384, 0, 14)
    for k in range(4):
        K.biquad_block(buf, N, coefs[k], states[k], 0)
    K.table_block(buf, N, tab, nseg << 8, 32768, 0, 15, 1 << 15)
    for k in range(4, 8):
        K.biquad_block(buf, N, coefs[k], states[k], 0)
    K.gain_block(buf, N, 16384, 0, 14)
def passthrough():
    anchor.passthrough(buf, N)
def timeit(f):
    best = 1e30
    for trial in range(5):
        t0 = time.ticks_us()
        for r in range(REPS):
            f()
        dt = time.ticks_diff(time.ticks_us(), t0)
        best = dt if dt < best else best
    return best / (REPS * N)
def calls():
    # the per-stage, per-block interpreter cost: 11 kernel calls that process 0 samples
    for k in range(11):
        K.gain_block(buf, 0, 16384, 0, 14)
tp = timeit(passthrough)
tc = timeit(chain)
tk = timeit(calls) * N / 11
print("RESULT", tp, tc, tk)
"""


ENGINE_SCRIPT = r"""
import sys, time
sys.path.insert(0, %(fw)r)
from array import array
from pedalcore import pedalfile, engine
engine.use_kernels("viper")
data = open(%(pedal)r, "rb").read()
pedal = pedalfile.parse(data)
res = []
for block in (32, 256):
    e = engine.Engine(pedal, block)
    buf = array('h', [((i * 7919) %% 16384) - 8192 for i in range(block)])
    reps = %(samples)d // block
    best = 1e30
    for trial in range(5):
        t0 = time.ticks_us()
        for r in range(reps):
            e.process(buf)
        dt = time.ticks_diff(time.ticks_us(), t0) / reps
        best = dt if dt < best else best
    res.append(best)
print("RESULT", res[0], res[1], len(pedal.stages))
"""


def chain_pedal_bytes() -> bytes:
    """The benchmark chain as a real .pedal: gain, 4 biquads, table, 4 biquads, gain."""
    import numpy as np
    from pedaltool.pedal.accuracy import biquad_stage, rbj
    from pedaltool.pedal.fileformat import to_bytes
    from pedaltool.pedal.model import GainStage, PedalModel, TableStage
    from pedaltool.pedal.quantise import quantise

    eq = [biquad_stage(*rbj("peak", f, 48000, 0.7, g)) for f, g in
          ((100, 3), (400, -2), (1200, 4), (3000, -3), (150, 2), (800, -4), (2500, 3),
           (6000, -6))]
    xs = np.linspace(-1.0, 1.0, 257)
    model = PedalModel([GainStage(12.0), *eq[:4],
                        TableStage(1.0, -1.0, 1.0, np.tanh(2 * xs) / np.tanh(2.0)),
                        *eq[4:], GainStage(-6.0)], 48000, name="bench chain")
    return to_bytes(quantise(model))


def measure_engine_unix(samples: int = 32768) -> dict:
    """Engine.process() wall time per block at block 32 and 256 on the unix port.

    T(block) = A + B * block: A is the interpreter's per-block cost of dispatching the
    stages (what the emulator cannot see), B the kernels' per-sample cost.
    """
    try:
        data = chain_pedal_bytes()
    except Exception as e:  # the host pedal API is another room's: report, do not crash
        return {"notes": [f"engine not measured: cannot build the chain .pedal ({e})"]}
    with tempfile.TemporaryDirectory() as tmp:
        pedal = Path(tmp) / "chain.pedal"
        pedal.write_bytes(data)
        script = Path(tmp) / "eng.py"
        script.write_text(ENGINE_SCRIPT % {"fw": str(firmware_dir()), "pedal": str(pedal),
                                           "samples": samples})
        proc = subprocess.run(["micropython", str(script)], capture_output=True, text=True,
                              timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            t32, t256, nst = line.split()[1:]
            t32, t256 = float(t32), float(t256)
            b = (t256 - t32) / (256 - 32)
            a = t32 - 32 * b
            return {"block_us": {"32": t32, "256": t256}, "per_block_us": a,
                    "per_sample_us": b, "stages": int(nst), "notes": []}
    return {"notes": [f"engine run failed: {(proc.stderr or proc.stdout).strip()[-300:]}"]}


VG_SCRIPT = r"""
import sys
sys.path.insert(0, %(fw)r)
from array import array
from pedalcore import pedalfile, engine
engine.use_kernels("viper")
pedal = pedalfile.parse(open(%(pedal)r, "rb").read())
BLOCK = int(sys.argv[1])
REPS = int(sys.argv[2])
e = engine.Engine(pedal, BLOCK)
buf = array('h', [((i * 7919) %% 16384) - 8192 for i in range(BLOCK)])
import micropython


def run(e, buf, reps):
    micropython.heap_lock()  # as app.py runs the audio path (frames then live on the C stack)
    for r in range(reps):
        e.process(buf)  # what the app calls per block (gate off, not bypassed)
    micropython.heap_unlock()


run(e, buf, REPS)
print("STAGES", len(pedal.stages), e.nops)
"""


def measure_dispatch_valgrind(reps: int = 50) -> dict:
    """x64 instructions executed by ``Engine.process`` (valgrind callgrind, exact counts).

    Runs R and 3R calls at blocks of 32 and 256 (the difference cancels start-up):
    per call = per_block + block * per_sample. per_block is the interpreter's dispatch work,
    per_sample the viper kernels' (compare with the Thumb instruction count of the same chain).
    """
    import shutil

    vg = shutil.which("valgrind")
    if not vg:
        return {"notes": ["valgrind not found: dispatch instructions not counted"]}
    try:
        data = chain_pedal_bytes()
    except Exception as e:
        return {"notes": [f"dispatch not measured: cannot build the chain .pedal ({e})"]}
    mp = shutil.which("micropython")
    counts = {}
    stages = calls = 0
    with tempfile.TemporaryDirectory() as tmp:
        pedal = Path(tmp) / "chain.pedal"
        pedal.write_bytes(data)
        script = Path(tmp) / "vg.py"
        script.write_text(VG_SCRIPT % {"fw": str(firmware_dir()), "pedal": str(pedal)})
        for block in (32, 256):
            for r in (reps, 3 * reps):
                out = Path(tmp) / f"cg.{block}.{r}"
                # the PyPI micropython is a Python script that loads the VM as an extension
                cmd = [vg, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                       mp, str(script), str(block), str(r)]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                tot = [ln for ln in proc.stderr.splitlines() if "Collected" in ln]
                if proc.returncode != 0 or not tot:
                    return {"notes": [f"valgrind run failed: {proc.stderr.strip()[-300:]}"]}
                counts[(block, r)] = int(tot[-1].split(":")[-1].replace(",", "").strip())
                for ln in proc.stdout.splitlines():
                    if ln.startswith("STAGES"):
                        stages, calls = (int(v) for v in ln.split()[1:3])
    call32 = (counts[(32, 3 * reps)] - counts[(32, reps)]) / (2 * reps)
    call256 = (counts[(256, 3 * reps)] - counts[(256, reps)]) / (2 * reps)
    per_sample = (call256 - call32) / (256 - 32)
    per_block = call32 - 32 * per_sample
    return {"x64_instr_per_block": per_block, "x64_instr_per_sample": per_sample,
            "stages": stages, "calls": calls, "notes": []}


def measure_unix(reps: int = 300) -> dict:
    """Chain vs passthrough wall time per sample under the MicroPython unix port."""
    kernels = firmware_dir() / "pedalcore" / "kernels.py"
    if not kernels.is_file():
        return {"notes": ["kernels.py not found: unix chain not measured"]}
    script = UNIX_SCRIPT % {"fw": str(firmware_dir()), "bench": str(HERE), "reps": reps,
                            "q26": _peaking_q26(800.0, 6.0, 0.7)}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        proc = subprocess.run(["micropython", path], capture_output=True, text=True,
                              timeout=600)
    finally:
        os.unlink(path)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            tp, tc, tk = (float(v) for v in line.split()[1:])
            return {"passthrough_us_per_sample": tp, "chain_us_per_sample": tc,
                    "ratio": tc / tp, "call_us": tk, "call_in_passthrough_samples": tk / tp,
                    "notes": []}
    return {"notes": [f"micropython failed: {(proc.stderr or proc.stdout).strip()[-300:]}"]}


def chain_total(costs: dict, n_biquads: int = 8, n_gains: int = 2) -> float | None:
    if not all(k in costs for k in ("biquad", "gain", "table")):
        return None
    return n_biquads * costs["biquad"] + costs["table"] + n_gains * costs["gain"]


def chain_mix_total(costs: dict) -> float | None:
    """The realistic mix: 3 full sections (low frequencies) + 5 fast sections (Q12 with error
    feedback, the HALF loop: high-frequency peaks/shelves/low-passes) + table + 2 gains."""
    if not all(k in costs for k in ("biquad", "biquad_half", "gain", "table")):
        return None
    return 3 * costs["biquad"] + 5 * costs["biquad_half"] + costs["table"] + 2 * costs["gain"]


def _fmt(v, w=8, p=1):
    return f"{v:{w}.{p}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"


def report(res: dict) -> str:  # noqa: C901
    lines = []
    mi = res["machine"]
    lines.append(f"# firmware DSP cost per sample ({mi['date']}, {mi['cpu']}, "
                 f"nproc {mi['nproc']})")
    for arch in ("armv6m", "armv7emsp"):
        r = res.get(arch)
        if not r:
            continue
        hz = cost.ARCHES[arch].clock_hz
        budget = hz / 48000
        lines.append("")
        lines.append(f"## {arch} ({cost.ARCHES[arch].cpu} @ {hz / 1e6:.0f} MHz, 48 kHz: "
                     f"{budget:.0f} cycles/sample) - emulated")
        lines.append(f"{'kernel':<24}{'instr':>8}{'cycles':>8}{'ld/st':>8}{'taken':>8}"
                     f"{'%CPU':>8}")
        for group in ("anchor", "viper", "thumb", "io", "thumb_io"):
            for name, s in r.get(group, {}).items():
                lines.append(f"{group + '.' + name:<24}{_fmt(s['instructions'])}"
                             f"{_fmt(s['cycles'])}{_fmt(s['loads_stores'])}"
                             f"{_fmt(s['taken_branches'])}{_fmt(100 * s['cycles'] / budget)}")
        for impl in ("viper", "thumb"):
            costs = {k: v["cycles"] for k, v in r["viper"].items()}
            if impl == "thumb":
                costs.update({k: v["cycles"] for k, v in r["thumb"].items()})
            tot = chain_total(costs)
            if impl == "thumb" and r.get("thumb_chain"):
                tc = r["thumb_chain"]
                lines.append(f"chain() program, same 11 stages in one call: "
                             f"{tc['per_sample']['cycles']:.0f} cycles/sample + "
                             f"{tc['per_block_overhead_cycles']:.0f} cycles per block")
            if tot is not None:
                io_group = "thumb_io" if impl == "thumb" else "io"
                io = sum(v["cycles"] for v in r.get(io_group, {}).values())
                lines.append(f"chain 8 biquads + table + 2 gains ({impl}): {tot:.0f} cycles/"
                             f"sample = {100 * tot / budget:.1f} % CPU; + engine I/O "
                             f"{io:.0f} = {100 * (tot + io) / budget:.1f} %")
                mix = chain_mix_total(costs)
                if mix is not None:
                    lines.append(f"  mix 3 full + 5 fast sections ({impl}): {mix:.0f} cycles/"
                                 f"sample = {100 * mix / budget:.1f} %; + I/O "
                                 f"{100 * (mix + io) / budget:.1f} %")
            if impl == "thumb" and r.get("thumb_chain_mix"):
                c = r["thumb_chain_mix"]["per_sample"]["cycles"]
                lines.append(f"chain() program, mix 3 full + 5 fast sections: {c:.0f} "
                             f"cycles/sample = {100 * c / budget:.1f} %")
        per_sample_helpers = [f"{g}.{k}" for g in ("anchor", "viper", "thumb", "io", "thumb_io")
                              for k, v in r.get(g, {}).items() if v.get("helper_calls")]
        lines.append("runtime helper calls inside the per-sample loops: "
                     + (", ".join(per_sample_helpers) if per_sample_helpers else "none"))
        for note in r["notes"]:
            lines.append(f"note: {note}")
    x = res.get("xtensawin")
    if x:
        budget = cost.ARCHES["xtensawin"].clock_hz / 48000
        lines.append("")
        lines.append(f"## xtensawin (ESP32-S3 @ 240 MHz, {budget:.0f} cycles/sample) - static "
                     "count of the loop body (viper)")
        lines.append(f"{'kernel':<24}{'instr':>8}{'ld/st':>8}{'branch':>8}{'mul':>8}"
                     f"{'~cycles':>8}{'%CPU':>8}")
        for group in ("anchor", "viper", "io"):
            for name, s in x[group].items():
                cyc = cost.xtensa_static_cycles(s)
                lines.append(f"{group + '.' + name:<24}{s['instructions']:>8}"
                             f"{s['loads_stores']:>8}{s['branches']:>8}{s['multiplies']:>8}"
                             f"{cyc:>8}{_fmt(100 * cyc / budget)}")
        costs = {k: cost.xtensa_static_cycles(v) for k, v in x["viper"].items()}
        tot = chain_total(costs)
        io = sum(cost.xtensa_static_cycles(v) for v in x["io"].values())
        if tot is not None:
            lines.append(f"chain 8 biquads + table + 2 gains (viper): ~{tot:.0f} cycles/sample "
                         f"= {100 * tot / budget:.1f} % CPU (upper bound); + I/O "
                         f"{100 * (tot + io) / budget:.1f} %")
        mix = chain_mix_total(costs)
        if mix is not None:
            lines.append(f"  mix 3 full + 5 fast sections (viper): ~{mix:.0f} cycles/sample = "
                         f"{100 * mix / budget:.1f} %; + I/O {100 * (mix + io) / budget:.1f} %")
            fast8 = 8 * costs["biquad_fast"] + costs["table"] + 2 * costs["gain"]
            lines.append(f"  best case, 8 fast sections without feedback (viper): ~{fast8:.0f} "
                         f"cycles/sample = {100 * fast8 / budget:.1f} %")
        if x.get("xtensa"):
            lines.append("")
            lines.append("asm_xtensa kernels (kernels_xtensa.chain, shipped as viper code) - "
                         "emulated (XtensaMachine): 1 cycle/instruction, +1 per load/store, "
                         "+2 per taken branch")
            lines.append(f"{'kernel':<24}{'instr':>8}{'cycles':>8}{'ld/st':>8}{'taken':>8}"
                         f"{'%CPU':>8}")
            for name, s in x["xtensa"].items():
                lines.append(f"{'xtensa.' + name:<24}{_fmt(s['instructions'])}"
                             f"{_fmt(s['cycles'])}{_fmt(s['loads_stores'])}"
                             f"{_fmt(s['taken_branches'])}{_fmt(100 * s['cycles'] / budget)}")
            acosts = dict(costs)
            acosts.update({k: v["cycles"] for k, v in x["xtensa"].items()})
            tot = chain_total(acosts)
            mix = chain_mix_total(acosts)
            lines.append(f"chain 8 biquads + table + 2 gains (asm, sum of stages): {tot:.0f} "
                         f"cycles/sample = {100 * tot / budget:.1f} %; mix 3 full + 5 fast: "
                         f"{mix:.0f} = {100 * mix / budget:.1f} %")
            tc = x["xtensa_chain"]
            c = tc["per_sample"]["cycles"]
            lines.append(f"chain() program, the same 11 stages in one call: {c:.0f} cycles/sample "
                         f"= {100 * c / budget:.1f} % + {tc['per_block_overhead_cycles']:.0f} "
                         f"cycles per block; + viper I/O {io:.0f}: "
                         f"{100 * (c + io) / budget:.1f} %")
            c = x["xtensa_chain_mix"]["per_sample"]["cycles"]
            lines.append(f"chain() program, mix 3 full + 5 fast sections: {c:.0f} cycles/sample "
                         f"= {100 * c / budget:.1f} %; + viper I/O "
                         f"{100 * (c + io) / budget:.1f} %")
            lines.append("instructions executed: " + " ".join(x.get("xtensa_mnemonics", [])))
        for note in x["notes"]:
            lines.append(f"note: {note}")
    u = res.get("unix")
    if u:
        lines.append("")
        lines.append("## unix port (x64 MicroPython, wall time, best of 5)")
        if "ratio" in u:
            lines.append(f"passthrough {u['passthrough_us_per_sample'] * 1000:.2f} ns/sample, "
                         f"chain {u['chain_us_per_sample'] * 1000:.2f} ns/sample, "
                         f"ratio {u['ratio']:.1f}x; one kernel call from Python "
                         f"{u['call_us'] * 1000:.0f} ns = {u['call_in_passthrough_samples']:.0f} "
                         "passthrough samples")
        eng = u.get("engine", {})
        if "per_block_us" in eng:
            pas = u["passthrough_us_per_sample"]
            lines.append(f"Engine.process ({eng['stages']} stages, viper): block 32 "
                         f"{eng['block_us']['32']:.2f} us, block 256 {eng['block_us']['256']:.2f}"
                         f" us -> per block {eng['per_block_us'] * 1000:.0f} ns "
                         f"(= {eng['per_block_us'] / pas:.0f} passthrough samples) + per sample "
                         f"{eng['per_sample_us'] * 1000:.1f} ns")
        dis = u.get("dispatch", {})
        if "x64_instr_per_block" in dis:
            lines.append(f"valgrind: Engine.process ({dis['stages']} stages in {dis['calls']} "
                         f"kernel calls) executes {dis['x64_instr_per_block']:.0f} x64 "
                         f"instructions per block (dispatch) + {dis['x64_instr_per_sample']:.0f}"
                         " per sample (kernels)")
            for arch in ("armv6m", "armv7emsp", "xtensawin"):
                est = cost.dispatch_estimate(res, arch)
                if est:
                    lines.append(f"  -> {arch}: dispatch ~{est['cycles_per_call']:.0f} "
                                 f"cycles per kernel call (x {est['instr_ratio']:.2f} instr, "
                                 f"x {est['cpi']:.2f} CPI); at block {est['block']}: "
                                 f"{est['cycles_per_sample']:.0f} cycles/sample for "
                                 f"{dis['calls']} calls = {est['percent']:.0f} % CPU")
        for note in u.get("notes", []) + eng.get("notes", []) + dis.get("notes", []):
            lines.append(f"note: {note}")
    return "\n".join(lines)


def _plain(obj):
    """RunStats / XtensaLoop -> dicts for JSON."""
    if hasattr(obj, "__dataclass_fields__"):
        d = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
        if "helper_calls" in d:  # runtime helpers called per sample (must be none)
            d["helper_calls"] = sum(d["helper_calls"].values())
        return d
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def run_all(unix: bool = True) -> dict:
    res = {"machine": machine_info()}
    for arch in ("armv6m", "armv7emsp"):
        res[arch] = _plain(measure_thumb_arch(arch))
    try:  # (the static count needs Capstone 6; the ARM tables do not: a review)
        res["xtensawin"] = _plain(measure_xtensawin())
        res["xtensawin"].update(_plain(measure_xtensawin_asm()))
    except EmulatorError as e:
        res["notes"] = [f"xtensawin not measured: {e}"]
    if unix:
        res["unix"] = measure_unix()
        eng = measure_engine_unix()
        res["unix"]["engine"] = eng
        if "per_block_us" in eng and "passthrough_us_per_sample" in res["unix"]:
            res["unix"]["engine_block_overhead_in_passthrough_samples"] = (
                eng["per_block_us"] / res["unix"]["passthrough_us_per_sample"])
        res["unix"]["dispatch"] = measure_dispatch_valgrind()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--update", action="store_true",
                    help="rewrite the cost model's data (host/pedaltool/pedal/cost_data.json)")
    ap.add_argument("--no-unix", action="store_true", help="skip the MicroPython unix timing")
    ap.add_argument("--update-xtensa", action="store_true",
                    help="measure only the asm_xtensa kernels and write just those into the "
                         "cost data (keeps every other measured number)")
    a = ap.parse_args(argv)
    if a.update_xtensa:
        res = {"machine": machine_info(), "xtensawin": _plain(measure_xtensawin())}
        res["xtensawin"].update(_plain(measure_xtensawin_asm()))
        print(report(res))
        print(f"\nwrote {cost.update_xtensa_asm(res['xtensawin'])}")
        return 0
    if a.update and a.no_unix:
        ap.error("--update needs the unix-port measurements (drop --no-unix)")
    if a.update:
        try:  # (before the minutes of measuring, not after: a review)
            xtensa_disassemble(b"")
        except EmulatorError as e:
            ap.error(f"--update measures every arch: {e}")
    res = run_all(unix=not a.no_unix)
    print(report(res))
    for note in res.get("notes", []):
        print(f"note: {note}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    if a.update:
        path = cost.write_cost_data(res)
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
