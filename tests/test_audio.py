"""pedaltool.audio: WAV formats in, float WAV out (atomic), resampling, clear errors."""

import os
import struct
import warnings

import numpy as np
import pytest
import scipy.io.wavfile as wavfile
from pedaltool import audio
from pedaltool.errors import AudioFileError


def _wav_bytes(fmt: int, channels: int, rate: int, bits: int, payload: bytes,
               extensible: bool = False) -> bytes:
    """A WAV file; ``extensible``: WAVE_FORMAT_EXTENSIBLE (what many DAWs write for 24-bit and
    float), whose real format tag ``fmt`` opens the SubFormat GUID at offset 24 of the fmt
    chunk."""
    block = channels * bits // 8
    tag = 0xFFFE if extensible else fmt
    fmt_chunk = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if extensible:
        fmt_chunk += struct.pack("<HHIH", 22, bits, 0b100, fmt) + \
            bytes.fromhex("000000001000800000aa00389b71")
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk to skip (padded)
    body += b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _rf64(payload: bytes, ds64: bool = True, magic: bytes = b"RF64") -> bytes:
    """An RF64 (or BW64) file of 16-bit mono: its 32-bit sizes 0xFFFFFFFF, the real ones in
    a ds64 chunk (EBU 3306)."""
    fmt_chunk = struct.pack("<HHIIHH", 1, 1, 48000, 96000, 2, 16)
    head = b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    if ds64:
        head = b"ds64" + struct.pack("<IQQQI", 28, 0, len(payload), len(payload) // 2, 0) + head
    return (magic + b"\xff\xff\xff\xffWAVE" + head + b"data\xff\xff\xff\xff" + payload
            + b"LIST" + struct.pack("<I", 4) + b"INFO")


def test_an_odd_chunk_without_its_pad_byte_is_read_past(tmp_path):
    """RIFF pads an odd-sized chunk to an even size; some writers leave the pad byte out,
    and the data chunk after it was not found (an audit)."""
    x = (np.arange(-50, 50) * 300).astype("<i2")
    good = _wav_bytes(1, 1, 48000, 16, x.tobytes())  # its LIST chunk is padded
    at = good.index(b"LIST")
    unpadded = good[:at] + b"junk" + struct.pack("<I", 3) + b"abc" + good[at:]
    p = tmp_path / "u.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(unpadded) - 8) + unpadded[8:])
    assert np.array_equal(audio.read_wav(p).samples, x / 32768.0)


def test_rf64_and_bw64_files_are_read(tmp_path):
    """Some recorders and DAWs write RF64 for every file, not only beyond 4 GB: it was
    refused (an audit). The data's size comes from the ds64 chunk: a chunk after it is not
    read as audio."""
    x = (np.arange(-500, 500) * 30).astype("<i2")
    p = tmp_path / "r.wav"
    for magic in (b"RF64", b"BW64"):
        p.write_bytes(_rf64(x.tobytes(), magic=magic))
        clip = audio.read_wav(p)
        assert np.array_equal(clip.samples, x / 32768.0) and clip.notes == []


def _ramp(n=1000):
    return (np.linspace(-0.9, 0.9, n) * np.sin(np.arange(n) * 0.05)).astype(np.float32)


@pytest.mark.parametrize("kind", ["int16", "int32", "float32", "float64", "uint8"])
def test_reads_pcm_and_float_written_by_scipy(tmp_path, kind):
    x = _ramp()
    scale = {"int16": 32767, "int32": 2**31 - 1, "uint8": 127}.get(kind)
    data = x.astype(kind) if scale is None else (
        (x * scale + (128 if kind == "uint8" else 0)).astype(kind))
    p = tmp_path / "a.wav"
    wavfile.write(p, 44100, data)
    clip = audio.read_wav(p)
    assert clip.rate_hz == 44100 and clip.samples.dtype == np.float32
    tol = {"int16": 1e-4, "int32": 1e-6, "uint8": 2e-2}.get(kind, 1e-7)
    assert np.max(np.abs(clip.samples - x)) < tol
    assert clip.notes == []


def test_reads_24_bit_pcm(tmp_path):
    x = _ramp()
    ints = np.round(x * (2**23 - 1)).astype(np.int32)
    raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    p = tmp_path / "a24.wav"
    p.write_bytes(_wav_bytes(1, 1, 48000, 24, raw))
    clip = audio.read_wav(p)
    assert np.max(np.abs(clip.samples - x)) < 1e-6


def test_stereo_uses_first_channel_with_a_note(tmp_path):
    x = _ramp()
    p = tmp_path / "st.wav"
    wavfile.write(p, 48000, np.stack([x, -x], axis=1))
    clip = audio.read_wav(p)
    assert np.array_equal(clip.samples, x)
    assert clip.notes == ["2-channel file: using the first channel only"]
    # a DI on an interface's second input: the first channel is silent, which every command
    # then met in its own way (render wrote silence; an audit)
    hiss = (1e-6 * np.random.default_rng(0).standard_normal(len(x))).astype(np.float32)
    wavfile.write(p, 48000, np.stack([hiss, 0 * x, x], axis=1))
    assert audio.read_wav(p).notes == ["3-channel file: using the first channel only; it is "
                                       "silent, and channel 3 is not: export that channel"]
    assert audio.silence_text(hiss) == "RMS -120 dBFS"
    assert audio.silence_text(0 * x) == "digital silence"


def test_resamples_with_a_note(tmp_path):
    t = np.arange(44100) / 44100
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    p = tmp_path / "r.wav"
    wavfile.write(p, 44100, x)
    clip = audio.read_wav(p, rate_hz=48000)
    assert clip.rate_hz == 48000 and len(clip.samples) == 48000 and clip.resampled
    assert any("resampled" in n for n in clip.notes)
    mid = clip.samples[1000:-1000]
    assert abs(np.sqrt(np.mean(mid**2)) - 0.5 / np.sqrt(2)) < 1e-3
    # a rate a hair off the wanted one is taken as it: the samples unchanged, and the note
    # does not claim a resampling (it did, and was said as a warning)
    wavfile.write(p, 48001, x)
    clip = audio.read_wav(p, rate_hz=48000)
    assert clip.rate_hz == 48000 and np.array_equal(clip.samples, x) and not clip.resampled
    assert clip.notes == ["taken as 48000 Hz: its 48001 Hz is 0.0021 % away (not resampled)"]
    assert audio.note_kind(clip.notes[0]) == "note"
    # compare, which resamples a DI it was given as samples, says it alike
    assert audio.rate_note(48001, 48000, "the pedal's ") == clip.notes[0]
    assert audio.rate_note(44100, 48000, "the pedal's ") == \
        "resampled from 44100 Hz to the pedal's 48000 Hz"


def test_write_is_float32_atomic_and_round_trips(tmp_path):
    x = _ramp()
    p = tmp_path / "out.wav"
    audio.write_wav(p, x, 48000)
    rate, data = wavfile.read(p)
    assert rate == 48000 and data.dtype == np.float32 and np.array_equal(data, x)
    assert audio.read_wav(p).samples.tolist() == x.tolist()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.wav"]
    mask = os.umask(0)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_write_leaves_nothing_behind(tmp_path):
    p = tmp_path / "out.wav"
    with pytest.raises(AudioFileError, match="out.wav"):
        audio.write_wav(p, np.array([0.0, np.nan], np.float32), 48000)
    with pytest.raises(AudioFileError, match="cannot write"):
        audio.write_wav(tmp_path / "missing_dir" / "x.wav", np.zeros(4), 48000)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (b"hello, this is text and not audio at all", "not a WAV"),
    (_wav_bytes(1, 1, 48000, 16, b""), "no audio samples"),
    (_wav_bytes(1, 1, 3, 16, b"\x00\x01" * 10), "unsupported sample rate 3 Hz"),
    (_wav_bytes(1, 1, 10_000_000, 16, b"\x00\x01" * 10), "unsupported sample rate"),
    (_wav_bytes(2, 1, 48000, 4, b"\x00" * 10), "unsupported WAV encoding"),
    (_wav_bytes(1, 1, 48000, 40, b"\x00" * 10), "unsupported PCM sample size 40 bits"),
    (b"RIFF\x04\x00\x00\x00WAVE", "no fmt chunk"),
    # a RIFF that is no WAVE (an AVI) is not "a WAV file: check the order" (a review)
    (b"RIFF\x10\x00\x00\x00AVI LIST" + bytes(8), "not a WAV file (no RIFF/WAVE header)"),
    # (read_wav alone knows of no order: render's and compare's readers are told of theirs)
    (b'{"version": "0.5.4"}', "not a WAV file (JSON, a .nam capture?)"),
    (_rf64(b"\x00\x01" * 10, ds64=False), "corrupt RF64 WAV: no ds64 chunk before its data"),
])
def test_bad_files_give_one_line_naming_the_file(tmp_path, content, problem):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioFileError) as exc:
        audio.read_wav(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: ") and problem in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="nope.wav: file not found"):
        audio.read_wav(tmp_path / "nope.wav")


def test_level_helpers():
    assert audio.db_to_gain(-6.0206) == pytest.approx(0.5, rel=1e-4)
    assert audio.gain_to_db(1.0) == 0.0
    sine = np.sin(np.linspace(0, 200 * np.pi, 48000))
    assert audio.rms_dbfs(sine) == pytest.approx(-3.0103, abs=1e-3)
    assert audio.peak_dbfs(sine) == pytest.approx(0.0, abs=1e-6)
    assert audio.dbfs_to_dbu(-12.0) == 0.0 and audio.dbu_to_dbfs(0.0, 18.0) == -18.0


def test_reads_samples_narrower_than_their_bytes(tmp_path):
    """A 12-bit WAV keeps each sample left-justified in 16 bits (20-bit ones in 24): it was
    refused as an unsupported sample size (an audit)."""
    x = np.array([0.5, -0.25, 2047 / 2048, -1.0])
    payload = (np.round(x * 2048).astype("<i2") << 4).tobytes()  # 12 bits, the low 4 zero
    fmt_chunk = struct.pack("<HHIIHH", 1, 1, 48000, 96000, 2, 12)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"data"
            + struct.pack("<I", len(payload)) + payload)
    p = tmp_path / "b12.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert np.allclose(audio.read_wav(p).samples, x)


