r"""Checks of a scored respondent: person fit (posterior predictive), reliability, prior
sensitivity.

Person fit. For ``n_rep`` posterior samples of the respondent (theta, alpha, variant offsets,
item-deviation SD tau) and an item-parameter draw (the sample's own under ``cut``, a random
one otherwise), ratings are replicated on exactly the cells the respondent rated (item x
variant), each item with a fresh shared deviation ``e_j ~ N(0, tau^2)``. Three discrepancies
are compared between the observed and the replicated ratings:

* ``ppp_agreement``: the mean within-item variance of an item's ratings over its variants
  (two-sided: variants that agree more, or less, than the model expects);
* ``ppp_distribution``: a chi-square distance of the rating distribution from its expectation
  under the sample's parameters (one-sided, large = misfit);
* ``ppp_fit``: the log-likelihood of the ratings with each item's deviation integrated out
  (a posterior-predictive person-fit statistic in the spirit of lz: one-sided, observed
  ratings less likely than replicated ones = misfit).

A respondent whose smallest p-value is below :data:`MISFIT_P` is named as not fitted by the
item model. The discrepancies integrate the item deviation with fixed Gauss-Hermite nodes
(:data:`PPC_NODES`); observed and replicated ratings are measured the same way, so the
p-values are valid, though the log-likelihood statistic loses some power for very consistent
respondents. Only hard ratings are checked.

Reliability per value is ``1 - posterior variance / prior variance``; prior
sensitivity is how much a value's posterior (mean in posterior SDs, or log SD) changes per
unit of ``log a`` when the values' prior is power-scaled by ``a`` in :data:`POWERS`
(importance weights ``p(x)^(a-1)``; ``a = 0.5`` widens a Gaussian prior's SD by sqrt(2),
``a = 2`` narrows it), as in the priorsense approach (Kallioinen et al. 2024).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from vp_bayes.model.likelihood import category_probs_np
from vp_bayes.scoring.marginal import _nodes, param_moments
from vp_bayes.scoring.posterior import ItemDraws

MISFIT_P = 0.01  # a posterior-predictive p-value below this names a respondent as misfitting
SENSITIVE_SHIFT = 0.2  # prior sensitivity above this is flagged (Gaussian: prior share > 40%)
POWERS = (0.5, 2.0)  # power-scaling of the values' prior for the sensitivity diagnostic
N_REPLICATIONS = 100
PPC_NODES = 10  # Gauss-Hermite nodes of the item deviation in the discrepancies
REP_CHUNK = 10  # replications evaluated at once (memory: chunk x cells x nodes x K)
PPP_NAMES = ("ppp_agreement", "ppp_distribution", "ppp_fit")


@dataclass(frozen=True)
class Cells:
    """One respondent's hard ratings: item position, variant group and 0-based category,
    sorted by item."""

    item: np.ndarray  # (C,) positions in ItemDraws.items
    group: np.ndarray  # (C,) column of the respondent's variant offsets (-1: none)
    rating: np.ndarray  # (C,) 0-based category

    @property
    def item_starts(self) -> np.ndarray:
        """First cell of each rated item."""
        return np.flatnonzero(np.r_[True, np.diff(self.item) != 0])


def make_cells(item: np.ndarray, group: np.ndarray, rating: np.ndarray) -> Cells:
    """Sort the cells by item."""
    order = np.argsort(item, kind="stable")
    return Cells(np.asarray(item)[order], np.asarray(group)[order],
                 np.asarray(rating, dtype=int)[order])


def _within_item_variance(y: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mean over items with two or more ratings of the variance of their ratings (R,)."""
    counts = np.diff(np.r_[starts, y.shape[-1]])
    multi = counts > 1
    if not multi.any():
        return np.full(y.shape[0], np.nan)
    s1 = np.add.reduceat(y, starts, axis=-1)
    s2 = np.add.reduceat(y * y, starts, axis=-1)
    var = (s2 - s1**2 / counts) / np.maximum(counts - 1, 1)
    return var[:, multi].mean(axis=-1)


@dataclass(frozen=True)
class ItemMoments:
    """The Gaussian of each item's ``(beta_j, b_j)`` that marginal scoring integrates over, and
    the posterior-mean cutpoints (shared thresholds only)."""

    mean: np.ndarray  # (J, V + 1)
    cov: np.ndarray  # (J, V + 1, V + 1)
    cuts: np.ndarray  # (K - 1,)


def item_moments(draws: ItemDraws) -> ItemMoments | None:
    """:class:`ItemMoments` over the draws (``None`` with per-item thresholds)."""
    if not draws.shared_thresholds or draws.b is None:
        return None
    mean, cov = param_moments(np.concatenate([draws.beta, draws.b[..., None]], axis=-1))
    return ItemMoments(mean, cov, draws.cuts.mean(axis=0))


