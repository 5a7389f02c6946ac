# pedaltool-arches: armv6m armv7m armv7em armv7emsp armv7emdp
# (asm_thumb compiles only for ARM; the mpy-cross CI gate and `pedaltool flash` read this line.
#  An armv6m .mpy runs on RP2040 and on RP2350-ARM alike.)
#
# Hand-scheduled @micropython.asm_thumb kernels for ARM ports (RP2040 / RP2350-ARM).
#
# Bit-identical to the reference in arith.py: tests/firmware/test_cost_emulator.py runs this
# machine code in an emulator against it on random and full-scale inputs. ARMv6-M subset only
# (Cortex-M0+): low registers for arithmetic, no smull/sdiv; `data()` emits the opcodes the
# inline assembler lacks (sxth, ldrsh). Measured speed: docs/performance.md.
#
# Buffers: `buf` is an array('h') of int16 samples, processed in place; coefficient/state arrays
# are array('i'); tables array('h'). asm_thumb passes a buffer's address and an int's value, at
# most four arguments.
#
# ONE asm function runs every stage kind: chain(buf, n, prog), a program of records (below and
# pedalcore/chainprog.py), so the engine makes one kernel call per block for a whole model.
# Drop-in provider: this module also has the kernel names and signatures of arith.py and
# kernels.py (biquad_block, biquad_cascade_block, gain_block, table_block, table_bias_block,
# env_block, tone_block, delay_block, tap_block and mix_block, each a one-record program run by
# chain(): chainprog.DropIns; the rest - fades, peak - are the viper ones from kernels.py, or arith's where
# kernels.py is missing), plus the blockio API (unpack_in, mix_out). The engine selects it on
# ARM:
#     try: from pedalcore import kernels_thumb as K   (ImportError/SyntaxError elsewhere)
#
# Raw asm entry points (n = 0 is a no-op):
#   chain(buf, n, prog)                 the records below, in order, over buf[0:n]
#   unpack_in(src, dry, wet, n)         == blockio.unpack_in (same arguments, returns peak)
#   mix(dry, wet, dst, p)               == blockio.mix_out with p = array('i', [n, w0 << 8,
#                                          dw, v0 << 8, dv]); mix_out() below packs p.
import micropython
from array import array
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


