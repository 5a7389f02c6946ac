"""Fixtures for the device-link tests: a virtual pedal on a real pty, firmware trees, banks."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from minimal_firmware import make_bank, make_firmware  # noqa: E402
from pedaltool.device.virtual import VirtualPedal  # noqa: E402


@pytest.fixture
def pedal(tmp_path):
    """A fresh virtual pedal (empty filesystem, like a board with only MicroPython)."""
    vp = VirtualPedal(fs_dir=tmp_path / "pedal-fs", transcript=tmp_path / "transcript.log")
    vp.start()
    yield vp
    vp.stop()


@pytest.fixture
def fw_v1(tmp_path):
    return make_firmware(tmp_path / "fw1", version="v1")


@pytest.fixture
def bank_v1(tmp_path):
    return make_bank(tmp_path / "bank1", names=("alpha", "beta"))
