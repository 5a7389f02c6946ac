# A simulated board for the MicroPython unix port: `import machine` finds this module when
# firmware/sim is first on the module path (MICROPYPATH). HOST ONLY: never uploaded to a board.
#
# Configuration (environment variables, read once at import; a JSON file can set them all):
#   PEDALTOOL_SIM_CONFIG    JSON file with any of the keys below (lower case, without prefix)
#   PEDALTOOL_SIM_INPUT     I2S RX source: WAV (PCM 16/24/32-bit or 32-bit float, first
#                           channel) or raw little-endian int32 slots (*.raw / *.i32);
#                           none = silence
#   PEDALTOOL_SIM_OUTPUT    I2S TX sink: WAV (16-bit PCM, or 32 with OUT_BITS=32) or raw int32
#   PEDALTOOL_SIM_OUT_BITS  16 (default) or 32
#   PEDALTOOL_SIM_REALTIME  1 (default): RX is paced by the wall clock like real converters;
#                           0: as fast as possible; after_input: fast until the input ends
#   PEDALTOOL_SIM_AT_END    what RX does when the input ends: stop (readinto returns 0, the
#                           firmware's loop returns), silence (default), loop
#   PEDALTOOL_SIM_MAX_FRAMES  end the input after this many frames (then AT_END applies)
#   PEDALTOOL_SIM_SCRIPT    control script: lines "<ms> adc <pin> <0..65535>",
#                           "<ms> press <pin> <duration_ms>", "<ms> pin <pin> <0|1>" (ms of
#                           audio time = frames delivered by RX)
#   PEDALTOOL_SIM_CONTROL   a file the sim re-reads when it grows: lines without the time
#                           ("adc 26 40000", "press 15 80", "pin 15 0") apply at once
#   PEDALTOOL_SIM_PORT      "rp2" or "esp32" to enforce that port's I2S pin rules
#   PEDALTOOL_SIM_CPU_HZ    what machine.freq() returns
#
# Runtime API (same process): machine.sim.set_adc(pin, u16), .press(pin, ms), .set_pin(pin, v),
# .now_ms(), .led_log (list of (ms, pin, value)), .i2c_log (list of (addr, reg, value)),
# .frames_in, .frames_out, .dropped.
#
# The I2S methods run inside the firmware's heap-locked audio block, so they allocate nothing:
# all conversion buffers are made when the I2S object is created, and the format conversion is
# done by viper kernels (the sim only runs on the 64-bit unix port, where viper ints are 64-bit).
import json
import os
from array import array
import sys
import time

import micropython

_ENV_KEYS = ("input", "output", "out_bits", "realtime", "at_end", "max_frames", "script",
             "control", "port", "cpu_hz")


def _config():
    cfg = {}
    path = os.getenv("PEDALTOOL_SIM_CONFIG")
    if path:
        with open(path) as f:
            cfg.update(json.load(f))
    for k in _ENV_KEYS:
        v = os.getenv("PEDALTOOL_SIM_" + k.upper())
        if v is not None and v != "":
            cfg[k] = v
    return cfg


def _pin_key(p):
    """GPIO number (int) or a named pin ("LED"); accepts Pin objects."""
    if isinstance(p, int):
        return p
    if isinstance(p, str):
        return int(p) if p.isdigit() else p
    return getattr(p, "id", p)


