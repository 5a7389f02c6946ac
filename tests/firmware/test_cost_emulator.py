"""The emulator harness counts what it should, and the asm_thumb kernels are bit-identical.

MicroPython's unix port on x64 cannot run Thumb code, so the asm kernels are compiled with
mpy-cross and executed in unicorn (pedaltool.native_emu) against the plain-Python reference
(firmware/pedalcore/arith.py, blockio_ref.py) on random and full-scale inputs.
"""

import importlib
import math
import random
import struct
import sys
import types
from array import array

import pytest
from fwref import (
    engine_blocks,
    engine_outputs,
    every_kind_pedal,
    eleven_stage_pedal,
    fw_import,
)
from pedaltool import mpy
from pedaltool.native_emu import ARMV6M_MNEMONICS, ThumbMachine, per_sample
from pedaltool.paths import firmware_dir

pytest.importorskip("unicorn", reason="dev extra: pip install 'pedaltool[dev]'")

FW = firmware_dir()
THUMB_SRC = FW / "pedalcore" / "kernels_thumb.py"
ASM_NAMES = ("chain", "unpack_in", "mix")


@pytest.fixture(scope="module")
def blockio_ref():
    return fw_import("blockio_ref")


@pytest.fixture(scope="module")
def machine():
    m = ThumbMachine("armv6m")
    fs = mpy.compile_functions(THUMB_SRC, "armv6m")
    entries = {name: m.load_code(fs[name].code) for name in ASM_NAMES}
    return m, entries, fs


class Emu:
    """Calls an asm kernel with Python arrays/ints: arrays are copied in and back out."""

    def __init__(self, m, entry):
        self.m, self.entry = m, entry

    def __call__(self, *args):
        addrs = []
        for a in args:
            if isinstance(a, (array, bytearray)):
                addrs.append(self.m.alloc(bytes(a)))
            else:
                addrs.append(int(a))
        r0, _ = self.m.call_asm(self.entry, addrs)
        for a, ad in zip(args, addrs, strict=True):
            if isinstance(a, array):
                a[:] = array(a.typecode, self.m.read(ad, len(a) * a.itemsize))
            elif isinstance(a, bytearray):
                a[:] = self.m.read(ad, len(a))
        return r0 - (1 << 32) if r0 & 0x80000000 else r0


class _SharedMemory:
    """uctypes for the emulator with a board's one memory: addressof copies an array into
    emulator RAM once (the same address for the same array: a tap and its mix share their
    slot, env and table the bias), and around each asm chain() call every such array is
    copied in and back, so the engine's own writes (reset, a state zeroed) and the chain's
    reach each other."""

    def __init__(self, m):
        self.m = m
        self.arrays = {}  # id -> (array, address)
        self.module = types.ModuleType("uctypes")
        self.module.addressof = self.addressof

    def addressof(self, a):
        if id(a) not in self.arrays:
            self.arrays[id(a)] = (a, self.m.alloc(a.tobytes()))
        return self.arrays[id(a)][1]

    def around(self, call):
        def synced(*args):
            for a, addr in self.arrays.values():
                self.m.write(addr, a.tobytes())
            r = call(*args)
            for a, addr in self.arrays.values():
                a[:] = array(a.typecode, self.m.read(addr, len(a) * a.itemsize))
            return r
        return synced


@pytest.fixture(scope="module")
def thumb(machine, arith):
    """kernels_thumb imported under CPython, its asm functions running in the emulator, with
    a uctypes whose arrays share the emulator's memory (``_SharedMemory``) installed while
    the module's tests run."""
    m, entries, _ = machine
    mem = _SharedMemory(m)
    fake_mp = types.ModuleType("micropython")

    def asm_thumb(f):
        emu = Emu(m, entries[f.__name__])
        return mem.around(emu) if f.__name__ == "chain" else emu

    fake_mp.asm_thumb = asm_thumb
    fake_mp.viper = lambda f: f
    fake_mp.const = lambda x: x
    saved = {k: sys.modules.get(k) for k in ("micropython", "pedalcore.kernels")}
    sys.modules["micropython"] = fake_mp
    sys.modules["pedalcore.kernels"] = arith  # the non-asm kernels: the reference
    try:
        sys.modules.pop("pedalcore.kernels_thumb", None)
        mod = importlib.import_module("pedalcore.kernels_thumb")
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        sys.modules.pop("pedalcore.kernels_thumb", None)
    saved_uctypes = sys.modules.get("uctypes")
    sys.modules["uctypes"] = mem.module
    yield mod
    if saved_uctypes is None:
        sys.modules.pop("uctypes", None)
    else:
        sys.modules["uctypes"] = saved_uctypes


