"""Exact, fast NAM inference in numpy: the project's oracle.

``load(path) -> NamModel``; ``model.render(x) -> y`` reproduces NeuralAmpModelerCore's output
(after its prewarm, exact tanh) for every architecture Core loads. See ``docs/nam.md``.
"""

from pedaltool.errors import NamFileError
from pedaltool.nam.model import (
    NamMetadata,
    NamModel,
    NamStream,
    input_level_dbu,
    load,
    load_dict,
    slim_changes_nothing,
)

__all__ = ["NamFileError", "load", "load_dict", "NamModel", "NamMetadata", "NamStream",
           "input_level_dbu", "slim_changes_nothing"]
