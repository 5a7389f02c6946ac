"""The simulated board's audio formats, and the block I/O kernels (viper == plain Python)."""

import os
import subprocess
import wave

import numpy as np
import pytest
from pedaltool.device.virtual import micropython_executable
from pedaltool.paths import firmware_dir

LOOPBACK = """
import machine
from machine import I2S, Pin
n = 64
rx = I2S(1, sck=Pin(10), ws=Pin(11), sd=Pin(12), mode=I2S.RX, bits=32, format=I2S.MONO,
         rate=48000, ibuf=1024)
tx = I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.TX, bits=32, format=I2S.MONO,
         rate=48000, ibuf=1024)
buf = bytearray(4 * n)
while True:
    got = rx.readinto(buf)
    if got < len(buf):
        break
    tx.write(buf)
rx.deinit(); tx.deinit()
machine.sim.close()
print("frames", machine.sim.frames_in)
"""


def run_mp(code, env_extra, cwd):
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(firmware_dir() / "sim"),
                                                         str(firmware_dir())]))
    env.update(env_extra)
    return subprocess.run([micropython_executable(), "-c", code], capture_output=True,
                          text=True, env=env, cwd=cwd)


def write_wav(path, data: bytes, tag: int, bits: int, ch: int = 1, rate: int = 48000):
    fmt = (tag.to_bytes(2, "little") + ch.to_bytes(2, "little") + rate.to_bytes(4, "little")
           + (rate * ch * bits // 8).to_bytes(4, "little") + (ch * bits // 8).to_bytes(2, "little")
           + bits.to_bytes(2, "little"))
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"LIST" + (4).to_bytes(4, "little") + b"INFO"  # a chunk the reader must skip
    body += b"data" + len(data).to_bytes(4, "little") + data
    path.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)


def expected_slots(kind, x):
    if kind == "pcm16":
        return x.astype(np.int64) << 16
    if kind == "pcm24":
        return x.astype(np.int64) << 8
    if kind == "pcm32":
        return x.astype(np.int64)
    # float32 -> int32 full scale, truncated toward zero, clamped
    v = np.trunc(x.astype(np.float64) * 2**31)
    return np.clip(v, -(2**31), 2**31 - 1).astype(np.int64)


