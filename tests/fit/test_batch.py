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
    assert sorted(d["source"] for d in results) == ["a.nam", "b.nam", "c.nam"]
    died = next(d for d in results if d["source"] == "a.nam")
    assert "a worker process died" in died["error"] and died["written"] is None
    assert any("a worker process died" in s for s in said)


def test_a_capture_that_cannot_be_fitted_or_hits_a_bug_is_a_failure_report(monkeypatch,
                                                                           tmp_path):
    from pedaltool.fit import api

    def fit_capture(path, cfg):
        raise ZeroDivisionError("a bug")

    monkeypatch.delenv("PEDALTOOL_DEBUG", raising=False)
    d = batch.fit_one(tmp_path / "missing.nam", None, FitConfig())
    assert d["written"] is None and d["name"] == "missing" and "missing.nam" in d["error"]
    monkeypatch.setattr(api, "fit_capture", fit_capture)
    d = batch.fit_one("x.nam", None, FitConfig())
    assert d == batch.failure("x.nam", "internal error (ZeroDivisionError: a bug); rerun with "
                              "PEDALTOOL_DEBUG=1 for a traceback and please report it")
