"""render_file: the host and the firmware engine (viper, under MicroPython) write the same
samples for a WAV; knobs and errors."""

import numpy as np
import pytest
from pedal_helpers import fitted_looking, musical
from pedaltool.audio import read_wav, write_wav
from pedaltool.errors import PedalFormatError
from pedaltool.pedal import quantise, render_file, simulate, write_pedal
from pedaltool.pedal.simulate import float_to_int16


@pytest.fixture(scope="module")
def pedal_path(tmp_path_factory):
    qp = quantise(fitted_looking(48000, env=True, mix=True))
    return write_pedal(tmp_path_factory.mktemp("bank") / "fitted.pedal", qp)


@pytest.mark.slow
def test_render_host_equals_firmware(tmp_path, pedal_path):
    x = musical(48000, 48000 * 2, seed=11)
    write_wav(tmp_path / "in.wav", x, 48000)
    for knobs in (None, {"drive": 0.25, "tone": 0.8}):
        seen: list = []
        rh = render_file(pedal_path, tmp_path / "in.wav", tmp_path / "host.wav", "host", knobs,
                         progress=lambda d, t, seen=seen: seen.append((d, t)))
        seen_fw: list = []
        rf = render_file(pedal_path, tmp_path / "in.wav", tmp_path / "fw.wav", "firmware", knobs,
                         progress=lambda d, t, seen=seen_fw: seen.append((d, t)))
        assert rf["kernels"] == "viper" and rh["samples"] == rf["samples"] == len(x)
        yh = read_wav(tmp_path / "host.wav").samples
        yf = read_wav(tmp_path / "fw.wav").samples
        assert np.array_equal(yh, yf)
        # progress: from 0 to the end, never backwards; the host engine's comes stage by stage
        for got in (seen, seen_fw):
            done = [d for d, _ in got]
            assert done[0] == 0 and done[-1] == len(x) and done == sorted(done)
            assert {t for _, t in got} == {len(x)}
        assert len(set(d for d, _ in seen)) >= 5
        # the WAV holds exactly the simulator's int16 samples
        from pedaltool.pedal import read_pedal

        y = simulate(read_pedal(pedal_path), float_to_int16(x.astype(np.float32)), knobs)
        assert np.array_equal(np.rint(yh * 32768).astype(np.int16), y)


def test_render_resamples_input(tmp_path, pedal_path):
    x = musical(44100, 4410, seed=1)
    write_wav(tmp_path / "in44.wav", x, 44100)
    rep = render_file(pedal_path, tmp_path / "in44.wav", tmp_path / "out.wav")
    assert rep["rate_hz"] == 48000 and read_wav(tmp_path / "out.wav").rate_hz == 48000


def test_render_rejects_corrupt_model(tmp_path, pedal_path):
    bad = tmp_path / "bad.pedal"
    data = bytearray(pedal_path.read_bytes())
    data[40] ^= 1
    bad.write_bytes(bytes(data))
    write_wav(tmp_path / "in.wav", np.zeros(480), 48000)
    for engine in ("host", "firmware"):
        with pytest.raises(PedalFormatError, match="bad.pedal: CRC"):
            render_file(bad, tmp_path / "in.wav", tmp_path / "o.wav", engine)
    assert not (tmp_path / "o.wav").exists()


