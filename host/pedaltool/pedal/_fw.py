"""Import the firmware's pure-Python modules (pedalcore.arith, .pedalfile, .engine) on the host.

The firmware tree (``pedaltool.paths.firmware_dir()``) is put on ``sys.path`` once so that the
host runs the very same reference code as the device.
"""

import importlib
import sys
from types import ModuleType

from pedaltool.paths import firmware_dir


def fw_module(name: str) -> ModuleType:
    """``fw_module("arith")`` -> the firmware's ``pedalcore.arith`` module."""
    root = str(firmware_dir())
    if root not in sys.path:
        sys.path.append(root)
    return importlib.import_module(f"pedalcore.{name}")
