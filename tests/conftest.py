"""Shared fixtures: the real Value Portrait release and the demo wave."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytensor
import pytest

from vp_bayes.model.compiling import REPRODUCIBLE_FLAGS

# Fits compile with ``REPRODUCIBLE_FLAGS`` (Numba fast-math off); tests that compile a model's
# log density themselves use the same flags, so both share PyTensor's compile cache instead of
# compiling every op twice (after a fit, a small latent model's log density and gradient
# compiled in 33 s with the fits' flags and 122 s with PyTensor's defaults, session 16).
for _flag, _value in REPRODUCIBLE_FLAGS.items():
    setattr(pytensor.config, _flag, _value)

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


@pytest.fixture
def cold_compile_env(tmp_path) -> dict[str, str]:
    """The environment of a subprocess whose PyTensor and Numba caches start empty, as on a
    new machine or in CI: ``tmp_path / "cache"`` and ``tmp_path / "numba"``."""
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    return {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
            "PYTENSOR_FLAGS": ",".join(
                f for f in (flags, f"base_compiledir={tmp_path / 'cache'}") if f)}


def shared_across_workers(tmp_path_factory, name: str, make: Callable[[Path], tuple[Path, ...]]
                          ) -> tuple[Path, ...]:
    """``make(folder)`` once per test run, even with pytest-xdist workers: the first worker
    to get here makes it under a lock, the others wait and reuse its files."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, shared by the workers
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            folder.mkdir(exist_ok=True)
            paths = make(folder)
            done.write_text("\n".join(str(p) for p in paths), encoding="utf-8")
        return tuple(Path(p) for p in done.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="session")
def released(release_dir, tmp_path_factory) -> tuple[Path, Path]:
    """The 27 released LLMs scored through the shipped real-wave model (about 40 s, once per
    test run, whatever the number of workers): (portraits.csv, portraits.nc)."""
    model = REPO / "models" / "valueportrait.nc"
    if not model.is_file():
        pytest.skip(f"{model} not found (vp-bayes fit on the imported release)")

    def make(folder: Path) -> tuple[Path, Path]:
        from vp_bayes.model.io import load_model
        from vp_bayes.scoring.portraits import save_portraits, score
        from vp_bayes.wave.ratings import read_llm_ratings

        ratings = read_llm_ratings(release_dir / "llm_ratings_27.csv")
        portraits = score(load_model(model), ratings, progress=False)
        return save_portraits(portraits, folder / "portraits.csv")

    return shared_across_workers(tmp_path_factory, "released", make)
