"""numba implementation of the integer contract (pedalcore.arith), bit-identical to it.

The control-rate work (parameter derivation, knob -> mantissa) is done by constructing the
firmware's own ``Engine`` under CPython; only the per-sample loops are re-implemented here.
With knobs fixed from the first sample there are no ramps, so a signal can be run stage by stage,
a chunk of it at a time with every state carried; the noise gate is then applied per block
exactly as ``Engine.process`` does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pedaltool.pedal._fw import fw_module


@njit(cache=True)
def _sat16(v):
    if v > 32767:
        return 32767
    if v < -32768:
        return -32768
    return v


@njit(cache=True)
def gain_k(x, m, s):
    r = (1 << s) >> 1
    for i in range(len(x)):
        x[i] = _sat16((x[i] * m + r) >> s)


@njit(cache=True)
def biquad_k(x, c, st):
    x1, x2, y1, y2, e1, e2 = st[0], st[1], st[2], st[3], st[4], st[5]
    if (c[5] | c[6] | c[7] | c[8] | c[9] | c[10] | c[11]) == 0:
        # fast section (arith.biquad_fast_sample): lo == 0 always; e history untouched
        for i in range(len(x)):
            xi = x[i]
            y = _sat16((c[0] * xi + c[1] * x1 + c[2] * x2 + c[3] * y1 + c[4] * y2 + 2048) >> 12)
            x2 = x1
            x1 = xi
            y2 = y1
            y1 = y
            x[i] = y
        st[0], st[1], st[2], st[3] = x1, x2, y1, y2
        return
    for i in range(len(x)):
        xi = x[i]
        hi = c[0] * xi + c[1] * x1 + c[2] * x2 + c[3] * y1 + c[4] * y2
        lo = (c[5] * xi + c[6] * x1 + c[7] * x2 + c[8] * y1 + c[9] * y2 + c[10] * e1
              + c[11] * e2)
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
        x2 = x1
        x1 = xi
        y2 = y1
        y1 = y
        e2 = e1
        e1 = e
        x[i] = y
    st[0], st[1], st[2], st[3], st[4], st[5] = x1, x2, y1, y2, e1, e2


@njit(cache=True)
def table_k(x, t, pmax, gm, gs, off, bias, use_bias):
    for i in range(len(x)):
        p = ((x[i] * gm) >> gs) + off
        if use_bias:
            p += bias[i]
        if p < 0:
            p = 0
        elif p > pmax:
            p = pmax
        j = p >> 8
        a = t[j]
        x[i] = a + (((t[j + 1] - a) * (p & 255) + 128) >> 8)


@njit(cache=True)
def env_k(x, st, ca, cr, dm, ds, bias):
    e = st[0]
    for i in range(len(x)):
        a = x[i]
        if a < 0:
            a = -a
        d = (a << 8) - e
        c = ca if d > 0 else cr
        e += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
        bias[i] = ((e >> 8) * dm) >> ds
    st[0] = e


@njit(cache=True)
def tone_k(x, st, c, glo, ghi):
    lps = st[0]
    for i in range(len(x)):
        xi = x[i]
        d = (xi << 8) - lps
        lps += ((d >> 8) * c + (((d & 255) * c) >> 8)) >> 7
        lp = (lps + 128) >> 8
        x[i] = _sat16((glo * lp + ghi * (xi - lp) + 4096) >> 13)
    st[0] = lps


@njit(cache=True)
def mix_k(x, t, m, s):
    r = (1 << s) >> 1
    for i in range(len(x)):
        x[i] = _sat16(x[i] + ((t[i] * m + r) >> s))


@njit(cache=True)
def delay_k(x, line):
    """x delayed by len(line) samples; ``line`` holds the inputs before x (oldest first) and
    is left holding x's last ones."""
    d = len(line)
    if d == 0:
        return
    both = np.concatenate((line, x))
    line[:] = both[len(x):]
    x[:] = both[:len(x)]


@njit(cache=True)
def gate_k(x, y, block, log2n, thr, hold_blocks, release, st):
    """Engine.process's gate: detector on input blocks x, fade applied to output y; it closes
    by ``release`` (Q15) a block (engine.gate_release_step). ``st``: [gain (Q15), hold],
    carried from one call to the next."""
    g = st[0]
    hold = st[1]
    nb = len(x) // block
    for b in range(nb):
        pk = 0
        for i in range(b * block, (b + 1) * block):
            v = x[i]
            if v < 0:
                v = -v
            if v > pk:
                pk = v
        if pk >= thr:
            hold = hold_blocks
            gt = 32768
        elif pk >= (thr >> 1) and g == 32768:
            gt = 32768
        elif hold > 0:
            hold -= 1
            gt = 32768
        else:
            gt = g - release if g > release else 0
        if g != 32768 or gt != 32768:
            step = (gt - g) >> log2n
            gg = g
            for i in range(b * block, (b + 1) * block):
                gg += step
                y[i] = (y[i] * gg) >> 15
            g = gt
    st[0] = g
    st[1] = hold


