"""vp_bayes: Bayesian psychometric measurement of the values of LLMs against real humans.

``import vp_bayes as vb`` is the front door (mirt's habit: one fit call, then small functions
over the fitted object)::

    sim = vb.simulate_wave(n_participants=300, n_items=80)  # or vb.load_wave("vp_wave")
    tags = vb.select(sim.wave)                                # the paper's correlation rule
    model = vb.fit(sim.wave, draws=400, tune=400)             # ItemModel
    portraits = vb.score(model, sim.llm_ratings)              # Portraits
    contrasts = vb.contrast(model, portraits)                 # ContrastReport
    models = vb.compare_models(portraits)                     # leaderboard, ranks, P(a > b)
    vb.report("report/", item_model=model, portraits=portraits, contrasts=contrasts)

Every result object has a ``summary()`` returning a tidy DataFrame; :func:`vb.summary
<vp_bayes.api.summary>` also summarises the plain tables (a tag table from :func:`select`).

The names are imported on first use (PEP 562 ``__getattr__``): ``import vp_bayes`` stays fast
(PyMC, PyTensor and matplotlib load only when a verb that needs them is first reached) while
``dir(vb)`` and ``__all__`` list everything.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("vp_bayes")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.1.0"

# Public name -> module that defines it. ``report`` is the subpackage ``vp_bayes.report``
# itself, which is callable as the report verb (:func:`vp_bayes.api.report`): Python binds an
# imported subpackage as an attribute of its parent, so a plain function named ``report``
# here would be replaced by the package as soon as anything imported ``vp_bayes.report``.
_EXPORTS: dict[str, str] = {
    # waves and LLM rating tables
    "Wave": "vp_bayes.wave.core",
    "SimulatedWave": "vp_bayes.wave.simulate",
    "load_wave": "vp_bayes.wave.io",
    "write_wave": "vp_bayes.wave.io",
    "simulate_wave": "vp_bayes.wave.simulate",
    "read_llm_ratings": "vp_bayes.wave.ratings",
    # the paper's method
    "select": "vp_bayes.api",
    "classic_scores": "vp_bayes.classic",
    # the item model
    "ModelConfig": "vp_bayes.model.config",
    "SamplerConfig": "vp_bayes.model.config",
    "ItemModel": "vp_bayes.model.fit",
    "fit": "vp_bayes.api",
    "save_model": "vp_bayes.model.io",
    "load_model": "vp_bayes.model.io",
    "dif_table": "vp_bayes.model.dif",
    "loo_comparison": "vp_bayes.model.diagnostics",
    # scoring respondents
    "Portraits": "vp_bayes.scoring.portraits",
    "score": "vp_bayes.scoring.portraits",
    "save_portraits": "vp_bayes.scoring.portraits",
    "load_portraits": "vp_bayes.scoring.portraits",
    "export_portrait": "vp_bayes.scoring.export",
    "run_manifest": "vp_bayes.scoring.export",
    # adaptive collection: which requests to send next, and when to stop
    "AdaptiveDesign": "vp_bayes.scoring.adaptive",
    "next_items": "vp_bayes.scoring.adaptive",
    # items that LLMs rate otherwise than their portraits predict (LLM-vs-human DIF)
    "llm_dif_table": "vp_bayes.scoring.llm_dif",
    # comparing respondents: is model A more benevolent than B, how do the LLMs rank
    "ModelComparison": "vp_bayes.contrasts.models",
    "compare_models": "vp_bayes.contrasts.models",
    "pairwise": "vp_bayes.contrasts.models",
    "ranks": "vp_bayes.contrasts.models",
    "leaderboard": "vp_bayes.contrasts.models",
    # contrasts
    "ContrastReport": "vp_bayes.contrasts.tables",
    "Reference": "vp_bayes.contrasts.reference",
    "read_reference": "vp_bayes.contrasts.reference",
    "contrast": "vp_bayes.api",
    # report, generic summary, errors
    "report": "vp_bayes.report",
    "summary": "vp_bayes.api",
    "InputError": "vp_bayes.errors",
}

# Spelled out (not built from _EXPORTS) so that static tools read it; a test keeps the two equal.
__all__ = [
    "__version__",
    "Wave", "SimulatedWave", "load_wave", "write_wave", "simulate_wave", "read_llm_ratings",
    "select", "classic_scores",
    "ModelConfig", "SamplerConfig", "ItemModel", "fit", "save_model", "load_model", "dif_table",
    "loo_comparison",
    "Portraits", "score", "save_portraits", "load_portraits", "export_portrait", "run_manifest",
    "AdaptiveDesign", "next_items", "llm_dif_table",
    "ModelComparison", "compare_models", "pairwise", "ranks", "leaderboard",
    "ContrastReport", "Reference", "read_reference", "contrast",
    "report", "summary", "InputError",
]  # fmt: skip

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports lazily
    from vp_bayes import report
    from vp_bayes.api import contrast, fit, select, summary
    from vp_bayes.classic import classic_scores
    from vp_bayes.contrasts.models import (
        ModelComparison,
        compare_models,
        leaderboard,
        pairwise,
        ranks,
    )
    from vp_bayes.contrasts.reference import Reference, read_reference
    from vp_bayes.contrasts.tables import ContrastReport
    from vp_bayes.errors import InputError
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.diagnostics import loo_comparison
    from vp_bayes.model.dif import dif_table
    from vp_bayes.model.fit import ItemModel
    from vp_bayes.model.io import load_model, save_model
    from vp_bayes.scoring.adaptive import AdaptiveDesign, next_items
    from vp_bayes.scoring.export import export_portrait, run_manifest
    from vp_bayes.scoring.llm_dif import llm_dif_table
    from vp_bayes.scoring.portraits import Portraits, load_portraits, save_portraits, score
    from vp_bayes.wave.core import Wave
    from vp_bayes.wave.io import load_wave, write_wave
    from vp_bayes.wave.ratings import read_llm_ratings
    from vp_bayes.wave.simulate import SimulatedWave, simulate_wave


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562) and cache it in the module."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes plus every lazily imported public name."""
    return sorted(set(globals()) | set(__all__))
