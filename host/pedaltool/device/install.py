"""``pedaltool install-micropython``: put stock MicroPython on a board.

* ESP32 family: esptool's Python API (``esptool.cmds``: detect_chip, run_stub, attach_flash,
  optional erase_flash, write_flash at the chip's offset, reset_chip). The image's chip ID is
  checked against the board profile before anything is written.
* RP2040 / RP2350: the board is asked to enter its UF2 bootloader (``machine.bootloader()`` over
  the raw REPL; on a blank board hold BOOTSEL while plugging in), the bootloader's USB drive is
  found by its ``INFO_UF2.TXT``, and the ``.uf2`` is copied to it after its UF2 family ID has
  been checked against the chip.

Without a firmware file it says which official file to download for the board. Offsets, family
IDs and file names: ../shared/notes/mcu.md §4.4-4.5 and micropython.org/download/<BOARD>/.
"""

from __future__ import annotations

import os
import shutil
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pedaltool.errors import DeviceError

# -- what each supported MCU needs ----------------------------------------------------------------


@dataclass(frozen=True)
class ChipTarget:
    mcu: str  # as in the board profile: "RP2040", "RP2350", "ESP32", "ESP32-S3"
    port: str  # MicroPython port: "rp2" or "esp32"
    download_board: str  # micropython.org/download/<this>/
    file_ext: str  # ".uf2" or ".bin"
    esptool_chip: str | None = None  # esptool chip name (esp32, esp32s3 ...)
    flash_offset: int | None = None  # where MicroPython's .bin goes (esp32 only)
    uf2_family: int | None = None  # expected UF2 family ID (rp2 only)
    drive_id: str | None = None  # INFO_UF2.TXT Board-ID of the bootloader drive (rp2 only)


UF2_FAMILY_RP2040 = 0xE48BFF56
UF2_FAMILY_ABSOLUTE = 0xE48BFF57
UF2_FAMILY_DATA = 0xE48BFF58
UF2_FAMILY_RP2350_ARM_S = 0xE48BFF59
UF2_FAMILY_RP2350_RISCV = 0xE48BFF5A
UF2_FAMILY_RP2350_ARM_NS = 0xE48BFF5B
UF2_FAMILY_NAMES = {
    UF2_FAMILY_RP2040: "RP2040",
    UF2_FAMILY_ABSOLUTE: "absolute (any RP2)",
    UF2_FAMILY_DATA: "data",
    UF2_FAMILY_RP2350_ARM_S: "RP2350 ARM (secure)",
    UF2_FAMILY_RP2350_RISCV: "RP2350 RISC-V",
    UF2_FAMILY_RP2350_ARM_NS: "RP2350 ARM (non-secure)",
}

TARGETS: dict[str, ChipTarget] = {
    "RP2040": ChipTarget("RP2040", "rp2", "RPI_PICO", ".uf2", uf2_family=UF2_FAMILY_RP2040,
                         drive_id="RPI-RP2"),
    "RP2350": ChipTarget("RP2350", "rp2", "RPI_PICO2", ".uf2",
                         uf2_family=UF2_FAMILY_RP2350_ARM_S, drive_id="RP2350"),
    # MicroPython's ports/esp32/boards/*/board.json deploy_options.flash_offset
    "ESP32": ChipTarget("ESP32", "esp32", "ESP32_GENERIC", ".bin", "esp32", 0x1000),
    "ESP32-S2": ChipTarget("ESP32-S2", "esp32", "ESP32_GENERIC_S2", ".bin", "esp32s2", 0x1000),
    "ESP32-S3": ChipTarget("ESP32-S3", "esp32", "ESP32_GENERIC_S3", ".bin", "esp32s3", 0x0),
    "ESP32-C3": ChipTarget("ESP32-C3", "esp32", "ESP32_GENERIC_C3", ".bin", "esp32c3", 0x0),
    "ESP32-C6": ChipTarget("ESP32-C6", "esp32", "ESP32_GENERIC_C6", ".bin", "esp32c6", 0x0),
}


