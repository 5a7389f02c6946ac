"""Board profiles: ``boards/<name>.toml`` -> checked :class:`BoardProfile` -> ``board.json``.

The profile is data (pins, codecs, sample rate, block size, mpy-cross arch, USB IDs). The
device gets the runtime subset as ``board.json`` (:func:`to_device_json`), which
``firmware/pedalcore/board.py`` reads. Pin rules come from ``../shared/notes/mcu.md`` §7.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pedaltool.errors import DeviceError
from pedaltool.paths import boards_dir
from pedaltool.pedal._fw import fw_module
from pedaltool.pedal.model import KNOB_NAMES

MPY_ARCHES = ("armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensawin", "rv32imc")
PORTS = ("rp2", "esp32")
#: ADC-capable pins per MCU (pots, expression)
ADC_PINS = {
    "RP2040": {26, 27, 28, 29},
    "RP2350": {26, 27, 28, 29},
    "ESP32-S3": set(range(1, 11)),  # ADC1 (ADC2 is unusable with Wi-Fi on)
    "ESP32": {32, 33, 34, 35, 36, 37, 38, 39},  # ADC1
}
#: GPIOs that can only read (no output driver, no internal pull-up or pull-down): only a pot,
#: the expression input or an I2S data input may use them (an LED or a footswitch there failed
#: at start or floated; a review)
INPUT_ONLY_PINS = {"ESP32": {34, 35, 36, 37, 38, 39}}
INPUT_ONLY_USES = ("controls.pots.", "controls.expression", "i2s_in.sd")
#: the device subset of a profile (board.json); usb_ids/latency/avoid stay on the host
DEVICE_KEYS = ("name", "title", "port", "mcu", "cpu_mhz", "audio", "i2s_in", "i2s_out", "i2c",
               "adc_codec", "dac_codec", "controls")


@dataclass
class BoardProfile:
    """A checked board profile. ``data`` is the whole TOML document."""

    name: str
    title: str
    port: str
    mcu: str
    mpy_arch: str
    cpu_mhz: int
    usb_ids: list[str]
    data: dict = field(repr=False)
    path: Path | None = None

    @property
    def sample_rate_hz(self) -> int:
        return int(self.data["audio"]["sample_rate_hz"])

    @property
    def block_frames(self) -> int:
        return int(self.data["audio"]["block_frames"])


def list_boards() -> list[str]:
    """Names of the bundled profiles, sorted."""
    return sorted(p.stem for p in boards_dir().glob("*.toml"))


def load_board(name_or_path: str | Path) -> BoardProfile:
    """Load and validate a profile by name (``rpi_pico``) or path (``my_board.toml``)."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = boards_dir() / f"{name_or_path}.toml"
        if not p.exists():
            raise DeviceError(f"{name_or_path}: unknown board (known: {', '.join(list_boards())})")
    try:
        data = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise DeviceError(f"{p}: cannot read board profile: {e}") from None
    try:
        return validate(data, p)
    except DeviceError:
        raise
    except Exception as exc:  # a value of a type the checks do not expect: said here, once
        raise DeviceError(f"{p}: bad board profile ({type(exc).__name__}: {exc})") from None


def _pins_of(data: dict) -> list[tuple[str, int]]:
    out = []
    for bus in ("i2s_in", "i2s_out"):
        for k in ("sck", "ws", "sd"):
            out.append((f"{bus}.{k}", data[bus][k]))
    if data.get("i2c"):
        out += [("i2c.sda", data["i2c"]["sda"]), ("i2c.scl", data["i2c"]["scl"])]
    for codec in ("adc_codec", "dac_codec"):
        if data.get(codec, {}).get("mute_pin") is not None:
            out.append((f"{codec}.mute_pin", data[codec]["mute_pin"]))
    c = data.get("controls", {})
    for k, v in (c.get("pots") or {}).items():
        out.append((f"controls.pots.{k}", v))
    for k in ("footswitch", "footswitch2", "expression", "led"):
        if c.get(k) is not None:
            out.append((f"controls.{k}", c[k]))
    return out