# The biquad record: y = sat16(((hi + lo>>14) + 2048) >> 12), e = error feedback; see
# arith.biquad_sample. Registers in its sample loops:
#   r0 buf ptr, r1 end ptr, r2 coefficient ptr, r3 x then y, r4 hi, r5 lo, r6/r7 scratch,
#   r8 x1, r9 x2, r10 y1, r11 y2, r12 e1, lr e2 (state lives in high registers for the block).
#
# The model's stages in ONE call per block (the interpreter's per-call cost is larger than the
# kernels at small blocks, see docs/performance.md). prog: array('i') of records, kinds 1-9,
# ended by 0; their layouts are pedalcore/chainprog.py's (the handlers below read them at
# the byte offsets 4 x word). The records are read-only here: the caller writes the ramps'
# start values and steps when a knob moves, exactly as it would pass them.
# Conditional branches reach +-256 bytes on the M0+: far targets go through a `b`.
@micropython.asm_thumb
def chain(r0, r1, r2):
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    lsl(r1, r1, 1)  # 2n (bytes)
    push({r0, r1, r2})  # frame: [buf, 2n, record]
    cmp(r1, 0)
    bgt(NEXT)  # n <= 0: nothing (a negative n would run ~2^31 samples)
    b(END)
    label(NEXT)
    pop({r0, r1, r2})
    ldr(r3, [r2, 0])
    cmp(r3, 1)
    bne(NOT_BQ)
    b(BQ)
    label(NOT_BQ)
    cmp(r3, 2)
    bne(NOT_GN)
    b(GN)
    label(NOT_GN)
    cmp(r3, 3)
    bne(NOT_TB)
    b(TB)
    label(NOT_TB)
    cmp(r3, 4)
    bne(NOT_TN)
    b(TN)
    label(NOT_TN)
    cmp(r3, 5)
    bne(NOT_TP)
    b(TP)
    label(NOT_TP)
    cmp(r3, 6)
    bne(NOT_MX)
    b(MX)
    label(NOT_MX)
    cmp(r3, 7)
    bne(NOT_DL)
    b(DL)
    label(NOT_DL)
    cmp(r3, 8)
    bne(NOT_EV)
    b(EV)
    label(NOT_EV)
    cmp(r3, 9)
    bne(NOT_TBB)
    b(TBB)
    label(NOT_TBB)
    push({r0, r1, r2})
    b(END)
    # ---------------------------------------------------------------- biquad
    label(BQ)
    mov(r5, r2)
    add(r5, 12)  # next record
    push({r0, r1, r5})
    ldr(r3, [r2, 8])  # s
    ldr(r2, [r2, 4])  # c
    add(r1, r1, r0)  # end
    push({r3})
    ldr(r4, [r3, 0])
    mov(r8, r4)
    ldr(r4, [r3, 4])
    mov(r9, r4)
    ldr(r4, [r3, 8])
    mov(r10, r4)
    ldr(r4, [r3, 12])
    mov(r11, r4)
    ldr(r4, [r3, 16])
    mov(r12, r4)
    ldr(r4, [r3, 20])
    mov(lr, r4)
    # fast sections (docs/arithmetic.md): every lo part 0 -> BQ_HALF (only the feedback in lo);
    # also both feedback ints 0 -> BQ_FAST (lo == 0 always: 5 multiplies, e1/e2 left untouched)
    ldr(r4, [r2, 20])
    ldr(r5, [r2, 24])
    orr(r4, r5)
    ldr(r5, [r2, 28])
    orr(r4, r5)
    ldr(r5, [r2, 32])
    orr(r4, r5)
    ldr(r5, [r2, 36])
    orr(r4, r5)
    cmp(r4, 0)
    bne(BQ_LOOP)
    ldr(r4, [r2, 40])
    ldr(r5, [r2, 44])
    orr(r4, r5)
    cmp(r4, 0)
    bne(BQ_GOHALF)
    b(BQ_FAST)
    label(BQ_GOHALF)
    b(BQ_HALF)
    label(BQ_LOOP)
    ldrh(r3, [r0, 0])
    data(2, 0xB21B)  # sxth r3, r3
    ldr(r4, [r2, 0])  # hi = c0*x
    mul(r4, r3)
    ldr(r5, [r2, 20])  # lo = c5*x
    mul(r5, r3)
    mov(r6, r8)  # x1
    ldr(r7, [r2, 4])
    mul(r7, r6)
    add(r4, r4, r7)
    ldr(r7, [r2, 24])
    mul(r7, r6)
    add(r5, r5, r7)
    mov(r6, r9)  # x2
    ldr(r7, [r2, 8])
    mul(r7, r6)
    add(r4, r4, r7)
    ldr(r7, [r2, 28])
    mul(r7, r6)
    add(r5, r5, r7)
    mov(r6, r10)  # y1
    ldr(r7, [r2, 12])
    mul(r7, r6)
    add(r4, r4, r7)
    ldr(r7, [r2, 32])
    mul(r7, r6)
    add(r5, r5, r7)
    mov(r6, r11)  # y2
    ldr(r7, [r2, 16])
    mul(r7, r6)
    add(r4, r4, r7)
    ldr(r7, [r2, 36])
    mul(r7, r6)
    add(r5, r5, r7)
    mov(r6, r12)  # e1
    ldr(r7, [r2, 40])
    mul(r7, r6)
    add(r5, r5, r7)
    mov(r6, lr)  # e2
    ldr(r7, [r2, 44])
    mul(r7, r6)
    add(r5, r5, r7)
    # state shift that does not depend on y: x2 = x1, x1 = x, y2 = y1, e2 = e1
    mov(r9, r8)
    mov(r8, r3)
    mov(r11, r10)
    mov(lr, r12)
    # hi += lo >> 14; lo &= 16383
    asr(r6, r5, 14)
    add(r4, r4, r6)
    lsl(r5, r5, 18)
    lsr(r5, r5, 18)
    # y = (hi + 2048) >> 12 == ((hi >> 11) + 1) >> 1 (no overflow near int32 max)
    asr(r3, r4, 11)
    add(r3, 1)
    asr(r3, r3, 1)
    # saturated? (sxth(y) != y)
    data(2, 0xB21E)  # sxth r6, r3
    cmp(r6, r3)
    bne(BQ_SAT)
    # e = ((hi - (y << 12)) << 14) + lo
    lsl(r6, r3, 12)
    sub(r6, r4, r6)
    lsl(r6, r6, 14)
    add(r6, r6, r5)
    label(BQ_STORE)
    mov(r10, r3)  # y1 = y
    mov(r12, r6)  # e1 = e
    strh(r3, [r0, 0])
    add(r0, 2)
    cmp(r0, r1)
    bcc(BQ_LOOP)
    b(BQ_DONE)
    label(BQ_SAT)
    mov(r6, 0)  # e = 0 when clipped
    cmp(r3, 0)
    blt(BQ_NEG)
    mov(r3, 127)  # 32767 = (128 << 8) - 1
    lsl(r3, r3, 8)
    add(r3, 255)
    b(BQ_STORE)
    label(BQ_NEG)
    mov(r3, 128)  # -32768 = -(128 << 8)
    lsl(r3, r3, 8)
    neg(r3, r3)
    b(BQ_STORE)
    label(BQ_FAST)
    ldrh(r3, [r0, 0])
    data(2, 0xB21B)  # sxth r3, r3
    ldr(r4, [r2, 0])  # hi = c0*x
    mul(r4, r3)
    mov(r6, r8)  # x1
    ldr(r7, [r2, 4])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r9)  # x2
    ldr(r7, [r2, 8])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r10)  # y1
    ldr(r7, [r2, 12])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r11)  # y2
    ldr(r7, [r2, 16])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r9, r8)
    mov(r8, r3)
    mov(r11, r10)
    asr(r3, r4, 11)  # y = ((hi >> 11) + 1) >> 1
    add(r3, 1)
    asr(r3, r3, 1)
    data(2, 0xB21E)  # sxth r6, r3
    cmp(r6, r3)
    bne(BQ_FSAT)
    label(BQ_FSTORE)
    mov(r10, r3)  # y1 = y
    strh(r3, [r0, 0])
    add(r0, 2)
    cmp(r0, r1)
    bcc(BQ_FAST)
    b(BQ_DONE)
    label(BQ_FSAT)
    cmp(r3, 0)
    blt(BQ_FNEG)
    mov(r3, 127)  # 32767
    lsl(r3, r3, 8)
    add(r3, 255)
    b(BQ_FSTORE)
    label(BQ_FNEG)
    mov(r3, 128)  # -32768
    lsl(r3, r3, 8)
    neg(r3, r3)
    b(BQ_FSTORE)
    label(BQ_HALF)
    ldrh(r3, [r0, 0])
    data(2, 0xB21B)  # sxth r3, r3
    ldr(r4, [r2, 0])  # hi = c0*x
    mul(r4, r3)
    mov(r6, r8)  # x1
    ldr(r7, [r2, 4])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r9)  # x2
    ldr(r7, [r2, 8])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r10)  # y1
    ldr(r7, [r2, 12])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r11)  # y2
    ldr(r7, [r2, 16])
    mul(r7, r6)
    add(r4, r4, r7)
    mov(r6, r12)  # lo = -k1*e1 - k2*e2
    ldr(r5, [r2, 40])
    mul(r5, r6)
    mov(r6, lr)
    ldr(r7, [r2, 44])
    mul(r7, r6)
    add(r5, r5, r7)
    mov(r9, r8)
    mov(r8, r3)
    mov(r11, r10)
    mov(lr, r12)
    asr(r6, r5, 14)  # hi += lo >> 14; lo &= 16383
    add(r4, r4, r6)
    lsl(r5, r5, 18)
    lsr(r5, r5, 18)
    asr(r3, r4, 11)  # y = ((hi >> 11) + 1) >> 1
    add(r3, 1)
    asr(r3, r3, 1)
    data(2, 0xB21E)  # sxth r6, r3
    cmp(r6, r3)
    bne(BQ_HSAT)
    lsl(r6, r3, 12)  # e = ((hi - (y << 12)) << 14) + lo
    sub(r6, r4, r6)
    lsl(r6, r6, 14)
    add(r6, r6, r5)
    label(BQ_HSTORE)
    mov(r10, r3)  # y1 = y
    mov(r12, r6)  # e1 = e
    strh(r3, [r0, 0])
    add(r0, 2)
    cmp(r0, r1)
    bcc(BQ_HALF)
    b(BQ_DONE)
    label(BQ_HSAT)
    mov(r6, 0)  # e = 0 when clipped
    cmp(r3, 0)
    blt(BQ_HNEG)
    mov(r3, 127)  # 32767
    lsl(r3, r3, 8)
    add(r3, 255)
    b(BQ_HSTORE)
    label(BQ_HNEG)
    mov(r3, 128)  # -32768
    lsl(r3, r3, 8)
    neg(r3, r3)
    b(BQ_HSTORE)
    label(BQ_DONE)
    pop({r3})
    mov(r4, r8)
    str(r4, [r3, 0])
    mov(r4, r9)
    str(r4, [r3, 4])
    mov(r4, r10)
    str(r4, [r3, 8])
    mov(r4, r11)
    str(r4, [r3, 12])
    mov(r4, r12)
    str(r4, [r3, 16])
    mov(r4, lr)
    str(r4, [r3, 20])
    b(NEXT)
    # ---------------------------------------------------------------- gain
    label(GN)
    mov(r5, r2)
    add(r5, 16)
    push({r0, r1, r5})
    add(r1, r1, r0)  # end
    ldr(r5, [r2, 12])  # sh
    ldr(r3, [r2, 8])  # step
    ldr(r2, [r2, 4])  # m0
    mov(r4, 1)
    lsl(r4, r5)
    asr(r4, r4, 1)  # r = (1 << sh) >> 1
    label(GN_LOOP)
    ldrh(r6, [r0, 0])
    data(2, 0xB236)  # sxth r6, r6
    add(r2, r2, r3)
    mul(r6, r2)
    add(r6, r6, r4)
    asr(r6, r5)
    data(2, 0xB237)  # sxth r7, r6
    cmp(r7, r6)
    bne(GN_SAT)
    label(GN_STORE)
    strh(r6, [r0, 0])
    add(r0, 2)
    cmp(r0, r1)
    bcc(GN_LOOP)
    b(GN_DONE)
    label(GN_SAT)
    cmp(r6, 0)
    blt(GN_NEG)
    mov(r6, 127)
    lsl(r6, r6, 8)
    add(r6, 255)
    b(GN_STORE)
    label(GN_NEG)
    mov(r6, 128)
    lsl(r6, r6, 8)
    neg(r6, r6)
    b(GN_STORE)
    label(GN_DONE)
    b(NEXT)
    # ---------------------------------------------------------------- table
    label(TB)
    mov(r5, r2)
    add(r5, 28)
    push({r0, r1, r5})
    add(r1, r1, r0)  # end
    ldr(r4, [r2, 8])
    mov(r8, r4)  # pmax
    ldr(r4, [r2, 16])
    mov(r9, r4)  # step
    ldr(r4, [r2, 20])
    mov(r10, r4)  # gs
    ldr(r4, [r2, 24])
    mov(r11, r4)  # off
    ldr(r3, [r2, 12])  # gm
    ldr(r2, [r2, 4])  # t
    label(TB_LOOP)
    ldrh(r4, [r0, 0])
    data(2, 0xB224)  # sxth r4, r4
    mov(r5, r9)
    add(r3, r3, r5)  # gm += step
    mul(r4, r3)
    mov(r5, r10)
    asr(r4, r5)  # (x * gm) >> gs
    mov(r5, r11)
    add(r4, r4, r5)  # + off
    cmp(r4, 0)
    blt(TB_LOW)
    mov(r5, r8)
    cmp(r4, r5)
    bgt(TB_HIGH)
    label(TB_GO)
    asr(r5, r4, 8)
    lsl(r5, r5, 1)  # byte offset of t[i]
    data(2, 0x5F56)  # ldrsh r6, [r2, r5]   a = t[i]
    add(r5, 2)
    data(2, 0x5F57)  # ldrsh r7, [r2, r5]   b = t[i + 1]
    sub(r7, r7, r6)
    lsl(r4, r4, 24)
    lsr(r4, r4, 24)  # p & 255
    mul(r7, r4)
    add(r7, 128)
    asr(r7, r7, 8)
    add(r6, r6, r7)
    strh(r6, [r0, 0])
    add(r0, 2)
    cmp(r0, r1)
    bcc(TB_LOOP)
    b(TB_DONE)
    label(TB_LOW)
    mov(r4, 0)
    b(TB_GO)
    label(TB_HIGH)
    mov(r4, r8)
    b(TB_GO)
    label(TB_DONE)
    b(NEXT)
    # ---------------------------------------------------------------- tone (tone)
    label(TN)
    mov(r5, r2)
    add(r5, 28)
    push({r0, r1, r5})
    add(r1, r1, r0)  # end
    ldr(r3, [r2, 4])  # st
    push({r3})
    ldr(r4, [r3, 0])
    mov(r8, r4)  # lpstate
    ldr(r4, [r2, 8])
    mov(r9, r4)  # c
    ldr(r4, [r2, 16])
    mov(r10, r4)  # slo
    ldr(r4, [r2, 24])
    mov(r11, r4)  # shi
    mov(r4, 1)
    lsl(r4, r4, 12)
    mov(lr, r4)  # 4096
    ldr(r3, [r2, 20])  # ghi
    ldr(r2, [r2, 12])  # glo
    label(TN_LOOP)
    ldrh(r4, [r0, 0])
    data(2, 0xB224)  # sxth r4, r4   x
    mov(r5, r10)
    add(r2, r2, r5)  # glo += slo
    mov(r5, r11)
    add(r3, r3, r5)  # ghi += shi
    lsl(r5, r4, 8)
    mov(r6, r8)
    sub(r5, r5, r6)  # d = (x << 8) - lps
    asr(r6, r5, 8)
    mov(r7, r9)
    mul(r6, r7)  # (d >> 8) * c
    lsl(r5, r5, 24)
    lsr(r5, r5, 24)  # d & 255
    mul(r5, r7)
    asr(r5, r5, 8)
    add(r6, r6, r5)
    asr(r6, r6, 7)  # increment
    mov(r5, r8)
    add(r5, r5, r6)
    mov(r8, r5)  # lps += inc
    add(r5, 128)
    asr(r5, r5, 8)  # lp = (lps + 128) >> 8
    sub(r4, r4, r5)  # hp = x - lp
    mul(r5, r2)  # glo * lp
    mul(r4, r3)  # ghi * hp
    add(r5, r5, r4)
    mov(r4, lr)
    add(r5, r5, r4)
    asr(r5, r5, 13)
    data(2, 0xB22C)  # sxth r4, r5
    cmp(r4, r5)
    bne(TN_SAT)
    label(TN_STORE)
    strh(r5, [r0, 0])
    add(r0, 2)
    cmp(r0, r1)
    bcc(TN_LOOP)
    b(TN_DONE)
    label(TN_SAT)
    cmp(r5, 0)
    blt(TN_NEG)
    mov(r5, 127)
    lsl(r5, r5, 8)
    add(r5, 255)
    b(TN_STORE)
    label(TN_NEG)
    mov(r5, 128)
    lsl(r5, r5, 8)
    neg(r5, r5)
    b(TN_STORE)
    label(TN_DONE)
    pop({r3})
    mov(r4, r8)
    str(r4, [r3, 0])
    b(NEXT)
    # ---------------------------------------------------------------- tap (tap)
    label(TP)
    mov(r5, r2)
    add(r5, 8)
    push({r0, r1, r5})
    add(r1, r1, r0)  # end
    ldr(r2, [r2, 4])  # slot
    label(TP_LOOP)
    ldrh(r3, [r0, 0])
    strh(r3, [r2, 0])
    add(r0, 2)
    add(r2, 2)
    cmp(r0, r1)
    bcc(TP_LOOP)
    b(NEXT)
    # ---------------------------------------------------------------- mix (parallel mix)
    label(MX)
    mov(r5, r2)
    add(r5, 16)
    push({r0, r1, r5})
    add(r1, r1, r0)  # end
    ldr(r5, [r2, 12])  # sh
    ldr(r3, [r2, 8])  # m
    ldr(r2, [r2, 4])  # slot
    mov(r4, 1)
    lsl(r4, r5)
    asr(r4, r4, 1)  # r = (1 << sh) >> 1
    label(MX_LOOP)
    ldrh(r6, [r2, 0])
    data(2, 0xB236)  # sxth r6, r6   t
    mul(r6, r3)
    add(r6, r6, r4)
    asr(r6, r5)
    ldrh(r7, [r0, 0])
    data(2, 0xB23F)  # sxth r7, r7   x
    add(r6, r6, r7)
    data(2, 0xB237)  # sxth r7, r6
    cmp(r7, r6)
    bne(MX_SAT)
    label(MX_STORE)
    strh(r6, [r0, 0])
    add(r0, 2)
    add(r2, 2)
    cmp(r0, r1)
    bcc(MX_LOOP)
    b(NEXT)
    label(MX_SAT)
    cmp(r6, 0)
    blt(MX_NEG)
    mov(r6, 127)
    lsl(r6, r6, 8)
    add(r6, 255)
    b(MX_STORE)
    label(MX_NEG)
    mov(r6, 128)
    lsl(r6, r6, 8)
    neg(r6, r6)
    b(MX_STORE)
    # ---------------------------------------------------------------- delay (delay)
    label(DL)
    mov(r5, r2)
    add(r5, 20)
    push({r0, r1, r5})
    add(r1, r1, r0)  # end
    ldr(r3, [r2, 8])  # st
    push({r3})
    ldr(r4, [r2, 12])  # d
    ldr(r5, [r2, 16])  # mask
    ldr(r2, [r2, 4])  # ring
    ldr(r3, [r3, 0])  # w
    label(DL_LOOP)
    ldrh(r6, [r0, 0])
    lsl(r7, r3, 1)
    add(r7, r7, r2)
    strh(r6, [r7, 0])  # ring[w] = x
    sub(r7, r3, r4)
    and_(r7, r5)
    lsl(r7, r7, 1)
    add(r7, r7, r2)
    ldrh(r6, [r7, 0])
    strh(r6, [r0, 0])  # buf[i] = ring[(w - d) & mask]
    add(r3, 1)
    and_(r3, r5)
    add(r0, 2)
    cmp(r0, r1)
    bcc(DL_LOOP)
    pop({r2})
    str(r3, [r2, 0])
    b(NEXT)
    # ---------------------------------------------------------------- env (envelope -> bias)
    label(EV)
    mov(r5, r2)
    add(r5, 28)
    push({r0, r1, r5})
    lsr(r4, r1, 1)  # n
    ldr(r3, [r2, 4])  # st
    push({r3})
    ldr(r5, [r2, 12])
    mov(r8, r5)  # ca
    ldr(r5, [r2, 16])
    mov(r9, r5)  # cr
    ldr(r5, [r2, 20])
    mov(r10, r5)  # dm
    ldr(r5, [r2, 24])
    mov(r11, r5)  # ds
    ldr(r1, [r2, 8])  # bias
    ldr(r3, [r3, 0])  # e
    mov(r2, r4)  # count
    label(EV_LOOP)
    ldrh(r4, [r0, 0])
    data(2, 0xB224)  # sxth r4, r4
    asr(r5, r4, 31)
    eor(r4, r5)
    sub(r4, r4, r5)  # a = |x|
    lsl(r4, r4, 8)
    sub(r4, r4, r3)  # d = (a << 8) - e
    mov(r6, r8)  # c = ca if d > 0
    cmp(r4, 0)
    bgt(EV_ATTACK)
    mov(r6, r9)  # else cr
    label(EV_ATTACK)
    asr(r5, r4, 8)
    mul(r5, r6)
    lsl(r4, r4, 24)
    lsr(r4, r4, 24)
    mul(r4, r6)
    asr(r4, r4, 8)
    add(r5, r5, r4)
    asr(r5, r5, 7)
    add(r3, r3, r5)  # e += inc
    asr(r4, r3, 8)
    mov(r5, r10)
    mul(r4, r5)
    mov(r5, r11)
    asr(r4, r5)  # ((e >> 8) * dm) >> ds
    str(r4, [r1, 0])
    add(r0, 2)
    add(r1, 4)
    sub(r2, 1)
    bne(EV_LOOP)
    pop({r2})
    str(r3, [r2, 0])
    b(NEXT)
    # ---------------------------------------------------------------- biased table
    label(TBB)
    mov(r5, r2)
    add(r5, 32)
    push({r0, r1, r5})
    add(r4, r1, r0)
    mov(r12, r4)  # end
    ldr(r4, [r2, 12])
    mov(r8, r4)  # pmax
    ldr(r4, [r2, 20])
    mov(r9, r4)  # step
    ldr(r4, [r2, 24])
    mov(r10, r4)  # gs
    ldr(r4, [r2, 28])
    mov(r11, r4)  # off
    ldr(r3, [r2, 16])  # gm
    ldr(r1, [r2, 8])  # bias
    ldr(r2, [r2, 4])  # t
    label(TBB_LOOP)
    ldrh(r4, [r0, 0])
    data(2, 0xB224)  # sxth r4, r4
    mov(r5, r9)
    add(r3, r3, r5)  # gm += step
    mul(r4, r3)
    mov(r5, r10)
    asr(r4, r5)  # (x * gm) >> gs
    mov(r5, r11)
    add(r4, r4, r5)  # + off
    ldr(r5, [r1, 0])
    add(r4, r4, r5)  # + bias[i]
    cmp(r4, 0)
    blt(TBB_LOW)
    mov(r5, r8)
    cmp(r4, r5)
    bgt(TBB_HIGH)
    label(TBB_GO)
    asr(r5, r4, 8)
    lsl(r5, r5, 1)
    data(2, 0x5F56)  # ldrsh r6, [r2, r5]
    add(r5, 2)
    data(2, 0x5F57)  # ldrsh r7, [r2, r5]
    sub(r7, r7, r6)
    lsl(r4, r4, 24)
    lsr(r4, r4, 24)
    mul(r7, r4)
    add(r7, 128)
    asr(r7, r7, 8)
    add(r6, r6, r7)
    strh(r6, [r0, 0])
    add(r0, 2)
    add(r1, 4)
    mov(r5, r12)
    cmp(r0, r5)
    bcc(TBB_LOOP)
    b(NEXT)
    label(TBB_LOW)
    mov(r4, 0)
    b(TBB_GO)
    label(TBB_HIGH)
    mov(r4, r8)
    b(TBB_GO)
    label(END)
    pop({r0, r1, r2})
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)
    mov(r0, 0)


