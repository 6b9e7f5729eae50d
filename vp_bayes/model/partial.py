"""Loading deviations partially centred, each by how well the data inform it.

A hierarchical prior ``d ~ N(0, s)`` sampled non-centred (``d = s z``) mixes badly when the
data pin ``d`` (a move in ``s`` must move every ``z``), and centred (``d`` itself) when they
do not (the funnel). With a likelihood that informs ``d`` with standard deviation ``sigma``,
the conditional posterior of ``d`` given ``s`` is (in a normal approximation) normal with
variance ``s^2 sigma^2 / (s^2 + sigma^2)``, and the coordinate

    z = d sqrt(1 + u^2) / s,   u = s / sigma,   so   z ~ N(0, sqrt(1 + u^2)),

has conditional posterior variance 1 whatever ``s`` is (its mean still moves with ``s``): it
is non-centred where the prior is the narrower (``u -> 0``) and centred where the likelihood
is (``u -> inf``), per loading, and it follows ``s`` as the sampler moves it. This is the
scale analogue of the optimal partial centring of Papaspiliopoulos, Roberts & Skold (2007,
Statistical Science 22), whose weight ``u^2 / (1 + u^2)`` is read here from the data where
Gorinova, Moore & Hoffman (2020, ICML) learn such weights by variational inference. The
model is unchanged: only the sampler's coordinates differ, for any value of ``sigma`` (a poor
one only costs mixing).

``sigma`` per loading is the inverse square root of the ratings' Fisher information about
it at zero predictor: ``I_j sum_i theta_iv^2`` over item j's raters, with ``I_j`` the
information about the predictor of one rating of item j under cutpoints at its observed
category frequencies, and ``theta`` the values when they are data or unit variance when
they are latent.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from vp_bayes.model.data import ModelData


def ordinal_information(y: np.ndarray, item: np.ndarray, n_items: int,
                        n_categories: int) -> np.ndarray:
    """(items,) Fisher information about a rating's predictor at zero, per item.

    The cutpoints are the logits of the item's cumulative category frequencies (half a
    count added to each category), so the information is
    ``sum_k (f(c_k) - f(c_{k-1}))^2 / p_k`` with ``f`` the logistic density.
    """
    counts = np.full((n_items, n_categories), 0.5)
    np.add.at(counts, (item, y), 1.0)
    p = counts / counts.sum(axis=1, keepdims=True)
    cum = np.cumsum(p, axis=1)[:, :-1]
    density = np.pad(cum * (1.0 - cum), ((0, 0), (1, 1)))  # f(logit F) = F (1 - F)
    return ((density[:, 1:] - density[:, :-1]) ** 2 / p).sum(axis=1)


def loading_likelihood_sd(data: ModelData) -> np.ndarray:
    """(items, values) the ratings' standard deviation about each loading, given the rest
    (the inverse square root of the diagonal of their Fisher information)."""
    n_items, n_values = len(data.items), len(data.values)
    info = ordinal_information(data.rating_y, data.rating_item, n_items, data.n_categories)
    theta = data.covariates
    if theta is None:  # latent values on the unit scale: E[theta^2] = 1
        square = np.ones((len(data.participants), n_values))
    else:
        square = theta**2
    per_rating = info[data.rating_item, None] * square[data.rating_participant]
    total = np.zeros((n_items, n_values))
    np.add.at(total, data.rating_item, per_rating)
    return 1.0 / np.sqrt(np.maximum(total, 1e-6))


def widening(scale, sigma: np.ndarray) -> pt.TensorVariable:
    """``sqrt(1 + (scale / sigma)^2)``: the coordinate's prior scale (module docstring);
    ``scale`` the deviations' prior scale (broadcast against ``sigma``)."""
    return pt.sqrt(1.0 + (scale / sigma) ** 2)
