"""The root click group and the error policy shared by every command.

Commands live in one module per room (``nam_cmds``, ``fit_cmds``, ``pedal_cmds``,
``device_cmds``) and only parse options, call one library function and print.
"""

import atexit
import errno
import os
import signal
import sys
import threading
import time

import click

from pedaltool import __version__, json_text
from pedaltool.errors import PedaltoolError, debugging, internal_error_text
from pedaltool.printable import shown


def interrupt_text(exc: KeyboardInterrupt) -> str:
    """How an interrupt is said (after ``error: ``, and in a JSON report's ``error``), with
    what a command adds to it (its ``detail``: e.g. which captures a batch finished)."""
    said = (f"stopped ({signal.Signals(exc.signum).name})" if isinstance(exc, Stopped)
            else "interrupted")
    detail = getattr(exc, "detail", "")
    return f"{said} {detail}" if detail else said


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (kill, timeout, a closed terminal) in the command's own process. A
    KeyboardInterrupt, so that every clean-up that Ctrl-C runs (stopping a fit's worker
    processes, removing half-written files) runs for these too."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop_on_signals() -> None:
    """Raise :class:`Stopped` on SIGTERM/SIGHUP here; a forked worker that inherits the handler
    dies of the signal as before (its parent stops it that way), the temporary file of a
    write it had under way removed first (``outfile.remove_unfinished``)."""
    main_pid = os.getpid()

    def handler(signum, frame):
        if os.getpid() != main_pid:
            outfile = sys.modules.get("pedaltool.outfile")
            if outfile is not None:  # (not imported: nothing written)
                outfile.remove_unfinished()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Stopped(signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), handler)
            except ValueError:  # not the main thread (a command run from a thread): as before
                return
    _redeliver_swallowed_interrupts()


def _redeliver_swallowed_interrupts() -> None:
    """An interrupt that lands in a callback from C (numba's LLVM compiling, a ctypes
    callback) or in a finalizer cannot leave it: Python prints "Exception ignored ..." with a
    traceback and goes on. An audit saw `render` on a cold numba cache (the first run after
    an install) run to the end and exit 0 after SIGTERM or Ctrl-C, with that traceback. Such
    an interrupt is sent again, from a thread, a moment later: it is handled once this one is
    back in Python code, out of the callback (sent at once, it was handled in this hook, and
    lost again); other unraisable exceptions are said as before."""
    if getattr(sys.unraisablehook, "_pedaltool", False):
        return
    previous = sys.unraisablehook

    def hook(unraisable):
        exc = unraisable.exc_value
        if isinstance(exc, KeyboardInterrupt):
            signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
            threading.Thread(target=_send_later, args=(os.getpid(), signum),
                             daemon=True).start()
            return
        previous(unraisable)

    hook._pedaltool = True
    sys.unraisablehook = hook


def _send_later(pid: int, signum: int) -> None:
    """``signum`` to ``pid`` in a moment: once the hook that asks for it has returned."""
    time.sleep(0.05)
    os.kill(pid, signum)


def say_error(text: str) -> None:
    """``text`` on stderr, if there still is one (a closed terminal raises on write)."""
    try:
        click.echo(text, err=True)
    except OSError:  # the terminal is gone (SIGHUP)
        pass


