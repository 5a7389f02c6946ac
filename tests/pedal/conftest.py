"""Fixtures of the pedal room: a fitted-looking model covering every stage kind."""

import pytest
from pedal_helpers import fitted_looking


@pytest.fixture(scope="session")
def fitted_model():
    return fitted_looking(48000, env=True, mix=True)


@pytest.fixture(scope="session")
def fitted_qp(fitted_model):
    from pedaltool.pedal import quantise

    return quantise(fitted_model)


@pytest.fixture
def range_check():
    """The reference arithmetic with every intermediate checked against signed 32 bits."""
    from pedaltool.pedal._fw import fw_module

    arith = fw_module("arith")
    arith.RANGE_CHECK = True
    yield arith
    arith.RANGE_CHECK = False
