"""Posterior-based item selection beside the paper's correlation rule.

An item measures a value when its loading is positive and larger than a practical size
with high posterior probability. Loadings are in logits per population SD of the value;
the default practical size 0.2 corresponds to a latent correlation of about 0.1 (a small
effect) for a logistic latent response with unit-scale person variation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vp_bayes import dims
from vp_bayes.errors import InputError

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
    check_selection_rule(practical, probability)
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


def check_selection_rule(practical: float, probability: float) -> None:
    """Refuse a negative (or infinite) practical size or a probability outside (0, 1]."""
    if not (np.isfinite(practical) and practical >= 0.0):
        raise InputError(f"a practical loading size must be a finite number >= 0, got "
                         f"{practical:g}", field="practical")
    if not (np.isfinite(probability) and 0.0 < probability <= 1.0):
        raise InputError(f"a posterior probability must lie in (0, 1], got {probability:g}",
                         field="probability")


def read_selection_tags(path: str | Path, items: Sequence[str],
                        values: Sequence[str]) -> pd.DataFrame:
    """Read correlation tags (``vp-bayes select``) to compare with a model's selection.

    Every row must belong to the model: its item among ``items`` and its trait among
    ``values``, so that no row is silently left out of the comparison.

    Parameters
    ----------
    path
        CSV or Parquet with ``item_id, value`` (``trait`` in files of earlier versions),
        ``r`` and ``tagged``.
    items, values
        The model's item ids and value names.

    Returns
    -------
    pandas.DataFrame
        ``item_id, value, r, tagged`` (canonical value names, booleans).

    Raises
    ------
    InputError
        Naming the file, row and field: an unreadable file, a missing column, an empty or
        unknown item id (tags of another wave), an unknown trait or one the model does not
        have, an ``r`` that is not a number in [-1, 1], a ``tagged`` cell that is not a
        boolean, or a repeated (item, trait) pair.
    """
    from vp_bayes.classic import parse_booleans
    from vp_bayes.readers import read_table

    path = Path(path)
    raw = dims.current_columns(read_table(path, what="tag file"))
    trait_col = dims.VALUE
    for col in ("item_id", trait_col, "r", "tagged"):
        if col not in raw.columns:
            raise InputError("tag table lacks a column (write it with vp-bayes select)",
                             file=path, row=0, field=col)
    if raw.empty:
        raise InputError("no rows below the header", file=path, row=1)
    ids = raw["item_id"].astype(str).str.strip()
    known_items = {str(i) for i in items}
    unknown = ~ids.isin(known_items) | raw["item_id"].isna()
    if unknown.any():
        pos = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(
            f"item {ids.iloc[pos]!r} is not an item of the model ({int(unknown.sum())} of "
            f"{len(ids)} rows are not; tags from another wave?)", file=path, row=pos + 1,
            field="item_id")
    traits = []
    for row, name in enumerate(raw[trait_col].astype(str), start=1):
        try:
            trait = dims.canonical_trait(name)
        except KeyError:
            raise InputError(f"unknown trait {name!r}", file=path, row=row,
                             field=trait_col) from None
        if trait not in values:
            raise InputError(f"{trait!r} is not a value of the model (its values: "
                             f"{', '.join(values)})", file=path, row=row, field=trait_col)
        traits.append(trait)
    r = pd.to_numeric(raw["r"], errors="coerce")
    empty = raw["r"].isna() | (raw["r"].astype(str).str.strip() == "")  # no correlation
    bad = ~empty & ~r.between(-1.0, 1.0)
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"not a correlation in [-1, 1]: {raw['r'].iloc[pos]!r}", file=path,
                         row=pos + 1, field="r")
    out = pd.DataFrame({"item_id": ids.to_numpy(), trait_col: traits,
                        "r": r.to_numpy(dtype=float),
                        "tagged": parse_booleans(raw["tagged"], path)})
    dup = out.duplicated(["item_id", trait_col])
    if dup.any():
        pos = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"second row of ({out['item_id'].iloc[pos]}, "
                         f"{out[trait_col].iloc[pos]})", file=path, row=pos + 1, field=trait_col)
    return out


def compare_selection(posterior: pd.DataFrame, tags: pd.DataFrame) -> pd.DataFrame:
    """Join the posterior decision with correlation tags (``item_id, value, r, tagged``).

    Adds ``spearman_tagged``, ``r`` and ``agreement`` in {both, correlation only,
    posterior only, neither}.
    """
    t = dims.current_columns(tags).rename(columns={"tagged": "spearman_tagged"})
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
