"""Survey waves: the in-memory contract, the on-disk format and the simulator.

``Wave``/``Manifest`` live in :mod:`vp_bayes.wave.core`; reading, validating and writing
wave folders in :mod:`vp_bayes.wave.io`; the known-truth simulator in
:mod:`vp_bayes.wave.simulate`.
"""

from __future__ import annotations

from vp_bayes.wave.core import Manifest, Wave
from vp_bayes.wave.io import load_wave, summarize_wave, write_wave

__all__ = ["Manifest", "Wave", "load_wave", "summarize_wave", "write_wave"]
