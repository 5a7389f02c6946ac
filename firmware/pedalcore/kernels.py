# Viper block kernels: bit-identical to the per-block functions of arith.py (same names, same
# positional arguments, same in-place results). Buffers: int16 blocks are array('h'), states,
# coefficients and bias are array('i').
#
# Portability (notes/mcu.md 2.1): ptr16/ptr32 loads zero-extend on every port, so int16 loads are
# sign-extended with (v ^ 0x8000) - 0x8000 and int32 loads with (v ^ M31) - M31, M31 = 1 << 31
# built at run time (a 0x80000000 literal does not compile on 32-bit targets; on 32-bit ports
# the idiom is the identity, on the 64-bit unix port it sign-extends). No intermediate exceeds
# 32 bits (docs/arithmetic.md), so the 64-bit unix port computes what a 32-bit MCU computes.
# Hot values first: only the first 2-3 locals live in registers.
import micropython


@micropython.viper
def biquad_block(buf: ptr16, n: int, c: ptr32, s: ptr32, o: int):
    m31 = 1
    m31 = m31 << 31
    so = o >> 1
    b0 = (c[o] ^ m31) - m31
    b1 = (c[o + 1] ^ m31) - m31
    b2 = (c[o + 2] ^ m31) - m31
    a1 = (c[o + 3] ^ m31) - m31
    a2 = (c[o + 4] ^ m31) - m31
    l0 = (c[o + 5] ^ m31) - m31
    l1 = (c[o + 6] ^ m31) - m31
    l2 = (c[o + 7] ^ m31) - m31
    la1 = (c[o + 8] ^ m31) - m31
    la2 = (c[o + 9] ^ m31) - m31
    k1 = (c[o + 10] ^ m31) - m31
    k2 = (c[o + 11] ^ m31) - m31
    x1 = (s[so] ^ m31) - m31
    x2 = (s[so + 1] ^ m31) - m31
    y1 = (s[so + 2] ^ m31) - m31
    y2 = (s[so + 3] ^ m31) - m31
    e1 = (s[so + 4] ^ m31) - m31
    e2 = (s[so + 5] ^ m31) - m31
    if (l0 | l1 | l2 | la1 | la2) == 0:  # fast sections (docs/arithmetic.md)
        if (k1 | k2) == 0:  # no feedback: lo == 0 always, 5 multiplies, e kept
            i = 0
            while i < n:
                x = (buf[i] ^ 0x8000) - 0x8000
                y = (b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2 + 2048) >> 12
                if y > 32767:
                    y = 32767
                elif y < -32768:
                    y = -32768
                x2 = x1
                x1 = x
                y2 = y1
                y1 = y
                buf[i] = y
                i += 1
        else:
            i = 0
            while i < n:
                x = (buf[i] ^ 0x8000) - 0x8000
                hi = b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2
                lo = k1 * e1 + k2 * e2  # the lo parts are 0: only the feedback
                hi += lo >> 14
                lo = lo & 16383
                y = (hi + 2048) >> 12
                if y > 32767:
                    y = 32767
                    e = 0
                elif y < -32768:
                    y = -32768
                    e = 0
                else:
                    e = ((hi - (y << 12)) << 14) + lo
                x2 = x1
                x1 = x
                y2 = y1
                y1 = y
                e2 = e1
                e1 = e
                buf[i] = y
                i += 1
    else:
        i = 0
        while i < n:
            x = (buf[i] ^ 0x8000) - 0x8000
            hi = b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2
            lo = l0 * x + l1 * x1 + l2 * x2 + la1 * y1 + la2 * y2 + k1 * e1 + k2 * e2
            hi += lo >> 14
            lo = lo & 16383
            y = (hi + 2048) >> 12
            if y > 32767:
                y = 32767
                e = 0
            elif y < -32768:
                y = -32768
                e = 0
            else:
                e = ((hi - (y << 12)) << 14) + lo
            x2 = x1
            x1 = x
            y2 = y1
            y1 = y
            e2 = e1
            e1 = e
            buf[i] = y
            i += 1
    s[so] = x1
    s[so + 1] = x2
    s[so + 2] = y1
    s[so + 3] = y2
    s[so + 4] = e1
    s[so + 5] = e2


