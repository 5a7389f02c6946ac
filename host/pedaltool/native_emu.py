"""Run mpy-cross's Thumb machine code in an instruction-level emulator and count cycles.

Why: "measured, not estimated" (issue 4). We execute the exact machine code of a compiled
``@micropython.viper`` or ``@micropython.asm_thumb`` function in the ``unicorn`` engine, with
a fake MicroPython runtime around it, and count every executed instruction with a per-core
timing table (``capstone`` classifies the instructions).

Viper calling convention (py/emitnative.c, seen in the disassembly): the entry gets
``r0 = function object``, ``r1 = n_args``, ``r2 = n_kw``, ``r3 = args[]``; it loads
``self->context`` (+4), from it the qstr table (+8) and the constant table (+12) whose entry 0
is ``mp_fun_table``. Arguments are converted with ``mp_fun_table[3]``
(``mp_convert_obj_to_native``) and ``return`` loads ``mp_fun_table[0]`` (``None``) or calls
``mp_convert_native_to_obj``. We pass raw machine values as the "objects" and make both
conversions the identity, so ``args`` are simply pointers and integers. Every other entry of the
fake ``mp_fun_table`` is a stub that is counted (``helper_calls``) and returns its first
argument; the per-sample loops must not call any.

``asm_thumb`` functions are called directly with their arguments in r0..r3 (MicroPython's
``fun_asm_call`` passes a buffer's address for buffer objects and the value for ints).

Timing tables (cycles):
- ``armv6m`` = Cortex-M0+ (RP2040), ARM DDI 0484C table 3-1: 1 per instruction, except
  loads/stores 2, ``push/pop/ldm/stm`` 1+N, ``pop {..pc}`` 3+N, taken branches 2 (``b<cond>``
  not taken 1), ``bl`` 3, ``bx/blx`` 2, ``muls`` 1 (RP2040 has the fast single-cycle
  multiplier). Code and data are in zero-wait-state SRAM (the heap), as on the device.
- ``armv7emsp`` = an approximate Cortex-M33 (RP2350) table: loads/stores 2, ``ldrd/strd`` 3,
  ``push/pop/ldm/stm`` 1+N, taken branches 2, ``pop {..pc}`` 3+N, ``bl`` 2, multiplies 1
  (``smull`` 1-2, counted 2), ``sdiv`` 11 (worst case). No credit for load pipelining.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

from pedaltool.errors import PedaltoolError

CODE_BASE = 0x0800_0000
STUB_BASE = 0x0810_0000
N_STUBS = 128
OBJ_BASE = 0x0820_0000  # function object, context, constant table, args array
DATA_BASE = 0x2000_0000
DATA_SIZE = 0x0040_0000
STACK_TOP = 0x2080_0000
STACK_SIZE = 0x0010_0000
EXIT_ADDR = 0x0830_0000  # lr for the top-level call; emulation stops there

CPU_HZ = {"armv6m": 125e6, "armv7emsp": 150e6, "xtensawin": 240e6}


class EmulatorError(PedaltoolError):
    """The emulator is unavailable or the machine code did something unexpected."""


@dataclass
class RunStats:
    """What one emulated call executed (stub instructions excluded)."""

    instructions: int = 0
    cycles: int = 0
    loads_stores: int = 0
    taken_branches: int = 0
    helper_calls: Counter = field(default_factory=Counter)

    def minus(self, other: RunStats) -> RunStats:
        return RunStats(self.instructions - other.instructions, self.cycles - other.cycles,
                        self.loads_stores - other.loads_stores,
                        self.taken_branches - other.taken_branches,
                        self.helper_calls - other.helper_calls)


_LOADSTORE = ("ldr", "str")
_MULTI = ("push", "pop", "ldm", "stm")
_BRANCH_COND = ("beq", "bne", "bcs", "bhs", "bcc", "blo", "bmi", "bpl", "bvs", "bvc", "bhi",
                "bls", "bge", "blt", "bgt", "ble", "cbz", "cbnz")

# Instructions that exist on ARMv6-M (Thumb-1 + a few Thumb-2): used to check asm kernels.
ARMV6M_MNEMONICS = frozenset("""
adc adcs add adds adr and ands asr asrs b bl blx bx bic bics bkpt cmn cmp cpsid cpsie dmb dsb
eor eors isb ldm ldmia ldr ldrb ldrh ldrsb ldrsh lsl lsls lsr lsrs mov movs mrs msr mul muls
mvn mvns neg negs rsbs nop orr orrs pop push rev rev16 revsh ror rors rsb sbc sbcs sev stm
stmia str strb strh sub subs svc sxtb sxth tst udf uxtb uxth wfe wfi yield
""".split()) | frozenset(_BRANCH_COND[:-2]) | frozenset({"bal"})


def _base_mnemonic(mn: str) -> str:
    mn = mn.split(".")[0]
    return mn


def _cost(arch: str, mn: str, op_str: str) -> tuple[int, int, bool]:
    """(cycles if not taken, extra cycles if taken, is_load_store) for one instruction."""
    mn = _base_mnemonic(mn)
    nregs = op_str.count(",") + 1 if "{" in op_str else 0
    if "{" in op_str:
        inner = op_str[op_str.index("{") + 1:op_str.index("}")]
        nregs = 0
        for part in inner.split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(x.strip()[1:]) for x in part.split("-"))
                nregs += b - a + 1
            elif part:
                nregs += 1
    if mn.startswith(_MULTI):
        pc = "pc" in op_str
        return (1 + nregs + (2 if pc else 0), 0, True)
    if mn in ("bl",):
        return (3 if arch == "armv6m" else 2, 0, False)
    if mn in ("bx", "blx"):
        return (2 if arch == "armv6m" else 3, 0, False)
    if mn == "b":
        return (2, 0, False)
    if mn in _BRANCH_COND:
        return (1, 1, False)
    if mn in ("ldrd", "strd"):
        return (3, 0, True)
    if mn.startswith(_LOADSTORE) and not mn.startswith(("ldrex", "strex")):
        # pc-relative literal loads are loads too
        return (2, 0, True)
    if mn in ("smull", "umull", "smlal", "umlal"):
        return (1 if arch == "armv6m" else 2, 0, False)
    if mn in ("sdiv", "udiv"):
        return (11, 0, False)
    if mn in ("mov", "add") and op_str.startswith("pc"):
        return (2, 0, False)
    return (1, 0, False)


class _BumpRam:
    """Bump allocation in an emulated machine's RAM, ``[_data_top, _data_end)``, written with
    the machine's own ``write``."""

    _data_top: int
    _data_end: int

    def alloc(self, data: bytes | int, align: int = 8) -> int:
        """Place ``data`` (or that many zero bytes) in RAM; return its address."""
        raw = bytes(data)
        addr = (self._data_top + align - 1) & ~(align - 1)
        if addr + len(raw) > self._data_end:
            raise EmulatorError("emulator RAM exhausted")
        self.write(addr, raw)
        self._data_top = addr + max(len(raw), 1)
        return addr


