"""The firmware's own main loop (pedalcore.app.run) on the simulated board: audio path.

Everything runs in the real MicroPython unix port with the heap locked around every audio block
(the board profile's default), and the output WAV is compared with the host simulator.
"""

import json
import time

import numpy as np
import pytest
from fwsim import (
    LOCK_CONTROL,
    at_engine_block,
    board_json,
    make_slot,
    pedal_bytes,
    pedal_model,
    read_wav16,
    run_fw,
    run_micropython_code,
    write_wav16,
)
from pedaltool.pedal.quantise import quantise
from pedaltool.pedal.simulate import simulate

BLOCK = 32  # rpi_pico profile
PRIME = 1
SETTLED = 20  # blocks: 2 muted + 15 fade-in (10 ms) + margin


def di_signal(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 48000
    x = 20000 * np.sin(2 * np.pi * 196 * t) * np.exp(-3 * (t % 0.5)) + rng.normal(0, 1500, n)
    return np.clip(x, -32768, 32767).astype(np.int16)


def knobs_at_mid():
    return {"drive": 512 / 1023, "tone": 512 / 1023, "level": 512 / 1023}


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("play")
    model = pedal_model()
    slot = make_slot(tmp, {"a.pedal": pedal_bytes(model)})
    x = di_signal(48000)
    r = run_fw(tmp, slot, write_wav16(tmp / "in.wav", x), prelude=LOCK_CONTROL)
    return r, x, read_wav16(tmp / "out.wav"), quantise(model)


def test_runs_to_the_end_of_the_input(played):
    r, x, y, _ = played
    assert r.returncode == 0, r.stderr
    assert r.final["blocks"] == len(x) // BLOCK
    assert r.sim["frames_in"] == len(x)
    assert len(y) == len(x) + PRIME * BLOCK  # the primed silence, then every block
    assert r.final["fault"] is None and r.final["xruns"] == 0


def test_output_equals_host_simulator_bit_for_bit(played):
    r, x, y, qp = played
    host = simulate(qp, x, knobs_at_mid(), block=BLOCK, prewarm=True)  # as the pedal loads it
    dev = y[PRIME * BLOCK:]
    k = SETTLED * BLOCK
    assert np.array_equal(dev[k:], host[k:]), "firmware output differs from the host engine"
    assert np.abs(host[k:]).max() > 1000  # the comparison is not between two silences


def test_starts_muted_then_fades_in(played):
    _, x, y, qp = played
    assert not y[: (PRIME + 2) * BLOCK].any()  # primed silence + blocks before unmute
    host = simulate(qp, x, knobs_at_mid(), block=BLOCK, prewarm=True)
    ramp = y[(PRIME + 2) * BLOCK:(PRIME + 17) * BLOCK].astype(float)
    ref = host[2 * BLOCK:17 * BLOCK].astype(float)
    assert np.all(np.abs(ramp) <= np.abs(ref) + 1)  # never louder than the effect itself


def test_boot_line_and_codec_setup(played):
    r, *_ = played
    boot = json.loads(r.tagged("boot")[0])
    assert boot["preset"] == 1 and boot["name"] == "tiny drive" and boot["version"]
    regs = {reg: val for addr, reg, val in r.sim["i2c"] if addr == 0x18}
    assert regs[0x01] & 0x80  # ES8311 internal MCLK taken from BCLK: no MCLK pin needed
    assert (regs[0x02] >> 3) & 3 == 2  # x4: 64 fs BCLK -> 256 fs
    xsmt = [v for _, pin, v in r.sim["led"] if pin == 19]
    assert xsmt[0] == 0 and 1 in xsmt and xsmt[-1] == 0  # muted, unmuted when primed, muted at stop


def four_table_model():
    """Four 1024-segment tables, each behind a low-pass: the largest tables a fit writes."""
    from pedaltool.pedal.accuracy import biquad_stage, rbj
    from pedaltool.pedal.model import GainStage, PedalModel, TableStage

    xs = np.linspace(-1.0, 1.0, 1025)
    b, a = rbj("lowpass", 5000, 48000)
    stages = [GainStage(6.0, knob="drive", knob_min_db=-12, knob_max_db=12)]
    for k in range(4):
        stages += [TableStage(1.0, -1.0, 1.0, np.tanh((2 + k) * xs) / np.tanh(2.0 + k)),
                   biquad_stage(b, a)]
    stages.append(GainStage(-3.0, knob="level", knob_min_db=-20, knob_max_db=6))
    return PedalModel(stages, 48000, name="four tables")


def test_a_four_table_model_holds_its_tables_once(tmp_path):
    """The reader unpacked each table to a tuple and the engine copied it into a padded array,
    so a table sat in the heap three times over: this model then failed to load in a 200 KB
    heap (the unix port's 64-bit objects). Measured directly: loading the file takes its
    tables' bytes and little more, and the engine adds less than one more copy of them
    (2026-12-07: 10656 and 7072 bytes for 8208 bytes of tables). A run with a fixed tight
    heap measured this only through where the heap's edge fell, which moved by kilobytes with
    the length of the temp path. The output also checks that the padded table the reader
    hands over is the one the host runs."""
    model = four_table_model()
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(model)})
    out = run_micropython_code(f"""
import gc
from pedalcore import engine, pedalfile
gc.collect()
a0 = gc.mem_alloc()
p = pedalfile.load({str(slot / "bank" / "a.pedal")!r})
gc.collect()
a1 = gc.mem_alloc()
e = engine.Engine(p, 32)
gc.collect()
a2 = gc.mem_alloc()
print(a1 - a0, a2 - a1, sum(2 * len(st.table) for st in p.stages if st.table is not None))
""", slot)
    load, eng, tables = map(int, out.split())
    assert tables == 4 * 2 * 1026  # four padded 1024-segment tables
    assert tables <= load < tables + 4096, (load, tables)
    assert eng < tables, (eng, tables)
    x = di_signal(4800)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x))
    assert r.returncode == 0, r.stderr
    assert r.final["fault"] is None, (r.final["fault"], r.tagged("err"))
    host = simulate(quantise(model), x, knobs_at_mid(), block=BLOCK, prewarm=True)
    dev = read_wav16(tmp_path / "out.wav")[PRIME * BLOCK:]
    k = SETTLED * BLOCK
    assert np.array_equal(dev[k:], host[k:len(dev)])
    assert np.abs(host[k:]).max() > 1000