def person_fit(draws: ItemDraws, cells: Cells, theta: np.ndarray, alpha: np.ndarray,
               offsets: np.ndarray, tau: np.ndarray, sigma: np.ndarray, item_draw: np.ndarray,
               rng: np.random.Generator, n_rep: int = N_REPLICATIONS,
               moments: ItemMoments | None = None) -> dict[str, float]:
    """Posterior predictive p-values of one respondent's ratings.

    Parameters
    ----------
    draws
        The item draws the respondent was scored through.
    cells
        The respondent's hard ratings (:func:`make_cells`).
    theta, alpha, offsets, tau, sigma
        Posterior samples: (N, V), (N,) (NaN: no response style), (N, G) (may be empty),
        (N,) (NaN or 0: no item deviation), (N,) rating-noise scale (NaN: 1, the humans').
    item_draw
        (N,) position in ``draws`` of each sample's item draw, -1 where samples are not tied
        to one (a random draw is used).
    rng
        Random generator.
    n_rep
        Number of replications.
    moments
        With marginal scoring (samples tied to no item draw): the items' Gaussian
        (:func:`item_moments`). Replications and discrepancies then use the item means and an
        item deviation of variance ``(theta, 1)' C_j (theta, 1) + tau^2``, as the marginal
        likelihood does. Without it each replication evaluates the observed ratings under one
        random item draw, whose differences from the items that produced them (the item
        uncertainty times |theta|) the replicates never have: respondents far from the
        human mean were flagged however well they fitted.

    Returns
    -------
    dict
        :data:`PPP_NAMES` -> p-value (NaN without ratings).
    """
    if cells.item.size == 0:
        return dict.fromkeys(PPP_NAMES, float("nan"))
    n = theta.shape[0]
    pick = rng.integers(0, n, n_rep)
    s = np.where(item_draw[pick] >= 0, item_draw[pick], rng.integers(0, draws.n_draws, n_rep))
    u, log_w = _nodes(PPC_NODES)
    starts = cells.item_starts
    k = draws.n_categories
    # the cells of an (item, variant group) share their linear predictor and probabilities
    units, cell_unit = np.unique(np.stack([cells.item, cells.group]), axis=1,
                                 return_inverse=True)
    unit_item, unit_group = units
    cells_per_unit = np.bincount(cell_unit, minlength=units.shape[1])
    block_items = cells.item[starts]  # the rated items, in cell order (sorted)
    unit_block = np.searchsorted(block_items, unit_item)
    stats_obs, stats_rep = [], []
    for c0 in range(0, n_rep, REP_CHUNK):
        ii, ss = pick[c0:c0 + REP_CHUNK], s[c0:c0 + REP_CHUNK]
        r = ii.size
        tau2 = np.nan_to_num(tau[ii])[:, None] ** 2
        if moments is None:
            eta = np.einsum("ruv,rv->ru", draws.beta[ss][:, unit_item], theta[ii])  # (r, U)
            if draws.b is not None:
                eta += draws.b[ss][:, unit_item]
            sd_block = np.broadcast_to(np.sqrt(tau2), (r, starts.size))
            cuts = draws.cuts[ss]  # (r, K-1) or (r, J, K-1)
            cut = cuts[:, None, :] if draws.shared_thresholds else cuts[:, unit_item]
        else:
            x1 = np.c_[theta[ii], np.ones(r)]  # (r, V+1)
            eta = x1 @ moments.mean[unit_item].T  # (r, U)
            var = np.einsum("rv,jvw,rw->rj", x1, moments.cov[block_items], x1)
            sd_block = np.sqrt(var + tau2)
            cut = np.broadcast_to(moments.cuts, (r, 1, moments.cuts.size))
        eta += np.nan_to_num(alpha[ii])[:, None]
        if offsets.size:
            has_g = unit_group >= 0
            eta[:, has_g] += offsets[ii][:, unit_group[has_g]]
        sd_unit = sd_block[:, unit_block]  # (r, U)
        sig = np.where(np.isnan(sigma[ii]), 1.0, sigma[ii])[:, None]
        # replicate: fresh shared deviation per item, logistic noise per rating
        e_item = rng.standard_normal((r, starts.size)) * sd_block
        e = np.repeat(e_item, np.diff(np.r_[starts, cells.item.size]), axis=1)
        latent = eta[:, cell_unit] + e + sig * rng.logistic(size=e.shape)
        cell_cut = cut if draws.shared_thresholds else cut[:, cell_unit]
        rep = (latent[..., None] > cell_cut).sum(axis=-1)
        # quadrature over the item deviation: log P(y = k | eta + sd u_q), (r, U, Q, K)
        probs_q = category_probs_np((eta[..., None] + sd_unit[..., None] * u) / sig[..., None],
                                    cut[:, :, None, :] / sig[..., None, None])
        logp = np.log(np.clip(probs_q, 1e-300, None))
        # expected category counts: probabilities marginal over e, times cells per unit
        expected = np.einsum("ruqk,q,u->rk", probs_q, np.exp(log_w), cells_per_unit)
        rows = np.arange(r)[:, None]
        for y, out in ((np.broadcast_to(cells.rating, rep.shape), stats_obs), (rep, stats_rep)):
            cell_lp = logp[rows, cell_unit[None, :], :, y]  # (r, C, Q)
            item_lp = np.add.reduceat(cell_lp, starts, axis=1) + log_w
            loglik = logsumexp(item_lp, axis=-1).sum(axis=-1)
            counts = np.stack([(y == c).sum(axis=1) for c in range(k)], axis=1)
            chi2 = ((counts - expected) ** 2 / np.maximum(expected, 1e-12)).sum(axis=1)
            agree = _within_item_variance(y.astype(float), starts)
            out.append(np.stack([agree, chi2, loglik], axis=1))
    t_obs, t_rep = np.concatenate(stats_obs), np.concatenate(stats_rep)
    agree_lo = np.mean(t_rep[:, 0] <= t_obs[:, 0])
    agree_hi = np.mean(t_rep[:, 0] >= t_obs[:, 0])
    p_agree = float(min(1.0, 2 * min(agree_lo, agree_hi))) \
        if np.isfinite(t_obs[:, 0]).all() else float("nan")
    return {
        "ppp_agreement": p_agree,
        "ppp_distribution": float(np.mean(t_rep[:, 1] >= t_obs[:, 1])),
        "ppp_fit": float(np.mean(t_rep[:, 2] <= t_obs[:, 2])),
    }


