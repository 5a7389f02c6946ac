"""``pedaltool info`` and ``pedaltool render`` (.nam here; .pedal handed to pedaltool.pedal)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from pedaltool import json_report
from pedaltool.cli.base import (
    FilePath,
    echo_json,
    echo_lines,
    json_option,
    main,
    progress_printer,
    say_lines,
    say_notes,
    say_progress,
)
from pedaltool.errors import PedaltoolError
from pedaltool.printable import shown
from pedaltool.progress import every

#: Show a progress bar when the input is longer than this (seconds of audio).
PROGRESS_MIN_SECONDS = 5.0


@main.command()
@click.argument("model", type=FilePath(path_type=Path))
@click.option("--slim", type=click.FloatRange(0.0, 1.0), default=None,
              help="Size of a slimmable model, 0..1 like the plugin's knob (default: full).")
@click.option("--json", "as_json", is_flag=True, callback=json_option,
              help="Print machine-readable JSON.")
def info(model: Path, slim: float | None, as_json: bool) -> None:
    """Show what a .nam capture is (architecture, size, cost and metadata) or what a .pedal
    model holds (its capture, stages, knob ranges and the accuracy its fit recorded)."""
    is_pedal, data = _read_model(model)
    if is_pedal:
        _pedal_info(model, slim, as_json, data)
        return
    from pedaltool import nam
    from pedaltool.audio import note_lines

    facts = json_report(nam.load(model, slim=slim, data=data).info())
    facts["notes"] = note_lines(facts["notes"]) + _unslimmable(model, slim, data)
    if as_json:
        echo_json(facts)
        return
    sr = f"{facts['sample_rate_hz']:g} Hz"
    if not facts["sample_rate_in_file"]:
        sr += " (not in file; assumed)"
    rows = [
        ("file", facts["file"]),
        ("architecture", facts["architecture"]),
        ("file version", facts["version"]),
        ("sample rate", sr),
        ("parameters", f"{facts['num_params']:,}"),
        ("receptive field", f"{facts['receptive_field_samples']} samples "
                            f"({facts['receptive_field_ms']:g} ms)"),
        ("MACs / sample", f"{facts['macs_per_sample']:,}"),
    ]
    md = facts["metadata"]
    labels = {"name": "name", "modeled_by": "modeled by", "gear_make": "gear make",
              "gear_model": "gear model", "gear_type": "gear type", "tone_type": "tone type",
              "loudness": "loudness (dB)", "gain": "gain", "input_level_dbu": "input level (dBu)",
              "output_level_dbu": "output level (dBu)", "validation_esr": "training ESR",
              "date": "date"}
    for key, label in labels.items():
        if key in md:
            v = md[key]
            rows.append((label, f"{v:.6g}" if isinstance(v, float) else str(v)))
    if "input_level_dbu" not in md:
        given = md.get("ignored", {}).get("input_level_dbu")
        rows.append(("input level (dBu)", f"{facts['input_level_dbu_used']:g} dBu assumed ("
                     + ("not in file" if given is None else f"{given} is not a number") + ")"))
    details = facts["details"]
    if facts["architecture"] == "SlimmableContainer":
        subs = ", ".join(f"{s['architecture']}<{s['max_value']:g}" for s in details["submodels"])
        rows.append(("submodels", f"{subs} (active: #{details['active_submodel']})"))
    _print_rows(rows)
    say_lines(facts["notes"])


def _print_rows(rows: list[tuple[str, str]]) -> None:
    """``info``'s table: one line a row, its values as a file gave them but with control
    characters (a newline, an escape sequence in a name) escaped, never acted on."""
    width = max(len(k) for k, _ in rows)
    echo_lines([f"{k:<{width}}  {shown(v)}" for k, v in rows])


def _pedal_info(model: Path, slim: float | None, as_json: bool, data: bytes | None) -> None:
    from pedaltool.pedal.fileformat import pedal_info

    if slim is not None:
        raise PedaltoolError(f"{model}: --slim applies to .nam captures only")
    facts = json_report(pedal_info(model, data))
    if as_json:
        echo_json(facts)
        return
    from pedaltool.pedal.model import RECORDED_GEAR

    src, acc = facts["source"], facts["device"]
    pre = "not recorded" if acc["esr_pre"] is None else f"{acc['esr_pre']:.4f}"
    esr = "not recorded" if acc["esr"] is None else (
        f"{acc['esr']:.4f} (pre-emphasised {pre}), device-exact on "
        + ("the held-out end of the recording" if src["gear_type"] == RECORDED_GEAR
           else "the evaluation DI")
        + (f", {facts['effort']} effort" if facts["effort"] else ""))
    rows = [
        ("file", f"{facts['file']} ({facts['bytes']} bytes)"),
        ("name", facts["name"] or "-"),
        ("sample rate", f"{facts['sample_rate_hz']} Hz"),
        ("fitted from", (f"{src['file']} (sha256 {src['sha256_prefix']}...)"
                         if src["sha256_prefix"] else src["file"] or "-")),
        ("gear / tone", f"{src['gear_type'] or '-'} / {src['tone_type'] or '-'}"),
        ("stages", ", ".join(facts["stages"])),
        ("knob ranges", ", ".join(f"{k} {lo:+g}..{hi:+g} dB"
                                  for k, (lo, hi) in facts["knob_ranges_db"].items()) or "-"),
        ("ESR", esr),
        ("cost", "not recorded" if facts["cycles_per_sample"] is None else
         f"{facts['cycles_per_sample']:.0f} cycles/sample (firmware cost model)"),
    ]
    _print_rows(rows)
    say_lines(facts["notes"])


@main.command()
@click.argument("model", type=FilePath(path_type=Path))
@click.argument("in_wav", type=FilePath(path_type=Path))
@click.argument("out_wav", type=FilePath(path_type=Path))
@click.option("--slim", type=click.FloatRange(0.0, 1.0), default=None,
              help="Size of a slimmable .nam model, 0..1 (default: full size).")
@click.option("--engine", type=click.Choice(["host", "firmware"]), default="host",
              show_default=True, help="For .pedal models: bit-exact host engine or the "
              "firmware in the MicroPython unix port.")
def render(model: Path, in_wav: Path, out_wav: Path, slim: float | None, engine: str) -> None:
    """Run MODEL (.nam capture or .pedal model) over IN_WAV and write OUT_WAV.

    The output is 32-bit float mono at the model's rate, as long as the input. A stereo input
    is read from its first channel (a note says so) and another rate is resampled to the
    model's (a warning); OUT_WAV's folders are created, an existing OUT_WAV is replaced.
    """
    from pedaltool.outfile import check_output_wav

    check_output_wav(out_wav, [model, in_wav], "render writes a WAV file (32-bit float)")
    is_pedal, data = _read_model(model)
    if is_pedal:
        if slim is not None:
            raise PedaltoolError(f"{model}: --slim applies to .nam captures only")
        _render_pedal(model, in_wav, out_wav, engine, data)
        return
    if engine != "host":
        raise PedaltoolError(f"{model}: --engine {engine} applies to .pedal models only")
    from pedaltool import audio, nam
    from pedaltool.nam.model import check_finite_output

    m = nam.load(model, slim=slim, data=data, order_hint=True)  # (MODEL IN.wav: an order)
    say_lines(_unslimmable(model, slim, data))
    clip = audio.read_wav(in_wav, rate_hz=m.sample_rate, order_hint=True)
    say_notes(m.notes, model.name)
    say_notes(clip.notes, in_wav.name)
    n = len(clip.samples)
    if clip.duration_s >= PROGRESS_MIN_SECONDS:
        with _progress(n) as tick:
            y = m.render(clip.samples, progress=tick)
    else:
        y = m.render(clip.samples)
    # the capture's fault, not the WAV's: said before writing
    check_finite_output(y, str(model), f"on {in_wav.name}: its weights are broken; nothing "
                        "written")
    _say_loud_output(y, out_wav)
    audio.write_wav(out_wav, y, m.sample_rate, make_folder=True)
    click.echo(_wrote(out_wav, n, m.sample_rate))


@contextlib.contextmanager
def _progress(total: int):
    """A callback(done) for long work: a bar on a terminal, else a line every few seconds
    (``pedaltool.progress.every``)."""
    if sys.stderr.isatty():
        with click.progressbar(length=total, label="rendering", file=sys.stderr) as bar:
            last = [0]

            def tick(k: int) -> None:
                bar.update(k - last[0])
                last[0] = k

            yield tick
        return
    yield every(progress_printer(), total)


def _say_loud_output(y, out_wav: Path) -> None:
    """A capture that outputs far beyond full scale: the float WAV keeps it, a player clips."""
    from pedaltool.audio import peak_dbfs

    peak = peak_dbfs(y)
    if peak > 0.0:
        say_progress(f"warning: {out_wav}: the output peaks at {peak:+.1f} dBFS (above full "
                     "scale; the float WAV keeps it, a player or a converter will clip)")


def _wrote(path: Path, n: int, rate: float) -> str:
    """What was written: the rate as the WAV header holds it (a whole number of Hz, as
    audio.write_wav rounds it; a .nam may give 48000.5)."""
    return f"wrote {path} ({n} samples, {round(float(rate))} Hz, float32)"


def _read_model(model: Path) -> tuple[bool, bytes | None]:
    """(is ``model`` a .pedal model?, its bytes when it is a pipe or a device, else None).
    A .pedal by its first bytes (a copy renamed .bin is still one), a .nam by its JSON
    whatever its name (render and info take either: an audit's capture saved as x.pedal was
    refused by the .pedal reader with "check the order of the arguments"), else by its name;
    a file that cannot be read goes to the reader its name says, which says why. A pipe
    (``info <(cat x.nam)``, ``cat x.nam | info /dev/stdin``, as ``fit`` takes) is read
    whole here, once, and its bytes go to the reader: its first bytes, read apart, would be
    gone for the reader (an audit: `info <(cat x.pedal)` said "empty file")."""
    from pedaltool.filekind import file_kind, head_of, stream_bytes
    from pedaltool.nam.file import MAX_FILE_BYTES  # (the larger limit: a .pedal's is 64 kB)

    named = model.suffix.lower() == ".pedal"
    try:
        data = stream_bytes(model, MAX_FILE_BYTES)
    except OSError as exc:
        raise PedaltoolError(f"{model}: cannot read ({exc.strerror or exc})") from None
    head = head_of(model) if data is None else data[:64]
    if head is None:
        return named, None
    kind = file_kind(head)
    return kind == "pedal" or (named and kind != "nam"), data


def _render_pedal(model: Path, in_wav: Path, out_wav: Path, engine: str,
                  data: bytes | None) -> None:
    from pedaltool.pedal import render_file

    with _progress(100) as tick:
        rep = render_file(model, in_wav, out_wav, engine=engine, make_folder=True,
                          progress=lambda done, total: tick(
                              int(100 * max(0.0, min(1.0, done / max(total, 1))))),
                          data=data)
    say_notes(rep["notes"], in_wav.name)
    click.echo(_wrote(out_wav, rep["samples"], rep["rate_hz"]))


def _unslimmable(model: Path, slim: float | None, data: bytes | None) -> list[str]:
    """A --slim that cannot change the capture: a note to say, not silence. ``data``: the
    capture's bytes, read already (a pipe's), or None."""
    from pedaltool import nam

    if slim is not None and nam.slim_changes_nothing(model, data):
        return [f"note: {model.name}: not a slimmable model, --slim {slim:g} changes nothing"]
    return []