@pytest.fixture(scope="module")
def fitted_clipper_bytes():
    """The bundled example capture quick-fitted: a real fit's stages, tables and knob ranges
    (the project's own capture, so nothing third-party is written into the test tree)."""
    from pedaltool.fit.api import FitConfig, fit_capture
    from pedaltool.paths import examples_dir
    from pedaltool.pedal.fileformat import to_bytes

    res = fit_capture(examples_dir() / "diode_clipper.nam", FitConfig(effort="quick"))
    return to_bytes(res.qpedal)


@pytest.mark.slow
@pytest.mark.parametrize("board", ["rpi_pico", "rpi_pico2", "esp32_devkitc", "esp32s3_devkitc1"])
def test_every_board_plays_a_real_fit_bit_exactly(tmp_path, fitted_clipper_bytes, board):
    """The main loop on each board profile (its block size, codec drivers and port's I2S pin
    rules; the heap locked around every block and control tick) plays a fitted model exactly
    as the host simulator does at that block size."""
    from pedaltool import boards
    from pedaltool.pedal.fileformat import from_bytes

    profile = boards.load_board(board)
    block = profile.block_frames
    slot = make_slot(tmp_path, {"a.pedal": fitted_clipper_bytes}, board=board)
    x = di_signal(48000)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), prelude=LOCK_CONTROL,
               extra_env={"PEDALTOOL_SIM_PORT": profile.port})
    assert r.returncode == 0, r.stderr
    assert r.final["fault"] is None and r.final["xruns"] == 0
    host = simulate(from_bytes(fitted_clipper_bytes), x, knobs_at_mid(), block=block,
                    prewarm=True)
    dev = read_wav16(tmp_path / "out.wav")[PRIME * block:]  # one primed block of silence
    k = max(SETTLED * 32, 8 * block)  # past the start-up mute (2 blocks) and 10 ms fade
    n = min(len(dev), len(host))
    assert n >= len(x) - 2 * block
    assert np.array_equal(dev[k:n], host[k:n]), board
    assert np.abs(host[k:]).max() > 1000


