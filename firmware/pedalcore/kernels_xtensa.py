# pedaltool-arches: xtensawin
# pedaltool-asm-as-viper: yes
# (asm_xtensa compiles only for xtensawin, and stock esp32 firmware has no inline assembler:
#  `pedaltool flash` re-tags each asm function of the compiled .mpy as a viper function, which
#  the stock firmware loads; see docs/performance.md "ESP32: asm kernels as viper raw code".)
#
# Hand-scheduled @micropython.asm_xtensa kernels for ESP32 / ESP32-S3 (windowed ABI).
#
# Bit-identical to the reference in arith.py: tests/firmware/test_xtensa_kernels.py runs this
# machine code in pedaltool.native_emu.XtensaMachine against it on random, full-scale and
# quiet inputs. Only Xtensa core instructions that MicroPython's inline assembler knows
# (py/emitinlinextensa.c): no min/max/clamps/sext/mulsh/loop.
#
# CALLING CONVENTION. These functions are NOT called as asm functions (fun_asm_call, which
# converts buffers to addresses): the flasher makes them viper-kind raw code, and py/objfun.c
# fun_viper_call calls viper code as fun(self_in, n_args, n_kw, args). So on entry (after
# CALLX8 and `entry`): a2 = function object, a3 = n_args, a4 = n_kw, a5 = pointer to the array
# of argument OBJECTS. The kernels read their arguments from a5: an array('h'/'i') object's
# data pointer is the `items` word at offset 12 of mp_obj_array_t (py/objarray.h, 32-bit
# ports; so `buf` and `prog` must be array objects, not memoryviews, whose data starts `free`
# elements after items), an int is a small int ((v << 1) | 1, MICROPY_OBJ_REPR_A). The result
# in a2 must be an object: 1 (= small int 0). The caller must pass exactly the documented
# arguments: unlike viper code, these functions check neither their number nor their types.
#
# Registers: the inline assembler's prologue is `entry a1, 48; s32i.n a0, a1, 0` and the
# epilogue `l32i.n a0, a1, 0; retw.n`, so a0 and a2..a15 are all free in the body (15
# registers); a1 is the stack pointer; [a1+4], [a1+8], [a1+12] hold our spills.
#
# Entry points:
#   chain(buf, n, prog)   a program of biquad/gain/table records in ONE call per block,
#                         the same records as kernels_thumb.chain (see Chain below)
# and the drop-ins biquad_block, biquad_cascade_block, gain_block, table_block (a one-record
# program each); every other kernel (env, biased table, tone, tap, mix, delay, fades, peak)
# is re-exported from kernels.py (viper).
import micropython
try:
    from pedalcore.chainprog import ChainProgram, DropIns
except ImportError:
    from chainprog import ChainProgram, DropIns

try:
    from pedalcore.kernels import *  # noqa: F401,F403  viper kernels for the other stages
except ImportError:
    try:
        from kernels import *  # noqa: F401,F403
    except ImportError:
        try:
            from pedalcore.arith import *  # noqa: F401,F403
        except ImportError:
            from arith import *  # noqa: F401,F403