def test_reads_extensible_float_and_24_bit(tmp_path):
    x = _ramp()
    p = tmp_path / "f.wav"
    p.write_bytes(_wav_bytes(3, 1, 48000, 32, x.astype("<f4").tobytes(), extensible=True))
    clip = audio.read_wav(p)
    assert clip.rate_hz == 48000 and np.array_equal(clip.samples, x)
    ints = np.round(x * (2**23 - 1)).astype(np.int32)
    pcm24 = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints)
    p.write_bytes(_wav_bytes(1, 1, 48000, 24, pcm24, extensible=True))
    assert np.max(np.abs(audio.read_wav(p).samples - x)) < 1e-6
    p.write_bytes(_wav_bytes(2, 1, 48000, 16, b"\x00" * 64, extensible=True))  # ADPCM inside
    with pytest.raises(AudioFileError, match="format tag 0x0002"):
        audio.read_wav(p)


def test_a_truncated_data_chunk_is_read_with_a_note(tmp_path):
    x = _ramp(1000)
    whole = _wav_bytes(3, 1, 48000, 32, x.astype("<f4").tobytes())
    p = tmp_path / "t.wav"
    p.write_bytes(whole[:-400])  # the recording stopped early: 100 samples missing
    clip = audio.read_wav(p)
    assert np.array_equal(clip.samples, x[:900])
    assert clip.notes == ["data chunk truncated: 3600 of 4000 bytes present"]
    assert audio.note_kind(clip.notes[0]) == "warning"  # said as one: the end is missing
    assert audio.note_kind("2-channel file: using the first channel only") == "note"
    for cut in (0, 2):  # the header alone, or cut inside the first sample: truncated
        p.write_bytes(whole[:44 + 12 + cut])
        with pytest.raises(AudioFileError, match="truncated: no audio samples of the 4000 "):
            audio.read_wav(p)


