"""The .pedal format: round trip, size, and rejection of corrupt/truncated/foreign/unsupported
files, by the host reader (PedalFormatError naming the file) and the firmware reader
(ValueError, under the real MicroPython)."""

import os
import struct
import zlib

import numpy as np
import pytest
from pedal_helpers import fitted_looking, run_micropython
from pedaltool.errors import PedalFormatError
from pedaltool.pedal import quantise, read_pedal, write_pedal
from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.fileformat import from_bytes, to_bytes


def _recrc(data: bytes) -> bytes:
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]) & 0xFFFFFFFF)


def test_the_firmware_reader_reads_a_view_as_the_bytes(fitted_qp):
    """Its tables are read from raw bytes: a memoryview given to parse() read them byte by
    byte, silently wrong (a review); it is taken as the bytes it shows."""
    pf = fw_module("pedalfile")
    data = to_bytes(fitted_qp)
    a, b = pf.parse(data), pf.parse(memoryview(data))
    tables = [list(st.table) for st in a.stages if st.table is not None]
    assert tables and tables == [list(st.table) for st in b.stages if st.table is not None]


def test_round_trip(tmp_path, fitted_qp):
    path = write_pedal(tmp_path / "amp.pedal", fitted_qp)
    back = read_pedal(path)
    assert back.sample_rate == fitted_qp.sample_rate and back.name == fitted_qp.name
    assert len(back.stages) == len(fitted_qp.stages)
    for a, b in zip(back.stages, fitted_qp.stages, strict=True):
        assert (a.kind, a.knob, tuple(a.p)) == (b.kind, b.knob, tuple(b.p))
        assert (a.table is None) == (b.table is None)
        if a.table is not None:
            assert np.array_equal(a.table, b.table)
    assert back.source.file_name == "amp.nam" and back.source.sha256 == "ab" * 8
    assert (back.source.gear_type, back.source.tone_type) == ("amp", "crunch")
    assert back.accuracy.esr == pytest.approx(0.012, rel=1e-6)
    assert back.accuracy.cycles == pytest.approx(812.0)
    assert set(back.knob_ranges) == {"drive", "tone", "level"}
    assert back.knob_ranges["drive"] == pytest.approx((-18, 12), abs=0.01)
    assert to_bytes(back) == path.read_bytes()  # a read file writes back byte for byte
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_fit_effort_round_trips_and_older_files_have_none(tmp_path, fitted_qp):
    import dataclasses

    assert read_pedal(write_pedal(tmp_path / "old.pedal", fitted_qp)).accuracy.effort == ""
    qp = dataclasses.replace(fitted_qp,
                             accuracy=dataclasses.replace(fitted_qp.accuracy, effort="thorough"))
    data = write_pedal(tmp_path / "new.pedal", qp).read_bytes()
    assert read_pedal(tmp_path / "new.pedal").accuracy.effort == "thorough"
    # a compatible addition: the firmware's reader keeps it as text among the other keys
    pf = fw_module("pedalfile")
    assert pf.parse(data, "new.pedal").meta[pf.META_EFFORT] == "thorough"
    assert len(data) == len((tmp_path / "old.pedal").read_bytes()) + 4 + len("thorough")


def test_a_control_character_in_a_name_is_written_as_a_space(tmp_path, fitted_qp):
    """A capture's name with a line break (its metadata, or a file name): the writer puts a
    space there (the pedal's console replies do too, for a file from elsewhere)."""
    import dataclasses

    qp = dataclasses.replace(fitted_qp, name="Kl\none\t\x9b2J\x7f",
                             source=dataclasses.replace(fitted_qp.source, file_name="a\rb.nam"))
    back = read_pedal(write_pedal(tmp_path / "n.pedal", qp))
    assert back.name == "Kl one  2J " and back.source.file_name == "a b.nam"


def test_typical_file_is_small(fitted_qp):
    assert len(to_bytes(fitted_qp)) <= 4096


