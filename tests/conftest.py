"""Shared fixtures: the real Value Portrait release and the demo wave."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"
DEMO_WAVE = REPO / "data" / "demo"


@pytest.fixture(scope="session")
def release_dir() -> Path:
    """The shared Value Portrait folder (README.md, release/, derived tables); skips if absent."""
    if not (RELEASE / "release").is_dir():
        pytest.skip("Value Portrait release not found at ../shared/valueportrait")
    return RELEASE


@pytest.fixture(scope="session")
def demo_wave_dir() -> Path:
    """The demo wave folder ``data/demo`` (made by ``vp-bayes simulate``; see data/README.md)."""
    if not (DEMO_WAVE / "wave.json").is_file():
        pytest.skip("demo wave not found at data/demo (see data/README.md to regenerate)")
    return DEMO_WAVE