def validate(data: dict, source: str | Path = "board") -> BoardProfile:
    """Check a profile's structure and pin rules; raise DeviceError naming the problem."""
    src = str(source)

    def fail(msg: str):
        raise DeviceError(f"{src}: {msg}")

    for key in ("name", "port", "mcu", "mpy_arch", "cpu_mhz", "audio", "i2s_in", "i2s_out",
                "controls"):
        if key not in data:
            fail(f"missing '{key}'")
    if data["port"] not in PORTS:
        fail(f"port '{data['port']}' is not one of {PORTS}")
    if data["mpy_arch"] not in MPY_ARCHES:
        fail(f"mpy_arch '{data['mpy_arch']}' is not one of {MPY_ARCHES}")
    audio = data["audio"]
    rate = audio.get("sample_rate_hz")
    block = audio.get("block_frames")
    ibuf = audio.get("ibuf_bytes")
    if not isinstance(rate, int) or not 8000 <= rate <= 96000:
        fail("audio.sample_rate_hz must be an integer 8000..96000")
    fw_board = fw_module("board")  # the firmware's limits, which the board checks again
    max_block = fw_board.MAX_BLOCK
    if not isinstance(block, int) or block < 8 or block > max_block or block & (block - 1):
        fail(f"audio.block_frames must be a power of two 8..{max_block} (the engine's ramps "
             "need it)")
    # the I2S driver's RX ring, counted in its own frames (board.rx_ring_frames)
    if not isinstance(ibuf, int) or fw_board.rx_ring_frames(data["port"], ibuf) < 2 * block:
        fail("audio.ibuf_bytes must hold at least two blocks of the I2S driver's "
             f"{fw_board.RX_FRAME_BYTES}-byte RX frames")
    for bus in ("i2s_in", "i2s_out"):
        for k in ("id", "sck", "ws", "sd"):
            if not isinstance(data[bus].get(k), int):
                fail(f"{bus}.{k} must be an integer")
    if data["i2s_in"]["id"] == data["i2s_out"]["id"]:
        fail("i2s_in and i2s_out need different I2S ids (one machine.I2S object each)")
    if data["port"] == "rp2":
        for bus in ("i2s_in", "i2s_out"):
            if data[bus]["ws"] != data[bus]["sck"] + 1:
                fail(f"{bus}: on rp2 ws must be sck + 1 (PIO side-set pins)")
    for codec in ("adc_codec", "dac_codec"):
        chip = data.get(codec, {}).get("chip", "none")
        if chip not in ("es8311", "pcm5102a", "none"):
            fail(f"{codec}.chip '{chip}' is not supported (es8311, pcm5102a, none)")
        if chip == "es8311" and not data.get("i2c"):
            fail(f"{codec}: es8311 needs an [i2c] section")
    pins = _pins_of(data)
    seen: dict[int, str] = {}
    avoid = set(data.get("avoid", {}).get("pins", []))
    for what, pin in pins:
        if not isinstance(pin, int):
            fail(f"{what} must be a GPIO number")
        if pin in seen:
            fail(f"{what} and {seen[pin]} both use GPIO {pin}")
        seen[pin] = what
        if pin in avoid:
            fail(f"{what} uses GPIO {pin}, which this board reserves (strapping/flash/USB)")
    for what, pin in pins:
        if pin in INPUT_ONLY_PINS.get(data["mcu"], ()) and not what.startswith(INPUT_ONLY_USES):
            fail(f"{what}: GPIO {pin} is input-only on {data['mcu']} (no output, no pull-up): "
                 "only pots, the expression input or the I2S data input may use it")
    adc_ok = ADC_PINS.get(data["mcu"])
    c = data["controls"]
    for k in ("debounce_ms", "long_press_ms"):  # (the firmware's int() of "20ms" stopped it)
        v = c.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            fail(f"controls.{k} must be a whole number of milliseconds, not {v!r}")
    for k in (c.get("pots") or {}):
        if k not in KNOB_NAMES:
            fail(f"controls.pots.{k}: a pot turns one of the knobs {', '.join(KNOB_NAMES)}")
    if c.get("expression") is not None and c.get("expression_knob", "level") not in KNOB_NAMES:
        fail(f"controls.expression_knob {c['expression_knob']!r} is not one of the knobs "
             f"{', '.join(KNOB_NAMES)}")
    analog = list((c.get("pots") or {}).items())
    if c.get("expression") is not None:
        analog.append(("expression", c["expression"]))
    if adc_ok:
        for k, v in analog:
            if v not in adc_ok:
                fail(f"controls {k}: GPIO {v} has no usable ADC on {data['mcu']}")
    return BoardProfile(
        name=data["name"], title=data.get("title", data["name"]), port=data["port"],
        mcu=data["mcu"], mpy_arch=data["mpy_arch"], cpu_mhz=int(data["cpu_mhz"]),
        usb_ids=list(data.get("usb_ids", [])), data=data,
        path=Path(source) if not isinstance(source, Path) else source)


def to_device_json(profile: BoardProfile) -> bytes:
    """The runtime subset of the profile as compact JSON (the device's ``board.json``)."""
    d = {k: profile.data[k] for k in DEVICE_KEYS if k in profile.data}
    return json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
