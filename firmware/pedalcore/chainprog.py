# The record program of the one-call-per-block chain kernels (kernels_thumb.chain on ARM,
# kernels_xtensa.chain on ESP32): both read the same records, so they share this builder.
#
# Records (int32 words, 0 ends the program):
#   [1, c_addr, s_addr]                        biquad_block(buf, n, c, s, 0)
#   [2, m0, step, sh]                          gain_block(buf, n, m0, step, sh)
#   [3, t_addr, pmax, gm0, step, gs, off]      table_block(buf, n, t, pmax, gm0, step, gs, off)
from array import array


class ChainProgram:
    """A run of biquad/gain/table stages executed by ONE kernel call per block.

    Build once (allocates), then per block call run(buf, n) (no allocation). For a ramping
    gain/table stage write the block's start value and step with set_ramp(slot, v0, step)
    (slot = the index returned when the stage was added), as you would pass them to
    gain_block/table_block. Keeps references to the arrays it points at. A kernel module
    subclasses it with addr(array) -> address and run(buf, n).
    """

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

    def set_ramp(self, slot, v0, step):
        self.prog[slot] = v0
        self.prog[slot + 1] = step
