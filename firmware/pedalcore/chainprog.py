# The record program of the one-call-per-block chain kernels (kernels_thumb.chain on ARM,
# kernels_xtensa.chain on ESP32): both read the same records, so they share this builder.
#
# Records (int32 words, 0 ends the program):
#   [1, c_addr, s_addr]                        biquad_block(buf, n, c, s, 0)
#   [2, m0, step, sh]                          gain_block(buf, n, m0, step, sh)
#   [3, t_addr, pmax, gm0, step, gs, off]      table_block(buf, n, t, pmax, gm0, step, gs, off)
# and on ARM only (kernels_thumb.Chain.FULL):
#   [4, st_addr, c, glo0, slo, ghi0, shi]      tone_block(buf, n, st, c, glo0, slo, ghi0, shi)
#   [5, slot_addr]                             tap_block(buf, n, slot)
#   [6, slot_addr, m, sh]                      mix_block(buf, n, slot, m, sh)
#   [7, ring_addr, st_addr, d, mask]           delay_block(buf, n, ring, st, d, mask)
#   [8, st_addr, bias_addr, ca, cr, dm, ds]    env_block(buf, n, st, ca, cr, dm, ds, bias)
#   [9, t_addr, bias_addr, pmax, gm0, step, gs, off]  table_bias_block(.., bias)
from array import array

# int32 words of a record per engine op kind (the .pedal stage kind); a cascade (2) takes 3
# per section, a table fed by an env_bias one more
_OP_WORDS = {1: 4, 3: 7, 4: 7, 5: 2, 6: 4, 7: 7, 8: 5}


class ChainProgram:
    """A run of stages (records above) executed by ONE kernel call per block.

    Build once, then per block call run(buf, n). For a ramping gain/table stage write the
    block's start value and step with set_ramp(slot, v0, step) (slot = the index returned
    when the stage was added), as you would pass them to gain_block/table_block. The record
    methods write ints into the preallocated program and allocate nothing (DropIns uses
    them per call); the program points at arrays, which its builder keeps alive (for_ops
    keeps its ops). A kernel module subclasses it with addr(array) -> address and
    run(buf, n).
    """

    FULL = False  # True: the kernel runs every record kind above, not just 1-3

    def __init__(self, max_words=256):
        self.prog = array("i", bytes(4 * max_words))
        self.len = 0
        self.keep = []

    def reset(self):
        """An empty program (its arrays stay as they are)."""
        self.len = 0
        self.prog[0] = 0

    def _room(self, words):
        """The index of a new record of ``words`` ints, the end marker written after it."""
        i = self.len
        if i + words + 1 > len(self.prog):
            raise ValueError("chain program full")
        self.len = i + words
        self.prog[i + words] = 0
        return i

    @classmethod
    def for_ops(cls, run, bias):
        """A program of the engine's ops ``run`` (engine._Op, kinds as in the .pedal: 1 gain,
        2 a cascade of ``a`` sections, 3 table (``e``: fed by an env_bias, reading ``bias``), 4
        env_bias, 5 tap, 6 mix, 7 tone, 8 delay), and the (op, word) pairs whose ramp words
        the engine rewrites when a knob moves. Setup time: allocates."""
        words = 1
        for o in run:
            words += 3 * o.a if o.kind == 2 else _OP_WORDS[o.kind] + (o.kind == 3 and o.e)
        ch = cls(words)
        ch.keep.append(run)  # (the ops hold the arrays the records point at)
        subs = []
        for o in run:
            kind = o.kind
            if kind == 2:
                ch.cascade(o.arr, o.st, o.a)
            elif kind == 1:
                subs.append((o, ch.gain(o.cur, 0, o.a)))
            elif kind == 3 and o.e:
                subs.append((o, ch.table_bias(o.arr, bias, o.a, o.cur, 0, o.c, o.d)))
            elif kind == 3:
                subs.append((o, ch.table(o.arr, o.a, o.cur, 0, o.c, o.d)))
            elif kind == 4:
                ch.env(o.st, bias, o.a, o.b, o.c, o.d)
            elif kind == 7:
                subs.append((o, ch.tone(o.st, o.a)))
            elif kind == 5:
                ch.tap(o.arr)
            elif kind == 6:
                ch.mix(o.arr, o.a, o.b)
            else:  # 8, delay
                ch.delay(o.arr, o.st, o.a, o.b)
        return ch, subs

    def cascade(self, c, s, nsec, o=0):
        """nsec sections, one record each: coefs c[o + 12k:o + 12k + 12], states
        s[o // 2 + 6k:o // 2 + 6k + 6] (o: ints into c, as arith.biquad_block's)."""
        ca = self.addr(c) + 4 * o
        sa = self.addr(s) + 2 * o
        p = self.prog
        for k in range(nsec):
            i = self._room(3)
            p[i] = 1
            p[i + 1] = ca + 48 * k
            p[i + 2] = sa + 24 * k

    def gain(self, m0, step, sh):
        i = self._room(4)
        p = self.prog
        p[i] = 2
        p[i + 1] = m0
        p[i + 2] = step
        p[i + 3] = sh
        return i + 1

    def table(self, t, pmax, gm0, step, gs, off):
        i = self._room(7)
        p = self.prog
        p[i] = 3
        p[i + 1] = self.addr(t)
        p[i + 2] = pmax
        p[i + 3] = gm0
        p[i + 4] = step
        p[i + 5] = gs
        p[i + 6] = off
        return i + 3

    def tone(self, st, c):
        """Slot: the index of glo0 (glo0, slo, ghi0, shi follow, 0 until written as ramps)."""
        i = self._room(7)
        p = self.prog
        p[i] = 4
        p[i + 1] = self.addr(st)
        p[i + 2] = c
        for k in range(3, 7):
            p[i + k] = 0
        return i + 3

    def tap(self, slot):
        i = self._room(2)
        self.prog[i] = 5
        self.prog[i + 1] = self.addr(slot)

    def mix(self, slot, m, sh):
        i = self._room(4)
        p = self.prog
        p[i] = 6
        p[i + 1] = self.addr(slot)
        p[i + 2] = m
        p[i + 3] = sh

    def delay(self, ring, st, d, mask):
        i = self._room(5)
        p = self.prog
        p[i] = 7
        p[i + 1] = self.addr(ring)
        p[i + 2] = self.addr(st)
        p[i + 3] = d
        p[i + 4] = mask

    def env(self, st, bias, ca, cr, dm, ds):
        i = self._room(7)
        p = self.prog
        p[i] = 8
        p[i + 1] = self.addr(st)
        p[i + 2] = self.addr(bias)
        p[i + 3] = ca
        p[i + 4] = cr
        p[i + 5] = dm
        p[i + 6] = ds

    def table_bias(self, t, bias, pmax, gm0, step, gs, off):
        i = self._room(8)
        p = self.prog
        p[i] = 9
        p[i + 1] = self.addr(t)
        p[i + 2] = self.addr(bias)
        p[i + 3] = pmax
        p[i + 4] = gm0
        p[i + 5] = step
        p[i + 6] = gs
        p[i + 7] = off
        return i + 4

    def set_ramp(self, slot, v0, step):
        self.prog[slot] = v0
        self.prog[slot + 1] = step


