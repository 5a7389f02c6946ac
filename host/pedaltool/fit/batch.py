"""Fitting captures into files: one capture's report (what ``fit --json`` holds) and a library
of captures fitted in worker processes, each reported whatever happens to the others."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from pedaltool.errors import PedaltoolError, debugging, internal_error_text
from pedaltool.fit import api

Say = Callable[[str], None]
_DIED = "a worker process died (killed, or out of memory?)"


def collecting(say: Say | None) -> tuple[Say, list[str]]:
    """(a progress printer that passes every line on to ``say`` and keeps the notes and
    warnings, the list it keeps them in): a report's "notes", repeated after the result."""
    notes: list[str] = []

    def progress(msg: str) -> None:
        if say is not None:
            say(msg)
        if msg.startswith(("note:", "warning:")):
            notes.append(msg)

    return progress, notes


def report(res: api.FitResult, out: str | Path | None, say: Say | None = None,
           notes: list[str] | None = None) -> dict:
    """``res.as_dict()`` with its ``files["pedal"]``: the .pedal that :func:`api.write_result`
    wrote, or None and "error" saying why it refused; "notes": ``notes``, the list itself
    (what :func:`collecting` kept)."""
    d = res.as_dict()
    d["notes"] = [] if notes is None else notes
    try:
        d["files"]["pedal"] = str(api.write_result(res, out, say))
    except PedaltoolError as exc:
        d["error"] = str(exc)
        kept = api.pedal_path(res.name, out)
        if kept.is_file():  # an earlier model there plays on: said (an audit: a failed
            # refit left another capture's model in the bank without a word)
            note = (f"note: {kept} is kept as it was, from an earlier fit: `pedaltool flash` "
                    "uploads it (remove it to leave it out)")
            if say is not None:
                say(note)
            if note not in d["notes"]:
                d["notes"].append(note)
    return d


def failure(capture: str | Path | None, error: str, notes: list[str] | None = None,
            di: str | Path | None = None, reamp: str | Path | None = None,
            lag_samples: int | None = None) -> dict:
    """The report of a capture (or a recorded pair: ``di`` and ``reamp``) that was not
    fitted, with the notes said before it failed; a pair that was aligned before it failed
    has its ``lag_samples`` too."""
    from pedaltool import json_report

    d = {"name": Path(capture or reamp).stem, "files": api.report_files(capture, di, reamp),
         "error": error, "notes": list(notes or [])}
    if lag_samples is not None:
        d["lag_samples"] = lag_samples
    return json_report(d)


def given(d: dict) -> str:
    """The input a report is about, as given: its capture, or a recorded pair's reamp."""
    return d["files"]["capture"] or d["files"]["reamp"]


def written(d: dict) -> str | None:
    """The .pedal a report's fit wrote, or None."""
    return d["files"]["pedal"]


def copy_warnings(models: list[Path]) -> dict[str, str]:
    """{capture as given: its warning} for each capture of a batch with the same bytes as one
    given before it (a copy under another name: links are refused as "given twice"): fitted
    twice, two presets of one sound, and nothing said (an audit)."""
    import hashlib

    seen: dict[str, Path] = {}
    said = {}
    for m in models:
        try:
            digest = hashlib.sha256(Path(m).read_bytes()).hexdigest()
        except OSError:  # (its fit says why)
            continue
        first = seen.setdefault(digest, m)
        if first is not m:
            said[str(m)] = (f"warning: {m} has the same bytes as {first}: both are fitted, and "
                            "the bank gets two presets of one sound")
    return said


def add_copy_warnings(reports: list[dict], warnings: dict[str, str]) -> None:
    """Each report of a capture in ``warnings`` (:func:`copy_warnings`) gets its warning
    first among its notes, as a batch's other notes are in its report."""
    for d in reports:
        if given(d) in warnings:
            d.setdefault("notes", []).insert(0, warnings[given(d)])


def fit_one(path: str | Path, out: str | Path | None, cfg: api.FitConfig) -> dict:
    """Fit capture ``path``, write its .pedal to ``out`` and return its :func:`report`, with
    ``files["capture"]`` the path as given (two captures may share a name). A capture that
    cannot be fitted gives a :func:`failure`, and so does a bug: one capture must not cost a
    batch the others (PEDALTOOL_DEBUG raises it instead, outside a worker process). Its notes
    and warnings (``cfg.progress`` is told them with the rest) are in "notes"."""
    say, notes = collecting(cfg.progress)
    try:
        d = report(api.fit_capture(path, replace(cfg, progress=say)), out, say, notes)
    except PedaltoolError as exc:
        return failure(path, str(exc), notes)
    except Exception as exc:
        if debugging() and multiprocessing.parent_process() is None:
            raise
        return failure(path, internal_error_text(exc), notes)
    d["files"]["capture"] = str(path)
    return d


def _fit_in_worker(path: str, out: str, cfg: api.FitConfig,
                   progress_for: Callable[[str], Say]) -> dict:
    return fit_one(path, out, replace(cfg, progress=progress_for(Path(path).name)))


def fit_batch(jobs: list[tuple[str, str]], cfg: api.FitConfig, n: int,
              progress_for: Callable[[str], Say], say: Say) -> Iterator[dict]:
    """Fit ``jobs`` ((capture, .pedal) pairs) ``n`` at a time in worker processes, yielding
    their reports as they finish. ``progress_for(file name)``: a capture's progress printer,
    made in its worker (a module-level function or a partial of one: it is pickled). A worker
    that dies (killed, or out of memory) breaks the pool: the captures not finished then are
    reported as not fitted, not fitted again here, where the same shortage would end them
    all. Leaving early (Ctrl-C) stops the workers."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    from pedaltool.fit.schedule import Workers

    cfg = replace(cfg, workers=1, progress=None)  # each capture has its own process already
    finished: set[str] = set()
    with Workers(min(n, len(jobs))) as pool:
        if pool.ex is None:  # the platform cannot fork: one at a time, here
            done = (_fit_in_worker(p, o, cfg, progress_for) for p, o in jobs)
        else:
            done = (f.result() for f in as_completed(
                [pool.ex.submit(_fit_in_worker, p, o, cfg, progress_for) for p, o in jobs]))
        try:
            for d in done:
                finished.add(given(d))
                yield d
            return
        except BrokenProcessPool:
            pass
    say(f"{_DIED}: the unfinished captures are not fitted")
    for path, _ in jobs:
        if path not in finished:
            yield failure(path, f"not fitted: {_DIED} before it finished; fit it again, "
                                "alone or with a lower -j")
