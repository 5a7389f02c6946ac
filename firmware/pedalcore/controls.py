# Knobs, footswitches and the LED, read and driven between audio blocks.
#
# Time is the audio clock in ms (blocks played x block length), passed in by the app: on a board
# it is real time (I2S paces the loop), in the simulator it makes every run deterministic.
# Nothing here allocates in the steady state (small ints only), so the control tick adds no GC.
from machine import ADC, Pin

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

KNOB_MAX = const(1023)
HYST = const(6)          # a pot must move this many counts (of 1023) to count as a change
TAKEOVER = const(40)     # a console override holds until the pot moves this far
SMOOTH_SHIFT = const(2)  # one-pole smoothing: s += (x - s) >> 2 per read

# The ms clock (and the app's block counter) wraps here (6.2 days): a board's small ints end at
# 2^30, and one past that would allocate, which fails in the locked heap of the audio loop
CLOCK_MASK = const(0x1FFFFFFF)


def ms_since(now, then):
    """ms from ``then`` to ``now`` on the wrapping clock (both within CLOCK_MASK)."""
    return (now - then) & CLOCK_MASK


# footswitch events returned by Controls.update()
NONE = const(0)
SHORT = const(1)
LONG = const(2)
SHORT2 = const(3)
LONG2 = const(4)


def _adc(pin_id):
    pin = Pin(pin_id)
    try:
        return ADC(pin, atten=ADC.ATTN_11DB)  # esp32: full 0..3.3 V range
    except (AttributeError, TypeError):
        return ADC(pin)


class Pot:
    """One potentiometer: smoothing (one-pole) + hysteresis + console soft takeover."""

    def __init__(self, name, pin_id):
        self.name = name
        self.adc = _adc(pin_id)
        raw = self.adc.read_u16() >> 6  # 0..1023
        self.smooth = raw << 4           # Q4 for the one-pole smoother
        self.value = raw
        self.overridden = False
        self.ref = raw

    def read(self):
        """Sample once; return True if the (non-overridden) value changed."""
        x = (self.adc.read_u16() >> 6) << 4
        self.smooth += (x - self.smooth) >> SMOOTH_SHIFT
        v = (self.smooth + 8) >> 4
        if v > KNOB_MAX:
            v = KNOB_MAX
        d = v - self.value
        if d < 0:
            d = -d
        if d < HYST and not (v == 0 or v == KNOB_MAX) or v == self.value:
            return False
        self.value = v
        if self.overridden:
            d = v - self.ref
            if d < 0:
                d = -d
            if d < TAKEOVER:
                return False
            self.overridden = False  # the player grabbed the knob: it rules again
        return True

    def override(self):
        """The console set this knob: ignore the pot until it really moves."""
        self.overridden = True
        self.ref = self.value


class Footswitch:
    """Momentary switch to GND with the internal pull-up; debounced; short/long press."""

    def __init__(self, pin_id, debounce_ms, long_ms):
        self.pin = Pin(pin_id, Pin.IN, Pin.PULL_UP)
        self.debounce_ms = debounce_ms
        self.long_ms = long_ms
        self.stable = 0      # 1 = pressed
        self.candidate = 0
        self.since = 0
        self.pressed_at = 0
        self.long_fired = False

    def update(self, now):
        """Returns NONE, SHORT (on release) or LONG (once, while held)."""
        raw = 1 - self.pin.value()
        if raw != self.candidate:
            self.candidate = raw
            self.since = now
        elif raw != self.stable and ms_since(now, self.since) >= self.debounce_ms:
            self.stable = raw
            if raw:
                self.pressed_at = now
                self.long_fired = False
            elif not self.long_fired:
                return SHORT
        if self.stable and not self.long_fired and ms_since(now, self.pressed_at) >= self.long_ms:
            self.long_fired = True
            return LONG
        return NONE


# LED modes
LED_STEADY = const(0)
LED_CODE = const(1)
LED_FAULT = const(2)


class Led:
    """On = effect engaged, off = bypassed; N blinks = preset N; fast blink = fault."""

    def __init__(self, pin_id, active_high=True):
        self.pin = Pin(pin_id, Pin.OUT) if pin_id is not None else None
        self.on_level = 1 if active_high else 0
        self.engaged = True
        self.mode = LED_STEADY
        self.count = 0
        self.t0 = 0
        self.state = -1
        self._set(0)  # a defined level from the start (and no first-change work later)

    def _set(self, on):
        if on != self.state and self.pin is not None:
            self.pin.value(self.on_level if on else 1 - self.on_level)
        self.state = on

    def blink_code(self, n, now):
        self.mode = LED_CODE
        self.count = n
        self.t0 = now

    def fault(self, on):
        if on:
            self.mode = LED_FAULT
        elif self.mode == LED_FAULT:
            self.mode = LED_STEADY

    def update(self, now):
        t = ms_since(now, self.t0)
        if self.mode == LED_FAULT:
            self._set(1 if (now // 60) & 1 else 0)
        elif self.mode == LED_CODE:
            # n pulses of 150 ms on / 200 ms off after a 300 ms dark gap, then back to steady
            if t < 300:
                self._set(0)
                return
            t -= 300
            k = t // 350
            if k >= self.count:
                self.mode = LED_STEADY
            else:
                self._set(1 if t - k * 350 < 150 else 0)
                return
        if self.mode == LED_STEADY:
            self._set(1 if self.engaged else 0)


class Controls:
    """All physical controls of a board profile."""

    def __init__(self, c):
        self.pots = []
        pots = c.get("pots") or {}
        for name in ("drive", "tone", "level"):
            if pots.get(name) is not None:
                self.pots.append(Pot(name, pots[name]))
        for name in pots:
            if name not in ("drive", "tone", "level") and pots[name] is not None:
                self.pots.append(Pot(name, pots[name]))
        if c.get("expression") is not None:
            self.pots.append(Pot(c.get("expression_knob") or "level", c["expression"]))
        db, lp = int(c.get("debounce_ms", 20)), int(c.get("long_press_ms", 600))
        fs = c.get("footswitch")
        fs2 = c.get("footswitch2")
        self.fs = Footswitch(fs, db, lp) if fs is not None else None
        self.fs2 = Footswitch(fs2, db, lp) if fs2 is not None else None
        self.led = Led(c.get("led"), c.get("led_active_high", True))
        self._next_pot = 0
        self.changed = None  # the Pot that changed on the last update(), or None

    def update(self, now):
        """Read one pot (round robin) and the footswitches; drive the LED.

        Returns a footswitch event; sets self.changed to the pot whose value changed."""
        self.changed = None
        if self.pots:
            p = self.pots[self._next_pot]
            self._next_pot += 1
            if self._next_pot >= len(self.pots):
                self._next_pot = 0
            if p.read():
                self.changed = p
        ev = NONE
        if self.fs is not None:
            ev = self.fs.update(now)
        if self.fs2 is not None:
            e2 = self.fs2.update(now)
            if e2 and not ev:
                ev = SHORT2 if e2 == SHORT else LONG2
        self.led.update(now)
        return ev

    def pot(self, name):
        """The knob's own pot (an expression pedal on the same knob comes after it), or None."""
        for p in self.pots:
            if p.name == name:
                return p
        return None

    def hold_others(self, name, moved=None):
        """Knob ``name`` was just set by the pot ``moved`` (None: by the console): every other
        pot on that knob holds until it really moves (soft takeover), so an expression pedal
        and the knob's own pot take turns, the one last moved ruling. Allocates nothing."""
        for p in self.pots:
            if p.name == name and p is not moved:
                p.override()
