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
