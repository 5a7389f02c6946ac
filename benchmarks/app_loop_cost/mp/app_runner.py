# MicroPython (unix port + firmware/sim): run the real pedalcore.app.run on the simulated board.
# argv: slot_dir settings_path [noconsole | nocontrol]
# Before the loop (start-up only, not per block): make the xrun/resync thresholds unreachable,
# because under valgrind the host is ~50x slower than real time and the (timed) lag
# bookkeeping would otherwise restart the I2S; the per-block code path is the board's normal
# one (lag <= resync_us: "else: lag_high = 0").
import sys, json, machine
from pedalcore import app, engine, blockio
slot, settings = sys.argv[1], sys.argv[2]
noconsole = "noconsole" in sys.argv[3:]
_orig_open = app.App._open_i2s
def _open(self):
    _orig_open(self)
    self.stall_us = 1 << 40
    self.resync_us = 1 << 40
    if noconsole:
        self.console_every = 1 << 40
app.App._open_i2s = _open
if "nocontrol" in sys.argv[3:]:  # diagnostic: the control tick's body removed (its call stays)
    def _no_control(self):
        pass
    app.App._control = _no_control
# count only App.loop (valgrind --collect-atstart=no --toggle-collect=filter_iternext): the
# loop runs inside filter's C iterator, which nothing else in the firmware or the sim uses
_orig_loop = app.App.loop
def _loop(self):
    for _ in filter(lambda _: _orig_loop(self), (0,)):
        pass
app.App.loop = _loop
a = app.run(slot, settings)
e = a.engine
s = machine.sim
print("@facts " + json.dumps({
    "blocks": a.blocks, "xruns": a.xruns, "resyncs": a.resyncs, "faults": a.faults,
    "timed": a.timed, "console_every": a.console_every, "w": a.w, "v": a.v,
    "kernels": engine.KERNELS, "nops": e.nops if e else None,
    "fast_op": (e.fast_op is not None) if e else None,
    "unpack_in_is_blockio_viper": app.unpack_in is blockio.unpack_in,
    "mix_out_is_blockio_viper": app.mix_out is blockio.mix_out,
    "frames_in": s.frames_in, "frames_out": s.frames_out, "led_changes": len(s.led_log),
    "console_closed": a.reader.closed, "gc_mem_free": __import__("gc").mem_free()}))