@micropython.viper
def biquad_cascade_block(buf: ptr16, n: int, c: ptr32, s: ptr32, nsec: int):
    m31 = 1
    m31 = m31 << 31
    sec = 0
    while sec < nsec:
        o = 12 * sec
        so = o >> 1
        b0 = (c[o] ^ m31) - m31
        b1 = (c[o + 1] ^ m31) - m31
        b2 = (c[o + 2] ^ m31) - m31
        a1 = (c[o + 3] ^ m31) - m31
        a2 = (c[o + 4] ^ m31) - m31
        l0 = (c[o + 5] ^ m31) - m31
        l1 = (c[o + 6] ^ m31) - m31
        l2 = (c[o + 7] ^ m31) - m31
        la1 = (c[o + 8] ^ m31) - m31
        la2 = (c[o + 9] ^ m31) - m31
        k1 = (c[o + 10] ^ m31) - m31
        k2 = (c[o + 11] ^ m31) - m31
        x1 = (s[so] ^ m31) - m31
        x2 = (s[so + 1] ^ m31) - m31
        y1 = (s[so + 2] ^ m31) - m31
        y2 = (s[so + 3] ^ m31) - m31
        e1 = (s[so + 4] ^ m31) - m31
        e2 = (s[so + 5] ^ m31) - m31
        if (l0 | l1 | l2 | la1 | la2) == 0:  # fast sections (docs/arithmetic.md)
            if (k1 | k2) == 0:  # no feedback: lo == 0 always, 5 multiplies, e kept
                i = 0
                while i < n:
                    x = (buf[i] ^ 0x8000) - 0x8000
                    y = (b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2 + 2048) >> 12
                    if y > 32767:
                        y = 32767
                    elif y < -32768:
                        y = -32768
                    x2 = x1
                    x1 = x
                    y2 = y1
                    y1 = y
                    buf[i] = y
                    i += 1
            else:
                i = 0
                while i < n:
                    x = (buf[i] ^ 0x8000) - 0x8000
                    hi = b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2
                    lo = k1 * e1 + k2 * e2  # the lo parts are 0: only the feedback
                    hi += lo >> 14
                    lo = lo & 16383
                    y = (hi + 2048) >> 12
                    if y > 32767:
                        y = 32767
                        e = 0
                    elif y < -32768:
                        y = -32768
                        e = 0
                    else:
                        e = ((hi - (y << 12)) << 14) + lo
                    x2 = x1
                    x1 = x
                    y2 = y1
                    y1 = y
                    e2 = e1
                    e1 = e
                    buf[i] = y
                    i += 1
        else:
            i = 0
            while i < n:
                x = (buf[i] ^ 0x8000) - 0x8000
                hi = b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2
                lo = l0 * x + l1 * x1 + l2 * x2 + la1 * y1 + la2 * y2 + k1 * e1 + k2 * e2
                hi += lo >> 14
                lo = lo & 16383
                y = (hi + 2048) >> 12
                if y > 32767:
                    y = 32767
                    e = 0
                elif y < -32768:
                    y = -32768
                    e = 0
                else:
                    e = ((hi - (y << 12)) << 14) + lo
                x2 = x1
                x1 = x
                y2 = y1
                y1 = y
                e2 = e1
                e1 = e
                buf[i] = y
                i += 1
        s[so] = x1
        s[so + 1] = x2
        s[so + 2] = y1
        s[so + 3] = y2
        s[so + 4] = e1
        s[so + 5] = e2
        sec += 1


