"""The DSP engine: executes a loaded pedal model over blocks of int16 samples, in place.

``Engine(pedal, block)`` preallocates everything (buffers, states, padded tables); ``process(buf)``
allocates nothing. Knob changes (drive/tone/level) glide over ~GLIDE_MS, a noise gate
(off by default), click-free bypass, and ``crossfade(old, new, buf, tmp)`` for preset changes.

Kernels (same signatures, bit-identical results): ``pedalcore.kernels_thumb`` (asm_thumb) on ARM
ports, ``pedalcore.kernels_xtensa`` (asm_xtensa shipped as viper code, docs/performance.md) on
ESP32, else the viper module ``pedalcore.kernels`` when the port has the native emitter; a
MicroPython without it cannot import the engine (``_pick_kernels``). Under CPython (host
simulator) the pure-Python reference ``pedalcore.arith`` is used.
Arithmetic: docs/arithmetic.md.
"""

from array import array

try:
    from pedalcore import arith
    from pedalcore import pedalfile as pf
except ImportError:  # loaded from the firmware folder on sys.path
    import arith
    import pedalfile as pf

K = arith  # kernel provider
KERNELS = "python"


def use_kernels(kind):
    """Select the kernel provider: 'thumb' (asm_thumb on ARM, kernels_thumb.py), 'xtensa'
    (asm_xtensa on ESP32, kernels_xtensa.py: only as the flasher's viper-tagged .mpy), 'viper'
    (kernels.py) or 'python' (arith.py). Raises ImportError/SyntaxError if unavailable."""
    global K, KERNELS
    if kind == "thumb":
        from pedalcore import kernels_thumb

        K = kernels_thumb
    elif kind == "xtensa":
        from pedalcore import kernels_xtensa

        K = kernels_xtensa
    elif kind == "viper":
        from pedalcore import kernels

        K = kernels
    else:
        K = arith
    KERNELS = kind


def _pick_kernels():
    """The fastest provider that compiles on this port (all are bit-identical). On
    MicroPython one must: arith.py as the audio kernels would pass a board's small-int range
    (+-2^30) with the heap locked, and is far too slow for real time (docs/arithmetic.md,
    "Bounds"); the app then runs as a buffered bypass and says why."""
    try:
        import micropython  # noqa: F401
    except ImportError:  # CPython (host simulator): the reference
        return
    for kind in ("thumb", "xtensa", "viper"):
        try:
            use_kernels(kind)
            return
        except MemoryError:  # not a missing emitter: say what it is
            raise
        except Exception:  # no asm_thumb / asm_xtensa .mpy / native emitter on this port
            pass
    raise ImportError("no viper in this MicroPython")


_pick_kernels()

CHAIN = 10  # op kind of a chained run (not a stage kind of the .pedal format)
GATE_HOLD_BLOCKS = 32  # blocks the gate stays open after the level drops below the threshold
# then it closes over this long (ms, whole blocks: 60 of 32 samples at 48 kHz); in one block
# (0.67 ms) it cut a high-gain note's tail to silence while the output was at -37..-16 dBFS,
# and fluttered on notes near the threshold (an audit)
GATE_RELEASE_MS = 40
# a knob change glides to its new value over this long (ms, whole blocks: 15 of 32 samples at
# 48 kHz, 3 of 128), as a run of per-block linear ramps. Reached in one block (0.67 ms on the
# Pico), a console `set` ticked on a held note (26x the energy above 3 kHz on a high-gain
# model) and a turned pot, read every 3 blocks, moved in steps (a buzz 40 dB under the note)
GLIDE_MS = 10
Q15_ONE = 32768
# samples of silence a new model runs before it is heard (0.34 s at 48 kHz; a multiple of
# every block size, so the host's simulation needs no block size): its filters settle on the
# rest value of its tables, which otherwise steps them at power-up and at every preset change
# (docs/arithmetic.md, "Prewarm")
PREWARM_SAMPLES = 16384


class _Op:
    """One executable stage: kind + ints + preallocated arrays. Attributes depend on kind."""

    __slots__ = ("kind", "knob", "a", "b", "c", "d", "e", "f", "cur", "tgt", "cur2", "tgt2",
                 "left", "arr", "st", "lo", "hi", "sub")

    def __init__(self, kind, knob):
        self.kind = kind
        self.knob = knob
        self.a = self.b = self.c = self.d = self.e = self.f = 0
        self.cur = self.tgt = self.cur2 = self.tgt2 = 0
        self.left = 0  # blocks of the knob's glide still to go
        self.lo = self.hi = 0
        self.arr = None
        self.st = None
        self.sub = None


