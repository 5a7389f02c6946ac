# The record program of the one-call-per-block chain kernels (kernels_thumb.chain on ARM,
# kernels_xtensa.chain on ESP32): both read the same records, so they share this builder.
#
# Records (int32 words, 0 ends the program):
#   [1, c_addr, s_addr]                        biquad_block(buf, n, c, s, 0)
#   [2, m0, step, sh]                          gain_block(buf, n, m0, step, sh)
#   [3, t_addr, pmax, gm0, step, gs, off]      table_block(buf, n, t, pmax, gm0, step, gs, off)
# and on ARM only (kernels_thumb.CHAIN_KINDS):
#   [4, st_addr, c, glo0, slo, ghi0, shi]      tone_block(buf, n, st, c, glo0, slo, ghi0, shi)
#   [5, slot_addr]                             tap_block(buf, n, slot)
#   [6, slot_addr, m, sh]                      mix_block(buf, n, slot, m, sh)
#   [7, ring_addr, st_addr, d, mask]           delay_block(buf, n, ring, st, d, mask)
#   [8, st_addr, bias_addr, ca, cr, dm, ds]    env_block(buf, n, st, ca, cr, dm, ds, bias)
#   [9, t_addr, bias_addr, pmax, gm0, step, gs, off]  table_bias_block(.., bias)
from array import array


class ChainProgram:
    """A run of biquad/gain/table stages executed by ONE kernel call per block.

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

    def biquad(self, c, s):
        self.keep.append((c, s))
        self._put((1, self.addr(c), self.addr(s)))

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