def _signals(rnd, n):
    yield [rnd.randint(-32768, 32767) for _ in range(n)]  # random full range
    yield [rnd.choice((-32768, 32767)) for _ in range(n)]  # full-scale square
    yield [int(32767 * math.sin(0.05 * i)) for i in range(n)]  # full-scale sine
    yield [rnd.randint(-300, 300) for _ in range(n)]  # quiet


# ---------------------------------------------------------------- the harness counts right
def test_known_count_tiny_asm_loop(tmp_path):
    """sub/bne loop: exactly 2 instructions and 3 cycles (1 + taken branch 2) per iteration."""
    src = tmp_path / "loop.py"
    src.write_text("@micropython.asm_thumb\ndef spin(r0):\n    label(L)\n    sub(r0, 1)\n"
                   "    bne(L)\n")
    m = ThumbMachine("armv6m")
    e = m.load_code(mpy.compile_functions(src, "armv6m")["spin"].code)
    s = per_sample(lambda n: m.call_asm(e, [n])[1], 10, 110)
    assert (s.instructions, s.cycles, s.taken_branches) == (2, 3, 1)
    _, total = m.call_asm(e, [1])
    # push {r1, lr}-style prologue (1+N), sub, bne not taken (1), pop {.., pc} (3+N)
    assert total.instructions == 4 and total.taken_branches == 0


def test_known_count_viper_passthrough():
    """The viper passthrough loop is 27 Thumb instructions / 40 M0+ cycles per sample
    (counted by hand from its disassembly: 15 one-cycle ops, 11 loads/stores/push/pop of
    2 cycles, 2 taken branches of 2... see docs/performance.md)."""
    anchor = FW.parent / "benchmarks" / "viper_biquad_q14.py"
    m = ThumbMachine("armv6m")
    fs = mpy.compile_functions(anchor, "armv6m")
    e = m.load_code(fs["passthrough"].code)
    buf = m.alloc(bytes(512))
    s = per_sample(lambda n: m.call_viper(e, [buf, n])[1], 16, 80)
    assert (s.instructions, s.cycles, s.loads_stores, s.taken_branches) == (27, 40, 11, 2)
    assert not s.helper_calls  # the loop calls no runtime helper


def test_anchor_biquad_reproduces_published_count():
    """notes/mcu.md §2.3: a plain Q14 viper biquad is ~130 instructions / ~200 cycles."""
    anchor = FW.parent / "benchmarks" / "viper_biquad_q14.py"
    m = ThumbMachine("armv6m")
    e = m.load_code(mpy.compile_functions(anchor, "armv6m")["biquad"].code)
    rnd = random.Random(3)
    buf = m.alloc(struct.pack("<128h", *[rnd.randint(-8000, 8000) for _ in range(128)]))
    c = m.alloc(struct.pack("<5i", 4000, 8000, 4000, -20000, 9000))
    st = m.alloc(16)
    s = per_sample(lambda n: m.call_viper(e, [buf, n, c, st])[1], 32, 96)
    assert 115 <= s.instructions <= 140
    assert 170 <= s.cycles <= 215


def test_asm_kernels_use_only_armv6m_instructions(machine):
    m, entries, fs = machine
    for name in ASM_NAMES:
        code = fs[name].code
        bad = {mn for _, mn, _ in m.disassemble(entries[name], len(code))
               if mn.split(".")[0] not in ARMV6M_MNEMONICS}
        assert not bad, f"{name}: not ARMv6-M: {bad}"


# ---------------------------------------------------------------- bit identity vs arith.py
def _rand_section(rnd):
    r = rnd.uniform(0.2, 0.9995)
    th = rnd.uniform(0.0005, 3.1)
    g = rnd.uniform(0.05, 2.5)
    zr, zt = rnd.uniform(0, 1.0), rnd.uniform(0, 3.14)
    co = (g, -2 * zr * math.cos(zt) * g, zr * zr * g, -2 * r * math.cos(th), r * r)
    return [round(v * (1 << 26)) for v in co]


def _fast_section(rnd):
    """A random section with Q12 coefficients (multiples of 2^14 in Q26): the fast path."""
    return [(v >> 14) << 14 for v in _rand_section(rnd)]


