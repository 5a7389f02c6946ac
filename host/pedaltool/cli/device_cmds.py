"""Device commands: flash, console, set, preset, bypass, save, status, install-micropython,
virtual, demo. Thin: parse, call one function of ``pedaltool.device``, print."""

from __future__ import annotations

import json
import signal
import time

import click

from pedaltool.cli.base import (
    FilePath,
    echo_json,
    echo_lines,
    json_option,
    main,
    say_notes,
    say_progress,
)
from pedaltool.printable import shown

PORT = click.option("--port", "-p", default=None, metavar="PORT",
                    help="Serial port of the pedal (default: $PEDALTOOL_PORT, else search USB and "
                         "running virtual pedals).")


class _FlashProgress:
    """Per-file progress lines on stderr for ``flash``; :meth:`end_line` ends a file's line
    left open by an error, so that the error starts its own."""

    def __init__(self):
        self.open = False

    def __call__(self, event, step, n):
        if event == "start":
            verb = {"upload": "upload", "copy": "copy  ", "keep": "keep  "}[step.action]
            # (a bank file's name may hold a line break: escaped, as `preset list` shows it)
            self._say(f"  {verb} {shown(step.rel)} ({step.size} bytes) ", nl=False)
        elif event == "retry":
            self._say("[hash mismatch, retrying] ", nl=False)
        elif event == "resync":  # a garbled exchange (a noisy line), not a wrong hash
            self._say("[no clean answer, retrying] ", nl=False)
        elif event == "done":
            self._say("ok" if step.action == "keep" else "verified")
        elif event == "stop":  # (even with nothing to write: an audit lost a preset so)
            self._say("  stopping the pedal's program to read its files (knob and preset "
                      "changes not stored with `pedaltool save` are dropped)")
        elif event == "restart":
            self._say("  restarting the pedal ...")

    def _say(self, text: str, nl: bool = True) -> None:
        say_progress(text, nl)  # (a full or closed stderr must not stop a flash half-way)
        self.open = not nl

    def end_line(self) -> None:
        if self.open:
            self._say("")


@main.command()
@PORT
@click.option("--board", "-b", default=None, metavar="NAME",
              help="Board profile (default: recognised from the board).")
@click.option("--bank", "bank_dir", default="pedals", show_default=True, metavar="DIRECTORY",
              type=FilePath(), help="Folder of .pedal files to put on the pedal.")  # (a file
# here is refused by flash.bank_files, in the words troubleshooting.md lists, not click's)
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing. The "
              "pedal's program is stopped to read its files and started again: unsaved knob "
              "and preset changes are lost (`pedaltool save` keeps them).")
@click.option("--models-only", is_flag=True, help="Update the pedal models, keep the firmware.")
def flash(port, board, bank_dir, dry_run, models_only):
    """Put the firmware, board profile and pedal bank on the pedal (safe A/B update)."""
    from pedaltool.device.flash import flash as do_flash
    from pedaltool.device.replies import preset_label

    progress = _FlashProgress()
    try:
        res = do_flash(port=port, board=board, bank_dir=bank_dir, dry_run=dry_run,
                       models_only=models_only, progress=progress)
    finally:  # an error (or Ctrl-C) says its line on a line of its own
        progress.end_line()
    plan = res.plan
    if dry_run:
        echo_lines([plan.summary()] + ([] if plan.up_to_date else
                   [f"  would {s.action:6s} {shown(s.rel)} ({s.size} bytes)" for s in plan.steps]
                   + [f"  would delete {shown(r)}" for r in plan.stale]))
        return
    st = res.status or {}
    echo_lines([plan.summary(),
                f"pedal running preset {preset_label(st.get('preset'), st.get('name'))} from slot "
                f"{plan.target if not plan.up_to_date else plan.current}; done in "
                f"{res.seconds:.1f} s"])


@main.command()
@PORT
@click.option("--raw", is_flag=True, help="Print the pedal's protocol lines as they come "
              "(@status {...}), not as readable text.")
def console(port, raw):
    """Interactive console to the pedal (history with the arrow keys; quit with Ctrl-]).

    Commands: help, status, set KEY VALUE, preset N|next|prev|list, bypass on|off|toggle,
    save, bench. Replies are shown as `pedaltool status` and `preset` show them."""
    from pedaltool.device.console import interactive
    from pedaltool.device.replies import readable_reply

    interactive(port, show=None if raw else readable_reply)


def _one(port, command):
    from pedaltool.device.console import one_shot

    reply = one_shot(port, command)
    if isinstance(reply.data, (dict, list)):
        click.echo(json.dumps(reply.data, indent=1))
    else:
        click.echo(shown(reply.payload))  # ("preset 2 NAME": a name from a file)
    return reply


@main.command(name="set", short_help="Set a knob or parameter on the pedal (set drive 0.7).",
              context_settings={"ignore_unknown_options": True})  # a value may be negative
@PORT
@click.argument("key")
@click.argument("value")
def set_(port, key, value):
    """Set a knob or parameter on the pedal, e.g. `pedaltool set drive 0.7`.

    KEY: drive, tone or level, VALUE 0..1 (or `pot`: follow the physical knob again); or
    gate, VALUE a threshold in dBFS (-120..0) or `off`. `pedaltool save` keeps it."""
    _one(port, f"set {key} {value}")


