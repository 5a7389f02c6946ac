"""The integer arithmetic contract between the host and the firmware: THE reference.

Plain Python, integer-only, importable by CPython and MicroPython. Every stage operation is
defined here once, per sample (``*_sample``) and per block (``*_block``); the host simulator's
fast path (numba) and the firmware's viper kernels (``kernels.py``) must be bit-identical to it.
``docs/arithmetic.md`` documents formats, rounding and the 32-bit bounds of every intermediate.

Conventions
- Samples: int16 Q15 (32768 = 1.0 full scale) between stages; block buffers hold ints.
- ``>>`` is an arithmetic (floor) shift; ``&`` on a negative int gives the two's complement bits.
- No division or modulo in any per-sample function (control-rate helpers may use ``//``).
- Every intermediate stays within signed 32 bits for parameters that pass ``check_*`` bounds.

Set ``RANGE_CHECK = True`` (host tests) to assert those bounds on every intermediate.
"""

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


RANGE_CHECK = False
I32_MAX = 2147483647
I32_MIN = -2147483648

# --- biquad: DF-I, Q26 coefficients split hi (Q12) / lo (Q26), 2nd-order error feedback ------
BQ_FRAC = const(26)  # total fraction bits of a coefficient
BQ_HI = const(12)  # fraction bits of the hi part
BQ_LO = const(14)  # BQ_FRAC - BQ_HI
BQ_HALF_HI = const(2048)  # 1 << (BQ_HI - 1)
BQ_LO_MASK = const(16383)  # (1 << BQ_LO) - 1
BQ_COEF_LIMIT = const(15 << 26)  # sum of |coefficients| (Q26) must stay below 15.0
BQ_NC = const(12)  # ints per section in a kernel coefficient array
BQ_NS = const(6)  # ints of state per section: x1, x2, y1, y2, e1, e2

# --- table (waveshaper) -------------------------------------------------------------------
TB_FRAC = const(8)  # fraction bits of the table position (per segment)
TB_GM_MAX = const(65535)  # |input gain mantissa| limit (x * gm < 2^31)
TB_GS_MIN = const(2)  # minimum input shift (keeps position + offset + bias in 32 bits)
TB_OFF_MAX = const(1 << 29)  # |offset| and |bias| limit

# --- envelope follower (env_bias) ----------------------------------------------------------
ENV_FRAC = const(8)  # envelope state: Q(15+8) = Q23
# --- gains, tone, knobs ---------------------------------------------------------------------
GAIN_M_MAX = const(32767)  # |gain mantissa| limit (int16 * m < 2^30)
TONE_G_ONE = const(8192)  # tone band gains: Q13
TONE_G_MAX = const(16383)
KNOB_MAX = const(1023)  # knob positions are integers 0..1023
KNOB_MID = const(512)  # the centre position: exactly the fitted point
LOG2_FRAC = const(10)  # knob ranges are log2 gains in Q10 (1/1024 octave = 0.00588 dB)

# 2^(i/64) in Q14 for i = 0..64 (the mantissa table of pow2_q)
POW2_Q14 = (
    16384, 16562, 16743, 16925, 17109, 17296, 17484, 17674, 17867, 18061, 18258, 18457, 18658,
    18861, 19066, 19274, 19484, 19696, 19911, 20127, 20347, 20568, 20792, 21019, 21247, 21479,
    21713, 21949, 22188, 22430, 22674, 22921, 23170, 23423, 23678, 23936, 24196, 24460, 24726,
    24995, 25268, 25543, 25821, 26102, 26386, 26674, 26964, 27258, 27554, 27855, 28158, 28464,
    28774, 29088, 29405, 29725, 30048, 30376, 30706, 31041, 31379, 31720, 32066, 32415, 32768,
)


def _chk(v):
    if v > I32_MAX or v < I32_MIN:
        raise OverflowError("intermediate outside int32: %d" % v)
    return v


def sat16(v):
    """Saturate to int16."""
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return v


# ============================================================================================
# control rate: knob -> integer parameter (plain Python on the device, never per sample)
# ============================================================================================
def knob_log2(k, lo_q, hi_q):
    """Knob position k (0..1023) -> log2 gain offset in Q10.

    Two linear segments (floor division) that meet at the fitted point: k = KNOB_MID (a centred
    pot, `set drive 0.5`) gives exactly 0, k = 0 gives lo_q and k = 1023 gives hi_q. A range that
    does not contain the fitted point (lo_q > 0 or hi_q < 0) falls back to one linear map."""
    if k < 0:
        k = 0
    elif k > KNOB_MAX:
        k = KNOB_MAX
    if lo_q > 0 or hi_q < 0:
        return lo_q + ((hi_q - lo_q) * k) // KNOB_MAX
    if k >= KNOB_MID:
        return (hi_q * (k - KNOB_MID)) // (KNOB_MAX - KNOB_MID)
    return lo_q - (lo_q * k) // KNOB_MID


