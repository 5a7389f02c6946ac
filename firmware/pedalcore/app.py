# The pedal runtime: full-duplex I2S audio through the engine, controls, console, presets.
#
# Entry point (called by the boot loader main.py): run(slot_dir, settings_path).
#
# Audio path, once per block of N frames, with the heap locked (micropython.heap_lock): read
# N 32-bit slots from the RX I2S, unpack to int16 into dry and wet, engine.process(wet) in
# place, mix dry/wet with the bypass weight and the master volume (both ramped per sample), pack
# to 32-bit slots and write to the TX I2S (the I/O kernels: asm_thumb on ARM, else viper).
# Nothing in there allocates; an exception in there (e.g. the engine) unlocks, drops the
# effect and carries on in bypass: never noise.
#
# Between blocks (heap unlocked): one pot read, footswitches, LED, and every ~20 ms the console.
# Anything slow (preset load, save, bench) is a "quiet action": fade out, mute the codec, stop
# I2S, do it, restart I2S (empty RX ring, TX primed with silence) and fade back in, so a stall
# never clicks and never leaves extra latency in the rings.
import gc
import sys
import time
from array import array

import micropython
from machine import I2C, I2S, Pin
from micropython import const

from pedalcore import VERSION
from pedalcore import board as boardmod
from pedalcore import codecs, console
from pedalcore import controls as ctl
from pedalcore import settings as settingsmod
from pedalcore.presets import Bank

try:
    from pedalcore.blockio import fill16, mix_out, unpack_in
except (SyntaxError, ImportError, ValueError):  # no native emitter on this port
    from pedalcore.blockio_ref import fill16, mix_out, unpack_in

ONE = 32768              # Q15 unity of the mixer weight and volume
FADE_MS = 10             # bypass crossfade and volume ramps (click-free, still feels instant)
CONSOLE_EVERY_MS = 20    # console poll period
LAG_PERSIST_BLOCKS = 16  # a backlog that lasts this long is latency, not a passing stall
KNOB_NAMES = ("drive", "tone", "level")
# a codec's init is tried this often, 20 ms apart: one missed I2C transfer at power-up kept
# the pedal muted until a reboot (a review; Espressif's own ES8311 driver writes its first
# register twice, as the chip can miss it)
CODEC_TRIES = 3
# The block counter wraps (with the ms clock, ctl.CLOCK_MASK) and the CPU-load sums are halved
# before a board's small ints end (2^30): one past that allocates, which fails with the heap
# locked and, every block again, would stop the audio (36 min of playing at 50 % load filled
# busy_sum; an audit)
BUSY_SUM_MAX = const(1 << 28)  # us; + one block's busy (< 2^29, ticks_diff) stays < 2^30
BUSY_N_MAX = const(1 << 20)  # blocks (about 12 min on a Pico)


def _nothing(_):
    return None


def _use_io_kernels(k):
    """The engine's kernel provider's own block I/O, where it has one: on ARM kernels_thumb's
    asm unpack_in and mix_out, bit-identical to blockio's, and what the cost model charges
    there (docs/performance.md; the viper pair costs about 300 cycles/sample more)."""
    global unpack_in, mix_out
    if hasattr(k, "unpack_in") and hasattr(k, "mix_out"):
        unpack_in, mix_out = k.unpack_in, k.mix_out


def _dbfs(peak):
    if peak <= 0:
        return -120.0
    import math
    return round(20 * math.log10(peak / 32768), 1)


