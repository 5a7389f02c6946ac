"""Fixtures shared by the firmware tests."""

import pytest
from fwref import fw_import


@pytest.fixture(scope="module")
def arith():
    """The arithmetic reference, with every intermediate checked to stay in int32."""
    mod = fw_import("arith")
    mod.RANGE_CHECK = True
    yield mod
    mod.RANGE_CHECK = False