def pow2_q(lq):
    """2^(lq / 1024) as (mantissa Q14 in [16384, 32768], octaves); table + 4-bit interpolation."""
    octv = lq >> 10
    fr = lq & 1023
    i = fr >> 4
    a = POW2_Q14[i]
    b = POW2_Q14[i + 1]
    return a + (((b - a) * (fr & 15) + 8) >> 4), octv


def scale_by_log2(m, lq):
    """Integer m scaled by 2^(lq/1024), rounded half up. Control rate only."""
    if lq == 0:
        return m
    mant, octv = pow2_q(lq)
    v = m * mant
    sh = 14 - octv
    if sh > 0:
        return (v + (1 << (sh - 1))) >> sh
    return v << (-sh)


def knob_to_int(value):
    """A 0..1 knob value (console, host API) -> the integer position 0..1023."""
    k = int(value * KNOB_MAX + 0.5)
    return 0 if k < 0 else (KNOB_MAX if k > KNOB_MAX else k)


def ramp_step(cur, target, log2n):
    """Per-sample increment of a per-block linear ramp, rounded toward zero so that the ramp
    never overshoots the target (the value is set to the target after the block)."""
    d = target - cur
    if d >= 0:
        return d >> log2n
    return -((-d) >> log2n)


def glide_end(cur, target, left):
    """Where a knob's glide stands after this block, ``left`` blocks (>= 1) before it reaches
    ``target``: an equal share of the way, rounded toward ``cur`` (never past the target)."""
    d = target - cur
    if left <= 1:
        return target
    if d >= 0:
        return cur + d // left
    return cur - (-d) // left


# ============================================================================================
# gain: y = sat16((x * m + r) >> s), r = (1 << s) >> 1
# ============================================================================================
def gain_round(s):
    return (1 << s) >> 1


def gain_sample(x, m, s, r):
    v = x * m + r
    if RANGE_CHECK:
        _chk(x * m)
        _chk(v)
    return sat16(v >> s)


def gain_block(buf, n, m0, step, s):
    """In place; gain mantissa ramps m = m0 + step*(i+1). Returns the last mantissa used."""
    r = (1 << s) >> 1
    m = m0
    for i in range(n):
        m += step
        buf[i] = gain_sample(buf[i], m, s, r)
    return m


# ============================================================================================
# biquad
# ============================================================================================
def biquad_kernel_coefs(cq, k1, k2):
    """Q26 coefficients (b0, b1, b2, a1, a2) + integer error-feedback (k1, k2) -> 12 kernel ints.

    Layout: [bh0, bh1, bh2, -ah1, -ah2, bl0, bl1, bl2, -al1, -al2, -k1, -k2], where each
    coefficient c (Q26) = hi * 2^14 + lo with hi = (c + 2^13) >> 14 and lo in [-2^13, 2^13).
    """
    hi = []
    lo = []
    for i in range(5):
        c = cq[i]
        if i >= 3:
            c = -c
        h = (c + 8192) >> 14
        hi.append(h)
        lo.append(c - (h << 14))
    return hi + lo + [-k1, -k2]


def biquad_sample(x, c, s, o):
    """One sample of section with kernel coefs c[o:o+12] and state s[o6:o6+6] (o6 = o//2)."""
    so = o >> 1
    x1 = s[so]
    x2 = s[so + 1]
    y1 = s[so + 2]
    y2 = s[so + 3]
    e1 = s[so + 4]
    e2 = s[so + 5]
    hi = c[o] * x + c[o + 1] * x1 + c[o + 2] * x2 + c[o + 3] * y1 + c[o + 4] * y2
    lo = (c[o + 5] * x + c[o + 6] * x1 + c[o + 7] * x2 + c[o + 8] * y1 + c[o + 9] * y2
          + c[o + 10] * e1 + c[o + 11] * e2)
    if RANGE_CHECK:
        _chk(c[o] * x)
        _chk(c[o] * x + c[o + 1] * x1)
        _chk(c[o] * x + c[o + 1] * x1 + c[o + 2] * x2)
        _chk(c[o] * x + c[o + 1] * x1 + c[o + 2] * x2 + c[o + 3] * y1)
        _chk(hi)
        _chk(c[o + 5] * x + c[o + 6] * x1 + c[o + 7] * x2 + c[o + 8] * y1 + c[o + 9] * y2)
        _chk(lo)
        _chk(hi + (lo >> 14))
    hi += lo >> 14
    lo &= 16383
    y = (hi + 2048) >> 12
    if y > 32767:
        y = 32767
        e = 0
    elif y < -32768:
        y = -32768
        e = 0
    else:
        e = ((hi - (y << 12)) << 14) + lo
    s[so + 1] = x1
    s[so] = x
    s[so + 3] = y1
    s[so + 2] = y
    s[so + 5] = e1
    s[so + 4] = e
    return y


