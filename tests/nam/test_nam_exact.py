"""Target 1: every real capture matches NeuralAmpModelerCore's output on the probe signal."""

from pathlib import Path

import numpy as np
import pytest
from pedaltool import nam
from pedaltool.audio import read_wav

SHARED = Path(__file__).resolve().parents[3] / "shared"
REFERENCE_DIR = SHARED / "reference"
MODELS = sorted((SHARED / "models").glob("*.nam"))


@pytest.fixture(scope="module")
def probe() -> np.ndarray:
    return read_wav(REFERENCE_DIR / "probe.wav").samples


def test_all_eighteen_models_are_present():
    assert len(MODELS) == 18


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_matches_core(path, probe):
    ref = np.fromfile(REFERENCE_DIR / "core_outputs" / f"{path.stem}.f32", dtype="<f4")
    y = nam.load(path).render(probe)
    assert y.dtype == np.float32
    assert len(y) == len(ref) == len(probe)
    err = y.astype(np.float64) - ref
    esr = np.mean(err ** 2) / np.mean(ref.astype(np.float64) ** 2)
    assert esr <= 1e-9, f"ESR {esr:.3e}"
    assert np.max(np.abs(err)) <= 1e-4