def reliability(theta: np.ndarray, prior_var: np.ndarray) -> np.ndarray:
    """``1 - posterior variance / prior variance`` per value; theta (N, V), prior_var (V,)."""
    return 1.0 - theta.var(axis=0, ddof=1) / prior_var


def prior_sensitivity(theta: np.ndarray, log_prior: np.ndarray,
                      powers: tuple[float, ...] = POWERS) -> np.ndarray:
    """Power-scaling sensitivity of each value's posterior to its prior.

    The prior is raised to the power ``a`` (importance weights ``p(x)^(a - 1)``,
    self-normalised) and the change of the posterior per unit of ``log a`` is measured:
    ``max(|shift of the mean| / sd, |change of log sd|) / |log a|``, largest over
    ``powers``. For a Gaussian posterior the change of log sd is half the prior's share of
    the posterior precision: 0 when the ratings decide, 0.5 when the prior does.

    Parameters
    ----------
    theta
        (N, V) posterior samples of the values.
    log_prior
        (N,) log density of the power-scaled part of the prior at each sample.
    powers
        Prior powers ``a``.
    """
    mean, sd = theta.mean(axis=0), theta.std(axis=0)
    sd = np.where(sd > 0, sd, np.inf)
    worst = np.zeros(theta.shape[1])
    for a in powers:
        lw = (a - 1.0) * log_prior
        w = np.exp(lw - logsumexp(lw))
        m_a = w @ theta
        sd_a = np.sqrt(np.maximum(w @ (theta - m_a) ** 2, 1e-300))
        change = np.maximum(np.abs(m_a - mean) / sd, np.abs(np.log(sd_a / sd)))
        worst = np.maximum(worst, change / abs(np.log(a)))
    return np.where(np.isfinite(worst), worst, 0.0)


def log_prior_quadratic(samples: np.ndarray, precision: np.ndarray,
                        keep: np.ndarray) -> np.ndarray:
    """``-x' P x / 2`` over the entries ``keep`` of x, samples (S, M, D), precision (S|1, D, D).

    Returns (S * M,).
    """
    x = samples[..., keep]
    p = precision[:, keep][:, :, keep]
    return -0.5 * np.einsum("smd,sde,sme->sm", x, np.broadcast_to(
        p, (x.shape[0],) + p.shape[1:]), x).ravel()


__all__ = ["MISFIT_P", "PPP_NAMES", "SENSITIVE_SHIFT", "Cells", "log_prior_quadratic",
           "make_cells", "person_fit", "prior_sensitivity", "reliability"]