# ---------------------------------------------------------------------------------------------
# viper format conversion (x64 unix port only: ints are 64-bit, loads zero-extend)
@micropython.viper
def _decode(raw: ptr8, fmt: int, stride: int, nfr: int, dst: ptr8, doff: int, dbits: int,
            dch: int):
    """nfr frames of the source format -> MSB-aligned I2S slots (dbits 16/32, dch channels)."""
    i = 0
    src = 0
    d = doff
    top = 0x7FFF
    top = (top << 16) | 0xFFFF  # int32 max, built at run time (not a small int on 32-bit)
    while i < nfr:
        if fmt == 16:
            v = (raw[src] << 16) | (raw[src + 1] << 24)
        elif fmt == 24:
            v = (raw[src] << 8) | (raw[src + 1] << 16) | (raw[src + 2] << 24)
        elif fmt == 32:
            v = raw[src] | (raw[src + 1] << 8) | (raw[src + 2] << 16) | (raw[src + 3] << 24)
        else:  # IEEE float32 -> int32 full scale, integer-only decode
            u = raw[src] | (raw[src + 1] << 8) | (raw[src + 2] << 16) | (raw[src + 3] << 24)
            e = (u >> 23) & 0xFF
            m = (u & 0x7FFFFF) | 0x800000
            if e == 0:
                v = 0
            elif e >= 127 + 1:  # |x| >= 2.0 (or inf/nan): clamp
                v = top
            else:
                sh = e - 119  # value * 2^31 = m * 2^(e - 150 + 31)
                if sh >= 0:
                    v = m << sh
                else:
                    v = m >> (0 - sh)
                if v > top:
                    v = top
            if u >> 31:
                v = 0 - v - 1 if v == top else 0 - v
        c = 0
        while c < dch:
            if dbits == 32:
                dst[d] = v & 0xFF
                dst[d + 1] = (v >> 8) & 0xFF
                dst[d + 2] = (v >> 16) & 0xFF
                dst[d + 3] = (v >> 24) & 0xFF
                d += 4
            else:
                dst[d] = (v >> 16) & 0xFF
                dst[d + 1] = (v >> 24) & 0xFF
                d += 2
            c += 1
        src += stride
        i += 1


@micropython.viper
def _encode(src: ptr8, soff: int, sbits: int, sch: int, nfr: int, dst: ptr8, obytes: int):
    """nfr I2S frames (left channel) from byte soff -> little-endian PCM, obytes per sample."""
    i = 0
    s = soff
    d = 0
    sb = sbits // 8
    while i < nfr:
        if sbits == 32:
            if obytes == 4:
                dst[d] = src[s]
                dst[d + 1] = src[s + 1]
                d += 2
            dst[d] = src[s + 2]
            dst[d + 1] = src[s + 3]
        else:
            if obytes == 4:
                dst[d] = 0
                dst[d + 1] = 0
                d += 2
            dst[d] = src[s]
            dst[d + 1] = src[s + 1]
        d += 2
        s += sb * sch
        i += 1


@micropython.viper
def _zero(dst: ptr8, off: int, n: int):
    i = 0
    while i < n:
        dst[off + i] = 0
        i += 1


