"""Import the firmware's own modules (pedalcore.*) into CPython, as the reference for tests."""

import importlib
import math
import random
import sys

from pedaltool.paths import firmware_dir

FW = firmware_dir()


def fw_import(name: str):
    """``pedalcore.<name>`` from the firmware folder (the same file a board runs)."""
    if str(FW) not in sys.path:
        sys.path.append(str(FW))
    return importlib.import_module(f"pedalcore.{name}")


def eleven_stage_pedal():
    """The firmware reader's parse of the emulator tests' full chain: drive gain, 4 peaks, a
    tanh table, 4 peaks, level gain (knob ramps on both gains)."""
    import numpy as np
    from pedaltool.pedal.accuracy import biquad_stage, rbj
    from pedaltool.pedal.fileformat import to_bytes
    from pedaltool.pedal.model import GainStage, PedalModel, TableStage
    from pedaltool.pedal.quantise import quantise

    eq = [biquad_stage(*rbj("peak", f, 48000, 0.7, g)) for f, g in
          ((100, 3), (400, -2), (1200, 4), (3000, -3), (150, 2), (800, -4), (2500, 3),
           (6000, -6))]
    xs = np.linspace(-1.0, 1.0, 257)
    model = PedalModel([GainStage(12.0, knob="drive", knob_min_db=-12, knob_max_db=12),
                        *eq[:4], TableStage(1.0, -1.0, 1.0, np.tanh(2 * xs) / np.tanh(2.0)),
                        *eq[4:], GainStage(-6.0, knob="level", knob_min_db=-20,
                                           knob_max_db=6)], 48000, name="t")
    return fw_import("pedalfile").parse(to_bytes(quantise(model)))


def every_kind_pedal():
    """The firmware reader's parse of a model with every stage kind the engine runs: delay,
    pre-EQ, tap, env_bias -> table (drive), post-EQ, mix, tone, dcblock, level (knobs on
    drive, tone and level)."""
    import numpy as np
    from pedaltool.pedal import model as M
    from pedaltool.pedal.accuracy import biquad_stage, rbj
    from pedaltool.pedal.fileformat import to_bytes
    from pedaltool.pedal.quantise import quantise

    u = np.linspace(-4, 4, 257)
    table = 0.8 * np.tanh(u + 0.15) - 0.8 * np.tanh(0.15)
    model = M.PedalModel(
        [M.DelayStage(37), biquad_stage(*rbj("highpass", 40, 48000)),
         biquad_stage(*rbj("peak", 700, 48000, 0.8, 6)), M.TapStage(1),
         M.EnvBiasStage(5.0, 80.0, -0.8),
         M.TableStage(6.0, -4, 4, table, knob="drive", knob_min_db=-18, knob_max_db=12),
         biquad_stage(*rbj("lowpass", 4000, 48000, 0.9)), M.MixStage(1, 0.3),
         M.ToneStage(900, 12), M.DcBlockStage(8.0),
         M.GainStage(-8.0, knob="level", knob_min_db=-30, knob_max_db=10)], 48000, name="k")
    return fw_import("pedalfile").parse(to_bytes(quantise(model)))


def engine_blocks(n_blocks: int, n: int = 32, seed: int = 21) -> list[list[int]]:
    """Int16 test blocks for the engine: a slow sine near -4 dBFS plus noise."""
    rnd = random.Random(seed)
    return [[int(20000 * math.sin(0.03 * (n * b + i))) + rnd.randint(-2000, 2000)
             for i in range(n)] for b in range(n_blocks)]


def engine_outputs(kernels, pedal, blocks, knobs=None, one_chain: bool = False) -> list:
    """The firmware Engine with ``kernels`` as its kernel module (engine.K, restored after)
    over ``blocks``; ``knobs`` = {block index: [(knob, value 0..1023), ...]} set before that
    block. one_chain: check that the whole model runs as ONE chain() op per block."""
    from array import array

    engine = fw_import("engine")
    saved = engine.K
    engine.K = kernels
    try:
        e = engine.Engine(pedal, len(blocks[0]))
        if one_chain:
            assert [op.kind for op in e.ops] == [engine.CHAIN] and e.ops[0].f == 1
        out = []
        for k, blk in enumerate(blocks):
            for name, value in (knobs or {}).get(k, ()):
                e.set_knob(name, value)
            buf = array("h", blk)
            e.process(buf)
            out.append(list(buf))
        return out
    finally:
        engine.K = saved