class FilePath(click.Path):
    """click.Path that refuses an empty name: ``Path("")`` is ".", so `info ""` said ".: is a
    directory" and `fit ""` started fitting before it (a review)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value:
            self.fail("an empty file name", param, ctx)
        return super().convert(value, param, ctx)


_stderr_gone = False  # stderr refused a line (full, a closed pipe): say_progress stops


def say_progress(text: str, nl: bool = True) -> None:
    """``text`` on stderr if it takes it. Progress lines and notes are the command's
    commentary, not its product: a full or closed stderr (``2>/dev/full``, ``2>&1 | head
    -1``) silences them for the rest of the command instead of stopping the work, which still
    writes its files and its result (a review: a fit stopped at its first progress line and
    recorded "internal error (OSError ...)" in its report)."""
    global _stderr_gone
    if _stderr_gone:
        return
    try:
        click.echo(text, err=True, nl=nl)
    except OSError as exc:
        if not isinstance(exc, BrokenPipeError) and exc.errno not in _STREAM_ERRNOS:
            raise
        _stderr_gone = True


def progress_printer(prefix: str = "", t0: float | None = None):
    """say(msg): ``  [seconds since t0] <prefix>msg`` on stderr (:func:`say_progress`; t0:
    now when not given)."""
    t0 = time.time() if t0 is None else t0

    def say(msg: str) -> None:
        say_progress(f"  [{time.time() - t0:6.1f} s] {prefix}{msg}")

    return say


def say_lines(lines: list[str]) -> None:
    """``lines`` on stderr, one each (:func:`say_progress`)."""
    for line in lines:
        say_progress(line)


def echo_lines(lines: list[str]) -> None:
    """``lines`` on stdout in one write: a command's report (a table and what follows it).
    click.echo flushes every line, so a reader that stops after the first (``| head -1``)
    left before the next write or after it, as the scheduler had it, and the command exited
    1 or 0 by chance (a review); a reader that is there takes one write whole (a pipe holds
    64 kB), and one that is gone fails it: exit 1 (_closed_pipe_exit)."""
    if lines:
        click.echo("\n".join(lines))


def say_notes(notes: list[str], where: str) -> None:
    """What was done to an input (``where``: its name) on stderr (``audio.note_lines``)."""
    from pedaltool.audio import note_lines

    say_lines(note_lines(notes, where))


def json_option(ctx: click.Context, param: click.Parameter, value):
    """The callback of every ``--json`` option: a command that prints JSON on stdout (the
    flag, or ``-``) prints an error there too, as ``{"error": ...}``, so that a script parsing
    stdout gets that rather than nothing (``PedaltoolGroup``)."""
    if _json_to_stdout(value):
        ctx.meta["json_stdout"] = True
    return value


def _json_to_stdout(value) -> bool:
    """A ``--json`` option's value that means stdout: the flag given, or ``-``."""
    return value is True or str(value) == "-"


def json_on_stdout(cmd: click.Command, args: list[str]) -> bool:
    """Does the command line ``args`` ask ``cmd`` for JSON on stdout (its ``--json`` flag, or
    ``--json -``)? For a usage error, raised before click has read the options (else
    json_option knows)."""
    opt = next((p for p in cmd.params if "--json" in getattr(p, "opts", ())), None)
    if opt is None:
        return False
    if cmd.name in args:  # the command line after the command's name
        args = args[args.index(cmd.name) + 1:]
    # click's own parser, told to read what it can: a "--json" that is another option's value
    # stays that value, an unknown option is skipped
    pctx = click.Context(cmd, ignore_unknown_options=True, resilient_parsing=True)
    try:
        value = cmd.make_parser(pctx).parse_args(list(args))[0].get(opt.name)
    except click.UsageError:
        return False
    return _json_to_stdout(value)


def echo_json(data, indent: int | None = 2) -> None:
    """``data`` on stdout as :func:`json_text`; an error after it is then not added there
    (json_on_stdout)."""
    click.echo(json_text(data, indent))
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # (a context's meta is its parents')
        ctx.meta["json_sent"] = True


