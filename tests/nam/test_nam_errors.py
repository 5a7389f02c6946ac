"""Target 3: bad input never crashes - one line naming the file, exit code 2, no output file."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pedaltool import nam
from pedaltool.cli import main
from pedaltool.errors import NamFileError
from pedaltool.nam import file as namfile

SHARED = Path(__file__).resolve().parents[3] / "shared"
MODELS = SHARED / "models"
PROBE = SHARED / "reference" / "probe.wav"
# small real files so that every example stays fast
FUZZ_FILES = ["core_wavenet.nam", "core_lstm.nam", "core_wavenet_a2_max.nam",
              "core_wavenet_condition_dsp.nam", "core_slimmable_container.nam",
              "core_slimmable_wavenet.nam", "phillipe_p_maxon_od808_feather.nam"]
DOCS = {name: json.loads((MODELS / name).read_text()) for name in FUZZ_FILES}


def _doc(name="core_wavenet.nam"):
    return copy.deepcopy(DOCS[name])


def _write(tmp_path, doc, name="m.nam"):
    p = tmp_path / name
    if isinstance(doc, bytes):
        p.write_bytes(doc)
    else:
        p.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return p


def _mutate(doc, steps):
    d = copy.deepcopy(doc)
    for choice, keep_frac, new_value, factor in steps:
        paths = list(_paths(d))
        path = paths[choice % len(paths)]
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = choice % 4
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 1 and isinstance(parent[key], list):
            parent[key] = parent[key][: int(len(parent[key]) * keep_frac)]
        elif op == 2 and type(parent[key]) in (int, float):
            parent[key] = parent[key] * factor
        else:
            parent[key] = new_value
    return d


def _paths(o, pre=()):
    if isinstance(o, dict):
        for k, v in o.items():
            yield pre + (k,)
            if k != "weights":
                yield from _paths(v, pre + (k,))
    elif isinstance(o, list) and len(o) < 64:
        for i, v in enumerate(o):
            yield pre + (i,)
            yield from _paths(v, pre + (i,))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "Tanh", "gated", "blended", "none", "LSTM", "WaveNet", "0.5.0"])
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                               max_size=3),
    max_leaves=5,
)
steps = st.lists(st.tuples(st.integers(0, 10**6), st.floats(0, 1), json_values,
                           st.sampled_from([0, -1, 2, 0.5, 1e6, 1.5])), min_size=1, max_size=3)
X = np.linspace(-1, 1, 200).astype(np.float32)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FUZZ_FILES), mutation=steps)
def test_mutated_models_only_ever_raise_nam_file_error(name, mutation):
    doc = _mutate(DOCS[name], mutation)
    try:
        m = nam.load_dict(doc, name=name)
    except NamFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(name)
        return
    y = m.render(X)  # whatever loads must also render
    assert y.shape == X.shape


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FUZZ_FILES[:4]), cut=st.integers(0, 10**6),
       junk=st.binary(max_size=8), mode=st.sampled_from(["truncate", "insert", "replace"]))
def test_corrupted_json_text_only_raises_nam_file_error(tmp_path, name, cut, junk, mode):
    raw = (MODELS / name).read_bytes()
    i = cut % (len(raw) + 1)
    data = {"truncate": raw[:i], "insert": raw[:i] + junk + raw[i:],
            "replace": raw[:i] + junk + raw[i + len(junk):]}[mode]
    p = tmp_path / name
    p.write_bytes(data)
    try:
        nam.load(p).render(X)
    except NamFileError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{p}: ")


def _set(doc, path, value):
    d = copy.deepcopy(doc)
    o = d
    for k in path[:-1]:
        o = o[k]
    if value is KeyError:
        del o[path[-1]]
    else:
        o[path[-1]] = value
    return d


CASES = {
    "malformed_json": ('{"version": "0.5.0", ', "malformed JSON"),
    "not_an_object": ("[1, 2, 3]", "expected a JSON object"),
    "empty": ("", "empty file"),
    "binary": ("\x00\x01\x02garbage", "malformed JSON"),
    "missing_weights": (_set(_doc(), ["weights"], KeyError), "weights: missing required key"),
    "missing_layers": (_set(_doc(), ["config", "layers"], KeyError), "config.layers: missing"),
    "missing_channels": (_set(_doc(), ["config", "layers", 0, "channels"], KeyError),
                         "config.layers[0].channels: missing"),
    "wrong_type": (_set(_doc(), ["config", "layers", 0, "channels"], "sixteen"),
                   "config.layers[0].channels: expected an integer"),
    "short_weights": (_set(_doc(), ["weights"], _doc()["weights"][:-3]),
                      "weights: expected 131 floats for this WaveNet config, found 128"),
    "long_weights": (_set(_doc(), ["weights"], _doc()["weights"] + [0.0]),
                     "expected 131 floats for this WaveNet config, found 132"),
    "unknown_architecture": (_set(_doc(), ["architecture"], "Transformer"),
                             "unknown architecture 'Transformer'"),
    "unknown_activation": (_set(_doc(), ["config", "layers", 0, "activation"], "Swish"),
                           "unknown activation 'Swish'"),
    "newer_version": (_set(_doc(), ["version"], "0.8.0"), "unsupported file version 0.8.0"),
    "older_version": (_set(_doc(), ["version"], "0.4.0"), "unsupported file version 0.4.0"),
    "weight_string": (_set(_doc(), ["weights", 5], "1.0"), "weights[5]: expected a number"),
    # a rate no WAV is read or written at: it was rendered whole, then refused (a review)
    "rate_4k": (_set(_doc(), ["sample_rate"], 4000),
                "sample_rate: implausible sample rate 4000 Hz (expected 8000-384000)"),
    # JSON with a byte that is not UTF-8: not "a .nam capture: check the order" (a review)
    "json_not_utf8": (b'{"a": "\xff"}', "not a .nam file (not UTF-8 text)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_file_gives_one_clear_line(tmp_path, case):
    content, problem = CASES[case]
    p = _write(tmp_path, content, f"{case}.nam")
    with pytest.raises(NamFileError) as exc:
        nam.load(p)
    msg = str(exc.value)
    # the path as given, folder included, so a file among many is findable
    assert msg.startswith(f"{p}: ") and problem in msg and "\n" not in msg


@pytest.mark.parametrize("token, what", [("NaN", "not finite"), ("Infinity", "not finite"),
                                         ("-Infinity", "not finite"),
                                         ("1e39", "beyond float32's range"),
                                         ("1e300", "beyond float32's range")])
def test_non_finite_weights_are_refused(tmp_path, token, what):
    """A weight a float32 cannot hold is refused; 1e300 is finite, only too large for it
    (it read "not finite (1e+300)", an audit)."""
    text = json.dumps(_doc())
    i = text.index('"weights": [') + len('"weights": [')
    p = _write(tmp_path, text[:i] + token + ", " + text[i:].split(",", 1)[1])
    with pytest.raises(NamFileError, match=rf"m.nam: weights\[0\]: weight is {what} "):
        nam.load(p)


def test_huge_file_is_refused_without_reading_it(tmp_path, monkeypatch):
    p = tmp_path / "huge.nam"
    with open(p, "wb") as fh:  # sparse: 60 MB on paper, nothing on disk
        fh.truncate(60 * 1024 * 1024)
    reads = []
    real_open = open

    def spy_open(*args, **kwargs):
        reads.append(args[0])
        return real_open(*args, **kwargs)

    monkeypatch.setattr("builtins.open", spy_open)
    with pytest.raises(NamFileError, match=r"huge.nam: file is 62.9 MB, larger than the 50 MB"):
        nam.load(p)
    assert reads == []


def test_config_asking_for_absurd_sizes_is_refused_cheaply():
    d = _set(_doc(), ["config", "layers", 0, "channels"], 60000)
    with pytest.raises(NamFileError, match="more than .* weights|must"):
        nam.load_dict(d)
    d = _set(_doc(), ["config", "layers", 0, "dilations"], [2**19] * 40)
    with pytest.raises(NamFileError, match="conv history"):
        nam.load_dict(d)


def test_a_tiny_file_asking_for_a_huge_model_is_refused_without_building_it():
    """A 151-byte LSTM config of hidden size 2400 with one weight: the dry run built its zero
    arrays and float64 copies, 617 MB, before saying it was short (a review)."""
    import tracemalloc

    d = {"version": "0.5.4", "architecture": "LSTM", "sample_rate": 48000, "weights": [0.0],
         "config": {"num_layers": 1, "input_size": 1, "hidden_size": 2400}}
    tracemalloc.start()
    try:
        with pytest.raises(NamFileError, match="expected at least 23049600 floats for this "
                                               "LSTM config, found 1"):
            nam.load_dict(d)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, peak


def test_a_grouped_convolution_too_large_to_expand_is_refused_before_it_is_built():
    """4096 channels in 4096 groups: few weights, but pedaltool computes a grouped convolution
    as a dense matrix, 4096 x 4096 a layer (948 MB, 200x slower than real time; a review)."""
    from pedaltool.paths import examples_dir

    d = json.loads((examples_dir() / "diode_clipper.nam").read_text())
    layer = d["config"]["layers"][0]
    for key in ("kernel_sizes", "dilations", "activation", "gating_mode",
                "secondary_activation"):
        layer[key] = layer[key][:1]
    layer.update(channels=4096, bottleneck=4096, groups_input=4096, kernel_sizes=[1])
    layer["layer1x1"]["active"] = False
    layer["head"]["out_channels"] = 1
    d["config"]["layers"] = [layer]
    with pytest.raises(NamFileError, match="a grouped convolution of 4096 to 4096 channels in "
                                           "4096 groups is larger than pedaltool computes"):
        nam.load_dict(d)


def test_limits_are_sane():
    assert namfile.MAX_FILE_BYTES == 50 * 1024 * 1024


# ---- the CLI ---------------------------------------------------------------------------------


def _cli(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_one_line_error(result, name):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", ["malformed_json", "short_weights", "unknown_activation",
                                  "newer_version"])
def test_cli_bad_model_exit_2_one_line_no_output(tmp_path, case):
    content, _ = CASES[case]
    model = _write(tmp_path, content, f"{case}.nam")
    out = tmp_path / "out.wav"
    _assert_one_line_error(_cli(["render", model, PROBE, out]), f"{case}.nam")
    assert not out.exists()
    _assert_one_line_error(_cli(["info", model]), f"{case}.nam")


def test_cli_errors_name_the_file_with_its_folder(tmp_path, monkeypatch):
    # In a batch of captures from several folders the bare name would not say which file.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "amps").mkdir()
    _write(tmp_path / "amps", CASES["malformed_json"][0], "x.nam")
    (tmp_path / "pedals").mkdir()
    (tmp_path / "pedals" / "x.pedal").write_bytes(b"garbage")
    for model, problem in (("amps/x.nam", "malformed JSON"), ("cabs/x.nam", "file not found")):
        r = _cli(["fit", model])  # a progress line "fitting x.nam", then the error
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert r.stderr.strip().splitlines()[-1].startswith(f"error: {model}: {problem}")
    _assert_one_line_error(_cli(["info", "pedals/x.pedal"]), "pedals/x.pedal: not a .pedal")
    _assert_one_line_error(_cli(["render", "pedals/x.pedal", "di/in.wav", "o.wav"]),
                           "pedals/x.pedal: not a .pedal")
    _assert_one_line_error(_cli(["render", MODELS / "core_wavenet.nam", "di/in.wav", "o.wav"]),
                           "di/in.wav: file not found")


@pytest.mark.parametrize("content", [b"", b"not audio at all, just text",
                                     b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00"
                                     b"\x01\x00\x07\x00\x00\x00\x0e\x00\x00\x00\x02\x00\x10\x00"
                                     b"data\x00\x00\x00\x00"])
def test_cli_bad_wav_exit_2_one_line_no_output(tmp_path, content):
    wav = tmp_path / "in.wav"
    wav.write_bytes(content)
    out = tmp_path / "out.wav"
    _assert_one_line_error(_cli(["render", MODELS / "core_wavenet.nam", wav, out]), "in.wav")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["in.wav"]


def test_cli_render_and_info_work(tmp_path):
    from pedaltool.audio import read_wav

    out = tmp_path / "out.wav"
    r = _cli(["render", MODELS / "core_wavenet.nam", PROBE, out])
    assert r.exit_code == 0, r.output
    y = read_wav(out)
    ref = np.fromfile(SHARED / "reference" / "core_outputs" / "core_wavenet.f32", "<f4")
    assert y.rate_hz == 48000 and np.max(np.abs(y.samples - ref)) < 1e-5
    r = _cli(["info", "--json", MODELS / "core_A2.nam"])
    facts = json.loads(r.stdout)
    assert facts["receptive_field_samples"] == 6347
    assert facts["metadata"]["input_level_dbu"] == 14.76
    # the keys and types every JSON report shares (docs/fitting.md, "The JSON report")
    assert facts["schema"] == 1 and type(facts["sample_rate_hz"]) is int
    r = _cli(["info", MODELS / "core_lstm.nam"])
    assert "LSTM" in r.stdout and "Darkglass" in r.stdout


def test_cli_render_says_when_slim_changes_nothing(tmp_path):
    from pedaltool.audio import write_wav

    write_wav(tmp_path / "in.wav", np.full(480, 0.01), 48000)
    for model, noted in (("core_wavenet", True), ("core_slimmable_wavenet", False),
                         ("core_slimmable_container", False)):
        r = _cli(["render", MODELS / f"{model}.nam", tmp_path / "in.wav", tmp_path / "o.wav",
                  "--slim", "1.0"])
        assert r.exit_code == 0, r.output
        assert ("not a slimmable model" in r.stderr) == noted, (model, r.stderr)


def test_a_slim_that_changes_nothing_is_noted_by_info_and_render(tmp_path):
    out = tmp_path / "o.wav"
    for model, noted in (("core_wavenet.nam", True), ("core_slimmable_wavenet.nam", False),
                         ("core_slimmable_container.nam", False)):
        for args in (["info", "--slim", "0.3", MODELS / model],
                     ["render", "--slim", "0.3", MODELS / model, PROBE, out]):
            r = _cli(args)
            assert r.exit_code == 0, (args, r.output)
            assert ("not a slimmable model, --slim 0.3 changes nothing" in r.stderr) == noted, \
                (args, r.stderr)
        r = _cli(["info", "--slim", "0.3", "--json", MODELS / model])  # said in JSON too
        assert any("changes nothing" in n for n in json.loads(r.stdout)["notes"]) == noted


@pytest.mark.parametrize("value,shown", [("24", '"24"'), (10 ** 400, "1000000000000000..."),
                                         (float("inf"), "inf"), ([24], "[24]")])
def test_a_metadata_number_that_is_not_one_is_ignored_and_said(tmp_path, value, shown):
    """`input_level_dbu: "24"` (or an integer beyond a double, or an infinity): the field is
    ignored, the default level used, and every command that reads the capture says so as a
    warning (it was silently ignored: a fit at another level than the file meant, and `info`
    said "not in file"; a huge integer was an internal error in every command)."""
    doc = _doc()
    doc["metadata"] = {"input_level_dbu": value, "loudness": value, "name": "x"}
    path = _write(tmp_path, json.dumps(doc).replace("Infinity", "1e999"))  # (inf, as JSON can)
    m = nam.load(path)
    assert m.metadata.input_level_dbu is None and m.metadata.loudness is None
    assert m.metadata.ignored["input_level_dbu"].startswith(shown[:16])
    from pedaltool.nam.model import input_level_dbu

    assert input_level_dbu(m) == 12.0
    r = _cli(["info", path])
    assert r.exit_code == 0, r.output
    assert "input level (dBu)  12 dBu assumed (" in r.stdout and "is not a number)" in r.stdout
    assert f"warning: ignored metadata input_level_dbu: {shown[:16]}" in r.stderr, r.stderr
    assert "note: ignored metadata loudness: " in r.stderr
    r = _cli(["info", "--json", path])
    facts = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert facts["input_level_dbu_used"] == 12.0
    assert any(n.startswith("warning: ignored metadata input_level_dbu") for n in facts["notes"])


def test_an_integer_longer_than_python_reads_is_malformed_json(tmp_path):
    """5001 digits: json.loads raises a plain ValueError (Python's 4300-digit limit), not a
    JSONDecodeError; one line naming the file, not an internal error (a review, 2026-12-06)."""
    text = json.dumps(_doc()).replace('"metadata": {', '"metadata": {"loudness": '
                                      + "9" * 5001 + ", ", 1)
    assert text.count("9" * 5001) == 1
    path = _write(tmp_path, text, "long.nam")
    with pytest.raises(NamFileError, match=r"long.nam: malformed JSON \(Exceeds the limit"):
        nam.load(path)
    _assert_one_line_error(_cli(["info", path]), "long.nam")


def test_info_json_is_strict_json_whatever_the_metadata_holds(tmp_path):
    """A capture's free-form metadata can hold NaN and infinities (Python's json writes
    them): `info --json` gives null there, as every report does, not NaN or Infinity."""
    doc = _doc()
    doc["metadata"] = {"foo": float("nan"), "bar": {"x": float("inf")}}
    r = _cli(["info", "--json", _write(tmp_path, doc)])
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert facts["metadata"]["extra"] == {"foo": None, "bar": {"x": None}}


def test_render_of_a_capture_whose_output_overflows_is_one_line_naming_it(tmp_path):
    """Finite weights whose output is not (a head weight of 3e38): one error naming the
    capture, nothing written (it printed a warning about the output WAV's +inf dBFS peak,
    then an error blaming the WAV, found by an audit on 2026-12-06)."""
    doc = _doc()
    doc["weights"][-1] = 3e38
    path = _write(tmp_path, doc, "hot.nam")
    out = tmp_path / "o.wav"
    r = _cli(["render", path, PROBE, out])
    assert r.exit_code == 2 and r.stdout == "", r.output
    assert r.stderr.splitlines() == [f"error: {path}: the capture's output overflows (not "
                                     "finite) on probe.wav: its weights are broken; nothing "
                                     "written"], r.stderr
    assert not out.exists()


def test_info_warns_about_a_calibration_fit_and_compare_refuse(tmp_path):
    """An input_level_dbu of 1000 was shown by info as the level used, without a word, where
    fit and compare refuse it (an audit, 2026-12-06): now a warning, and no level "used"."""
    doc = _doc()
    for dbu, broken in ((1000.0, True), (-200.0, True), (18.0, False)):
        doc["metadata"] = {"input_level_dbu": dbu}
        p = tmp_path / "cal.nam"
        p.write_text(json.dumps(doc))
        r = _cli(["info", "--json", p])
        assert r.exit_code == 0, r.output
        facts = json.loads(r.stdout)
        assert facts["input_level_dbu_used"] == (None if broken else dbu)
        warned = [n for n in facts["notes"] if "broken calibration" in n]
        assert warned == ([f"warning: input_level_dbu {dbu:g} is outside -40..60 dBu (an "
                           "interface's level at 0 dBFS): a broken calibration; fit and "
                           "compare refuse this capture"] if broken else [])
        r = _cli(["info", p])
        assert ("broken calibration" in r.stderr) == broken, r.output


def test_render_says_the_rate_its_wav_holds(tmp_path):
    """A .nam at 48000.5 Hz is rendered to a WAV whose header holds 48000 (a whole number):
    the "wrote" line says 48000 Hz, where it said 48000.5 (an audit, 2026-12-06)."""
    from pedaltool.audio import read_wav, write_wav

    doc = _doc()
    doc["sample_rate"] = 48000.5
    (tmp_path / "odd.nam").write_text(json.dumps(doc))
    write_wav(tmp_path / "in.wav", np.full(4800, 0.01), 48000)
    r = _cli(["render", tmp_path / "odd.nam", tmp_path / "in.wav", tmp_path / "o.wav"])
    assert r.exit_code == 0, r.output
    assert read_wav(tmp_path / "o.wav").rate_hz == 48000
    assert "4800 samples, 48000 Hz, float32)" in r.output, r.output


def test_a_capture_saved_with_a_pedal_name_is_still_read_by_info_and_render(tmp_path):
    """info and render take a .nam or a .pedal, told by their first bytes: a capture saved
    as x.pedal was refused by the .pedal reader ("check the order of the arguments", which
    info has none of), while a .pedal named .nam was read (an audit, 2026-12-06)."""
    from pedaltool.audio import write_wav

    (tmp_path / "x.pedal").write_text(json.dumps(_doc()))
    r = _cli(["info", "--json", tmp_path / "x.pedal"])
    assert r.exit_code == 0 and json.loads(r.stdout)["architecture"] == "WaveNet", r.output
    write_wav(tmp_path / "in.wav", np.full(480, 0.01), 48000)
    r = _cli(["render", tmp_path / "x.pedal", tmp_path / "in.wav", tmp_path / "o.wav"])
    assert r.exit_code == 0, r.output
    (tmp_path / "y.pedal").write_bytes(b"junk" * 10)  # neither: the .pedal reader says so
    r = _cli(["info", tmp_path / "y.pedal"])
    assert r.exit_code == 2 and "y.pedal: not a .pedal file (bad magic)" in r.output


@pytest.mark.parametrize("args", [["info", ""], ["fit", ""], ["render", PROBE, "", "o.wav"],
                                  ["compare", "", "x.pedal"]])
def test_an_empty_file_name_is_refused_as_one(args, tmp_path, monkeypatch):
    """`Path("")` is ".": `info ""` said ".: is a directory, not a .nam file" and `fit ""`
    began "fitting " before failing (a review)."""
    monkeypatch.chdir(tmp_path)
    r = _cli(args)
    assert r.exit_code == 2 and "an empty file name" in r.stderr, r.output
    assert "fitting" not in r.stderr and not list(tmp_path.iterdir())


def test_a_file_name_with_a_newline_or_an_escape_is_one_line_in_an_error(tmp_path):
    """An error naming a file the user gave printed its newline and escape as they are: two
    lines, and an escape sequence for the terminal to act on (a review)."""
    r = _cli(["info", tmp_path / "nope\n\x1b[31mred.nam"])
    _assert_one_line_error(r, "nope\\n\\x1b[31mred.nam")


def test_a_pipe_over_the_size_limit_is_refused_naming_it():
    """A pipe's bytes (read up to the limit + 1, ``filekind.stream_bytes``): refused with the
    limit named, as a file's size is (a review: "larger than the size limit")."""
    from pedaltool.nam.file import MAX_FILE_BYTES

    with pytest.raises(NamFileError, match=r"^/dev/stdin: more than the 50 MB a capture may"):
        nam.load("/dev/stdin", data=b" " * (MAX_FILE_BYTES + 1))