# One call per block for a run of stages (docs/performance.md "Dispatch"): a program of int
# records, interpreted here so that the interpreter's per-call cost is paid once per block.
#   [4, c, s, nsec]                  biquad_cascade_block(buf, n, arrs[c], arrs[s], nsec)
#   [2, m0, step, sh]                gain_block(buf, n, m0, step, sh)
#   [3, t, pmax, gm0, step, gs, off] table_block(buf, n, arrs[t], pmax, gm0, step, gs, off)
#   0                                end
# c, s, t index the tuple ``arrs`` of arrays. Same samples and states as those calls
# (arith.chain_block is the reference).
@micropython.viper
def chain_block(buf: ptr16, n: int, prog: ptr32, arrs):
    m31 = 1
    m31 = m31 << 31
    pc = 0
    while True:
        op = prog[pc]
        if op == 4:
            c = ptr32(arrs[prog[pc + 1]])
            s = ptr32(arrs[prog[pc + 2]])
            nsec = prog[pc + 3]
            pc += 4
            sec = 0
            while sec < nsec:
                o = 12 * sec
                so = o >> 1
                b0 = (c[o] ^ m31) - m31
                b1 = (c[o + 1] ^ m31) - m31
                b2 = (c[o + 2] ^ m31) - m31
                a1 = (c[o + 3] ^ m31) - m31
                a2 = (c[o + 4] ^ m31) - m31
                l0 = (c[o + 5] ^ m31) - m31
                l1 = (c[o + 6] ^ m31) - m31
                l2 = (c[o + 7] ^ m31) - m31
                la1 = (c[o + 8] ^ m31) - m31
                la2 = (c[o + 9] ^ m31) - m31
                k1 = (c[o + 10] ^ m31) - m31
                k2 = (c[o + 11] ^ m31) - m31
                x1 = (s[so] ^ m31) - m31
                x2 = (s[so + 1] ^ m31) - m31
                y1 = (s[so + 2] ^ m31) - m31
                y2 = (s[so + 3] ^ m31) - m31
                e1 = (s[so + 4] ^ m31) - m31
                e2 = (s[so + 5] ^ m31) - m31
                if (l0 | l1 | l2 | la1 | la2) == 0:  # fast sections (docs/arithmetic.md)
                    if (k1 | k2) == 0:  # no feedback: lo == 0 always, 5 multiplies, e kept
                        i = 0
                        while i < n:
                            x = (buf[i] ^ 0x8000) - 0x8000
                            y = (b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2 + 2048) >> 12
                            if y > 32767:
                                y = 32767
                            elif y < -32768:
                                y = -32768
                            x2 = x1
                            x1 = x
                            y2 = y1
                            y1 = y
                            buf[i] = y
                            i += 1
                    else:
                        i = 0
                        while i < n:
                            x = (buf[i] ^ 0x8000) - 0x8000
                            hi = b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2
                            lo = k1 * e1 + k2 * e2  # the lo parts are 0: only the feedback
                            hi += lo >> 14
                            lo = lo & 16383
                            y = (hi + 2048) >> 12
                            if y > 32767:
                                y = 32767
                                e = 0
                            elif y < -32768:
                                y = -32768
                                e = 0
                            else:
                                e = ((hi - (y << 12)) << 14) + lo
                            x2 = x1
                            x1 = x
                            y2 = y1
                            y1 = y
                            e2 = e1
                            e1 = e
                            buf[i] = y
                            i += 1
                else:
                    i = 0
                    while i < n:
                        x = (buf[i] ^ 0x8000) - 0x8000
                        hi = b0 * x + b1 * x1 + b2 * x2 + a1 * y1 + a2 * y2
                        lo = l0 * x + l1 * x1 + l2 * x2 + la1 * y1 + la2 * y2 + k1 * e1 + k2 * e2
                        hi += lo >> 14
                        lo = lo & 16383
                        y = (hi + 2048) >> 12
                        if y > 32767:
                            y = 32767
                            e = 0
                        elif y < -32768:
                            y = -32768
                            e = 0
                        else:
                            e = ((hi - (y << 12)) << 14) + lo
                        x2 = x1
                        x1 = x
                        y2 = y1
                        y1 = y
                        e2 = e1
                        e1 = e
                        buf[i] = y
                        i += 1
                s[so] = x1
                s[so + 1] = x2
                s[so + 2] = y1
                s[so + 3] = y2
                s[so + 4] = e1
                s[so + 5] = e2
                sec += 1
        elif op == 2:
            m = (prog[pc + 1] ^ m31) - m31
            step = (prog[pc + 2] ^ m31) - m31
            sh = prog[pc + 3]
            pc += 4
            r = (1 << sh) >> 1
            i = 0
            while i < n:
                m += step
                v = ((((buf[i] ^ 0x8000) - 0x8000) * m + r) >> sh)
                if v > 32767:
                    v = 32767
                elif v < -32768:
                    v = -32768
                buf[i] = v
                i += 1
        elif op == 3:
            t = ptr16(arrs[prog[pc + 1]])
            pmax = prog[pc + 2]
            gm = (prog[pc + 3] ^ m31) - m31
            step = (prog[pc + 4] ^ m31) - m31
            gs = prog[pc + 5]
            off = (prog[pc + 6] ^ m31) - m31
            pc += 7
            i = 0
            while i < n:
                gm += step
                p = ((((buf[i] ^ 0x8000) - 0x8000) * gm) >> gs) + off
                if p < 0:
                    p = 0
                elif p > pmax:
                    p = pmax
                j = p >> 8
                a = (t[j] ^ 0x8000) - 0x8000
                b = (t[j + 1] ^ 0x8000) - 0x8000
                buf[i] = a + (((b - a) * (p & 255) + 128) >> 8)
                i += 1
        else:
            break


@micropython.viper
def gain_block(buf: ptr16, n: int, m0: int, step: int, s: int) -> int:
    r = (1 << s) >> 1
    m = m0
    i = 0
    while i < n:
        m += step
        v = ((((buf[i] ^ 0x8000) - 0x8000) * m + r) >> s)
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        buf[i] = v
        i += 1
    return m


