"""The numba host engine equals the pure-Python reference (the firmware engine under CPython)
sample for sample, for every stage kind, knob setting and the noise gate."""

import numpy as np
import pytest
from pedal_helpers import adversarial_int16, extreme_pedal, fitted_looking, musical, to_i16
from pedaltool.pedal import (
    _fast,  # the engine under test: numba missing fails, no fallback
    quantise,
    simulate,
)
from pedaltool.pedal import model as M

N = 5000


def _signals(rate):
    rng = np.random.default_rng(rate)
    return {
        "noise": rng.integers(-32768, 32768, N).astype(np.int16),
        "musical": to_i16(musical(rate, N, seed=3)),
        "adversarial": adversarial_int16(N),
    }


def _models():
    u = np.linspace(-2, 2, 65)
    yield "fitted48k", quantise(fitted_looking(48000, env=True, mix=True))
    yield "plain44k", quantise(fitted_looking(44100))
    yield "mix32k", quantise(fitted_looking(32000, mix=True))
    yield "extreme", extreme_pedal()
    yield "small-table", quantise(M.PedalModel(
        [M.GainStage(6.0, "drive", -6, 6), M.TableStage(1.0, -2, 2, np.tanh(u) * 0.5),
         M.DelayStage(17)], 48000))


@pytest.mark.parametrize("name,qp", list(_models()), ids=lambda v: v if isinstance(v, str) else "")
def test_fast_equals_reference(name, qp):
    for sig_name, x in _signals(qp.sample_rate).items():
        for knobs in (None, {"drive": 0.8, "tone": 0.1, "level": 0.3}):
            ref = simulate(qp, x, knobs, engine="reference")
            fast = simulate(qp, x, knobs)
            bad = np.flatnonzero(ref != fast)
            assert len(bad) == 0, f"{name}/{sig_name}/{knobs}: first mismatch at {bad[:5]}"


def test_gate_fast_equals_reference():
    qp = quantise(fitted_looking(48000))
    x = to_i16(musical(48000, 12000, seed=5))
    x[6000:] //= 300  # a quiet tail the gate must close on
    for thr in (-50.0, -30.0):
        ref = simulate(qp, x, None, engine="reference", gate_dbfs=thr)
        fast = simulate(qp, x, None, gate_dbfs=thr)
        assert np.array_equal(ref, fast)
    closed = simulate(qp, x, None, gate_dbfs=-50.0)
    assert np.all(closed[-2000:] == 0)  # the gate closed after the hold time
    assert np.any(simulate(qp, x)[-2000:] != 0)  # and it is off by default


