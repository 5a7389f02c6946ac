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