@micropython.viper
def table_block(buf: ptr16, n: int, t: ptr16, pmax: int, gm0: int, step: int, gs: int,
                off: int) -> int:
    gm = gm0
    i = 0
    while i < n:
        gm += step
        p = ((((buf[i] ^ 0x8000) - 0x8000) * gm) >> gs) + off
        if p < 0:
            p = 0
        elif p > pmax:
            p = pmax
        j = p >> 8
        a = (t[j] ^ 0x8000) - 0x8000
        b = (t[j + 1] ^ 0x8000) - 0x8000
        buf[i] = a + (((b - a) * (p & 255) + 128) >> 8)
        i += 1
    return gm


@micropython.viper
def table_bias_block(buf: ptr16, n: int, t: ptr16, pmax: int, gm0: int, step: int, gs: int,
                     off: int, bias: ptr32) -> int:
    m31 = 1
    m31 = m31 << 31
    gm = gm0
    i = 0
    while i < n:
        gm += step
        p = ((((buf[i] ^ 0x8000) - 0x8000) * gm) >> gs) + off + ((bias[i] ^ m31) - m31)
        if p < 0:
            p = 0
        elif p > pmax:
            p = pmax
        j = p >> 8
        a = (t[j] ^ 0x8000) - 0x8000
        b = (t[j + 1] ^ 0x8000) - 0x8000
        buf[i] = a + (((b - a) * (p & 255) + 128) >> 8)
        i += 1
    return gm


@micropython.viper
def env_block(buf: ptr16, n: int, st: ptr32, ca: int, cr: int, dm: int, ds: int,
              bias: ptr32):
    m31 = 1
    m31 = m31 << 31
    e = (st[0] ^ m31) - m31
    i = 0
    while i < n:
        a = (buf[i] ^ 0x8000) - 0x8000
        if a < 0:
            a = -a
        d = (a << 8) - e
        c = cr
        if d > 0:
            c = ca
        e += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
        bias[i] = ((e >> 8) * dm) >> ds
        i += 1
    st[0] = e


@micropython.viper
def tone_block(buf: ptr16, n: int, st: ptr32, c: int, glo0: int, slo: int, ghi0: int,
               shi: int) -> int:
    m31 = 1
    m31 = m31 << 31
    lps = (st[0] ^ m31) - m31
    glo = glo0
    ghi = ghi0
    i = 0
    while i < n:
        glo += slo
        ghi += shi
        x = (buf[i] ^ 0x8000) - 0x8000
        d = (x << 8) - lps
        lps += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
        lp = (lps + 128) >> 8
        v = (glo * lp + ghi * (x - lp) + 4096) >> 13
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        buf[i] = v
        i += 1
    st[0] = lps
    return ghi


@micropython.viper
def tap_block(buf: ptr16, n: int, slot: ptr16):
    i = 0
    while i < n:
        slot[i] = buf[i]
        i += 1


@micropython.viper
def mix_block(buf: ptr16, n: int, slot: ptr16, m: int, s: int):
    r = (1 << s) >> 1
    i = 0
    while i < n:
        v = ((buf[i] ^ 0x8000) - 0x8000) + (((((slot[i] ^ 0x8000) - 0x8000) * m) + r) >> s)
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        buf[i] = v
        i += 1


@micropython.viper
def delay_block(buf: ptr16, n: int, ring: ptr16, st: ptr32, d: int, mask: int):
    w = int(st[0])
    i = 0
    while i < n:
        ring[w] = buf[i]
        buf[i] = ring[(w - d) & mask]
        w = (w + 1) & mask
        i += 1
    st[0] = w


@micropython.viper
def fade_block(buf: ptr16, n: int, g0: int, step: int) -> int:
    g = g0
    i = 0
    while i < n:
        g += step
        buf[i] = (((buf[i] ^ 0x8000) - 0x8000) * g) >> 15
        i += 1
    return g


@micropython.viper
def xfade_block(dst: ptr16, src: ptr16, n: int, g0: int, step: int) -> int:
    g = g0
    i = 0
    while i < n:
        g += step
        dst[i] = (((dst[i] ^ 0x8000) - 0x8000) * (32768 - g)
                  + ((src[i] ^ 0x8000) - 0x8000) * g) >> 15
        i += 1
    return g


@micropython.viper
def peak_block(buf: ptr16, n: int) -> int:
    p = 0
    i = 0
    while i < n:
        v = (buf[i] ^ 0x8000) - 0x8000
        if v < 0:
            v = -v
        if v > p:
            p = v
        i += 1
    return p
