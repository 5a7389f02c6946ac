"""Input-to-output latency per board profile (from its buffer sizes) and free heap after start-up
(measured: the real firmware, pedalcore.app, started on the simulated board in the MicroPython
unix port with the profile's board.json and a full-chain pedal model).

    python benchmarks/bench_latency.py [--json]

Latency model (frames at the sample rate; no hardware was available, so this is arithmetic on
the buffer sizes, not a scope measurement):
- rp2 (PIO I2S): RX DMA half-buffer + one block (collect) + TX prime blocks (queue) + TX DMA
  half-buffer + ADC and DAC filter group delays. Constant for every sample of a block.
- esp32 (IDF DMA): RX data is delivered per 256-frame DMA buffer, then one block of TX prime,
  then one 256-frame TX DMA buffer in flight, + the codec group delays. The upper figure adds a
  second queued TX DMA buffer (the IDF minimum of two descriptors).

Heap: the unix port is 64-bit (8-byte object slots), so the firmware's own objects take up to
about twice what they take on a 32-bit MCU: "used" is pessimistic. The simulator's own buffers
(I2S conversion chunks, pin log) and the interpreter's own start-up heap are measured
separately ("interpreter + sim") and subtracted from "firmware used".
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
from pedaltool import boards
from pedaltool.device.virtual import micropython_executable
from pedaltool.paths import firmware_dir
from pedaltool.pedal.accuracy import biquad_stage, rbj
from pedaltool.pedal.fileformat import to_bytes
from pedaltool.pedal.model import GainStage, PedalModel, TableStage
from pedaltool.pedal.quantise import quantise

#: MicroPython GC heap sizes used for the run (typical free heap of a fresh board, bytes)
HEAP = {"rpi_pico": 192_000, "rpi_pico2": 460_000, "esp32_devkitc": 160_000,
        "esp32s3_devkitc1": 320_000}


def full_chain(rate: int) -> PedalModel:
    """The issue's cost chain: 8 biquads + table + gains."""
    xs = np.linspace(-1, 1, 257)
    bq = [rbj("highpass", 60, rate), rbj("peak", 400, rate, 1.0, 3),
          rbj("peak", 800, rate, 1.0, -2), rbj("peak", 1500, rate, 1.0, 4),
          rbj("lowpass", 6000, rate), rbj("highpass", 30, rate), rbj("peak", 3000, rate, 2.0, -3),
          rbj("lowpass", 9000, rate)]
    stages = [GainStage(6.0, knob="drive", knob_min_db=-12, knob_max_db=12)]
    stages += [biquad_stage(b, a) for b, a in bq[:4]]
    stages += [TableStage(1.0, -1.0, 1.0, np.tanh(3 * xs) / np.tanh(3.0))]
    stages += [biquad_stage(b, a) for b, a in bq[4:]]
    stages += [GainStage(-6.0, knob="level", knob_min_db=-20, knob_max_db=6)]
    return PedalModel(stages, rate, name="full chain")


def latency(profile: boards.BoardProfile) -> dict:
    a = profile.data["audio"]
    lat = profile.data.get("latency", {})
    rate, n, prime = a["sample_rate_hz"], a["block_frames"], a["tx_prime_blocks"]
    codec = lat.get("adc_group_delay_frames", 0) + lat.get("dac_group_delay_frames", 0)
    if lat.get("model") == "esp32-dma":
        dma = lat["dma_buffer_frames"]
        low = dma + prime * n + dma + codec
        high = low + dma
    else:
        low = high = lat["rx_dma_frames"] + n + prime * n + lat["tx_dma_frames"] + codec
    return {"block_frames": n, "rate_hz": rate, "codec_frames": codec,
            "latency_frames": [low, high],
            "latency_ms": [round(1000 * low / rate, 2), round(1000 * high / rate, 2)]}


SIM_ONLY = """
import gc, machine
from machine import I2S, Pin
gc.collect(); a0 = gc.mem_alloc()
t = I2S(0, sck=Pin(16), ws=Pin(17), sd=Pin(18), mode=I2S.TX, bits=32, format=I2S.MONO,
        rate=48000, ibuf=512)
r = I2S(1, sck=Pin(10), ws=Pin(11), sd=Pin(12), mode=I2S.RX, bits=32, format=I2S.MONO,
        rate=48000, ibuf=512)
gc.collect(); print("@simbytes", gc.mem_alloc())
"""

FIRMWARE = """
import gc
from pedalcore import app
_start = app.App.start
def start(self):
    _start(self)
    gc.collect()
    print("@heap %d %d" % (gc.mem_free(), gc.mem_alloc()))
app.App.start = start
app.run({slot!r}, "settings.json")
"""


def heap_after_start(name: str, pedal: bytes, work: Path) -> dict:
    slot = work / name
    shutil.copytree(firmware_dir() / "pedalcore", slot / "pedalcore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (slot / "board.json").write_bytes(boards.to_device_json(boards.load_board(name)))
    (slot / "bank").mkdir()
    (slot / "bank" / "chain.pedal").write_bytes(pedal)
    wav = work / "in.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(bytes(2 * 4800))
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(firmware_dir() / "sim"), str(slot)]),
               PEDALTOOL_SIM_INPUT=str(wav), PEDALTOOL_SIM_OUTPUT=str(work / "out.wav"),
               PEDALTOOL_SIM_REALTIME="0", PEDALTOOL_SIM_AT_END="stop")
    heap = HEAP[name]
    mp = micropython_executable()
    frees, allocs = [], []
    for _ in range(RUNS):  # the GC is conservative (scans the C stack): results vary a little
        out = subprocess.run([mp, "-X", f"heapsize={heap}", "-c",
                              FIRMWARE.format(slot=str(slot))],
                             capture_output=True, text=True, env=env, cwd=work, check=True).stdout
        free, alloc = (int(v) for v in out.split("@heap ")[1].split()[:2])
        frees.append(free)
        allocs.append(alloc)
    sim = subprocess.run([mp, "-X", f"heapsize={heap}", "-c", SIM_ONLY], capture_output=True,
                         text=True, env=env, cwd=work, check=True).stdout
    sim_bytes = int(sim.split("@simbytes ")[1].split()[0])
    return {"heap": heap, "mem_free": [min(frees), max(frees)], "sim_bytes": sim_bytes,
            "firmware_used": [min(allocs) - sim_bytes, max(allocs) - sim_bytes]}


RUNS = 5


def _span(v):
    return f"{v[0]}" if v[0] == v[1] else f"{v[0]} .. {v[1]}"


def main() -> None:
    as_json = "--json" in sys.argv
    rows = []
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        for name in ("rpi_pico", "rpi_pico2", "esp32s3_devkitc1", "esp32_devkitc"):
            p = boards.load_board(name)
            pedal = to_bytes(quantise(full_chain(p.sample_rate_hz)))
            row = {"board": name, **latency(p), **heap_after_start(name, pedal, work)}
            rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=1))
        return
    print(f"# {platform.platform()}  python {platform.python_version()}")
    print("| board | block | latency (ms) | of which codecs (ms) | heap | free after start "
          "| firmware used | interpreter + sim |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        lo, hi = r["latency_ms"]
        lat = f"{lo}" if lo == hi else f"{lo} .. {hi}"
        print(f"| {r['board']} | {r['block_frames']} | {lat} | "
              f"{round(1000 * r['codec_frames'] / r['rate_hz'], 2)} | {r['heap']} | "
              f"{_span(r['mem_free'])} | {_span(r['firmware_used'])} | {r['sim_bytes']} |")


if __name__ == "__main__":
    main()