class PedaltoolGroup(click.Group):
    """Turns user errors into one line on stderr and exit code 2, never a traceback; a command
    asked for JSON on stdout gets ``{"error": ...}`` there as well."""

    argv: list[str] = []

    def main(self, *args, **kwargs):
        """click's own main, with a usage error (a bad option or argument) as one line like
        every other error, instead of click's usage + hint + error block."""
        kwargs["standalone_mode"] = False
        argv = kwargs.get("args", args[0] if args else None)
        self.argv = list(argv) if argv is not None else sys.argv[1:]
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `pedaltool`: the help
                exc.show()
                sys.exit(exc.exit_code)
            ctx = exc.ctx or click.Context(self, info_name="pedaltool")
            cmd = ctx.command
            if cmd is self and self.argv:  # (a missing option value comes without a context)
                cmd = self.get_command(ctx, self.argv[0]) or self
            where = ctx.command_path + ("" if cmd is ctx.command else f" {cmd.name}")
            # one line: click lays a choice's list out over several ("Choose from:\n\ton,")
            msg = " ".join(exc.format_message().split())
            self._json_error(ctx, ctx.meta.get("json_stdout") or json_on_stdout(cmd, self.argv),
                             msg)
            say_error(f"error: {msg} (see `{where} --help`)")
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            try:
                exc.show()
            except OSError:  # stderr is gone: the exit code still says it
                pass
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            say_error("error: aborted")
            sys.exit(1)
        except OSError as exc:  # e.g. --help into a full disk
            _os_error(exc)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context):
        global _stderr_gone
        _stderr_gone = False  # (a command run in the same process has its own stderr)
        _stop_on_signals()
        try:
            return super().invoke(ctx)
        except PedaltoolError as exc:
            self._json_error(ctx, ctx.meta.get("json_stdout"), str(exc))
            # one line even when a file name given holds a newline or an escape (a review)
            say_error(f"error: {shown(str(exc))}")
            sys.exit(2)
        except KeyboardInterrupt as exc:  # Ctrl-C, or a Stopped by SIGTERM/SIGHUP
            why = interrupt_text(exc)
            self._json_error(ctx, ctx.meta.get("json_stdout"), why)
            say_error(f"error: {why}")
            sys.exit(128 + exc.signum if isinstance(exc, Stopped) else 130)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except OSError as exc:
            if not isinstance(exc, BrokenPipeError):  # (a closed pipe: no one reads it)
                self._json_error(ctx, ctx.meta.get("json_stdout"), _os_error_text(exc))
            _os_error(exc)
        except Exception as exc:  # an internal bug: still one line unless asked for detail
            if not debugging():
                self._json_error(ctx, ctx.meta.get("json_stdout"), internal_error_text(exc))
            _internal_error(exc)

    def _json_error(self, ctx: click.Context, wanted: bool, text: str) -> None:
        """``{"error": text}`` on stdout, on one line, if the command was asked for JSON there
        and printed none (a command that reports its own failure as JSON prints that). One
        line as `status --json` promises its output (it came indented over four: an audit)."""
        if wanted and not ctx.meta.get("json_sent"):
            try:
                from pedaltool import json_report

                click.echo(json_text(json_report({"error": text}), indent=None))
            except OSError:  # stdout is gone: the line on stderr still says it
                pass


# a redirected output that fills up or goes away (a closed pipe: _os_error)
_STREAM_ERRNOS = tuple(getattr(errno, n) for n in ("ENOSPC", "EIO", "EDQUOT", "EFBIG")
                       if hasattr(errno, n))


def _is_stream_error(exc: OSError) -> bool:
    """Whether ``exc`` is the terminal's or a redirected output's (full, gone), not a file's."""
    return exc.filename is None and exc.errno in _STREAM_ERRNOS


def _os_error_text(exc: OSError) -> str:
    """What :func:`_os_error` says of ``exc`` (without "error: ")."""
    if _is_stream_error(exc):
        return f"cannot write the command's output ({exc.strerror or exc})"
    return internal_error_text(exc)


def _os_error(exc: OSError) -> None:
    """An OSError no file's code turned into a PedaltoolError naming the file: the terminal
    or the file the output is redirected to (full, gone) is one line and exit code 2 (any
    file the command wrote is complete); anything else is an internal error. A pipe whose
    reader went away (``| head``) ends the command quietly."""
    if isinstance(exc, BrokenPipeError) and exc.filename is None:
        _closed_pipe_exit()
    if not _is_stream_error(exc):
        _internal_error(exc)
    say_error(f"error: {_os_error_text(exc)}")
    sys.exit(2)


