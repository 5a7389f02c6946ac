# Plain-Python twin of blockio.py for ports without the native emitter (and the reference the
# viper kernels are tested against). Same names, same arguments (the I2S buffers are
# bytearrays of little-endian 32-bit slots), same integer results. Only small ints: nothing
# allocates per sample.

GAIN_ONE = 32768


def unpack_in(src, dry, wet, n):
    """src: bytearray of 32-bit slots; dry, wet: array('h'). Returns the peak |x|."""
    peak = 0
    i = 0
    while i < n:
        s = src[4 * i + 2] | (src[4 * i + 3] << 8)  # the top 16 bits of the slot
        if s >= 32768:
            s -= 65536
        dry[i] = s
        wet[i] = s
        if s < 0:
            s = -s
        if s > peak:
            peak = s
        i += 1
    return peak


def mix_out(dry, wet, dst, n, w0, w1, v0, v1):
    """See blockio.mix_out; dst is a bytearray of 32-bit slots."""
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
        j = 4 * i
        dst[j] = 0
        dst[j + 1] = 0
        dst[j + 2] = m & 0xFF
        dst[j + 3] = (m >> 8) & 0xFF
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