def test_biquad_bit_identical(thumb, arith):
    rnd = random.Random(11)
    clipped = 0
    for trial in range(24):
        nsec = 3
        c = []
        for k in range(nsec):
            if (trial + k) % 3 == 0:  # a fast section (Q12 coefficients): FAST / HALF loops
                c += arith.biquad_kernel_coefs(_fast_section(rnd),
                                               *rnd.choice(((0, 0), (2, -1), (1, 0), (0, 1))))
            else:
                c += arith.biquad_kernel_coefs(_rand_section(rnd), rnd.choice((0, 1, 2)),
                                               rnd.choice((-1, 0, 1)))
        for x in _signals(rnd, rnd.choice((1, 17, 64))):
            ref, got, got2 = list(x), array("h", x), array("h", x)
            s_ref, s_got = [0] * (6 * nsec), array("i", [0] * (6 * nsec))
            s_got2 = array("i", [0] * (6 * nsec))
            ca = array("i", c)
            for _block in range(2):  # the state carries over between blocks
                for k in range(nsec):
                    arith.biquad_block(ref, len(x), c, s_ref, 12 * k)
                    thumb.biquad_block(got, len(x), ca, s_got, 12 * k)
                thumb.biquad_cascade_block(got2, len(x), ca, s_got2, nsec)
                assert list(got) == ref, f"trial {trial}"
                assert list(s_got) == s_ref, f"trial {trial}: state"
                assert list(got2) == ref, f"trial {trial}: cascade"
                assert list(s_got2) == s_ref, f"trial {trial}: cascade state"
            clipped += sum(v in (-32768, 32767) for v in ref)
    assert clipped > 100  # the saturation path was exercised


def test_gain_bit_identical(thumb, arith):
    rnd = random.Random(12)
    for trial in range(40):
        n = rnd.choice((1, 9, 64))
        sh = rnd.randint(0, 15)
        step = rnd.randint(-50, 50)
        m0 = rnd.randint(-32767 + 50 * n, 32767 - 50 * n)
        for x in _signals(rnd, n):
            ref, got = list(x), array("h", x)
            assert thumb.gain_block(got, n, m0, step, sh) == arith.gain_block(ref, n, m0,
                                                                              step, sh)
            assert list(got) == ref, f"trial {trial} sh {sh} m0 {m0} step {step}"


def test_table_bit_identical(thumb, arith):
    rnd = random.Random(13)
    for trial in range(30):
        nseg = rnd.choice((16, 64, 256, 1024))
        t = [rnd.randint(-32768, 32767) for _ in range(nseg + 1)]
        t.append(t[-1])
        pmax = nseg << 8
        gs = rnd.randint(2, 14)
        gm0 = rnd.randint(-65000, 65000)
        step = rnd.randint(-4, 4)
        off = rnd.randint(-pmax, 2 * pmax)
        ta = array("h", t)
        for x in _signals(rnd, rnd.choice((1, 33, 64))):
            ref, got = list(x), array("h", x)
            assert thumb.table_block(got, len(x), ta, pmax, gm0, step, gs, off) == \
                arith.table_block(ref, len(x), t, pmax, gm0, step, gs, off)
            assert list(got) == ref, f"trial {trial}"


def test_tone_bit_identical(thumb, arith):
    rnd = random.Random(15)
    for trial in range(30):
        n = rnd.choice((1, 17, 64))
        c = rnd.randint(1, 32767)
        glo0, ghi0 = rnd.randint(2048, 16383), rnd.randint(2048, 16383)
        slo, shi = rnd.randint(-16, 16), rnd.randint(-16, 16)
        for x in _signals(rnd, n):
            st_r = [rnd.randint(-(1 << 22), 1 << 22)]
            st_g = array("i", st_r)
            ref, got = list(x), array("h", x)
            assert thumb.tone_block(got, n, st_g, c, glo0, slo, ghi0, shi) == \
                arith.tone_block(ref, n, st_r, c, glo0, slo, ghi0, shi)
            assert list(got) == ref, f"trial {trial}"
            assert list(st_g) == st_r


def test_delay_bit_identical(thumb, arith):
    rnd = random.Random(16)
    for _trial in range(20):
        size = rnd.choice((16, 64, 256))
        d = rnd.randint(0, size - 1)
        ring_r = [rnd.randint(-32768, 32767) for _ in range(size)]
        ring_g = array("h", ring_r)
        st_r = [rnd.randint(0, size - 1)]
        st_g = array("i", st_r)
        for _block in range(3):
            x = [rnd.randint(-32768, 32767) for _ in range(rnd.choice((1, 32, 64)))]
            ref, got = list(x), array("h", x)
            arith.delay_block(ref, len(x), ring_r, st_r, d, size - 1)
            thumb.delay_block(got, len(x), ring_g, st_g, d, size - 1)
            assert list(got) == ref and list(ring_g) == ring_r and list(st_g) == st_r