# A closed pipe (its reader gone: ``| head -1``, ``| true``) is said by the exit status
# alone, the same wherever it is met, with no traceback and no "Exception ignored": 1 when a
# write to stdout failed in a command that had not failed on its own, as click exits when
# its own help meets one and as Python's documentation does it (not 141, which says that a
# process was killed by SIGPIPE: this one ran its clean-up, its files written or removed).
# A command that failed on its own keeps its status, its error line said where stderr
# still takes it (say_error); a stderr whose reader went away changes nothing
# (say_progress). A reader that goes away after the last write makes no write fail, and
# the status is the command's: so a report is one write (echo_lines), which a reader still
# there takes whole, not one a line, of which the later ones failed or not by timing.
CLOSED_PIPE_EXIT = 1


def _closed_pipe_exit() -> None:
    """A stream's reader went away while the command wrote its output: exit quietly with
    CLOSED_PIPE_EXIT. What is still buffered for stdout would fail again at exit, so it
    goes nowhere."""
    _to_devnull(sys.stdout)
    sys.exit(CLOSED_PIPE_EXIT)


def _to_devnull(stream) -> None:
    """What is still buffered for ``stream`` (stdout or stderr), and what comes, goes
    nowhere: its file descriptor is /dev/null's from here on."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, stream.fileno())
    except (OSError, ValueError):  # (not a file: a test's capture)
        pass
    finally:
        os.close(null)


def _internal_error(exc: Exception) -> None:
    """An internal bug: one line unless asked for detail (then the traceback), exit code 3;
    out of memory, not a bug, with the exit code of an input too big: 2."""
    if debugging():
        raise exc
    say_error(f"error: {internal_error_text(exc)}")
    sys.exit(2 if isinstance(exc, MemoryError) else 3)


@click.group(cls=PedaltoolGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pedaltool")
def main() -> None:
    """pedaltool: turn a Neural Amp Modeler capture (.nam) into a tiny real-time block model
    for a MicroPython guitar pedal, verify it bit-exactly, and flash it.

    \b
    Typical use:
      pedaltool fit amp.nam        # writes ./pedals/amp.pedal and prints its accuracy
      pedaltool flash              # finds the pedal on USB and uploads the bank
      pedaltool demo               # the whole product with no hardware
    """


def run() -> None:
    """The ``pedaltool`` console script: :data:`main`, then an exit that skips the
    interpreter's teardown of the modules it imported, once nothing is left to finish (no
    other thread, stdout and stderr flushed, the atexit handlers run). On the 2-core machine
    of docs/fitting.md that teardown took 0.34 s once the fitter was imported and its numba
    kernels loaded (0.22 s after the imports alone); anything unusual exits the ordinary
    way."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # started with it closed (`>&-`): Python gives None
            setattr(sys, name, open(os.devnull, "w"))  # what goes there goes nowhere
    try:
        main()
    except SystemExit as exc:
        if not (exc.code is None or isinstance(exc.code, int)):
            raise
        try:
            code = _flushed(exc.code or 0)
        except OSError:  # e.g. a full disk: Python's own exit reports it
            raise exc from None
        if threading.active_count() > 1:  # the ordinary exit, with nothing left to flush
            sys.exit(code)
        atexit._run_exitfuncs()
        try:
            code = _flushed(code)  # (what the handlers printed)
        except OSError:  # as above (the handlers have run, and are not run again)
            sys.exit(code)
        os._exit(code)


def _flushed(code: int) -> int:
    """Flush stdout and stderr; return the exit status: ``code``, or CLOSED_PIPE_EXIT when
    stdout's reader went away from a command that had succeeded (a closed stderr changes
    nothing). A stream that failed is /dev/null's from here on, so that the interpreter's
    own flush at exit neither fails nor says "Exception ignored". OSError: stdout's other
    failures (a full disk)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _to_devnull(sys.stdout)
        code = code or CLOSED_PIPE_EXIT
    try:
        sys.stderr.flush()
    except OSError:
        _to_devnull(sys.stderr)
    return code