@pytest.mark.parametrize("unset", [0, 0xFFFFFFFF])
def test_a_data_chunk_size_left_unset_is_read_to_the_end_of_the_file(tmp_path, unset):
    """A recorder stopped before it wrote the sizes (0), or a streaming writer that never
    does (0xFFFFFFFF): the audio is all there, after the header (an audit: size 0 was "no
    audio samples", 0xFFFFFFFF "truncated: 4000 of 4294967295 bytes")."""
    x = _ramp(1000)
    whole = bytearray(_wav_bytes(3, 1, 48000, 32, x.astype("<f4").tobytes()))
    at = whole.index(b"data") + 4
    whole[at:at + 4] = unset.to_bytes(4, "little")
    p = tmp_path / "u.wav"
    p.write_bytes(bytes(whole))
    clip = audio.read_wav(p)
    assert np.array_equal(clip.samples, x)
    assert clip.notes == [f"data chunk size unset ({unset:#x}, a recording not finalised?): "
                          "read the 4000 bytes to the end of the file"]
    assert audio.note_kind(clip.notes[0]) == "warning"
    p.write_bytes(bytes(whole[:at + 4]))  # nothing after it: empty
    with pytest.raises(AudioFileError, match="no audio samples"):
        audio.read_wav(p)
    if unset == 0:  # a chunk after it: an empty data chunk, not audio (the review) ...
        p.write_bytes(bytes(whole[:at + 4]) + b"LIST" + struct.pack("<I", 4) + b"INFO")
        with pytest.raises(AudioFileError, match="no audio samples"):
            audio.read_wav(p)
        # ... but audio that starts with printable bytes is audio (8-bit just under centre)
        u8 = bytes(_wav_bytes(1, 1, 48000, 8, b"zzz{{||}" + bytes(range(128, 228))))
        k = u8.index(b"data") + 4
        p.write_bytes(u8[:k] + bytes(4) + u8[k + 4:])
        assert len(audio.read_wav(p).samples) == 108


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_samples_are_refused(tmp_path, bad):
    x = _ramp()
    x[500] = bad
    p = tmp_path / "n.wav"
    p.write_bytes(_wav_bytes(3, 1, 48000, 32, x.astype("<f4").tobytes()))
    with pytest.raises(AudioFileError, match="n.wav: contains NaN or infinite samples"):
        audio.read_wav(p)