# ---------------------------------------------------------------------------------------------
class _Source:
    """The audio that reaches the ADC: a WAV/raw file, read in chunks, or silence."""

    CHUNK = 256  # frames per file read (small: the sim shares the firmware's heap)

    def __init__(self, path):
        self.path = path
        self.f = None
        self.fmt = 0
        self.stride = 4
        self.data_start = 0
        self.data_bytes = -1
        self.total_frames = -1
        if path:
            self._open()
        self.raw = bytearray(self.CHUNK * self.stride)

    def _open(self):
        f = open(self.path, "rb")
        self.f = f
        low = self.path.lower()
        if low.endswith(".raw") or low.endswith(".i32"):
            self.fmt, self.stride, self.data_start = 32, 4, 0
            f.seek(0, 2)
            self.data_bytes = f.tell()
            f.seek(0)
        else:
            self._parse_wav(f)
        self.total_frames = self.data_bytes // self.stride
        self.left = self.data_bytes

    def _parse_wav(self, f):
        hdr = f.read(12)
        if len(hdr) < 12 or hdr[0:4] != b"RIFF" or hdr[8:12] != b"WAVE":
            raise ValueError("sim: %s is not a WAV file" % self.path)
        fmt_tag = bits = ch = None
        while True:
            ck = f.read(8)
            if len(ck) < 8:
                raise ValueError("sim: %s has no data chunk" % self.path)
            cid = ck[0:4]
            size = int.from_bytes(ck[4:8], "little")
            if cid == b"fmt ":
                body = f.read(size + (size & 1))
                fmt_tag = int.from_bytes(body[0:2], "little")
                ch = int.from_bytes(body[2:4], "little")
                bits = int.from_bytes(body[14:16], "little")
                if fmt_tag == 0xFFFE and size >= 26:  # WAVE_FORMAT_EXTENSIBLE
                    fmt_tag = int.from_bytes(body[24:26], "little")
            elif cid == b"data":
                self.data_start = f.tell()
                self.data_bytes = size
                break
            else:
                f.seek(size + (size & 1), 1)
        if fmt_tag == 1 and bits in (16, 24, 32):
            self.fmt = bits
        elif fmt_tag == 3 and bits == 32:
            self.fmt = 33
        else:
            raise ValueError("sim: %s: unsupported WAV (tag %s, %s bits)" % (self.path, fmt_tag,
                                                                              bits))
        self.stride = (bits // 8) * ch
        self.data_bytes -= self.data_bytes % self.stride

    def rewind(self):
        if self.f:
            self.f.seek(self.data_start)
            self.left = self.data_bytes

    def read(self, dst, doff, nfr, dbits, dch):
        """Decode up to nfr frames into dst at byte offset doff; returns frames read."""
        if self.f is None:
            return 0
        done = 0
        fb = dbits // 8 * dch
        while done < nfr and self.left > 0:
            k = nfr - done
            if k > self.CHUNK:
                k = self.CHUNK
            want = k * self.stride
            if want > self.left:
                want = self.left
            got = self.f.readinto(self.raw, want)
            if not got:
                self.left = 0
                break
            self.left -= got
            k = got // self.stride
            _decode(self.raw, self.fmt, self.stride, k, dst, doff + done * fb, dbits, dch)
            done += k
        return done


class _Sink:
    """What the DAC plays: a WAV (16/32-bit PCM) or raw int32 file; header patched on flush."""

    def __init__(self, path, out_bits):
        self.path = path
        self.obytes = 4 if int(out_bits) == 32 else 2
        self.raw_fmt = bool(path) and (path.lower().endswith(".raw")
                                       or path.lower().endswith(".i32"))
        if self.raw_fmt:
            self.obytes = 4
        self.f = open(path, "wb") if path else None
        self.frames = 0
        self.limit = -1  # stop recording after this many frames (-1: never)
        self.buf = bytearray(256 * self.obytes)
        self.unflushed = 0
        ob = self.obytes
        self.hdr = bytearray(
            b"RIFF\0\0\0\0WAVEfmt " + (16).to_bytes(4, "little") + (1).to_bytes(2, "little")
            + (1).to_bytes(2, "little") + sim_rate[0].to_bytes(4, "little")
            + (sim_rate[0] * ob).to_bytes(4, "little") + ob.to_bytes(2, "little")
            + (8 * ob).to_bytes(2, "little") + b"data\0\0\0\0")
        if self.f and not self.raw_fmt:
            self._header()

    def _header(self):
        """Patch the RIFF and data sizes in place (allocation-free: runs in the audio path)."""
        n = self.frames * self.obytes
        h = self.hdr
        _put32(h, 4, 36 + n)
        _put32(h, 40, n)
        f = self.f
        f.seek(0)
        f.write(h)
        f.seek(44 + n)

    def write(self, src, sbits, sch, nfr):
        if self.f is None:
            return
        if self.limit >= 0 and self.frames + nfr > self.limit:
            nfr = self.limit - self.frames
            if nfr <= 0:
                return
        done = 0
        cap = len(self.buf) // self.obytes
        fb = sbits // 8 * sch
        while done < nfr:
            k = nfr - done
            if k > cap:
                k = cap
            _encode(src, done * fb, sbits, sch, k, self.buf, self.obytes)
            self.f.write(self.buf, k * self.obytes)
            done += k
        self.frames += nfr
        self.unflushed += nfr

    def flush(self):
        if self.f is None:
            return
        if not self.raw_fmt:
            self._header()
        self.f.flush()
        self.unflushed = 0

    def close(self):
        if self.f is not None:
            self.flush()
            self.f.close()
            self.f = None


def _put32(b, off, v):
    b[off] = v & 0xFF
    b[off + 1] = (v >> 8) & 0xFF
    b[off + 2] = (v >> 16) & 0xFF
    b[off + 3] = (v >> 24) & 0xFF


sim_rate = [48000]  # the rate of the first I2S object (the sink's WAV header)


# ---------------------------------------------------------------------------------------------
class _Sim:
    """The simulated world around the MCU: audio in/out, knobs, switches, the clock."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.source = None
        self.sink = None
        self.realtime = str(cfg.get("realtime", "1")).lower()
        self.at_end = str(cfg.get("at_end", "silence")).lower()
        self.max_frames = int(cfg.get("max_frames", -1) or -1)
        self.port = str(cfg.get("port", "")).lower()
        self.cpu_hz = int(cfg.get("cpu_hz", 125000000))
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.max_late_us = 0  # the latest an RX read came (real-time mode), in us
        self.ended = False
        self.adc = {}
        self.pins = {}
        self.presses = []  # [pin, start_ms, end_ms]
        self.events = []   # [ms, kind, pin, value] sorted, applied lazily
        # output-pin changes (ms, pin, value), preallocated: pins change inside the firmware's
        # allocation-free control tick
        self._log = array("i", bytes(4 * 3 * 512))  # small: the sim shares the heap
        self._log_n = 0
        self.i2c_log = []
        self.i2c_devices = {}
        for a in cfg.get("i2c_devices", [0x18]):
            self.i2c_devices[int(a)] = _FakeES8311()
        self.control = cfg.get("control")
        self._control_pos = 0
        self._control_check = -1
        if cfg.get("script"):
            self.load_script(cfg["script"])
        if hasattr(sys, "atexit"):
            sys.atexit(self.close)

    # audio -------------------------------------------------------------------------------
    def open_audio(self, rate):
        if self.source is None:
            sim_rate[0] = rate
            self.source = _Source(self.cfg.get("input"))
            self.sink = _Sink(self.cfg.get("output"), self.cfg.get("out_bits", 16))
            if self.at_end == "silence" and self.source.total_frames >= 0:
                # the virtual pedal keeps running on silence: record the input's length plus
                # a tail, so the output WAV does not grow for ever
                self.sink.limit = self.source.total_frames + rate

    def paced(self):
        if self.realtime in ("0", "false", "no"):
            return False
        if self.realtime == "after_input":
            return self.ended or self.source.f is None
        return True

    @property
    def led_log(self):
        """Every output-pin change as (ms, pin, value); string pin ids are logged as -1."""
        lg = self._log
        return [(lg[3 * i], lg[3 * i + 1], lg[3 * i + 2]) for i in range(self._log_n)]

    def log_pin(self, pin, v):
        i = self._log_n
        if 3 * i + 3 <= len(self._log):
            self._log[3 * i] = self.now_ms()
            self._log[3 * i + 1] = pin if isinstance(pin, int) else -1
            self._log[3 * i + 2] = v
            self._log_n = i + 1

    def now_ms(self):
        return self.frames_in * 1000 // sim_rate[0]

    def close(self):
        if self.sink is not None:
            self.sink.close()

    # controls ----------------------------------------------------------------------------
    def set_adc(self, pin, value):
        self.adc[_pin_key(pin)] = max(0, min(65535, int(value)))

    def set_pin(self, pin, value):
        self.pins[_pin_key(pin)] = 1 if value else 0

    def press(self, pin, ms, at_ms=None):
        t = self.now_ms() if at_ms is None else at_ms
        self.presses.append([_pin_key(pin), t, t + int(ms)])

    def load_script(self, path):
        with open(path) as f:
            for line in f:
                line = line.split("#")[0].strip()
                if not line:
                    continue
                parts = line.split()
                if len(parts) != 4:
                    raise ValueError("sim script: bad line: " + line)
                self.events.append([int(parts[0]), parts[1], _pin_key(parts[2]), int(parts[3])])
        self.events.sort(key=lambda e: e[0])

    def _apply(self, kind, pin, value, now):
        if kind == "adc":
            self.set_adc(pin, value)
        elif kind == "press":
            self.presses.append([pin, now, now + value])
        elif kind == "pin":
            self.set_pin(pin, value)
        else:
            raise ValueError("sim: unknown control " + kind)

    def poll(self):
        """Apply script events that are due and new control-file lines (controls path only)."""
        now = self.now_ms()
        while self.events and self.events[0][0] <= now:
            ms, kind, pin, value = self.events.pop(0)
            self._apply(kind, pin, value, ms)
        if self.control and now - self._control_check >= 20:
            self._control_check = now
            try:
                size = os.stat(self.control)[6]
            except OSError:
                size = 0
            if size > self._control_pos:
                with open(self.control) as f:
                    f.seek(self._control_pos)
                    text = f.read()
                self._control_pos = size
                for line in text.split("\n"):
                    parts = line.split()
                    if len(parts) == 3:
                        self._apply(parts[0], _pin_key(parts[1]), int(parts[2]), now)

    def pin_level(self, key, default):
        self.poll()
        now = self.now_ms()
        for p in self.presses:
            if p[0] == key and p[1] <= now < p[2]:
                return 0  # a footswitch shorts the pin to GND while pressed
        return self.pins.get(key, default)


class _FakeES8311:
    """Register file of an ES8311 (chip id 0xFD/0xFE = 0x83/0x11) that records every write."""

    def __init__(self):
        self.regs = bytearray(256)
        self.regs[0xFD] = 0x83
        self.regs[0xFE] = 0x11


# ---------------------------------------------------------------------------------------------
sim = _Sim(_config())


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_RISING = 4
    IRQ_FALLING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        self.id = _pin_key(id)
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return sim.pin_level(self.id, 1 if self.pull == Pin.PULL_UP else 0)
        v = 1 if v else 0
        if sim.pins.get(self.id) != v:
            sim.pins[self.id] = v
            sim.log_pin(self.id, v)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=0):
        return None

    def __repr__(self):
        return "Pin(%r)" % (self.id,)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 12

    def __init__(self, pin, atten=None):
        self.id = _pin_key(pin)

    def read_u16(self):
        sim.poll()
        return sim.adc.get(self.id, 32768)

    def read(self):
        return self.read_u16() >> 4

    def atten(self, a):
        pass

    def width(self, w):
        pass


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, **kw):
        self.id = id

    def _dev(self, addr):
        d = sim.i2c_devices.get(addr)
        if d is None:
            raise OSError(19)  # ENODEV, like a board with nothing at that address
        return d

    def scan(self):
        return sorted(sim.i2c_devices)

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        d = self._dev(addr)
        for i in range(len(buf)):
            d.regs[(reg + i) & 0xFF] = buf[i]
            sim.i2c_log.append((addr, (reg + i) & 0xFF, buf[i]))

    def readfrom_mem_into(self, addr, reg, buf, addrsize=8):
        d = self._dev(addr)
        for i in range(len(buf)):
            buf[i] = d.regs[(reg + i) & 0xFF]

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        b = bytearray(n)
        self.readfrom_mem_into(addr, reg, b)
        return bytes(b)

    def writeto(self, addr, buf, stop=True):
        if len(buf) >= 1:
            self.writeto_mem(addr, buf[0], buf[1:])
        return len(buf)


# the drivers' RX storage (machine_i2s.c of the rp2 and esp32 ports): 32-bit stereo frames,
# on esp32 in DMA descriptors of 256 frames, at least two (the firmware's board.rx_ring_frames
# says the same of them; the sim models the driver on its own)
RX_FRAME_BYTES = 8
RX_DMA_FRAMES = 256


class I2S:
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1

    def __init__(self, id, *, sck, ws, sd, mode, bits, format, rate, ibuf, mck=None):
        if mck is not None and sim.port in ("rp2", "esp32"):
            raise TypeError("extra keyword arguments given")  # no MCLK on these ports
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if mode not in (I2S.RX, I2S.TX) or format not in (I2S.MONO, I2S.STEREO):
            raise ValueError("invalid mode or format")
        if ibuf <= 0:
            raise ValueError("invalid ibuf")
        if sim.port == "rp2" and _pin_key(ws) != _pin_key(sck) + 1:
            raise ValueError("invalid ws (must be sck+1)")
        self.id = id
        self.mode = mode
        self.bits = bits
        self.ch = 2 if format == I2S.STEREO else 1
        self.rate = rate
        self.ibuf = ibuf
        self.frame_bytes = bits // 8 * self.ch
        self.frames = 0
        self.t0 = time.ticks_us()
        self.active = True
        sim.open_audio(rate)
        # a real I2S is paced by its clock; the sim says so only in real-time mode (the firmware
        # skips its xrun timing otherwise)
        self.paced = sim.paced() or sim.realtime == "after_input"

    def deinit(self):
        self.active = False
        if self.mode == I2S.TX and sim.sink is not None:
            sim.sink.flush()

    def init(self, **kw):
        self.active = True
        self.t0 = time.ticks_us()
        self.frames = 0

    def irq(self, handler):
        raise NotImplementedError("sim: non-blocking I2S is not simulated")

    def readinto(self, buf):
        # buffers are byte-addressed (bytearray); len() of an array('i') counts items, which
        # the sim cannot convert without allocating, so it insists on bytes
        if self.mode != I2S.RX:
            raise OSError(1)
        if not isinstance(buf, bytearray):
            raise TypeError("sim I2S: pass a bytearray")
        nfr = len(buf) // self.frame_bytes
        if sim.paced():
            # a real RX delivers a block only when the converter has sampled it
            due = self.t0 + (self.frames + nfr) * 1000000 // self.rate
            wait = time.ticks_diff(due, time.ticks_us())
            if wait > 0:
                time.sleep_us(wait)
                over = time.ticks_diff(time.ticks_us(), due)  # the host may oversleep
                if over > sim.max_late_us:
                    sim.max_late_us = over
            else:
                if 0 - wait > sim.max_late_us:
                    sim.max_late_us = 0 - wait
                # the driver's ring holds 32-bit stereo frames (8 bytes) whatever this read's
                # format, on esp32 in whole 256-frame DMA descriptors, at least two
                # (machine_i2s.c of both ports); this read's own block is in it too. Later
                # than that: a real board has dropped audio (overflow)
                ring = (max(self.ibuf // (RX_DMA_FRAMES * RX_FRAME_BYTES), 2) * RX_DMA_FRAMES
                        if sim.port == "esp32" else self.ibuf // RX_FRAME_BYTES)
                room = ring - nfr
                late = (0 - wait) * self.rate // 1000000
                if late > room:
                    self.frames += late - room
                    sim.dropped += late - room
        src = sim.source
        fb = self.frame_bytes
        got = 0
        if not sim.ended:
            want = nfr
            if sim.max_frames >= 0 and sim.frames_in + want > sim.max_frames:
                want = sim.max_frames - sim.frames_in
            if src.f is None:
                got = want  # no input file: silence
                _zero(buf, 0, want * fb)
            else:
                got = src.read(buf, 0, want, self.bits, self.ch)
                if got < want and sim.at_end == "loop" and src.total_frames > 0:
                    while got < want:
                        src.rewind()
                        got += src.read(buf, got * fb, want - got, self.bits, self.ch)
            if got < nfr:
                sim.ended = True
        if got < nfr:
            if sim.ended and sim.at_end == "stop":
                sim.frames_in += got
                self.frames += got
                return got * self.frame_bytes
            _zero(buf, got * self.frame_bytes, (nfr - got) * self.frame_bytes)
        sim.frames_in += nfr
        self.frames += nfr
        return nfr * self.frame_bytes

    def write(self, buf):
        if self.mode != I2S.TX:
            raise OSError(1)
        if not isinstance(buf, bytearray):
            raise TypeError("sim I2S: pass a bytearray")
        nfr = len(buf) // self.frame_bytes
        sim.sink.write(buf, self.bits, self.ch, nfr)
        sim.frames_out += nfr
        self.frames += nfr
        if sim.sink.unflushed >= self.rate // 4:
            sim.sink.flush()  # keeps the WAV header valid if the process is killed
        return nfr * self.frame_bytes

    @staticmethod
    def shift(buf, bits, shift):
        raise NotImplementedError("sim: I2S.shift")


# -- the rest of the machine module -------------------------------------------------------------
def freq(hz=None):
    if hz is not None:
        sim.cpu_hz = int(hz)
        return None
    return sim.cpu_hz


def unique_id():
    return b"\x00pedsim"


def reset():
    sim.close()
    sys.exit(0)  # the virtual pedal restarts the process: that is the reboot


def soft_reset():
    reset()


def reset_cause():
    return 1  # PWRON_RESET


PWRON_RESET = 1


def bootloader():
    print("sim: no bootloader on the simulated board")


def idle():
    pass


def lightsleep(ms=0):
    time.sleep_ms(ms)


deepsleep = lightsleep


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class WDT:
    def __init__(self, id=0, timeout=5000):
        pass

    def feed(self):
        pass


class RTC:
    def datetime(self, dt=None):
        if dt is not None:
            return None
        t = time.localtime()
        return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
