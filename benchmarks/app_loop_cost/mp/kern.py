# MicroPython (unix port): the per-block kernels of the app's audio path alone, heap locked,
# on the same input blocks the app sees.  argv: slot_dir block reps mode maxreps
# (maxreps blocks of input are prepared in every run, so the set-up cancels in R vs 3R)
#   base    loop overhead only (for r: rx = rxs[r])
#   unpack  + unpack_in(rx, dry, wet, n)
#   eng     + unpack_in + engine.process(wet)
#   full    + unpack_in + engine.process(wet) + mix_out(dry, wet, tx, n, ONE, ONE, ONE, ONE)
#   engsyn  Engine.process alone on a fixed synthetic buffer (the VG_SCRIPT of
#           benchmarks/bench_firmware_cost.py, same buffer formula)
#   nop4    a trivial viper fn with unpack_in's signature (call overhead stand-in)
#   nop8    a trivial viper fn with mix_out's signature
#   wrap    kernels_thumb.mix_out's Python wrapper (verbatim) around a trivial 4-arg viper fn:
#           the ARM mix_out's interpreter part
#   proc    unpack_in + Engine.process WITHOUT the heap lock (diagnostic)
import sys
from array import array
import micropython
from pedalcore import engine, app, blockio
from pedalcore.presets import Bank

slot = sys.argv[1]
N = int(sys.argv[2])
REPS = int(sys.argv[3])
MODE = sys.argv[4]
MAXREPS = int(sys.argv[5])
ONE = 32768
unpack_in = app.unpack_in
mix_out = app.mix_out

# the same input the app reads (16-bit WAV -> MSB-aligned 32-bit slots, per block)
f = open(slot + "/../in_long.raw", "rb")  # int16 little-endian samples
rxs = []
for r in range(MAXREPS):
    b = f.read(2 * N)
    rx = bytearray(4 * N)
    for i in range(N):
        rx[4 * i + 2] = b[2 * i]
        rx[4 * i + 3] = b[2 * i + 1]
    rxs.append(rx)
f.close()
dry = array("h", bytearray(2 * N))
wet = array("h", bytearray(2 * N))
tx = bytearray(4 * N)

e = None
if MODE in ("eng", "full", "engsyn", "proc"):
    bank = Bank(slot + "/bank", 48000)
    pedal = bank.load(0)
    e = engine.Engine(pedal, N)
    for name in ("drive", "tone", "level"):  # as the app: pots at mid-travel (512/1023)
        try:
            e.set_knob(name, 512, True)
        except (KeyError, ValueError, AttributeError, TypeError):
            pass
    if hasattr(e, "set_gate"):
        e.set_gate(None)
    e.prewarm()


@micropython.viper
def nop4(src: ptr32, dry: ptr16, wet: ptr16, n: int) -> int:
    return 0


@micropython.viper
def nop8(dry: ptr16, wet: ptr16, dst: ptr32, n: int, w0: int, w1: int, v0: int, v1: int) -> int:
    return 0


@micropython.viper
def mix(dry: ptr16, wet: ptr16, dst: ptr32, p: ptr32) -> int:
    return 0


_MP = array("i", [0, 0, 0, 0, 0])  # mixer parameters


def wrap_mix_out(dry, wet, dst, n, w0, w1, v0, v1):
    """kernels_thumb.mix_out's Python wrapper, copied line for line so that its bytecode can
    be counted here: asm_thumb does not compile on x64, so the module cannot be imported.
    Keep it in step with kernels_thumb.py."""
    p = _MP
    p[0] = n
    p[1] = w0 << 8
    p[2] = ((w1 - w0) << 8) // n
    p[3] = v0 << 8
    p[4] = ((v1 - v0) << 8) // n
    return mix(dry, wet, dst, p)


def run_base(rxs, dry, wet, tx, n, reps):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
    micropython.heap_unlock()


def run_unpack(rxs, dry, wet, tx, n, reps):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
        unpack_in(rx, dry, wet, n)
    micropython.heap_unlock()


def run_eng(rxs, dry, wet, tx, n, reps, e):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
        unpack_in(rx, dry, wet, n)
        e.process(wet)
    micropython.heap_unlock()


def run_proc(rxs, dry, wet, tx, n, reps, e):
    for r in range(reps):
        rx = rxs[r]
        unpack_in(rx, dry, wet, n)
        e.process(wet)


def run_full(rxs, dry, wet, tx, n, reps, e):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
        unpack_in(rx, dry, wet, n)
        e.process(wet)
        mix_out(dry, wet, tx, n, ONE, ONE, ONE, ONE)
    micropython.heap_unlock()


def run_engsyn(e, buf, reps):  # = VG_SCRIPT's run()
    micropython.heap_lock()
    for r in range(reps):
        e.process(buf)
    micropython.heap_unlock()


def run_nop4(rxs, dry, wet, tx, n, reps):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
        nop4(rx, dry, wet, n)
    micropython.heap_unlock()


def run_nop8(rxs, dry, wet, tx, n, reps):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
        nop8(dry, wet, tx, n, ONE, ONE, ONE, ONE)
    micropython.heap_unlock()


def run_wrap(rxs, dry, wet, tx, n, reps):
    micropython.heap_lock()
    for r in range(reps):
        rx = rxs[r]
        wrap_mix_out(dry, wet, tx, n, ONE, ONE, ONE, ONE)
    micropython.heap_unlock()


def measured(fn, *args):
    """Run fn(*args) inside the C function filter_iternext: valgrind counts only there
    (--collect-atstart=no --toggle-collect=filter_iternext; filter() is used nowhere else)."""
    for _ in filter(lambda _: fn(*args), (0,)):
        pass


if MODE == "engsyn":
    buf = array('h', [((i * 7919) % 16384) - 8192 for i in range(N)])
    measured(run_engsyn, e, buf, REPS)
elif MODE in ("eng", "full", "proc"):
    measured({"eng": run_eng, "full": run_full, "proc": run_proc}[MODE], rxs, dry, wet, tx, N,
             REPS, e)
else:
    measured({"base": run_base, "unpack": run_unpack, "nop4": run_nop4, "nop8": run_nop8,
              "wrap": run_wrap}[MODE], rxs, dry, wet, tx, N, REPS)
print("@facts", MODE, engine.KERNELS, e.nops if e else None,
      (e.fast_op is not None) if e else None, unpack_in is blockio.unpack_in,
      mix_out is blockio.mix_out)
