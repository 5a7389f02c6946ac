# ruff: noqa: F821  (viper types ptr16/ptr32 are MicroPython builtins)
"""A plain Q14 Direct-Form-I viper biquad: the harness anchor of issue 4 / notes/mcu.md §2.2.

Not used by the firmware. ``benchmarks/bench_firmware_cost.py`` compiles this file with
mpy-cross and runs it in the emulator to prove the method reproduces the published anchor
(~130 Thumb instructions, ~200 cycles per sample on armv6m).

buf: int16 samples, in place; c: int32 [b0, b1, b2, a1, a2] in Q14; st: int32 [x1, x2, y1, y2].
"""
import micropython


@micropython.viper
def biquad(buf: ptr16, n: int, c: ptr32, st: ptr32):
    b0 = c[0]
    b1 = c[1]
    b2 = c[2]
    a1 = c[3]
    a2 = c[4]
    x1 = st[0]
    x2 = st[1]
    y1 = st[2]
    y2 = st[3]
    i = 0
    while i < n:
        x = buf[i]
        if x & 0x8000:
            x -= 0x10000
        acc = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        y = acc >> 14
        if y > 32767:
            y = 32767
        if y < -32768:
            y = -32768
        x2 = x1
        x1 = x
        y2 = y1
        y1 = y
        buf[i] = y
        i += 1
    st[0] = x1
    st[1] = x2
    st[2] = y1
    st[3] = y2


@micropython.viper
def passthrough(buf: ptr16, n: int):
    i = 0
    while i < n:
        buf[i] = buf[i]
        i += 1