def test_env_and_biased_table_bit_identical(thumb, arith):
    rnd = random.Random(17)
    for trial in range(24):
        n = rnd.choice((1, 19, 64))
        ca, cr = rnd.randint(1, 32767), rnd.randint(1, 32767)
        dm, ds = rnd.randint(-4096, 4096), rnd.randint(0, 12)
        nseg = rnd.choice((64, 256))
        t = [rnd.randint(-32768, 32767) for _ in range(nseg + 1)]
        t.append(t[-1])
        ta = array("h", t)
        pmax, gm0, step = nseg << 8, rnd.randint(-60000, 60000), rnd.randint(-3, 3)
        gs, off = rnd.randint(2, 14), rnd.randint(0, nseg << 8)
        for x in _signals(rnd, n):
            st_r = [rnd.randint(0, 1 << 23)]
            st_g = array("i", st_r)
            bias_r, bias_g = [0] * n, array("i", [0] * n)
            arith.env_block(x, n, st_r, ca, cr, dm, ds, bias_r)
            thumb.env_block(array("h", x), n, st_g, ca, cr, dm, ds, bias_g)
            assert list(bias_g) == bias_r and list(st_g) == st_r, f"env trial {trial}"
            ref, got = list(x), array("h", x)
            assert thumb.table_bias_block(got, n, ta, pmax, gm0, step, gs, off, bias_g) == \
                arith.table_bias_block(ref, n, t, pmax, gm0, step, gs, off, bias_r)
            assert list(got) == ref, f"table_bias trial {trial}"


def test_tap_and_mix_bit_identical(thumb, arith):
    rnd = random.Random(18)
    for _trial in range(24):
        n = rnd.choice((1, 23, 64))
        m, sh = rnd.randint(-32767, 32767), rnd.randint(0, 15)
        for x in _signals(rnd, n):
            slot_r, slot_g = [0] * n, array("h", [0] * n)
            arith.tap_block(x, n, slot_r)
            thumb.tap_block(array("h", x), n, slot_g)
            assert list(slot_g) == slot_r
            y = [rnd.randint(-32768, 32767) for _ in range(n)]
            ref, got = list(y), array("h", y)
            arith.mix_block(ref, n, slot_r, m, sh)
            thumb.mix_block(got, n, slot_g, m, sh)
            assert list(got) == ref


def test_io_kernels_bit_identical(thumb, blockio_ref):
    """unpack_in / mix_out == blockio_ref (I2S buffers: bytearrays of little-endian 32-bit
    slots; the asm reads/writes them as words, which is the same bytes on little-endian ARM)."""
    rnd = random.Random(14)
    for trial in range(20):
        n = rnd.choice((1, 32, 64))
        for x in _signals(rnd, n):
            slots = struct.pack(f"<{n}i", *[(v << 16) | rnd.randint(0, 0xFFFF) for v in x])
            dry_r, wet_r = array("h", [0] * n), array("h", [0] * n)
            dry_g, wet_g = array("h", [0] * n), array("h", [0] * n)
            src = bytearray(slots)
            assert thumb.unpack_in(src, dry_g, wet_g, n) == blockio_ref.unpack_in(
                bytearray(slots), dry_r, wet_r, n)
            assert dry_g == dry_r and wet_g == wet_r
            wet = [rnd.randint(-32768, 32767) for _ in range(n)]
            w0, w1 = rnd.choice((0, 32768)), rnd.choice((0, 32768, 16384))
            v0, v1 = rnd.randint(0, 32768), rnd.randint(0, 32768)
            if trial % 4 == 0:
                v0 = v1 = 32768
            dst_r, dst_g = bytearray(4 * n), bytearray(4 * n)
            assert thumb.mix_out(array("h", x), array("h", wet), dst_g, n, w0, w1, v0, v1) == \
                blockio_ref.mix_out(array("h", x), array("h", wet), dst_r, n, w0, w1, v0, v1)
            assert dst_g == dst_r


