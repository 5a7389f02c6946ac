"""Writing output files: atomically, so a failure never leaves a half-written file, with the
permissions a plain ``open()`` would give, and with a one-line error naming the file.

Every file pedaltool writes for the user (.pedal, WAV, JSON reports) goes through
:func:`write_atomic`; :func:`check_writable` lets a command refuse an output location before
long work (a fit) instead of after it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path

from pedaltool.errors import PedaltoolError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The temporary files of the writes under way in this process (:func:`remove_unfinished`).
_unfinished: set[str] = set()


def _unlink_quietly(path: str) -> None:
    _unfinished.discard(path)
    try:
        os.unlink(path)
    except OSError:
        pass


def remove_unfinished() -> None:
    """Remove the temporary file of every write under way here, for a process about to die
    of a signal without its clean-up: a batch's worker stopped by its parent left its
    .pedal's temporary file in the bank when stopped while it wrote it (an audit)."""
    for tmp in list(_unfinished):
        _unlink_quietly(tmp)


def write_atomic(path: str | os.PathLike, data: bytes, make_folder: bool = False,
                 error: type[PedaltoolError] = PedaltoolError) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.
    ``make_folder`` creates missing folders first. Any OSError becomes ``error`` with the
    message ``<path>: cannot write (<reason>)``; the temporary file is removed."""
    return write_atomic_set([(path, data)], make_folder, error)[0]


def write_atomic_set(files: list[tuple[str | os.PathLike, bytes]], make_folder: bool = False,
                     error: type[PedaltoolError] = PedaltoolError) -> list[Path]:
    """:func:`write_atomic` for files that belong together (an A/B pair): every one is written
    to its temporary file first, and only when all are complete are they renamed into place,
    so a failure (a full disk) leaves the old set, not a mix of old and new files, and no
    folder that ``make_folder`` created for it."""
    staged: list[tuple[str, Path, Path]] = []
    made: list[Path] = []  # the folders missing before: made by _stage
    try:
        for path, data in files:
            target = _through_links(Path(path))
            if make_folder:
                made += [f for f in _missing_folders(target) if f not in made]
            staged.append((_stage(target, data, make_folder, error, Path(path)), target,
                           Path(path)))
        with _signals_held(len(staged) > 1):  # (one rename is atomic by itself)
            for tmp, target, p in staged:
                try:
                    os.replace(tmp, target)
                    _unfinished.discard(tmp)
                except OSError as exc:
                    raise error(f"{p}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        for tmp, _, _ in staged:  # those not renamed yet
            _unlink_quietly(tmp)
        # (an audit: `compare --ab new` on a full disk left an empty new/)
        for folder in sorted(made, key=lambda f: len(f.parts), reverse=True):
            try:
                os.rmdir(folder)
            except OSError:  # not made after all, or something else was put there
                pass
        raise
    return [p for _, _, p in staged]


@contextlib.contextmanager
def _signals_held(hold: bool = True):
    """Ctrl-C, SIGTERM and SIGHUP held until the block ends, then handled as they would have
    been: a set's renames are not cut in two, a mix of old and new files (an audit). Only in
    the main thread (where Python runs signal handlers); a signal ignored stays ignored."""
    if not hold or threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    saved = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        old = None if sig is None else signal.getsignal(sig)
        if old is None or old == signal.SIG_IGN:  # (None: not set from Python)
            continue
        saved[sig] = old
        signal.signal(sig, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
        for sig in got:
            signal.raise_signal(sig)  # its own handler now: KeyboardInterrupt, Stopped, ...


def _missing_folders(p: Path) -> list[Path]:
    """The folders on the way to the file ``p`` that do not exist yet."""
    existing, missing = _nearest_existing(p)
    folders = []
    for name in reversed(missing[1:]):  # (missing[0] is the file's own name)
        existing = existing / name
        folders.append(existing)
    return folders


def _through_links(p: Path) -> Path:
    """The file a write to ``p`` should replace: a symlink's target, as a plain ``open()``
    writes through it (renaming onto the link itself replaced the link with a file), else
    ``p``."""
    return Path(os.path.realpath(p)) if os.path.islink(p) else p


def _mode_for(p: Path) -> int:
    """The permissions a plain ``open(p, "wb")`` would leave: an existing file's own (a
    replaced 0640 file stayed 0640 that way, and became 0644 here until an audit found it),
    else 0666 less the umask."""
    try:
        return os.stat(p).st_mode & 0o777
    except OSError:
        return 0o666 & ~_umask()


def _stage(p: Path, data: bytes, make_folder: bool, error: type[PedaltoolError],
           shown: Path) -> str:
    """``data`` in a complete, synced temporary file beside ``p``: its name. Errors name
    ``shown`` (the path as given: ``p`` may be a link's target)."""
    folder = p.parent if str(p.parent) else Path(".")
    try:
        if make_folder:
            folder.mkdir(parents=True, exist_ok=True)
        if p.is_dir():
            raise IsADirectoryError(0, "is a folder")
        # a short fixed prefix: the output's own name may already be as long as allowed
        fd, tmp = tempfile.mkstemp(prefix=".pedaltool-", suffix=".tmp", dir=folder)
        _unfinished.add(tmp)
    except OSError as exc:
        # a file put where the folder was, during a long fit: say so, as check_writable
        # does before it ("File exists" alone, an audit)
        why = _not_a_folder(_nearest_existing(p)[0]) or exc.strerror or exc
        raise error(f"{shown}: cannot write ({why})") from None
    try:
        os.fchmod(fd, _mode_for(p))  # mkstemp creates the file 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        _unlink_quietly(tmp)
        raise error(f"{shown}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def check_writable(path: str | os.PathLike, what: str = "output",
                   error: type[PedaltoolError] = PedaltoolError) -> None:
    """Refuse an output file location that cannot work, before any long work: ``path`` is a
    folder, or the nearest existing folder on its way is a file or not writable."""
    p = Path(path)
    if os.path.isdir(p):  # (os.path: False for a name too long, where Path raises)
        raise error(f"{p}: the {what} must be a file name, this is a folder")
    # a link is written through (write_atomic_set): its target's folder is the one to check
    _check_folder_on_the_way(_through_links(p), what, error, shown=p)


def check_folder_writable(path: str | os.PathLike, what: str = "output folder",
                          error: type[PedaltoolError] = PedaltoolError) -> None:
    """Refuse a folder to be written into (created if missing) that cannot work: it is a file,
    or the nearest existing folder on its way is a file or not writable."""
    p = Path(path)
    # (the folder itself a file: "DIR: cannot write the WHAT (DIR is a file, not a folder)",
    # as for a file further up its way)
    _check_folder_on_the_way(p / ".pedaltool-check", what, error, shown=p)


def _nearest_existing(p: Path) -> tuple[Path, list[str]]:
    """(the nearest existing path above the file ``p``, the names below it still to be
    created, ``p``'s own first)."""
    existing = p.parent if str(p.parent) else Path(".")
    missing = [p.name]
    while not os.path.exists(existing) and existing != existing.parent:
        missing.append(existing.name)
        existing = existing.parent
    return existing, missing


def _not_a_folder(existing: Path) -> str | None:
    """"X is a file, not a folder" when ``existing`` (``_nearest_existing``'s) is not a
    folder, else None."""
    return None if os.path.isdir(existing) else f"{existing} is a file, not a folder"


def _check_folder_on_the_way(p: Path, what: str, error: type[PedaltoolError],
                             shown: Path | None = None) -> None:
    """The checks of check_writable for the file ``p`` (named ``shown`` in messages): every
    name still to be created fits the file system, and the nearest existing folder is one
    and can be written."""
    shown = p if shown is None else shown
    existing, missing = _nearest_existing(p)
    blocked = _not_a_folder(existing)
    if blocked:
        raise error(f"{shown}: cannot write the {what} ({blocked})")
    if not os.access(existing, os.W_OK | os.X_OK):
        # (a read-only mount fails os.access too, for root as well: "no permission" sent its
        # owner to chmod, an audit)
        why = "Read-only file system" if _read_only(existing) else "no permission"
        raise error(f"{shown}: cannot write the {what} ({why} in {existing})")
    try:  # root passes os.access; an immutable folder or a read-only mount does not
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".pedaltool-check-"):
            pass
    except OSError as exc:
        raise error(f"{shown}: cannot write the {what} ({exc.strerror or exc} in {existing})"
                    ) from None
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # not known here (Windows has no pathconf)
        name_max = 255
    for name in missing:
        if len(os.fsencode(name)) > name_max:
            raise error(f"{shown}: cannot write the {what} (the name {name[:20]}... is "
                        f"{len(os.fsencode(name))} bytes; the file system allows "
                        f"{name_max})")


