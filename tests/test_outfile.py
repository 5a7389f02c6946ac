"""Output files: atomic, with umask permissions, one-line errors, refused before long work."""

import os

import pytest
from pedaltool.errors import AudioFileError, PedaltoolError
from pedaltool.outfile import (
    check_distinct_outputs,
    check_folder_writable,
    check_writable,
    write_atomic,
    write_atomic_set,
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_atomic_replaces_the_file_with_plain_open_permissions(tmp_path):
    p = tmp_path / "report.json"
    p.write_bytes(b"old")
    write_atomic(p, b"new")
    assert p.read_bytes() == b"new"
    assert p.stat().st_mode & 0o777 == 0o666 & ~_umask()  # mkstemp alone would give 0600
    assert [f.name for f in tmp_path.iterdir()] == ["report.json"]  # no temporary left
    # a file with its own permissions keeps them, as open() would (an audit: a 0640 WAV
    # became 0644 when render replaced it)
    p.chmod(0o640)
    write_atomic(p, b"newer")
    assert p.read_bytes() == b"newer" and p.stat().st_mode & 0o777 == 0o640


def test_write_atomic_folders_and_errors(tmp_path):
    with pytest.raises(AudioFileError, match=r"missing[/\\]x.wav: cannot write"):
        write_atomic(tmp_path / "missing" / "x.wav", b"data", error=AudioFileError)
    assert list(tmp_path.iterdir()) == []
    out = write_atomic(tmp_path / "a" / "b" / "x.pedal", b"data", make_folder=True)
    assert out.read_bytes() == b"data"
    (tmp_path / "folder").mkdir()
    with pytest.raises(PedaltoolError, match="cannot write"):
        write_atomic(tmp_path / "folder", b"data")
    assert list((tmp_path / "folder").iterdir()) == []
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    # the reason, not "File exists" (a file put where the folder was during a long fit, an
    # audit), nor "Not a directory" deeper down
    for target in (blocker / "x.json", blocker / "sub" / "x.json"):
        with pytest.raises(PedaltoolError, match=r"cannot write \(.*file.txt is a file, not "
                                                 r"a folder\)"):
            write_atomic(target, b"data", make_folder=True)
    assert blocker.read_text() == "x"


def test_check_writable(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "x.json")  # folders will be created
    check_writable(tmp_path / "x.json")
    with pytest.raises(PedaltoolError, match="must be a file name"):
        check_writable(tmp_path, "plot")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(PedaltoolError, match="is a file, not a folder"):
        check_writable(blocker / "sub" / "x.json", "JSON report")


def test_written_pedal_is_readable_by_others_like_any_file(tmp_path):
    from pedaltool.pedal import read_pedal, write_pedal
    from pedaltool.pedal.accuracy import eq_test_models
    from pedaltool.pedal.quantise import quantise

    p = write_pedal(tmp_path / "bank" / "eq.pedal", quantise(eq_test_models(48000)["hp20"]))
    assert p.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert read_pedal(p).sample_rate == 48000


def test_write_figure_saves_png_bytes_atomically(tmp_path):
    from pedaltool.outfile import write_figure

    class Fig:  # what write_figure needs of a matplotlib figure
        def savefig(self, fh, format, dpi):
            assert format == "png"
            fh.write(b"\x89PNG" + bytes([dpi]))

    out = write_figure(Fig(), tmp_path / "plots" / "a.png", 90, make_folder=True)
    assert out.read_bytes() == b"\x89PNG" + bytes([90])
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_a_name_too_long_for_the_file_system_is_refused_before_work(tmp_path):
    """The longest legal name works (the temporary beside it has a short name of its own);
    one byte more is refused by the check, which runs before a fit, not after it."""
    name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
    longest = tmp_path / ("a" * (name_max - 4) + ".wav")
    check_writable(longest)
    assert write_atomic(longest, b"data").read_bytes() == b"data"
    with pytest.raises(PedaltoolError, match=f"is {name_max + 1} bytes; the file system allows"):
        check_writable(tmp_path / ("b" * (name_max - 3) + ".wav"))
    with pytest.raises(PedaltoolError, match="the file system allows"):  # a folder to create
        check_writable(tmp_path / ("c" * (name_max + 1)) / "x.wav")


def test_a_folder_to_write_into(tmp_path):
    check_folder_writable(tmp_path / "new" / "deeper")
    check_folder_writable(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(PedaltoolError, match=r"a_file: cannot write the demo folder \(.*a_file "
                       r"is a file, not a folder\)$"):
        check_folder_writable(blocker, "demo folder")
    with pytest.raises(PedaltoolError, match=r"cannot write the output folder \(.*a_file is a"):
        check_folder_writable(blocker / "sub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing created


def test_two_outputs_that_are_one_file_are_refused(tmp_path):
    a = tmp_path / "x.pedal"
    check_distinct_outputs([(a, ".pedal"), (tmp_path / "x.json", "JSON report")])
    with pytest.raises(PedaltoolError, match="given as both the .pedal and the JSON report"):
        check_distinct_outputs([(a, ".pedal"), (tmp_path / "." / "x.pedal", "JSON report")])
    a.write_bytes(b"old")
    (tmp_path / "link.png").symlink_to(a)
    with pytest.raises(PedaltoolError, match="link.png: given as both the .pedal and the plot"):
        check_distinct_outputs([(a, ".pedal"), (tmp_path / "link.png", "plot")])


def test_a_set_of_files_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    """An A/B pair: when the last file cannot be written (a full disk), the old set stays,
    with no temporary file left; when all can, all are replaced."""
    import pedaltool.outfile as outfile

    names = [tmp_path / n for n in ("a_capture.wav", "b_pedal.wav", "di.wav")]
    for n in names:
        n.write_bytes(b"old")
    real = outfile._stage

    def stage(p, data, make_folder, error, shown):
        if p.name == "di.wav":
            raise error(f"{shown}: cannot write (No space left on device)")
        return real(p, data, make_folder, error, shown)

    monkeypatch.setattr(outfile, "_stage", stage)
    with pytest.raises(AudioFileError, match="di.wav: cannot write"):
        write_atomic_set([(n, b"new") for n in names], error=AudioFileError)
    assert [n.read_bytes() for n in names] == [b"old"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n.name for n in names)
    monkeypatch.setattr(outfile, "_stage", real)
    assert write_atomic_set([(n, b"new") for n in names]) == names
    assert [n.read_bytes() for n in names] == [b"new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n.name for n in names)


def test_a_symlinked_output_is_written_through_the_link(tmp_path):
    # an audit: render to a symlink replaced the link with a file and left the target old
    (tmp_path / "takes").mkdir()
    target = tmp_path / "takes" / "take3.wav"
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "latest.wav"
    link.symlink_to(os.path.join("takes", "take3.wav"))
    assert write_atomic(link, b"new") == link
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(f.name for f in (tmp_path / "takes").iterdir()) == ["take3.wav"]
    dangling = tmp_path / "next.wav"
    dangling.symlink_to(tmp_path / "takes" / "take4.wav")
    write_atomic(dangling, b"fresh")
    assert dangling.is_symlink() and (tmp_path / "takes" / "take4.wav").read_bytes() == b"fresh"
    # a link whose target cannot be written: refused before work and on writing, by the
    # name given (the review: the target's folder went unchecked, the error named the target)
    (tmp_path / "file.txt").write_text("x")
    blocked = tmp_path / "blocked.wav"
    blocked.symlink_to(tmp_path / "file.txt" / "x.wav")
    with pytest.raises(PedaltoolError, match=r"^.*blocked\.wav: cannot write the output \(.*file"
                                             r"\.txt is a file, not a folder\)$"):
        check_writable(blocked)
    with pytest.raises(PedaltoolError, match=r"^.*blocked\.wav: cannot write \("):
        write_atomic(blocked, b"data")


def test_a_link_to_another_output_not_written_yet_is_that_output(tmp_path):
    """A dangling link given as the plot, pointing at the .pedal about to be written: the
    PNG was written through it over the model (an audit). realpath sees it."""
    (tmp_path / "p.png").symlink_to(tmp_path / "m.pedal")
    with pytest.raises(PedaltoolError, match="given as both the .pedal and the plot"):
        check_distinct_outputs([(tmp_path / "m.pedal", ".pedal"), (tmp_path / "p.png", "plot")])
    check_distinct_outputs([(tmp_path / "n.pedal", ".pedal"), (tmp_path / "p.png", "plot")])



_WORKER_SCRIPT = """
import multiprocessing as mp, os, sys, time
from pedaltool import outfile
from pedaltool.cli import base

base._stop_on_signals()  # as a command has it, and its forked workers inherit
folder = sys.argv[1]

def worker():
    os.fsync = lambda fd: time.sleep(10)  # the write is under way when the parent stops it
    outfile.write_atomic(os.path.join(folder, "amp.pedal"), b"a model")

p = mp.get_context("fork").Process(target=worker)
p.start()
deadline = time.time() + 10
while not os.listdir(folder) and time.time() < deadline:
    time.sleep(0.01)
p.terminate()  # as Workers stops a batch's workers on Ctrl-C
p.join()
print(p.exitcode, sorted(os.listdir(folder)))
"""


def test_a_worker_stopped_while_it_writes_leaves_no_temporary_file(tmp_path):
    """A batch's worker writes its capture's .pedal; stopped by its parent (Ctrl-C on the
    batch) while it wrote, it died of the signal and left .pedaltool-XXXX.tmp in the bank
    (an audit)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _WORKER_SCRIPT, str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "-15 []\n", (r.stdout, r.stderr)


def test_a_write_that_fails_leaves_no_folder_it_made(tmp_path, monkeypatch):
    """A full disk: `compare --ab new` and `render X.pedal in.wav new/out.wav` failed in one
    line but left the empty folders they had made (an audit); folders there before stay."""
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(PedaltoolError, match="cannot write .No space left on device"):
        write_atomic(tmp_path / "new" / "sub" / "out.wav", b"data", make_folder=True)
    (tmp_path / "old").mkdir()
    with pytest.raises(PedaltoolError, match="cannot write .No space left on device"):
        write_atomic_set([(tmp_path / "old" / "a.wav", b"a"),
                          (tmp_path / "old" / "new" / "b.wav", b"b")], make_folder=True)
    assert [p.name for p in tmp_path.iterdir()] == ["old"]
    assert list((tmp_path / "old").iterdir()) == []


def test_a_read_only_file_system_is_said_so(tmp_path, monkeypatch):
    """A folder on a read-only mount was refused with "no permission in FOLDER" (os.access
    fails there for root too), which sent its owner to chmod (an audit)."""
    from types import SimpleNamespace

    real = os.statvfs
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(PedaltoolError, match=r"cannot write the output \(no permission in "):
        check_writable(tmp_path / "out.wav")
    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(
        f_flag=real(path).f_flag | os.ST_RDONLY))
    with pytest.raises(PedaltoolError, match=r"cannot write the output \(Read-only file "
                                             r"system in "):
        check_writable(tmp_path / "out.wav")


def test_an_interrupt_between_the_renames_of_a_set_waits_for_them(tmp_path, monkeypatch):
    """Ctrl-C after the first of an A/B set's renames left a mix of the new first file and
    the old others (an audit); it is handled once all are renamed."""
    import signal

    names = [tmp_path / n for n in ("a_capture.wav", "b_pedal.wav", "di.wav")]
    for n in names:
        n.write_bytes(b"old")
    real = os.replace
    sent = []

    def replace(src, dst):
        real(src, dst)
        if not sent:
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # a handler would run here
            pass

    monkeypatch.setattr(os, "replace", replace)
    # Python's Ctrl-C handler, whatever this process inherited (a job a shell started in the
    # background, as CI under `&`, has SIGINT ignored, and the held signal never comes)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_atomic_set([(n, b"new") for n in names])
    finally:
        signal.signal(signal.SIGINT, before)
    assert [n.read_bytes() for n in names] == [b"new"] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n.name for n in names)