def test_the_gate_closes_over_its_release_time():
    """After its hold the gate fades out over engine.GATE_RELEASE_MS, in equal steps, not in
    one block: in one block (0.67 ms) it cut a high-gain note's tail to silence at -37 to
    -16 dBFS (an audit). Both engines."""
    from pedaltool.pedal._fw import fw_module

    eng = fw_module("engine")
    qp = quantise(fitted_looking(48000))
    blk, n_loud, n = 32, 4800, 24000
    x = 0.3 * np.sin(2 * np.pi * 220 * np.arange(n) / 48000)
    x[n_loud:] *= 0.01  # -50 dBFS: under half the -30 dBFS threshold, so the hold runs
    x = to_i16(x)
    free = simulate(qp, x, None, block=blk).astype(float)
    gated = simulate(qp, x, None, block=blk, gate_dbfs=-30.0)
    assert np.array_equal(gated, simulate(qp, x, None, engine="reference", block=blk,
                                          gate_dbfs=-30.0))
    step = eng.gate_release_step(48000, 5)
    blocks = -(-32768 // step)
    assert 40 <= blocks * blk * 1000 / 48000 <= 42  # ms
    start = (n_loud // blk + eng.GATE_HOLD_BLOCKS) * blk  # the first block of the release
    end = start + blocks * blk
    assert np.array_equal(gated[:start], free[:start])
    assert np.all(gated[end:] == 0)
    gain = [np.dot(gated[b:b + blk], free[b:b + blk]) / np.dot(free[b:b + blk], free[b:b + blk])
            for b in range(start, end, blk)]  # each block's gain (least squares)
    assert np.all(np.diff(gain) < 0.02) and gain[0] > 0.97 and gain[-1] < 0.03  # (floors)
    assert abs(gain[len(gain) // 2] - 0.5) < 0.05  # linear


def test_block_size_does_not_change_the_output():
    qp = quantise(fitted_looking(48000, env=True))
    x = to_i16(musical(48000, 3000, seed=1))
    a = simulate(qp, x, engine="reference", block=32)
    b = simulate(qp, x, engine="reference", block=128)
    assert np.array_equal(a, b)


def _blocks(rng, n=512):
    yield rng.integers(-32768, 32768, n)
    yield adversarial_int16(n, int(rng.integers(1 << 30))).astype(np.int64)


def test_fast_kernels_equal_the_reference_kernels_on_random_parameters():
    """Each numba kernel against its arith twin on random parameters anywhere in the
    contract's ranges (the whole-model comparisons above run fitted, benign parameters
    through some stages: a rounding slip in env_k's bias survived them)."""
    from pedaltool.pedal._fw import fw_module

    arith = fw_module("arith")
    rng = np.random.default_rng(7)
    for _ in range(40):
        for x in _blocks(rng):
            n = len(x)
            ref = [int(v) for v in x]

            def check(name, fast_out, ref_out):
                assert np.array_equal(np.asarray(fast_out), np.asarray(ref_out)), name

            m, s = int(rng.integers(-32767, 32768)), int(rng.integers(0, 31))
            y = x.copy()
            _fast.gain_k(y, m, s)
            r = list(ref)
            arith.gain_block(r, n, m, 0, s)
            check("gain", y, r)

            cq = [int(v) for v in rng.integers(-(2**27), 2**27, 3)]
            a2 = int(rng.integers(-(2**26) + 2**20, 2**26 - 2**20))
            a1 = int(rng.integers(-(2**26) - a2 + 2**20, 2**26 + a2 - 2**20))
            for k1, k2 in ((0, 0), (int(rng.integers(-2, 3)), int(rng.integers(-1, 2)))):
                for q in (cq + [a1, a2], [(v >> 14) << 14 for v in cq + [a1, a2]]):
                    c = arith.biquad_kernel_coefs(q, k1, k2)
                    y, st = x.copy(), np.zeros(6, np.int64)
                    _fast.biquad_k(y, np.array(c, np.int64), st)
                    r, rst = list(ref), [0] * 6
                    arith.biquad_block(r, n, c, rst, 0)
                    check("biquad", y, r)
                    check("biquad state", st, rst)

            ca, cr = int(rng.integers(1, 32768)), int(rng.integers(1, 32768))
            dm, ds = int(rng.integers(-32767, 32768)), int(rng.integers(1, 31))
            e0 = int(rng.integers(0, 2**23))
            bias, st = np.zeros(n, np.int64), np.array([e0], np.int64)
            _fast.env_k(x.copy(), st, ca, cr, dm, ds, bias)
            rbias, rst = [0] * n, [e0]
            arith.env_block(list(ref), n, rst, ca, cr, dm, ds, rbias)
            check("env bias", bias, rbias)
            check("env state", st, rst)

            t = [int(v) for v in rng.integers(-32768, 32768, 258)]
            gm, gs = int(rng.integers(-65535, 65536)) // 2, int(rng.integers(2, 31))
            off = int(rng.integers(-(2**29), 2**29)) // 2
            bias = rng.integers(-(2**29), 2**29, n) // 2
            for use_bias in (False, True):
                y = x.copy()
                _fast.table_k(y, np.array(t, np.int64), 256 << 8, gm, gs, off, bias, use_bias)
                r = list(ref)
                if use_bias:
                    arith.table_bias_block(r, n, t, 256 << 8, gm, 0, gs, off, list(bias))
                else:
                    arith.table_block(r, n, t, 256 << 8, gm, 0, gs, off)
                check("table", y, r)

            c = int(rng.integers(1, 32768))
            glo, ghi = (int(v) for v in rng.integers(-16340, 16341, 2))
            lp0 = int(rng.integers(-(2**23), 2**23))
            y, st = x.copy(), np.array([lp0], np.int64)
            _fast.tone_k(y, st, c, glo, ghi)
            r, rst = list(ref), [lp0]
            arith.tone_block(r, n, rst, c, glo, 0, ghi, 0)
            check("tone", y, r)
            check("tone state", st, rst)

            slot = rng.integers(-32768, 32768, n)
            m, s = int(rng.integers(-32767, 32768)), int(rng.integers(0, 16))
            y = x.copy()
            _fast.mix_k(y, slot, m, s)
            r = list(ref)
            arith.mix_block(r, n, [int(v) for v in slot], m, s)
            check("mix", y, r)


def test_the_gate_opens_at_exactly_its_threshold_as_the_reference_does():
    """Blocks whose peak is exactly the open threshold, one below it, and exactly half of it
    (the hysteresis edge), in both engines."""
    from pedaltool.pedal._fw import fw_module

    arith = fw_module("arith")
    qp = quantise(fitted_looking(48000))
    block = 64
    quiet = [0] * (fw_module("engine").GATE_HOLD_BLOCKS + 2)  # the hold runs out: the gate closes
    for dbfs in (-40.0, -30.0):
        thr = arith.scale_by_log2(32768, int(dbfs * 170.08 - 0.5))  # engine.set_gate's
        peaks = [thr, *quiet, thr - 1, *quiet, thr, thr >> 1, (thr >> 1) - 1, *quiet,
                 thr >> 1, thr, *quiet]
        x = to_i16(musical(48000, block * len(peaks), seed=2)) // 4000  # below every peak
        assert np.max(np.abs(x)) < (thr >> 1) - 1
        for b, peak in enumerate(peaks):
            x[b * block + 7] = peak if b % 2 else -peak
        ref = simulate(qp, x, None, engine="reference", gate_dbfs=dbfs)
        fast = simulate(qp, x, None, gate_dbfs=dbfs)
        assert np.array_equal(ref, fast), dbfs
        assert np.any(ref == 0) and np.any(ref != 0)  # it closed and opened


@pytest.mark.parametrize("chunk", [64, 192, 4096])
def test_the_fast_engine_carries_every_state_from_chunk_to_chunk(monkeypatch, chunk):
    """A long input runs a chunk at a time (_fast.CHUNK; a 60-minute DI ran out of memory
    when it went whole through each stage): with small chunks, every state (biquads,
    envelope, tone, delay line, tap, gate, the prewarm) crosses the chunk boundaries as the
    firmware engine's does across its blocks."""
    monkeypatch.setattr(_fast, "CHUNK", chunk)
    x = to_i16(musical(48000, 9000, seed=7))
    x[5000:] //= 300  # a quiet end that closes the gate
    for name, qp in _models():
        for kw in ({}, {"gate_dbfs": -50.0}, {"prewarm": True}, {"block": 256},
                   {"knobs": {"drive": 0.8, "tone": 0.1, "level": 0.3}}):  # (tone: a flat
            ref = simulate(qp, x, engine="reference", **kw)  # tilt needs no state)
            fast = simulate(qp, x, **kw)
            bad = np.flatnonzero(ref != fast)
            assert len(bad) == 0, f"{name}/{kw}: first mismatch at {bad[:5]}"
