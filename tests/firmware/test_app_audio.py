"""The firmware's own main loop (pedalcore.app.run) on the simulated board: audio path.

Everything runs in the real MicroPython unix port with the heap locked around every audio block
(the board profile's default), and the output WAV is compared with the host simulator.
"""

import json

import numpy as np
import pytest
from fwsim import (
    LOCK_CONTROL,
    make_slot,
    pedal_bytes,
    pedal_model,
    read_wav16,
    run_fw,
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
    host = simulate(qp, x, knobs_at_mid(), block=BLOCK)
    dev = y[PRIME * BLOCK:]
    k = SETTLED * BLOCK
    assert np.array_equal(dev[k:], host[k:]), "firmware output differs from the host engine"
    assert np.abs(host[k:]).max() > 1000  # the comparison is not between two silences


def test_starts_muted_then_fades_in(played):
    _, x, y, qp = played
    assert not y[: (PRIME + 2) * BLOCK].any()  # primed silence + blocks before unmute
    host = simulate(qp, x, knobs_at_mid(), block=BLOCK)
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


def test_realtime_paced_run_has_no_xruns(tmp_path):
    slot = make_slot(tmp_path, {"a.pedal": pedal_bytes()})
    x = di_signal(9600)  # 0.2 s of audio at the converters' pace
    r = run_fw(tmp_path, slot, write_wav16(tmp_path / "in.wav", x), realtime="1")
    assert r.returncode == 0, r.stderr
    assert r.final["blocks"] == len(x) // BLOCK
    assert r.final["xruns"] == 0 and r.sim["dropped"] == 0
    assert 0 < r.final["cpu_load"] < 100


ALLOCATING_ENGINE = """
from pedalcore import engine as _e
class _Alloc(_e.Engine):
    def process(self, buf):
        self.junk = [0] * 8  # allocates: the locked heap must catch this
        _e.Engine.process(self, buf)
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
