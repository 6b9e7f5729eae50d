"""A wave in the real Value Portrait design whose pre-scored values are measured with error.

Used by ``tests/test_value_measurement.py`` (slow) and ``benchmarks/value_measurement_sim.py``.
The generating process differs from every model it checks:

* design: the real wave's 559 participants and its 24,320 participant x item pairs (about 47
  ratings per item); 6 categories;
* latent values: multivariate Student-t (5 degrees of freedom, heavier tails than the
  Gaussian the calibration's conditional means are exact for), with the covariance the real
  scores imply at reliability 0.6 (in the subspace MRAT-centred scores span);
* scores: ``z* = sqrt(rel_true) theta + e``, ``e ~ N(0, 1 - rel_true)`` per value, then
  centred along the real scores' null direction (ipsative, like MRAT) and standardised by
  the model's data preparation;
* items: heavy-tailed loadings on the latent scale (0.12 x Cauchy, clipped to +-2) and
  N(0, 0.9^2) locations, the shipped model's thresholds and response-style SD; ordered logit;
* LLMs: :func:`realwave_sim.simulate_llms` with the true item parameters and true human values
  as the reference (Student-t item deviations shared by six variants, variant offsets, probit
  noise).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from vp_bayes.model.config import ModelConfig
from vp_bayes.model.data import complement_basis, prepare_data
from vp_bayes.model.measurement import calibrate
from vp_bayes.scoring.posterior import ItemDraws
from vp_bayes.wave.simulate import ordered_logistic

GENERATOR_RELIABILITY = 0.6  # reliability at which the real scores imply the latent covariance
TAIL_DF = 5


def _multivariate_t(rng: np.random.Generator, cov: np.ndarray, n: int) -> np.ndarray:
    eigval, eigvec = np.linalg.eigh(cov)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    gauss = rng.standard_normal((n, cov.shape[0])) @ root.T
    scale = np.sqrt(rng.chisquare(TAIL_DF, n) / (TAIL_DF - 2))  # unit variance on average
    return gauss / scale[:, None]


def simulate_measured_wave(wave, shipped, reliability: float, seed: int):
    """The real wave with simulated latent values, scores, item parameters and ratings.

    Parameters
    ----------
    wave
        The imported real wave (its design and scores).
    shipped
        The shipped real-wave item model (thresholds and response-style SD).
    reliability
        True reliability of the simulated scores.
    seed
        Generator seed.

    Returns
    -------
    tuple
        The simulated wave and an :class:`ItemDraws` holding the truth (one draw: true
        loadings, locations, thresholds, response-style SD; ``reference`` = the participants'
        true latent values).
    """
    rng = np.random.default_rng(seed)
    data = prepare_data(wave, ModelConfig(value_input="exact"))
    null = data.value_null_space
    real = calibrate(data.values_z, np.full(len(data.values), GENERATOR_RELIABILITY),
                     complement_basis(null))
    n_p, n_v = data.values_z.shape
    theta = _multivariate_t(rng, real.population_cov, n_p)
    scores = np.sqrt(reliability) * theta + np.sqrt(1 - reliability) * rng.standard_normal(
        (n_p, n_v))
    scores = scores - (scores @ null) @ null.T
    values = wave.values.copy()
    values.loc[list(data.participants), list(data.values)] = scores

    post = shipped.idata["posterior"].to_dataset().mean(("chain", "draw"))
    n_items = len(data.items)
    beta = np.clip(0.12 * rng.standard_cauchy((n_items, n_v)), -2, 2)
    beta = beta - (beta @ null) @ null.T
    b = rng.normal(0, 0.9, n_items)
    kappa = post["kappa"].values
    sigma_alpha = float(post["sigma_alpha"])
    alpha = rng.normal(0, sigma_alpha, n_p)
    i, j = data.rating_participant, data.rating_item
    eta = (beta[j] * theta[i]).sum(-1) + b[j] + alpha[i]
    ratings = wave.ratings.copy()
    y = ordered_logistic(rng, eta, kappa) + data.scale_min - 1
    ratings["rating"] = y.astype(ratings["rating"].dtype)
    sim = replace(wave, values=values, ratings=ratings)
    truth = ItemDraws(data.values, data.items, beta[None], b[None], kappa[None],
                      np.array([sigma_alpha]), np.eye(n_v)[None], theta[None], np.array([0]),
                      data.n_categories, data.scale_min)
    return sim, truth


def percentile_check(table: pd.DataFrame, theta: np.ndarray, names: list[str],
                     reference: np.ndarray, values: tuple[str, ...]) -> dict[str, float]:
    """Mean absolute error of the percentiles and coverage of their intervals, against the
    share of the participants' true values below each respondent's true value."""
    true = 100.0 * (reference[None, :, :] < theta[:, None, :]).mean(axis=1)  # (n, V)
    truth = pd.DataFrame(true, index=names, columns=list(values)).stack()
    truth.index.names = ["respondent", "value"]
    t = table.set_index(["respondent", "value"]).loc[truth.index]
    covered = (t["percentile_lower"] <= truth + 1e-9) & (truth - 1e-9 <= t["percentile_upper"])
    return {"pct_mae": float((t["percentile"] - truth).abs().mean()),
            "pct_cover": float(covered.mean())}


__all__ = ["percentile_check", "simulate_measured_wave"]