class ThumbMachine(_BumpRam):
    """A Cortex-M with a fake MicroPython runtime, for one compiled module's functions.

    ``arch`` is ``armv6m`` (Cortex-M0 core model, M0+ timing) or ``armv7emsp`` (Cortex-M33
    core model, approximate timing).
    """

    def __init__(self, arch: str = "armv6m"):
        try:
            import capstone
            import unicorn
            import unicorn.arm_const as A
        except ImportError as e:  # dev extra
            raise EmulatorError(f"emulator needs unicorn and capstone ({e.name} missing; "
                                "pip install 'pedaltool[dev]')") from e
        if arch not in ("armv6m", "armv7emsp"):
            raise EmulatorError(f"ThumbMachine: arch {arch!r} is not a Thumb target")
        self.arch = arch
        self._A = A
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        model = A.UC_CPU_ARM_CORTEX_M0 if arch == "armv6m" else A.UC_CPU_ARM_CORTEX_M33
        self.uc.ctl_set_cpu_model(model)
        self.cs = capstone.Cs(capstone.CS_ARCH_ARM,
                              capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        uc = self.uc
        uc.mem_map(CODE_BASE, 0x10_0000)
        uc.mem_map(STUB_BASE, 0x1_0000)
        uc.mem_map(OBJ_BASE, 0x1_0000)
        uc.mem_map(EXIT_ADDR, 0x1000)
        uc.mem_map(DATA_BASE, DATA_SIZE)
        uc.mem_map(STACK_TOP - STACK_SIZE, STACK_SIZE)
        # stubs: "bx lr" each; fun_table[i] -> stub i (thumb bit set)
        uc.mem_write(STUB_BASE, struct.pack("<H", 0x4770) * (2 * N_STUBS))
        uc.mem_write(EXIT_ADDR, struct.pack("<H", 0xBE00))  # bkpt (never executed)
        self.fun_table = OBJ_BASE + 0x100
        uc.mem_write(self.fun_table, struct.pack(f"<{N_STUBS}I",
                                                 *[STUB_BASE + 4 * i + 1 for i in range(N_STUBS)]))
        self.const_table = OBJ_BASE + 0x40
        uc.mem_write(self.const_table, struct.pack("<I", self.fun_table))
        self.context = OBJ_BASE + 0x20
        uc.mem_write(self.context, struct.pack("<4I", 0, 0, OBJ_BASE + 0x800, self.const_table))
        self.fun_obj = OBJ_BASE
        uc.mem_write(self.fun_obj, struct.pack("<2I", 0, self.context))
        self.args_addr = OBJ_BASE + 0x600
        self._code_top = CODE_BASE
        self._data_top, self._data_end = DATA_BASE, DATA_BASE + DATA_SIZE
        self._info: dict[int, tuple[int, int, bool, int, str]] = {}
        self._stats = RunStats()
        self._prev: tuple[int, int, int] | None = None  # (addr, size, taken_extra)
        self._count_helpers = True
        uc.hook_add(unicorn.UC_HOOK_CODE, self._on_code, begin=CODE_BASE,
                    end=CODE_BASE + 0x10_0000 - 1)
        uc.hook_add(unicorn.UC_HOOK_CODE, self._on_stub, begin=STUB_BASE,
                    end=STUB_BASE + 8 * N_STUBS)

    # -- memory -----------------------------------------------------------------------------
    def load_code(self, code: bytes) -> int:
        """Copy machine code into the code region; return its address (even, no thumb bit)."""
        addr = (self._code_top + 63) & ~63
        self.uc.mem_write(addr, bytes(code))
        self._code_top = addr + len(code)
        return addr

    def write(self, addr: int, data: bytes) -> None:
        self.uc.mem_write(addr, bytes(data))

    def read(self, addr: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(addr, n))

    # -- hooks ------------------------------------------------------------------------------
    def _decode(self, addr: int) -> tuple[int, int, bool, int, str]:
        info = self._info.get(addr)
        if info is None:
            raw = self.read(addr, 4)
            ins = next(self.cs.disasm(raw, addr, 1), None)
            if ins is None:
                raise EmulatorError(f"undecodable instruction at {addr:#x}: {raw.hex()}")
            base, taken, ls = _cost(self.arch, ins.mnemonic, ins.op_str)
            info = (base, taken, ls, ins.size, ins.mnemonic)
            self._info[addr] = info
        return info

    def _close_prev(self, addr: int) -> None:
        if self._prev is not None:
            paddr, psize, ptaken = self._prev
            if addr != paddr + psize and ptaken:
                self._stats.cycles += ptaken
                self._stats.taken_branches += 1
            self._prev = None

    def _on_code(self, uc, addr, size, _user) -> None:
        self._close_prev(addr)
        base, taken, ls, isize, mn = self._decode(addr)
        st = self._stats
        st.instructions += 1
        st.cycles += base
        if ls:
            st.loads_stores += 1
        if mn in ("b", "bl", "bx", "blx"):
            st.taken_branches += 1
        self._prev = (addr, isize, taken)

    def _on_stub(self, uc, addr, size, _user) -> None:
        if (addr - STUB_BASE) % 4:
            return  # the stub's second halfword is never reached
        self._prev = None
        idx = (addr - STUB_BASE) // 4
        self._stats.helper_calls[idx] += 1
        # identity conversions: mp_convert_obj_to_native / mp_convert_native_to_obj
        # (r0 already holds the value; every stub returns its first argument)

    # -- calls ------------------------------------------------------------------------------
    def _run(self, entry: int, regs: dict[int, int], max_instructions: int) -> tuple[int, RunStats]:
        A = self._A
        uc = self.uc
        for reg, val in regs.items():
            uc.reg_write(reg, val & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_SP, STACK_TOP - 64)
        uc.reg_write(A.UC_ARM_REG_LR, EXIT_ADDR | 1)
        self._stats = RunStats()
        self._prev = None
        try:
            uc.emu_start(entry | 1, EXIT_ADDR, count=max_instructions)
        except Exception as e:  # unicorn.UcError
            pc = uc.reg_read(A.UC_ARM_REG_PC)
            raise EmulatorError(f"emulation failed at pc={pc:#x}: {e}") from e
        pc = uc.reg_read(A.UC_ARM_REG_PC)
        if pc & ~1 != EXIT_ADDR:
            raise EmulatorError(f"function did not return within {max_instructions} "
                                f"instructions (pc={pc:#x})")
        self._close_prev(EXIT_ADDR)
        return uc.reg_read(A.UC_ARM_REG_R0), self._stats

    def call_viper(self, entry: int, args: list[int],
                   max_instructions: int = 50_000_000) -> tuple[int, RunStats]:
        """Call a viper function at ``entry`` with raw argument values (pointers/ints)."""
        A = self._A
        self.uc.mem_write(self.args_addr,
                          struct.pack(f"<{len(args)}I", *[a & 0xFFFFFFFF for a in args]))
        return self._run(entry, {A.UC_ARM_REG_R0: self.fun_obj, A.UC_ARM_REG_R1: len(args),
                                 A.UC_ARM_REG_R2: 0, A.UC_ARM_REG_R3: self.args_addr},
                         max_instructions)

    def call_asm(self, entry: int, args: list[int],
                 max_instructions: int = 50_000_000) -> tuple[int, RunStats]:
        """Call an asm_thumb function at ``entry`` with up to 4 raw arguments in r0..r3."""
        A = self._A
        if len(args) > 4:
            raise EmulatorError("asm_thumb functions take at most 4 arguments")
        regs = {A.UC_ARM_REG_R0 + i: a for i, a in enumerate(args)}
        return self._run(entry, regs, max_instructions)

    def disassemble(self, addr: int, size: int) -> list[tuple[int, str, str]]:
        """(address, mnemonic, operands) of the code at ``addr``."""
        return [(i.address, i.mnemonic, i.op_str) for i in self.cs.disasm(self.read(addr, size),
                                                                           addr)]


def per_sample(run, n_small: int, n_large: int) -> RunStats:
    """Cost per sample from two block sizes: ``(run(n_large) - run(n_small)) / (n_large -
    n_small)``, which cancels the call overhead (entry, argument conversion, return).

    ``run(n)`` must return RunStats; the result's fields are per sample (floats).
    """
    a, b = run(n_small), run(n_large)
    d = b.minus(a)
    k = n_large - n_small
    out = RunStats(d.instructions / k, d.cycles / k, d.loads_stores / k, d.taken_branches / k,
                   d.helper_calls)
    return out


# -- xtensawin: static count of the disassembled loop body -----------------------------------

_XT_LOADSTORE = ("l32i", "l16ui", "l16si", "l8ui", "s32i", "s16i", "s8i", "l32r")


@dataclass
class XtensaLoop:
    """The innermost-to-outermost per-sample loop of one xtensawin function, counted statically.

    ``instructions`` counts every instruction between the loop head and the backward branch
    (both branches of an ``if`` inside the loop are included: an upper bound per sample).
    """

    instructions: int
    loads_stores: int
    branches: int
    multiplies: int
    start: int
    end: int


def capstone_operand(text: str, addr: int) -> int:
    """One Capstone Xtensa operand of the instruction at ``addr`` as :func:`xtensa_decode`
    gives it: ``aN`` -> N, a number as it is, and ``. +N`` / ``. -N`` (a branch relative to
    the instruction) or ``. N`` (an l32r literal's address) -> the absolute address."""
    text = text.strip()
    if text[:1] == "a" and text[1:].isdigit():
        return int(text[1:])
    if text.startswith(". "):
        rel = text[2:]
        if rel[0] in "+-":
            return addr + int(rel, 0)
        return int(rel, 0)
    return int(text, 0)


def xtensa_disassemble(code: bytes, start: int = 0) -> list[tuple[int, int, str, str]]:
    """(address, size, mnemonic, operands) per instruction, by the Capstone 6 engine (the
    dev dependency ``capstone6pwndbg``; capstone 5 has no Xtensa): operands as binutils'
    objdump gives them where it matters here, a branch's or jump's target as an absolute
    address in hex, last. (binutils' xtensa objdump did this until 2026-12-07; it is not
    pip-installable, and the tests now check :func:`xtensa_decode` against Capstone.)
    Native functions start with ``j`` over a literal pool: decoding restarts at its target
    so that the pool's bytes cannot desynchronise the instruction stream."""
    try:
        import capstone6pwndbg as cs
    except ImportError as e:
        raise EmulatorError("the xtensa loop counts need Capstone 6 (pip install "
                            "capstone6pwndbg, a dev dependency)") from e

    md = cs.Cs(cs.CS_ARCH_XTENSA, cs.CS_MODE_LITTLE_ENDIAN)
    rows = []
    for ins in md.disasm(code[start:], start):
        parts = [t.strip() for t in ins.op_str.split(",")] if ins.op_str else []
        if parts and parts[-1].startswith(". "):  # a target: absolute, in hex
            parts[-1] = f"{capstone_operand(parts[-1], ins.address):#x}"
        rows.append((ins.address, ins.size, ins.mnemonic, ", ".join(parts)))
    if start == 0 and rows and rows[0][2] == "j":
        target = int(rows[0][3].split()[0], 16)
        return rows[:1] + xtensa_disassemble(code, target)
    return rows


def xtensa_loop(code: bytes) -> XtensaLoop:
    """Count the body of the outermost loop (largest backward branch range) of a function."""
    rows = xtensa_disassemble(code)
    # viper functions start with "j" over a literal pool; the code proper starts at its target
    code_start = 0
    if rows and rows[0][2] == "j":
        code_start = int(rows[0][3].split()[0], 16)
        rows = [r for r in rows if r[0] >= code_start]
    best: tuple[int, int] | None = None
    for addr, _size, mn, ops in rows:
        if mn == "j" or mn.startswith("b"):
            target = ops.split(",")[-1].strip().split()[0]
            try:
                t = int(target, 16)
            except ValueError:
                continue
            if code_start <= t < addr and (best is None or addr - t > best[1] - best[0]):
                best = (t, addr)
    if best is None:
        raise EmulatorError("no loop found in xtensawin code")
    body = [r for r in rows if best[0] <= r[0] <= best[1]]
    return XtensaLoop(
        instructions=len(body),
        loads_stores=sum(r[2].startswith(_XT_LOADSTORE) for r in body),
        branches=sum(r[2] == "j" or (r[2].startswith("b") and r[2] not in ("break",))
                     for r in body),
        multiplies=sum(r[2].startswith("mul") for r in body),
        start=best[0], end=best[1])


# -- xtensawin: an instruction-level emulator for the asm_xtensa kernels ----------------------
#
# unicorn/capstone have no Xtensa, so this is a small interpreter of exactly the Xtensa core
# instructions that mpy-cross emits for our @micropython.asm_xtensa kernels (Xtensa ISA
# Reference Manual encodings, little-endian: 24-bit op0[3:0] t[7:4] s[11:8] r[15:12]
# op1[19:16] op2[23:20]; the narrow 16-bit forms have op0 = 8..13). Anything else raises
# EmulatorError, so a kernel cannot silently run an instruction the model does not know.
#
# The windowed call is modelled from the callee's side: the function starts with its arguments
# in a2..a5 (what CALLX8 hands over), ``entry a1, N`` subtracts N from a1, ``retw``/``retw.n``
# with a0 == XT_EXIT ends the run. Registers a6..a15 start with random garbage (after a real
# ENTRY they hold the caller's a14.. and stale values), so reading one before writing it shows.
# Memory: byte-addressed regions; a misaligned l32i/s32i/l16*/s16i raises (as on the LX core:
# LoadStoreAlignment exception), so does any access outside the mapped regions.
#
# Timing (ESP32-S3 LX7, the static model's rules, now applied to executed instructions): 1
# cycle per instruction, +1 per load/store (l32i, l32i.n, l32r, l16si, l16ui, l8ui, s32i,
# s32i.n, s16i, s8i: the load-use interlock, counted whether or not the next instruction uses
# the value), +2 per taken branch or jump (j, b*, retw). mull counts 1 (pipelined MUL32).

XT_CODE_BASE = 0x4037_0000  # IRAM-like (native code is committed to IRAM on esp32)
XT_DATA_BASE = 0x3FC9_0000  # DRAM-like: < 0x40000000, so addresses fit a small int
XT_DATA_SIZE = 0x0020_0000
XT_STACK_TOP = 0x3FCF_0000
XT_STACK_SIZE = 0x0001_0000
XT_EXIT = 0x8000_0000 | 0x3FFF_FFF0  # a0 for the top-level call (call8 bits | fake address)
XT_OBJ_ARRAY_ITEMS = 12  # offsetof(mp_obj_array_t, items) on a 32-bit port (py/objarray.h)

_XT_LS = frozenset(("l32i", "l32i.n", "l32r", "l16si", "l16ui", "l8ui", "s32i", "s32i.n",
                    "s16i", "s8i"))
_XT_B_RRI8 = {0: "bnone", 1: "beq", 2: "blt", 3: "bltu", 4: "ball", 5: "bbc", 8: "bany",
              9: "bne", 10: "bge", 11: "bgeu", 12: "bnall", 13: "bbs"}
_XT_RST0 = {1: "and", 2: "or", 3: "xor", 8: "add", 9: "addx2", 10: "addx4", 11: "addx8",
            12: "sub", 13: "subx2", 14: "subx4", 15: "subx8"}
_XT_LSAI = {0: "l8ui", 1: "l16ui", 2: "l32i", 4: "s8i", 5: "s16i", 6: "s32i", 9: "l16si",
            10: "movi", 12: "addi", 13: "addmi"}


def _sx(v: int, bits: int) -> int:
    """Sign-extend the low ``bits`` of v."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def xtensa_decode(code: bytes, off: int, pc: int) -> tuple[str, int, tuple]:
    """Decode one instruction at ``code[off:]`` located at address ``pc``.

    Returns (mnemonic, size, operands): registers as ints, immediates resolved (branch and
    l32r targets as absolute addresses). Raises EmulatorError for anything outside the set
    this emulator implements."""
    b0 = code[off]
    op0 = b0 & 15
    if op0 >= 8:  # narrow (code density option)
        if off + 2 > len(code):
            raise EmulatorError(f"truncated instruction at {pc:#x}")
        w = b0 | (code[off + 1] << 8)
        t, s, r = (w >> 4) & 15, (w >> 8) & 15, (w >> 12) & 15
        if op0 == 8:
            return "l32i.n", 2, (t, s, r << 2)
        if op0 == 9:
            return "s32i.n", 2, (t, s, r << 2)
        if op0 == 10:
            return "add.n", 2, (r, s, t)
        if op0 == 11:
            return "addi.n", 2, (r, s, t if t else -1)
        if op0 == 12:
            if t & 8 == 0:  # MOVI.N: imm7 = t[2:0]:r, -32..95
                imm = ((t & 7) << 4) | r
                return "movi.n", 2, (s, imm - 128 if imm >= 96 else imm)
            imm6 = ((t & 3) << 4) | r
            return ("beqz.n" if t & 4 == 0 else "bnez.n"), 2, (s, pc + 4 + imm6)
        if op0 == 13:
            if r == 0:
                return "mov.n", 2, (t, s)
            if r == 15 and s == 0:
                name = {0: "ret.n", 1: "retw.n", 3: "nop.n"}.get(t)
                if name:
                    return name, 2, ()
        raise EmulatorError(f"unsupported narrow instruction {w:04x} at {pc:#x}")
    if off + 3 > len(code):
        raise EmulatorError(f"truncated instruction at {pc:#x}")
    w = b0 | (code[off + 1] << 8) | (code[off + 2] << 16)
    t, s, r = (w >> 4) & 15, (w >> 8) & 15, (w >> 12) & 15
    op1, op2 = (w >> 16) & 15, (w >> 20) & 15
    imm8 = (w >> 16) & 255
    if op0 == 0:
        if op1 == 0:
            if op2 == 0:
                if r == 0:
                    m, n = t >> 2, t & 3
                    if m == 2 and n in (0, 1):
                        return ("ret" if n == 0 else "retw"), 3, ()
                if r == 2 and s == 0 and t == 15:
                    return "nop", 3, ()
            elif op2 in _XT_RST0:
                return _XT_RST0[op2], 3, (r, s, t)
            elif op2 == 4:
                if r == 0 and t == 0:
                    return "ssr", 3, (s,)
                if r == 1 and t == 0:
                    return "ssl", 3, (s,)
                if r == 4:
                    return "ssai", 3, (s | ((t & 1) << 4),)
            elif op2 == 6:
                if s == 0:
                    return "neg", 3, (r, t)
                if s == 1:
                    return "abs", 3, (r, t)
        elif op1 == 1:
            if op2 in (0, 1):
                return "slli", 3, (r, s, 32 - (((op2 & 1) << 4) | t))
            if op2 in (2, 3):
                return "srai", 3, (r, t, ((op2 & 1) << 4) | s)
            if op2 == 4:
                return "srli", 3, (r, t, s)
            if op2 == 9 and s == 0:
                return "srl", 3, (r, t)
            if op2 == 10 and t == 0:
                return "sll", 3, (r, s)
            if op2 == 11 and s == 0:
                return "sra", 3, (r, t)
        elif op1 == 2 and op2 == 8:
            return "mull", 3, (r, s, t)
        raise EmulatorError(f"unsupported instruction {w:06x} at {pc:#x}")
    if op0 == 1:  # L32R: always a negative offset from the aligned pc
        imm16 = (w >> 8) & 0xFFFF
        addr = ((pc + 3) & ~3) + ((imm16 - 0x10000) << 2)
        return "l32r", 3, (t, addr)
    if op0 == 2:
        name = _XT_LSAI.get(r)
        if name is None:
            raise EmulatorError(f"unsupported load/store {w:06x} at {pc:#x}")
        if name == "movi":
            return name, 3, (t, _sx((s << 8) | imm8, 12))
        if name == "addi":
            return name, 3, (t, s, _sx(imm8, 8))
        if name == "addmi":
            return name, 3, (t, s, _sx(imm8, 8) << 8)
        scale = {"l8ui": 0, "s8i": 0, "l16ui": 1, "l16si": 1, "s16i": 1}.get(name, 2)
        return name, 3, (t, s, imm8 << scale)
    if op0 == 6:
        n, m = t & 3, t >> 2
        if n == 0:
            return "j", 3, (pc + 4 + _sx(w >> 6, 18),)
        if n == 1:
            return ("beqz", "bnez", "bltz", "bgez")[m], 3, (s, pc + 4 + _sx(w >> 12, 12))
        if n == 3 and m == 0:
            return "entry", 3, (s, (w >> 12) << 3)
        raise EmulatorError(f"unsupported SI instruction {w:06x} at {pc:#x}")
    if op0 == 7:
        if r in (6, 7, 14, 15):
            bit = ((r & 1) << 4) | t
            return ("bbci" if r < 8 else "bbsi"), 3, (s, bit, pc + 4 + _sx(imm8, 8))
        name = _XT_B_RRI8.get(r)
        if name is not None:
            return name, 3, (s, t, pc + 4 + _sx(imm8, 8))
    raise EmulatorError(f"unsupported instruction {w:06x} at {pc:#x}")


def xtensa_disasm_text(mn: str, ops: tuple) -> str:
    """objdump-like text of a decoded instruction (for listings and tests)."""
    regs = {"l32i.n": "rrI", "s32i.n": "rrI", "add.n": "rrr", "addi.n": "rrI", "movi.n": "rI",
            "beqz.n": "rA", "bnez.n": "rA", "mov.n": "rr", "ssr": "r", "ssl": "r", "ssai": "I",
            "neg": "rr", "abs": "rr", "slli": "rrI", "srai": "rrI", "srli": "rrI", "srl": "rr",
            "sll": "rr", "sra": "rr", "mull": "rrr", "l32r": "rA", "movi": "rI", "addi": "rrI",
            "addmi": "rrI", "j": "A", "beqz": "rA", "bnez": "rA", "bltz": "rA", "bgez": "rA",
            "entry": "rI", "bbci": "rIA", "bbsi": "rIA"}
    kinds = regs.get(mn)
    if kinds is None:
        if mn in _XT_LS:
            kinds = "rrI"
        elif mn in _XT_B_RRI8.values():
            kinds = "rrA"
        elif mn in _XT_RST0.values():
            kinds = "rrr"
        else:
            kinds = ""
    parts = []
    for k, v in zip(kinds, ops, strict=False):
        parts.append(f"a{v}" if k == "r" else (f"{v:#x}" if k == "A" else str(v)))
    return (mn + " " + ", ".join(parts)).strip()


class XtensaMachine(_BumpRam):
    """An Xtensa LX (windowed ABI, as on ESP32/ESP32-S3) running one asm kernel at a time.

    ``call_viper(entry, args)`` calls machine code the way MicroPython calls a viper-kind
    function (py/objfun.c fun_viper_call: ``fun(self_in, n_args, n_kw, args)``): a2 = function
    object, a3 = n_args, a4 = n_kw = 0, a5 = address of the array of argument objects.
    Arguments are mp_obj_t words: build them with ``small_int(v)`` and ``array_obj(...)``.
    """

    def __init__(self, seed: int = 12345):
        import random

        self.rnd = random.Random(seed)
        self.code = bytearray()
        self.data = bytearray(XT_DATA_SIZE)
        self.stack = bytearray(XT_STACK_SIZE)
        self._data_top, self._data_end = XT_DATA_BASE, XT_DATA_BASE + XT_DATA_SIZE
        self._dec: dict[int, tuple[str, int, tuple]] = {}
        self.mnemonics: Counter = Counter()
        self.coverage: set[int] | None = None  # set() to record every executed address
        self.fun_obj = self.alloc(16)

    # -- memory -----------------------------------------------------------------------------
    def load_code(self, code: bytes) -> int:
        """Append machine code to the code region (4-aligned, for l32r); return its address."""
        while len(self.code) % 4:
            self.code.append(0)
        addr = XT_CODE_BASE + len(self.code)
        self.code += bytes(code)
        self._dec.clear()
        return addr

    def _region(self, addr: int, n: int) -> tuple[bytearray, int]:
        if XT_DATA_BASE <= addr and addr + n <= XT_DATA_BASE + XT_DATA_SIZE:
            return self.data, addr - XT_DATA_BASE
        lo = XT_STACK_TOP - XT_STACK_SIZE
        if lo <= addr and addr + n <= XT_STACK_TOP:
            return self.stack, addr - lo
        if XT_CODE_BASE <= addr and addr + n <= XT_CODE_BASE + len(self.code):
            return self.code, addr - XT_CODE_BASE
        raise EmulatorError(f"access to unmapped address {addr:#x} ({n} bytes)")

    def write(self, addr: int, data: bytes) -> None:
        mem, off = self._region(addr, len(data))
        mem[off:off + len(data)] = data

    def read(self, addr: int, n: int) -> bytes:
        mem, off = self._region(addr, n)
        return bytes(mem[off:off + n])

    def small_int(self, v: int) -> int:
        """MICROPY_OBJ_REPR_A small int object: (v << 1) | 1."""
        return ((v << 1) | 1) & 0xFFFFFFFF

    def array_obj(self, items_addr: int, n: int, typecode: str = "h") -> int:
        """A fake mp_obj_array_t {base.type, typecode:8|free:24, len, items} pointing at
        ``items_addr`` (py/objarray.h); kernels read only ``items`` (offset 12)."""
        return self.alloc(struct.pack("<4I", 0x3F40_0000, ord(typecode), n, items_addr), 4)

    # -- execution --------------------------------------------------------------------------
    def decode(self, pc: int) -> tuple[str, int, tuple]:
        d = self._dec.get(pc)
        if d is None:
            off = pc - XT_CODE_BASE
            if not 0 <= off < len(self.code):
                raise EmulatorError(f"jump outside the code: pc={pc:#x}")
            d = xtensa_decode(self.code, off, pc)
            self._dec[pc] = d
        return d

    def disassemble(self, addr: int, size: int) -> list[tuple[int, str, str]]:
        """(address, mnemonic, text) from ``addr`` (skip a leading literal pool yourself)."""
        out = []
        pc = addr
        while pc < addr + size:
            mn, sz, ops = self.decode(pc)
            out.append((pc, mn, xtensa_disasm_text(mn, ops)))
            pc += sz
        return out

    def call_viper(self, entry: int, args: list[int],
                   max_instructions: int = 20_000_000) -> tuple[int, RunStats]:
        """Run the function at ``entry`` as MicroPython calls a viper function; return (a2,
        stats). ``args`` are mp_obj_t words (see small_int / array_obj)."""
        args_addr = self.alloc(struct.pack(f"<{max(len(args), 1)}I",
                                           *([a & 0xFFFFFFFF for a in args] or [0])), 4)
        a = [self.rnd.getrandbits(32) for _ in range(16)]
        a[0] = XT_EXIT
        a[1] = XT_STACK_TOP - 64
        a[2], a[3], a[4], a[5] = self.fun_obj, len(args), 0, args_addr
        return self._run(entry, a, max_instructions)

    def _run(self, pc: int, a: list[int], max_instructions: int) -> tuple[int, RunStats]:
        st = RunStats()
        sar = self.rnd.randrange(64)
        mask = 0xFFFFFFFF
        n = 0
        mns = self.mnemonics
        decode = self.decode
        cov = self.coverage
        while True:
            if cov is not None:
                cov.add(pc)
            n += 1
            if n > max_instructions:
                raise EmulatorError(f"no return within {max_instructions} instructions")
            mn, size, o = decode(pc)
            mns[mn] += 1
            nxt = pc + size
            cyc = 1
            if mn in _XT_LS:
                cyc = 2
                st.loads_stores += 1
                if mn == "l32r":
                    a[o[0]] = struct.unpack("<I", self._load(o[1], 4))[0]
                else:
                    t, s, off = o
                    addr = (a[s] + off) & mask
                    if mn == "l32i" or mn == "l32i.n":
                        a[t] = struct.unpack("<I", self._load(addr, 4))[0]
                    elif mn == "l16si":
                        a[t] = struct.unpack("<h", self._load(addr, 2))[0] & mask
                    elif mn == "l16ui":
                        a[t] = struct.unpack("<H", self._load(addr, 2))[0]
                    elif mn == "l8ui":
                        a[t] = self._load(addr, 1)[0]
                    elif mn == "s32i" or mn == "s32i.n":
                        self._store(addr, struct.pack("<I", a[t]))
                    elif mn == "s16i":
                        self._store(addr, struct.pack("<H", a[t] & 0xFFFF))
                    else:  # s8i
                        self._store(addr, bytes((a[t] & 0xFF,)))
            elif mn == "mull":
                a[o[0]] = (a[o[1]] * a[o[2]]) & mask
            elif mn == "add" or mn == "add.n":
                a[o[0]] = (a[o[1]] + a[o[2]]) & mask
            elif mn == "addx2":
                a[o[0]] = ((a[o[1]] << 1) + a[o[2]]) & mask
            elif mn == "addx4":
                a[o[0]] = ((a[o[1]] << 2) + a[o[2]]) & mask
            elif mn == "addx8":
                a[o[0]] = ((a[o[1]] << 3) + a[o[2]]) & mask
            elif mn == "sub":
                a[o[0]] = (a[o[1]] - a[o[2]]) & mask
            elif mn == "subx2":
                a[o[0]] = ((a[o[1]] << 1) - a[o[2]]) & mask
            elif mn == "subx4":
                a[o[0]] = ((a[o[1]] << 2) - a[o[2]]) & mask
            elif mn == "subx8":
                a[o[0]] = ((a[o[1]] << 3) - a[o[2]]) & mask
            elif mn == "and":
                a[o[0]] = a[o[1]] & a[o[2]]
            elif mn == "or":
                a[o[0]] = a[o[1]] | a[o[2]]
            elif mn == "xor":
                a[o[0]] = a[o[1]] ^ a[o[2]]
            elif mn == "addi" or mn == "addi.n" or mn == "addmi":
                a[o[0]] = (a[o[1]] + o[2]) & mask
            elif mn == "movi" or mn == "movi.n":
                a[o[0]] = o[1] & mask
            elif mn == "mov.n":
                a[o[0]] = a[o[1]]
            elif mn == "neg":
                a[o[0]] = (-a[o[1]]) & mask
            elif mn == "abs":
                v = _sx(a[o[1]], 32)
                a[o[0]] = abs(v) & mask
            elif mn == "slli":
                a[o[0]] = (a[o[1]] << o[2]) & mask
            elif mn == "srai":
                a[o[0]] = (_sx(a[o[1]], 32) >> o[2]) & mask
            elif mn == "srli":
                a[o[0]] = a[o[1]] >> o[2]
            elif mn == "ssr":
                sar = a[o[0]] & 31
            elif mn == "ssl":
                sar = 32 - (a[o[0]] & 31)
            elif mn == "ssai":
                sar = o[0]
            elif mn == "sra":
                a[o[0]] = (_sx(a[o[1]], 32) >> sar) & mask if sar < 32 else \
                    (mask if a[o[1]] >> 31 else 0)
            elif mn == "srl":
                a[o[0]] = a[o[1]] >> sar if sar < 32 else 0
            elif mn == "sll":
                a[o[0]] = (a[o[1]] << (32 - sar)) & mask
            elif mn == "entry":
                a[o[0]] = (a[o[0]] - o[1]) & mask
            elif mn == "nop" or mn == "nop.n":
                pass
            elif mn == "retw" or mn == "retw.n":
                st.instructions += 1
                st.cycles += 3
                st.taken_branches += 1
                if a[0] != XT_EXIT:
                    raise EmulatorError(f"retw with a0={a[0]:#x} (a0 was not preserved)")
                return a[2], st
            else:  # branches
                taken = False
                if mn == "j":
                    taken = True
                    nxt = o[0]
                else:
                    if mn in ("beqz", "beqz.n"):
                        taken = a[o[0]] == 0
                    elif mn in ("bnez", "bnez.n"):
                        taken = a[o[0]] != 0
                    elif mn == "bltz":
                        taken = a[o[0]] >> 31 == 1
                    elif mn == "bgez":
                        taken = a[o[0]] >> 31 == 0
                    elif mn in ("bbci", "bbsi"):
                        bit = (a[o[0]] >> o[1]) & 1
                        taken = bit == (mn == "bbsi")
                    else:
                        x, y = a[o[0]], a[o[1]]
                        if mn == "beq":
                            taken = x == y
                        elif mn == "bne":
                            taken = x != y
                        elif mn == "blt":
                            taken = _sx(x, 32) < _sx(y, 32)
                        elif mn == "bge":
                            taken = _sx(x, 32) >= _sx(y, 32)
                        elif mn == "bltu":
                            taken = x < y
                        elif mn == "bgeu":
                            taken = x >= y
                        elif mn == "bany":
                            taken = (x & y) != 0
                        elif mn == "bnone":
                            taken = (x & y) == 0
                        elif mn == "ball":
                            taken = (x & y) == y
                        elif mn == "bnall":
                            taken = (x & y) != y
                        elif mn == "bbc":
                            taken = (x >> (y & 31)) & 1 == 0
                        elif mn == "bbs":
                            taken = (x >> (y & 31)) & 1 == 1
                        else:
                            raise EmulatorError(f"no semantics for {mn} at {pc:#x}")
                    if taken:
                        nxt = o[-1]
                if taken:
                    cyc += 2
                    st.taken_branches += 1
            st.instructions += 1
            st.cycles += cyc
            pc = nxt

    def _load(self, addr: int, n: int) -> bytes:
        if addr % n:
            raise EmulatorError(f"misaligned {n}-byte load at {addr:#x}")
        return self.read(addr, n)

    def _store(self, addr: int, data: bytes) -> None:
        if addr % len(data):
            raise EmulatorError(f"misaligned {len(data)}-byte store at {addr:#x}")
        if XT_CODE_BASE <= addr < XT_CODE_BASE + len(self.code):
            raise EmulatorError(f"store into the code at {addr:#x}")
        self.write(addr, data)


class XtensaChain:
    """Runs the asm_xtensa ``chain(buf, n, prog)`` kernel (firmware/pedalcore/kernels_xtensa.py)
    in an XtensaMachine with Python data: builds the program records (addresses in emulator
    RAM), copies the block in and out, and reads the section states back.

    ``stages``: ("bq", c_ints12, s_ints6) | ("gain", m0, step, sh) |
    ("table", t_ints, pmax, gm0, step, gs, off), in order.
    """

    def __init__(self, machine: XtensaMachine, entry: int, stages: list[tuple], nmax: int = 512):
        self.m, self.entry = machine, entry
        self.stages = stages
        self.buf = machine.alloc(2 * nmax, 4)
        self.nmax = nmax
        self.state_addrs: list[int] = []
        words: list[int] = []
        for st in stages:
            if st[0] == "bq":
                c = machine.alloc(struct.pack("<12i", *st[1]), 4)
                s = machine.alloc(struct.pack("<6i", *st[2]), 4)
                self.state_addrs.append(s)
                words += [1, c, s]
            elif st[0] == "gain":
                words += [2, st[1], st[2], st[3]]
            elif st[0] == "table":
                t = machine.alloc(struct.pack(f"<{len(st[1])}h", *st[1]), 4)
                words += [3, t, *st[2:]]
            else:
                raise EmulatorError(f"unknown chain stage {st[0]!r}")
        words.append(0)
        self.prog = machine.alloc(struct.pack(f"<{len(words)}I",
                                              *[w & 0xFFFFFFFF for w in words]), 4)
        self.prog_len = len(words)
        self.buf_obj = machine.array_obj(self.buf, nmax, "h")
        self.prog_obj = machine.array_obj(self.prog, len(words), "i")

    def set_words(self, index: int, values: list[int]) -> None:
        """Overwrite program words (e.g. a gain's m0/step before a block)."""
        self.m.write(self.prog + 4 * index,
                     struct.pack(f"<{len(values)}I", *[v & 0xFFFFFFFF for v in values]))

    def run(self, x: list[int]) -> tuple[list[int], RunStats, int]:
        """One block in place: returns (samples, stats, returned object word)."""
        n = len(x)
        if n > self.nmax:
            raise EmulatorError("block larger than the buffer")
        if n:
            self.m.write(self.buf, struct.pack(f"<{n}h", *x))
        ret, st = self.m.call_viper(self.entry, [self.buf_obj, self.m.small_int(n),
                                                 self.prog_obj])
        y = list(struct.unpack(f"<{n}h", self.m.read(self.buf, 2 * n))) if n else []
        return y, st, ret

    def states(self) -> list[list[int]]:
        return [list(struct.unpack("<6i", self.m.read(a, 24))) for a in self.state_addrs]