def _log2(n):
    k = 0
    while (1 << k) < n:
        k += 1
    if (1 << k) != n:
        raise ValueError("block size %d is not a power of two" % n)
    return k


class Engine:
    """Run ``pedal`` (a pedalfile.Pedal) over blocks of ``block`` samples (a power of two)."""

    def __init__(self, pedal, block=64):
        self.pedal = pedal
        self.n = block
        self.log2n = _log2(block)
        self.glide = ms_blocks(GLIDE_MS, pedal.rate, self.log2n)
        self.gate_release = gate_release_step(pedal.rate, self.log2n)
        self.dry = array("h", bytes(2 * block))
        self.tmp = array("h", bytes(2 * block))
        self.bias = array("i", bytes(4 * block))
        self.slots = [None, None, None, None]
        self.knobs = {"drive": None, "tone": None, "level": None}
        self.gate_open_thr = 0  # int16 peak; 0 = gate off
        self.gate_g = Q15_ONE
        self.gate_hold = 0
        self.bypass = False
        self.wet_dry = 0  # Q15: 0 = all wet (model), 32768 = all dry (bypass)
        self.in_peak = 0
        ops = []
        prev = None
        stages = pedal.stages
        i = 0
        while i < len(stages):
            st = stages[i]
            if st.kind == pf.BIQUAD or st.kind == pf.DCBLOCK:
                j = i  # a run of sections becomes one cascade op (one kernel call per block)
                while j < len(stages) and stages[j].kind in (pf.BIQUAD, pf.DCBLOCK):
                    j += 1
                ops.append(self._make_cascade(stages[i:j]))
                prev = stages[j - 1]
                i = j
                continue
            ops.append(self._make_op(st, prev))
            prev = st
            i += 1
        self.all_ops = ops  # every stage op (reset, knob targets)
        self.ops = self._make_chains(ops)  # what run_chain executes
        self.nops = len(self.ops)
        self.reset()

    # ------------------------------------------------------------------ construction
    def _make_cascade(self, sections):
        op = _Op(pf.BIQUAD, None)
        c = []
        for st in sections:
            p = st.p
            c += arith.biquad_kernel_coefs([p[0], p[1], p[2], p[3], p[4]], p[5], p[6])
        op.arr = array("i", c)
        op.st = array("i", bytes(4 * arith.BQ_NS * len(sections)))
        op.a = len(sections)
        return op

    def _make_op(self, st, prev):
        kind = st.kind
        p = st.p
        op = _Op(kind, pf.KNOB_NAMES[st.knob])
        if kind == pf.GAIN:
            op.a = p[1]  # shift
            op.b = p[0]  # fitted mantissa
            op.lo = p[2]
            op.hi = p[3]
        elif kind == pf.TABLE:
            nseg = 1 << p[0]
            op.arr = st.table  # already padded by the reader: no second copy in the heap
            op.a = nseg << arith.TB_FRAC  # pmax
            op.b = p[1]  # fitted gm
            op.c = p[2]  # gs
            op.d = p[3]  # off
            op.lo = p[4]
            op.hi = p[5]
            op.e = 1 if (prev is not None and prev.kind == pf.ENV_BIAS) else 0
        elif kind == pf.ENV_BIAS:
            op.a, op.b, op.c, op.d = p[0], p[1], p[2], p[3]
            op.st = array("i", [0])
        elif kind == pf.TAP:
            slot = p[0]
            if self.slots[slot] is None:
                self.slots[slot] = array("h", bytes(2 * self.n))
            op.arr = self.slots[slot]
        elif kind == pf.MIX:
            slot = p[0]
            if self.slots[slot] is None:
                self.slots[slot] = array("h", bytes(2 * self.n))
            op.arr = self.slots[slot]
            op.a = p[1]
            op.b = p[2]
        elif kind == pf.TONE:
            op.a = p[0]
            op.lo = p[1]
            op.hi = p[2]
            op.st = array("i", [0])
        elif kind == pf.DELAY:
            d = p[0]
            size = 16
            while size < d + 1:
                size <<= 1
            op.arr = array("h", bytes(2 * size))
            op.st = array("i", [0])
            op.a = d
            op.b = size - 1
        return op

    def _make_chains(self, ops):
        """Runs of >= 2 consecutive chainable ops become one CHAIN op: one kernel call per
        block (the interpreter's dispatch cost is paid once, docs/performance.md "Dispatch").
        On ARM (kernels_thumb) the asm chain() program runs every stage kind, so a whole model
        (even of one op) is one call; on ESP32 (kernels_xtensa) and elsewhere (K.chain_block)
        runs of biquads, gains and tables (not fed by an env_bias)."""
        chain_cls = _chain_class()
        full = chain_cls is not None and chain_cls.FULL
        out = []
        i = 0
        while i < len(ops):
            j = i
            while j < len(ops) and (full or ops[j].kind in (1, 2)
                                    or (ops[j].kind == 3 and not ops[j].e)):
                j += 1
            if (j - i >= 2 or full) and (chain_cls is not None or hasattr(K, "chain_block")):
                out.append(self._make_chain(ops[i:j], chain_cls))
                i = j
            else:
                out.append(ops[i])
                i += 1
        return out

    def _make_chain(self, run, chain_cls):
        op = _Op(CHAIN, None)
        subs = []  # (gain/table/tone op, index of its first (start value, step) word)
        if chain_cls is not None:  # asm chain(): records hold addresses
            ch, subs = chain_cls.for_ops(run, self.bias)
            op.arr = ch.prog
            op.st = ch  # keeps the arrays alive
            op.f = 1
        else:
            words = []
            arrs = []
            for o in run:
                if o.kind == 2:
                    words += [arith.CH_CASCADE, len(arrs), len(arrs) + 1, o.a]
                    arrs += [o.arr, o.st]
                elif o.kind == 1:
                    subs.append((o, len(words) + 1))
                    words += [arith.CH_GAIN, o.cur, 0, o.a]
                else:
                    subs.append((o, len(words) + 3))
                    words += [arith.CH_TABLE, len(arrs), o.a, o.cur, 0, o.c, o.d]
                    arrs.append(o.arr)
            words.append(arith.CH_END)
            op.arr = array("i", words)
            op.st = tuple(arrs)
        op.sub = subs
        op.e = 1  # the program's ramp words must be (re)written before the next block
        return op

    def reset(self):
        """Clear all filter/delay/envelope states; knobs jump to their targets."""
        for op in self.all_ops:
            if op.st is not None:
                for i in range(len(op.st)):
                    op.st[i] = 0
            if op.kind == pf.DELAY:
                for i in range(len(op.arr)):
                    op.arr[i] = 0
        self._retarget(True)

    # ------------------------------------------------------------------ controls (not audio)
    def set_knob(self, name, k, immediate=False):
        """Knob ``name`` to position k (int 0..1023) or None (the fitted point). Ramped."""
        if name not in self.knobs:
            raise ValueError("unknown knob %s" % name)
        self.knobs[name] = k
        self._retarget(immediate)

    def set_gate(self, threshold_dbfs):
        """Noise gate threshold in dBFS (None or <= -120 turns it off).

        The dB value becomes a log2 gain in Q10 (one rounding) and the peak threshold comes
        from the integer pow2 table, so single-precision floats on the MCU give the host's
        threshold."""
        if threshold_dbfs is None or threshold_dbfs <= -120:
            self.gate_open_thr = 0
        else:
            lq = int(threshold_dbfs * 170.08 + (0.5 if threshold_dbfs >= 0 else -0.5))
            v = arith.scale_by_log2(32768, lq)
            self.gate_open_thr = 1 if v < 1 else (32767 if v > 32767 else v)
        self._update_fast()

    def set_bypass(self, on):
        """Bypass on/off; the change crossfades over the next block."""
        self.bypass = bool(on)
        self._update_fast()

    def _lq(self, op):
        k = self.knobs.get(op.knob) if op.knob else None
        if k is None:
            return 0
        return arith.knob_log2(k, op.lo, op.hi)

    def _retarget(self, immediate):
        for op in self.ops:
            if op.kind == CHAIN:
                op.e = 1
        self.fast_op = None  # the chain's ramp words are rewritten by the next block
        for op in self.all_ops:
            kind = op.kind
            if kind == pf.GAIN:
                op.tgt = arith.scale_by_log2(op.b, self._lq(op))
            elif kind == pf.TABLE:
                op.tgt = arith.scale_by_log2(op.b, self._lq(op))
            elif kind == pf.TONE:
                lq = self._lq(op)
                op.tgt = arith.scale_by_log2(arith.TONE_G_ONE, -lq)  # g_lo
                op.tgt2 = arith.scale_by_log2(arith.TONE_G_ONE, lq)  # g_hi
            else:
                continue
            if immediate:
                op.cur = op.tgt
                op.cur2 = op.tgt2
                op.left = 0
            else:
                op.left = self.glide

    # ------------------------------------------------------------------ audio (no allocation)
    def run_chain(self, buf):
        """Run every stage over buf[0:n] in place (no gate, no bypass).

        Lean on purpose (this is interpreted once per block per op): ops in a list, kinds as
        small ints tested most-common first, the ramp helper only called while a knob moves."""
        n = self.n
        sh = self.log2n
        ops = self.ops
        k = K
        for i in range(self.nops):
            op = ops[i]
            kind = op.kind
            if kind == CHAIN:  # a run of cascades/gains/tables: one kernel call
                prog = op.arr
                if op.e:  # a knob moved: write each stage's (start, step) for this block
                    busy = 0
                    for sub, w in op.sub:
                        c = sub.cur
                        t = sub.tgt
                        prog[w] = c
                        if sub.kind == 7:  # TONE: glo0, slo, ghi0, shi (as tone_block's)
                            prog[w + 2] = sub.cur2
                            if c == t and sub.cur2 == sub.tgt2:
                                prog[w + 1] = 0
                                prog[w + 3] = 0
                            else:
                                prog[w + 3] = _glide_step2(sub, sh)
                                prog[w + 1] = _glide_step(sub, sh)
                                busy = 1
                        elif c == t:
                            prog[w + 1] = 0
                        else:
                            prog[w + 1] = _glide_step(sub, sh)
                            busy = 1
                    op.e = busy  # one more rewrite (step 0) after a ramping block
                if op.f:
                    k.chain(buf, n, prog)
                else:
                    k.chain_block(buf, n, prog, op.st)
            elif kind == 2:  # a run of BIQUAD/DCBLOCK sections
                k.biquad_cascade_block(buf, n, op.arr, op.st, op.a)
            elif kind == 1:  # GAIN
                c = op.cur
                if c == op.tgt:
                    k.gain_block(buf, n, c, 0, op.a)
                else:
                    k.gain_block(buf, n, c, _glide_step(op, sh), op.a)
            elif kind == 3:  # TABLE
                c = op.cur
                st = 0 if c == op.tgt else _glide_step(op, sh)
                if op.e:
                    k.table_bias_block(buf, n, op.arr, op.a, c, st, op.c, op.d, self.bias)
                else:
                    k.table_block(buf, n, op.arr, op.a, c, st, op.c, op.d)
            elif kind == 4:  # ENV_BIAS
                k.env_block(buf, n, op.st, op.a, op.b, op.c, op.d, self.bias)
            elif kind == 7:  # TONE
                c = op.cur
                c2 = op.cur2
                if c == op.tgt and c2 == op.tgt2:
                    k.tone_block(buf, n, op.st, op.a, c, 0, c2, 0)
                else:
                    s2 = _glide_step2(op, sh)
                    k.tone_block(buf, n, op.st, op.a, c, _glide_step(op, sh), c2, s2)
            elif kind == 5:  # TAP
                k.tap_block(buf, n, op.arr)
            elif kind == 6:  # MIX
                k.mix_block(buf, n, op.arr, op.a, op.b)
            elif kind == 8:  # DELAY
                k.delay_block(buf, n, op.arr, op.st, op.a, op.b)

    def _update_fast(self):
        """fast_op = the model's only op when it is a CHAIN and process() has nothing else to
        do (gate off and open, no bypass or fade, no knob ramp pending), else None."""
        op = self.ops[0] if self.nops == 1 else None
        if (op is None or op.kind != CHAIN or op.e or self.gate_open_thr or self.bypass
                or self.wet_dry or self.gate_g != Q15_ONE):
            op = None
        self.fast_op = op

    def prewarm(self):
        """Run the chain on PREWARM_SAMPLES of silence (gate and bypass untouched): a new
        model starts from its rest, as NAM's own prewarm does. Uses ``tmp``, which only a
        preset crossfade needs."""
        buf = self.tmp
        for _ in range(PREWARM_SAMPLES // self.n):
            K.fade_block(buf, self.n, 0, 0)  # silence (again: the chain ran in place)
            self.run_chain(buf)

    def process(self, buf):
        """One block in place: gate detector, chain, gate, bypass crossfade."""
        op = self.fast_op
        if op is not None:
            # the common case in one kernel call and few attribute lookups (the interpreter's
            # per-block cost, docs/performance.md "Dispatch")
            if op.f:
                K.chain(buf, self.n, op.arr)
            else:
                K.chain_block(buf, self.n, op.arr, op.st)
            return
        self._process(buf)
        self._update_fast()

    def _process(self, buf):
        n = self.n
        sh = self.log2n
        k = K
        thr = self.gate_open_thr
        if thr:
            pk = k.peak_block(buf, n)
            self.in_peak = pk
            if pk >= thr:
                self.gate_hold = GATE_HOLD_BLOCKS
                gt = Q15_ONE
            elif pk >= (thr >> 1) and self.gate_g == Q15_ONE:
                gt = Q15_ONE  # hysteresis: stay open until the level falls 6 dB below
            elif self.gate_hold > 0:
                self.gate_hold -= 1
                gt = Q15_ONE
            else:  # releasing: a share of full scale a block (a multiple of n: exact ramps)
                g = self.gate_g
                gt = g - self.gate_release if g > self.gate_release else 0
        else:
            gt = Q15_ONE
        wt = Q15_ONE if self.bypass else 0
        wd = self.wet_dry
        if wd == Q15_ONE and wt == Q15_ONE:
            return  # fully bypassed: dry passes untouched, the chain rests
        if wd or wt:
            k.tap_block(buf, n, self.dry)
        self.run_chain(buf)
        g = self.gate_g
        if g != Q15_ONE or gt != Q15_ONE:
            k.fade_block(buf, n, g, (gt - g) >> sh)
            self.gate_g = gt
        if wd or wt:
            k.xfade_block(buf, self.dry, n, wd, (wt - wd) >> sh)
            self.wet_dry = wt


def _chain_class():
    """K.Chain when this port can build its address programs (uctypes: MicroPython only),
    else None (K.chain_block's index programs, or no chaining)."""
    if not hasattr(K, "Chain"):
        return None
    try:
        import uctypes  # noqa: F401  (K._addr needs it)
    except ImportError:
        return None
    return K.Chain


def _glide_step(op, sh):
    """One block of ``op``'s knob glide (docs/arithmetic.md "Ramps"): moves ``op.cur`` to the
    block's end and returns the per-sample step from where it was. Plain ints, no allocation:
    it runs in the audio path."""
    c = op.cur
    t = arith.glide_end(c, op.tgt, op.left)
    op.left -= 1
    op.cur = t
    return arith.ramp_step(c, t, sh)


def _glide_step2(op, sh):
    """The tone's second glide (``cur2`` to ``tgt2``) for one block, as _glide_step: call it
    first, so that both glides see the same ``op.left``."""
    c = op.cur2
    t = arith.glide_end(c, op.tgt2, op.left)
    op.cur2 = t
    return arith.ramp_step(c, t, sh)


def ms_blocks(ms, rate, log2n):
    """``ms`` milliseconds as whole blocks of 2^log2n samples at ``rate`` Hz (at least one)."""
    return max(1, (rate * ms // 1000) >> log2n)


def gate_release_step(rate, log2n):
    """How far the gate's Q15 gain falls per block of 2^log2n samples as it closes: full scale
    over GATE_RELEASE_MS, rounded to a multiple of the block so each block's ramp is exact."""
    return max(1, (Q15_ONE // ms_blocks(GATE_RELEASE_MS, rate, log2n)) >> log2n) << log2n


def crossfade(old, new, buf):
    """Process one block with both engines and crossfade old -> new (preset change)."""
    tmp = new.tmp
    K.tap_block(buf, new.n, tmp)
    old.process(tmp)
    new.process(buf)
    K.xfade_block(buf, tmp, new.n, Q15_ONE, -(Q15_ONE >> new.log2n))