# prog: array('i') of records 1-3 (biquad, gain, table; their layouts are
# pedalcore/chainprog.py's), ended by 0 (any other op ends it). The records are read-only here.
#
# Biquad sample loop (y = sat16((H + 2048) >> 12), H = hi + (lo >> 14), arith.biquad_sample):
#   a2 sample ptr, a3 end, a4 coefficient ptr, a5 x then y, a6 x1, a7 x2, a8 y1, a9 y2,
#   a10 e1, a11 e2, a12 hi then T, a13 lo, a14/a15 scratch. The state lives in registers for
#   the whole block. e = ((H - (y << 12)) << 14) + (lo & 16383) is computed as
#   T - (y << 26) with T = (hi << 14) + lo: equal modulo 2^32, and e fits in 32 bits.
@micropython.asm_xtensa
def chain(a2, a3, a4, a5):
    # (Branch discipline: a conditional branch to a label further down is only ever
    #  bbci/bbsi, whose size is fixed. mpy-cross 1.29 sizes bcc/bccz by the target's
    #  distance, and during its sizing pass a not-yet-defined label reads as the first label
    #  of the function: a forward beq/bnez near that label comes out 3 bytes in one pass and
    #  6 in the next (assertion in mp_asm_base_label_assign). So the other conditional
    #  branches all go backwards, and the saturation handlers sit in front of their loops.)
    l32i(a6, a5, 0)  # buf object
    l32i(a7, a5, 4)  # n (small int)
    l32i(a8, a5, 8)  # prog object
    l32i(a6, a6, 12)  # buf items
    l32i(a8, a8, 12)  # prog items = the first record
    srai(a7, a7, 1)
    add_n(a7, a7, a7)  # 2n (bytes)
    s32i(a6, a1, 4)
    s32i(a7, a1, 8)
    j(START)
    label(NEXT_END)
    j(END)
    label(NEXT)  # a8 = the record; dispatch on its op: 1, 2, 3 (0 or anything else ends)
    l32i(a2, a1, 4)  # sample ptr
    l32i(a3, a1, 8)
    add_n(a3, a3, a2)  # end
    l32i(a9, a8, 0)
    movi_n(a10, 4)
    bgeu(a9, a10, NEXT_END)  # (backward: NEXT_END is above)
    bbsi(a9, 1, OP23)
    bbsi(a9, 0, GO_BQ)
    j(END)
    label(OP23)
    bbsi(a9, 0, GO_TB)
    j(GN)
    label(GO_BQ)
    j(BQ)
    label(GO_TB)
    j(TB)
    # ---------------------------------------------------------------- biquad
    label(BQ)
    s32i(a8, a1, 12)  # the record (a8 becomes y1)
    l32i(a4, a8, 4)  # c
    l32i(a14, a8, 8)  # s
    l32i(a6, a14, 0)  # x1
    l32i(a7, a14, 4)  # x2
    l32i(a8, a14, 8)  # y1
    l32i(a9, a14, 12)  # y2
    l32i(a10, a14, 16)  # e1
    l32i(a11, a14, 20)  # e2
    movi(a0, 32768)  # (a0 is saved by the prologue and restored by the epilogue)
    # fast sections (docs/arithmetic.md): every lo part 0 -> BQ_HALF (only the feedback in
    # lo); also both feedback ints 0 -> BQ_FAST (lo == 0 always: 5 multiplies, e untouched).
    # "v != 0" is the sign bit of (v | -v).
    l32i(a12, a4, 20)
    l32i(a13, a4, 24)
    or_(a12, a12, a13)
    l32i(a13, a4, 28)
    or_(a12, a12, a13)
    l32i(a13, a4, 32)
    or_(a12, a12, a13)
    l32i(a13, a4, 36)
    or_(a12, a12, a13)
    neg(a13, a12)
    or_(a12, a12, a13)
    bbsi(a12, 31, BQ_GOFULL)
    l32i(a12, a4, 40)
    l32i(a13, a4, 44)
    or_(a12, a12, a13)
    neg(a13, a12)
    or_(a12, a12, a13)
    bbsi(a12, 31, BQ_GOHALF)
    j(BQ_FLOOP)
    label(BQ_GOFULL)
    j(BQ_LOOP)
    label(BQ_GOHALF)
    j(BQ_HLOOP)
    label(BQ_SAT)
    movi_n(a10, 0)  # e = 0 when clipped
    bbsi(a5, 31, BQ_NEG)
    movi(a5, 32767)
    j(BQ_STORE)
    label(BQ_NEG)
    movi(a5, -32768)
    j(BQ_STORE)
    label(BQ_LOOP)
    l16si(a5, a2, 0)
    l32i_n(a14, a4, 0)  # hi = b0h*x
    mull(a12, a14, a5)
    l32i_n(a14, a4, 4)  # + c1*x1
    mull(a15, a14, a6)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 8)  # + c2*x2
    mull(a15, a14, a7)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 12)  # + c3*y1
    mull(a15, a14, a8)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 16)  # + c4*y2
    mull(a15, a14, a9)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 20)  # lo = b0l*x
    mull(a13, a14, a5)
    l32i_n(a14, a4, 24)  # + c6*x1
    mull(a15, a14, a6)
    add_n(a13, a13, a15)
    l32i_n(a14, a4, 28)  # + c7*x2
    mull(a15, a14, a7)
    add_n(a13, a13, a15)
    l32i_n(a14, a4, 32)  # + c8*y1
    mull(a15, a14, a8)
    add_n(a13, a13, a15)
    l32i_n(a14, a4, 36)  # + c9*y2
    mull(a15, a14, a9)
    add_n(a13, a13, a15)
    l32i_n(a14, a4, 40)  # + c10*e1
    mull(a15, a14, a10)
    add_n(a13, a13, a15)
    l32i_n(a14, a4, 44)  # + c11*e2
    mull(a15, a14, a11)
    add_n(a13, a13, a15)
    mov(a7, a6)  # x2 = x1, x1 = x, y2 = y1, e2 = e1 (independent of y)
    mov(a6, a5)
    mov(a9, a8)
    mov(a11, a10)
    srai(a14, a13, 14)  # H = hi + (lo >> 14)
    add_n(a14, a12, a14)
    srai(a5, a14, 11)  # y = (H + 2048) >> 12 == ((H >> 11) + 1) >> 1
    addi_n(a5, a5, 1)
    srai(a5, a5, 1)
    slli(a12, a12, 14)  # T = (hi << 14) + lo (mod 2^32)
    add_n(a12, a12, a13)
    add_n(a15, a5, a0)  # saturated? (y + 32768) >> 16 != 0
    srai(a15, a15, 16)
    bnez(a15, BQ_SAT)
    slli(a15, a5, 26)  # e = T - (y << 26) == ((H - (y << 12)) << 14) + (lo & 16383)
    sub(a10, a12, a15)
    label(BQ_STORE)
    mov(a8, a5)  # y1 = y
    s16i(a5, a2, 0)
    addi_n(a2, a2, 2)
    sub(a15, a3, a2)
    bnez(a15, BQ_LOOP)
    j(BQ_DONE)
    label(BQ_HSAT)
    movi_n(a10, 0)  # e = 0 when clipped
    bbsi(a5, 31, BQ_HNEG)
    movi(a5, 32767)
    j(BQ_HSTORE)
    label(BQ_HNEG)
    movi(a5, -32768)
    j(BQ_HSTORE)
    label(BQ_HLOOP)
    l16si(a5, a2, 0)
    l32i_n(a14, a4, 0)  # hi = b0h*x
    mull(a12, a14, a5)
    l32i_n(a14, a4, 4)  # + c1*x1
    mull(a15, a14, a6)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 8)  # + c2*x2
    mull(a15, a14, a7)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 12)  # + c3*y1
    mull(a15, a14, a8)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 16)  # + c4*y2
    mull(a15, a14, a9)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 40)  # lo = -k1*e1 - k2*e2 (every lo part is 0)
    mull(a13, a14, a10)
    l32i_n(a14, a4, 44)
    mull(a15, a14, a11)
    add_n(a13, a13, a15)
    mov(a7, a6)  # x2 = x1, x1 = x, y2 = y1, e2 = e1 (independent of y)
    mov(a6, a5)
    mov(a9, a8)
    mov(a11, a10)
    srai(a14, a13, 14)  # H = hi + (lo >> 14)
    add_n(a14, a12, a14)
    srai(a5, a14, 11)  # y = (H + 2048) >> 12 == ((H >> 11) + 1) >> 1
    addi_n(a5, a5, 1)
    srai(a5, a5, 1)
    slli(a12, a12, 14)  # T = (hi << 14) + lo (mod 2^32)
    add_n(a12, a12, a13)
    add_n(a15, a5, a0)  # saturated? (y + 32768) >> 16 != 0
    srai(a15, a15, 16)
    bnez(a15, BQ_HSAT)
    slli(a15, a5, 26)  # e = T - (y << 26) == ((H - (y << 12)) << 14) + (lo & 16383)
    sub(a10, a12, a15)
    label(BQ_HSTORE)
    mov(a8, a5)  # y1 = y
    s16i(a5, a2, 0)
    addi_n(a2, a2, 2)
    sub(a15, a3, a2)
    bnez(a15, BQ_HLOOP)
    j(BQ_DONE)
    label(BQ_FSAT)
    bbsi(a5, 31, BQ_FNEG)
    movi(a5, 32767)
    j(BQ_FSTORE)
    label(BQ_FNEG)
    movi(a5, -32768)
    j(BQ_FSTORE)
    label(BQ_FLOOP)
    l16si(a5, a2, 0)
    l32i_n(a14, a4, 0)  # hi = b0h*x
    mull(a12, a14, a5)
    l32i_n(a14, a4, 4)  # + c1*x1
    mull(a15, a14, a6)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 8)  # + c2*x2
    mull(a15, a14, a7)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 12)  # + c3*y1
    mull(a15, a14, a8)
    add_n(a12, a12, a15)
    l32i_n(a14, a4, 16)  # + c4*y2
    mull(a15, a14, a9)
    add_n(a12, a12, a15)
    mov(a7, a6)  # x2 = x1, x1 = x, y2 = y1 (e1/e2 untouched)
    mov(a6, a5)
    mov(a9, a8)
    srai(a5, a12, 11)  # y = ((hi >> 11) + 1) >> 1
    addi_n(a5, a5, 1)
    srai(a5, a5, 1)
    add_n(a15, a5, a0)  # saturated? (y + 32768) >> 16 != 0
    srai(a15, a15, 16)
    bnez(a15, BQ_FSAT)
    label(BQ_FSTORE)
    mov(a8, a5)  # y1 = y
    s16i(a5, a2, 0)
    addi_n(a2, a2, 2)
    sub(a15, a3, a2)
    bnez(a15, BQ_FLOOP)
    j(BQ_DONE)
    label(BQ_DONE)
    l32i(a12, a1, 12)  # the record
    l32i(a14, a12, 8)  # s
    s32i(a6, a14, 0)
    s32i(a7, a14, 4)
    s32i(a8, a14, 8)
    s32i(a9, a14, 12)
    s32i(a10, a14, 16)
    s32i(a11, a14, 20)
    addi(a8, a12, 12)  # next record
    j(NEXT)
    # ---------------------------------------------------------------- gain
    label(GN)
    l32i(a5, a8, 4)  # m
    l32i(a6, a8, 8)  # step
    l32i(a4, a8, 12)  # sh
    addi(a8, a8, 16)  # next record
    movi_n(a7, 1)  # r = (1 << sh) >> 1
    ssl(a4)
    sll(a7, a7)
    srai(a7, a7, 1)
    ssr(a4)  # SAR = sh for sra
    movi(a0, 32768)
    j(GN_LOOP)
    label(GN_SAT)
    bbsi(a9, 31, GN_NEG)
    movi(a9, 32767)
    j(GN_STORE)
    label(GN_NEG)
    movi(a9, -32768)
    j(GN_STORE)
    label(GN_LOOP)
    l16si(a9, a2, 0)
    add_n(a5, a5, a6)  # m += step
    mull(a9, a9, a5)
    add_n(a9, a9, a7)
    sra(a9, a9)  # (x * m + r) >> sh
    add_n(a10, a9, a0)  # saturated? (y + 32768) >> 16 != 0
    srai(a10, a10, 16)
    bnez(a10, GN_SAT)
    label(GN_STORE)
    s16i(a9, a2, 0)
    addi_n(a2, a2, 2)
    bltu(a2, a3, GN_LOOP)
    j(NEXT)
    # ---------------------------------------------------------------- table
    label(TB)
    l32i(a4, a8, 4)  # t
    l32i(a5, a8, 8)  # pmax
    l32i(a6, a8, 12)  # gm
    l32i(a7, a8, 16)  # step
    l32i(a9, a8, 20)  # gs
    ssr(a9)  # SAR = gs
    l32i(a9, a8, 24)  # off
    addi(a8, a8, 28)  # next record
    movi(a15, 255)
    movi(a0, 128)
    j(TB_LOOP)
    label(TB_LOW)
    movi_n(a10, 0)
    j(TB_GO)
    label(TB_HIGH)
    mov(a10, a5)
    j(TB_GO)
    label(TB_LOOP)
    l16si(a10, a2, 0)
    add_n(a6, a6, a7)  # gm += step
    mull(a10, a10, a6)
    sra(a10, a10)  # (x * gm) >> gs
    add_n(a10, a10, a9)  # p = ... + off
    bbsi(a10, 31, TB_LOW_J)  # p < 0
    sub(a11, a5, a10)
    bbsi(a11, 31, TB_HIGH_J)  # p > pmax
    label(TB_GO)
    srai(a11, a10, 8)  # i
    addx2(a11, a11, a4)  # &t[i]
    l16si(a12, a11, 0)  # a = t[i]
    l16si(a13, a11, 2)  # t[i + 1]
    sub(a13, a13, a12)
    and_(a14, a10, a15)  # p & 255
    mull(a13, a13, a14)
    add_n(a13, a13, a0)  # + 128
    srai(a13, a13, 8)
    add_n(a12, a12, a13)
    s16i(a12, a2, 0)
    addi_n(a2, a2, 2)
    bltu(a2, a3, TB_LOOP)
    j(NEXT)
    label(TB_LOW_J)
    j(TB_LOW)
    label(TB_HIGH_J)
    j(TB_HIGH)
    # ---------------------------------------------------------------- start / end
    label(START)
    bbsi(a7, 31, END)  # n < 0: nothing
    bnez(a7, NEXT)  # (backward)
    label(END)
    movi_n(a2, 1)  # return small int 0 (viper code must return an object)


