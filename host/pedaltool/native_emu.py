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


class ThumbMachine:
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
        self._data_top = DATA_BASE
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

    def alloc(self, data: bytes | int, align: int = 8) -> int:
        """Place ``data`` (or that many zero bytes) in RAM; return its address."""
        raw = bytes(data) if not isinstance(data, int) else bytes(data)
        addr = (self._data_top + align - 1) & ~(align - 1)
        if addr + len(raw) > DATA_BASE + DATA_SIZE:
            raise EmulatorError("emulator RAM exhausted")
        self.uc.mem_write(addr, raw)
        self._data_top = addr + max(len(raw), 1)
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
_XT_OBJDUMPS = ("xtensa-esp32s3-elf-objdump", "xtensa-esp32-elf-objdump",
                "xtensa-lx106-elf-objdump")


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


def find_xtensa_objdump() -> str:
    import shutil

    for name in _XT_OBJDUMPS:
        path = shutil.which(name)
        if path:
            return path
    raise EmulatorError("no xtensa objdump on PATH (apt-get install binutils-xtensa-lx106)")


def xtensa_disassemble(code: bytes, start: int = 0) -> list[tuple[int, int, str, str]]:
    """(address, size, mnemonic, operands) per instruction, via binutils objdump.

    The lx106 objdump does not know the windowed-ABI opcodes (``entry``, ``callx8``,
    ``retw``); it prints them as ``excw``/``ill`` with the right length, which is all we need.
    Native functions start with ``j`` over a literal pool: decoding restarts at its target so
    that the pool's bytes cannot desynchronise the instruction stream.
    """
    import re
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        out = subprocess.run([find_xtensa_objdump(), "-D", "-b", "binary", "-m", "xtensa",
                              f"--start-address={start}", f.name], capture_output=True,
                             text=True, check=True).stdout
    rows = []
    pat = re.compile(r"^\s*([0-9a-f]+):\s+([0-9a-f]+)\s+(\S+)\s*(.*)$")
    for line in out.splitlines():
        m = pat.match(line)
        if m:
            rows.append((int(m.group(1), 16), len(m.group(2)) // 2, m.group(3), m.group(4)))
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