@pytest.mark.parametrize("kind", ["pcm16", "pcm24", "pcm32", "float32", "raw32"])
def test_sim_reads_every_input_format_exactly(kind, tmp_path):
    rng = np.random.default_rng(4)
    n = 64 * 40
    if kind == "pcm16":
        x = rng.integers(-32768, 32768, n).astype("<i2")
        x[:2] = [-32768, 32767]
        write_wav(tmp_path / "in.wav", x.tobytes(), 1, 16)
    elif kind == "pcm24":
        x = rng.integers(-(2**23), 2**23, n)
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in x)
        write_wav(tmp_path / "in.wav", raw, 1, 24)
    elif kind in ("pcm32", "raw32"):
        x = rng.integers(-(2**31), 2**31, n).astype("<i4")
        if kind == "pcm32":
            write_wav(tmp_path / "in.wav", x.tobytes(), 1, 32)
        else:
            (tmp_path / "in.i32").write_bytes(x.tobytes())
    else:
        x = rng.uniform(-1.2, 1.2, n).astype("<f4")
        x[:4] = [-1.0, 1.0, 0.0, 1e-12]
        write_wav(tmp_path / "in.wav", x.tobytes(), 3, 32)
    src = "in.i32" if kind == "raw32" else "in.wav"
    r = run_mp(LOOPBACK, {"PEDALTOOL_SIM_INPUT": src, "PEDALTOOL_SIM_OUTPUT": "out.i32",
                          "PEDALTOOL_SIM_REALTIME": "0", "PEDALTOOL_SIM_AT_END": "stop"},
               tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"frames {n}" in r.stdout
    got = np.frombuffer((tmp_path / "out.i32").read_bytes(), "<i4").astype(np.int64)
    want = expected_slots("pcm32" if kind == "raw32" else kind, x)
    assert np.array_equal(got, want)


def test_sim_wav_output_header_is_valid_and_stereo_input_takes_left(tmp_path):
    x = np.stack([np.arange(640, dtype="<i2"), -np.arange(640, dtype="<i2")], 1)
    write_wav(tmp_path / "in.wav", x.tobytes(), 1, 16, ch=2)
    r = run_mp(LOOPBACK, {"PEDALTOOL_SIM_INPUT": "in.wav", "PEDALTOOL_SIM_OUTPUT": "out.wav",
                          "PEDALTOOL_SIM_REALTIME": "0", "PEDALTOOL_SIM_AT_END": "stop"},
               tmp_path)
    assert r.returncode == 0, r.stderr
    with wave.open(str(tmp_path / "out.wav")) as w:
        assert w.getframerate() == 48000 and w.getsampwidth() == 2 and w.getnchannels() == 1
        y = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.array_equal(y, x[:, 0])


def test_sim_enforces_rp2_pin_rule_and_no_mclk(tmp_path):
    code = """
from machine import I2S, Pin
try:
    I2S(0, sck=Pin(16), ws=Pin(18), sd=Pin(17), mode=I2S.TX, bits=32, format=I2S.MONO,
        rate=48000, ibuf=512)
except ValueError as e:
    print("ws", e)
try:
    I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mck=Pin(3), mode=I2S.TX, bits=32,
        format=I2S.MONO, rate=48000, ibuf=512)
except TypeError as e:
    print("mck", e)
"""
    r = run_mp(code, {"PEDALTOOL_SIM_PORT": "rp2", "PEDALTOOL_SIM_REALTIME": "0"}, tmp_path)
    assert "ws invalid ws (must be sck+1)" in r.stdout and "mck extra keyword" in r.stdout


KERNELS = """
import array, sys
from pedalcore import blockio as V, blockio_ref as R
data = open('data.bin', 'rb').read()
n = 256
src = bytearray(data[:4 * n])
dry = array.array('h', data[4 * n:6 * n])
wet = array.array('h', data[6 * n:8 * n])
for (w0, w1, v0, v1) in ((0, 0, 32768, 32768), (32768, 32768, 32768, 32768), (0, 32768, 0, 32768),
                         (32768, 1000, 32768, 0), (12345, 23456, 30000, 32768)):
    outs = []
    for K in (V, R):
        d = array.array('h', bytes(2 * n)); wt = array.array('h', bytes(2 * n))
        pin = K.unpack_in(src, d, wt, n)
        o = bytearray(4 * n)
        pout = K.mix_out(dry, wet, o, n, w0, w1, v0, v1)
        outs.append((pin, bytes(d), bytes(wt), pout, bytes(o)))
    print("same" if outs[0] == outs[1] else "DIFF", outs[0][0], outs[0][3])
"""


def test_viper_block_io_equals_plain_python(tmp_path):
    rng = np.random.default_rng(9)
    n = 256
    src = rng.integers(-(2**31), 2**31, n).astype("<i4")
    src[:3] = [-(2**31), 2**31 - 1, 0]
    dry = rng.integers(-32768, 32768, n).astype("<i2")
    wet = rng.integers(-32768, 32768, n).astype("<i2")
    dry[:2] = wet[:2] = [-32768, 32767]
    (tmp_path / "data.bin").write_bytes(src.tobytes() + dry.tobytes() + wet.tobytes())
    r = run_mp(KERNELS, {}, tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")[:-1]
    assert len(lines) == 5 and all(ln.startswith("same") for ln in lines), r.stdout
    assert all(ln.split()[1] == "32768" for ln in lines)  # peak of the int16 view of -2^31
    # and the numbers are right, not merely equal: check one case against numpy
    pk = int(lines[1].split()[2])
    assert pk == int(np.abs(np.clip(wet.astype(int), -32768, 32767)).max())
