"""Pre-scored values measured with error: regression calibration (pure numpy).

A pre-scored value (e.g. a PVQ-21 index of 2-3 questions) measures the latent value with
error. With standardised scores ``z_i`` of reliability ``rel`` the classical measurement model
is ``z_i = sqrt(rel) * theta_i + e_i``, ``e_i ~ N(0, diag(1 - rel))``, independent of
``theta_i``. MRAT-centred (ipsative) scores never vary along null directions ``N``; only their
coordinates ``u_i = Q' z_i`` in the subspace they span (``Q`` an orthonormal basis of the
complement of ``N``) are data, and the latent values live in that subspace too
(``theta_i = Q vartheta_i``). Then ``u_i = L vartheta_i + eps_i`` with
``L = Q' diag(sqrt(rel)) Q`` and ``Cov(eps) = E = Q' diag(1 - rel) Q``.

:func:`calibrate` estimates the latent values' population covariance by the method of
moments, ``S = L^-1 (Cov(u) - E) L^-T``, and gives every participant the conditional
(best linear) prediction ``E[vartheta_i | u_i] = S L' Cov(u)^-1 u_i`` and its conditional
covariance ``C = S - S L' Cov(u)^-1 L S`` (Carroll et al., *Measurement Error in Nonlinear
Models*, 2006, ch. 4). The item model then uses the predictions as covariates
(``value_input="calibrated"``): the loadings are on the latent values' scale (not attenuated
by ``sqrt(rel)``), a new respondent's values are scored on that scale and its percentiles are
read against plausible values of the participants' latent values (predictions plus draws of
``C``), not against the noisy scores. In one dimension this is ``theta_hat = sqrt(rel) z`` with
conditional variance ``1 - rel``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vp_bayes.errors import InputError

# Scores whose covariance has an eigenvalue this small (standardised units) but not zero are
# nearly ipsative (e.g. MRAT-centred answers aggregated with unequal weights): refused.
NEAR_NULL = 0.05

# Plausible values drawn per participant for the percentile reference, and their seed.
PLAUSIBLE_SETS = 20
PLAUSIBLE_SEED = 20261201


@dataclass(frozen=True)
class Calibration:
    """Regression calibration of standardised pre-scored values (all V x V in value space).

    Attributes
    ----------
    predicted
        (P, V) conditional means ``E[theta_i | z_i]``: the item model's covariates.
    population_cov
        (V, V) covariance of the latent values ``Q S Q'`` (singular along the null
        directions of ipsative scores).
    conditional_cov
        (V, V) covariance of a participant's latent values given the scores ``Q C Q'``.
    """

    predicted: np.ndarray
    population_cov: np.ndarray
    conditional_cov: np.ndarray

    @property
    def score_reliability(self) -> np.ndarray:
        """(V,) share of each latent value's variance the predictions carry."""
        var = np.diag(self.population_cov)
        return 1.0 - np.diag(self.conditional_cov) / var


def calibrate(values_z: np.ndarray, reliability: np.ndarray, basis: np.ndarray) -> Calibration:
    """Regression calibration of standardised scores in the subspace they span.

    Parameters
    ----------
    values_z
        (P, V) standardised scores, complete.
    reliability
        (V,) reliability of each score, in (0, 1].
    basis
        (V, d) orthonormal basis of the subspace the scores span (the identity when they are
        not ipsative).

    Returns
    -------
    Calibration

    Raises
    ------
    InputError
        When the assumed measurement error exceeds the scores' variance in some direction
        (the implied latent covariance is not positive definite): the reliability is too
        low for these data.
    """
    rel = np.asarray(reliability, dtype=float)
    if np.any(rel <= 0.0) or np.any(rel > 1.0):
        raise InputError("must lie in (0, 1]", file="config", field="reliability")
    u = values_z @ basis
    cov_u = np.atleast_2d(np.cov(u, rowvar=False))
    least_varying = float(np.linalg.eigvalsh(cov_u).min())
    if least_varying < NEAR_NULL:
        raise InputError(
            f"the scores barely vary along one direction (variance {least_varying:.3f} of "
            "standardised scores): nearly ipsative scores are not supported by calibration; "
            "use value_input='exact'", file="values.csv")
    load = basis.T @ np.diag(np.sqrt(rel)) @ basis
    err = basis.T @ np.diag(1.0 - rel) @ basis
    load_inv = np.linalg.inv(load)
    pop = load_inv @ (cov_u - err) @ load_inv.T
    pop = (pop + pop.T) / 2.0
    smallest = float(np.linalg.eigvalsh(pop).min())
    if smallest <= 1e-6:
        raise InputError(
            f"reliability {_describe(rel)} implies more measurement error than the values vary "
            f"in some direction (smallest latent variance {smallest:.3f}): raise it",
            file="config", field="reliability")
    gain = pop @ load.T @ np.linalg.inv(cov_u)  # (d, d)
    cond = pop - gain @ load @ pop
    cond = (cond + cond.T) / 2.0
    u_mean = u.mean(axis=0)
    predicted = (u - u_mean) @ gain.T + u_mean @ load_inv.T
    return Calibration(predicted @ basis.T, basis @ pop @ basis.T, basis @ cond @ basis.T)


def plausible_values(predicted: np.ndarray, conditional_cov: np.ndarray,
                     n_sets: int = PLAUSIBLE_SETS, seed: int = PLAUSIBLE_SEED) -> np.ndarray:
    """``n_sets`` draws of every participant's latent values given the scores, stacked.

    Parameters
    ----------
    predicted
        (P, V) conditional means.
    conditional_cov
        (V, V) conditional covariance (may be singular).
    n_sets, seed
        Number of draws per participant and the generator's seed (fixed: the reference of
        percentiles is the same on every call).

    Returns
    -------
    numpy.ndarray
        (n_sets * P, V): a sample of the population of latent values.
    """
    eigval, eigvec = np.linalg.eigh(conditional_cov)
    root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_sets, *predicted.shape)) @ root.T
    return (predicted[None] + noise).reshape(-1, predicted.shape[1])


def _describe(rel: np.ndarray) -> str:
    return f"{rel[0]:g}" if np.all(rel == rel[0]) else f"{rel.min():g}-{rel.max():g}"
