"""Import the firmware's own modules (pedalcore.*) into CPython, as the reference for tests."""

import importlib
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
