r"""Items that LLMs answer differently from what their portraits predict (LLM-vs-human DIF).

The item model is fitted on humans; an LLM is scored through it. An item functions
differently for LLMs when the LLMs, as a group, rate it higher or lower than the human item
parameters and each LLM's own portrait predict: the item's meaning for a language model is not
its meaning for people, and its ratings bend the portraits.

The screen is a posterior predictive check per item over all scored respondents of a rating
table. For ``n_rep`` replications: one item-parameter draw (shared by every respondent, so the
item's own uncertainty moves all LLMs together, as it does in the data), one posterior sample
of each respondent's values, response style, item-deviation SD ``tau``, rating noise ``sigma``
(and variant offsets when scored with them), a fresh item deviation per respondent and item,
and ratings on exactly the cells the respondents rated, generated as the scoring model
generates them. The statistic of item j is its mean rating over those cells:

* ``observed``: the mean of the real ratings; ``expected``: the mean over replications;
* ``discrepancy = observed - expected`` (rating points; positive: LLMs rate the item higher
  than their portraits predict), ``lower``/``upper``: the central ``mass`` band of
  ``replicated - expected``, the discrepancy the model itself produces;
* ``ppp``: the two-sided posterior predictive p-value of the observed mean.

``flag`` is ``dif`` when ``ppp < p_max`` *and* ``|discrepancy| > rope`` (not noise, and large
enough to matter: half a rating point by default), ``undecided`` when not flagged but the
model's own band is wider than the rope (the check has no power for this item: too few
ratings or too uncertain an item), ``none`` otherwise.

The portraits were scored from the same ratings (the usual double use of data in posterior
predictive checks: p-values are conservative), and every item adjusts each LLM's response
style a little; with hundreds of items one item's pull on a portrait is small. The check is
of location only: LLMs that respond to an item's content more or less strongly than humans
(loading DIF) show up here only through its mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.scoring.portraits import Portraits, check_scored_through
from vp_bayes.scoring.posterior import ItemDraws, item_draws

LLM_DIF_ROPE = 0.5  # rating points: a smaller mean discrepancy of an item is negligible
LLM_DIF_P = 0.01  # two-sided posterior predictive p-value below which it is not noise
N_REPLICATIONS = 400
COLUMNS = ["item_id", "n_respondents", "n_ratings", "observed", "expected", "discrepancy",
           "lower", "upper", "ppp", "flag"]


def llm_dif_table(item_model: Any, ratings: pd.DataFrame, portraits: Portraits, *,
                  rope: float = LLM_DIF_ROPE, p_max: float = LLM_DIF_P,
                  mass: float = dims.INTERVAL_MASS, n_rep: int = N_REPLICATIONS,
                  n_item_draws: int = 200, seed: int = 0,
                  draws: ItemDraws | None = None) -> pd.DataFrame:
    """Per item: do the scored LLMs rate it as their portraits predict?

    Parameters
    ----------
    item_model
        The fitted :class:`~vp_bayes.model.fit.ItemModel` the portraits were scored through.
    ratings
        Long table ``respondent, item_id, variant, rating`` (as from
        :func:`vp_bayes.wave.ratings.read_llm_ratings`): the ratings the portraits were scored
        from. Unparsed (NaN) ratings and items the model does not know are left out (counted
        in ``table.attrs``).
    portraits
        :func:`~vp_bayes.scoring.score` of those ratings (every respondent of ``ratings``).
    rope
        Negligible discrepancy, rating points.
    p_max
        Posterior predictive p-value below which a discrepancy is not the model's noise.
    mass
        Probability of the model's band of discrepancies (``lower``, ``upper``).
    n_rep
        Replications (the smallest p-value is ``1 / n_rep``).
    n_item_draws
        Item-parameter draws read from the model (ignored with ``draws``).
    seed
        Seed of the replications.
    draws
        Item-parameter draws already read (:func:`~vp_bayes.scoring.item_draws`).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per rated item in the model's order (``flag`` in
        :data:`vp_bayes.model.dif.DIF_FLAGS`, the labels of group DIF); ``attrs`` hold the
        settings and the counts of rows left out.

    Raises
    ------
    InputError
        Bad settings, portraits of another model, or ratings of a respondent the portraits do
        not hold.
    """
    _check_settings(rope, p_max, mass, n_rep)
    if isinstance(item_model, ItemDraws):
        draws = item_model
    else:
        check_scored_through(portraits.draws.attrs, item_model)
        draws = item_draws(item_model, n_item_draws) if draws is None else draws
    cells, counts = _cells(draws, ratings, portraits)
    rng = np.random.default_rng(seed)
    rep = _replicate(draws, cells, _samples(portraits, cells["names"]), n_rep, rng)
    n_items = len(draws.items)
    per_item = np.bincount(cells["item"], minlength=n_items)
    rated = np.flatnonzero(per_item)
    observed = np.bincount(cells["item"], cells["y"], minlength=n_items)[rated] / \
        per_item[rated]
    rep = rep[:, rated]
    expected = rep.mean(axis=0)
    lower, upper = np.quantile(rep - expected, [(1 - mass) / 2, (1 + mass) / 2], axis=0)
    ppp = np.minimum(1.0, 2 * np.minimum((rep >= observed).mean(0), (rep <= observed).mean(0)))
    disc = observed - expected
    flag = np.where((ppp < p_max) & (np.abs(disc) > rope), "dif",
                    np.where((upper - lower) / 2 > rope, "undecided", "none"))
    respondents = pd.Series(cells["resp"]).groupby(cells["item"]).nunique()
    table = pd.DataFrame({
        "item_id": np.asarray(draws.items, dtype=object)[rated],
        "n_respondents": respondents.reindex(rated).to_numpy(),
        "n_ratings": per_item[rated],
        "observed": observed + draws.scale_min, "expected": expected + draws.scale_min,
        "discrepancy": disc, "lower": lower, "upper": upper, "ppp": ppp, "flag": flag,
    })[COLUMNS]
    table.attrs.update(rope=rope, p_max=p_max, mass=mass, n_rep=n_rep, **counts)
    return table


def _check_settings(rope: float, p_max: float, mass: float, n_rep: int) -> None:
    if not rope > 0:
        raise InputError("must be positive", field="rope")
    if not 0 < p_max < 1:
        raise InputError("must lie strictly between 0 and 1", field="p_max")
    if not 0 < mass < 1:
        raise InputError("must lie strictly between 0 and 1", field="mass")
    if not n_rep >= 20:
        raise InputError("must be at least 20", field="n_rep")


def _cells(draws: ItemDraws, ratings: pd.DataFrame,
           portraits: Portraits) -> tuple[dict[str, Any], dict[str, int]]:
    """The hard ratings as position arrays: respondent, item, variant, 0-based category."""
    source = ratings.attrs.get("source")
    absent = [c for c in ("respondent", "item_id", "variant", "rating") if c not in ratings]
    if absent:
        raise InputError(f"missing column(s) {', '.join(absent)}", file=source, row=0,
                         field=absent[0])
    names = [str(r) for r in portraits.draws[dims.RESPONDENT].values]
    resp_pos = {n: i for i, n in enumerate(names)}
    resp = ratings["respondent"].astype(str)
    missing = ~resp.isin(resp_pos)
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(f"respondent {resp.iloc[row]!r} is not in the portraits (score these "
                         "ratings first)", file=source, row=row + 1, field="respondent")
    item_pos = {j: i for i, j in enumerate(draws.items)}
    item = ratings["item_id"].astype(str).map(item_pos)
    rating = pd.to_numeric(ratings["rating"], errors="coerce")
    keep = (item.notna() & rating.notna()).to_numpy()
    counts = {"n_unparsed": int(rating.isna().sum()),
              "n_unknown_item_rows": int((item.isna() & rating.notna()).sum())}
    variants: list[str] = []
    var_pos = np.full(int(keep.sum()), -1)
    if "variant_offset" in portraits.draws:
        variants = [str(v) for v in portraits.draws[dims.VARIANT].values]
        lookup = {v: i for i, v in enumerate(variants)}
        var_pos = ratings.loc[keep, "variant"].astype(str).map(lookup).fillna(-1).to_numpy(int)
    cells = {"names": names, "resp": resp[keep].map(resp_pos).to_numpy(int),
             "item": item[keep].to_numpy(int),
             "y": np.rint(rating[keep].to_numpy(float)).astype(int) - draws.scale_min,
             "variant": var_pos}
    pair = cells["resp"].astype(np.int64) * len(draws.items) + cells["item"]
    cells["pair"] = np.unique(pair, return_inverse=True)[1]
    return cells, counts


def _samples(portraits: Portraits, names: list[str]) -> dict[str, np.ndarray]:
    """Each respondent's posterior samples: theta (R, N, V), alpha, tau, sigma (R, N) and
    variant offsets (R, N, G) or None. Quantities the scoring did not model are neutral."""
    ds = portraits.draws.sel({dims.RESPONDENT: names})
    theta = ds[dims.THETA].transpose(dims.RESPONDENT, dims.SAMPLE, dims.VALUE).to_numpy()

    def per_sample(name: str, neutral: float) -> np.ndarray:
        if name not in ds:
            return np.full(theta.shape[:2], neutral)
        x = ds[name].transpose(dims.RESPONDENT, dims.SAMPLE).to_numpy().astype(float)
        return np.where(np.isnan(x), neutral, x)

    offsets = None
    if "variant_offset" in ds:
        offsets = ds["variant_offset"].transpose(dims.RESPONDENT, dims.SAMPLE,
                                                 dims.VARIANT).to_numpy()
        offsets = np.nan_to_num(offsets, nan=0.0)
    return {"theta": theta, "alpha": per_sample("alpha", 0.0), "tau": per_sample("tau", 0.0),
            "sigma": per_sample("sigma", 1.0), "offsets": offsets}


def _replicate(draws: ItemDraws, cells: dict[str, Any], samples: dict[str, np.ndarray],
               n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """Replicated mean rating (0-based) of every item, (n_rep, J)."""
    r, j, pair = cells["resp"], cells["item"], cells["pair"]
    n_resp, n_samples = samples["theta"].shape[:2]
    n_items, n_pairs = len(draws.items), int(pair.max()) + 1 if len(pair) else 0
    per_item = np.maximum(np.bincount(j, minlength=n_items), 1)
    out = np.empty((n_rep, n_items))
    pair_resp = np.zeros(n_pairs, dtype=int)
    pair_resp[pair] = r
    for i in range(n_rep):
        s = int(rng.integers(draws.n_draws))
        pick = rng.integers(n_samples, size=n_resp)
        rows = np.arange(n_resp)
        theta = samples["theta"][rows, pick]  # (R, V)
        alpha, tau = samples["alpha"][rows, pick], samples["tau"][rows, pick]
        sigma = samples["sigma"][rows, pick]
        eta = np.einsum("nv,nv->n", draws.beta[s, j], theta[r]) + alpha[r]
        if draws.b is not None:
            eta += draws.b[s, j]
        eta += (rng.standard_normal(n_pairs) * tau[pair_resp])[pair]
        if samples["offsets"] is not None:
            has = cells["variant"] >= 0
            eta[has] += samples["offsets"][r[has], pick[r[has]], cells["variant"][has]]
        u = rng.random(len(eta))
        latent = eta + sigma[r] * np.log(u / (1.0 - u))  # logistic noise scaled by sigma
        cuts = draws.cuts[s] if draws.shared_thresholds else draws.cuts[s, j]
        y = (latent[:, None] > (cuts if cuts.ndim == 2 else cuts[None, :])).sum(axis=1)
        out[i] = np.bincount(j, y, minlength=n_items) / per_item
    return out


def llm_dif_lines(table: pd.DataFrame, *, shown: int = 10) -> list[str]:
    """A short summary of an :func:`llm_dif_table`: counts and the largest flagged items."""
    rope = table.attrs.get("rope", LLM_DIF_ROPE)
    counts = table["flag"].value_counts()
    p_max = table.attrs.get("p_max", LLM_DIF_P)
    n_resp = int(table["n_respondents"].max()) if len(table) else 0
    lines = [f"{len(table)} items rated by {n_resp} "
             f"respondent(s); {int(counts.get('dif', 0))} function differently for them "
             f"(|discrepancy| > {rope:g} rating points, p < {p_max:g}), "
             f"{int(counts.get('undecided', 0))} undecided (too few ratings to tell)"]
    flagged = table[table["flag"] == "dif"]
    flagged = flagged.reindex(flagged["discrepancy"].abs().sort_values(ascending=False).index)
    for row in flagged.head(shown).itertuples():
        lines.append(f"  {row.item_id}: observed {row.observed:.2f}, predicted "
                     f"{row.expected:.2f} ({row.discrepancy:+.2f})")
    if len(flagged) > shown:
        lines.append(f"  ... and {len(flagged) - shown} more in the table")
    return lines
