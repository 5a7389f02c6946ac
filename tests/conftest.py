"""Shared fixtures: the real captures and Core's reference outputs in ../shared."""

from pathlib import Path

import pedaltool  # noqa: F401  (before numpy: the CLI's SIMD level, pedaltool.simd_level)

# isort: split
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODELS_DIR = SHARED / "models"
REFERENCE_DIR = SHARED / "reference"


def all_model_paths() -> list[Path]:
    """Every real .nam capture in ../shared/models, sorted by name."""
    return sorted(MODELS_DIR.glob("*.nam"))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not MODELS_DIR.is_dir():
        pytest.fail(f"shared captures not found at {MODELS_DIR}")
    return MODELS_DIR


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
