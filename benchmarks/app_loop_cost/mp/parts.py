# MicroPython (unix port + firmware/sim): pieces of the app's control tick alone, heap UNLOCKED
# as in App.loop (the control tick runs between the heap-locked audio blocks).
# argv: slot_dir settings_path reps mode
#   base  loop overhead          ctl   a._control()            tick  a._tick_clock()
#   cupd  controls.update(now)   pot   pots[0].read()          fs    fs.update(now)
#   led   led.update(now)
import sys
from pedalcore import app

slot, settings, REPS, MODE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
a = app.App(slot, settings)
a.start()
a.unmute_after = 0  # (the steady state: unmuted, no pending action)
a.v = a.v_target = 32768
c = a.controls
p = c.pots[0]
fs = c.fs
led = c.led
led.mode = 0  # LED_STEADY: the boot blink code is over, as in the app's measured blocks


def run(mode, reps):
    now = 1000
    if mode == "base":
        for r in range(reps):
            pass
    elif mode == "ctl":
        for r in range(reps):
            a._control()
    elif mode == "tick":
        for r in range(reps):
            a._tick_clock()
    elif mode == "cupd":
        for r in range(reps):
            c.update(now)
    elif mode == "pot":
        for r in range(reps):
            p.read()
    elif mode == "fs":
        for r in range(reps):
            fs.update(now)
    elif mode == "led":
        for r in range(reps):
            led.update(now)


for _ in filter(lambda _: run(MODE, REPS), (0,)):  # counted only in here (see kern.py)
    pass
print("@facts", MODE, a.now_ms, a.console_count, len(c.pots), a.pending, a.long_reply)
a.stop()