def biquad_is_fast(c, o):
    """Is the section at coef offset o a fast (5-multiply) section: every lo part and both
    error-feedback ints 0? Then lo == 0 always, and biquad_fast_sample gives the same y."""
    for j in range(o + 5, o + 12):
        if c[j]:
            return False
    return True


def biquad_fast_sample(x, c, s, o):
    """One sample of a fast section (Q12 coefficients, no error feedback). Same y as
    biquad_sample; the e history (s[6k+4], s[6k+5]) is not touched (it is never read)."""
    so = o >> 1
    x1 = s[so]
    x2 = s[so + 1]
    y1 = s[so + 2]
    y2 = s[so + 3]
    hi = c[o] * x + c[o + 1] * x1 + c[o + 2] * x2 + c[o + 3] * y1 + c[o + 4] * y2
    if RANGE_CHECK:
        _chk(c[o] * x)
        _chk(c[o] * x + c[o + 1] * x1)
        _chk(c[o] * x + c[o + 1] * x1 + c[o + 2] * x2)
        _chk(c[o] * x + c[o + 1] * x1 + c[o + 2] * x2 + c[o + 3] * y1)
        _chk(hi)
    y = sat16((hi + 2048) >> 12)
    s[so + 1] = x1
    s[so] = x
    s[so + 3] = y1
    s[so + 2] = y
    return y


def biquad_block(buf, n, c, s, o):
    """In place over buf[0:n], one section (coef offset o = 12*k, state offset 6*k).
    A fast section (biquad_is_fast) runs the 5-multiply loop: same samples, e state kept."""
    if biquad_is_fast(c, o):
        for i in range(n):
            buf[i] = biquad_fast_sample(buf[i], c, s, o)
        return
    for i in range(n):
        buf[i] = biquad_sample(buf[i], c, s, o)


def biquad_cascade_block(buf, n, c, s, nsec):
    """nsec sections in series (coefs c[12k:12k+12], state s[6k:6k+6]), one pass per section."""
    for k in range(nsec):
        biquad_block(buf, n, c, s, 12 * k)


# ============================================================================================
# chain: a run of biquad/gain/table stages as ONE kernel call per block (engine dispatch)
# ============================================================================================
CH_END = const(0)
CH_GAIN = const(2)  # [2, m0, step, sh]
CH_TABLE = const(3)  # [3, t, pmax, gm0, step, gs, off]   (t: index into arrs)
CH_CASCADE = const(4)  # [4, c, s, nsec]                  (c, s: indices into arrs)


def chain_block(buf, n, prog, arrs):
    """Run the program ``prog`` (ints; records above, 0 ends it) over buf[0:n] in place:
    the same samples and states as calling the *_block functions one after another."""
    pc = 0
    while True:
        op = prog[pc]
        if op == CH_CASCADE:
            biquad_cascade_block(buf, n, arrs[prog[pc + 1]], arrs[prog[pc + 2]], prog[pc + 3])
            pc += 4
        elif op == CH_GAIN:
            gain_block(buf, n, prog[pc + 1], prog[pc + 2], prog[pc + 3])
            pc += 4
        elif op == CH_TABLE:
            table_block(buf, n, arrs[prog[pc + 1]], prog[pc + 2], prog[pc + 3], prog[pc + 4],
                        prog[pc + 5], prog[pc + 6])
            pc += 7
        else:
            return


