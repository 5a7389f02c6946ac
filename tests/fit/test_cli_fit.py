"""The fit/compare commands end to end on real captures (the HM-2, an A1 feather, and the
Core's tiny WaveNet)."""

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pedaltool import simd_level
from pedaltool.cli import main
from pedaltool.fit import batch
from pedaltool.fit import structure as S
from pedaltool.pedal import read_pedal

CAPTURE = "peter_n_hm2_swede_feather.nam"


@pytest.mark.slow
def test_fit_writes_the_bank_and_compare_scores_it(models_dir, tmp_path, monkeypatch):
    from pedaltool.audio import read_wav, write_wav
    from pedaltool.fit import metrics

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(main, ["fit", str(models_dir / CAPTURE), "--quick", "--json", "-"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "pedals" / "peter_n_hm2_swede_feather.pedal"  # the bank default
    qp = read_pedal(out)
    assert qp.sample_rate == 48000
    report = json.loads(r.stdout)  # with --json -, stdout is the JSON alone
    assert report["files"]["pedal"] == str(out.relative_to(tmp_path))
    assert report["cycles_per_sample"] <= report["budget"]
    # one type per key whatever the options (the default budget was an int, --budget's a
    # float; drive and level ranges ints, tone's floats)
    assert type(report["budget"]) is float and type(report["cycles_per_sample"]) is float
    assert {type(db) for r in report["knob_ranges_db"].values() for db in r} == {float}
    assert report["effort"] == "quick"
    # the finalists ranked before the written one and not written, each with why
    assert isinstance(report["passed_over"], list)
    assert all(set(p) == {"structure", "polished", "why"} for p in report["passed_over"])
    # a polished post-EQ is said in the notes and listed apart among the candidates
    polished = report["post_eq_polished"]
    assert type(polished) is bool
    assert ("post-EQ polished" in report["structure_notes"]) == polished
    assert {c["stage"] for c in report["candidates"]} <= {"quick", "final", "polished"}
    assert any(c["stage"] == "polished" and c["structure"] == report["structure"]
               for c in report["candidates"]) or not polished
    assert report["simd"] == simd_level.describe()  # which kernels fitted it (reproducibility)
    assert report["device"]["esr"] < report["baseline"]["esr"]
    assert "ESR (device-exact)" in r.output
    # the optimiser's "loss", not "cost", which the table keeps for CPU cycles; a structure's
    # budgeted cycles are a bound on the written file's (a new user read both as one)
    progress = r.stderr.split("\ncapture ")[0]  # (the result table follows on stderr here)
    assert ": fit loss " in progress and "cost" not in progress
    assert " (up to " in r.stderr and " cycles/sample)" in r.stderr
    # compare re-scores the written file device-exact on the evaluation DI, next to the naive
    # baseline fitted as the fit fitted it (at the effort the file records: quick)
    assert read_pedal(out).accuracy.effort == "quick"
    r = runner.invoke(main, ["compare", str(models_dir / CAPTURE), str(out), "--json",
                             "--ab", "ab"])
    assert r.exit_code == 0, r.output
    cmp = json.loads(r.stdout)  # the progress lines go to stderr
    assert abs(cmp["device"]["esr"] - report["device"]["esr"]) < 1e-6
    assert cmp["baseline"] == report["baseline"]
    assert cmp["improvement_vs_baseline"] == pytest.approx(report["improvement_vs_baseline"],
                                                           rel=1e-4)
    # as text: the table, then what it means, as fit's table says it (an audit)
    from pedaltool.fit.report import times_text, verdict

    rt = runner.invoke(main, ["compare", str(models_dir / CAPTURE), str(out)])
    assert rt.exit_code == 0, rt.output
    lines = rt.stdout.splitlines()
    assert lines[-2] == f"the pedal: {verdict(cmp['device']['esr'])}"
    assert lines[-1] == (f"the naive baseline's ESR is "
                         f"{times_text(cmp['baseline']['esr'] / cmp['device']['esr'])}x the "
                         "pedal's")
    # what the loader says of the capture, as the fit said it
    assert cmp["notes"] == ["note: no sample_rate in the file: assuming 48000 Hz (as the "
                            "plugin does)"]
    assert cmp["notes"][0] in report["notes"]
    assert cmp["files"] == {"capture": str(models_dir / CAPTURE), "pedal": str(out), "di": None,
                            "ab": [str(Path("ab") / n) for n in (
                                "peter_n_hm2_swede_feather_capture.wav",
                                "peter_n_hm2_swede_feather_pedal.wav", "di.wav")]}
    assert "A/B pair in ab" in r.stderr
    assert (tmp_path / "ab" / "di.wav").is_file()
    capture_wav = read_wav(tmp_path / "ab" / "peter_n_hm2_swede_feather_capture.wav")
    pedal_wav = read_wav(tmp_path / "ab" / "peter_n_hm2_swede_feather_pedal.wav")
    assert capture_wav.samples.size == pedal_wav.samples.size == read_wav(
        tmp_path / "ab" / "di.wav").samples.size
    # the pair is what was scored: the pedal within its ESR of the capture (prewarmed, so not
    # to the digit)
    assert metrics.esr(pedal_wav.samples, capture_wav.samples) == pytest.approx(
        cmp["device"]["esr"], rel=0.05)
    # against another capture: scored, with a warning that names the file's own capture
    from pedaltool.signals import evaluation_di

    write_wav(tmp_path / "di3.wav", evaluation_di(48000, 3.0), 48000)
    r = runner.invoke(main, ["compare", str(models_dir / "core_wavenet.nam"), str(out),
                             "--no-baseline", "--di", "di3.wav", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["notes"][0].startswith("warning: ")
    assert "fitted from peter_n_hm2_swede_feather.nam" in json.loads(r.stdout)["notes"][0]
    assert "warning: " in r.stderr
    # a pedal fitted from a recording has the recording's alignment, not the device's
    # latency (an audit: a pair's pedal scored 0.61 against the capture it came from, 0.006
    # when lined up): compare lines it up, and says so. Here: the same model 5 samples late
    from pedaltool.pedal import write_pedal
    from pedaltool.pedal.model import RECORDED_GEAR

    late = read_pedal(out)
    late.source.gear_type, late.source.sha256 = RECORDED_GEAR, "0123456789abcdef"  # a reamp's
    delay = next(st for st in late.stages if st.kind == "delay")
    delay.p = (delay.p[0] + 5,)
    write_pedal(tmp_path / "late.pedal", late)
    r = runner.invoke(main, ["compare", str(models_dir / CAPTURE), "late.pedal", "--json",
                             "--no-baseline"])
    assert r.exit_code == 0, r.output
    lined = json.loads(r.stdout)
    assert lined["device"]["esr"] == pytest.approx(cmp["device"]["esr"], rel=0.01)
    assert lined["notes"] == cmp["notes"] + [
                             "warning: late.pedal was fitted from a recording, whose "
                              "alignment (not the device's latency) set its own: its output is "
                              "moved 5 samples earlier to line up with the capture's before "
                              "scoring"]


def test_the_budget_help_gives_the_cost_model_s_floors():
    """--budget's help says the least budget and where the baseline alone is fitted, in the
    numbers the fit checks (the cost model's: a change there shows here)."""
    r = CliRunner().invoke(main, ["fit", "--help"], terminal_width=1000)
    assert r.exit_code == 0
    assert (f"At least {S.baseline_cycles():.0f}, the naive baseline's cost" in r.output
            and f"below {S.smallest_cycles():.0f}, the smallest grown structure's, the "
                "baseline alone is fitted" in r.output), r.output


def test_fit_rejects_bad_arguments(models_dir, tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["fit"])
    assert r.exit_code == 2 and "nothing to fit" in r.output
    r = runner.invoke(main, ["fit", "--input", str(tmp_path / "di.wav")])
    assert r.exit_code == 2 and "--input and --target go together" in r.output
    bad = tmp_path / "broken.nam"
    bad.write_text("{not json")
    r = runner.invoke(main, ["fit", str(bad), "--json", "-"])
    assert r.exit_code == 2 and "broken.nam" in r.stderr
    assert json.loads(r.stdout) == {
        "schema": 1, "name": "broken",
        "files": {"capture": str(bad), "di": None, "reamp": None, "pedal": None},
        "error": r.stderr.splitlines()[-1].removeprefix("error: "), "notes": []}
    r = runner.invoke(main, ["fit", str(models_dir / CAPTURE), "--quick", "--thorough"])
    assert r.exit_code == 2 and "contradict" in r.output and len(r.output.splitlines()) == 1
    for args in (["fit", str(tmp_path)], ["fit", "--nope"], ["fit", "-j", "0", "x.nam"]):
        r = runner.invoke(main, args)  # click's usage errors: one line too, no usage block
        assert r.exit_code == 2 and r.output.startswith("error: "), (args, r.output)
        assert len(r.output.splitlines()) == 1 and "--help" in r.output, (args, r.output)
    for budget, problem in (("0", "not a CPU budget"), ("-5", "not a CPU budget"),
                            ("nan", "not a CPU budget"), ("inf", "not a CPU budget"),
                            ("1e30", "not a CPU budget"), ("100", "no model fits")):
        r = runner.invoke(main, ["fit", str(models_dir / CAPTURE), "--budget", budget])
        assert r.exit_code == 2 and problem in r.output, (budget, r.output)
        assert "probing" not in r.output and len(r.output.splitlines()) == 1
    # with `--json -` an argument's error is JSON on stdout too, as a capture's error is
    r = runner.invoke(main, ["fit", str(models_dir / CAPTURE), "--budget", "0", "--json", "-"])
    assert r.exit_code == 2
    assert json.loads(r.stdout) == {"schema": 1, "error": r.stderr.strip().removeprefix("error: ")}
    # and so is an option click rejects, for every command that prints JSON on stdout; a
    # report to a file, or none, leaves stdout empty
    cap = str(models_dir / CAPTURE)
    for args in (["fit", cap, "--rate", "9", "--json", "-"], ["fit", cap, "--json=-", "--nope"],
                 ["compare", cap, str(tmp_path / "missing.pedal"), "--json"],
                 ["compare", cap, "x.pedal", "--json", "--di"],
                 ["info", str(tmp_path / "missing.nam"), "--json"]):
        r = runner.invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        line = r.stderr.strip().removeprefix("error: ").split(" (see `")[0]
        assert json.loads(r.stdout) == {"schema": 1, "error": line}, args
    for args in (["fit", cap, "--rate", "9", "--json", str(tmp_path / "r.json")],
                 ["fit", cap, "--rate", "9"], ["fit", cap, "--rate", "9", "--", "--json", "-"],
                 ["compare", cap, str(tmp_path / "missing.pedal")],
                 # here "--json" is --ab's folder, as click reads it: no JSON was asked for
                 ["compare", cap, str(tmp_path / "missing.pedal"), "--ab", "--json"],
                 ["compare", cap, str(tmp_path / "missing.pedal"), "--ab", "--json", "--nope"],
                 ["fit", cap, "-o", "--json", "-", "--rate", "9"]):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and r.stdout == "" and r.stderr.startswith("error: "), args


def test_fit_refuses_two_captures_with_one_name(models_dir, tmp_path, monkeypatch):
    """Both would go to pedals/<name>.pedal: the second would replace the first."""
    import shutil

    monkeypatch.chdir(tmp_path)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(models_dir / CAPTURE, tmp_path / d / "amp.nam")
    r = CliRunner().invoke(main, ["fit", "a/amp.nam", "b/amp.nam", "-j", "2"])
    assert r.exit_code == 2, r.output
    assert "a/amp.nam and b/amp.nam: both would be written to pedals/amp.pedal" in r.output
    assert not (tmp_path / "pedals").exists()
    (tmp_path / "b" / "amp.nam").rename(tmp_path / "b" / "AMP.nam")  # one file on macOS
    r = CliRunner().invoke(main, ["fit", "a/amp.nam", "b/AMP.nam"])
    assert r.exit_code == 2 and "both would be written" in r.output, r.output
    r = CliRunner().invoke(main, ["fit", "a/amp.nam", "./a/../a/amp.nam"])
    assert r.exit_code == 2 and "a/../a/amp.nam: given twice (as a/amp.nam too)" in r.output
    # one file under another name (a link): two bank entries of one sound, fitted twice (an
    # audit); refused before any fitting
    (tmp_path / "link.nam").symlink_to(tmp_path / "a" / "amp.nam")
    r = CliRunner().invoke(main, ["fit", "a/amp.nam", "link.nam"])
    assert r.exit_code == 2 and "link.nam: given twice (as a/amp.nam too)" in r.output, r.output
    assert not (tmp_path / "pedals").exists()
    r = CliRunner().invoke(main, ["fit", "a/*.pedal"])  # a shell's unmatched pattern
    assert r.exit_code == 2 and "a/*.pedal: no file matches this pattern" in r.output
    (tmp_path / "di.wav").write_bytes(b"")
    for pair in (["x.wav", "di.wav"], ["di.wav", "x.wav"]):  # a pair's file too, before work
        r = CliRunner().invoke(main, ["fit", "--input", pair[0], "--target", pair[1]])
        assert r.exit_code == 2 and r.output == "error: x.wav: file not found\n", r.output
    assert not (tmp_path / "pedals").exists()


def test_the_bank_is_checked_before_fitting(models_dir, tmp_path, monkeypatch):
    """Without -o the bank's files are checked like -o's: a file named pedals, or a folder
    where a capture's .pedal goes, is refused before any fitting (it used to fail after the
    fit, or a batch wrote pedals/b.pedal/b.pedal)."""
    import shutil

    monkeypatch.chdir(tmp_path)
    for n in ("a", "b"):
        shutil.copy(models_dir / "core_wavenet.nam", f"{n}.nam")
    Path("pedals").write_text("not a folder")
    r = CliRunner().invoke(main, ["fit", "a.nam"])
    assert r.exit_code == 2 and "pedals" in r.output and "fitting" not in r.output, r.output
    Path("pedals").unlink()
    Path("pedals/b.pedal").mkdir(parents=True)
    for args in (["b.nam"], ["a.nam", "b.nam", "-j", "2"]):
        r = CliRunner().invoke(main, ["fit", *args])
        assert r.exit_code == 2, r.output
        assert "pedals/b.pedal: the .pedal must be a file name, this is a folder" in r.output
    assert sorted(p.name for p in Path("pedals").rglob("*")) == ["b.pedal"]


def test_compare_refuses_bad_di_and_ab_before_scoring(models_dir, tmp_path):
    import numpy as np
    from pedaltool.audio import write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    pedal = write_pedal(tmp_path / "hp.pedal", quantise(eq_test_models(48000)["hp20"]))
    capture = str(models_dir / "core_wavenet.nam")
    write_wav(tmp_path / "short.wav", np.full(4800, 0.1), 48000)
    write_wav(tmp_path / "hair.wav", np.full(3 * 48000 - 10, 0.1), 48000)
    write_wav(tmp_path / "silent.wav", np.zeros(48000 * 4), 48000)
    (tmp_path / "a_file").write_text("x")
    runner = CliRunner()
    for args, problem in ((["--di", str(tmp_path / "short.wav")], "short.wav: too short"),
                          (["--di", str(tmp_path / "hair.wav")], "hair.wav: too short to score "
                                                                 "on (2.99 s, need 3 s)"),
                          (["--di", str(tmp_path / "silent.wav")],
                           "silent.wav: silent (digital silence), nothing to score on"),
                          (["--ab", str(tmp_path / "a_file" / "ab")], "a_file is a file"),
                          # the folder itself a file: said as one on its way is, not in
                          # click's "Directory ... is a file." (a review)
                          (["--ab", str(tmp_path / "a_file")],
                           "cannot write the A/B pair (" + str(tmp_path / "a_file") + " is a "
                           "file, not a folder)")):
        r = runner.invoke(main, ["compare", capture, str(pedal), "--no-baseline", *args])
        assert r.exit_code == 2 and problem in r.output, (args, r.output)
        assert "rendering" not in r.output and len(r.output.strip().splitlines()) == 1


def test_fit_refuses_unwritable_outputs_before_fitting(models_dir, tmp_path, monkeypatch):
    """A report, plot or pedal that cannot be written is refused in one line before the fit
    starts (it would otherwise fail after it), and nothing is written."""
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    runner = CliRunner()
    capture = str(models_dir / CAPTURE)
    for args, problem in (
            (["--json", "a_file/r.json"], "JSON report (a_file is a file"),
            (["--plot", "a_file/p.png"], "plot (a_file is a file"),
            (["-o", "a_file/x.pedal"], ".pedal (a_file is a file"),
    ):
        r = runner.invoke(main, ["fit", capture, *args])
        assert r.exit_code == 2, r.output
        assert problem in r.output and "probing" not in r.output, r.output
    r = runner.invoke(main, ["fit", capture, capture, "-o", "a_file"])
    assert r.exit_code == 2 and "-o must be a folder, this is a file" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_outputs_that_would_replace_each_other_or_go_unseen_are_refused(models_dir, tmp_path,
                                                                        monkeypatch):
    """-o, --json and --plot naming one file (the later write would replace the model), an -o
    that `flash` would not see, --plot with several captures: refused before any work."""
    monkeypatch.chdir(tmp_path)
    capture = str(models_dir / CAPTURE)
    (tmp_path / "old.pedal").write_bytes(b"a model")
    (tmp_path / "same.png").symlink_to(tmp_path / "old.pedal")
    # a link to the .pedal not written yet: the PNG replaced the model (an audit)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "new.pedal")
    runner = CliRunner()
    for args, problem in (
            (["-o", "new.pedal", "--plot", "dangling.png"],
             "given as both the plot and the .pedal"),
            (["-o", "a.pedal", "--json", "a.pedal"], "--json names the JSON report to write, "
                                                     "not a .pedal file"),
            (["-o", "d.png", "--plot", "d.png"], "-o names a .pedal file"),
            (["-o", "bank/TS9.PEDAL"], "give TS9.pedal: the bank's models end in a lower-case"),
            (["-o", "c.pedal", "--json", "r.png", "--plot", "r.png"],
             "given as both the JSON report and the plot"),
            (["-o", "old.pedal", "--plot", "same.png"], "given as both the plot and the .pedal"),
            (["-o", "x.txt"], "-o names a .pedal file"),
            (["-o", "noext"], "-o names a .pedal file"),
            (["-o", "-"], "give the .pedal file to write"),
            (["-o", ""], "an empty file name"),
            ([capture, "--plot", "p.png"], "--plot draws one capture's fit"),
            (["-o", "a" * 300 + ".pedal"], "the file system allows")):
        r = runner.invoke(main, ["fit", capture, *args])
        assert r.exit_code == 2 and problem in r.output, (args, r.output)
        assert "probing" not in r.output and len(r.output.splitlines()) == 1, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.png", "old.pedal",
                                                          "same.png"]
    assert (tmp_path / "old.pedal").read_bytes() == b"a model"


def test_no_output_ever_replaces_an_input(models_dir, tmp_path, monkeypatch):
    """-o, --json, --plot, render's OUT_WAV and compare's A/B files that are an input (by any
    name) are refused before any work: a capture may be its owner's only copy."""
    import shutil

    import numpy as np
    from pedaltool.audio import write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    monkeypatch.chdir(tmp_path)
    cap = tmp_path / "amp.nam"
    shutil.copy(models_dir / "core_wavenet.nam", cap)
    (tmp_path / "alias.pedal").symlink_to(cap)
    (tmp_path / "alias.png").symlink_to(cap)
    write_wav(tmp_path / "di.wav", 0.1 * np.sin(np.arange(4 * 48000) / 9.0), 48000)
    write_wav(tmp_path / "re.wav", 0.1 * np.sin(np.arange(4 * 48000) / 9.0), 48000)
    pedal = write_pedal(tmp_path / "hp.pedal", quantise(eq_test_models(48000)["hp20"]))
    shutil.copy(cap, tmp_path / "other.NAM")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    runner = CliRunner()
    for args, problem in (
            (["fit", "amp.nam", "-o", "amp.nam"], "not a .nam file"),
            (["fit", "amp.nam", "-o", "alias.pedal"], "would replace the input amp.nam"),
            (["fit", "amp.nam", "--json", "amp.nam"], "not a .nam file"),
            # another capture, a bank model, a recording (an audit: replaced by the report)
            (["fit", "amp.nam", "--json", "other.NAM"], "--json names the JSON report"),
            (["fit", "amp.nam", "--json", "hp.pedal"], "not a .pedal file"),
            (["fit", "amp.nam", "--json", "re.wav"], "not a .wav file"),
            (["fit", "amp.nam", "--plot", "alias.png"], "plot would replace"),
            (["fit", "--input", "di.wav", "--target", "re.wav", "-o", "di.wav"], "not a .wav"),
            (["render", "amp.nam", "di.wav", "di.wav"], "output WAV would replace"),
            (["render", str(pedal), "di.wav", "hp.pedal"], "give a .wav name"),
            (["compare", "amp.nam", str(pedal), "--di", "di.wav", "--ab", "."],
             "A/B pair would replace the input di.wav; give --ab another folder"),
            # through a folder not made yet (an audit: the write made it and replaced the DI)
            (["render", str(pedal), "di.wav", "new/../di.wav"], "output WAV would replace"),
            (["compare", "amp.nam", str(pedal), "--di", "di.wav", "--ab", "new/.."],
             "A/B pair would replace the input di.wav")):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and problem in r.output, (args, r.output)
        assert "probing" not in r.output and "rendering" not in r.output, r.output
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert not (tmp_path / "new").exists()


def test_output_names_a_folder_with_a_trailing_slash(tmp_path, monkeypatch):
    from pedaltool.cli.fit_cmds import _output_path

    monkeypatch.chdir(tmp_path)
    cap = Path("caps/amp.nam")
    (tmp_path / "old").mkdir()
    assert _output_path("new/bank/", False, cap) == Path("new/bank/amp.pedal")
    assert _output_path("old", False, cap) == Path("old/amp.pedal")  # an existing folder
    assert _output_path("x.pedal", False, cap) == Path("x.pedal")
    assert _output_path("new/bank/", True, cap) == Path("new/bank")  # several: the folder
    assert _output_path(None, False, cap) is None


@pytest.mark.slow
def test_fit_several_captures_in_parallel_ends_with_a_summary(models_dir, tmp_path):
    """-j 2 from the real command (the workers' own output included): each capture's progress
    lines, marked with its file name, then one line per finished capture and the summary."""
    import shutil
    import subprocess
    import sys

    a = tmp_path / "tiny_a.nam"
    b = tmp_path / "tiny_b.nam"
    shutil.copy(models_dir / "core_wavenet.nam", a)  # a tiny WaveNet: fast to render
    shutil.copy(models_dir / "core_wavenet.nam", b)
    exe = str(Path(sys.executable).parent / "pedaltool")
    r = subprocess.run([exe, "fit", str(a), str(b), "-j", "2", "--quick", "--budget", "1000",
                        "-o", str(tmp_path / "bank"), "--json", "r.json"], capture_output=True,
                       text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for d in json.loads((tmp_path / "r.json").read_text()):
        assert d["budget"] == 1000 and d["cycles_per_sample"] <= 1000
        # the capture's calibration (input_level_dbu 18.3) sets the DI's level: -6.3 dB
        assert d["level_scale"] == pytest.approx(10 ** (-6.3 / 20), rel=1e-6)
        # "saturating" is what chose the flavours tried (quick fits; the envelope promotion
        # adds "+env" to one of them)
        tried = {S.flavour_of(c["structure"]).removesuffix("+env")
                 for c in d["candidates"] if c["structure"] != "baseline"}
        assert tried == set(S.flavours_for(d["saturating"]))
        src = read_pedal(d["files"]["pedal"]).source  # and its metadata reaches the .pedal
        assert (src.file_name, src.gear_type, src.tone_type) == (f"{d['name']}.nam", "amp",
                                                                  "clean")
    assert "capture" in r.stdout and "tiny_a" in r.stdout and "tiny_b" in r.stdout
    assert "1 of 2 done" in r.stderr and "2 of 2 done" in r.stderr  # progress without a tty
    for name in ("tiny_a.nam", "tiny_b.nam"):  # as the fits go, not only when they end
        lines = [ln for ln in r.stderr.splitlines() if f"] {name}: " in ln]
        assert any("probing" in ln or "rendering" in ln for ln in lines), r.stderr
        assert len(lines) >= 5
    for stem in ("tiny_a", "tiny_b"):
        assert read_pedal(tmp_path / "bank" / f"{stem}.pedal").sample_rate == 48000


def _result(**kw):
    """What api.write_result reads of a FitResult: a fitted-looking one, changed by ``kw``."""
    from types import SimpleNamespace

    from pedaltool.pedal.accuracy import eq_test_models
    from pedaltool.pedal.quantise import quantise

    base = dict(name="amp", sane=True, sanity_message="", score=SimpleNamespace(esr=0.01),
                float_score=SimpleNamespace(esr=0.01), device_vs_float_esr=1e-6,
                budget=1302.0, eval_y=None, qpedal=quantise(eq_test_models(48000)["hp20"]),
                recording=None)
    return SimpleNamespace(**{**base, **kw})


def test_write_result_into_a_folder_or_a_file(tmp_path, monkeypatch):
    from pedaltool.fit import api

    monkeypatch.chdir(tmp_path)
    res = _result()
    (tmp_path / "mine").mkdir()
    assert api.write_result(res, tmp_path / "mine") == tmp_path / "mine" / "amp.pedal"
    assert api.write_result(res, tmp_path / "x.pedal") == tmp_path / "x.pedal"
    assert api.write_result(res) == api.BANK_DIR / "amp.pedal"  # ./pedals, relative
    for p in (tmp_path / "mine" / "amp.pedal", tmp_path / "x.pedal", tmp_path / "pedals/amp.pedal"):
        assert read_pedal(p).sample_rate == 48000


def test_write_result_refuses_an_insane_or_useless_model_and_keeps_the_old_file(tmp_path):
    from types import SimpleNamespace as N

    from pedaltool.errors import FitError
    from pedaltool.fit import api

    out = tmp_path / "amp.pedal"
    out.write_bytes(b"the user's old model")
    with pytest.raises(FitError, match="sanity check .output unbounded"):
        api.write_result(_result(sane=False, sanity_message="output unbounded"), out)
    with pytest.raises(FitError, match="cannot be approximated within 1302 cycles"):
        api.write_result(_result(score=N(esr=api.MAX_USEFUL_ESR)), out)
    lost = _result(score=N(esr=0.9466), float_score=N(esr=0.0022), device_vs_float_esr=0.94,
                   eval_y=np.full(100, 10.0))
    with pytest.raises(FitError, match=r"integer arithmetic cannot carry this model \(device "
                       r"ESR 0.95 where the float model scores 0.0022\); the capture's output "
                       "is 20 dBFS RMS, far from a guitar pedal's"):
        api.write_result(lost, out)
    lost.eval_y = np.full(100, 0.1)  # a normal level: no cause named
    with pytest.raises(FitError, match=r"scores 0.0022\)$"):
        api.write_result(lost, out)
    lost.score = lost.float_score = N(esr=0.97)  # the float model is useless too
    with pytest.raises(FitError, match="cannot be approximated within 1302 cycles"):
        api.write_result(lost, out)
    assert out.read_bytes() == b"the user's old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["amp.pedal"]  # no temp file left


def test_a_useless_fit_of_a_recorded_pair_asks_whether_it_is_one_take(tmp_path):
    """Another take of the same riff passes the same-take check (its notes line up to a few
    ms: measured on the TS9, JCM2000 clean and AC15, docs/fitting-log.md); its fit explains
    nothing, and the refusal says what to check."""
    from types import SimpleNamespace as N

    from pedaltool.errors import FitError
    from pedaltool.fit import api
    from pedaltool.pedal.model import RECORDED_GEAR

    res = _result(score=N(esr=0.9994))
    res.qpedal.source.gear_type = RECORDED_GEAR
    with pytest.raises(FitError, match=r"^amp: not written, the DI explains almost none of the "
                       r"reamp \(best device ESR 1.00 on the held-out end, at a budget of 1302 "
                       r"cycles/sample\): are they the same take\?$"):
        api.write_result(res, tmp_path / "amp.pedal")
    res.recording = {"di": "takes/di.wav", "reamp": "takes/amp.wav", "lag_samples": 7}
    with pytest.raises(FitError, match=r"^di.wav / amp.wav: not written, the DI explains"):
        api.write_result(res, tmp_path / "amp.pedal")  # both files named (it named the reamp)
    res.score = N(esr=0.9)  # useful enough: written
    assert api.write_result(res, tmp_path / "amp.pedal").is_file()


def test_a_model_and_its_report_that_cannot_be_written_are_both_named(models_dir, tmp_path,
                                                                       monkeypatch):
    """A full disk: the .pedal failed, then the JSON report saying so failed too, and the
    error line named only the report (an audit); nothing said the model was not written. The
    same for a fit that fails, whose report cannot be written."""
    import shutil

    import pedaltool.fit
    from pedaltool.cli import fit_cmds
    from pedaltool.errors import FitError
    from pedaltool.fit import api

    monkeypatch.chdir(tmp_path)
    shutil.copy(models_dir / "core_wavenet.nam", "cw.nam")
    full = "cannot write (No space left on device)"

    def write_result(res, out, say=None):
        raise FitError(f"pedals/cw.pedal: {full}")

    def dump(path, data, echo=True):
        raise FitError(f"{path}: {full}")

    monkeypatch.setattr(api, "write_result", write_result)
    monkeypatch.setattr(fit_cmds, "_dump_json", dump)
    r = CliRunner().invoke(main, ["fit", "cw.nam", "--quick", "--json", "r.json"])
    assert r.exit_code == 2 and r.stderr.splitlines()[-1] == (
        f"error: pedals/cw.pedal: {full}; r.json: {full}"), r.stderr

    def fit_capture(path, cfg):
        raise FitError("cw.nam: cannot be fitted")

    monkeypatch.setattr(pedaltool.fit, "fit_capture", fit_capture)
    r = CliRunner().invoke(main, ["fit", "cw.nam", "--json", "r.json"])
    assert r.exit_code == 2 and r.stderr.splitlines()[-1] == (
        f"error: cw.nam: cannot be fitted; r.json: {full}"), r.stderr


def test_replacing_another_captures_model_is_said(tmp_path):
    """dir1/amp.nam and then dir2/amp.nam both go to pedals/amp.pedal: the second fit says it
    replaced another capture's model (re-fitting the same capture says nothing)."""
    from dataclasses import replace

    from pedaltool.fit import api
    from pedaltool.pedal.model import SourceInfo

    res = _result()
    said: list[str] = []
    out = tmp_path / "amp.pedal"
    for sha in "aab":
        res.qpedal = replace(res.qpedal, source=SourceInfo("amp.nam", sha * 64))
        api.write_result(res, out, said.append)
    assert said == [f"note: {out} was a model of another capture (amp.nam, sha256 "
                    "aaaaaaaaaaaa); replaced"]
    assert read_pedal(out).source.sha256 == "b" * 16  # the prefix the file keeps


def test_a_single_fit_that_hits_a_bug_still_writes_its_report(models_dir, tmp_path,
                                                               monkeypatch):
    """A bug in a single capture's fit wrote no JSON report, where a batch's entry says it
    (an audit: a Latin-1 file name failed that way); the report says it now, as a batch's."""
    import shutil

    import pedaltool.fit

    monkeypatch.chdir(tmp_path)
    shutil.copy(models_dir / "core_wavenet.nam", "bug.nam")

    def fit_capture(path, cfg):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pedaltool.fit, "fit_capture", fit_capture)
    monkeypatch.delenv("PEDALTOOL_DEBUG", raising=False)
    r = CliRunner().invoke(main, ["fit", "bug.nam", "--json", "r.json"])
    assert r.exit_code == 3 and "Traceback" not in r.output, r.output
    d = json.loads(Path("r.json").read_text())
    assert d["error"].startswith("internal error (ZeroDivisionError: a bug)"), d
    assert d["files"]["capture"] == "bug.nam" and d["files"]["pedal"] is None
    # a bug where the fit's result is written (the .pedal writer, where the Latin-1 name
    # failed): the same (a review)
    monkeypatch.setattr(pedaltool.fit, "fit_capture", lambda path, cfg: "a result")

    def report(res, out, say, notes):
        raise UnicodeEncodeError("utf-8", "caf\udce9", 3, 4, "surrogates not allowed")

    monkeypatch.setattr(batch, "report", report)
    r = CliRunner().invoke(main, ["fit", "bug.nam", "--json", "r.json"])
    assert r.exit_code == 3 and "Traceback" not in r.output, r.output
    assert json.loads(Path("r.json").read_text())["error"].startswith(
        "internal error (UnicodeEncodeError: ")


@pytest.mark.slow
def test_a_fit_that_is_not_written_says_why_in_the_exit_code_json_and_summary(
        models_dir, tmp_path, monkeypatch):
    """A real fit whose model is refused (every ESR counts as useless here): no .pedal, the
    old file kept, exit code 2 and the reason in the JSON; in a batch, the summary lists it,
    a broken capture and one whose fit hits a bug beside it, and the batch exits 1."""
    import shutil

    from pedaltool.fit import api

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(api, "MAX_USEFUL_ESR", 0.0)
    shutil.copy(models_dir / "core_wavenet.nam", "tiny.nam")  # a tiny WaveNet: a fast fit
    shutil.copy(models_dir / "core_wavenet.nam", "bug.nam")
    real = api.fit_capture

    def fit_capture(path, cfg):
        if Path(path).name == "bug.nam":
            raise ZeroDivisionError("a bug")
        return real(path, cfg)

    monkeypatch.setattr(api, "fit_capture", fit_capture)
    monkeypatch.delenv("PEDALTOOL_DEBUG", raising=False)
    Path("broken.nam").write_text('{"version": "0.5.4", "architecture": "WaveNet"')
    Path("old.pedal").write_bytes(b"the user's old model")
    runner = CliRunner()
    r = runner.invoke(main, ["fit", "tiny.nam", "--quick", "-o", "old.pedal", "--json", "r.json"])
    assert r.exit_code == 2, r.output
    assert "not written, the capture cannot be approximated" in r.output
    assert "Traceback" not in r.output
    d = json.loads(Path("r.json").read_text())
    assert d["files"]["pedal"] is None and "cannot be approximated" in d["error"]
    assert d["device"]["esr"] > 0  # the fit's numbers are still reported
    assert Path("old.pedal").read_bytes() == b"the user's old model"
    # and said to be kept, as flash uploads it (an audit: nothing said)
    kept = ("note: old.pedal is kept as it was, from an earlier fit: `pedaltool flash` uploads "
            "it (remove it to leave it out)")
    assert kept in d["notes"] and r.output.count(kept) == 2  # among the lines, and under them
    assert not Path("pedals").exists()

    r = runner.invoke(main, ["fit", "tiny.nam", "broken.nam", "bug.nam", "--quick", "--json",
                             "b.json"])
    assert r.exit_code == 1, r.output
    rows = json.loads(Path("b.json").read_text())
    assert [row["name"] for row in rows] == ["tiny", "broken", "bug"]
    # one schema with the single capture's report: written null, and the reason
    assert rows[0]["files"]["pedal"] is None and "cannot be approximated" in rows[0]["error"]
    assert rows[0]["device"]["esr"] > 0
    assert rows[1]["files"]["pedal"] is None and "broken.nam" in rows[1]["error"]
    assert "bug.nam: internal error (ZeroDivisionError: a bug)" in r.output
    assert "wrote 0 of 3 .pedal files to pedals/" in r.output
    lines = r.output.splitlines()
    assert "\nerror: tiny.nam: not written, the capture cannot be approximated" in r.output
    assert any(ln.startswith("error: broken.nam: malformed JSON") for ln in lines), r.output
    assert "\nerror: bug.nam: internal error (ZeroDivisionError: a bug)" in r.output
    table = [ln.split() for ln in lines if ln.startswith(("tiny ", "broken ", "bug "))]
    assert [row[-1] for row in table] == ["no", "no", "no"], r.output
    assert not Path("pedals").exists() or not any(Path("pedals").iterdir())


@pytest.mark.slow
def test_a_plot_that_fails_keeps_the_model_and_the_report(models_dir, tmp_path, monkeypatch):
    """--plot failing after the fit (a full disk): the .pedal and the JSON report are still
    written, the report says why, the exit status says so; no matplotlib is refused first."""
    import shutil
    import sys

    from pedaltool.errors import FitError
    from pedaltool.fit import report

    monkeypatch.chdir(tmp_path)
    shutil.copy(models_dir / "core_wavenet.nam", "tiny.nam")  # a tiny WaveNet: a fast fit

    def plot(*args, **kw):
        raise FitError("p.png: cannot write (No space left on device)")

    monkeypatch.setattr(report, "plot", plot)
    runner = CliRunner()
    r = runner.invoke(main, ["fit", "tiny.nam", "--quick", "-o", "t.pedal", "--plot", "p.png",
                             "--json", "r.json"])
    assert r.exit_code == 2 and r.stderr.splitlines()[-1] == (
        "error: p.png: cannot write (No space left on device)"), r.output
    assert read_pedal("t.pedal").sample_rate == 48000
    d = json.loads(Path("r.json").read_text())
    assert d["files"]["pedal"] == "t.pedal"
    assert d["notes"][-1] == "error: p.png: cannot write (No space left on device)"
    # a bug while plotting (not a PedaltoolError): the report is written all the same and
    # says so, exit 2, no internal-error exit (an audit: a broken matplotlib lost the report)
    def broken(*args, **kw):
        raise RuntimeError("no font")

    monkeypatch.setattr(report, "plot", broken)
    r = runner.invoke(main, ["fit", "tiny.nam", "--quick", "-o", "b.pedal", "--plot", "p.png",
                             "--json", "b.json"])
    assert r.exit_code == 2 and "p.png: the plot was not drawn: internal error (RuntimeError: " \
        "no font)" in r.stderr.splitlines()[-1], r.output
    assert read_pedal("b.pedal").sample_rate == 48000
    assert "the plot was not drawn" in json.loads(Path("b.json").read_text())["notes"][-1]
    for missing in ("matplotlib.pyplot", "matplotlib"):  # refused up front: pyplot needs more
        monkeypatch.setitem(sys.modules, missing, None)  # than matplotlib itself (an audit)
        r = runner.invoke(main, ["fit", "tiny.nam", "--quick", "-o", "u.pedal", "--plot",
                                 "p.png"])
        assert r.exit_code == 2 and "pip install 'pedaltool[plot]'" in r.output, missing
        assert "probing" not in r.output and not Path("u.pedal").exists()


def test_a_baseline_better_than_the_pedal_is_said_so():
    """compare printed "the naive baseline's ESR is 0.00x the pedal's" for a ratio of 0.0013,
    and the batch summary's "x better" read 0.80 for a baseline that was better (a review)."""
    from pedaltool.fit.report import compare_lines, summary_rows

    res = {"device": {"esr": 0.5}, "improvement_vs_baseline": 0.8}
    assert compare_lines(res)[1] == "the naive baseline's ESR is 1.25x lower than the pedal's " \
                                    "on this DI"
    assert compare_lines(dict(res, improvement_vs_baseline=2.5))[1] == \
        "the naive baseline's ESR is 2.50x the pedal's"
    row = {"name": "amp", "structure": "wh-3/7", "cycles_per_sample": 1100.0, "seconds": 20.0,
           "device": {"esr": 0.5, "esr_pre": 0.6, "lsd_db": 2.0}, "baseline": {"esr": 0.4},
           "improvement_vs_baseline": 0.8, "files": {"pedal": "pedals/amp.pedal"}}
    assert summary_rows([row])[0][7] == "1.25x worse"
    assert summary_rows([dict(row, improvement_vs_baseline=12.4)])[0][7] == "12.4"
    # rounded towards the miss: 0.999 is not "1.00x worse" (a review)
    assert summary_rows([dict(row, improvement_vs_baseline=0.999)])[0][7] == "1.01x worse"


def test_batch_summary_stays_narrow_and_lists_why_under_the_table():
    from pedaltool.fit.report import SUMMARY_HEADER, format_rows, summary_problems, summary_rows

    ok = {"name": "amp", "structure": "wh-3/7", "cycles_per_sample": 1100.0, "seconds": 20.0,
          "device": {"esr": 0.01, "esr_pre": 0.02, "lsd_db": 2.0}, "baseline": {"esr": 0.1},
          "improvement_vs_baseline": 10.0,
          "files": {"capture": "amp.nam", "di": None, "reamp": None, "pedal": "pedals/amp.pedal"}}
    refused = dict(ok, name="fuzz", files=dict(ok["files"], capture="fuzz.nam", pedal=None),
                   error="fuzz: not written, the capture cannot be approximated within 1302 "
                   "cycles/sample (best device ESR 0.97)")
    refused["device"] = dict(ok["device"], esr=0.97)
    failed = batch.failure("lin.nam", "lin: the capture is purely linear " + "x" * 120)
    items = [ok, refused, failed]
    table = format_rows(SUMMARY_HEADER, summary_rows(items)).splitlines()
    assert max(len(line) for line in table) < 100  # the long reasons are not in the table
    assert all(line == line.rstrip() for line in table)
    assert table[2].split()[-3:] == ["close", "20", "yes"]
    assert table[3].split()[-3:] == ["far", "20", "no"] and table[3].split()[3] == "0.9700"
    assert table[4].split()[1:] == ["error", "no"]
    assert summary_problems(items) == [  # each with its path as given
        "fuzz.nam: not written, the capture cannot be approximated within 1302 cycles/sample "
        "(best device ESR 0.97)", "lin.nam: the capture is purely linear " + "x" * 120]
    # the loaders' errors name the file as given: said once, not twice
    given = batch.failure("bad/t.nam", "bad/t.nam: malformed JSON")
    assert summary_problems([given]) == ["bad/t.nam: malformed JSON"]
    pair = batch.failure(None, "di.wav / r.wav: the DI or the reamp is silent", [], "di.wav",
                         "r.wav")
    assert summary_problems([pair]) == ["r.wav: di.wav / r.wav: the DI or the reamp is silent"]


@pytest.mark.slow
def test_kill_stops_the_fit_and_its_workers(models_dir, tmp_path):
    """SIGTERM to `pedaltool fit` (kill, timeout, a closed terminal) ends its two worker
    processes too, and leaves no .pedal behind; asked for JSON on stdout, it prints the error
    there (it printed nothing)."""
    import signal
    import subprocess
    import sys
    import time

    exe = str(Path(sys.executable).parent / "pedaltool")
    proc = subprocess.Popen([exe, "fit", str(models_dir / CAPTURE), "--json", "-"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children: list[int] = []
    hang_guard = time.monotonic() + 600  # not a speed limit: the workers start in seconds
    while len(children) < 2 and proc.poll() is None and time.monotonic() < hang_guard:
        time.sleep(0.5)
        kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        children = [int(c) for c in kids.read_text().split()] if kids.exists() else []
    assert len(children) >= 2, "the fit's worker processes never started"
    time.sleep(2.0)  # inside the fit
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=600)  # a hang guard only: it ends in about a second
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "error: stopped (SIGTERM)" in err and "Traceback" not in err
    assert json.loads(out) == {"schema": 1, "error": "stopped (SIGTERM)"}
    # the fit ends its workers (and reaps them) before it exits: none may outlive it
    alive = [c for c in children if Path(f"/proc/{c}").exists()
             and Path(f"/proc/{c}/stat").read_text().split()[2] != "Z"]
    assert not alive, f"worker processes still running: {alive}"
    assert not (tmp_path / "pedals").exists() or not any((tmp_path / "pedals").iterdir())


def _compare_on(capture, pedal, di, *extra):
    """``compare CAPTURE PEDAL --di DI --no-baseline --json [extra]``, which must succeed:
    (the result, its JSON notes)."""
    r = CliRunner().invoke(main, ["compare", str(capture), str(pedal), "--di", str(di),
                                  "--no-baseline", "--json", *map(str, extra)])
    assert r.exit_code == 0, r.output
    return r, json.loads(r.stdout)["notes"]


def test_compare_notes_a_di_above_full_scale(models_dir, tmp_path, monkeypatch):
    # the pedal's converter clips it, the capture does not: the scores include the clipping
    import numpy as np
    from pedaltool.audio import read_wav, write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    pedal = write_pedal(tmp_path / "hp.pedal", quantise(eq_test_models(48000)["hp20"]))
    write_wav(tmp_path / "loud.wav", 2.0 * np.sin(np.arange(4 * 48000) / 9.0), 48000)
    capture = models_dir / "core_wavenet.nam"
    _, notes = _compare_on(capture, pedal, tmp_path / "loud.wav")
    assert any("peaks at +6.0 dBFS" in n for n in notes), notes
    # far too quiet: the pedal's 16-bit input rounds it coarsely, and the scores are of that
    # (an audit: 0.42 at -60 dBFS, and nothing said)
    write_wav(tmp_path / "quiet.wav", 1e-3 * np.sin(np.arange(4 * 48000) / 9.0), 48000)
    _, notes = _compare_on(capture, pedal, tmp_path / "quiet.wav")
    assert "warning: the DI peaks at -60 dBFS, far under a guitar's: the pedal's 16-bit input " \
        "keeps about 6 bits of it, so the scores are mostly of that rounding" in notes, notes
    # how the DI file was read is in the notes too, and a missing end is a warning
    data = (tmp_path / "loud.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[:-4000])
    r, notes = _compare_on(capture, pedal, tmp_path / "cut.wav")
    # named as fit, render and run name their inputs: by the file's name
    assert notes[0] == "warning: cut.wav: data chunk truncated: 764000 of " \
        "768000 bytes present", notes
    assert notes[0] in r.stderr  # as said
    # a note that changes nothing heard stays a note, whatever the file's path says
    from test_audio import _wav_bytes

    (tmp_path / "resampled").mkdir()
    st = np.repeat(np.sin(np.arange(4 * 48000) / 9.0).astype("<f4"), 2).tobytes()
    (tmp_path / "resampled" / "st.wav").write_bytes(_wav_bytes(3, 2, 48000, 32, st))
    r, _ = _compare_on(capture, pedal, tmp_path / "resampled" / "st.wav")
    assert "note: st.wav: 2-channel file" in r.stderr
    # a DI longer than compare scores: its first COMPARE_MAX_SECONDS, said in the notes
    from pedaltool.fit import api

    monkeypatch.setattr(api, "COMPARE_MAX_SECONDS", 3.5)
    _, notes = _compare_on(capture, pedal, tmp_path / "loud.wav", "--ab", tmp_path / "ab")
    assert "warning: loud.wav: scored on its first 3.5 s of 4.0 s" in notes
    assert read_wav(tmp_path / "ab" / "di.wav").samples.size == 3.5 * 48000
    # a .pedal at a rate the fitter does not score at: named, and why
    p96 = write_pedal(tmp_path / "p96.pedal", quantise(eq_test_models(96000)["hp20"]))
    r = CliRunner().invoke(main, ["compare", str(models_dir / "core_wavenet.nam"), str(p96),
                                  "--no-baseline"])
    assert r.exit_code == 2 and r.output.startswith(f"error: {p96}: unsupported rate 96000 Hz")


def test_wrong_kinds_of_file_are_named(models_dir, tmp_path, monkeypatch):
    """A .pedal or a WAV given to fit, a .nam given as compare's pedal (arguments swapped), and
    a capture that looks seconds back in time (a delay): refused in one line that says what the
    file is, before any probing."""
    import numpy as np
    from pedaltool.audio import write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    monkeypatch.chdir(tmp_path)
    write_pedal(tmp_path / "hp.pedal", quantise(eq_test_models(48000)["hp20"]))
    write_wav(tmp_path / "di.wav", np.zeros(4800), 48000)
    delay = {"version": "0.5.0", "architecture": "Linear", "sample_rate": 48000,
             "config": {"receptive_field": 96000, "bias": False},
             "weights": [0.0] * 95999 + [1.0]}
    (tmp_path / "delay.nam").write_text(json.dumps(delay))
    capture = str(models_dir / "core_wavenet.nam")
    runner = CliRunner()
    (tmp_path / "pedals").mkdir()  # a model in the bank, where its .pedal would go: what it
    (tmp_path / "pedals" / "hp.pedal").write_bytes((tmp_path / "hp.pedal").read_bytes())
    for args, problem in ((["fit", "hp.pedal"], "a .pedal model, not a capture"),
                          (["fit", "pedals/hp.pedal"], "pedals/hp.pedal: not a .nam file (a "
                                                       ".pedal model, not a capture"),
                          (["fit", "di.wav"], "or fit a recording with --input/--target"),
                          (["fit", "--input", "di.wav", "--target", "pedals/hp.pedal"],
                           # (options: no order to check, an audit)
                           "pedals/hp.pedal: not a WAV file (a .pedal model)\n"),
                          (["render", "di.wav", "hp.pedal", "o.wav"],  # (not fit's hint)
                           "not a .nam file (a WAV file: check the order of the arguments)\n"),
                          (["render", "hp.pedal", capture, "o.wav"],
                           "not a WAV file (JSON, a .nam capture? check the order of the "
                           "arguments)"),
                          (["render", capture, "hp.pedal", "o.wav"],
                           "not a WAV file (a .pedal model: check the order of the arguments)"),
                          (["compare", "hp.pedal", capture], "check the order of the arguments"),
                          (["fit", "delay.nam"], "looks 2.0 s back in time"),
                          (["fit", capture, "--plot", "p.jpg"], "give a .png name"),
                          (["render", capture, "di.wav", "out.mp3"], "give a .wav name"),
                          (["render", "di.wav", "hp.pedal", "o.wav"],
                           "a WAV file: check the order of the arguments"),
                          (["info", "di.wav"], "di.wav: not a .nam file (a WAV file)\n")):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and problem in r.output, (args, r.output)
        assert "probing" not in r.output, r.output
    # a .pedal is known by its first bytes, whatever its name
    (tmp_path / "hp.bin").write_bytes((tmp_path / "hp.pedal").read_bytes())
    for args in (["render", "hp.bin", "di.wav", "o.wav"], ["info", "hp.bin"]):
        r = runner.invoke(main, args)
        assert r.exit_code == 0, (args, r.output)
    # of any format version: the .pedal reader names the version, not the .nam loader
    v2 = bytearray((tmp_path / "hp.pedal").read_bytes())
    v2[4:6] = b"\x02\x00"
    (tmp_path / "v2.bin").write_bytes(bytes(v2))
    r = runner.invoke(main, ["render", "v2.bin", "di.wav", "o.wav"])
    assert r.exit_code == 2 and "v2.bin: unsupported format version 2" in r.output, r.output


def test_result_table_explains_a_large_unused_budget_and_the_naive_pedal():
    from types import SimpleNamespace as N

    from pedaltool.fit.report import result_table

    sc = N(esr=0.01, esr_pre=0.02, lsd_db=1.0)

    def table(structure, cycles, budget, dev_float=1e-6, renders=1.0, base=sc, score=sc,
              recording=None, passed_over=(), idle=-240.0):
        return result_table(N(name="x", structure=structure, structure_notes="n",
                              cycles=cycles, budget=budget, arch="armv6m", score=score,
                              float_score=sc, device_vs_float_esr=dev_float, idle_dbfs=idle,
                              baseline=base,
                              improvement=base.esr / score.esr, seconds=1.0,
                              render_seconds=renders, recording=recording,
                              passed_over=list(passed_over), rate=44100))

    assert "stop growing at their caps" in table("wh-3/7", 1217.0, 3000.0)
    assert "stop growing" not in table("wh-3/7", 336.0, 600.0)  # a small budget: no claim
    assert "stop growing" not in table("wh-3/7", 1175.0, 1302.0)
    assert "naive structure itself, plus knobs" in table("baseline", 336.0, 1302.0)
    assert "1.00x worse" in table("wh-3/7", 1175.0, 1302.0)
    # two decimals near the 5x target: 4.98 is not "5.0" (the HM-2's read as met)
    assert "(4.98x worse)" in table("wh-3/7", 1175.0, 1302.0,
                                     base=N(esr=0.0498, esr_pre=0.05, lsd_db=1.0),
                                     score=N(esr=0.01, esr_pre=0.01, lsd_db=1.0))
    # a baseline with the lower raw ESR: the table says so, and why the model was written
    lower = N(esr=0.005, esr_pre=0.05, lsd_db=1.0)
    t = table("wh-3/7", 1175.0, 1302.0, base=lower)
    assert "worse" not in t and "raw ESR is 2.00x lower here" in t
    # chosen on the fitting playing, and the table says so without a sum that could contradict
    # it (an audit found "better on ESR + pre-emphasised ESR, 0.2453 against 0.2263")
    assert "chosen on held-out fitting playing" in t and "against" not in t
    # the naive structure ranked first and was passed over: the table says why, not that the
    # model won on the playing (the demo's capture: its naive model hisses after playing)
    loud = {"structure": "baseline", "why": "idles at -88 dBFS after a loud input (the "
                                             "contract: -90)"}
    t = table("wh2+cab-1/6", 1143.0, 1302.0, base=lower, passed_over=[loud])
    assert ("raw ESR is 2.00x lower here; the naive structure ranked first but was not "
            "written: it idles at -88 dBFS after a loud input (the contract: -90))") in t
    assert "chosen on held-out" not in t
    assert "above the contract's 1e-5" in table("wh-3/7", 1175.0, 1302.0, 7.9e-5)
    # how far under the model's own error the arithmetic's is: 0.01 / 7.9e-5 = 21 dB
    assert "docs/arithmetic.md; 21 dB under the model's own error)" in table(
        "wh-3/7", 1175.0, 1302.0, 7.9e-5)
    assert "docs/arithmetic.md; at or above the model's own error)" in table(
        "wh-3/7", 1175.0, 1302.0, 0.02)
    # the pedal's rate, not the capture's (a 48 kHz capture fitted with --rate 32000 read
    # "cw (at 32000 Hz)", an audit)
    assert "capture             x (the pedal at 44100 Hz)" in table("wh-3/7", 1175.0, 1302.0)
    # the written model's idle after a loud input, the contract's other figure: said in the
    # table when it misses (a Splawn draw idled at -69 dBFS, said only in a progress line)
    assert ("idle after playing  exact digital silence after a loud input (contract <= -90 "
            "dBFS)") in table("wh-3/7", 1175.0, 1302.0)
    assert "-97.4 dBFS after a loud input (contract <= -90 dBFS)" in table(
        "wh-3/7", 1175.0, 1302.0, idle=-97.4)
    # one decimal: -89.6 is not "-90 dBFS, above the contract's -90"
    assert ("-89.6 dBFS after a loud input (above the contract's -90 dBFS: a faint noise may "
            "remain after loud playing") in table("wh-3/7", 1175.0, 1302.0, idle=-89.6)
    assert "contract <= 1e-5)" in table("wh-3/7", 1175.0, 1302.0, 7.2e-7)
    assert "renders: 1.0 s of CPU" in table("wh-3/7", 1175.0, 1302.0)
    # a recorded pair renders nothing: the table does not claim 0.0 s of renders
    pair = {"di": "di.wav", "reamp": "x.wav", "lag_samples": 9}
    t = table("wh-3/7", 1175.0, 1302.0, renders=0.0, recording=pair,
              score=N(esr=0.07, esr_pre=0.1, lsd_db=3.0))
    assert "renders" not in t
    # and it was scored against its reamp, not a capture
    assert t.startswith("reamp ") and "capture" not in t and "different from the reamp" in t


def test_the_result_table_says_what_the_error_means_to_a_player():
    from pedaltool.fit.report import verdict

    assert verdict(0.0029).startswith("very close")
    assert verdict(0.02).startswith("close")
    assert verdict(0.07) == "audibly different from the capture"
    assert verdict(0.07, "reamp") == "audibly different from the reamp"
    assert verdict(0.71).startswith("far from the capture") and verdict(float("nan")) == \
        verdict(0.71)


def test_compare_and_render_play_a_di_at_another_rate_alike(models_dir, tmp_path):
    """compare's A/B pedal output is what `render` writes for the same DI, also when the DI
    must be resampled to the pedal's rate (both read it the one way, audio.resample)."""
    import numpy as np
    from pedaltool.audio import read_wav, write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    pedal = write_pedal(tmp_path / "eq.pedal", quantise(eq_test_models(44100)["cascade10"]))
    rng = np.random.default_rng(3)
    write_wav(tmp_path / "di.wav", 0.3 * np.tanh(rng.standard_normal(4 * 48000)), 48000)
    runner = CliRunner()
    r = runner.invoke(main, ["compare", str(models_dir / "core_wavenet.nam"), str(pedal),
                             "--di", str(tmp_path / "di.wav"), "--ab", str(tmp_path / "ab"),
                             "--no-baseline"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["render", str(pedal), str(tmp_path / "di.wav"),
                             str(tmp_path / "out.wav")])
    assert r.exit_code == 0, r.output
    ab = read_wav(tmp_path / "ab" / "eq_pedal.wav")
    out = read_wav(tmp_path / "out.wav")
    assert ab.rate_hz == out.rate_hz == 44100
    assert np.array_equal(ab.samples, out.samples)


def test_an_interrupted_batch_reports_the_captures_it_finished(models_dir, tmp_path,
                                                                 monkeypatch):
    import shutil

    from pedaltool.fit import batch

    monkeypatch.chdir(tmp_path)
    for n in "abc":
        shutil.copy(models_dir / "core_wavenet.nam", f"{n}.nam")

    def fit_one(path, out, cfg):
        if path == "b.nam":
            raise KeyboardInterrupt
        return batch.failure(path, "a.nam: refused")

    monkeypatch.setattr(batch, "fit_one", fit_one)
    r = CliRunner().invoke(main, ["fit", "a.nam", "b.nam", "c.nam", "--json", "r.json"])
    assert r.exit_code == 130, r.output
    # one line (it was two: "interrupted after ..." and "error: interrupted"), and a report
    # of every capture given, the unfinished ones with why (an audit: it listed a.nam only,
    # as a clean batch would)
    assert r.output.splitlines()[-1] == "error: interrupted after 1 of 3 captures: a.nam"
    assert r.output.count("interrupted") == 1, r.output
    rows = json.loads(Path("r.json").read_text())
    assert [d["files"]["capture"] for d in rows] == ["a.nam", "b.nam", "c.nam"]
    assert [d["error"] for d in rows] == ["a.nam: refused", "interrupted", "interrupted"]
    assert all(d["files"]["pedal"] is None for d in rows)
    # interrupted before any capture finished: the report is still written (it was not, and
    # an earlier run's stayed as if it were this one's)
    Path("r.json").write_text("[]")

    def fit_none(path, out, cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "fit_one", fit_none)
    r = CliRunner().invoke(main, ["fit", "a.nam", "b.nam", "--json", "r.json"])
    assert r.exit_code == 130 and r.output.splitlines()[-1] == "error: interrupted", r.output
    assert [d["error"] for d in json.loads(Path("r.json").read_text())] == ["interrupted"] * 2


def test_a_batch_reports_in_the_order_given_however_its_captures_finish(models_dir, tmp_path,
                                                                       monkeypatch):
    """Workers finish in any order; the summary table and the JSON list follow the command
    line's, and so does an interrupted batch's report."""
    import shutil

    from pedaltool.fit import batch

    monkeypatch.chdir(tmp_path)
    for n in "abc":
        shutil.copy(models_dir / "core_wavenet.nam", f"{n}.nam")
    finished = ["c.nam", "a.nam", "b.nam"]

    def fit_batch(jobs, cfg, n, progress_for, say, stop_after=None):
        for k, path in enumerate(finished):
            if k == stop_after:
                raise KeyboardInterrupt
            yield batch.failure(path, f"{path}: refused")

    monkeypatch.setattr(batch, "fit_batch", fit_batch)
    r = CliRunner().invoke(main, ["fit", "a.nam", "b.nam", "c.nam", "-j", "2",
                                  "--json", "r.json"])
    assert r.exit_code == 1, r.output
    given = ["a.nam", "b.nam", "c.nam"]
    assert [d["files"]["capture"] for d in json.loads(Path("r.json").read_text())] == given
    rows = [ln.split()[0] for ln in r.output.splitlines() if ln.split()[:1]
            and ln.split()[0] in ("a", "b", "c")]
    assert rows == ["a", "b", "c"], r.output
    monkeypatch.setattr(batch, "fit_batch", partial(fit_batch, stop_after=2))
    r = CliRunner().invoke(main, ["fit", "a.nam", "b.nam", "c.nam", "-j", "2",
                                  "--json", "r.json"])
    assert r.exit_code == 130, r.output
    rows = json.loads(Path("r.json").read_text())  # every capture, the unfinished one too
    assert [(d["files"]["capture"], d["error"]) for d in rows] == [
        ("a.nam", "a.nam: refused"), ("b.nam", "interrupted"), ("c.nam", "c.nam: refused")]


def test_an_interrupted_batch_reports_a_pedal_written_before_its_report_came(
        models_dir, tmp_path, monkeypatch):
    """Ctrl-C on `fit -j 2` after a worker wrote its .pedal and before its report reached
    the command: the report said "pedal": null, the error line that nothing had finished, and
    the bank held the new model (an audit: pedals/od808.pedal written, 0 of 2 finished)."""
    import shutil

    from pedaltool.fit import batch

    monkeypatch.chdir(tmp_path)
    for n in "abc":
        shutil.copy(models_dir / "core_wavenet.nam", f"{n}.nam")
    Path("pedals").mkdir()
    Path("pedals/c.pedal").write_bytes(b"an earlier model")  # kept: not written again

    def fit_batch(jobs, cfg, n, progress_for, say):
        Path("pedals/b.pedal").write_bytes(b"a model")  # b's worker wrote it, and then
        raise KeyboardInterrupt  # the interrupt came before its report
        yield

    monkeypatch.setattr(batch, "fit_batch", fit_batch)
    r = CliRunner().invoke(main, ["fit", "a.nam", "b.nam", "c.nam", "-j", "2",
                                  "--json", "r.json"])
    assert r.exit_code == 130, r.output
    assert r.output.splitlines()[-1] == "error: interrupted after 1 of 3 captures: b.nam"
    rows = json.loads(Path("r.json").read_text())
    assert [d["files"]["pedal"] for d in rows] == [None, "pedals/b.pedal", None]
    assert [d["error"] for d in rows] == ["interrupted"] * 3
    assert rows[1]["notes"] == ["note: pedals/b.pedal was written just before the interrupt; "
                                "its scores were lost (`pedaltool info pedals/b.pedal` shows "
                                "the model's)"]


def test_compare_says_what_fit_says_and_refuses_a_silent_capture(models_dir, tmp_path):
    """compare relays the capture's own notes (a rate assumed) as fit does, names a
    resampled DI by its file, and refuses a capture that outputs silence in one line of its
    own (it failed inside the baseline's fit with "nothing to fit", its score lost, or with
    --no-baseline printed an ESR of inf). Found by an audit, 2026-12-06."""
    from pedaltool.audio import write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    pedal = write_pedal(tmp_path / "hp.pedal", quantise(eq_test_models(48000)["hp20"]))
    doc = json.loads((models_dir / "core_wavenet.nam").read_text())
    doc.pop("sample_rate", None)
    (tmp_path / "norate.nam").write_text(json.dumps(doc))
    doc["weights"] = [0.0] * len(doc["weights"])
    (tmp_path / "mute.nam").write_text(json.dumps(doc))
    write_wav(tmp_path / "di44.wav", 0.3 * np.sin(np.arange(4 * 44100) / 9.0), 44100)
    _, notes = _compare_on(tmp_path / "norate.nam", pedal, tmp_path / "di44.wav")
    assert "note: no sample_rate in the file: assuming 48000 Hz (as the plugin does)" in notes
    assert "warning: di44.wav: resampled from 44100 Hz to the pedal's 48000 Hz" in notes
    for extra in ([], ["--no-baseline"]):
        r = CliRunner().invoke(main, ["compare", str(tmp_path / "mute.nam"), str(pedal), *extra])
        assert r.exit_code == 2 and r.stdout == "", r.output
        assert r.stderr.splitlines()[-1] == (
            f"error: {tmp_path / 'mute.nam'}: the capture's output on the DI is silent: "
            "nothing to score the pedal against"), r.stderr


def test_compare_says_when_a_pedal_records_an_effort_it_does_not_know(models_dir, tmp_path,
                                                                       monkeypatch):
    """A later or foreign writer's effort ("extreme"): compare fits the baseline at its own
    default effort, and says so (it did so without a word: an audit, 2026-12-06)."""
    import dataclasses

    from pedaltool.fit import api
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    qp = quantise(eq_test_models(48000)["hp20"])
    efforts: list[str] = []

    def fake_baseline(render, cfg, level, name, x, y):  # the effort is what this checks
        efforts.append(cfg.effort)
        return api.Score(0.5, 0.5, 1.0), None

    monkeypatch.setattr(api, "baseline_scores", fake_baseline)
    for recorded, note in (("extreme", True), ("quick", False)):
        qp.accuracy = dataclasses.replace(qp.accuracy, effort=recorded)
        pedal = write_pedal(tmp_path / "hp.pedal", qp)
        out = api.compare(models_dir / "core_wavenet.nam", pedal,
                          cfg=api.FitConfig(eval_seconds=3.0))
        said = [n for n in out["notes"] if "effort" in n]
        assert said == (["note: hp.pedal records an effort this version does not know "
                         "('extreme'): the baseline is fitted at normal effort"] if note else [])
    assert efforts == ["normal", "quick"]


def test_compare_says_the_capture_is_resampled_as_fit_does(models_dir, tmp_path):
    """A 44.1 kHz pedal against a 48 kHz capture: compare gives the note fit gave (an audit
    found it missing, where fitting.md says compare repeats the capture's notes)."""
    from pedaltool.fit import api
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    cfg = api.FitConfig(eval_seconds=3.0)
    for rate, noted in ((44100, True), (48000, False)):
        pedal = write_pedal(tmp_path / f"hp{rate}.pedal", quantise(eq_test_models(rate)["hp20"]))
        out = api.compare(models_dir / "core_wavenet.nam", pedal, baseline=False, cfg=cfg)
        said = [n for n in out["notes"] if "rendered there" in n]
        assert said == (["note: the capture runs at 48000 Hz; it is rendered there and "
                         "resampled to the pedal's 44100 Hz"] if noted else []), out["notes"]


def test_a_stopped_single_fit_still_writes_its_json_report(tmp_path, monkeypatch):
    """`fit X.nam --json r.json` stopped by SIGTERM (or Ctrl-C) once the fit had started
    left no r.json, where fitting.md promises it once the fit has started (an audit); a
    batch wrote what it finished. The report says why, as the error line does."""
    import pedaltool.fit
    from pedaltool.cli.base import Stopped

    monkeypatch.chdir(tmp_path)
    Path("amp.nam").write_text("{}")  # never read: the fit is stopped at once

    for exc, code, why in ((Stopped(15), 143, "stopped (SIGTERM)"),
                           (KeyboardInterrupt(), 130, "interrupted")):
        def fit_capture(path, cfg, exc=exc):
            cfg.progress("note: something said before the stop")
            raise exc

        monkeypatch.setattr(pedaltool.fit, "fit_capture", fit_capture)
        r = CliRunner().invoke(main, ["fit", "amp.nam", "--json", "r.json"])
        assert r.exit_code == code and f"error: {why}" in r.output, r.output
        d = json.loads(Path("r.json").read_text())
        assert d["error"] == why and d["files"]["capture"] == "amp.nam"
        assert d["notes"] == ["note: something said before the stop"]
        Path("r.json").unlink()
    r = CliRunner().invoke(main, ["fit", "amp.nam", "--json", "-"])  # stdout: one object
    assert json.loads(r.stdout) == {"schema": 1, "error": "interrupted"}


def test_a_fit_stopped_while_plotting_says_so_in_its_report(tmp_path, monkeypatch):
    """SIGTERM (or Ctrl-C) while the plot is drawn, after the .pedal was written: exit 143,
    and the JSON report read as a clean fit with its plot (an audit); it says why there is
    no plot, as a plot that fails does."""
    import pedaltool.fit
    from pedaltool.cli.base import Stopped
    from pedaltool.fit import report

    monkeypatch.chdir(tmp_path)
    Path("amp.nam").write_text("{}")  # never read: the fit is faked
    monkeypatch.setattr(pedaltool.fit, "fit_capture", lambda path, cfg: "a result")
    monkeypatch.setattr(batch, "report", lambda res, out, say, notes: {
        "files": {"capture": "amp.nam", "pedal": "amp.pedal"}, "notes": notes})
    monkeypatch.setattr(report, "result_table", lambda res: "the table")
    monkeypatch.setattr(report, "check_plotting", lambda: None)

    def plot(res, png):
        raise Stopped(15)

    monkeypatch.setattr(report, "plot", plot)
    r = CliRunner().invoke(main, ["fit", "amp.nam", "-o", "amp.pedal", "--plot", "p.png",
                                  "--json", "r.json"])
    assert r.exit_code == 143 and r.stderr.splitlines()[-1] == (
        "error: stopped (SIGTERM) while drawing the plot (p.png not written)"), r.stderr
    assert r.stderr.count("error") == 1, r.stderr
    assert json.loads(Path("r.json").read_text())["notes"] == [
        "error: p.png: the plot was not drawn: stopped (SIGTERM)"]


def test_a_capture_whose_band_ends_early_is_warned_about():
    """A capture at 8 kHz fitted for a 48 kHz pedal has nothing above 4 kHz: a warning (an
    audit found only a note); 44.1 kHz into 48 kHz (22.05 kHz) and 96 kHz stay notes."""
    from pedaltool.fit.api import capture_rate_note

    assert capture_rate_note(8000, 48000) == (
        "warning: the capture runs at 8000 Hz; it is rendered there and resampled to the "
        "pedal's 48000 Hz: the model has nothing above 4000 Hz")
    assert capture_rate_note(44100, 48000).startswith("note: the capture runs at 44100 Hz")
    assert capture_rate_note(96000, 48000).startswith("note: ")
    assert capture_rate_note(48000, 48000) is None


def test_a_refused_capture_is_named_as_given(models_dir, tmp_path, monkeypatch):
    """A capture whose weights are all zero: "zeros: the capture's output is silent" named it
    by its stem, where every other error gives the path as given (an audit)."""
    monkeypatch.chdir(tmp_path)
    doc = json.loads((models_dir / "core_wavenet.nam").read_text())
    doc["weights"] = [0.0] * len(doc["weights"])
    (tmp_path / "lib").mkdir()
    Path("lib/zeros.nam").write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["fit", "lib/zeros.nam", "--quick"])
    assert r.exit_code == 2, r.output
    assert "error: lib/zeros.nam: the capture's output is silent" in r.output, r.output


def test_a_pipe_is_read_once(models_dir, tmp_path):
    """`info <(cat x.pedal)` said "empty file" (the kind was guessed from its first bytes,
    then the reader found the rest), and a capture was hashed by a second read, which a pipe
    gives empty (an audit); `info` and `render` then refused a pipe that `fit` and `compare`
    take (a review). Each command reads a pipe once, a capture's or a model's, and says what
    it says of the file; a capture's hash is of the bytes its load read."""
    import hashlib
    import os
    import subprocess
    import sys

    from pedaltool import nam
    from pedaltool.audio import write_wav
    from pedaltool.pedal import quantise, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models

    cap = models_dir / "core_wavenet.nam"
    pedal = write_pedal(tmp_path / "hp.pedal", quantise(eq_test_models(48000)["hp20"]))
    write_wav(tmp_path / "in.wav", np.zeros(4800, np.float32), 48000)
    exe = str(Path(sys.executable).parent / "pedaltool")

    def run(cmd: str) -> subprocess.CompletedProcess:
        r = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
        return r

    for f in (cap, pedal):
        on_file = json.loads(run(f"{exe} info --json {f}").stdout)
        assert on_file.pop("file") == f.name
        for cmd in (f"{exe} info --json <(cat {f})", f"cat {f} | {exe} info --json /dev/stdin"):
            piped = json.loads(run(cmd).stdout)
            assert piped.pop("file") != f.name  # (named as given)
            assert piped == on_file, cmd
        run(f"{exe} render <(cat {f}) in.wav out_{f.stem}.wav")
        assert (tmp_path / f"out_{f.stem}.wav").stat().st_size > 4 * 4800
    read, write = os.pipe()
    with os.fdopen(write, "wb") as w:
        w.write(cap.read_bytes())
    try:
        assert nam.load(f"/dev/fd/{read}").sha256 == hashlib.sha256(cap.read_bytes()
                                                                    ).hexdigest()
    finally:
        os.close(read)
    # fit reads a capture from a pipe once: its kind check leaves a pipe to the loader (a
    # review: the check's first read left the loader an "empty file")
    run(f"{exe} fit <(cat {cap}) --quick -o p.pedal")
    assert (tmp_path / "p.pedal").is_file()


@pytest.mark.slow
def test_every_command_says_its_notes_on_stderr(models_dir, tmp_path, monkeypatch):
    """The note that a capture gives no sample_rate (48 kHz assumed) went to stdout under
    fit's table and to stderr in compare (a review). Notes are commentary, as the progress
    is: on stderr in every command, so that stdout holds the report alone; fit's still come
    among its progress lines and again under its table."""
    from pedaltool.audio import write_wav

    monkeypatch.chdir(tmp_path)
    doc = json.loads((models_dir / "core_wavenet.nam").read_text())  # a tiny WaveNet: fast
    del doc["sample_rate"]
    Path("a.nam").write_text(json.dumps(doc))
    doc["metadata"]["name"] = "another"  # (not a copy of a.nam: no warning about that)
    Path("b.nam").write_text(json.dumps(doc))
    write_wav("in.wav", np.zeros(4800, np.float32), 48000)
    note = "no sample_rate in the file: assuming 48000 Hz"
    runner = CliRunner()
    for args, times in ((["fit", "a.nam", "--quick", "-o", "a.pedal"], 2),
                        (["compare", "a.nam", "a.pedal", "--no-baseline"], 1),
                        (["info", "a.nam"], 1), (["render", "a.nam", "in.wav", "out.wav"], 1),
                        # (the workers' progress lines go to their own stderr, not the
                        # runner's: the two under the summary table)
                        (["fit", "a.nam", "b.nam", "--quick", "-j", "2", "-o", "bank/"], 2)):
        r = runner.invoke(main, args)
        assert r.exit_code == 0, (args, r.output)
        assert note not in r.stdout and r.stderr.count(note) == times, (args, r.stdout,
                                                                        r.stderr)
    assert r.stdout.endswith("wrote 2 of 2 .pedal files to bank/\n"), r.stdout


def test_a_batch_warns_of_a_capture_copied_under_another_name(models_dir, tmp_path,
                                                              monkeypatch):
    """A byte-for-byte copy under another name was fitted twice, two presets of one sound,
    without a word (an audit; links are refused as "given twice")."""
    import shutil

    monkeypatch.chdir(tmp_path)
    Path("lib2").mkdir()
    shutil.copy(models_dir / "core_wavenet.nam", "ts9.nam")
    shutil.copy(models_dir / "core_wavenet.nam", "lib2/ts9_copy.nam")
    shutil.copy(models_dir / "core_lstm.nam", "other.nam")
    monkeypatch.setattr(batch, "fit_one", lambda path, out, cfg: batch.failure(path, "x"))
    r = CliRunner().invoke(main, ["fit", "ts9.nam", "other.nam", "lib2/ts9_copy.nam",
                                  "--json", "r.json"])
    warning = ("warning: lib2/ts9_copy.nam has the same bytes as ts9.nam: both are fitted, and "
               "the bank gets two presets of one sound")
    said = [ln for ln in r.output.splitlines() if ln.startswith("warning:")]
    assert said == [warning], r.output
    # in the copy's report and under the summary, as its other notes are (a review: only the
    # line before the fits said it)
    notes = [d["notes"] for d in json.loads(Path("r.json").read_text())]
    assert notes[0] == notes[1] == [] and notes[2] == [warning]
    assert f"lib2/ts9_copy.nam: {warning}" in r.output.splitlines()