class App:
    def __init__(self, slot_dir, settings_path):
        self.slot_dir = slot_dir
        self.settings_path = settings_path
        self.board = boardmod.load(slot_dir + "/board.json")
        b = self.board
        n = b.block
        self.n = n
        self.rate = b.rate_hz
        self.nbytes = 4 * n
        # preallocated block buffers (never resized)
        self.rx_buf = bytearray(4 * n)  # 32-bit I2S slots, little-endian
        self.tx_buf = bytearray(4 * n)
        self.dry = array("h", bytearray(2 * n))
        self.wet = array("h", bytearray(2 * n))
        # ramps: Q15 weight of the effect (0 = bypass) and master volume (start muted)
        self.w = 0
        self.w_target = 0
        self.v = 0
        self.v_target = 0
        self.step = (ONE * n) // (self.rate * FADE_MS // 1000) + 1
        # timing (all small ints)
        self.block_us = (n * 1000000) // self.rate
        self.block_rem = (n * 1000000) % self.rate
        self.frac = 0
        self.ms_per_block = (n * 1000) // self.rate
        self.ms_rem_per_block = (n * 1000) % self.rate
        self.ms_frac = 0
        self.now_ms = 0
        self.console_every = CONSOLE_EVERY_MS // max(1, self.ms_per_block) or 1
        self.console_count = 0
        # RX backlog (us) beyond which audio was lost (an xrun: the ring overflowed) ...
        self.stall_us = (b.rx_frames - n) * 1000000 // self.rate
        # ... and beyond which the extra latency is not worth keeping (fade out, restart)
        self.resync_us = 2 * self.block_us + 500
        self.resyncs = 0
        self.lag_high = 0  # consecutive blocks with the lag above resync_us
        self.timed = True
        self.lag = 0
        self.t_prev = 0
        self.t_valid = False
        # stats
        self.blocks = 0
        self.xruns = 0
        self.busy_sum = 0
        self.busy_max = 0
        self.busy_n = 0
        self.in_peak = 0
        self.out_peak = 0
        self.faults = 0
        self.fault_streak = 0
        # state
        self.engine = None
        self.Engine = None
        self.run_engine = False
        self.bypass = False
        self.fault = None
        self.current = None  # preset index (0-based) or None
        self.pending = None  # quiet action: (function, argument)
        self.pending_arg = None
        self.held_event = ctl.NONE  # a footswitch event waiting for the quiet action
        self.long_reply = None  # a console reply being written a piece per control tick
        self.fault_unsaid = False  # an audio fault that came during it
        self.locked = False
        self.input_ok = True  # False when the ADC codec did not answer: output stays muted
        self.stage = 0
        self.knobs = {}
        self.rx = None
        self.tx = None
        self.settings = settingsmod.load(settings_path)

    # -- start-up ---------------------------------------------------------------------------
    def start(self):
        b = self.board
        i2c = None
        if b.i2c:
            c = b.i2c
            i2c = I2C(c.get("id", 0), sda=Pin(c["sda"]), scl=Pin(c["scl"]),
                      freq=c.get("freq_hz", 100000))
        self.adc_codec = self._make_codec(b.adc_codec, i2c, "adc")
        self.dac_codec = self._make_codec(b.dac_codec, i2c, "dac")
        self.controls = ctl.Controls(b.controls)
        self.reader = console.LineReader()
        for p in self.controls.pots:
            if p.name not in self.knobs:  # the knob's own pot, not an expression pedal on it
                self.knobs[p.name] = p.value
                self.controls.hold_others(p.name, p)
        for name in KNOB_NAMES:
            if name not in self.knobs:
                self.knobs[name] = None  # no pot: the model's fitted point
        for name, v in self.settings["knobs"].items():
            self.knobs[name] = int(v * 1023 + 0.5)
            self.controls.hold_others(name)
        try:
            from pedalcore import engine
            self.Engine = engine.Engine
            _use_io_kernels(engine.K)
        except Exception as e:  # no engine on this slot: a plain (buffered) bypass pedal
            self.Engine = None
            self._set_fault("engine: " + type(e).__name__ + " " + str(e)[:60])
        self.bank = Bank(self.slot_dir + "/bank", self.rate)
        if self.Engine is not None:
            self.bank.check_all(self._report)
            want = self.bank.index_of(self.settings["preset"] or "")
            if want is None or not self.bank.items[want].ok:
                want = self.bank.first_ok()
            # a file the reader takes can still fail to build (a model too big for this
            # board's heap): the next good one plays, as for a file the reader refuses (an
            # audit: the pedal stayed dry with a good preset in the bank)
            while want is not None and not self._load(want, self._report):
                want = self.bank.first_ok()  # (_load marked that one bad)
            if want is None:
                self._set_fault("no loadable preset" if self.bank.items
                                else "no presets in bank")
        self._apply_gate()
        self._update_led()
        gc.collect()
        self._open_i2s()
        console.reply("boot", console.dumps({
            "version": VERSION, "preset": self._preset_no(), "name": self._preset_name(),
            "board": b.name, "slot": self.slot_dir}))

    def _make_codec(self, spec, i2c, role):
        try:
            c = codecs.make(spec, i2c, role)
            for attempt in range(CODEC_TRIES):
                try:
                    c.init()
                    return c
                except OSError:  # a missed I2C transfer: a chip still in reset, a noisy bus
                    if attempt == CODEC_TRIES - 1:
                        raise
                    time.sleep_ms(20)
        except Exception as e:
            self._report("codec %s: %s" % (spec.get("chip"), e))
            if role == "adc":
                # no working input converter: what the RX pin reads is noise. Stay muted.
                self.input_ok = False
                self.fault = "codec %s: %s" % (spec.get("chip"), e)
            return codecs.NoCodec()

    def _open_i2s(self):
        """Create TX (primed with silence) then RX, so the RX ring starts empty."""
        b = self.board
        o, i = b.i2s_out, b.i2s_in
        # a TX ring of only prime + 1 blocks: after a stall the backlog stays in the RX ring,
        # where the lag measurement sees it (and a resync removes it)
        self.tx = I2S(o["id"], sck=Pin(o["sck"]), ws=Pin(o["ws"]), sd=Pin(o["sd"]),
                      mode=I2S.TX, bits=32, format=I2S.MONO, rate=self.rate,
                      ibuf=b.tx_ibuf)
        fill16(self.dry, self.n, 0)
        for k in range(self.nbytes):
            self.tx_buf[k] = 0
        for _ in range(b.prime_blocks):
            self.tx.write(self.tx_buf)
        self.rx = I2S(i["id"], sck=Pin(i["sck"]), ws=Pin(i["ws"]), sd=Pin(i["sd"]),
                      mode=I2S.RX, bits=32, format=I2S.MONO, rate=self.rate, ibuf=b.ibuf)
        # the simulator's I2S says when it is not paced by a clock (then time means nothing)
        self.timed = getattr(self.rx, "paced", True)
        self.t_valid = False
        self.lag = 0
        self.unmute_after = 2  # blocks: unmute the codecs once real audio flows

    def _close_i2s(self):
        for dev in (self.rx, self.tx):
            if dev is not None:
                try:
                    dev.deinit()
                except Exception:
                    pass
        self.rx = None
        self.tx = None

    def _mute_codecs(self, on):
        try:
            self.dac_codec.mute(on)
            self.adc_codec.mute(on)
        except Exception:
            pass  # a codec that stopped answering must not stop the audio

    # -- the audio block (heap locked: no allocation below) ----------------------------------
    def _block(self):
        n = self.n
        if self.rx.readinto(self.rx_buf) < self.nbytes:
            return False  # the audio source ended (simulator) or the bus failed
        t0 = time.ticks_us()
        if self.timed and self.t_valid:
            lag = self.lag + time.ticks_diff(t0, self.t_prev) - self.block_us
            self.frac += self.block_rem
            if self.frac >= self.rate:
                self.frac -= self.rate
                lag -= 1
            if lag < 0:
                lag = 0  # we waited for the data: in step with the converters
            self.lag = lag
        self.t_prev = t0
        self.t_valid = True
        pk = unpack_in(self.rx_buf, self.dry, self.wet, n)
        self.stage = 1  # the dry block is valid from here on
        if pk > self.in_peak:
            self.in_peak = pk
        if self.run_engine:
            self.engine.process(self.wet)
        w0 = self.w
        w1 = self.w_target
        if w1 > w0 + self.step:
            w1 = w0 + self.step
        elif w1 < w0 - self.step:
            w1 = w0 - self.step
        v0 = self.v
        v1 = self.v_target
        if v1 > v0 + self.step:
            v1 = v0 + self.step
        elif v1 < v0 - self.step:
            v1 = v0 - self.step
        pk = mix_out(self.dry, self.wet, self.tx_buf, n, w0, w1, v0, v1)
        self.w = w1
        self.v = v1
        if pk > self.out_peak:
            self.out_peak = pk
        busy = time.ticks_diff(time.ticks_us(), t0)
        self.stage = 2
        self.tx.write(self.tx_buf)
        self.stage = 0
        if self.busy_sum > BUSY_SUM_MAX or self.busy_n > BUSY_N_MAX:
            self.busy_sum >>= 1  # (the same load over about half the blocks)
            self.busy_n >>= 1
        self.busy_sum += busy
        self.busy_n += 1
        if busy > self.busy_max:
            self.busy_max = busy
        self.blocks = (self.blocks + 1) & ctl.CLOCK_MASK
        return True

    # -- the loop ----------------------------------------------------------------------------
    def loop(self):
        # heap_lock exists on every port we target (core features); guard for odd builds
        lock = self.board.heap_lock and hasattr(micropython, "heap_lock")
        while True:
            if lock:
                micropython.heap_lock()
                self.locked = True
            try:
                more = self._block()
            except Exception as e:
                self._unlock()
                self._audio_fault(e)
                continue
            self._unlock()
            if not more:
                return
            self.fault_streak = 0
            self._control()

    def _unlock(self):
        if self.locked:
            micropython.heap_unlock()
            self.locked = False

    def _audio_fault(self, e):
        """An exception in the audio block: drop the effect, keep the dry signal flowing."""
        self.faults += 1
        self.fault_streak += 1
        if self.fault_streak > 3:
            raise e  # even the plain bypass path fails: a firmware bug, let main.py see it
        if self.run_engine:
            self.run_engine = False
            self.w = 0
            self.w_target = 0
            self._set_fault("audio: " + type(e).__name__ + " " + str(e)[:60])
            if self.long_reply is None:
                console.reply("err", self.fault)
            else:  # said when the reply's line has ended (it would cut it in two)
                self.fault_unsaid = True
        if self.stage == 1:
            # the effect failed mid-block: play this block dry so the stream has no gap
            mix_out(self.dry, self.wet, self.tx_buf, self.n, 0, 0, self.v, self.v)
            self.tx.write(self.tx_buf)
            self.blocks = (self.blocks + 1) & ctl.CLOCK_MASK
        self.stage = 0

    def _tick_clock(self):
        t = self.now_ms + self.ms_per_block
        self.ms_frac += self.ms_rem_per_block
        if self.ms_frac >= self.rate:
            self.ms_frac -= self.rate
            t += 1
        self.now_ms = t & ctl.CLOCK_MASK

    def _control(self):
        self._tick_clock()
        if self.unmute_after:
            self.unmute_after -= 1
            if not self.unmute_after and self.input_ok:
                self._mute_codecs(False)
                self.v_target = ONE
        if self.lag > self.stall_us:
            # fell behind by more than the RX ring holds: audio was lost; restart now
            self.xruns += 1
            self.lag = 0
            self.lag_high = 0
            self._restart_i2s()
        elif self.lag > self.resync_us:
            # behind: normal right after a stall (the next reads catch up). If it persists,
            # the stall left extra latency in the rings: fade out, restart them, fade in
            self.lag_high += 1
            if (self.lag_high >= LAG_PERSIST_BLOCKS and self.pending is None
                    and self.long_reply is None):  # (its pieces are what delays the loop)
                self.resyncs += 1
                self.lag = 0
                self.lag_high = 0
                self._quiet(_nothing, None)
        else:
            self.lag_high = 0
        c = self.controls
        ev = c.update(self.now_ms)
        if c.changed is not None:
            self._knob(c.changed.name, c.changed.value)
            c.hold_others(c.changed.name, c.changed)
        # a footswitch event waits for a quiet action under way; a preset change also for a
        # long reply (its own reply would cut that line in two); bypass never waits for one
        if self.held_event and not self._holds(self.held_event):  # (before a newer one)
            held = self.held_event
            self.held_event = ctl.NONE
            self._footswitch(held)
        if ev:
            if not self._holds(ev):
                self._footswitch(ev)
            else:  # (one slot: the latest press waits)
                self.held_event = ev
        if self.long_reply is not None:
            # a piece per tick, while the input backlog is under half what a resync allows
            if self.lag <= self.resync_us >> 1 and not self.long_reply.more():
                self.long_reply = None
                if self.fault_unsaid:
                    self.fault_unsaid = False
                    console.reply("err", self.fault)
            return  # the console waits: replies stay in order
        if self.pending is not None:
            if self.v == 0:
                self._run_pending()
            return  # console waits until the quiet action is done: replies stay in order
        self.console_count += 1
        if self.console_count >= self.console_every:
            self.console_count = 0
            line = self.reader.poll()
            if line is not None:
                r = console.dispatch(self, line)  # (None: the app answers after a fade)
                if r is not None:
                    if isinstance(r[1], str):
                        console.reply(r[0], r[1])
                    else:  # written a piece per tick from the next one (LongReply)
                        self.long_reply = console.LongReply(r[0], r[1])

    def _restart_i2s(self):
        self._close_i2s()
        self._open_i2s()
        self.unmute_after = 0
        self.v = 0  # ramp back in from silence

    def _run_pending(self):
        fn, arg = self.pending, self.pending_arg
        self.pending = None
        self.pending_arg = None
        self._mute_codecs(True)
        self._close_i2s()
        try:
            r = fn(arg)
        except Exception as e:
            r = ("err", type(e).__name__ + " " + str(e)[:60])
        gc.collect()
        self._open_i2s()
        self.unmute_after = 1
        if r is not None:
            console.reply(r[0], r[1])

    def _quiet(self, fn, arg):
        """Run fn(arg) once the output has faded to silence; fn returns the console reply. One
        at a time: a second would replace the first and lose its reply (the callers wait)."""
        if self.pending is not None:
            return ("err", "busy: another action is under way")
        self.pending = fn
        self.pending_arg = arg
        self.v_target = 0
        return None

    # -- state changes ----------------------------------------------------------------------
    def _set_fault(self, msg):
        if self.input_ok:  # a dead input converter stays the reported fault
            self.fault = msg
        self._update_led()

    def _report(self, msg):
        console.reply("err", msg)

    def _update_led(self):
        led = self.controls.led if hasattr(self, "controls") else None
        if led is None:
            return
        led.engaged = self.run_engine and not self.bypass
        led.fault(self.fault is not None)

    def _load(self, i, report=None):
        """Build the engine for preset i (audio stopped). True on success; on failure the
        pedal is left in bypass (dry signal), never running a half-built model, and
        report(msg) says why when given: at boot, where no command replies. A command's
        reply says it (reported here as well, one command got two @err lines: an audit)."""
        self.run_engine = False
        self.engine = None  # drop the old model first: only one in memory at a time
        gc.collect()
        pedal = self.bank.load(i, report)
        ok = False
        if pedal is not None:
            try:
                self.engine = self.Engine(pedal, self.n)
                ok = True
            except Exception as e:
                p = self.bank.items[i]
                p.ok = False
                p.error = ("engine: " + type(e).__name__ + " " + str(e))[:100]
                if report is not None:
                    report(self.bank.refusal(i))
        if ok:
            self.current = i
            self.run_engine = True
            if self.input_ok:
                self.fault = None
            for name, v in self.knobs.items():
                self._engine_knob(name, v, True)
            self._apply_gate()
            self.engine.prewarm()  # audio is stopped: heard from its rest, no thump
            self.w = 0 if self.bypass else ONE
        else:
            self.w = 0
            self.current = None
            self._set_fault("preset %d: %s" % (i + 1, self.bank.items[i].error))
        self.w_target = self.w
        self._update_led()
        if ok and hasattr(self, "controls"):
            self.controls.led.blink_code(i + 1, self.now_ms)  # a fault keeps its fast blink
        return ok

    def _engine_knob(self, name, v, immediate=False):
        if self.engine is None:
            return
        try:
            self.engine.set_knob(name, v, immediate)
        except (KeyError, ValueError, AttributeError, TypeError):
            pass  # this model has no such knob

    def _knob(self, name, v):
        self.knobs[name] = v
        if self.run_engine:
            self._engine_knob(name, v)
        if name in self.settings["knobs"]:
            del self.settings["knobs"][name]  # the pot took over from the console override

    def _apply_gate(self):
        if self.engine is None or not hasattr(self.engine, "set_gate"):
            return
        try:
            self.engine.set_gate(self.settings["gate_dbfs"])
        except (ValueError, TypeError) as e:
            self._report("gate: " + str(e))

    def _set_bypass(self, on):
        self.bypass = on
        self.w_target = 0 if (on or not self.run_engine) else ONE
        self._update_led()

    def _holds(self, ev):
        """Must footswitch event ``ev`` wait (see _control)?"""
        if self.pending is not None:
            return True
        return self.long_reply is not None and ev != ctl.SHORT

    def _footswitch(self, ev):
        if ev == ctl.SHORT:
            self._set_bypass(not self.bypass)
        elif ev in (ctl.LONG, ctl.SHORT2):
            self._change_preset("next", True)
        elif ev == ctl.LONG2:
            self._change_preset("prev", True)

    def _change_preset(self, which, save):
        if self.Engine is None or not self.bank.items:
            return ("err", "preset: no presets")
        if which in ("next", "prev"):
            cur = -1 if self.current is None else self.current
            i = self.bank.step(cur, 1 if which == "next" else -1)
            if i is None:
                return ("err", "preset: no loadable preset")
            if i == self.current and self.run_engine:  # the only good one, and it plays
                return ("ok", "preset %d %s" % (i + 1, self._preset_name()))
        else:
            i = which
        return self._quiet(self._do_preset, (i, save))

    def _do_preset(self, arg):
        i, save = arg
        back = self.current if self.run_engine else None
        if not self._load(i):  # said as cmd_preset says a preset known to be bad
            msg = self.bank.refusal(i)
            # the one that played plays again (its model was freed to make room), rather
            # than leaving the guitarist with a dry pedal mid-song
            if back is not None and back != i:
                msg += ("; preset %d plays again" % (back + 1) if self._load(back)
                        else "; preset %d did not load again either" % (back + 1))
            return ("err", msg)
        self.settings["preset"] = self.bank.items[i].file
        why = self._save() if save else None
        if why is not None:  # (a long press saves: the preset plays, but will not after a reboot)
            return ("err", "preset %d %s plays, but %s" % (i + 1, self._preset_name(), why))
        return ("ok", "preset %d %s" % (i + 1, self._preset_name()))

    def _save(self):
        """Write the settings: None, or why they were not saved (the old file stays)."""
        try:
            settingsmod.save(self.settings_path, self.settings)
        except OSError as e:
            code = e.args[0] if e.args else 0
            return ("the pedal's filesystem is full; settings not saved" if code == 28  # ENOSPC
                    else "settings not saved (OSError %s)" % code)
        return None

    # -- console handlers (called by console.dispatch) -----------------------------------------
    def cmd_set(self, key, value):
        if key == "gate":
            g = console.parse_gate(value)
            if g is None:
                return ("err", "set gate: expected dBFS -120..0 or off")
            self.settings["gate_dbfs"] = None if g == "off" else g
            self._apply_gate()
            return ("ok", "gate " + ("off" if g == "off" else str(g)))
        if key not in self.knobs:
            return ("err", "set: unknown key " + key[:20] + " (drive, tone, level, gate)")
        p = self.controls.pot(key)
        if value == "pot":
            if key in self.settings["knobs"]:
                del self.settings["knobs"][key]
            if p is None:  # no pot (an expression pedal alone is one): each preset's fitted point
                self.knobs[key] = None
                if self.run_engine:
                    self._engine_knob(key, None)
                return ("ok", "%s fitted (no %s pot)" % (key, key))
            self.controls.hold_others(key, p)
            p.overridden = False
            self._knob(key, p.value)
            return ("ok", "%s pot" % key)
        v = console.parse_knob_value(value)
        if v is None:
            return ("err", "set %s %s: expected 0..1 or pot" % (key, value))
        self.knobs[key] = int(v * 1023 + 0.5)
        if self.run_engine:
            self._engine_knob(key, self.knobs[key])
        self.settings["knobs"][key] = v
        self.controls.hold_others(key)
        return ("ok", "%s %.3f" % (key, v))

    def cmd_preset(self, which):
        if isinstance(which, int):
            if which < 1 or which > len(self.bank.items):
                return ("err", "preset: %d out of range 1..%d" % (which, len(self.bank.items)))
            which = which - 1
            if not self.bank.items[which].ok:
                return ("err", self.bank.refusal(which))
        return self._change_preset(which, False)

    def cmd_bypass(self, arg):
        on = (not self.bypass) if arg == "toggle" else arg == "on"
        self._set_bypass(on)
        if on or self.run_engine:
            return ("ok", "bypass " + ("on" if on else "off"))
        return ("err", "bypass off: no effect loaded (%s)" % self.fault)

    def cmd_save(self):
        return self._quiet(self._do_save, None)

    def _do_save(self, _):
        why = self._save()
        return ("ok", "saved") if why is None else ("err", "save: " + why)

    def cmd_bench(self):
        return self._quiet(self._do_bench, None)

    def _do_bench(self, _):
        n = self.n
        reps = 20
        for k in range(n):  # a loud test tone so every nonlinear stage is exercised
            self.dry[k] = ((k * 2731) & 0x7FFF) - 16384
        t0 = time.ticks_us()
        if self.run_engine:
            for _ in range(reps):
                self.engine.process(self.dry)
        t1 = time.ticks_us()
        if self.run_engine:  # the tone left the model excited: back to its rest
            self.engine.reset()
            self.engine.prewarm()
        for _ in range(reps):
            unpack_in(self.rx_buf, self.dry, self.wet, n)
            mix_out(self.dry, self.wet, self.tx_buf, n, ONE, ONE, ONE, ONE)
        t2 = time.ticks_us()
        eng = time.ticks_diff(t1, t0) / reps
        io = time.ticks_diff(t2, t1) / reps
        per_block = eng + io
        mhz = self.board.cpu_mhz
        return ("bench", console.dumps({
            "block_frames": n, "rate_hz": self.rate, "cpu_mhz": mhz,
            "engine_us_per_block": round(eng, 1), "io_us_per_block": round(io, 1),
            "cycles_per_sample": round(per_block * mhz / n, 1),
            "load_pct": round(100 * per_block / (self.block_us or 1), 1),
            "headroom_pct": round(100 - 100 * per_block / (self.block_us or 1), 1),
            "engine": self.run_engine, "platform": sys.platform}))

    def _preset_no(self):
        return None if self.current is None else self.current + 1

    def _preset_name(self):
        return None if self.current is None else self.bank.items[self.current].name

    def status_json(self):
        bu = self.block_us or 1
        load = 100 * self.busy_sum / (self.busy_n * bu) if self.busy_n else 0.0
        peak = 100 * self.busy_max / bu
        d = {
            "preset": self._preset_no(), "name": self._preset_name(),
            "bypass": self.bypass or not self.run_engine,
            "knobs": {k: (None if v is None else round(v / 1023, 3))
                      for k, v in self.knobs.items()},
            "gate_dbfs": self.settings["gate_dbfs"],
            "in_peak_dbfs": _dbfs(self.in_peak), "out_peak_dbfs": _dbfs(self.out_peak),
            "cpu_load": round(load, 1), "cpu_peak": round(peak, 1), "xruns": self.xruns,
            "resyncs": self.resyncs,
            "mem_free": gc.mem_free(), "blocks": self.blocks, "fault": self.fault,
            "board": self.board.name, "block_frames": self.n, "rate_hz": self.rate,
            # "linux" in a virtual pedal: its CPU figures are the host's, not the board's
            "platform": sys.platform,
        }
        self.in_peak = 0
        self.out_peak = 0
        self.busy_sum = 0
        self.busy_n = 0
        self.busy_max = 0
        return console.dumps(d)

    def presets_json(self):
        """The bank as a JSON list, in pieces (console.reply writes them one by one): built
        as one string, a bank of a few hundred presets failed to allocate it in a fragmented
        heap (an audit: `@err internal: MemoryError` at 250 presets)."""
        yield "["
        for i in range(len(self.bank.items)):
            if i:
                yield ", "
            e = self.bank.entry(i)
            e["current"] = i == self.current  # (a small dict a preset: the heap allows it)
            yield console.dumps(e)
        yield "]"

    # -- shutdown ---------------------------------------------------------------------------
    def stop(self):
        self._unlock()
        for c in (getattr(self, "dac_codec", None), getattr(self, "adc_codec", None)):
            if c is not None:
                try:
                    c.deinit()
                except Exception:
                    pass
        self._close_i2s()
        if self.long_reply is not None:  # (never left half a line; after the audio stopped)
            self.long_reply.finish()
            self.long_reply = None


STARTED = False  # set once the pedal has started (printed @boot): main.py's fallback asks


def run(slot_dir, settings_path):
    """Run the pedal until the audio source ends (simulator) or Ctrl-C; returns the App."""
    global STARTED
    app = App(slot_dir, settings_path)
    try:
        app.start()
        STARTED = True
        app.loop()
    finally:
        app.stop()
    return app


if __name__ == "__main__":
    run(sys.argv[1] if len(sys.argv) > 1 else ".", "settings.json")
