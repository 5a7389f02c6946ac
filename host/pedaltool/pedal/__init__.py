"""pedal room: the integer contract, .pedal files, the bit-exact host simulator.

API: ``model`` (PedalModel, stages, simulate_float), ``quantise(model) -> QuantisedPedal``,
``sanity_check(qp)``, ``fileformat.write_pedal/read_pedal``, ``simulate(qp, x_int16, knobs)``,
``simulate_device_float(qp, x_float)``, ``render_file(...)``.
"""

from pedaltool.pedal import fileformat, model
from pedaltool.pedal.fileformat import read_pedal, write_pedal
from pedaltool.pedal.model import PedalModel, simulate_float
from pedaltool.pedal.quantise import QStage, QuantisedPedal, quantise
from pedaltool.pedal.render import render_file
from pedaltool.pedal.sanity import sanity_check
from pedaltool.pedal.simulate import simulate, simulate_device_float

__all__ = [
    "PedalModel", "QStage", "QuantisedPedal", "fileformat", "model", "quantise", "read_pedal",
    "render_file", "sanity_check", "simulate", "simulate_device_float", "simulate_float",
    "write_pedal",
]