# samples the engine runs at a time (whole blocks): its int64 signals then
# take a few MB whatever the input's length (a 60-minute DI ran out of memory on a 3 GB
# machine when the whole signal went through each stage at once)
CHUNK = 1 << 18


class _Run:
    """The engine's ops with their states, run over a signal a chunk at a time: the same
    samples as over the whole of it (every state carried: biquad, envelope, tone, delay line
    and gate). ``prewarm``: the chain first runs on ``engine.PREWARM_SAMPLES`` of silence
    (``Engine.prewarm``), which the gate does not see."""

    def __init__(self, qp, knob_pos: dict, block: int, gate_dbfs, prewarm: bool):
        from pedaltool.pedal.simulate import firmware_pedal

        self.eng_mod = fw_module("engine")
        self.pf = fw_module("pedalfile")
        eng = self.eng = self.eng_mod.Engine(firmware_pedal(qp), block)
        for k, v in knob_pos.items():
            eng.set_knob(k, v, True)
        eng.set_gate(gate_dbfs)
        self.block = block
        self.states = []  # per op (eng.all_ops: every stage; eng.ops groups runs into chains)
        self.arrays = [np.array(op.arr, np.int64) if op.kind in (self.pf.BIQUAD, self.pf.TABLE)
                       else None for op in eng.all_ops]  # coefficients, table values
        for op in eng.all_ops:
            if op.kind == self.pf.BIQUAD:  # a cascade of op.a sections
                self.states.append([np.zeros(6, np.int64) for _ in range(op.a)])
            elif op.kind == self.pf.DELAY:
                self.states.append(np.zeros(op.a, np.int64))  # the line's last op.a inputs
            else:
                self.states.append(np.zeros(1, np.int64))
        self.gate = np.array([32768, 0], np.int64)  # gain (Q15), hold (blocks)
        if prewarm:
            warm = self.eng_mod.PREWARM_SAMPLES // block * block  # whole blocks
            self._chain(np.zeros(warm, np.int64))

    def _chain(self, sig: np.ndarray, tick=None) -> None:
        """Every op over ``sig`` in place (int64), carrying the states; ``tick(fraction of
        the ops done)`` before each."""
        pf = self.pf
        slots: dict[int, np.ndarray] = {}
        bias = np.zeros(len(sig), np.int64)
        ops = self.eng.all_ops
        for done, (op, st, arr) in enumerate(zip(ops, self.states, self.arrays, strict=True)):
            if tick:
                tick(done / len(ops))
            kind = op.kind
            if kind == pf.BIQUAD:
                for sec in range(op.a):
                    biquad_k(sig, arr[12 * sec:12 * sec + 12], st[sec])
            elif kind == pf.GAIN:
                gain_k(sig, op.cur, op.a)
            elif kind == pf.TABLE:
                table_k(sig, arr, op.a, op.cur, op.c, op.d, bias, bool(op.e))
            elif kind == pf.ENV_BIAS:
                env_k(sig, st, op.a, op.b, op.c, op.d, bias)
            elif kind == pf.TAP:
                slots[id(op.arr)] = sig.copy()
            elif kind == pf.MIX:
                mix_k(sig, slots[id(op.arr)], op.a, op.b)
            elif kind == pf.TONE:
                tone_k(sig, st, op.a, op.cur, op.cur2)
            elif kind == pf.DELAY:
                delay_k(sig, st)
            else:  # pragma: no cover - the parser rejects unknown kinds
                raise ValueError(f"unknown stage kind {kind}")

    def process(self, x: np.ndarray, tick=None) -> np.ndarray:
        """The next ``len(x)`` samples (int16 in, int16 out): a whole number of blocks but for
        the signal's last chunk, which is run padded with silence. ``tick``: see _chain."""
        n = len(x)
        sig = np.zeros(-(-n // self.block) * self.block, np.int64)
        sig[:n] = x
        eng = self.eng
        xin = sig.copy() if eng.gate_open_thr else None  # (the gate's detector reads it)
        self._chain(sig, tick)
        if xin is not None:
            gate_k(xin, sig, self.block, eng.log2n, eng.gate_open_thr,
                   self.eng_mod.GATE_HOLD_BLOCKS, eng.gate_release, self.gate)
        return sig[:n].astype(np.int16)


def simulate_fast(qp, x: np.ndarray, knob_pos: dict, block: int, gate_dbfs,
                  progress=None, prewarm: bool = False) -> np.ndarray:
    """The engine's ops one after another, a chunk (CHUNK samples) at a time (_Run);
    ``progress(fraction done)`` before each op of each chunk (a 10-minute DI takes about ten
    seconds here)."""
    run = _Run(qp, knob_pos, block, gate_dbfs, prewarm)
    n = len(x)
    step = max(1, CHUNK // block) * block  # whole blocks, for the gate's
    out = np.empty(n, np.int16)
    for i in range(0, n, step):
        m = min(step, n - i)
        tick = (lambda f, i=i, m=m: progress((i + f * m) / n)) if progress else None
        out[i:i + step] = run.process(x[i:i + step], tick)
    return out