def target_for_board(board: str) -> tuple[str, ChipTarget]:
    """(board title, ChipTarget) of a board profile name."""
    from pedaltool import boards

    profile = boards.load_board(board)  # (its errors name the board)
    mcu, title = profile.mcu, profile.title
    t = TARGETS.get(mcu.upper())
    if t is None:
        raise DeviceError(f"board {board!r}: no installer for MCU {mcu}")
    return title, t


def download_hint(board: str, t: ChipTarget, title: str = "") -> str:
    """Exactly which official file to fetch for this board."""
    url = f"https://micropython.org/download/{t.download_board}/"
    name = f"{t.download_board}-<date>-v1.<minor>.<patch>{t.file_ext}"
    extra = ""
    if t.mcu == "RP2350":
        extra = " (the ARM build, not the RISCV one)"
    return (
        f"no firmware file given: download the latest release for {title or board} from {url} "
        f"(a file named {name}{extra}, MicroPython 1.23 or newer), then run "
        f"`pedaltool install-micropython --board {board} {name}`"
    )


# -- UF2 -------------------------------------------------------------------------------------------
UF2_MAGIC_START0 = 0x0A324655
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY_ID = 0x00002000
UF2_FLAG_NOT_MAIN_FLASH = 0x00000001


def uf2_families(data: bytes, name: str = "firmware.uf2") -> dict[int, int]:
    """Family ID -> number of blocks, for every block of a UF2 image (checks the framing)."""
    if len(data) == 0 or len(data) % 512:
        raise DeviceError(f"{name}: not a UF2 file (size {len(data)} is not a multiple of 512)")
    fams: dict[int, int] = {}
    for off in range(0, len(data), 512):
        m0, m1, flags, _addr, size, _no, _n, fam = struct.unpack_from("<8I", data, off)
        (end,) = struct.unpack_from("<I", data, off + 508)
        if m0 != UF2_MAGIC_START0 or m1 != UF2_MAGIC_START1 or end != UF2_MAGIC_END:
            raise DeviceError(f"{name}: not a UF2 file (bad magic in block {off // 512})")
        if size > 476:
            raise DeviceError(f"{name}: corrupt UF2 block {off // 512} (payload {size} bytes)")
        if flags & UF2_FLAG_NOT_MAIN_FLASH:
            continue
        key = fam if flags & UF2_FLAG_FAMILY_ID else 0
        fams[key] = fams.get(key, 0) + 1
    return fams


def check_uf2(data: bytes, t: ChipTarget, name: str = "firmware.uf2") -> None:
    """Refuse a UF2 built for another chip (e.g. a Pico 2 file for a Pico)."""
    fams = uf2_families(data, name)
    main = {f for f in fams if f not in (UF2_FAMILY_ABSOLUTE, UF2_FAMILY_DATA)}
    if t.uf2_family in main and main == {t.uf2_family}:
        return
    found = ", ".join(f"0x{f:08X} {UF2_FAMILY_NAMES.get(f, 'unknown')}" for f in sorted(fams))
    if not main and UF2_FAMILY_ABSOLUTE in fams:
        return  # family-agnostic image: the bootloader decides
    raise DeviceError(
        f"{name}: UF2 family {found or 'none'} does not match the {t.mcu} "
        f"(0x{t.uf2_family:08X} {UF2_FAMILY_NAMES[t.uf2_family]}); download the "
        f"{t.download_board} build from https://micropython.org/download/{t.download_board}/"
    )


