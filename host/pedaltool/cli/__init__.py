"""The ``pedaltool`` command line. Each room registers its commands on :data:`main`."""

import importlib

from pedaltool.cli.base import main, run

for _name in ("nam_cmds", "fit_cmds", "pedal_cmds", "device_cmds"):
    try:
        importlib.import_module(f"pedaltool.cli.{_name}")
    except ModuleNotFoundError as _exc:  # a room not written yet
        if _exc.name != f"pedaltool.cli.{_name}":
            raise

__all__ = ["main", "run"]
