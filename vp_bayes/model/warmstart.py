"""Start nutpie's chains from a mean-field ADVI fit instead of the prior's centre.

nutpie (as ``pm.sample`` calls it) starts every chain at the prior's centre plus U(-1, 1) on each
unconstrained coordinate. On a 2,000 x 300 wave with latent values that is 25,726 coordinates
far from the posterior, and one chain of two settled with a value correlation at the LKJ
boundary (r = 1.00, truth 0.49) and never left (``docs/benchmarks.md``). Here each chain starts
at its own draw from the ADVI approximation (:mod:`vp_bayes.model.variational`), which is close
to the posterior mass and has the correlations roughly right.

``pm.sample`` cannot pass one start per chain to nutpie, so the compiled nutpie model's start
function is replaced (it maps a seed to a flat vector in the model's ``value_vars`` order, the
same order the ADVI fit uses) before :func:`vp_bayes.model.nutpie_path.sample_nutpie`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
import xarray as xr

from vp_bayes.model.compiling import reproducibly
from vp_bayes.model.variational import MeanField

if TYPE_CHECKING:
    from vp_bayes.model.nutpie_path import StopRule


def meanfield_starts(approx: MeanField) -> Callable[..., np.ndarray]:
    """A start function for nutpie: ``seed -> mean + sd * N(0, I)`` (flat, unconstrained)."""

    def start(seed=None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return approx.mean + approx.sd * rng.standard_normal(approx.mean.size)

    return start


def widened(approx: MeanField, spread: float) -> MeanField:
    """The approximation with its SDs times ``spread``.

    Mean-field ADVI under-disperses (a review of the model found its SDs about 0.6 of the
    posterior's), so draws from it start the chains closer together than the posterior; a
    ``spread`` above 1 widens the starts so R-hat can see chains that have not mixed.
    """
    return dataclasses.replace(approx, sd=spread * approx.sd)


@reproducibly
def sample_nutpie_from(model: pm.Model, approx: MeanField, *, draws: int, tune: int,
                       chains: int, seed: int, progress: bool,
                       nuts: dict | None = None, spread: float = 1.0,
                       cores: int | None = None, compiled: Any = None,
                       stop: StopRule | None = None) -> xr.DataTree:
    """Run nutpie on ``model`` with each chain starting at its own draw from ``approx``
    (its SDs times ``spread``: :func:`widened`), ``cores`` chains at a time (None: nutpie's
    default, every CPU). ``compiled``: the model's
    :func:`vp_bayes.model.nutpie_path.compile_nutpie` when already compiled; ``stop``: end
    early (:class:`vp_bayes.model.nutpie_path.StopRule`).

    Returns the same ``DataTree`` as ``pm.sample(nuts_sampler="nutpie")``.
    """
    from vp_bayes.model.nutpie_path import compile_nutpie, sample_nutpie

    compiled = compile_nutpie(model) if compiled is None else compiled
    if compiled.n_dim != approx.mean.size:
        raise ValueError(f"the ADVI fit has {approx.mean.size} coordinates, the model "
                         f"{compiled.n_dim}")
    return sample_nutpie(model, compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                         cores=cores, progress=progress, nuts=nuts,
                         starts=meanfield_starts(widened(approx, spread)), stop=stop)
