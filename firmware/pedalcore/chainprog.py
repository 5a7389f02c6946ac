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

    Build once (allocates), then per block call run(buf, n) (no allocation). For a ramping
    gain/table stage write the block's start value and step with set_ramp(slot, v0, step)
    (slot = the index returned when the stage was added), as you would pass them to
    gain_block/table_block. Keeps references to the arrays it points at. A kernel module
    subclasses it with addr(array) -> address and run(buf, n).
    """

    FULL = False  # True: the kernel runs every record kind above, not just 1-3

    def __init__(self, max_words=256):
        self.prog = array("i", bytes(4 * max_words))
        self.len = 0
        self.keep = []

    def _put(self, words):
        if self.len + len(words) + 1 > len(self.prog):
            raise ValueError("chain program full")
        for w in words:
            self.prog[self.len] = w
            self.len += 1
        self.prog[self.len] = 0  # end marker

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

    def cascade(self, c, s, nsec):
        """nsec sections: coefs c[12k:12k+12], states s[6k:6k+6] (one record each)."""
        self.keep.append((c, s))
        ca = self.addr(c)
        sa = self.addr(s)
        for k in range(nsec):
            self._put((1, ca + 48 * k, sa + 24 * k))

    def gain(self, m0, step, sh):
        slot = self.len + 1
        self._put((2, m0, step, sh))
        return slot

    def table(self, t, pmax, gm0, step, gs, off):
        self.keep.append(t)
        slot = self.len + 3
        self._put((3, self.addr(t), pmax, gm0, step, gs, off))
        return slot

    def tone(self, st, c):
        """Slot: the index of glo0 (glo0, slo, ghi0, shi follow), written as ramps are."""
        self.keep.append(st)
        slot = self.len + 3
        self._put((4, self.addr(st), c, 0, 0, 0, 0))
        return slot

    def tap(self, slot):
        self.keep.append(slot)
        self._put((5, self.addr(slot)))

    def mix(self, slot, m, sh):
        self.keep.append(slot)
        self._put((6, self.addr(slot), m, sh))

    def delay(self, ring, st, d, mask):
        self.keep.append((ring, st))
        self._put((7, self.addr(ring), self.addr(st), d, mask))

    def env(self, st, bias, ca, cr, dm, ds):
        self.keep.append((st, bias))
        self._put((8, self.addr(st), self.addr(bias), ca, cr, dm, ds))

    def table_bias(self, t, bias, pmax, gm0, step, gs, off):
        self.keep.append((t, bias))
        slot = self.len + 4
        self._put((9, self.addr(t), self.addr(bias), pmax, gm0, step, gs, off))
        return slot

    def set_ramp(self, slot, v0, step):
        self.prog[slot] = v0
        self.prog[slot + 1] = step


class DropIns:
    """arith.py's kernel API over a chain kernel, for a kernel module to re-export: each call
    writes a one-record program (a run of biquad records for a cascade, MAX_RUN sections a
    call) into a preallocated array and runs it, so a call allocates nothing. ``chain`` is
    the module's chain(buf, n, prog), ``addr`` its addressof(array). The engine builds its
    model's program once instead (ChainProgram); these serve single calls."""

    MAX_RUN = 32

    def __init__(self, chain, addr):
        self.chain = chain
        self.addr = addr
        self.p = array("i", bytes(4 * (3 * self.MAX_RUN + 1)))

    def biquad_cascade_block(self, buf, n, c, s, nsec):
        """nsec sections (coefs c[12k:12k+12], state s[6k:6k+6])."""
        p = self.p
        ca = self.addr(c)
        sa = self.addr(s)
        k = 0
        while k < nsec:
            j = 0
            while j < 3 * self.MAX_RUN and k < nsec:
                p[j] = 1
                p[j + 1] = ca + 48 * k
                p[j + 2] = sa + 24 * k
                j += 3
                k += 1
            p[j] = 0
            self.chain(buf, n, p)

    def biquad_block(self, buf, n, c, s, o):
        """The section at c[o:o + 12] with its state at s[o // 2:]."""
        p = self.p
        p[0] = 1
        p[1] = self.addr(c) + 4 * o
        p[2] = self.addr(s) + 2 * o
        p[3] = 0
        self.chain(buf, n, p)

    def gain_block(self, buf, n, m0, step, s):
        p = self.p
        p[0] = 2
        p[1] = m0
        p[2] = step
        p[3] = s
        p[4] = 0
        self.chain(buf, n, p)
        return m0 + step * n if n > 0 else m0

    def table_block(self, buf, n, t, pmax, gm0, step, gs, off):
        p = self.p
        p[0] = 3
        p[1] = self.addr(t)
        p[2] = pmax
        p[3] = gm0
        p[4] = step
        p[5] = gs
        p[6] = off
        p[7] = 0
        self.chain(buf, n, p)
        return gm0 + step * n if n > 0 else gm0

    def tone_block(self, buf, n, st, c, glo0, slo, ghi0, shi):
        p = self.p
        p[0] = 4
        p[1] = self.addr(st)
        p[2] = c
        p[3] = glo0
        p[4] = slo
        p[5] = ghi0
        p[6] = shi
        p[7] = 0
        self.chain(buf, n, p)
        return ghi0 + shi * n if n > 0 else ghi0

    def tap_block(self, buf, n, slot):
        p = self.p
        p[0] = 5
        p[1] = self.addr(slot)
        p[2] = 0
        self.chain(buf, n, p)

    def mix_block(self, buf, n, slot, m, s):
        p = self.p
        p[0] = 6
        p[1] = self.addr(slot)
        p[2] = m
        p[3] = s
        p[4] = 0
        self.chain(buf, n, p)

    def delay_block(self, buf, n, ring, st, d, mask):
        p = self.p
        p[0] = 7
        p[1] = self.addr(ring)
        p[2] = self.addr(st)
        p[3] = d
        p[4] = mask
        p[5] = 0
        self.chain(buf, n, p)

    def env_block(self, buf, n, st, ca, cr, dm, ds, bias):
        p = self.p
        p[0] = 8
        p[1] = self.addr(st)
        p[2] = self.addr(bias)
        p[3] = ca
        p[4] = cr
        p[5] = dm
        p[6] = ds
        p[7] = 0
        self.chain(buf, n, p)

    def table_bias_block(self, buf, n, t, pmax, gm0, step, gs, off, bias):
        p = self.p
        p[0] = 9
        p[1] = self.addr(t)
        p[2] = self.addr(bias)
        p[3] = pmax
        p[4] = gm0
        p[5] = step
        p[6] = gs
        p[7] = off
        p[8] = 0
        self.chain(buf, n, p)
        return gm0 + step * n if n > 0 else gm0