def test_a_float64_sample_beyond_float32_is_refused_without_a_numpy_warning(tmp_path):
    x = _ramp().astype("<f8")
    x[500] = 1e300
    p = tmp_path / "n.wav"
    p.write_bytes(_wav_bytes(3, 1, 48000, 64, x.tobytes()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" on stderr
        with pytest.raises(AudioFileError, match="n.wav: contains NaN or infinite samples"):
            audio.read_wav(p)


@pytest.mark.parametrize("kind", ["int16", "int32", "float32", "uint8"])
def test_a_clipped_recording_is_a_warning(tmp_path, kind):
    """A reamp or DI that the recorder clipped (flat tops at full scale) is said, as a warning:
    a fit would learn the clipping as part of the sound. A waveform that only touches full
    scale at its crests is not. An 8-bit file is not judged: its full-scale crests round
    flat for a dozen samples (a 110 Hz sine: 5.6 % of its samples)."""
    t = np.arange(48000) / 48000
    sine = np.sin(2 * np.pi * 110 * t)
    # a 16-bit crest at the top code rounds flat for 5 samples: not clipped
    low = 32767 / 32768 * np.sin(2 * np.pi * 15 * t)
    rail = np.clip(1.5 * sine, -0.9, 1)  # clipped on the + rail only, one sample at -1
    rail[100] = -1.0
    for x, flat in ((np.clip(1.5 * sine, -1, 1), True), (sine, False), (0.98 * sine, False),
                    (np.clip(1.5 * sine, -0.9, 0.9), False), (low, False), (rail, True)):
        if kind == "float32":
            data = x.astype(np.float32)
        else:  # a converter's codes: +1 is the top code (+32767), -1 the bottom (-32768)
            bits = {"int16": 16, "int32": 32, "uint8": 8}[kind]
            top = 2 ** (bits - 1)
            data = np.clip(np.round(x * top), -top, top - 1) + (128 if bits == 8 else 0)
            data = data.astype(kind)
        wavfile.write(tmp_path / "a.wav", 48000, data)
        clip = audio.read_wav(tmp_path / "a.wav")
        said = [n for n in clip.notes if n.startswith("clipped")]
        assert bool(said) == (flat and kind != "uint8"), (kind, clip.notes)
        if said:
            n = audio.clipped_samples(clip.samples)
            assert 0.2 * 48000 < n < 0.6 * 48000  # 1.5 sin >= 1 for 23 % of the time
            assert said == [f"clipped: {n} samples ({100 * n / 48000:.2g} %) sit flat at full "
                            "scale; record with more headroom"]
            assert audio.note_kind(said[0]) == "warning"


@pytest.mark.parametrize("block", [7, 1, 4])
def test_a_frame_size_that_does_not_match_the_format_is_refused(tmp_path, block):
    """A 16-bit mono WAV whose header gives frames of ``block`` bytes (2 is right): read as
    such, the samples came out of step, noise of the wrong length written without a word (an
    audit's render: 54857 samples from 4 s)."""
    good = _wav_bytes(1, 1, 48000, 16, np.zeros(48000, np.int16).tobytes())
    at = good.index(b"fmt ") + 8 + 12  # the fmt chunk's block align field
    p = tmp_path / "odd.wav"
    p.write_bytes(good[:at] + struct.pack("<H", block) + good[at + 2:])
    with pytest.raises(AudioFileError, match=rf"/odd.wav: corrupt WAV: a frame size of {block} "
                       "bytes, where 1 channel of 16 bits takes 2$"):
        audio.read_wav(p)
    (tmp_path / "ok.wav").write_bytes(good)
    assert len(audio.read_wav(tmp_path / "ok.wav").samples) == 48000