# ---- drop-in kernels with the reference signatures (a one-record program each) ----------
try:
    from uctypes import addressof as _addr  # an int, no allocation (RAM < 0x40000000)
except ImportError:  # a port without uctypes: then only the engine's viper path runs
    def _addr(a):
        raise ImportError("uctypes")


class Chain(ChainProgram):
    """A chain() program run by the asm_xtensa chain() (records: pedalcore/chainprog.py)."""

    def addr(self, a):
        return _addr(a)

    def run(self, buf, n):
        chain(buf, n, self.prog)


_dropins = DropIns(Chain)  # the records this chain runs: biquads, gain, table


# plain functions, not bound methods: calling a bound method with more than four arguments
# asks the heap for its argument array (py/objboundmeth.c); obj.method(...) does not


def biquad_block(buf, n, c, s, o):
    _dropins.biquad_block(buf, n, c, s, o)


def biquad_cascade_block(buf, n, c, s, nsec):
    _dropins.biquad_cascade_block(buf, n, c, s, nsec)


def gain_block(buf, n, m0, step, s):
    return _dropins.gain_block(buf, n, m0, step, s)


def table_block(buf, n, t, pmax, gm0, step, gs, off):
    return _dropins.table_block(buf, n, t, pmax, gm0, step, gs, off)