def uf2_drives(extra_roots: list[Path] | None = None) -> list[tuple[Path, str]]:
    """Mounted UF2 bootloader drives: (mount point, Board-ID from INFO_UF2.TXT)."""
    roots: list[Path] = list(extra_roots or [])
    try:
        with open("/proc/mounts") as f:
            roots += [Path(line.split()[1].replace("\\040", " ")) for line in f]
    except OSError:
        pass
    user = os.environ.get("USER", "")
    bases = (Path("/media") / user, Path("/run/media") / user, Path("/Volumes"), Path("/media"))
    for base in bases:
        if base.is_dir():
            roots += [p for p in base.iterdir() if p.is_dir()]
    found = []
    seen = set()
    for r in roots:
        info = r / "INFO_UF2.TXT"
        if r in seen:
            continue
        seen.add(r)
        try:
            text = info.read_text(errors="replace")
        except OSError:
            continue
        board_id = ""
        for line in text.splitlines():
            if line.lower().startswith("board-id:"):
                board_id = line.split(":", 1)[1].strip()
        found.append((r, board_id))
    return found


def wait_for_drive(t: ChipTarget, timeout_s: float = 30.0, extra_roots=None) -> Path:
    deadline = time.monotonic() + timeout_s
    others: list[tuple[Path, str]] = []
    while time.monotonic() < deadline:
        drives = uf2_drives(extra_roots)
        for path, board_id in drives:
            if board_id.upper().startswith(t.drive_id.upper()):
                return path
        others = drives
        time.sleep(0.5)
    if others:
        listing = ", ".join(f"{p} ({b or 'unknown'})" for p, b in others)
        raise DeviceError(
            f"found UF2 drive(s) {listing} but none is a {t.mcu} ({t.drive_id}); is the right "
            "board connected?"
        )
    raise DeviceError(
        f"no {t.drive_id} drive appeared within {timeout_s:g} s: unplug the board, hold BOOTSEL "
        "while plugging it back in, make sure the drive is mounted (your file manager opens "
        "it), then run the command again"
    )


def enter_uf2_bootloader(port: str) -> None:
    """Ask MicroPython on ``port`` to reboot into the UF2 bootloader (the port then vanishes)."""
    from pedaltool.device.transport import Link

    link = Link(port).open()
    try:
        link.enter_raw()
        try:
            link._t.exec_raw_no_follow("import machine\nmachine.bootloader()")
        except Exception:
            pass  # the USB device disappears mid-reply: expected
    finally:
        try:
            link._t.close()
        except Exception:
            pass


def install_rp2(board: str, t: ChipTarget, firmware: Path, port: str | None,
                drive_roots=None, drive_timeout_s: float = 30.0) -> Iterator[str]:
    data = firmware.read_bytes()
    check_uf2(data, t, firmware.name)
    yield f"{firmware.name}: UF2 for {t.mcu} ({len(data) // 512} blocks)"
    drives = [p for p, b in uf2_drives(drive_roots) if b.upper().startswith(t.drive_id)]
    if not drives:
        from pedaltool.device.discovery import find_pedals

        if port is None:
            rp = [c for c in find_pedals(include_virtual=False) if c.vid == 0x2E8A]
            port = rp[0].port if len(rp) == 1 else None
        if port:
            yield f"{port}: asking MicroPython to enter the UF2 bootloader"
            try:
                enter_uf2_bootloader(port)
                yield (f"waiting up to {drive_timeout_s:g} s for the bootloader drive "
                       f"{t.drive_id}")
            except DeviceError as exc:
                yield f"{port}: could not ({exc}); hold BOOTSEL while plugging the board in"
        else:
            yield "waiting for the bootloader drive: hold BOOTSEL while plugging the board in"
    drive = drives[0] if drives else wait_for_drive(t, drive_timeout_s, drive_roots)
    yield f"copying to {drive}"
    dest = drive / firmware.name
    with open(firmware, "rb") as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    yield "done: the board reboots into MicroPython; next: `pedaltool flash`"


