"""Posterior-based item selection beside the paper's correlation rule.

An item measures a value when its loading is positive and larger than a practical size
with high posterior probability. Loadings are in logits per population SD of the value;
the default practical size 0.2 corresponds to a latent correlation of about 0.1 (a small
effect) for a logistic latent response with unit-scale person variation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vp_bayes import dims

if TYPE_CHECKING:
    from vp_bayes.model.fit import ItemModel

PRACTICAL_LOADING = 0.2
TAG_PROBABILITY = 0.9


def posterior_selection(item_model: ItemModel, *, practical: float = PRACTICAL_LOADING,
                        probability: float = TAG_PROBABILITY,
                        mass: float = dims.INTERVAL_MASS) -> pd.DataFrame:
    """Per item and value: loading summary and the posterior tag decision.

    Returns
    -------
    pandas.DataFrame
        ``item_id, value, loading_mean, lower, upper, prob_positive,
        prob_positive_practical, posterior_tagged``.
    """
    beta = item_model.posterior["beta"].stack(**{dims.SAMPLE: ("chain", "draw")})
    beta = beta.transpose(dims.ITEM, dims.VALUE, dims.SAMPLE).values
    lo, hi = np.quantile(beta, [(1 - mass) / 2, 1 - (1 - mass) / 2], axis=-1)
    p_pos = (beta > 0).mean(axis=-1)
    p_prac = (beta > practical).mean(axis=-1)
    items, values = item_model.items, item_model.values
    table = pd.DataFrame({
        "item_id": np.repeat(items, len(values)),
        "value": np.tile(values, len(items)),
        "loading_mean": beta.mean(axis=-1).ravel(),
        "lower": lo.ravel(),
        "upper": hi.ravel(),
        "prob_positive": p_pos.ravel(),
        "prob_positive_practical": p_prac.ravel(),
    })
    table["posterior_tagged"] = table["prob_positive_practical"] >= probability
    table.attrs.update(practical=practical, probability=probability, mass=mass)
    return table


def compare_selection(posterior: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """Join the posterior decision with correlation tags (``item_id, trait, r, tagged``).

    Adds ``spearman_tagged``, ``r`` and ``agreement`` in {both, correlation only,
    posterior only, neither}.
    """
    t = tags.rename(columns={"trait": "value", "tagged": "spearman_tagged"})
    t = t[["item_id", "value", "r", "spearman_tagged"]].copy()
    t["item_id"] = t["item_id"].astype(str)
    t["value"] = t["value"].map(dims.canonical_trait)
    out = posterior.merge(t, on=["item_id", "value"], how="left")
    out["spearman_tagged"] = out["spearman_tagged"].fillna(False).astype(bool)
    labels = np.select(
        [out["posterior_tagged"] & out["spearman_tagged"],
         ~out["posterior_tagged"] & out["spearman_tagged"],
         out["posterior_tagged"] & ~out["spearman_tagged"]],
        ["both", "correlation only", "posterior only"], default="neither")
    out["agreement"] = labels
    return out


def agreement_counts(comparison: pd.DataFrame) -> pd.DataFrame:
    """Counts of each agreement category per value (plus a total row)."""
    counts = pd.crosstab(comparison["value"], comparison["agreement"])
    for col in ("both", "correlation only", "posterior only", "neither"):
        if col not in counts:
            counts[col] = 0
    counts = counts[["both", "correlation only", "posterior only", "neither"]]
    counts.loc["total"] = counts.sum()
    return counts