def test_realtime_paced_run(tmp_path):
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    x = di_signal(9600)  # 0.2 s of audio at the converters' pace
    t0 = time.monotonic()
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), realtime="1")
    assert time.monotonic() - t0 >= 0.2  # RX really waited for the (simulated) converter
    assert r.returncode == 0, r.stderr
    assert 0 < r.final["cpu_load"] < 100
    # an xrun is reported only when the (shared, loaded) host really stalled for about as long
    # as the RX ring holds (4096 bytes = 512 frames of 8 bytes, less one block = 10 ms); otherwise none
    stall_ms = (4096 // 8 - BLOCK) / 48
    late_ms = r.sim["max_late_us"] / 1000
    if late_ms < stall_ms - 2:
        assert r.final["xruns"] == 0 and r.sim["dropped"] == 0
        assert r.final["blocks"] == len(x) // BLOCK
    if r.final["xruns"]:
        assert late_ms > stall_ms - 2, r.sim


ALLOCATING_ENGINE = """
from pedalcore import engine as _e
_Base = _e.Engine
class _Alloc(_Base):
    def process(self, buf):
        self.junk = [0] * 8  # allocates: the locked heap must catch this
        _Base.process(self, buf)
_e.Engine = _Alloc
"""


def test_heap_lock_catches_an_allocating_engine_and_falls_back_to_dry(tmp_path):
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    x = di_signal(9600)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), prelude=ALLOCATING_ENGINE)
    assert r.returncode == 0, r.stderr
    errs = r.tagged("err")
    assert any("MemoryError" in e for e in errs), errs
    assert r.final["bypass"] is True and r.final["fault"]
    y = read_wav16(tmp_path / "out.wav")[PRIME * BLOCK:]
    # after the fault the dry signal passes (once the start-up fade is over): never noise
    k = SETTLED * BLOCK
    assert np.array_equal(y[k:], x[k:len(y)])


ONE_MISSED_I2C = """
from pedalcore.codecs import es8311 as _es
_init = _es.ES8311.init
_calls = [0]
def _flaky_init(self):
    _calls[0] += 1
    if _calls[0] == 1:
        raise OSError(5)  # EIO: the codec missed the first transfer
    return _init(self)
_es.ES8311.init = _flaky_init
"""


def test_a_codec_that_misses_its_first_i2c_transfer_is_tried_again(played, tmp_path):
    """One failed I2C transfer at power-up kept the pedal muted until a reboot (a review)."""
    _, x, y, _ = played
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(pedal_model())})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), prelude=ONE_MISSED_I2C)
    assert r.returncode == 0, r.stderr
    assert r.final["fault"] is None and not r.tagged("err")
    assert np.array_equal(read_wav16(tmp_path / "out.wav"), y)


def test_missing_adc_codec_keeps_the_output_silent(tmp_path):
    (tmp_path / "sim.json").write_text('{"i2c_devices": []}')  # nothing answers on I2C
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    x = di_signal(9600)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x),
               extra_env={"PEDALTOOL_SIM_CONFIG": str(tmp_path / "sim.json")})
    assert r.returncode == 0, r.stderr
    assert r.lines[0].startswith("@err codec es8311")
    assert r.final["fault"].startswith("codec es8311")
    assert not read_wav16(tmp_path / "out.wav").any()  # what the RX pin reads is not played


PLAIN_PYTHON_IO = """
from pedalcore import blockio_ref as _r
app.unpack_in, app.mix_out, app.fill16 = _r.unpack_in, _r.mix_out, _r.fill16
"""


def test_plain_python_block_io_gives_the_same_output(played, tmp_path):
    """A port without the native emitter runs blockio_ref: same audio, bit for bit."""
    _, x, y, _ = played
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(pedal_model())})
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), prelude=PLAIN_PYTHON_IO)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(read_wav16(tmp_path / "out.wav"), y)


#: a stand-in for kernels_thumb (asm_thumb does not compile on the unix port): the viper
#: kernels, with block I/O of its own
FAKE_KERNELS_THUMB = """
from pedalcore.kernels import *
from pedalcore import blockio as _b

def unpack_in(src, dry, wet, n):
    return _b.unpack_in(src, dry, wet, n)

def mix_out(dry, wet, dst, n, w0, w1, v0, v1):
    return _b.mix_out(dry, wet, dst, n, w0, w1, v0, v1)
"""

THUMB_IO_CHECK = """
from pedalcore import kernels_thumb as _kt
_status = app.App.status_json
def _status_and_io(self):
    print("@io", app.unpack_in is _kt.unpack_in and app.mix_out is _kt.mix_out)
    return _status(self)
app.App.status_json = _status_and_io
"""


def test_the_asm_block_io_is_used_where_asm_thumb_compiles(played, tmp_path):
    """On ARM the app plays through kernels_thumb's unpack_in and mix_out, which the cost
    model charges there (63 cycles/sample against viper's 360): it always used the viper
    pair, so every RP2040 fit's cost was about 300 cycles/sample short (a docs audit)."""
    _, x, y, _ = played
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(pedal_model())})
    (slot / "pedalcore" / "kernels_thumb.py").write_text(FAKE_KERNELS_THUMB)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), prelude=THUMB_IO_CHECK)
    assert r.returncode == 0, r.stderr
    assert r.tagged("io") == ["True"]
    assert np.array_equal(read_wav16(tmp_path / "out.wav"), y)