# -- ESP32 -----------------------------------------------------------------------------------------
def esp_image_chip(data: bytes, name: str = "firmware.bin") -> int | None:
    """The chip ID in an ESP image header (None: pre-ESP32 image without the extended header).

    MicroPython's .bin starts with the second-stage bootloader image: byte 0 is 0xE9, and the
    extended header (bytes 8..23) holds the chip ID at bytes 12..13.
    """
    if len(data) < 24 or data[0] != 0xE9:
        raise DeviceError(f"{name}: not an ESP firmware image (no 0xE9 magic)")
    return struct.unpack_from("<H", data, 12)[0]


def esptool_steps(t: ChipTarget, firmware: Path, erase: bool) -> list[tuple[str, tuple]]:
    """The esptool.cmds calls ``install`` will make, in order (also shown by --dry-run)."""
    from esptool.targets import CHIP_DEFS

    chip_cls = CHIP_DEFS[t.esptool_chip]
    data = firmware.read_bytes()
    want = chip_cls.IMAGE_CHIP_ID
    got = esp_image_chip(data, firmware.name)
    if got != want:
        other = [c.CHIP_NAME for c in CHIP_DEFS.values() if getattr(c, "IMAGE_CHIP_ID", -1) == got]
        raise DeviceError(
            f"{firmware.name}: image is for {other[0] if other else f'chip id {got}'}, the "
            f"board is an {t.mcu}; download the {t.download_board} build from "
            f"https://micropython.org/download/{t.download_board}/"
        )
    steps: list[tuple[str, tuple]] = [("detect_chip", ()), ("run_stub", ()),
                                      ("attach_flash", ())]
    if erase:
        steps.append(("erase_flash", ()))
    steps.append(("write_flash", ((t.flash_offset, str(firmware)),)))
    steps.append(("reset_chip", ("hard-reset",)))
    return steps


def install_esp32(board: str, t: ChipTarget, firmware: Path, port: str | None, erase: bool
                  ) -> Iterator[str]:
    from esptool import cmds

    steps = esptool_steps(t, firmware, erase)
    if port is None:
        from pedaltool.device.discovery import find_pedals

        cands = [c for c in find_pedals(include_virtual=False) if c.vid is not None]
        if len(cands) != 1:
            raise DeviceError(
                "pass --port: " + ("no USB serial port found" if not cands else
                                   "several found: " + ", ".join(str(c) for c in cands))
            )
        port = cands[0].port
    yield f"{port}: connecting to the {t.mcu} (hold BOOT and tap RESET if it does not answer)"
    try:
        with cmds.detect_chip(port) as esp:
            if esp.CHIP_NAME.replace("-", "").upper() != t.mcu.replace("-", "").upper():
                raise DeviceError(
                    f"{port}: the chip is an {esp.CHIP_NAME}, the board profile {board!r} is an "
                    f"{t.mcu}; pick the right --board"
                )
            esp = cmds.run_stub(esp)
            cmds.attach_flash(esp)
            for name, args in steps[3:]:
                yield f"{name} {' '.join(map(str, args))}".strip()
                getattr(cmds, name)(esp, *args)
    except DeviceError:
        raise
    except Exception as exc:  # esptool's FatalError, serial errors
        raise DeviceError(f"{port}: esptool: {exc}") from None
    yield "done: the board runs MicroPython; next: `pedaltool flash`"


# -- the command -----------------------------------------------------------------------------------
def install(board: str, firmware: str | Path | None, port: str | None = None,
            erase: bool = False) -> Iterator[str]:
    """Install MicroPython on ``board``; yields progress lines. Raises DeviceError with a fix."""
    title, t = target_for_board(board)
    if firmware is None:
        raise DeviceError(download_hint(board, t, title))
    fw = Path(firmware)
    if fw.suffix.lower() != t.file_ext:
        raise DeviceError(
            f"{fw.name}: the {title} needs a {t.file_ext} file; "
            + download_hint(board, t, title).split(": ", 1)[1]
        )
    if t.port == "rp2":
        yield from install_rp2(board, t, fw, port)
    else:
        yield from install_esp32(board, t, fw, port, erase)