@main.command(context_settings={"ignore_unknown_options": True})  # `preset -1`: a number
@PORT
@click.argument("which", default="list")
def preset(port, which):
    """Select a preset: a number (1 = the first), `next`, `prev`, or `list` (default)."""
    if which.lower() != "list":
        _one(port, f"preset {which}")
        return
    from pedaltool.device.console import one_shot
    from pedaltool.device.replies import preset_lines

    echo_lines(preset_lines(one_shot(port, "preset list").data))


@main.command()
@PORT
@click.argument("state", type=click.Choice(["on", "off", "toggle"]), default="toggle",
                metavar="[on|off|toggle]")
def bypass(port, state):
    """Bypass the effect (on), engage it (off), or switch it over (toggle, the default), as
    the footswitch does."""
    _one(port, f"bypass {state}")


@main.command()
@PORT
def save(port):
    """Store the current preset and knob settings on the pedal."""
    _one(port, "save")


@main.command()
@PORT
@click.option("--json", "as_json", is_flag=True, callback=json_option,
              help="The status as one line of JSON, for scripts (an error is a JSON "
                   "object too).")
def status(port, as_json):
    """Show what the pedal is doing: preset, knobs, levels, CPU load."""
    from pedaltool.device.console import one_shot

    st = one_shot(port, "status").data
    if as_json:  # with the schema every --json report carries (docs/fitting.md)
        from pedaltool import json_report

        echo_json(json_report(st), indent=None)
        return
    from pedaltool.device.replies import status_lines

    echo_lines(status_lines(st))


@main.command(name="install-micropython")
@click.option("--port", "-p", default=None, metavar="PORT",
              help="Serial port of the board (default: the only USB board found; "
                   "$PEDALTOOL_PORT and virtual pedals are not used here).")
@click.option("--board", "-b", required=True, metavar="NAME", help="Board profile name.")
@click.option("--erase", is_flag=True, help="Erase the whole flash first (ESP32 family).")
@click.argument("firmware", required=False, type=FilePath(exists=True, dir_okay=False))
def install_micropython(port, board, erase, firmware):
    """Install MicroPython on a board (esptool for ESP32, UF2 copy for RP2040/RP2350).

    FIRMWARE is the MicroPython image for the board from micropython.org/download (.bin for
    the ESP32 family, .uf2 for RP2040/RP2350); without it the command names the one to
    download."""
    from pedaltool.device.install import install

    for line in install(board, firmware, port=port, erase=erase):
        click.echo(line)


@main.command()
@click.option("--input", "input_wav", type=FilePath(exists=True, dir_okay=False),
              help="DI WAV fed to the pedal's input (default: silence).")
@click.option("--output", "output_wav", type=FilePath(dir_okay=False),
              help="WAV the pedal's output is written to.")
@click.option("--fs", "fs_dir", type=FilePath(), metavar="DIRECTORY",
              help="Keep the pedal's filesystem in this folder (default: a temp folder).")
# (--fs and demo's --out: a file there is refused by outfile.check_folder_writable, in the
# words troubleshooting.md lists, not click's)
def virtual(input_wav, output_wav, fs_dir):
    """Run a virtual pedal (real firmware in the MicroPython unix port) on a serial port."""
    from pedaltool.device.virtual import VirtualPedal

    # checked here, in one line: the pedal itself would only fail to start, and `flash` say so
    vp = VirtualPedal(fs_dir=fs_dir, input_wav=input_wav, output_wav=output_wav, register=True)
    # Ctrl-C (and a plain `kill`) stop it cleanly, also when a script started it in the
    # background: a non-interactive shell starts background jobs with SIGINT ignored, and
    # Python then never raises KeyboardInterrupt (found when CI ran from such a script)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    _run_virtual(vp)


def _run_virtual(vp) -> None:
    """Start the virtual pedal ``vp``, print how to reach it and run until Ctrl-C or a kill."""
    port = vp.start()  # (a failed start leaves nothing behind)
    try:  # a closed stdout (`virtual | true`) stops it too: it left its registry entry and
        # its folder behind (a review)
        say_notes(vp.input_notes, vp.input_wav.name if vp.input_wav else "input")
        echo_lines([f"virtual pedal on {port}", f"  filesystem: {vp.fs_dir}",
                    f"  try: pedaltool flash --port {port}   (then: pedaltool status --port "
                    f"{port})", "  stop with Ctrl-C"])
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        # a second Ctrl-C (or kill) during the clean-up left its folders behind (an audit)
        held = [(sig, signal.signal(sig, signal.SIG_IGN)) for sig in (signal.SIGINT,
                                                                       signal.SIGTERM)]
        try:
            vp.stop()
        finally:
            for sig, handler in held:
                signal.signal(sig, handler)
        click.echo("virtual pedal stopped")


@main.command()
@click.option("--out", "out_dir", default="pedaltool-demo", show_default=True,
              metavar="DIRECTORY", type=FilePath(), help="Folder for the WAVs, plot and report "
              "(created if missing; the demo's own files in it are replaced).")
@click.option("--quick", is_flag=True, help="A quicker, less exact fit.")
def demo(out_dir, quick):
    """The whole product without hardware: fit, flash a virtual pedal, play, turn a knob."""
    from pedaltool.device.demo import run_demo

    run_demo(out_dir, echo=click.echo, effort="quick" if quick else "normal")