# one block takes 40 ms: longer than the 10.7 ms RX ring holds
ONE_SLOW_BLOCK = at_engine_block(60, "_t.sleep_ms(40)")


def test_an_overrun_is_counted_and_the_pedal_recovers(tmp_path):
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    x = di_signal(14400)  # 0.3 s, paced like real converters
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), realtime="1",
               prelude=ONE_SLOW_BLOCK)
    assert r.returncode == 0, r.stderr
    assert r.sim["dropped"] > 0  # the simulated RX ring really overflowed
    assert r.final["xruns"] >= 1 and r.final["fault"] is None
    assert r.final["blocks"] > 60 + 100  # and the audio went on after it


@pytest.mark.parametrize("board, port, ibuf, stall_ms", [
    ("rpi_pico", "rp2", 2048, 8),  # the driver holds 256 frames (5.3 ms), not 512 (10.7 ms)
    ("esp32_devkitc", "esp32", 8192, 30),  # 4 descriptors of 256 frames (21 ms), not 2048
])
def test_a_stall_longer_than_the_drivers_rx_ring_counts_as_an_xrun(tmp_path, board, port, ibuf,
                                                                   stall_ms):
    """MicroPython's I2S keeps each received frame as 32-bit stereo (8 bytes) whatever the
    format read, so an RX ring of ibuf bytes holds ibuf / 8 frames. The firmware took ibuf / 4:
    a stall between the two lost audio and was not counted (nor restarted at once), and the
    simulator's ring, sized the same way, did not drop it either."""
    bd = board_json(board, ibuf_bytes=ibuf)
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()}, board=bd)
    x = di_signal(24000)  # 0.5 s, paced like real converters
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), realtime="1",
               prelude=at_engine_block(40, f"_t.sleep_ms({stall_ms})"),
               extra_env={"PEDALTOOL_SIM_PORT": port})
    assert r.returncode == 0, r.stderr
    assert r.sim["dropped"] > 0  # the simulated driver's ring overflowed ...
    assert r.final["xruns"] >= 1 and r.final["fault"] is None  # ... and the firmware saw it


def test_a_model_resting_off_zero_does_not_thump_when_the_pedal_loads_it(tmp_path):
    """app._load prewarms the engine, after setting the knobs: a table resting at 0.3 of full
    scale into a peak and a high-pass plays silence as silence, not a step of their filters,
    and the pedal's output (its level saved at 0.1, which scales that rest: set before the
    prewarm) is the host's simulate(prewarm=True) sample for sample."""
    from pedaltool.pedal import model as M
    from pedaltool.pedal.accuracy import biquad_stage, rbj

    u = np.linspace(-1, 1, 65)
    model = M.PedalModel([M.TableStage(4.0, -1.0, 1.0, 0.3 + 0.6 * np.tanh(2 * u)),
                          M.GainStage(0.0, "level", -12.0, 0.0),
                          biquad_stage(*rbj("peak", 90, 48000, 2.0, 9.0)),
                          biquad_stage(*rbj("highpass", 30, 48000))], 48000)
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes(model)})
    x = np.zeros(9600, np.int16)
    x[4800:] = di_signal(4800)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"preset": None, "knobs": {"level": 0.1}}))
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), prelude=LOCK_CONTROL,
               settings=settings)
    assert r.returncode == 0, r.stderr
    dev = read_wav16(tmp_path / "out.wav")[PRIME * BLOCK:]
    qp = quantise(model)
    knobs = {"level": int(0.1 * 1023 + 0.5) / 1023}
    cold = simulate(qp, x[:4800], knobs, block=BLOCK)
    assert np.max(np.abs(cold.astype(float))) > 3000  # the thump without prewarm
    assert np.max(np.abs(dev[:4800].astype(float))) <= 2  # the pedal: silence stays silent
    k = SETTLED * BLOCK
    host = simulate(qp, x, knobs, block=BLOCK, prewarm=True)
    assert np.array_equal(dev[k:], host[k:])


def test_a_micropython_without_viper_plays_a_bypass_and_says_why(tmp_path):
    """With no native emitter (no thumb, xtensa or viper kernels), the engine fell back to
    arith.py as its audio kernels: far too slow for real time, and past a board's small ints
    with the heap locked (a review). The pedal now runs as a buffered bypass with a fault."""
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    (slot / "pedalcore" / "kernels.py").write_text("raise ImportError('no native emitter')\n")
    x = di_signal(4800)
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x))
    assert r.returncode == 0, r.stderr
    assert r.final["fault"] == "engine: ImportError no viper in this MicroPython", r.final
    y = read_wav16(tmp_path / "out.wav")
    assert np.abs(y).max() > 0  # the guitar still comes through
