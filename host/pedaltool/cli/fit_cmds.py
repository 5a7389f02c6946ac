"""``pedaltool fit`` and ``pedaltool compare`` (the fit room's commands)."""

from __future__ import annotations

import os
import sys
import time
from bisect import insort
from dataclasses import replace
from functools import partial
from pathlib import Path

import click

from pedaltool import json_report, json_text
from pedaltool.cli.base import (
    FilePath,
    echo_json,
    echo_lines,
    interrupt_text,
    json_option,
    main,
    progress_printer,
    say_error,
    say_lines,
    say_progress,
)
from pedaltool.errors import FitError, PedaltoolError, internal_error_text
from pedaltool.outfile import (
    check_distinct_outputs,
    check_not_an_input,
    check_writable,
    file_id,
    write_atomic,
)

# pedaltool.fit pulls in scipy (~1 s): every fit import happens inside the commands so that
# `pedaltool --help` and the other rooms' commands start fast


def _capture_printer(t0: float, name: str):
    """A batch capture's progress printer: its lines start with its file name, on the batch's
    clock (module level: the workers unpickle it)."""
    return progress_printer(f"{name}: ", t0)


def _one_line(d: dict) -> str:
    """A finished capture of a batch, for the progress lines."""
    from pedaltool.fit.batch import given

    if "device" not in d:
        return f"{given(d)}: error"
    return f"{given(d)}: {d['structure']}, ESR {d['device']['esr']:.4f}"


