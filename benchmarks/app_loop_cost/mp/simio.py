# MicroPython (unix port, firmware/sim first on MICROPYPATH): the simulator's own per-block
# calls alone, with the app's buffers.  argv: block reps mode maxreps
#   base   loop overhead only
#   rd     rx.readinto(rx_buf)           (sim: Python + viper _decode + file read)
#   wr     tx.write(tx_buf)              (sim: Python + viper _encode + file write)
#   adc    a.read_u16()                  (sim: Python, sim.poll(), dict get)
#   pin    p.value()                     (sim: Python, sim.pin_level -> poll, presses, dict)
#   c_rd   io.BytesIO.readinto(rx_buf)   (a C method copying 4N bytes: stand-in for the board's)
#   c_wr   io.BytesIO.write(tx_buf)      (a C method copying 4N bytes)
#   c0     s.isdigit()                   (a zero-argument C method: stand-in for ADC/Pin reads)
#   poll   console.LineReader().poll()   (the app's console poll, stdin open with no data)
#   <mode>_u  the same with the heap unlocked (the control tick runs unlocked)
import sys, io
import micropython
from machine import I2S, Pin, ADC
from pedalcore import console

N = int(sys.argv[1])
REPS = int(sys.argv[2])
MODE = sys.argv[3]
MAXREPS = int(sys.argv[4])
rate = 48000
# as app._open_i2s (rpi_pico board: TX on 16/17/18, RX on 10/11/12, ibuf 4096)
tx = I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.TX, bits=32, format=I2S.MONO,
         rate=rate, ibuf=4 * N * 2)
rx = I2S(1, sck=Pin(10), ws=Pin(11), sd=Pin(12), mode=I2S.RX, bits=32, format=I2S.MONO,
         rate=rate, ibuf=4096)
rx_buf = bytearray(4 * N)
tx_buf = bytearray(4 * N)
for i in range(4 * N):
    tx_buf[i] = (i * 37) & 0xFF
adc = ADC(Pin(26))
pin = Pin(15, Pin.IN, Pin.PULL_UP)
bio_r = io.BytesIO(bytes(4 * N * MAXREPS + 16))
bio_w = io.BytesIO(bytes(4 * N * MAXREPS + 16))
bio_w.write(tx_buf)  # the copy-on-write of the whole stream, once, before the loop
bio_w.seek(0)
s = "5"
reader = console.LineReader()


def run(mode, reps):
    locked = not mode.endswith("_u")  # _u: unlocked, as in the app's control tick
    mode = mode[:-2] if not locked else mode
    if locked:
        micropython.heap_lock()
    if mode == "base":
        for r in range(reps):
            pass
    elif mode == "rd":
        for r in range(reps):
            rx.readinto(rx_buf)
    elif mode == "wr":
        for r in range(reps):
            tx.write(tx_buf)
    elif mode == "adc":
        for r in range(reps):
            adc.read_u16()
    elif mode == "pin":
        for r in range(reps):
            pin.value()
    elif mode == "c_rd":
        for r in range(reps):
            bio_r.readinto(rx_buf)
    elif mode == "c_wr":
        for r in range(reps):
            bio_w.write(tx_buf)
    elif mode == "c0":
        for r in range(reps):
            s.isdigit()
    elif mode == "poll":
        for r in range(reps):
            reader.poll()
    if locked:
        micropython.heap_unlock()


for _ in filter(lambda _: run(MODE, REPS), (0,)):  # counted only in here (see kern.py)
    pass
import machine
print("@facts", MODE, machine.sim.frames_in, machine.sim.frames_out, reader.closed)