class DropIns:
    """arith.py's kernel API over a chain kernel, for a kernel module to re-export: each call
    writes its record with the ChainProgram methods into one preallocated program of
    ``chain_cls`` (a cascade in runs of at most MAX_RUN sections) and runs it, so a call
    allocates nothing. The engine builds its model's program once instead (for_ops); these
    serve single calls."""

    MAX_RUN = 32

    def __init__(self, chain_cls):
        self.ch = chain_cls(3 * self.MAX_RUN + 1)

    def biquad_cascade_block(self, buf, n, c, s, nsec):
        """nsec sections (coefs c[12k:12k+12], state s[6k:6k+6])."""
        ch = self.ch
        k = 0
        while k < nsec:
            m = min(nsec - k, self.MAX_RUN)
            ch.reset()
            ch.cascade(c, s, m, 12 * k)
            ch.run(buf, n)
            k += m

    def biquad_block(self, buf, n, c, s, o):
        """The section at c[o:o + 12] with its state at s[o // 2:]."""
        ch = self.ch
        ch.reset()
        ch.cascade(c, s, 1, o)
        ch.run(buf, n)

    def gain_block(self, buf, n, m0, step, s):
        ch = self.ch
        ch.reset()
        ch.gain(m0, step, s)
        ch.run(buf, n)
        return m0 + step * n if n > 0 else m0

    def table_block(self, buf, n, t, pmax, gm0, step, gs, off):
        ch = self.ch
        ch.reset()
        ch.table(t, pmax, gm0, step, gs, off)
        ch.run(buf, n)
        return gm0 + step * n if n > 0 else gm0

    def tone_block(self, buf, n, st, c, glo0, slo, ghi0, shi):
        ch = self.ch
        ch.reset()
        w = ch.tone(st, c)
        ch.set_ramp(w, glo0, slo)
        ch.set_ramp(w + 2, ghi0, shi)
        ch.run(buf, n)
        return ghi0 + shi * n if n > 0 else ghi0

    def tap_block(self, buf, n, slot):
        ch = self.ch
        ch.reset()
        ch.tap(slot)
        ch.run(buf, n)

    def mix_block(self, buf, n, slot, m, s):
        ch = self.ch
        ch.reset()
        ch.mix(slot, m, s)
        ch.run(buf, n)

    def delay_block(self, buf, n, ring, st, d, mask):
        ch = self.ch
        ch.reset()
        ch.delay(ring, st, d, mask)
        ch.run(buf, n)

    def env_block(self, buf, n, st, ca, cr, dm, ds, bias):
        ch = self.ch
        ch.reset()
        ch.env(st, bias, ca, cr, dm, ds)
        ch.run(buf, n)

    def table_bias_block(self, buf, n, t, pmax, gm0, step, gs, off, bias):
        ch = self.ch
        ch.reset()
        ch.table_bias(t, bias, pmax, gm0, step, gs, off)
        ch.run(buf, n)
        return gm0 + step * n if n > 0 else gm0
