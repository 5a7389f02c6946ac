"""Fixtures for the fit tests (synthetic oracles live in fit_helpers.py)."""

import pytest
from fit_helpers import WienerHammerstein


@pytest.fixture()
def wh_oracle():
    return WienerHammerstein()


@pytest.fixture()
def ts_oracle():
    """Tube Screamer-like: clean path plus a clipped, high-passed branch."""
    return WienerHammerstein(drive=20.0, bias=0.0, clean=0.6)
