"""The report's computed statements: the human reference, LLMs' value priorities, spreads.

Everything here is computed draw by draw from the portrait draws (respondents matched as
:func:`vp_bayes.contrasts.models.joint_draws` matches them) and, for the human side, from the
fitted participants' values of the item model (:func:`human_reference`). Tables are tidy and
carry their interval mass; :mod:`vp_bayes.report.sections` turns them into sentences.

- :func:`value_priorities`: the LLMs' average centred value (relative priority) per value,
  its posterior rank among the values, and whether the paper's ordering (:data:`PAPER_HIGH`
  above :data:`PAPER_LOW`) holds in the posterior;
- :func:`spread_ratio`: between-LLM standard deviation against between-human standard
  deviation, per value ("do LLMs compress value diversity?");
- :func:`group_differences`: differences of group means of the LLMs when a metadata table
  gives each model a group (open vs closed weights, size, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import rankdata

from vp_bayes import dims
from vp_bayes.contrasts.draws import interval_bounds
from vp_bayes.contrasts.models import COMPARE_SEED, joint_draws
from vp_bayes.errors import InputError

# The Value Portrait paper's finding (Han et al. 2025, averaged over 27 LLMs): these values
# are prioritised, these are not. Canonical names (:data:`vp_bayes.dims.VALUES_10`).
PAPER_HIGH: tuple[str, ...] = ("benevolence", "security", "self_direction")
PAPER_LOW: tuple[str, ...] = ("tradition", "power", "achievement")
N_REFERENCE_DRAWS = 50  # item-model draws of the participants' values read for the reference

PRIORITY_COLUMNS = ["value", "mean", "lower", "upper", "mean_rank", "rank_lower",
                    "rank_upper", "prob_top3", "prob_bottom3", "paper", "n_models", "mass"]
SPREAD_COLUMNS = ["value", "llm_sd", "llm_sd_lower", "llm_sd_upper", "human_sd", "ratio",
                  "ratio_lower", "ratio_upper", "prob_llm_narrower", "n_models",
                  "n_participants", "scale", "mass"]
GROUP_COLUMNS = ["value", "column", "group_a", "group_b", "n_a", "n_b", "mean", "lower",
                 "upper", "prob_a_greater", "scale", "mass"]


@dataclass(frozen=True)
class HumanReference:
    """The fitted participants' values: ``draws`` (S, P, V) and their value names.

    ``S`` is 1 when the item model takes the participants' values as exact covariates.
    """

    draws: np.ndarray
    values: tuple[str, ...]

    def on_scale(self, scale: str) -> np.ndarray:
        """Draws on ``latent`` or ``centered`` (minus each participant's mean over values)."""
        if scale == dims.CENTERED:
            return self.draws - self.draws.mean(axis=-1, keepdims=True)
        return self.draws

    def means(self, scale: str = dims.LATENT) -> pd.DataFrame:
        """Each participant's posterior mean value: participants x values."""
        return pd.DataFrame(self.on_scale(scale).mean(axis=0), columns=list(self.values))


def human_reference(item_model: object, n_draws: int = N_REFERENCE_DRAWS) -> HumanReference:
    """The reference population of the percentiles, read from a fitted item model
    (:func:`vp_bayes.scoring.posterior.item_draws`)."""
    from vp_bayes.scoring.posterior import item_draws

    draws = item_draws(item_model, n_item_draws=n_draws)
    return HumanReference(np.asarray(draws.reference, dtype=float), tuple(draws.values))


def _draws(portraits: object, respondents: Sequence[str] | None, scale: str,
           seed: int) -> tuple[np.ndarray, list[str], list[str]]:
    da = joint_draws(portraits, respondents, scale=scale, seed=seed)  # (R, N, V)
    return (da.values, [str(r) for r in da[dims.RESPONDENT].values],
            [str(v) for v in da[dims.VALUE].values])


def value_priorities(portraits: object, respondents: Sequence[str] | None = None, *,
                     mass: float = dims.INTERVAL_MASS,
                     seed: int = COMPARE_SEED) -> pd.DataFrame:
    """The compared LLMs' average relative priority of each value, with its rank.

    In every joint draw: the mean over the respondents of each centred value (the value
    minus the respondent's mean over values), then the rank of the ten averages
    (1 = the highest priority).

    Returns
    -------
    pandas.DataFrame
        :data:`PRIORITY_COLUMNS`, sorted by ``mean``: ``mean``/``lower``/``upper`` of the
        average centred value, ``mean_rank`` and its interval, ``prob_top3`` /
        ``prob_bottom3`` = P(rank <= 3) / P(rank >= V - 2), ``paper`` = ``high``, ``low`` or
        ``""`` (:data:`PAPER_HIGH`, :data:`PAPER_LOW`).
    """
    lo, hi = interval_bounds(mass)
    arr, names, values = _draws(portraits, respondents, dims.CENTERED, seed)
    avg = arr.mean(axis=0)  # (N, V)
    rank = rankdata(-avg, axis=1, method="average")
    n_v = len(values)
    table = pd.DataFrame({
        "value": values, "mean": avg.mean(axis=0),
        "lower": np.quantile(avg, lo, axis=0), "upper": np.quantile(avg, hi, axis=0),
        "mean_rank": rank.mean(axis=0),
        "rank_lower": np.quantile(rank, lo, axis=0, method="inverted_cdf"),
        "rank_upper": np.quantile(rank, hi, axis=0, method="inverted_cdf"),
        "prob_top3": (rank <= 3).mean(axis=0), "prob_bottom3": (rank >= n_v - 2).mean(axis=0),
        "paper": ["high" if v in PAPER_HIGH else "low" if v in PAPER_LOW else ""
                  for v in values],
        "n_models": len(names), "mass": float(mass)})
    return table.sort_values("mean", ascending=False, kind="stable")[PRIORITY_COLUMNS] \
        .reset_index(drop=True)


def paper_ordering(portraits: object, respondents: Sequence[str] | None = None, *,
                   seed: int = COMPARE_SEED) -> dict[str, float]:
    """P(each paper-high value > each paper-low value) in the LLMs' average centred values.

    Returns
    -------
    dict
        ``all`` = the share of joint draws in which every value of :data:`PAPER_HIGH` is above
        every value of :data:`PAPER_LOW`; ``"high>low"`` keys give each pair's probability.
        Empty when the draws lack any of those values.
    """
    arr, _, values = _draws(portraits, respondents, dims.CENTERED, seed)
    if not set(PAPER_HIGH + PAPER_LOW) <= set(values):
        return {}
    avg = arr.mean(axis=0)
    col = {v: values.index(v) for v in values}
    out: dict[str, float] = {}
    every = np.ones(avg.shape[0], dtype=bool)
    for h in PAPER_HIGH:
        for low in PAPER_LOW:
            above = avg[:, col[h]] > avg[:, col[low]]
            out[f"{h}>{low}"] = float(above.mean())
            every &= above
    out["all"] = float(every.mean())
    return out


def spread_ratio(portraits: object, reference: HumanReference,
                 respondents: Sequence[str] | None = None, *, scale: str = dims.LATENT,
                 mass: float = dims.INTERVAL_MASS, seed: int = COMPARE_SEED) -> pd.DataFrame:
    """Between-LLM SD against between-human SD, value by value.

    In every joint draw ``i`` of the respondents, the standard deviation of their values is
    divided by the standard deviation of the fitted participants' values of item-model draw
    ``i mod S`` (S = 1 when the participants' values entered as exact covariates). The
    between-LLM SD is that of the LLMs' true values under the posterior; it includes no
    measurement noise, but with few LLMs it is itself uncertain.

    Returns
    -------
    pandas.DataFrame
        :data:`SPREAD_COLUMNS`; ``prob_llm_narrower`` = P(ratio < 1).
    """
    lo, hi = interval_bounds(mass)
    arr, names, values = _draws(portraits, respondents, scale, seed)
    if len(names) < 2:
        raise InputError("a spread needs at least two respondents", field="respondent")
    missing = [v for v in values if v not in reference.values]
    if missing:
        raise InputError(f"value(s) {', '.join(missing)} not in the item model's participants",
                         field="value")
    human = reference.on_scale(scale)[..., [reference.values.index(v) for v in values]]
    human_sd = human.std(axis=1, ddof=1)  # (S, V)
    llm_sd = arr.std(axis=0, ddof=1)  # (N, V)
    ratio = llm_sd / human_sd[np.arange(llm_sd.shape[0]) % human_sd.shape[0]]
    table = pd.DataFrame({
        "value": values, "llm_sd": llm_sd.mean(axis=0),
        "llm_sd_lower": np.quantile(llm_sd, lo, axis=0),
        "llm_sd_upper": np.quantile(llm_sd, hi, axis=0), "human_sd": human_sd.mean(axis=0),
        "ratio": ratio.mean(axis=0), "ratio_lower": np.quantile(ratio, lo, axis=0),
        "ratio_upper": np.quantile(ratio, hi, axis=0),
        "prob_llm_narrower": (ratio < 1.0).mean(axis=0), "n_models": len(names),
        "n_participants": human.shape[1], "scale": scale, "mass": float(mass)})
    return table[SPREAD_COLUMNS]


def group_differences(portraits: object, groups: pd.DataFrame, *,
                      scale: str = dims.LATENT, mass: float = dims.INTERVAL_MASS,
                      seed: int = COMPARE_SEED) -> pd.DataFrame:
    """Differences of group means of LLMs, for every column of a metadata table.

    Parameters
    ----------
    portraits
        Portraits or their draws Dataset.
    groups
        ``respondent`` plus one or more columns of group labels (e.g. ``weights`` with
        ``open`` / ``closed``); respondents absent from the draws are ignored, and so are
        empty labels.
    scale, mass, seed
        As in :func:`vp_bayes.contrasts.models.pairwise`.

    Returns
    -------
    pandas.DataFrame
        :data:`GROUP_COLUMNS`: for each column, value and pair of its groups (in order of
        first appearance), the posterior of mean(group a) - mean(group b) over the LLMs of
        each group, draw by draw.
    """
    lo, hi = interval_bounds(mass)
    if dims.RESPONDENT not in groups.columns:
        raise InputError("missing column", field=dims.RESPONDENT)
    from vp_bayes.contrasts.draws import portraits_dataset

    scored = {str(r) for r in portraits_dataset(portraits)[dims.RESPONDENT].values}
    meta = groups.assign(respondent=groups[dims.RESPONDENT].astype(str))
    meta = meta[meta[dims.RESPONDENT].isin(scored)].drop_duplicates(dims.RESPONDENT)
    rows = []
    if meta.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    arr, names, values = _draws(portraits, list(meta[dims.RESPONDENT]), scale, seed)
    index = {n: i for i, n in enumerate(names)}
    for col in [c for c in meta.columns if c != dims.RESPONDENT]:
        labels = meta[col].astype("string").str.strip()
        labels = labels[labels.notna() & (labels != "")]
        levels = list(dict.fromkeys(labels))
        members = {g: [index[r] for r in meta.loc[labels.index[labels == g], dims.RESPONDENT]]
                   for g in levels}
        for i, a in enumerate(levels):
            for b in levels[i + 1:]:
                diff = arr[members[a]].mean(axis=0) - arr[members[b]].mean(axis=0)  # (N, V)
                for v, value in enumerate(values):
                    rows.append({"value": value, "column": col, "group_a": a, "group_b": b,
                                 "n_a": len(members[a]), "n_b": len(members[b]),
                                 "mean": diff[:, v].mean(),
                                 "lower": np.quantile(diff[:, v], lo),
                                 "upper": np.quantile(diff[:, v], hi),
                                 "prob_a_greater": (diff[:, v] > 0).mean(), "scale": scale,
                                 "mass": float(mass)})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


def reference_percentiles(reference: HumanReference, draws: xr.DataArray,
                          scale: str = dims.LATENT) -> np.ndarray:
    """Share (%) of participants (posterior means) below each respondent's posterior mean.

    ``draws`` are ``(respondent, sample, value)`` in the reference's value order; used for
    the centred scale, where the portraits store no percentile.
    """
    ref = np.sort(reference.means(scale).to_numpy(), axis=0)
    mean = draws.mean(dims.SAMPLE).transpose(dims.RESPONDENT, dims.VALUE).values
    out = np.empty(mean.shape)
    for v in range(mean.shape[1]):
        out[:, v] = 100.0 * np.searchsorted(ref[:, v], mean[:, v]) / ref.shape[0]
    return out