# ============================================================================================
# table: p = ((x * gm) >> gs) + off (+ bias), clamp [0, N << 8], linear interpolation
# ============================================================================================
def table_sample(x, t, pmax, gm, gs, off, bias):
    """t holds N+2 entries (the last one repeated) so that p = pmax needs no branch."""
    p = ((x * gm) >> gs) + off + bias
    if RANGE_CHECK:
        _chk(x * gm)
        _chk(p)
    if p < 0:
        p = 0
    elif p > pmax:
        p = pmax
    i = p >> 8
    a = t[i]
    return a + (((t[i + 1] - a) * (p & 255) + 128) >> 8)


def table_block(buf, n, t, pmax, gm0, step, gs, off):
    """In place; gm ramps gm0 + step*(i+1)."""
    gm = gm0
    for i in range(n):
        gm += step
        buf[i] = table_sample(buf[i], t, pmax, gm, gs, off, 0)
    return gm


def table_bias_block(buf, n, t, pmax, gm0, step, gs, off, bias):
    """table_block with a per-sample position bias (from env_block)."""
    gm = gm0
    for i in range(n):
        gm += step
        buf[i] = table_sample(buf[i], t, pmax, gm, gs, off, bias[i])
    return gm


# ============================================================================================
# env_bias: envelope of |x| (Q23), attack/release multipliers Q15, bias = ((E>>8)*dm) >> ds
# ============================================================================================
def env_sample(x, st, ca, cr, dm, ds):
    a = x if x >= 0 else -x
    e = st[0]
    d = (a << 8) - e
    c = ca if d > 0 else cr
    inc = ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
    if RANGE_CHECK:
        _chk((d >> 8) * c + (((d & 255) * c) >> 8))
        _chk((e >> 8) * dm)
    e += inc
    st[0] = e
    return ((e >> 8) * dm) >> ds


def env_block(buf, n, st, ca, cr, dm, ds, bias):
    """Reads buf (unchanged), writes the per-sample table bias into bias[0:n]."""
    for i in range(n):
        bias[i] = env_sample(buf[i], st, ca, cr, dm, ds)


# ============================================================================================
# tone: one-pole split at the crossover (Q23 state, Q15 coef), out = glo*lp + ghi*hp (Q13)
# ============================================================================================
def tone_sample(x, st, c, glo, ghi):
    lpst = st[0]
    d = (x << 8) - lpst
    if RANGE_CHECK:
        _chk((d >> 8) * c + (((d & 255) * c) >> 8))
    lpst += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
    st[0] = lpst
    lp = (lpst + 128) >> 8
    hp = x - lp
    v = glo * lp + ghi * hp + 4096
    if RANGE_CHECK:
        _chk((d >> 8) * c)
        _chk(glo * lp + ghi * hp)
        _chk(v)
    return sat16(v >> 13)


def tone_block(buf, n, st, c, glo0, slo, ghi0, shi):
    glo = glo0
    ghi = ghi0
    for i in range(n):
        glo += slo
        ghi += shi
        buf[i] = tone_sample(buf[i], st, c, glo, ghi)
    return ghi


# ============================================================================================
# tap / mix / delay
# ============================================================================================
def tap_block(buf, n, slot):
    for i in range(n):
        slot[i] = buf[i]


def mix_sample(x, t, m, s, r):
    v = t * m + r
    if RANGE_CHECK:
        _chk(v)
    return sat16(x + (v >> s))


def mix_block(buf, n, slot, m, s):
    r = (1 << s) >> 1
    for i in range(n):
        buf[i] = mix_sample(buf[i], slot[i], m, s, r)


def delay_block(buf, n, ring, st, d, mask):
    """Integer delay of d samples with a power-of-two ring buffer; st[0] = write index."""
    w = st[0]
    for i in range(n):
        ring[w] = buf[i]
        buf[i] = ring[(w - d) & mask]
        w = (w + 1) & mask
    st[0] = w


# ============================================================================================
# engine helpers: fades (gate, bypass, preset crossfade), peak
# ============================================================================================
def fade_block(buf, n, g0, step):
    """buf *= g (Q15, 0..32768), g ramps g0 + step*(i+1)."""
    g = g0
    for i in range(n):
        g += step
        buf[i] = (buf[i] * g) >> 15
    return g


def xfade_block(dst, src, n, g0, step):
    """dst = dst*(1-g) + src*g with g (Q15) ramping g0 + step*(i+1) (0 = all dst)."""
    g = g0
    for i in range(n):
        g += step
        dst[i] = (dst[i] * (32768 - g) + src[i] * g) >> 15
    return g


def peak_block(buf, n):
    p = 0
    for i in range(n):
        v = buf[i]
        if v < 0:
            v = -v
        if v > p:
            p = v
    return p