def test_drop_ins_end_their_program(thumb, arith):
    """The drop-ins share one program array: after a longer record (the biased table's 9
    words, its gm0 and off set to 2 so that the words after a gain or a table record would
    read as a gain record of mantissa 0) a shorter one runs alone, as the reference."""
    rnd = random.Random(19)
    t = [rnd.randint(-32768, 32767) for _ in range(17)]
    t.append(t[-1])
    ta, bias = array("h", t), array("i", [300] * 8)
    for call in (lambda k, b: k.gain_block(b, 8, 20000, 3, 14),
                 lambda k, b: k.table_block(b, 8, ta if k is thumb else t, 16 << 8, 30000, 0,
                                            12, 2048)):
        x = [rnd.randint(-20000, 20000) for _ in range(8)]
        got, ref = array("h", x), list(x)
        thumb.table_bias_block(array("h", x), 8, ta, 16 << 8, 2, 0, 12, 2, bias)
        call(thumb, got)
        call(arith, ref)
        assert list(got) == ref and any(ref)


def test_zero_length_blocks_are_noops(thumb):
    buf = array("h", [123, -5])
    for n in (0, -1):  # a negative n is no block either (arith's range() runs none)
        assert thumb.gain_block(buf, n, 100, 1, 3) == 100
        thumb.tap_block(buf, n, array("h", [9, 9]))
        thumb.env_block(buf, n, array("i", [0]), 100, 100, 1, 0, array("i", [7, 7]))
    assert list(buf) == [123, -5]
    thumb.biquad_block(buf, 0, array("i", [1 << 12] + [0] * 11), array("i", [0] * 6), 0)
    thumb.biquad_cascade_block(buf, 0, array("i", [1 << 12] + [0] * 11), array("i", [0] * 6), 1)
    thumb.biquad_cascade_block(buf, 2, array("i", [1 << 12] + [0] * 11), array("i", [0] * 6), 0)
    assert thumb.gain_block(buf, 0, 100, 1, 3) == 100
    thumb.table_block(buf, 0, array("h", [0] * 18), 16 << 8, 1000, 0, 8, 0)
    assert thumb.tone_block(buf, 0, array("i", [0]), 100, 8192, 1, 8192, 1) == 8192
    st = array("i", [3])
    thumb.delay_block(buf, 0, array("h", [0] * 16), st, 2, 15)
    bias = array("i", [7, 7])
    thumb.env_block(buf, 0, st, 100, 100, 1, 0, bias)
    assert thumb.table_bias_block(buf, 0, array("h", [0] * 18), 16 << 8, 99, 1, 8, 0,
                                  bias) == 99
    slot = array("h", [1, 1])
    thumb.tap_block(buf, 0, slot)
    thumb.mix_block(buf, 0, slot, 1000, 3)
    assert list(buf) == [123, -5] and st[0] == 3 and list(bias) == [7, 7]
    assert list(slot) == [1, 1]


def test_asm_is_faster_than_viper_in_the_emulator(machine):
    """The asm biquad must beat the firmware's viper biquad (the reason it exists)."""
    kernels = FW / "pedalcore" / "kernels.py"
    assert kernels.is_file(), "firmware/pedalcore/kernels.py missing"
    m, entries, _ = machine
    kf = mpy.compile_functions(kernels, "armv6m")
    ev = m.load_code(kf["biquad_block"].code)
    ar = fw_import("arith")
    c = m.alloc(struct.pack("<12i", *ar.biquad_kernel_coefs(_rand_section(random.Random(1)),
                                                             2, -1)))
    st = m.alloc(24)
    buf = m.alloc(struct.pack("<128h", *range(-64 * 100, 64 * 100, 100)))
    v = per_sample(lambda n: m.call_viper(ev, [buf, n, c, st, 0])[1], 32, 96)
    prog = m.alloc(struct.pack("<4i", 1, c, st, 0))  # one biquad record
    a = per_sample(lambda n: m.call_asm(entries["chain"], [buf, n, prog])[1], 32, 96)
    assert a.cycles < 0.5 * v.cycles


def test_engine_with_thumb_kernels_equals_reference(thumb, machine, arith):
    """The drop-in claim end to end: the firmware Engine running a real 11-stage .pedal with
    the asm kernels (in the emulator) gives the reference engine's output sample for sample.
    The engine runs the whole chain as one asm chain() program per block (Engine CHAIN op)."""
    pedal = eleven_stage_pedal()
    blocks = engine_blocks(6)
    knobs = {3: [("drive", 900)]}  # a ramp inside the block
    ref = engine_outputs(arith, pedal, blocks, knobs)
    # one asm chain() call per block for the whole model
    assert engine_outputs(thumb, pedal, blocks, knobs, one_chain=True) == ref
    assert any(v != 0 for blk in ref for v in blk)


