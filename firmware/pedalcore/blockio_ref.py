# Plain-Python twin of blockio.py for ports without the native emitter (and the reference the
# viper kernels are tested against). Same names, same integer results; no allocation per call
# beyond what the bytecode VM does for small ints (none).

GAIN_ONE = 32768


def unpack_in(src, dry, wet, n):
    """src: array('i') of 32-bit slots; dry, wet: array('h'). Returns the peak |x|."""
    peak = 0
    i = 0
    while i < n:
        s = src[i] >> 16
        dry[i] = s
        wet[i] = s
        if s < 0:
            s = -s
        if s > peak:
            peak = s
        i += 1
    return peak


def mix_out(dry, wet, dst, n, w0, w1, v0, v1):
    dw = ((w1 - w0) << 8) // n
    dv = ((v1 - v0) << 8) // n
    wa = w0 << 8
    va = v0 << 8
    peak = 0
    i = 0
    while i < n:
        w = wa >> 8
        m = (dry[i] * (32768 - w) + wet[i] * w) >> 15
        m = (m * (va >> 8)) >> 15
        if m > 32767:
            m = 32767
        elif m < -32768:
            m = -32768
        dst[i] = m << 16
        if m < 0:
            m = -m
        if m > peak:
            peak = m
        wa += dw
        va += dv
        i += 1
    return peak


def fill16(dst, n, value):
    i = 0
    while i < n:
        dst[i] = value
        i += 1