def test_render_cli_says_what_it_did_to_the_input(tmp_path, pedal_path):
    """A stereo, 44.1 kHz or too-hot input is converted with a note, the output's missing
    folder is created, and --slim (a .nam option) is refused for a .pedal."""
    import wave

    from click.testing import CliRunner
    from pedaltool.cli import main

    x = musical(44100, 4410, seed=2) * 2.0  # +6 dB: beyond full scale
    pcm = np.clip(np.rint(np.repeat(x[:, None], 2, axis=1) * 16000), -32768, 32767)
    with wave.open(str(tmp_path / "st.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(pcm.astype("<i2").tobytes())
    write_wav(tmp_path / "hot.wav", x, 48000)
    runner = CliRunner()
    r = runner.invoke(main, ["render", str(pedal_path), str(tmp_path / "st.wav"),
                             str(tmp_path / "new" / "sub" / "o.wav")])
    assert r.exit_code == 0, r.output
    assert "first channel" in r.stderr and "resampled" in r.stderr, r.stderr
    assert r.stdout.startswith("wrote ") and "48000 Hz" in r.stdout
    assert read_wav(tmp_path / "new" / "sub" / "o.wav").rate_hz == 48000
    r = runner.invoke(main, ["render", str(pedal_path), str(tmp_path / "hot.wav"),
                             str(tmp_path / "o2.wav")])
    assert r.exit_code == 0 and "input peaks at +" in r.stderr, r.output
    assert "at the model's" not in r.stderr
    # a square wave just under full scale at 44.1 kHz overshoots once resampled: said where
    write_wav(tmp_path / "square.wav", 0.99 * np.sign(np.sin(np.arange(44100) / 20.0)), 44100)
    r = runner.invoke(main, ["render", str(pedal_path), str(tmp_path / "square.wav"),
                             str(tmp_path / "o4.wav")])
    assert r.exit_code == 0 and "dBFS at the model's 48000 Hz: clipped" in r.stderr, r.output
    r = runner.invoke(main, ["render", str(pedal_path), str(tmp_path / "hot.wav"),
                             str(tmp_path / "o3.wav"), "--slim", "0.5"])
    assert r.exit_code == 2 and f"{pedal_path}: --slim applies to .nam" in r.output  # as given
    (tmp_path / "blocker").write_text("x")
    r = runner.invoke(main, ["render", str(pedal_path), str(tmp_path / "hot.wav"),
                             str(tmp_path / "blocker" / "o.wav")])
    assert r.exit_code == 2 and "blocker is a file" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_stopped_firmware_render_stops_micropython_too(tmp_path, pedal_path, monkeypatch):
    """SIGTERM (the CLI's Stopped, a KeyboardInterrupt) while MicroPython renders: the child is
    killed at once. Popen's own exit would wait for it to finish the whole render first."""
    import signal

    from pedaltool.pedal import render

    procs = []

    class Stopped(KeyboardInterrupt):
        pass

    def wait(proc, out, out_bytes, progress):
        procs.append(proc)
        raise Stopped()

    monkeypatch.setattr(render, "_wait", wait)
    x = np.zeros(48000 * 60, np.int16)  # a minute: far from done when it is stopped
    with pytest.raises(Stopped):
        render.run_firmware_engine(pedal_path, x)
    assert procs[0].returncode == -signal.SIGKILL


def test_a_model_whose_name_is_not_utf8_is_written_and_rendered(tmp_path, pedal_path):
    """A capture named in Latin-1 (`café.nam` from an old zip: Python reads the name with a
    lone surrogate) failed the whole fit at its end, when the name went into the .pedal (an
    internal error), and the firmware engine could not open such a .pedal (ENOENT): an
    audit. The name is written with "?" for what is not UTF-8; the firmware renders it."""
    import dataclasses
    import os

    from pedaltool.pedal import read_pedal

    name = os.fsdecode(b"caf\xe9")
    qp = read_pedal(pedal_path)
    odd = write_pedal(tmp_path / f"{name}.pedal",
                      dataclasses.replace(qp, name=name,
                                          source=dataclasses.replace(qp.source,
                                                                     tone_type="\udc80drive")))
    back = read_pedal(odd)
    assert back.name == "caf?" and back.source.tone_type == "?drive"
    write_wav(tmp_path / "in.wav", musical(48000, 4800, seed=3), 48000)
    rf = render_file(odd, tmp_path / "in.wav", tmp_path / "fw.wav", "firmware")
    rh = render_file(pedal_path, tmp_path / "in.wav", tmp_path / "host.wav", "host")
    assert rf["samples"] == rh["samples"] == 4800
    assert np.array_equal(read_wav(tmp_path / "fw.wav").samples,
                          read_wav(tmp_path / "host.wav").samples)
