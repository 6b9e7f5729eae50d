"""Differential item functioning (DIF): which items a demographic group rates differently.

A model fitted with ``ModelConfig(dif_axis=AXIS)`` gives each item j and group g of that axis
a location shift ``dif_location[j, g]`` (logits) and a log loading multiplier
``dif_loading[j, g]`` (:func:`vp_bayes.model.build.build_model`). For every pair of groups
this module summarises, per item:

* ``location``: the difference of the two groups' shifts, in logits;
* ``loading``: the difference of the spread of the item's predictor over participants,
  ``(exp(l_a) - exp(l_b)) * sd_j`` with ``sd_j`` the SD over the fitted participants of
  ``beta_j . theta_i``: how much more (or less) the item separates people in group a, in
  logits.

Both are judged against a region of practical equivalence (ROPE, Kruschke 2018) of
``+-rope`` logits: ``dif`` when the equal-tailed interval lies entirely outside it,
``none`` when entirely inside, ``undecided`` otherwise.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from vp_bayes import dims
from vp_bayes.errors import InputError

DIF_ROPE = 0.5  # logits: smaller group differences are negligible
DIF_FLAGS = ("dif", "none", "undecided")
COLUMNS = ["item_id", "axis", "group_a", "group_b", "kind", "mean", "lower", "upper",
           "p_outside_rope", "flag"]


def _draws(post, name: str) -> np.ndarray:
    da = post[name].stack({dims.SAMPLE: (dims.CHAIN, dims.DRAW)})
    return np.moveaxis(np.asarray(da.values, dtype=float), -1, 0)


def _predictor_sd(item_model: Any, post, beta: np.ndarray) -> np.ndarray:
    """(S, J) SD over the fitted participants of ``beta_j . theta_i`` at each draw
    (``post`` the model's posterior dataset)."""
    const = item_model.idata["constant_data"].to_dataset()
    if "theta" in post:
        cov = np.cov(post["theta"].mean((dims.CHAIN, dims.DRAW)).transpose(
            dims.PARTICIPANT, dims.VALUE).values, rowvar=False)
    elif "value_population_cov" in const:  # calibrated: the latent values' covariance
        cov = np.asarray(const["value_population_cov"].values, dtype=float)
    else:
        cov = np.cov(np.nan_to_num(const["values_z"].transpose(
            dims.PARTICIPANT, dims.VALUE).values), rowvar=False)
    return np.sqrt(np.einsum("sjv,vw,sjw->sj", beta, cov, beta))


def _flag(lower: np.ndarray, upper: np.ndarray, rope: float) -> np.ndarray:
    return np.where((lower > rope) | (upper < -rope), "dif",
                    np.where((lower > -rope) & (upper < rope), "none", "undecided"))


def dif_table(item_model: Any, *, rope: float = DIF_ROPE,
              mass: float = dims.INTERVAL_MASS) -> pd.DataFrame:
    """Per item and pair of groups: location and loading DIF with their ROPE decision.

    Parameters
    ----------
    item_model
        An :class:`~vp_bayes.model.fit.ItemModel` fitted with ``ModelConfig(dif_axis=...)``.
    rope
        Half-width of the region of practical equivalence, logits.
    mass
        Probability of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id, axis, group_a, group_b, kind, mean, lower, upper,
        p_outside_rope, flag`` (``kind`` location or loading; ``flag`` in ``DIF_FLAGS``),
        items in the model's order.

    Raises
    ------
    InputError
        When the model has no DIF terms, or ``rope``/``mass`` are out of range.
    """
    axis = item_model.model_config.dif_axis
    post = item_model.idata["posterior"].to_dataset()
    if axis is None or "dif_location" not in post:
        raise InputError("the item model has no DIF terms (fit it with dif_axis set)",
                         field="dif_axis")
    if not rope > 0:
        raise InputError("must be positive", field="rope")
    if not 0 < mass < 1:
        raise InputError("must lie strictly between 0 and 1", field="mass")
    group_dim = f"{dims.GROUP}_{axis}"
    groups = [str(g) for g in post[group_dim].values]
    items = [str(j) for j in post[dims.ITEM].values]
    by_group = post[["dif_location", "dif_loading"]].transpose(..., dims.ITEM, group_dim)
    loc = _draws(by_group, "dif_location")  # (S, J, G)
    mult = np.exp(_draws(by_group, "dif_loading"))
    beta = _draws(post[["beta"]].transpose(..., dims.ITEM, dims.VALUE), "beta")
    spread = _predictor_sd(item_model, post, beta)
    q = ((1 - mass) / 2, (1 + mass) / 2)
    frames = []
    for a, b in combinations(range(len(groups)), 2):
        for kind, diff in (("location", loc[..., a] - loc[..., b]),
                           ("loading", (mult[..., a] - mult[..., b]) * spread)):
            lower, upper = np.quantile(diff, q, axis=0)
            frames.append(pd.DataFrame({
                "item_id": items, "axis": axis, "group_a": groups[a], "group_b": groups[b],
                "kind": kind, "mean": diff.mean(0), "lower": lower, "upper": upper,
                "p_outside_rope": (np.abs(diff) > rope).mean(0),
                "flag": _flag(lower, upper, rope)}))
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def flagged_items(table: pd.DataFrame) -> list[str]:
    """Items with any ``dif`` flag in a :func:`dif_table`, in table order."""
    return list(dict.fromkeys(table.loc[table["flag"] == "dif", "item_id"]))


def dif_lines(table: pd.DataFrame, *, rope: float = DIF_ROPE, shown: int = 10) -> list[str]:
    """The ``vp-bayes dif`` printout: counts per kind and flag, then the flagged items."""
    axis = table["axis"].iloc[0] if len(table) else "?"
    counts = table.groupby(["kind", "flag"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(DIF_FLAGS), fill_value=0)
    lines = [f"DIF along {axis} (ROPE +-{rope:g} logits): items per decision",
             *counts.to_string().splitlines()]
    flagged = table[table["flag"] == "dif"].sort_values("mean", key=np.abs, ascending=False)
    for row in flagged.head(shown).itertuples():
        lines.append(f"  {row.item_id}: {row.kind} {row.group_a} - {row.group_b} "
                     f"{row.mean:+.2f} [{row.lower:+.2f}, {row.upper:+.2f}]")
    if len(flagged) > shown:
        lines.append(f"  ... and {len(flagged) - shown} more (see the table)")
    return lines