# I2S RX slots -> int16 dry and wet copies; returns peak |x|. == blockio.unpack_in.
# r0 src (int32 slots), r1 dry, r2 wet, r3 count, r4 s, r5 peak, r6 scratch.
@micropython.asm_thumb
def unpack_in(r0, r1, r2, r3):
    mov(r5, 0)
    cmp(r3, 0)
    ble(DONE)
    label(LOOP)
    ldr(r4, [r0, 0])
    asr(r4, r4, 16)
    strh(r4, [r1, 0])
    strh(r4, [r2, 0])
    asr(r6, r4, 31)  # |s| = (s ^ sign) - sign
    eor(r4, r6)
    sub(r4, r4, r6)
    cmp(r4, r5)
    ble(NOPEAK)
    mov(r5, r4)
    label(NOPEAK)
    add(r0, 4)
    add(r1, 2)
    add(r2, 2)
    sub(r3, 1)
    bne(LOOP)
    label(DONE)
    mov(r0, r5)


# Output mixer: out = sat16((((dry*(32768-w) + wet*w) >> 15) * v) >> 15) << 16, w and v
# ramping in Q8 (== blockio.mix_out). p = array('i', [n, w0 << 8, dw, v0 << 8, dv]) with
# dw = ((w1 - w0) << 8) // n, dv likewise (computed by the caller). Returns peak |out|.
# r0 dry, r1 wet, r2 dst, r3 count; r8 wa, r9 dw, r10 va, r11 dv, r12 peak; r4-r7 scratch.
@micropython.asm_thumb
def mix(r0, r1, r2, r3):
    mov(r4, r8)
    mov(r5, r9)
    mov(r6, r10)
    mov(r7, r11)
    push({r4, r5, r6, r7})
    ldr(r4, [r3, 4])
    mov(r8, r4)
    ldr(r4, [r3, 8])
    mov(r9, r4)
    ldr(r4, [r3, 12])
    mov(r10, r4)
    ldr(r4, [r3, 16])
    mov(r11, r4)
    ldr(r3, [r3, 0])  # count
    mov(r4, 0)
    mov(r12, r4)  # peak
    cmp(r3, 0)
    ble(DONE)
    label(LOOP)
    ldrh(r4, [r0, 0])
    data(2, 0xB224)  # sxth r4, r4   x = dry
    ldrh(r5, [r1, 0])
    data(2, 0xB22D)  # sxth r5, r5   y = wet
    sub(r5, r5, r4)  # (y - x)
    mov(r7, r8)
    asr(r7, r7, 8)  # w
    mul(r5, r7)  # (y - x) * w
    lsl(r4, r4, 15)
    add(r4, r4, r5)  # x*(32768 - w) + y*w
    asr(r4, r4, 15)
    mov(r7, r10)
    asr(r7, r7, 8)  # v
    mul(r4, r7)
    asr(r4, r4, 15)
    data(2, 0xB225)  # sxth r5, r4
    cmp(r5, r4)
    bne(SAT)
    label(STORE)
    lsl(r5, r4, 16)
    str(r5, [r2, 0])
    asr(r6, r4, 31)  # |m|
    eor(r4, r6)
    sub(r4, r4, r6)
    mov(r5, r12)
    cmp(r4, r5)
    ble(NOPEAK)
    mov(r12, r4)
    label(NOPEAK)
    mov(r5, r8)
    mov(r6, r9)
    add(r5, r5, r6)
    mov(r8, r5)  # wa += dw
    mov(r5, r10)
    mov(r6, r11)
    add(r5, r5, r6)
    mov(r10, r5)  # va += dv
    add(r0, 2)
    add(r1, 2)
    add(r2, 4)
    sub(r3, 1)
    bne(LOOP)
    b(DONE)
    label(SAT)
    cmp(r4, 0)
    blt(NEG)
    mov(r4, 127)
    lsl(r4, r4, 8)
    add(r4, 255)
    b(STORE)
    label(NEG)
    mov(r4, 128)
    lsl(r4, r4, 8)
    neg(r4, r4)
    b(STORE)
    label(DONE)
    pop({r4, r5, r6, r7})
    mov(r8, r4)
    mov(r9, r5)
    mov(r10, r6)
    mov(r11, r7)
    mov(r0, r12)


