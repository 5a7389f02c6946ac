"""A library of captures fitted in worker processes (pedaltool.fit.batch)."""

from pedaltool.fit import FitConfig, batch


def _dying_fit_one(path, out, cfg):
    """batch.fit_one for the test below (module level: a worker unpickles it by name)."""
    import multiprocessing
    import os

    if multiprocessing.parent_process() is not None and path == "a.nam":
        os._exit(9)  # as if killed
    return batch.failure(path, "x")


def _no_progress(name):
    return None


def test_a_batch_whose_worker_dies_reports_the_unfinished_captures(monkeypatch):
    """A worker killed mid-fit (the OOM killer, say) breaks the process pool: every capture
    is still reported once, the unfinished ones as not fitted (it used to end the whole batch
    with an internal error, no summary and no report)."""
    monkeypatch.setattr(batch, "fit_one", _dying_fit_one)
    said: list[str] = []
    jobs = [(f"{n}.nam", f"{n}.pedal") for n in "abc"]
    results = list(batch.fit_batch(jobs, FitConfig(effort="quick"), 2, _no_progress,
                                   said.append))
    assert sorted(d["files"]["capture"] for d in results) == ["a.nam", "b.nam", "c.nam"]
    died = next(d for d in results if d["files"]["capture"] == "a.nam")
    assert "a worker process died" in died["error"] and died["files"]["pedal"] is None
    assert any("a worker process died" in s for s in said)


def test_a_capture_that_cannot_be_fitted_or_hits_a_bug_is_a_failure_report(monkeypatch,
                                                                           tmp_path):
    from pedaltool.fit import api

    def fit_capture(path, cfg):
        raise ZeroDivisionError("a bug")

    monkeypatch.delenv("PEDALTOOL_DEBUG", raising=False)
    d = batch.fit_one(tmp_path / "missing.nam", None, FitConfig())
    assert d["files"]["pedal"] is None and d["name"] == "missing" and "missing.nam" in d["error"]
    monkeypatch.setattr(api, "fit_capture", fit_capture)
    d = batch.fit_one("x.nam", None, FitConfig())
    assert d == batch.failure("x.nam", "internal error (ZeroDivisionError: a bug); rerun with "
                              "PEDALTOOL_DEBUG=1 for a traceback and please report it")
    assert d["notes"] == []


def test_a_batch_captures_notes_reach_its_report_and_the_end_of_the_output(monkeypatch,
                                                                          tmp_path):
    """Each capture's notes and warnings are in its report's "notes" and are said again
    after the summary (a batch's progress lines come interleaved; an audit found a bank entry
    replaced by another capture's model said only there, and nowhere in the JSON)."""
    import json
    import shutil
    from pathlib import Path

    from click.testing import CliRunner
    from pedaltool.cli import main
    from pedaltool.errors import FitError
    from pedaltool.fit import api

    def fit_capture(path, cfg):
        cfg.progress("probing")
        cfg.progress(f"note: {Path(path).name} was resampled")
        cfg.progress("warning: it hums")
        raise FitError(f"{Path(path).name}: silent")

    monkeypatch.setattr(api, "fit_capture", fit_capture)
    said: list[str] = []
    d = batch.fit_one("a.nam", None, FitConfig(progress=said.append))
    assert said == ["probing", "note: a.nam was resampled", "warning: it hums"]
    assert d["notes"] == said[1:] and d["error"] == "a.nam: silent"
    monkeypatch.chdir(tmp_path)
    for n in "ab":
        shutil.copy(Path(__file__).parents[2] / "examples" / "diode_clipper.nam", f"{n}.nam")
    r = CliRunner().invoke(main, ["fit", "a.nam", "b.nam", "--json", "r.json"])
    assert r.exit_code == 1, r.output
    copy = ("warning: b.nam has the same bytes as a.nam: both are fitted, and the bank gets "
            "two presets of one sound")  # (the two are copies of one file)
    assert f"a.nam: note: a.nam was resampled\na.nam: warning: it hums\nb.nam: {copy}\n" \
        "b.nam: note: b.nam was resampled" in r.output  # (progress lines lack the file name)
    assert [e["notes"] for e in json.loads(Path("r.json").read_text())] == [
        ["note: a.nam was resampled", "warning: it hums"],
        [copy, "note: b.nam was resampled", "warning: it hums"]]
    import pedaltool.fit

    monkeypatch.setattr(pedaltool.fit, "fit_capture", fit_capture)  # what `fit` calls for one
    r = CliRunner().invoke(main, ["fit", "a.nam", "--json", "one.json"])
    assert r.exit_code == 2, r.output
    one = json.loads(Path("one.json").read_text())
    assert one["error"] == "a.nam: silent"
    assert one["notes"] == ["note: a.nam was resampled", "warning: it hums"]