def _read_only(folder: Path) -> bool:
    """Is ``folder`` on a file system mounted read-only? (False where that cannot be told.)"""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # (Windows has no statvfs)
        return False


def check_distinct_outputs(outputs, error: type[PedaltoolError] = PedaltoolError) -> None:
    """Refuse two of a command's outputs, ``[(path, what), ...]``, that are one file (by any
    name): the later write would replace the earlier, e.g. the .pedal by the JSON report."""
    seen: list = []
    for path, what in outputs:
        for other, other_what in seen:
            # realpath: a link to a file not written yet is that file (an audit: a dangling
            # link given as the plot, to the .pedal, replaced the model with the PNG)
            if os.path.realpath(path) == os.path.realpath(other) or same_file(path, other):
                raise error(f"{path}: given as both the {other_what} and the {what}; give "
                            "each its own name")
        seen.append((path, what))


def check_not_an_input(path: str | os.PathLike, inputs, what: str = "output",
                       error: type[PedaltoolError] = PedaltoolError,
                       remedy: str = "choose another name") -> None:
    """Refuse an output that is one of the command's input files (the same file, by any
    name): writing it would destroy the input, which may be a capture's only copy.
    ``remedy``: what the user can change (an output whose name is fixed: its folder)."""
    for i in inputs:
        # realpath too: through a folder not made yet, `new/../in.wav` is no file to stat,
        # and the write makes the folder and replaces in.wav (an audit: `render X.pedal
        # in.wav new/../in.wav`, and `compare --ab new/..`, which cut a DI to its first 60 s)
        if i is not None and (same_file(path, i) or (
                os.path.exists(i) and os.path.realpath(path) == os.path.realpath(i))):
            raise error(f"{path}: the {what} would replace the input {i}; {remedy}")


def check_output_wav(path: str | os.PathLike, inputs, writer: str,
                     error: type[PedaltoolError] = PedaltoolError) -> None:
    """Refuse an output WAV that cannot work before anything is played: a name that is not a
    .wav (``writer`` says what writes it, e.g. "render writes a WAV file"), one of the
    ``inputs`` (by any name), a place that cannot be written (:func:`check_writable`)."""
    if Path(path).suffix.lower() != ".wav":
        raise error(f"{path}: {writer}; give a .wav name")
    check_writable(path, "output WAV", error)
    check_not_an_input(path, inputs, "output WAV", error)


def write_figure(fig, path: str | os.PathLike, dpi: int, make_folder: bool = False,
                 error: type[PedaltoolError] = PedaltoolError) -> Path:
    """A matplotlib figure as a PNG, through :func:`write_atomic` (savefig alone writes the
    file in place)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return write_atomic(path, buf.getvalue(), make_folder, error)


def file_id(path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, whichever name it is given by (symlinks, hard
    links); None when it cannot be found."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def same_file(a, b) -> bool:
    """Are ``a`` and ``b`` one existing file, by any names (symlinks, hard links)?"""
    ida = file_id(a)
    return ida is not None and ida == file_id(b)