@main.command()
@click.argument("models", nargs=-1, type=FilePath(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=FilePath(), default=None,
              help="Output .pedal (one capture) or folder (several, or a name ending in '/'). "
                   "Default: the bank ./pedals/<capture>.pedal, which `pedaltool flash` "
                   "uploads. Missing folders are created; an existing file is replaced "
                   "(atomically, only by a model that passed the sanity check), never an "
                   "input.")
@click.option("--budget", type=float, default=None,
              help="Max CPU cycles per sample (firmware cost model: the kernels, the block "
                   "I/O and the engine's estimated per-block work; default 1302: half of an "
                   "RP2040 at 125 MHz and 48 kHz, whatever --rate; at a lower rate the chip "
                   "has more cycles per sample: e.g. --budget 1953 at 32 kHz). At least 481, "
                   "the naive baseline's cost (biquad + tanh + biquad); below 565, the "
                   "smallest grown structure's, the baseline alone is fitted.")
@click.option("--rate", type=click.Choice(["48000", "44100", "32000"]), default="48000",
              show_default=True, help="The pedal's sample rate (Hz). A recording pair at one "
                   "of these rates keeps its own; at another it is resampled to this one.")
@click.option("--json", "json_path", type=FilePath(dir_okay=False, path_type=Path),
              default=None, callback=json_option,
              help="Write the full report(s) as JSON ('-' = stdout, and the result table goes "
                   "to stderr).")
@click.option("--plot", "plot_path", type=FilePath(dir_okay=False, path_type=Path),
              default=None, help="PNG with table curve, EQ responses, error spectrum (one "
                   "capture only; needs the plot extra: pip install 'pedaltool[plot]').")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Fit several captures in parallel processes (one process each; a single "
                   "capture uses up to two processes by itself).")
@click.option("--input", "di_wav", type=FilePath(dir_okay=False, path_type=Path),
              default=None, help="Fit from a recording: the DI WAV ...")
@click.option("--target", "target_wav", type=FilePath(dir_okay=False, path_type=Path),
              default=None, help="... and the reamped WAV: the DI's sample rate (48000, "
                   "44100 or 32000 Hz is kept; another is resampled to --rate), at least 3 s, "
                   "offset by less than 1 s (aligned automatically; the longer one is cut to "
                   "the other's length).")
@click.option("--quick", is_flag=True, help="Fewer optimiser iterations (faster, less exact).")
@click.option("--thorough", is_flag=True,
              help="Three fitting datasets for every capture (the best validation wins; a "
                   "recorded pair keeps its one), every structure long-fitted with 24 "
                   "iterations (12 or 20 by default); saturating captures get one more "
                   "structure and twice the playing per dataset: "
                   "lower error on most saturating captures for 1.5x (pedals, clean amps) "
                   "to 10x (high gain, about 3 minutes) the fit time (docs/fitting.md).")
def fit(models, output, budget, rate, json_path, plot_path, jobs, di_wav, target_wav, quick,
        thorough):
    """Turn NAM captures (MODELS.nam) into device-ready .pedal models and report accuracy.

    The score is always device-exact: the quantised model through the bit-exact host engine
    against the capture, on the project's evaluation DI at the capture's calibrated level.
    """
    from pedaltool.fit import FitConfig, batch, fit_capture, fit_recording
    from pedaltool.fit.report import (
        SUMMARY_HEADER,
        format_rows,
        plot,
        result_table,
        summary_problems,
        summary_rows,
    )

    to_err = json_path is not None and str(json_path) == "-"  # stdout is the JSON's alone
    # the table: commentary when JSON is output; else the report, in one write (echo_lines).
    # The notes under it go to stderr either way, as every command's notes and the progress
    # do (they went to stdout here, to stderr in compare: a review)
    show_lines = say_lines if to_err else echo_lines
    budget, effort, several, output, pedals = _plan(
        models, output, budget, json_path, plot_path, di_wav, target_wav, quick, thorough)
    rate_i = int(rate)
    if di_wav is not None or len(models) == 1:
        # notes are said among the progress lines, and repeated under the table
        say, notes = batch.collecting(progress_printer())
        cfg = FitConfig(budget=budget, rate=rate_i, effort=effort, progress=say)
        try:
            if di_wav is not None:
                say_progress(f"fitting {target_wav.name} from {di_wav.name}")
                res = fit_recording(di_wav, target_wav, cfg)
            else:
                say_progress(f"fitting {models[0].name}")
                res = fit_capture(models[0], cfg)
            # written before anything is printed: a full disk or a closed terminal loses no
            # model (it writes the .pedal, so a bug there is caught below too)
            d = batch.report(res, output, cfg.progress, notes)
        except (KeyboardInterrupt, Exception) as exc:  # the report says so
            # too, as a batch's entries do (_plan: either captures or --input/--target), a bug
            # included (an audit: none was written); an interrupt's on stdout is the
            # command's own (cli.base)
            if isinstance(exc, KeyboardInterrupt):
                why = interrupt_text(exc)
            else:
                why = str(exc) if isinstance(exc, PedaltoolError) else internal_error_text(exc)
            if not (to_err and isinstance(exc, KeyboardInterrupt)):
                try:
                    _dump_json(json_path, batch.failure(models[0] if models else None, why,
                                                        notes, di_wav, target_wav,
                                                        getattr(exc, "lag_samples", None)))
                except PedaltoolError as lost:
                    if not isinstance(exc, PedaltoolError):
                        raise exc from None  # a bug or an interrupt stays what it is
                    exc.args = (f"{exc}; {lost}",)  # both said, the fit's own first
                except OSError:  # stdout gone (`--json - | true`) or full: the failure stays
                    pass  # what it is, its line on stderr says it (cli.base)
            raise
        # the table and what was written, in one write after the plot and the report (a
        # reader that leaves after the first line then always ends the command the same way)
        lines = [result_table(res)] + (
            [f"wrote {batch.written(d)}"] if batch.written(d) is not None else [])
        plot_error = None
        not_drawn = f"{plot_path}: the plot was not drawn: "
        try:
            try:  # the plot failing (a full disk) still leaves the report, which says so
                if plot_path:
                    plot(res, plot_path)
                    lines.append(f"wrote {plot_path}")
            except Exception as exc:  # a bug in plotting too (an audit: no report)
                plot_error = (exc if isinstance(exc, PedaltoolError) else
                              FitError(not_drawn + internal_error_text(exc)))
                d["notes"].append(f"error: {plot_error}")
            except KeyboardInterrupt as exc:  # the report says it as a failed plot's does (an
                # audit: it read as a clean fit, the command exited 130), the one error line
                # too (d["notes"] is the list said under the table: a line of its own there)
                d["notes"] = [*d["notes"], f"error: {not_drawn}{interrupt_text(exc)}"]
                exc.detail = f"while drawing the plot ({plot_path} not written)"
                raise
            finally:  # an interrupt while plotting too
                try:
                    lines += _dump_json(json_path, d, echo=False)
                except PedaltoolError as lost:  # a full disk fails the .pedal first: both
                    if batch.written(d) is not None:  # said, the model's first (it named
                        raise  # only the report: an audit)
                    raise FitError(f"{d['error']}; {lost}") from None
        finally:  # the table whatever failed after it was made
            show_lines(lines)
            say_lines(notes)
        if batch.written(d) is None:  # the report says why too
            raise FitError(d["error"])
        if plot_error is not None:
            raise plot_error
        return
    jobs_list = [(str(m), str(p)) for m, p in zip(models, pedals, strict=True)]
    order = {j[0]: i for i, j in enumerate(jobs_list)}
    cfg = FitConfig(budget=budget, rate=rate_i, effort=effort)
    results: list[dict] = []  # in the captures' order, however they finish

    def in_order(d: dict) -> int:
        return order[batch.given(d)]

    copies = batch.copy_warnings(models)
    say_lines(list(copies.values()))
    # which file each .pedal was before the batch: a worker may write one and be stopped
    # before its report reaches this process (an interrupt in between); a write replaces it
    # by a new file (write_atomic's rename), so its identity tells
    was = {out: file_id(out) for _, out in jobs_list}
    try:
        if jobs > 1:
            t0 = time.time()
            say = progress_printer(t0=t0)
            say_progress(f"fitting {len(jobs_list)} captures, {min(jobs, len(jobs_list))} at "
                         "a time (each one's progress lines start with its file name)")
            for d in batch.fit_batch(jobs_list, cfg, jobs, partial(_capture_printer, t0), say):
                insort(results, d, key=in_order)
                say(f"{len(results)} of {len(jobs_list)} done: {_one_line(d)}")
        else:
            for k, (path, out) in enumerate(jobs_list):
                say_progress(f"fitting {path} ({k + 1} of {len(jobs_list)})")
                insort(results, batch.fit_one(path, out, replace(
                    cfg, progress=progress_printer())), key=in_order)
    except KeyboardInterrupt as exc:  # Ctrl-C, kill, a closed terminal: keep what is finished
        # the report first (stderr may be gone with the terminal), always, with every capture
        # given: the unfinished ones say why (an audit: it listed the finished ones only, as
        # a clean batch, and none at all, or the last run's, when none had finished)
        finished = [batch.given(d) for d in results]
        why = interrupt_text(exc)
        rest = []
        for path, out in jobs_list:
            if path in finished:
                continue
            rest.append(batch.failure(path, why))
            if file_id(out) != was[out]:  # written, its report lost in the interrupt (an
                # audit: "pedal": null and no word of it, the new model in the bank)
                rest[-1]["files"]["pedal"] = out
                rest[-1]["notes"].append(f"note: {out} was written just before the "
                                         f"interrupt; its scores were lost (`pedaltool info "
                                         f"{out}` shows the model's)")
                finished.append(path)
        finished.sort(key=order.__getitem__)
        try:
            _dump_json(json_path, sorted(results + rest, key=in_order))
        except OSError:  # stdout gone or full: the interrupt stays what it is (as above)
            pass
        if finished:  # said on the command's one error line (cli.base)
            exc.detail = (f"after {len(finished)} of {len(jobs_list)} captures: "
                          f"{', '.join(finished)}")
        raise
    batch.add_copy_warnings(results, copies)  # (in its report and under the table)
    # the report before the table (a full disk or terminal loses no report), said with it in
    # one write
    wrote_report = _dump_json(json_path, results, echo=False)
    written = sum(1 for d in results if batch.written(d))
    show_lines([format_rows(SUMMARY_HEADER, summary_rows(results)),
                f"wrote {written} of {len(results)} .pedal files to {pedals[0].parent}/"]
               + wrote_report)
    # each capture's notes, said among the interleaved progress lines, again under the table
    say_lines([f"{batch.given(d)}: {note}" for d in results for note in d["notes"]])
    problems = summary_problems(results)  # one per capture not written
    for line in problems:  # as a single fit's error reads, for a script grepping either
        say_error(f"error: {line}")
    if problems:
        sys.exit(1)


def _plan(models, output, budget, json_path, plot_path, di_wav, target_wav, quick, thorough
          ) -> tuple:
    """Every check of `fit`'s arguments and output locations, before any work: returns
    (budget, effort, several captures?, -o as a Path or None, the .pedal files to write)."""
    from pedaltool.fit.api import BANK_DIR, check_budget, pedal_path
    from pedaltool.fit.structure import DEFAULT_BUDGET

    if budget is None:
        budget = DEFAULT_BUDGET
    check_budget(budget)
    if quick and thorough:
        raise FitError("--quick and --thorough contradict each other: give one")
    effort = "quick" if quick else "thorough" if thorough else "normal"
    if (di_wav is None) != (target_wav is None):
        raise FitError("--input and --target go together (DI WAV and reamped WAV)")
    if di_wav is not None and models:
        raise FitError("give either capture files or --input/--target, not both")
    if di_wav is None and not models:
        raise FitError("nothing to fit: give one or more .nam captures, or --input/--target")
    for m in (*models, *filter(None, (di_wav, target_wav))):
        if not m.exists():  # before any fitting (read_wav would say it too, after the probe)
            pattern = any(c in m.name for c in "*?[")  # a shell passes an unmatched one as is
            raise FitError(f"{m}: " + ("no file matches this pattern" if pattern
                                       else "file not found"))
    # what each input is before where its .pedal would go (an audit: a .pedal in the bank
    # given as the capture was refused as "would replace the input")
    for m in models:
        _check_kind(m, "nam")
    for m in filter(None, (di_wav, target_wav)):
        _check_kind(m, "wav")
    several = di_wav is None and len(models) > 1
    if several and plot_path is not None:
        raise FitError(f"{plot_path}: --plot draws one capture's fit; with several captures "
                       "leave it out (or fit the one to plot on its own)")
    output = _output_path(output, several, target_wav if di_wav is not None else models[0])
    _check_outputs(output, json_path, plot_path, several)
    if several:
        _check_distinct_names(models, output)
    inputs = [*models, di_wav, target_wav]
    # where each .pedal will go, to refuse one that is an input
    pedals = ([(output or BANK_DIR) / f"{m.stem}.pedal" for m in models] if several
              else [pedal_path((target_wav or models[0]).stem, output)])
    for p in pedals:  # the bank too: a file or folder in the way is found before fitting
        check_writable(p, ".pedal")
    outputs = [(out, what) for out, what in [(json_path, "JSON report"), (plot_path, "plot"),
                                             *((p, ".pedal") for p in pedals)]
               if out is not None and str(out) != "-"]
    for out, what in outputs:
        check_not_an_input(out, inputs, what, FitError)
    check_distinct_outputs(outputs, FitError)
    return budget, effort, several, output, pedals


def _check_kind(path: Path, expected: str) -> None:
    """FitError when ``path`` is recognisably another kind of file than ``expected`` ('nam'
    or 'wav'), by its first bytes; whatever else it is, its reader says after the checks."""
    from pedaltool.filekind import file_kind, head_of, wrong_kind_hint
    from pedaltool.nam.file import not_nam_text

    head = head_of(path)
    kind = None if head is None else file_kind(head)
    if kind is None or kind == expected:
        return
    if expected == "wav":
        raise FitError(f"{path}: not a WAV file ({wrong_kind_hint(head, 'wav')})")
    # (fit's captures come in no order: a swap is no cause, and not said as one)
    pair = ": give a .nam capture, or fit a recording with --input/--target" if kind == "wav" \
        else ""
    raise FitError(f"{path}: not a .nam file ({not_nam_text(head)}{pair})")


def _check_distinct_names(models, output: Path | None) -> None:
    """Several captures go to <folder>/<capture name>.pedal: refuse two with one name before
    fitting (the second would silently replace the first), and one file given twice under
    two names (a link: two bank entries of one sound, fitted twice)."""
    seen: dict[str, Path] = {}
    files: dict[tuple[int, int], Path] = {}  # one file by any name (a library: n stats)
    for m in models:
        fid = file_id(m)  # (None: missing, which fit says when it gets there)
        twin = m if fid is None else files.setdefault(fid, m)
        if twin is not m:
            raise FitError(f"{m}: given twice (as {twin} too)")
        # case-folded: on macOS and Windows Amp.pedal and amp.pedal are one file
        key = m.stem.casefold()
        if key in seen:
            where = output if output is not None else Path("pedals")
            raise FitError(f"{seen[key]} and {m}: both would be written to "
                           f"{where / (m.stem + '.pedal')}; rename one or fit it on its own "
                           "with -o")
        seen[key] = m


def _dump_json(path: Path | None, data, echo: bool = True) -> list[str]:
    """Write the JSON report to ``path`` ("-": stdout; None: nowhere). Returns the "wrote"
    line of a file, said here too when ``echo``."""
    if path is None:
        return []
    if str(path) == "-":
        echo_json(data)
        return []
    write_atomic(path, (json_text(data) + "\n").encode(), make_folder=True)
    if echo:
        click.echo(f"wrote {path}")
    return [f"wrote {path}"]


def _output_path(raw: str | None, several: bool, first: Path) -> Path | None:
    """-o as a Path; a single capture's -o that names a folder (existing, or written with a
    trailing '/') becomes <folder>/<capture>.pedal, so the bank gets a .pedal file, not a
    file named like the folder. An input's suffix is refused: it would be a typo."""
    if raw is None:
        return None
    if raw.strip() in ("", "-"):
        raise FitError(f"-o {raw!r}: give the .pedal file to write, or a folder")
    out = Path(raw)
    if out.suffix.lower() in (".nam", ".wav"):
        raise FitError(f"{raw}: -o names the .pedal to write (or a folder), not a "
                       f"{out.suffix} file")
    if several:
        return out
    if raw.endswith(("/", "\\")) or os.path.isdir(out):  # (False for a name too long)
        return out / f"{first.stem}.pedal"
    if out.suffix != ".pedal":  # the bank and `flash` see only .pedal files, in lower case
        if out.suffix.lower() == ".pedal":  # (flash takes one, but a bank could then hold
            # NAME.pedal and NAME.PEDAL, which it refuses; a case-blind drive sees one file)
            raise FitError(f"{raw}: give {out.with_suffix('.pedal').name}: the bank's models "
                           "end in a lower-case .pedal")
        raise FitError(f"{raw}: -o names a .pedal file (or a folder: end a new one with '/')")
    return out


def _check_outputs(output: Path | None, json_path: Path | None, plot_path: Path | None,
                   several: bool) -> None:
    """Refuse output locations that cannot be written before fitting, not after."""
    if json_path is not None and str(json_path) != "-":
        # a capture's, a model's or a recording's name is a typo here, as it is for -o: it
        # replaced another capture with the report (an audit)
        if json_path.suffix.lower() in (".nam", ".wav", ".pedal"):
            raise FitError(f"{json_path}: --json names the JSON report to write, not a "
                           f"{json_path.suffix} file")
        check_writable(json_path, "JSON report")
    if plot_path is not None:
        if plot_path.suffix.lower() != ".png":
            raise FitError(f"{plot_path}: --plot writes a PNG image; give a .png name")
        check_writable(plot_path, "plot")
        from pedaltool.fit.report import check_plotting

        check_plotting()
    if output is None:
        return
    if several:
        if output.suffix == ".pedal":
            raise FitError(f"{output}: with several captures -o must be a folder")
        if output.exists() and not output.is_dir():
            raise FitError(f"{output}: with several captures -o must be a folder, "
                           "this is a file")
    else:  # before pedal_path looks at it: a name too long for the file system raises there
        check_writable(output, ".pedal")


@main.command()
@click.argument("model", type=FilePath(dir_okay=False, path_type=Path))
@click.argument("pedal", type=FilePath(dir_okay=False, path_type=Path))
@click.option("--di", "di_wav", type=FilePath(dir_okay=False, path_type=Path), default=None,
              help="DI WAV to compare on, at least 3 s; a longer one than 60 s is scored "
                   "on its first 60 s (default: the project's evaluation DI at the capture's "
                   "calibrated level).")
@click.option("--json", "as_json", is_flag=True, callback=json_option,
              help="Print JSON: {schema, sample_rate_hz, device: {esr, esr_pre, lsd_db}, "
                   "baseline: the same or null, improvement_vs_baseline: the baseline's ESR "
                   "over the pedal's or null, notes: [the notes and warnings as printed], "
                   "files} (docs/fitting.md, 'The JSON report').")
@click.option("--ab", "ab_dir", type=FilePath(path_type=Path), default=None, metavar="DIRECTORY",
              help="Write an A/B WAV pair (<capture>_capture.wav, <pedal>_pedal.wav) and the "
                   "DI (di.wav) into this folder, created if missing; files there with those "
                   "names are replaced.")
@click.option("--no-baseline", is_flag=True, help="Skip fitting the naive baseline.")
def compare(model, pedal, di_wav, as_json, ab_dir, no_baseline):
    """Score PEDAL (device-exact) against the capture MODEL: ESR, pre-emphasised ESR and
    log-spectral distance, next to the naive baseline (biquad + tanh + biquad) fitted and
    scored as `pedaltool fit` does it: on the default DI, the baseline numbers the fit reported."""
    from pedaltool.audio import note_lines, read_wav, write_wavs
    from pedaltool.fit import FitConfig
    from pedaltool.fit import compare as do_compare
    from pedaltool.fit.report import compare_lines, format_rows

    ab_files = ([ab_dir / f"{model.stem}_capture.wav", ab_dir / f"{pedal.stem}_pedal.wav",
                 ab_dir / "di.wav"] if ab_dir is not None else [])
    for f in ab_files:
        check_writable(f, "A/B pair")
        check_not_an_input(f, [model, pedal, di_wav], "A/B pair",
                           remedy="give --ab another folder (the pair's names are fixed)")
    di = rate = None
    read_notes: list[str] = []
    if di_wav is not None:
        clip = read_wav(di_wav)
        di, rate = clip.samples, int(clip.rate_hz)
        read_notes = note_lines(clip.notes, di_wav.name)  # as fit's, render's, run's
        say_lines(read_notes)
    res = do_compare(model, pedal, di, rate, baseline=not no_baseline,
                     cfg=FitConfig(progress=progress_printer()),
                     di_name="the DI" if di_wav is None else di_wav.name,
                     playback=ab_dir is not None)
    say_lines(res["notes"])
    if ab_dir is not None:  # the three together: a failure leaves the old set
        write_wavs(list(zip(ab_files, (res["y_nam"], res["y_pedal"], res["x"]), strict=True)),
                   res["sample_rate_hz"], make_folder=True)
    out = json_report({
        "sample_rate_hz": res["sample_rate_hz"], "device": res["device"],
        "baseline": res["baseline"], "improvement_vs_baseline": res["improvement_vs_baseline"],
        "notes": read_notes + res["notes"],  # how the DI was read
        "files": {"capture": str(model), "pedal": str(pedal),  # as given (a script's own)
                  "di": None if di_wav is None else str(di_wav),
                  "ab": [str(f) for f in ab_files] or None}})
    if as_json:
        echo_json(out)
        if ab_dir is not None:
            say_progress(f"A/B pair in {ab_dir}")
        return
    rows = [("pedal (device-exact)", *(f"{res['device'][k]:.4f}" for k in ("esr", "esr_pre")),
             f"{res['device']['lsd_db']:.2f}")]
    if res["baseline"]:
        b = res["baseline"]
        rows.append(("naive baseline (device-exact)", f"{b['esr']:.4f}", f"{b['esr_pre']:.4f}",
                     f"{b['lsd_db']:.2f}"))
    # what the numbers mean under them (an audit: no verdict before)
    echo_lines([format_rows(("model", "ESR", "ESR pre", "LSD dB"), rows), *compare_lines(res)])
    if ab_dir is not None:
        say_progress(f"A/B pair in {ab_dir}")
