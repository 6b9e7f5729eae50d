"""Survey waves: the in-memory contract, the on-disk format and the simulator.

``Wave``/``Manifest`` live in :mod:`vp_bayes.wave.core`; reading, validating and writing
wave folders in :mod:`vp_bayes.wave.io`; the known-truth simulator in
:mod:`vp_bayes.wave.simulate`.
"""

from __future__ import annotations

from vp_bayes.wave.core import Manifest, Wave
from vp_bayes.wave.io import load_wave, summarize_wave, write_wave
from vp_bayes.wave.simulate import SimulatedWave, load_truth, simulate_wave, write_simulated

__all__ = [
    "Manifest",
    "SimulatedWave",
    "Wave",
    "load_truth",
    "load_wave",
    "simulate_wave",
    "summarize_wave",
    "write_simulated",
    "write_wave",
]