def test_engine_runs_every_stage_kind_in_one_thumb_chain(thumb, arith, monkeypatch):
    """Delay, tap, env_bias -> biased table, mix and tone join the biquads, gains and tables
    in the one asm chain() call per block (docs/performance.md "Dispatch") and give the
    reference engine's (one kernel call per stage) output sample for sample: the drive, tone
    and level knobs gliding together and the tone alone, a reset and a prewarm in between,
    the gate on."""
    engine = fw_import("engine")
    pedal = every_kind_pedal()
    blocks = engine_blocks(60, seed=5)
    outs = []
    for k in (arith, thumb):
        monkeypatch.setattr(engine, "K", k)
        e = engine.Engine(pedal, 32)
        if k is thumb:
            assert [op.kind for op in e.ops] == [engine.CHAIN] and e.ops[0].f == 1
        out = []
        for b, blk in enumerate(blocks):
            if b == 2:
                e.set_knob("drive", 1000)
            elif b == 9:
                e.set_knob("tone", 100)
                e.set_knob("level", 700)
            elif b == 24:
                e.set_knob("tone", 1023)  # the tone alone
            elif b == 40:
                e.reset()
                e.prewarm()
                e.set_gate(-40.0)
            buf = array("h", blk)
            e.process(buf)
            out.append(list(buf))
        outs.append(out)
    assert outs[1] == outs[0]
    assert any(v != 0 for blk in outs[0][3:] for v in blk)


def test_chain_program_bit_identical(machine, arith):
    """chain(buf, n, prog): random programs of biquad/gain/table records == the reference
    kernels called one after another (states carried over two blocks)."""
    m, entries, _ = machine
    rnd = random.Random(31)
    for trial in range(12):
        stages = [rnd.choice(("biquad", "biquad", "gain", "table")) for _ in range(6)]
        prog, ref_calls = [], []
        for kind in stages:
            if kind == "biquad":
                # full sections, and fast ones (Q12: the HALF and FAST loops)
                sec = _rand_section(rnd) if rnd.random() < 0.5 else _fast_section(rnd)
                c = arith.biquad_kernel_coefs(sec, rnd.choice((0, 1, 2)), rnd.choice((-1, 0, 1)))
                st = [0] * 6
                ca = m.alloc(struct.pack("<12i", *c))
                sa = m.alloc(bytes(24))
                prog += [1, ca, sa]
                ref_calls.append(("biquad", c, st, sa))
            elif kind == "gain":
                m0, step, sh = rnd.randint(-30000, 30000), rnd.randint(-20, 20), rnd.randint(0, 15)
                prog += [2, m0, step, sh]
                ref_calls.append(("gain", m0, step, sh))
            else:
                t, ta, *params = _rand_table(m, rnd, (16, 256), 2)
                prog += [3, ta, *params]
                ref_calls.append(("table", t, *params))
        prog.append(0)
        pa = m.alloc(struct.pack(f"<{len(prog)}i", *prog))
        for x in _signals(rnd, 32):
            ref = list(x)
            ba = m.alloc(struct.pack("<32h", *x))
            for _block in range(2):
                for call in ref_calls:
                    if call[0] == "biquad":
                        arith.biquad_block(ref, 32, call[1], call[2], 0)
                    elif call[0] == "gain":
                        arith.gain_block(ref, 32, *call[1:])
                    else:
                        arith.table_block(ref, 32, *call[1:])
                m.call_asm(entries["chain"], [ba, 32, pa])
                got = list(struct.unpack("<32h", m.read(ba, 64)))
                assert got == ref, f"trial {trial} {stages}"
                for call in ref_calls:
                    if call[0] == "biquad":  # states too (a FAST section keeps e1, e2)
                        assert list(struct.unpack("<6i", m.read(call[3], 24))) == call[2]
        # n = 0: nothing moves
        before = m.read(ba, 64)
        m.call_asm(entries["chain"], [ba, 0, pa])
        assert m.read(ba, 64) == before


