"""The firmware side under the real MicroPython unix port: viper kernels vs the reference,
the engine vs the host simulator, no heap allocation in process(), mpy-cross for every target."""

import json
import shutil
import subprocess

import numpy as np
import pytest
from pedal_helpers import (
    adversarial_int16,
    extreme_pedal,
    fitted_looking,
    musical,
    run_micropython,
    to_i16,
)
from pedaltool.paths import firmware_dir
from pedaltool.pedal import quantise, simulate
from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.fileformat import to_bytes, write_pedal
from pedaltool.pedal.render import run_firmware_engine

BLOCK = 64


def _kernel_cases(rng):
    """(kernel name, args) with arrays given as ('h'|'i', list); random + full-scale extremes."""
    arith = fw_module("arith")

    def blk(full=False):
        if full:
            return ["h", [int(v) for v in adversarial_int16(BLOCK, int(rng.integers(1 << 30)))]]
        return ["h", [int(v) for v in rng.integers(-32768, 32768, BLOCK)]]

    cases = []
    for full in (False, True):
        for _ in range(6):
            cq = [int(v) for v in rng.integers(-(2**27), 2**27, 3)]
            a2 = int(rng.integers(-(2**26) + 2**20, 2**26 - 2**20))
            a1 = int(rng.integers(-(2**26) - a2 + 2**20, 2**26 + a2 - 2**20))
            k1, k2 = int(rng.integers(-2, 3)), int(rng.integers(-1, 2))
            c = arith.biquad_kernel_coefs(cq + [a1, a2], k1, k2)
            st = [int(v) for v in rng.integers(-32768, 32768, 4)] + \
                 [int(v) for v in rng.integers(-(2**25), 2**25, 2)]
            cases.append(("biquad_block", [blk(full), BLOCK, ["i", c + c], ["i", st + st], 12]))
            cases.append(("biquad_cascade_block", [blk(full), BLOCK, ["i", c + c[::-1]],
                                                   ["i", st + st], 1 + int(full)]))
            # fast sections (every Q26 coefficient a multiple of 2^14, no error feedback): the
            # 5-multiply path; mixed with a full one in a cascade; e state must stay untouched
            cf = arith.biquad_kernel_coefs([(v >> 14) << 14 for v in cq + [a1, a2]], 0, 0)
            assert arith.biquad_is_fast(cf, 0)
            cases.append(("biquad_block", [blk(full), BLOCK, ["i", c + cf], ["i", st + st], 12]))
            # Q12 coefficients with feedback: the lo parts are 0, only the feedback runs in lo
            ch = arith.biquad_kernel_coefs([(v >> 14) << 14 for v in cq + [a1, a2]], k1 or 2, k2)
            cases.append(("biquad_cascade_block", [blk(full), BLOCK, ["i", cf + c + cf + ch],
                                                   ["i", st + st + st + st], 4]))
            cases.append(("biquad_block", [blk(full), BLOCK, ["i", ch], ["i", st], 0]))
            s = int(rng.integers(0, 31))
            cases.append(("gain_block", [blk(full), BLOCK, int(rng.integers(-32767, 32768)),
                                         int(rng.integers(-64, 65)), s]))
            t = ["h", [int(v) for v in rng.integers(-32768, 32768, 258)]]
            gs = int(rng.integers(2, 31))
            off = int(rng.integers(-(2**29), 2**29))
            gm = int(rng.integers(-65535, 65536))
            cases.append(("table_block", [blk(full), BLOCK, t, 256 << 8, gm, 0, gs, off]))
            bias = ["i", [int(v) for v in rng.integers(-(2**29), 2**29, BLOCK)]]
            cases.append(("table_bias_block", [blk(full), BLOCK, t, 256 << 8, gm // 2, 3, gs,
                                               off // 2, bias]))
            cases.append(("env_block", [blk(full), BLOCK, ["i", [int(rng.integers(0, 2**23))]],
                                        int(rng.integers(1, 32768)), int(rng.integers(1, 32768)),
                                        int(rng.integers(-32767, 32768)), int(rng.integers(1, 31)),
                                        ["i", [0] * BLOCK]]))
            lp0 = int(rng.integers(-(2**23), 2**23))
            cases.append(("tone_block", [blk(full), BLOCK, ["i", [lp0]],
                                         int(rng.integers(1, 32768)), 8192, 7, 8192, -9]))
            cases.append(("tap_block", [blk(full), BLOCK, ["h", [0] * BLOCK]]))
            mm, ms = int(rng.integers(-32767, 32768)), int(rng.integers(0, 31))
            cases.append(("mix_block", [blk(full), BLOCK, blk(True), mm, ms]))
            cases.append(("delay_block", [blk(full), BLOCK, ["h", [0] * 128], ["i", [5]],
                                          int(rng.integers(0, 128)), 127]))
            cases.append(("fade_block", [blk(full), BLOCK, 32768, -512]))
            cases.append(("xfade_block", [blk(full), blk(True), BLOCK, 0, 512]))
            cases.append(("peak_block", [blk(full), BLOCK]))
    return cases


_MP_KERNELS = r"""
import json
from array import array
from pedalcore import kernels
cases = json.load(open(CASES))
out = []
for name, args in cases:
    conv = []
    for a in args:
        conv.append(array(a[0], a[1]) if isinstance(a, list) else a)
    r = getattr(kernels, name)(*conv)
    out.append([r if isinstance(r, int) else None,
                [list(a) for a in conv if not isinstance(a, int)]])
json.dump(out, open(OUT, 'w'))
print('ok')
"""


def test_viper_kernels_equal_reference(tmp_path):
    arith = fw_module("arith")
    cases = _kernel_cases(np.random.default_rng(2026))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = f"CASES = {str(tmp_path / 'cases.json')!r}\nOUT = {str(tmp_path / 'out.json')!r}\n"
    run_micropython(script + _MP_KERNELS, tmp_path)
    got = json.loads((tmp_path / "out.json").read_text())
    assert len(got) == len(cases)
    for (name, args), (ret, arrays) in zip(cases, got, strict=True):
        conv = [list(a[1]) if isinstance(a, list) else a for a in args]
        r = getattr(arith, name)(*conv)
        ref_arrays = [a for a in conv if not isinstance(a, int)]
        assert arrays == ref_arrays, f"{name}: arrays differ"
        if name in ("gain_block", "table_block", "table_bias_block", "fade_block",
                    "xfade_block", "peak_block", "tone_block"):
            assert ret == r, f"{name}: return value differs"


@pytest.mark.parametrize("kernels", ["viper", "python"])
def test_firmware_engine_equals_host(tmp_path, kernels):
    qp = quantise(fitted_looking(48000, env=True, mix=True))
    path = write_pedal(tmp_path / "m.pedal", qp)
    x = np.concatenate([to_i16(musical(48000, 6000, seed=4)), adversarial_int16(2000)])
    for knobs in (None, {"drive": 1.0, "tone": 0.0, "level": 0.7}):
        y_fw, used = run_firmware_engine(path, x, knobs, kernels=kernels)
        assert used == kernels
        assert np.array_equal(y_fw, simulate(qp, x, knobs))
    y_fw, _ = run_firmware_engine(path, x, None, gate_dbfs=-40.0, kernels=kernels)
    assert np.array_equal(y_fw, simulate(qp, x, None, gate_dbfs=-40.0))


def test_extreme_pedal_firmware_equals_host(tmp_path):
    """Parameters at the contract's limits on full-scale input: viper on the 64-bit port gives
    the host's result. (That no intermediate needs more than 32 bits is test_arith_ranges's:
    both sides here compute in 64-bit ints.)"""
    qp = extreme_pedal()
    path = tmp_path / "x.pedal"
    path.write_bytes(to_bytes(qp))
    x = adversarial_int16(4096)
    for knobs in (None, {"drive": 0.0, "tone": 1.0, "level": 1.0}):
        y_fw, used = run_firmware_engine(path, x, knobs)
        assert used == "viper"
        assert np.array_equal(y_fw, simulate(qp, x, knobs))


_MP_HEAP = r"""
import micropython
from array import array
from pedalcore import engine, pedalfile
ped = pedalfile.load(PEDAL)
eng = engine.Engine(ped, 64)
new = engine.Engine(ped, 64)
eng.set_gate(-60)
buf = array('h', bytes(128))
for i in range(64):
    buf[i] = (i * 997) % 20000 - 10000
out = []
for step in range(12):
    if step == 3:
        eng.set_knob('drive', 900)      # control changes happen between blocks
    if step == 5:
        eng.set_bypass(True)
    if step == 8:
        eng.set_bypass(False)
    micropython.heap_lock()
    try:
        if step == 10:
            engine.crossfade(eng, new, buf)
        else:
            eng.process(buf)
    finally:
        micropython.heap_unlock()
    out.append(list(buf))
print(engine.KERNELS, len(out), max(max(abs(v) for v in b) for b in out))
"""


def test_process_allocates_nothing(tmp_path):
    qp = quantise(fitted_looking(48000, env=True, mix=True))
    path = write_pedal(tmp_path / "m.pedal", qp)
    out = run_micropython(f"PEDAL = {str(path)!r}\n" + _MP_HEAP, tmp_path)
    kern, nblocks, peak = out.split()
    assert kern == "viper" and nblocks == "12" and 0 < int(peak) <= 32767


def test_bypass_is_a_click_free_crossfade(fitted_qp):
    """The block where bypass engages is exactly a linear wet -> dry crossfade."""
    from array import array

    from pedaltool.pedal.simulate import firmware_pedal

    eng_mod = fw_module("engine")
    eng_mod.use_kernels("python")
    plain = eng_mod.Engine(firmware_pedal(fitted_qp), 64)
    byp = eng_mod.Engine(firmware_pedal(fitted_qp), 64)
    x = to_i16(musical(48000, 64 * 30, seed=9))
    for b in range(30):
        dry = x[b * 64:(b + 1) * 64].astype(np.int64)
        wet_buf = array("h", dry.astype(np.int16).tobytes())
        plain.process(wet_buf)
        wet = np.array(wet_buf, np.int64)
        if b == 20:
            byp.set_bypass(True)
        buf = array("h", dry.astype(np.int16).tobytes())
        byp.process(buf)
        y = np.array(buf, np.int64)
        if b < 20:
            assert np.array_equal(y, wet)
        elif b == 20:
            g = 512 * np.arange(1, 65)
            assert np.array_equal(y, (wet * (32768 - g) + dry * g) >> 15)
            assert abs(wet[0] - dry[0]) > 100  # a hard switch would have jumped
        else:
            assert np.array_equal(y, dry)


def test_mpy_cross_compiles_for_every_target(tmp_path):
    exe = shutil.which("mpy-cross")
    assert exe, "mpy-cross not installed"
    for mod in ("arith", "kernels", "engine", "pedalfile"):
        src = firmware_dir() / "pedalcore" / f"{mod}.py"
        for arch in ("xtensawin", "armv6m", "armv7emsp", "rv32imc"):
            out = tmp_path / f"{mod}_{arch}.mpy"
            proc = subprocess.run([exe, f"-march={arch}", "-o", str(out), str(src)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{mod} {arch}: {proc.stderr}"


def test_knob_ramps_firmware_equals_reference(tmp_path, range_check):
    """Knob moves between blocks ramp identically in viper and in the reference, also with
    parameters at the contract's limits (with the 64-bit range check on in the reference)."""
    from pedaltool.pedal.simulate import simulate_reference

    sched = [(2, "drive", 1.0), (3, "level", 0.0), (5, "tone", 0.0), (7, "drive", 0.0),
             (8, "tone", 1.0), (9, "level", None), (11, "drive", None), (12, "level", 1.0)]
    for qp, x, audible in ((quantise(fitted_looking(48000, env=True, mix=True)),
                            to_i16(musical(48000, 64 * 16, seed=6)), True),
                           # no env/mix: the engine chains bq-bq-table(drive)-bq-bq-bq and
                           # dcblock-gain(level) into two chain_block calls (ramps inside)
                           (quantise(fitted_looking(48000)),
                            to_i16(musical(48000, 64 * 16, seed=7)), True),
                           (extreme_pedal(), adversarial_int16(64 * 16), False)):
        path = tmp_path / "k.pedal"
        path.write_bytes(to_bytes(qp))
        ref = simulate_reference(qp, x, schedule=sched)
        fw, used = run_firmware_engine(path, x, schedule=sched)
        assert used == "viper" and np.array_equal(fw, ref)
        if audible:
            assert not np.array_equal(ref, simulate(qp, x))  # the knobs did something


def test_a_knob_change_glides_over_ten_ms():
    """A knob change reaches its new value in whole blocks over engine.GLIDE_MS, moving a
    little every block, never past it: reached in one block (0.67 ms at 32 samples), a console
    `set` ticked on a held note and a turned pot moved in steps (an audit). The level knob is
    the chain's last gain, so the output's ratio to a static run is the gain itself."""
    from pedaltool.pedal.simulate import firmware_pedal, simulate_reference

    blk, at = 32, 8
    qp = quantise(fitted_looking(48000))
    t = np.arange(48000 // 8) / 48000
    x = to_i16(0.05 * np.sin(2 * np.pi * 220 * t) + 0.01)
    old = simulate_reference(qp, x, {"level": 0.5}, block=blk).astype(float)
    new = simulate_reference(qp, x, {"level": 1.0}, block=blk).astype(float)
    moved = simulate_reference(qp, x, {"level": 0.5}, block=blk,
                               schedule=[(at, "level", 1.0)]).astype(float)
    glide = fw_module("engine").Engine(firmware_pedal(qp), blk).glide
    assert glide == 15  # 10 ms of 32-sample blocks
    start, end = at * blk, (at + glide) * blk
    assert np.array_equal(moved[:start], old[:start])
    assert np.array_equal(moved[end:], new[end:])  # there, exactly, after 10 ms
    loud = np.abs(new - old) > 200  # where the two gains differ clearly
    frac = (moved - old)[loud] / (new - old)[loud]  # 0 = the old gain, 1 = the new
    pos = np.flatnonzero(loud)
    for b in range(at, at + glide):  # each block a share of the way, in order
        f = frac[(pos >= b * blk) & (pos < (b + 1) * blk)]
        assert f.size and np.all(f > (b - at) / glide - 0.02) and np.all(f < (b - at + 1)
                                                                          / glide + 0.02), b


def test_preset_crossfade_blends_old_into_new(fitted_qp):
    """engine.crossfade runs both engines on the block and fades old -> new linearly."""
    from array import array

    from pedaltool.pedal.simulate import firmware_pedal

    eng_mod = fw_module("engine")
    eng_mod.use_kernels("python")
    other = quantise(fitted_looking(48000))
    x = to_i16(musical(48000, 64, seed=12))
    ya, yb = array("h", x.tobytes()), array("h", x.tobytes())
    eng_mod.Engine(firmware_pedal(fitted_qp), 64).process(ya)
    eng_mod.Engine(firmware_pedal(other), 64).process(yb)
    old = eng_mod.Engine(firmware_pedal(fitted_qp), 64)
    new = eng_mod.Engine(firmware_pedal(other), 64)
    buf = array("h", x.tobytes())
    eng_mod.crossfade(old, new, buf)
    g = 32768 - 512 * np.arange(1, 65)
    a, b = np.array(ya, np.int64), np.array(yb, np.int64)
    assert np.array_equal(np.array(buf), (b * (32768 - g) + a * g) >> 15)
    assert buf[63] == yb[63] and not np.array_equal(a, b)


def _resting_off_zero():
    """A table whose output at rest is 0.3 of full scale, into a low-frequency peak and a
    high-pass: from zeros its filters step to that rest (a thump)."""
    from pedaltool.pedal import model as M
    from pedaltool.pedal.accuracy import biquad_stage, rbj

    u = np.linspace(-1, 1, 65)
    return quantise(M.PedalModel([
        M.TableStage(4.0, -1.0, 1.0, 0.3 + 0.6 * np.tanh(2 * u)),
        biquad_stage(*rbj("peak", 90, 48000, 2.0, 9.0)),
        biquad_stage(*rbj("highpass", 30, 48000))], 48000))


def test_a_loaded_model_starts_from_its_rest_on_the_pedal_and_the_host(tmp_path):
    """Engine.prewarm (the pedal runs it whenever it loads a model): the chain settles on
    silence first, so a model whose table rests off zero does not thump; the MicroPython
    engine and the host's simulate(prewarm=True) agree sample for sample."""
    qp = _resting_off_zero()
    path = write_pedal(tmp_path / "r.pedal", qp)
    silence = np.zeros(4800, np.int16)
    cold = simulate(qp, silence)
    warm = simulate(qp, silence, prewarm=True)
    assert np.max(np.abs(cold.astype(float))) > 3000  # -20 dBFS: the thump without prewarm
    assert np.max(np.abs(warm.astype(float))) <= 2  # settled: at most an LSB or two
    music = to_i16(musical(48000, 4000, seed=8))
    x = np.concatenate([silence, music])
    for q, p in ((qp, path), (extreme_pedal(), tmp_path / "x.pedal")):
        p.write_bytes(to_bytes(q))
        # with the gate, music from the first sample: the prewarm must leave the gate open
        for xx, gate in ((x, None), (music, -40.0)):
            y_fw, _ = run_firmware_engine(p, xx, gate_dbfs=gate, prewarm=True)
            assert np.array_equal(y_fw, simulate(q, xx, gate_dbfs=gate, prewarm=True))
            assert np.array_equal(y_fw, simulate(q, xx, engine="reference", gate_dbfs=gate,
                                                 prewarm=True))


def test_a_memory_error_while_picking_kernels_is_said_as_one(monkeypatch):
    """A MemoryError while importing a kernel module is not a port without the native
    emitter: the engine lets it through instead of saying "no viper in this MicroPython" (a
    tight heap on the unix port read as a missing emitter, a review)."""
    import sys
    import types

    engine = fw_module("engine")

    def out_of_memory(kind):
        raise MemoryError("memory allocation failed")

    monkeypatch.setitem(sys.modules, "micropython", types.ModuleType("micropython"))
    monkeypatch.setattr(engine, "use_kernels", out_of_memory)
    with pytest.raises(MemoryError):
        engine._pick_kernels()

    def no_emitter(kind):
        raise ImportError(kind)

    monkeypatch.setattr(engine, "use_kernels", no_emitter)
    with pytest.raises(ImportError, match="no viper"):
        engine._pick_kernels()
