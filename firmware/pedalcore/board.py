# The board profile on the device: board.json, written by the host from boards/<name>.toml
# (host/pedaltool/boards.py:to_device_json). Plain data; this module only loads it and fills
# defaults so the rest of the firmware can index it without checks.
import json

DEFAULTS = {
    "sample_rate_hz": 48000,
    "block_frames": 64,
    "ibuf_bytes": 4096,
    "tx_prime_blocks": 1,
    "cpu_mhz": 125,
    "heap_lock": True,
}

CONTROL_DEFAULTS = {
    "pots": {},  # knob name -> ADC pin
    "footswitch": None,
    "footswitch2": None,
    "expression": None,
    "expression_knob": "level",
    "led": None,
    "led_active_high": True,
    "long_press_ms": 600,
    "debounce_ms": 20,
}


# MicroPython's I2S receives 32-bit stereo slots whatever format readinto asks for (ports/rp2
# and ports/esp32 machine_i2s.c keep 8 bytes a frame in their RX ring or DMA buffers and pick
# the left channel when read), so a mono RX of ibuf bytes buffers ibuf / 8 frames, not ibuf / 4
RX_FRAME_BYTES = 8
# MicroPython esp32 moves audio in DMA descriptors of 256 frames, at least two of them
ESP32_DMA_FRAMES = 256
MAX_BLOCK = 256  # frames (Board: why)


def rx_ring_frames(port, ibuf):
    """Frames of input the I2S driver holds before it drops audio (an xrun)."""
    if port == "esp32":
        return max(ibuf // (ESP32_DMA_FRAMES * RX_FRAME_BYTES), 2) * ESP32_DMA_FRAMES
    return ibuf // RX_FRAME_BYTES


class BoardError(Exception):
    pass


class Board:
    """Attribute view of board.json: .name, .audio (dict), .i2s_in, .i2s_out, .controls ..."""

    def __init__(self, d):
        if not isinstance(d, dict):
            raise BoardError("board.json: not an object")
        self.raw = d
        self.name = d.get("name", "unknown")
        self.port = d.get("port", "")
        audio = dict(DEFAULTS)
        audio.update(d.get("audio", {}))
        self.audio = audio
        self.rate_hz = int(audio["sample_rate_hz"])
        self.block = int(audio["block_frames"])
        self.ibuf = int(audio["ibuf_bytes"])
        self.rx_frames = rx_ring_frames(self.port, self.ibuf)
        self.prime_blocks = int(audio["tx_prime_blocks"])
        # TX ring: prime + 1 blocks unless the profile says otherwise
        self.tx_ibuf = int(audio.get("tx_ibuf_bytes") or 4 * self.block * (self.prime_blocks + 1))
        self.cpu_mhz = int(d.get("cpu_mhz", audio["cpu_mhz"]))
        self.heap_lock = bool(audio["heap_lock"])
        for key in ("i2s_in", "i2s_out"):
            bus = d.get(key)
            if not isinstance(bus, dict) or not all(k in bus for k in ("id", "sck", "ws", "sd")):
                raise BoardError("board.json: %s needs id, sck, ws, sd" % key)
        self.i2s_in = d["i2s_in"]
        self.i2s_out = d["i2s_out"]
        self.i2c = d.get("i2c")
        self.adc_codec = d.get("adc_codec") or {"chip": "none"}
        self.dac_codec = d.get("dac_codec") or {"chip": "none"}
        controls = dict(CONTROL_DEFAULTS)
        controls.update(d.get("controls", {}))
        self.controls = controls
        # at most 256: the output's crossfade and level ramps step by ((w1 - w0) << 8) // n,
        # whose floor can carry a fade one step past its end on a longer block
        if self.block < 8 or self.block > MAX_BLOCK:
            raise BoardError("board.json: block_frames %d outside 8..%d" % (self.block, MAX_BLOCK))
        if self.rx_frames < 2 * self.block:
            raise BoardError("board.json: ibuf_bytes must hold at least two blocks (%d bytes a "
                             "frame)" % RX_FRAME_BYTES)


def load(path):
    """Read and check board.json; raises BoardError (or OSError if missing)."""
    with open(path) as f:
        try:
            d = json.load(f)
        except ValueError:
            raise BoardError("board.json: not valid JSON")
    return Board(d)