def test_chain_records_of_every_kind_bit_identical(machine, arith):
    """chain(): random programs of tone, tap/mix, delay and env -> biased table records
    (ramps, full-scale and saturating inputs) == the reference kernels called one after
    another, states and the shared slot and bias carried over three blocks."""
    m, entries, _ = machine
    rnd = random.Random(77)
    n = 32
    for trial in range(10):
        prog, calls = [], []
        slot = m.alloc(bytes(2 * n))
        bias = m.alloc(bytes(4 * n))
        ref_slot, ref_bias = [0] * n, [0] * n
        for kind in rnd.sample(("tone", "tapmix", "delay", "envtable"), 4):
            if kind == "tone":
                c = rnd.randint(200, 30000)
                glo, slo = rnd.randint(0, 60000), rnd.randint(-300, 300)
                ghi, shi = rnd.randint(0, 60000), rnd.randint(-300, 300)
                st = m.alloc(bytes(4))
                prog += [4, st, c, glo, slo, ghi, shi]
                calls.append(("tone", [0], c, glo, slo, ghi, shi))
            elif kind == "tapmix":
                mm, sh = rnd.randint(-40000, 40000), rnd.randint(8, 16)
                prog += [5, slot]
                calls.append(("tap",))
                prog += [1, *_section_record(m, arith, rnd, calls)]
                prog += [6, slot, mm, sh]
                calls.append(("mix", mm, sh))
            elif kind == "delay":
                d = rnd.randint(1, 60)
                size = 16
                while size < d + 1:
                    size <<= 1
                ring = m.alloc(bytes(2 * size))
                st = m.alloc(bytes(4))
                prog += [7, ring, st, d, size - 1]
                calls.append(("delay", [0] * size, [0], d, size - 1))
            else:
                ca, cr = rnd.randint(1000, 30000), rnd.randint(5, 500)
                dm, ds = rnd.randint(-40000, 40000), rnd.randint(10, 16)
                prog += [8, m.alloc(bytes(4)), bias, ca, cr, dm, ds]
                calls.append(("env", [0], ca, cr, dm, ds))
                t, ta, *params = _rand_table(m, rnd, (16, 64), 4)
                prog += [9, ta, bias, *params]
                calls.append(("table_bias", t, *params))
        prog.append(0)
        pa = m.alloc(struct.pack(f"<{len(prog)}i", *prog))
        for x in _signals(rnd, n):
            ref = list(x)
            ba = m.alloc(struct.pack(f"<{n}h", *x))
            for _block in range(3):
                for call in calls:
                    name, args = call[0], call[1:]
                    if name == "tone":
                        arith.tone_block(ref, n, *args)
                    elif name == "tap":
                        arith.tap_block(ref, n, ref_slot)
                    elif name == "biquad":
                        arith.biquad_block(ref, n, args[0], args[1], 0)
                    elif name == "mix":
                        arith.mix_block(ref, n, ref_slot, *args)
                    elif name == "delay":
                        arith.delay_block(ref, n, *args)
                    elif name == "env":
                        arith.env_block(ref, n, *args, ref_bias)
                    else:
                        arith.table_bias_block(ref, n, *args, ref_bias)
                m.call_asm(entries["chain"], [ba, n, pa])
                got = list(struct.unpack(f"<{n}h", m.read(ba, 2 * n)))
                assert got == ref, f"trial {trial} {[c[0] for c in calls]}"


def _rand_table(m, rnd, sizes, gs_min):
    """A random table (its last value repeated) in emulator RAM and a table record's
    parameters: (t, t_addr, pmax, gm0, step, gs, off)."""
    nseg = rnd.choice(sizes)
    t = [rnd.randint(-32768, 32767) for _ in range(nseg + 1)]
    t.append(t[-1])
    ta = m.alloc(struct.pack(f"<{nseg + 2}h", *t))
    return (t, ta, nseg << 8, rnd.randint(-60000, 60000), rnd.randint(-3, 3),
            rnd.randint(gs_min, 14), rnd.randint(0, nseg << 8))


def _section_record(m, arith, rnd, calls):
    """A biquad between a tap and its mix (so the two paths differ): (c_addr, s_addr)."""
    c = arith.biquad_kernel_coefs(_rand_section(rnd), rnd.choice((0, 1, 2)), 0)
    calls.append(("biquad", c, [0] * 6))
    return m.alloc(struct.pack("<12i", *c)), m.alloc(bytes(24))