# ---- drop-in kernels with the reference signatures: one-record chain() programs ----------
def _addr(a):
    import uctypes  # MicroPython only

    return uctypes.addressof(a)


class Chain(ChainProgram):
    """A chain() program run by the asm_thumb chain() (records: pedalcore/chainprog.py):
    every record kind, so a whole model is one call per block."""

    FULL = True

    def addr(self, a):
        return _addr(a)

    def run(self, buf, n):
        chain(buf, n, self.prog)


_dropins = DropIns(Chain)


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


def tone_block(buf, n, st, c, glo0, slo, ghi0, shi):
    return _dropins.tone_block(buf, n, st, c, glo0, slo, ghi0, shi)


def tap_block(buf, n, slot):
    _dropins.tap_block(buf, n, slot)


def mix_block(buf, n, slot, m, s):
    _dropins.mix_block(buf, n, slot, m, s)


def delay_block(buf, n, ring, st, d, mask):
    _dropins.delay_block(buf, n, ring, st, d, mask)


def env_block(buf, n, st, ca, cr, dm, ds, bias):
    _dropins.env_block(buf, n, st, ca, cr, dm, ds, bias)


def table_bias_block(buf, n, t, pmax, gm0, step, gs, off, bias):
    return _dropins.table_bias_block(buf, n, t, pmax, gm0, step, gs, off, bias)


_MP = array("i", [0, 0, 0, 0, 0])  # mixer parameters


def mix_out(dry, wet, dst, n, w0, w1, v0, v1):
    """Drop-in for blockio.mix_out (same arguments and result)."""
    p = _MP
    p[0] = n
    p[1] = w0 << 8
    p[2] = ((w1 - w0) << 8) // n
    p[3] = v0 << 8
    p[4] = ((v1 - v0) << 8) // n
    return mix(dry, wet, dst, p)