def _variants(data: bytes) -> dict:
    flipped = bytearray(data)
    flipped[60] ^= 0x40
    version = bytearray(data)
    version[4] = 2
    size_field = bytearray(data)
    struct.pack_into("<I", size_field, 8, 16714425)  # a damaged total size in the header
    # the ESR entry (key 6, a 4-byte float) cut to 3 bytes, the sizes and CRC made consistent
    esr = struct.pack("<BBH", 6, 0, 4)
    at = data.index(esr)
    short = bytearray(data[:at] + struct.pack("<BBH", 6, 0, 3) + data[at + 4:at + 7]
                      + data[at + 8:])
    struct.pack_into("<I", short, 8, len(short))
    name = struct.pack("<BBH", 1, 0, 14) + b"fitted-looking"
    at = data.index(name) + 4

    def named(raw: bytes) -> bytes:  # the name's first bytes replaced, the length kept
        return _recrc(data[:at] + raw + data[at + len(raw):])

    knob = bytearray(data)
    knob[25] = 1  # stage 0, the delay, given the drive knob
    # stage 0's delay at the limit, and a second delay of 1 sample after it
    two = bytearray(data)
    struct.pack_into("<i", two, 32, 4095)
    two[36:36] = struct.pack("<BBHHHi", 8, 0, 1, 0, 0, 1)
    struct.pack_into("<H", two, 16, struct.unpack_from("<H", two, 16)[0] + 1)
    struct.pack_into("<I", two, 8, len(two))
    # the header's stage count (at 16) one too low and one too high, the CRC made good
    low, high, high2 = bytearray(data), bytearray(data), bytearray(data)
    nst = struct.unpack_from("<H", data, 16)[0]
    struct.pack_into("<H", low, 16, nst - 1)
    struct.pack_into("<H", high, 16, nst + 1)
    struct.pack_into("<H", high2, 16, nst + 2)
    # the metadata count (just before the first entry, the name) one too high
    meta_high = bytearray(data)
    nmeta_at = data.index(name) - 2
    struct.pack_into("<H", meta_high, nmeta_at, struct.unpack_from("<H", data, nmeta_at)[0] + 1)
    return {
        "count-low": (_recrc(bytes(low)), f"says {nst - 1} stages, but more follow (a stage "
                      "count too low)"),
        "count-high": (_recrc(bytes(high)), f"says {nst + 1} stages, but only {nst} are there"),
        # (an audit: "stage 20: dcblock: expected 7 parameters" and "truncated metadata")
        "count-high2": (_recrc(bytes(high2)), f"says {nst + 2} stages, but only {nst} are "
                        "there"),
        "meta-count-high": (_recrc(bytes(meta_high)), "the metadata count says"),
        "name-surrogate": (named(b"\xed\xa0\x80"), "metadata 1 is not UTF-8"),
        "name-overlong": (named(b"\xc0\x80"), "metadata 1 is not UTF-8"),
        "name-beyond-unicode": (named(b"\xf4\x90\x80\x80"), "metadata 1 is not UTF-8"),
        "delay-knob": (_recrc(bytes(knob)), "stage 0: delay: takes no knob"),
        "delays": (_recrc(bytes(two)), "stage 1: the delays add up to more than 4095"),
        "magic-only": (data[:3], "truncated (3 bytes)"),
        "corrupt": (bytes(flipped), "CRC mismatch"),
        "truncated": (data[: len(data) // 2], "truncated"),
        "truncated-header": (data[:10], "truncated"),
        "foreign": (b"RIFF" + data[4:], "bad magic"),
        "empty": (b"", "empty file"),
        "version": (_recrc(bytes(version)), "unsupported format version 2"),
        "appended": (data + b"\0\0", "size mismatch"),
        "size-field": (_recrc(bytes(size_field)), "corrupt header (it says 16714425 bytes"),
        "short-float": (_recrc(bytes(short)), "metadata 6: a float takes 4 bytes, not 3"),
    }


def test_host_reader_rejects_bad_files(tmp_path, fitted_qp):
    for name, (blob, why) in _variants(to_bytes(fitted_qp)).items():
        path = tmp_path / f"{name}.pedal"
        path.write_bytes(blob)
        with pytest.raises(PedalFormatError) as exc:
            read_pedal(path)
        assert f"{name}.pedal" in str(exc.value) and why in str(exc.value), str(exc.value)
    with pytest.raises(PedalFormatError, match="missing.pedal: file not found$"):
        read_pedal(tmp_path / "missing.pedal")


def test_out_of_contract_parameters_are_rejected(fitted_qp):
    """A file with a valid CRC but a parameter outside the contract is refused."""
    data = bytearray(to_bytes(fitted_qp))
    # stage 0 is a delay (3 samples): header at 24, its parameter at 32
    assert struct.unpack_from("<BBHHHi", data, 24) == (8, 0, 1, 0, 0, 3)
    struct.pack_into("<i", data, 32, 100000)
    with pytest.raises(PedalFormatError, match="delay: out of range"):
        from_bytes(_recrc(bytes(data)), "x.pedal")


def test_a_reversed_knob_range_is_rejected():
    """A gain on level from +90 dB at knob 0 to -20 dB at 1 passed the sanity check, whose loud
    corners have the knobs at the top, and the flash gate (a review)."""
    pf = fw_module("pedalfile")
    assert pf.check_stage(pf.GAIN, pf.KNOB_LEVEL, [1, 7, 1024, -512], 0) == \
        "gain: knob range reversed (its bottom above its top)"
    assert pf.check_stage(pf.GAIN, pf.KNOB_LEVEL, [1, 7, -512, 1024], 0) is None
    table = [pf.TABLE, pf.KNOB_DRIVE, [4, 100, 8, 0, 512, -512], 17]
    assert pf.check_stage(*table) == "table: knob range reversed (its bottom above its top)"


def test_an_unknown_metadata_key_is_kept_undecoded(fitted_qp):
    """A later writer's key (here 200) may hold bytes that are not text: both readers keep it
    and read the file (the format's promise that new keys keep version 1)."""
    data = to_bytes(fitted_qp)
    first = data.index(struct.pack("<BBH", 1, 0, 14) + b"fitted-looking")
    count = struct.unpack_from("<H", data, first - 2)[0]
    blob = bytearray(data[:-4] + struct.pack("<BBH", 200, 0, 4) + b"\x00\xff\x80\x01")
    struct.pack_into("<H", blob, first - 2, count + 1)
    struct.pack_into("<I", blob, 8, len(blob) + 4)
    blob = _recrc(bytes(blob) + b"\0\0\0\0")
    assert from_bytes(blob, "x.pedal").name == "fitted-looking"
    assert fw_module("pedalfile").parse(blob, "x.pedal").meta[200] == b"\x00\xff\x80\x01"


def test_the_firmware_utf8_check_agrees_with_cpython():
    """pedalfile.utf8_ok (MicroPython's decode is lenient) against CPython's strict decoder, on
    byte strings made of the boundary bytes of every UTF-8 form."""
    import random

    utf8_ok = fw_module("pedalfile").utf8_ok
    edges = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
             0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    rng = random.Random(7)
    seen = {True: 0, False: 0}
    for _ in range(40000):
        b = bytes(rng.choice(edges) for _ in range(rng.randint(0, 5)))
        try:
            b.decode("utf-8")
            ok = True
        except UnicodeDecodeError:
            ok = False
        assert utf8_ok(b) == ok, b
        seen[ok] += 1
    assert min(seen.values()) > 2000  # both answers well exercised
    for text in ("fitted-looking", "Marshall® JCM2000", "ドライブ", "🎸 crunch"):
        assert utf8_ok(text.encode())


_MP_READ = r"""
from pedalcore import pedalfile
import os
for name in sorted(os.listdir(DIR)):
    try:
        p = pedalfile.load(DIR + '/' + name)
        print(name, 'OK', len(p.stages), p.rate, p.name)
    except ValueError as e:
        print(name, 'ERR', e)
"""


def test_firmware_reader_rejects_bad_files(tmp_path, fitted_qp):
    d = tmp_path / "bank"
    d.mkdir()
    data = to_bytes(fitted_qp)
    (d / "good.pedal").write_bytes(data)
    for name, (blob, _) in _variants(data).items():
        (d / f"{name}.pedal").write_bytes(blob)
    # larger than the format allows: refused by its size, before anything is read
    (d / "huge.pedal").write_bytes(data + bytes(70000))
    out = run_micropython(f"DIR = {str(d)!r}\n" + _MP_READ, tmp_path)
    lines = {ln.split()[0]: ln for ln in out.strip().splitlines()}
    assert lines["good.pedal"].split()[1:4] == ["OK", str(len(fitted_qp.stages)), "48000"]
    # worded as the host's reader words it
    assert "ERR" in lines["huge.pedal"] and (f"too large ({len(data) + 70000} bytes; a .pedal "
                                             "has at most 65536)") in lines["huge.pedal"]
    for name, (_, why) in _variants(data).items():
        assert lines[f"{name}.pedal"].split()[1] == "ERR" and why in lines[f"{name}.pedal"]


def test_a_damaged_count_is_refused_before_the_firmware_allocates_for_it(tmp_path):
    """A stage record whose table claims 32000 values (CRC intact, the file within 64 KB):
    the firmware reader says so in a ValueError on a small heap, as the host reader does,
    instead of running out of memory unpacking them first (found by an audit, 2026-12-06)."""
    table = struct.pack("<BBHHH", 3, 0, 6, 32000, 0) + struct.pack("<6i", 10, 4096, 10, 0,
                                                                      0, 0)
    body = table + bytes(2 * 32000) + struct.pack("<H", 0)
    head = b"PDL1" + struct.pack("<HHIIHHI", 1, 24, 24 + len(body) + 4, 48000, 1, 0, 0)
    blob = _recrc(head + body + bytes(4))
    why = "stage 0: table: expected 1025 values, found 32000"
    with pytest.raises(PedalFormatError, match=why):
        from_bytes(blob, "big.pedal")
    d = tmp_path / "bank"
    d.mkdir()
    (d / "big.pedal").write_bytes(blob)
    # a 300 KB heap loads the largest valid file (64 KB, 31 tables: 250 KB was enough in the
    # audit); unpacking the 32000 claimed values first took 256 KB more than it has
    out = run_micropython(f"DIR = {str(d)!r}\n" + _MP_READ, tmp_path, heapsize="300K")
    assert out.strip().endswith(why), out


def test_write_refuses_unsafe_model(tmp_path):
    """A model that fails the sanity check is never written (and no temp file is left)."""
    qp = quantise(fitted_looking(48000))
    qp.stages[1].p = (qp.stages[1].p[0], qp.stages[1].p[1], qp.stages[1].p[2],
                      -(2**27) + 2000, 2**26 - 1000, -2, 1)  # poles at |z| ~ 0.99999
    with pytest.raises(PedalFormatError, match="unit circle"):
        write_pedal(tmp_path / "bad.pedal", qp)
    assert list(tmp_path.iterdir()) == []


def test_fuzzed_files_fail_cleanly(fitted_qp):
    """Random byte damage with a recomputed CRC: the reader either accepts a file that is
    inside the contract or raises PedalFormatError, never anything else."""
    from pedaltool.pedal.quantise import check_quantised

    data = to_bytes(fitted_qp)
    rng = np.random.default_rng(77)
    accepted = rejected = 0
    for _ in range(400):
        blob = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            blob[int(rng.integers(0, len(blob) - 4))] = int(rng.integers(0, 256))
        try:
            qp = from_bytes(_recrc(bytes(blob)), "fuzz.pedal")
        except PedalFormatError as exc:
            assert str(exc).startswith("fuzz.pedal: ")
            rejected += 1
        else:
            assert check_quantised(qp) is None
            accepted += 1
    assert rejected > 50 and accepted > 50


def test_pedaltool_info_shows_what_a_pedal_file_holds(tmp_path):
    import json

    from click.testing import CliRunner
    from pedaltool.cli import main
    from pedaltool.pedal.model import Accuracy, SourceInfo

    qp = quantise(fitted_looking(48000, env=True, mix=True))
    qp.name = "amp"
    qp.source = SourceInfo("amp.nam", "0123456789abcdef", "amp", "crunch")
    qp.accuracy = Accuracy(0.0123, 0.0234, 1100.0, "normal")
    path = write_pedal(tmp_path / "amp.pedal", qp)
    r = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert facts["name"] == "amp" and facts["sample_rate_hz"] == 48000
    assert facts["bytes"] == path.stat().st_size
    assert facts["source"] == {"file": "amp.nam", "sha256_prefix": "0123456789abcdef",
                               "gear_type": "amp", "tone_type": "crunch"}
    assert facts["schema"] == 1  # the keys a fit's report and compare's use for the same things
    assert facts["device"] == {"esr": pytest.approx(0.0123, rel=1e-6),
                               "esr_pre": pytest.approx(0.0234, rel=1e-6)}
    assert facts["cycles_per_sample"] == 1100.0 and facts["effort"] == "normal"
    assert facts["notes"] == []
    kinds = [st.kind for st in qp.stages]
    assert sum(int(s.split(" x ")[0]) if " x " in s else s.startswith("biquad")
               for s in facts["stages"]) == kinds.count("biquad")
    r = CliRunner().invoke(main, ["info", str(path)])
    assert r.exit_code == 0 and "amp.nam (sha256 0123456789abcdef...)" in r.stdout
    assert "ESR          0.0123" in r.stdout


def test_info_shows_any_file_the_reader_accepts(tmp_path):
    """What another writer (or a damaged key) can put in an accepted file: an ESR without
    its pre-emphasised twin, an infinite score, a name with a newline and an escape sequence.
    `info` says "not recorded", keeps its JSON strict and prints the name on its own line,
    escaped (found by an audit, 2026-12-06: a TypeError, `Infinity`, a forged line). (This
    writer puts spaces for control characters: the name's bytes are put in by hand.)"""
    import json

    from click.testing import CliRunner
    from pedaltool.cli import main
    from pedaltool.pedal.model import Accuracy

    qp = quantise(fitted_looking(48000))
    evil = "evil\nstages       FAKE\x1b[31m"
    qp.name = "e" * len(evil)
    for acc, esr_line, device in (
            (Accuracy(0.01, float("nan"), 900.0), "0.0100 (pre-emphasised not recorded)",
             {"esr": pytest.approx(0.01), "esr_pre": None}),
            (Accuracy(float("inf"), 0.5, float("-inf")), "ESR          not recorded",
             {"esr": None, "esr_pre": 0.5})):
        qp.accuracy = acc
        path = tmp_path / "odd.pedal"
        data = to_bytes(qp)  # (write_pedal would judge the model; not the point)
        path.write_bytes(_recrc(data.replace(qp.name.encode(), evil.encode())))
        r = CliRunner().invoke(main, ["info", str(path)])
        assert r.exit_code == 0, r.output
        assert esr_line in r.stdout
        assert "name         evil\\nstages       FAKE\\x1b[31m\n" in r.stdout
        assert not any(ln.startswith("stages       FAKE") for ln in r.stdout.splitlines())
        r = CliRunner().invoke(main, ["info", str(path), "--json"])
        facts = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
        assert facts["device"] == device and facts["name"] == evil
        assert facts["cycles_per_sample"] == (900.0 if acc.cycles == 900.0 else None)


def test_the_host_reader_tells_a_huge_file_by_its_size(tmp_path):
    """Never read whole (a renamed multi-gigabyte file, /dev/zero): at most a .pedal's limit
    plus one byte is read, and the file is refused as too large, as the firmware's load
    refuses it; a foreign file still says what it is."""
    from pedaltool.pedal.fileformat import MAX_FILE

    data = to_bytes(quantise(fitted_looking(48000)))
    big = tmp_path / "big.pedal"
    big.write_bytes(data + bytes(10 * MAX_FILE))
    size = len(data) + 10 * MAX_FILE
    with pytest.raises(PedalFormatError, match=rf"big.pedal: too large \({size} bytes"):
        read_pedal(big)
    wav = tmp_path / "take.pedal"
    wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVE" + bytes(2 * MAX_FILE))
    with pytest.raises(PedalFormatError, match="bad magic: it is a WAV file"):
        read_pedal(wav)
    if os.path.exists("/dev/zero"):
        (tmp_path / "zero.pedal").symlink_to("/dev/zero")
        with pytest.raises(PedalFormatError, match=r"not a .pedal file \(bad magic\)"):
            read_pedal(tmp_path / "zero.pedal")


def test_info_says_when_a_knob_moves_stages_by_different_ranges(tmp_path, fitted_qp):
    """A knob on two stages with different ranges (a valid file the fitter never writes):
    info gave only the last stage's range, without a word; now the first's, and a note with
    every stage's."""
    import dataclasses

    from pedaltool.pedal.fileformat import knob_range_db, pedal_info

    stages = list(fitted_qp.stages)
    at = next(i for i, st in enumerate(stages) if st.kind == "gain" and st.knob == "level")
    gain = stages[at]
    m, s, lo, hi = gain.p
    stages.insert(at, dataclasses.replace(gain, p=(m, s, lo // 2, hi // 2)))  # half the range
    write_pedal(tmp_path / "two.pedal", dataclasses.replace(fitted_qp, stages=stages),
                check=False)
    facts = pedal_info(tmp_path / "two.pedal")
    first = knob_range_db(stages[at])
    assert facts["knob_ranges_db"]["level"] == [round(first[0], 2), round(first[1], 2)]
    assert [n for n in facts["notes"] if "level knob" in n] == [
        f"note: the level knob moves 2 stages by different ranges: gain {first[0]:+.2f}.."
        f"{first[1]:+.2f} dB, gain {lo / 1024 * 6.0206:+.2f}..{hi / 1024 * 6.0206:+.2f} dB; "
        "its range above is the first's"]
    assert pedal_info(write_pedal(tmp_path / "one.pedal", fitted_qp))["notes"] == []
