"""Finding the pedal: USB serial ports by known USB IDs, and naming the board profile.

A port is a candidate when its USB vendor:product is one MicroPython boards show up as:
Espressif's native USB (303a:*), the USB-UART bridges on dev kits (CP210x, CH34x, FTDI), or
MicroPython's own USB CDC on RP2040/RP2350 (2e8a:0005 and friends). A running virtual pedal
(``pedaltool virtual``) counts too, so ``pedaltool flash`` with no ``--port`` finds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from serial.tools import list_ports

from pedaltool.device.transport import BoardInfo, env_port
from pedaltool.errors import DeviceError

# (vid, pid or None for any) -> what it usually is
KNOWN_USB_IDS: dict[tuple[int, int | None], str] = {
    (0x303A, None): "Espressif native USB (ESP32-S2/S3/C3/C6)",
    (0x10C4, 0xEA60): "Silicon Labs CP210x USB-UART (ESP32 dev kits)",
    (0x1A86, 0x7523): "WCH CH340 USB-UART (ESP32 dev kits)",
    (0x1A86, 0x55D4): "WCH CH9102 USB-UART (ESP32 dev kits)",
    (0x0403, 0x6001): "FTDI FT232R USB-UART",
    (0x0403, 0x6015): "FTDI FT231X USB-UART",
    (0x2E8A, 0x0005): "MicroPython on RP2040 / RP2350 (Raspberry Pi Pico, Pico 2)",
    (0x2E8A, 0x000A): "Raspberry Pi Pico SDK CDC (RP2040)",
    (0x2E8A, 0x0009): "Raspberry Pi Pico SDK CDC (RP2350)",
    (0x2E8A, 0x000C): "Raspberry Pi RP2350 (Pico 2) USB CDC",
    (0xF055, 0x9802): "MicroPython (generic USB VID)",
}

NO_DEVICE_HELP = (
    "no pedal found on USB (looked for Espressif, CP210x, CH34x, FTDI, Raspberry Pi "
    "RP2040/RP2350 and MicroPython's own serial ports); plug it in with a data USB cable, or "
    "pass --port PORT, or try without hardware: run `pedaltool virtual` in another terminal "
    "(the commands then find it, or give --port with the port it prints)"
)


@dataclass
class Candidate:
    port: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None = None

    def __str__(self) -> str:
        ids = f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None else "virtual"
        return f"{self.port} ({ids}, {self.description})"


def classify(vid: int | None, pid: int | None) -> str | None:
    """What a USB vid:pid is, or None if it is not a board MicroPython runs on."""
    if vid is None:
        return None
    return KNOWN_USB_IDS.get((vid, pid)) or KNOWN_USB_IDS.get((vid, None))


def find_pedals(include_virtual: bool = True) -> list[Candidate]:
    """Every serial port that looks like a MicroPython board, then running virtual pedals."""
    found = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        what = classify(p.vid, p.pid)
        if what:
            found.append(Candidate(p.device, what, p.vid, p.pid, p.serial_number))
    if include_virtual:
        from pedaltool.device.virtual import running_virtual_ports

        for port in running_virtual_ports():
            found.append(Candidate(port, "virtual pedal (pedaltool virtual)", None, None))
    return found


def resolve_port(port: str | None) -> str:
    """``--port``, else $PEDALTOOL_PORT, else the only pedal found; errors say what to do."""
    port = port or env_port()
    if port:
        return port
    found = find_pedals()
    if not found:
        raise DeviceError(NO_DEVICE_HELP)
    real = [c for c in found if c.vid is not None]
    if len(real) == 1 or (not real and len(found) == 1):
        return (real or found)[0].port
    listing = "; ".join(str(c) for c in (real or found))
    raise DeviceError(f"several possible pedals: {listing}; pick one with --port")


# -- board identification ------------------------------------------------------------------------
# Substrings of sys.implementation._machine / os.uname().machine -> words in profile names.
_MACHINE_HINTS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("rp2350",), ("pico2", "pico-2", "pico_2", "rp2350")),
    (("pico2", "pico 2"), ("pico2", "pico-2", "pico_2", "rp2350")),
    (("rp2040",), ("pico", "rp2040")),
    (("esp32s3", "esp32-s3"), ("s3",)),
    (("esp32s2", "esp32-s2"), ("s2",)),
    (("esp32c3", "esp32-c3"), ("c3",)),
    (("esp32c6", "esp32-c6"), ("c6",)),
    (("esp32",), ("esp32-devkitc", "wroom", "esp32")),
    (("linux", "unix", "darwin"), ("virtual", "sim", "unix")),
]


def board_for_machine(info: BoardInfo, names: list[str]) -> str | None:
    """The board profile name (from ``names``) that fits the board, or None."""
    m = (info.machine + " " + info.extra.get("machine", "")).lower().replace(" ", "")
    if info.is_virtual:
        m += " linux"
    lowered = {n: n.lower() for n in names}
    for keys, words in _MACHINE_HINTS:
        if not any(k.replace(" ", "") in m for k in keys):
            continue
        if keys == ("esp32",) and re.search(r"esp32-?[a-z]\d", m):
            break  # another ESP32 chip (P4, C2, C5, H2 ...): not the DevKitC's pins
        for word in words:
            hits = [n for n, low in lowered.items() if word in low]
            if word == "pico":  # "pico" also matches pico2 profiles
                hits = [n for n in hits if "2" not in lowered[n]]
            if word == "esp32":
                hits = [n for n in hits
                        if not any(x in lowered[n] for x in ("s2", "s3", "c3", "c6"))]
            if hits:
                return sorted(hits)[0]
        # the chip is known and no profile is for it: not the next, looser hint ("esp32" is
        # in "esp32c3": an ESP32-C3 was given the ESP32's pins, a review)
        break
    if info.is_virtual and names:
        # The simulated board runs any profile; the Pico's is the smallest realistic one.
        pico = [n for n in names if "pico" in n.lower() and "2" not in n]
        return sorted(pico or names)[0]
    return None