def test_chain_record_set_up_is_what_the_cost_model_charges(machine):
    """The chain()'s per-block cycles outside its sample loops, per record kind and at entry,
    re-measured here: cost.ARM_CHAIN_ENTRY_CYCLES and ARM_CHAIN_RECORD_CYCLES (the biquad's
    the dearest of its full, half and fast loops)."""
    from pedaltool.pedal import cost

    m, entries, _ = machine

    def fixed(prog):
        pa = m.alloc(struct.pack(f"<{len(prog) + 1}i", *prog, 0))
        c = {n: m.call_asm(entries["chain"], [m.alloc(bytes(2 * n)), n, pa])[1].cycles
             for n in (32, 96)}
        return c[32] - 32 * (c[96] - c[32]) / 64

    def buf(n):
        return m.alloc(bytes(n))

    def section(c):
        return [1, m.alloc(struct.pack("<12i", *c)), buf(24)]

    entry = fixed([])
    t = buf(2 * 66)
    records = {
        "gain": [2, 16384, 0, 14], "table": [3, t, 64 << 8, 32768, 0, 15, 1 << 13],
        "tone": [4, buf(4), 3000, 8192, 0, 8192, 0], "tap": [5, buf(64)],
        "mix": [6, buf(64), 16000, 15], "delay": [7, buf(64), buf(4), 5, 31],
        "env_bias": [8, buf(4), buf(128), 1000, 10, 1000, 14],
        "table_bias": [9, t, buf(128), 64 << 8, 32768, 0, 15, 1 << 13]}
    assert entry == cost.ARM_CHAIN_ENTRY_CYCLES
    for kind, rec in records.items():
        assert fixed(rec) - entry == cost.ARM_CHAIN_RECORD_CYCLES[kind], kind
    loops = [fixed(section(c)) - entry for c in (
        [1 << 26, 5, 6, 7, 8, 100, 200, 300, 400, 500, 100, -50],  # full
        [1 << 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, -50],  # half
        [1 << 26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]  # fast
    assert max(loops) == cost.ARM_CHAIN_RECORD_CYCLES["biquad"]


def test_chain_class_with_ramps(thumb, arith):
    """kernels_thumb.Chain (the engine-facing helper) == reference calls, incl. a gain ramp."""
    rnd = random.Random(41)
    c = arith.biquad_kernel_coefs(_rand_section(rnd), 2, -1)
    t = [round(32767 * math.tanh(3 * (i / 64 * 2 - 1))) for i in range(65)] + [0]
    t[-1] = t[-2]
    ch = thumb.Chain(64)
    g = ch.gain(16384, 0, 14)
    ch.cascade(array("i", c), array("i", [0] * 6), 1)
    tb = ch.table(array("h", t), 64 << 8, 32768, 0, 15, 1 << 15)
    ch.cascade(array("i", c), array("i", [0] * 6), 1)
    s1, s2 = [0] * 6, [0] * 6
    for blk in range(3):
        x = [rnd.randint(-20000, 20000) for _ in range(32)]
        m0, step = (16384, 0) if blk != 1 else (16384, 64)
        gm0, gstep = (32768, 0) if blk != 2 else (32768, -100)
        ch.set_ramp(g, m0, step)
        ch.set_ramp(tb, gm0, gstep)
        ref = list(x)
        arith.gain_block(ref, 32, m0, step, 14)
        arith.biquad_block(ref, 32, c, s1, 0)
        arith.table_block(ref, 32, t, 64 << 8, gm0, gstep, 15, 1 << 15)
        arith.biquad_block(ref, 32, c, s2, 0)
        buf = array("h", x)
        ch.run(buf, 32)
        assert list(buf) == ref, f"block {blk}"


def test_fast_sections_take_the_short_loops(machine):
    """Q12 sections (lo parts 0) run the HALF loop, and without feedback the 5-multiply FAST
    loop, in asm and in viper: each cheaper than the full section (docs/arithmetic.md)."""
    m, entries, _ = machine
    ar = fw_import("arith")
    kf = mpy.compile_functions(FW / "pedalcore" / "kernels.py", "armv6m")
    ev = m.load_code(kf["biquad_cascade_block"].code)
    sec = _rand_section(random.Random(1))
    q12 = [(v >> 14) << 14 for v in sec]
    buf = m.alloc(struct.pack("<128h", *range(-64 * 100, 64 * 100, 100)))
    cost = {}
    for name, coefs in (("full", ar.biquad_kernel_coefs(sec, 2, -1)),
                        ("half", ar.biquad_kernel_coefs(q12, 2, -1)),
                        ("fast", ar.biquad_kernel_coefs(q12, 0, 0))):
        c = m.alloc(struct.pack("<12i", *coefs))
        st = m.alloc(24)
        prog = m.alloc(struct.pack("<4i", 1, c, st, 0))  # one biquad record
        cost["asm", name] = per_sample(
            lambda n, prog=prog: m.call_asm(entries["chain"], [buf, n, prog])[1], 32, 96).cycles
        cost["viper", name] = per_sample(
            lambda n, c=c, st=st: m.call_viper(ev, [buf, n, c, st, 1])[1], 32, 96).cycles
    for impl in ("asm", "viper"):
        assert cost[impl, "fast"] < cost[impl, "half"] < cost[impl, "full"], cost
    assert cost["asm", "fast"] < 0.7 * cost["asm", "full"], cost
