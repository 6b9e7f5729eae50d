"""Item-parameter draws and the population prior, read from a fitted item model.

Scoring never updates the item parameters: it takes ``S`` posterior draws of them (evenly
thinned over the stacked chains and draws) and, for each, the population prior of a new
respondent (``theta ~ MVN(0, corr_s)``, ``alpha ~ N(0, sigma_alpha_s^2)``) and the fitted
participants' latent values (the reference for percentiles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from vp_bayes import dims
from vp_bayes.errors import InputError

EXACT_RIDGE = 0.05  # ridge added to the empirical correlation in exact mode (MRAT rank deficit)


@dataclass(frozen=True)
class ItemDraws:
    """``S`` joint draws of everything scoring needs, as numpy arrays.

    Attributes
    ----------
    values, items
        Value names (V) and item ids (J), in the model's order.
    beta
        Loadings, shape (S, J, V).
    b
        Item locations (S, J) with shared thresholds; ``None`` with per-item thresholds.
    cuts
        Cutpoints on the 0-based category scale: (S, K-1) shared or (S, J, K-1) per item.
    sigma_alpha
        SD of the response style (S,); ``None`` when the model has no response style.
    corr
        Prior correlation of a respondent's latent values (S, V, V).
    reference
        Fitted participants' latent values (S, P, V) (or the exact values, P x V, repeated),
        the reference population of percentiles.
    draw_index
        Position of each draw in the stacked (chain, draw) sequence (S,).
    n_categories, scale_min
        The rating scale.
    """

    values: tuple[str, ...]
    items: tuple[str, ...]
    beta: np.ndarray
    b: np.ndarray | None
    cuts: np.ndarray
    sigma_alpha: np.ndarray | None
    corr: np.ndarray
    reference: np.ndarray
    draw_index: np.ndarray
    n_categories: int
    scale_min: int

    @property
    def n_draws(self) -> int:
        """Number of item-parameter draws S."""
        return int(self.beta.shape[0])

    @property
    def shared_thresholds(self) -> bool:
        """True when the cutpoints are shared by all items (rating-scale form)."""
        return self.cuts.ndim == 2

    def subset(self, index: np.ndarray | list[int]) -> ItemDraws:
        """The draws at positions ``index`` (e.g. one draw for a fixed-parameter check)."""
        idx = np.asarray(index, dtype=int)

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return ItemDraws(self.values, self.items, self.beta[idx], pick(self.b),
                         self.cuts[idx], pick(self.sigma_alpha), self.corr[idx],
                         self.reference[idx] if self.reference.shape[0] > 1 else self.reference,
                         self.draw_index[idx], self.n_categories, self.scale_min)


def thin_index(n_total: int, n_keep: int) -> np.ndarray:
    """``n_keep`` evenly spaced positions in ``0..n_total-1`` (all of them if fewer)."""
    if n_keep <= 0:
        raise InputError("must be a positive number of draws", field="n_item_draws")
    if n_keep >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n_keep).round().astype(int))


def _stacked(post: xr.Dataset, name: str, index: np.ndarray, order: tuple[str, ...]) -> np.ndarray:
    da = post[name].stack({dims.SAMPLE: (dims.CHAIN, dims.DRAW)}).transpose(dims.SAMPLE, *order)
    return np.asarray(da.values, dtype=float)[index]


def exact_correlation(values_z: np.ndarray, ridge: float = EXACT_RIDGE) -> np.ndarray:
    """Empirical correlation of exact (standardised) values, ridged on the diagonal.

    MRAT-centred scores sum to a constant, so their correlation matrix is singular; adding
    ``ridge`` to the diagonal and renormalising to unit diagonal makes it a proper prior.
    """
    corr = np.corrcoef(values_z, rowvar=False) + ridge * np.eye(values_z.shape[1])
    d = np.sqrt(np.diag(corr))
    return corr / d[:, None] / d[None, :]


def _ipsative_prior(item_model: Any, corr: np.ndarray) -> np.ndarray:
    """The population covariance of theta when latent values are ipsative (centred).

    The subspace measurement model (:mod:`vp_bayes.model.build`) makes theta the projection
    ``P zeta`` of values ``zeta ~ MVN(0, corr)`` off the null directions N of the centred
    pre-scored values; a new respondent gets the same prior, ``P corr P``, plus
    ``EXACT_RIDGE`` along N (which the loadings ignore) so that it stays invertible. Other
    models' ``corr`` is returned unchanged.
    """
    const = item_model.idata.children.get("constant_data")
    if const is None or "values_z" not in const.dataset:
        return corr
    from vp_bayes.model.data import null_space

    z = np.asarray(const.dataset["values_z"].transpose(dims.PARTICIPANT, dims.VALUE).values,
                   dtype=float)
    null = null_space(z)
    if null.shape[1] == 0:
        return corr
    proj = np.eye(null.shape[0]) - null @ null.T
    return proj @ corr @ proj + EXACT_RIDGE * (null @ null.T)


def _observed_population(const: Any) -> tuple[np.ndarray, np.ndarray]:
    """Prior covariance (V, V) of a new respondent and the percentile reference (1, N, V)
    of a model whose participants' values were data.

    Exact mode: the standardised scores' ridged correlation, the scores themselves.
    Calibrated mode (:mod:`vp_bayes.model.measurement`): the latent values' covariance (plus
    ``EXACT_RIDGE`` along the scores' null directions), plausible values of the participants'
    latent values.
    """
    from vp_bayes.model.data import null_space
    from vp_bayes.model.measurement import plausible_values

    def values(name: str) -> np.ndarray:
        return np.asarray(const[name].transpose(dims.PARTICIPANT, dims.VALUE).values,
                          dtype=float)

    if "values_calibrated" in const:
        null = null_space(values("values_z"))
        cov = np.asarray(const["value_population_cov"].values, dtype=float)
        conditional = np.asarray(const["value_conditional_cov"].values, dtype=float)
        return (cov + EXACT_RIDGE * (null @ null.T),
                plausible_values(values("values_calibrated"), conditional)[None])
    name = "values_z" if "values_z" in const else "theta"
    if name not in const:
        raise InputError("exact-mode model lacks constant_data values_z", field="values_z")
    z = values(name)
    return exact_correlation(z), z[None]


def item_draws(item_model: Any, n_item_draws: int = 200) -> ItemDraws:
    """Read ``n_item_draws`` evenly thinned joint draws from a fitted item model.

    Parameters
    ----------
    item_model
        A :class:`vp_bayes.model.fit.ItemModel` (anything with ``idata``, ``model_config``
        and ``scale_min``).
    n_item_draws
        Number of draws S (all draws when the posterior holds fewer).

    Returns
    -------
    ItemDraws
    """
    post = item_model.idata["posterior"].to_dataset()
    config = item_model.model_config
    needed = ["beta", "kappa", *(["b"] if config.thresholds == "shared" else []),
              *(["corr"] if "theta" in post else [])]
    for name in needed:
        if name not in post:
            raise InputError("posterior variable missing from the item model", field=name)
    n_total = post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]
    idx = thin_index(n_total, n_item_draws)
    values = tuple(str(v) for v in post[dims.VALUE].values)
    items = tuple(str(j) for j in post[dims.ITEM].values)
    beta = _stacked(post, "beta", idx, (dims.ITEM, dims.VALUE))
    if config.thresholds == "shared":
        b = _stacked(post, "b", idx, (dims.ITEM,))
        cuts = _stacked(post, "kappa", idx, (dims.CUTPOINT,))
    else:
        b = None
        cuts = _stacked(post, "kappa", idx, (dims.ITEM, dims.CUTPOINT))
    sigma_alpha = _stacked(post, "sigma_alpha", idx, ()) if "sigma_alpha" in post else None
    if config.response_style and sigma_alpha is None:
        raise InputError("posterior variable missing from the item model", field="sigma_alpha")
    if "theta" in post:
        corr = _stacked(post, "corr", idx, (dims.VALUE, f"{dims.VALUE}_b"))
        reference = _stacked(post, "theta", idx, (dims.PARTICIPANT, dims.VALUE))
        corr = _ipsative_prior(item_model, corr)
    else:  # the values were data: exact or calibrated
        corr, reference = _observed_population(item_model.idata["constant_data"].to_dataset())
        corr = np.broadcast_to(corr, (len(idx), *corr.shape)).copy()
    n_cat = int(cuts.shape[-1] + 1)
    return ItemDraws(values, items, beta, b, cuts, sigma_alpha, corr, reference, idx,
                     n_cat, int(item_model.scale_min))
