# Block I/O kernels (viper): I2S 32-bit slots <-> int16 Q15 blocks, peak meters, and the
# output mixer (bypass crossfade + master volume ramp). Called once per block, never per sample.
#
# Portability (see shared notes/mcu.md §2.1): on the x64 unix port viper `int` is 64-bit and
# ptr loads zero-extend, so every load that needs a sign is sign-extended explicitly with the
# (v ^ m) - m idiom, which is also correct on 32-bit MCUs. Stores to ptr16/ptr32 truncate, so a
# shifted value is stored with the right bits on both.
#
# The plain-Python twin (blockio_ref.py) has the same names and results for ports without the
# native emitter; app.py picks whichever imports.
import micropython

GAIN_ONE = 32768  # Q15 unity for the mixer's weights and the master volume


@micropython.viper
def unpack_in(src: ptr32, dry: ptr16, wet: ptr16, n: int) -> int:
    """I2S RX 32-bit slots (MSB-aligned) -> int16 (top 16 bits) into dry and wet (the engine
    works in place on wet); returns the block's peak |x|."""
    peak = 0
    i = 0
    while i < n:
        s = (src[i] >> 16) & 0xFFFF
        dry[i] = s
        wet[i] = s
        s = (s ^ 0x8000) - 0x8000
        if s < 0:
            s = 0 - s
        if s > peak:
            peak = s
        i += 1
    return peak


@micropython.viper
def mix_out(dry: ptr16, wet: ptr16, dst: ptr32, n: int, w0: int, w1: int, v0: int,
            v1: int) -> int:
    """out = sat16(((dry*(1-w) + wet*w) >> 15) * v >> 15) << 16 into I2S TX slots.

    w (wet weight) and v (master volume) are Q15 (0..32768) and ramp linearly from w0/v0 to
    w1/v1 across the block (click-free bypass, mute and preset changes). Returns peak |out|.
    """
    dw = ((w1 - w0) << 8) // n  # Q8 steps: one division per block, none per sample
    dv = ((v1 - v0) << 8) // n
    wa = w0 << 8
    va = v0 << 8
    peak = 0
    i = 0
    while i < n:
        w = wa >> 8
        x = (int(dry[i]) ^ 0x8000) - 0x8000
        y = (int(wet[i]) ^ 0x8000) - 0x8000
        # |x|,|y| <= 32768 and the weights sum to 32768: the sum stays within 2^30
        m = (x * (32768 - w) + y * w) >> 15
        m = (m * (va >> 8)) >> 15
        if m > 32767:
            m = 32767
        elif m < -32768:
            m = -32768
        dst[i] = m << 16
        if m < 0:
            m = 0 - m
        if m > peak:
            peak = m
        wa += dw
        va += dv
        i += 1
    return peak


@micropython.viper
def fill16(dst: ptr16, n: int, value: int):
    """Set n int16 samples to value (silence on start-up and after a fault)."""
    i = 0
    while i < n:
        dst[i] = value
        i += 1
