"""Reliability of tagged item sets among humans: Cronbach's alpha and McDonald's omega.

For each value, the items tagged for it (the paper's rule, or any tag table) form a scale.
Value Portrait's raters rate every item of their rater group, so within a group the tagged
items of a value and the group's participants form a complete matrix; alpha and omega are
computed per (value, rater group) on the participants who rated every item of the set, with
percentile bootstrap intervals over participants.

* alpha = k / (k - 1) * (1 - sum of item variances / variance of the sum score);
* omega (total, standardised items) = (sum lambda)^2 / ((sum lambda)^2 + sum (1 - lambda^2))
  with lambda the loadings of a one-factor model fitted to the items' correlation matrix by
  iterated principal-axis factoring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vp_bayes import dims
from vp_bayes.classic import normalize_tags
from vp_bayes.wave.core import Wave

MIN_ITEMS = 2
MIN_PARTICIPANTS = 10
COLUMNS = ("value", "group", "n_items", "n_participants", "alpha", "alpha_lower",
           "alpha_upper", "omega", "omega_lower", "omega_upper", "mass")


def cronbach_alpha(x: np.ndarray) -> float:
    """Cronbach's alpha of a complete (participants, items) matrix."""
    k = x.shape[1]
    total = x.sum(axis=1).var(ddof=1)
    if k < 2 or total <= 0:
        return float("nan")
    return float(k / (k - 1) * (1.0 - x.var(axis=0, ddof=1).sum() / total))


def one_factor_loadings(corr: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Loadings of one factor by iterated principal-axis factoring (communalities in [0, 1))."""
    try:
        h2 = 1.0 - 1.0 / np.diag(np.linalg.inv(corr))  # squared multiple correlations
    except np.linalg.LinAlgError:
        h2 = np.full(corr.shape[0], 0.5)
    h2 = np.clip(h2, 0.0, 0.995)
    lam = np.sqrt(h2)
    for _ in range(iterations):
        reduced = corr.copy()
        np.fill_diagonal(reduced, h2)
        vals, vecs = np.linalg.eigh(reduced)
        lam = vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))
        lam = lam if lam.sum() >= 0 else -lam
        new = np.clip(lam**2, 0.0, 0.995)
        if np.max(np.abs(new - h2)) < 1e-8:
            break
        h2 = new
    return lam


def mcdonald_omega(x: np.ndarray) -> float:
    """McDonald's omega total of standardised items, one factor, from a complete matrix."""
    if x.shape[1] < 2:
        return float("nan")
    sd = x.std(axis=0, ddof=1)
    if np.any(sd <= 0):
        return float("nan")
    lam = one_factor_loadings(np.corrcoef(x, rowvar=False))
    common = lam.sum() ** 2
    return float(common / (common + np.sum(1.0 - np.minimum(lam**2, 1.0))))


def tagged_set_reliability(wave: Wave, tags: pd.DataFrame, *, group: str = "rater_group",
                           n_boot: int = 1000, mass: float = dims.INTERVAL_MASS,
                           seed: int = 0) -> pd.DataFrame:
    """Alpha and omega of every value's tagged items, per rater group, with bootstrap intervals.

    Parameters
    ----------
    wave
        A wave with human ratings.
    tags
        ``item_id`` and ``value`` columns, optionally ``tagged`` (then only
        tagged rows count), e.g. :func:`vp_bayes.selection.correlation.published_correlations`.
    group
        Item column that splits the items into rater groups (a single group if absent).
    n_boot
        Bootstrap resamples of participants.
    mass
        Mass of the percentile intervals.
    seed
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; sets with fewer than ``MIN_ITEMS`` items or ``MIN_PARTICIPANTS``
        complete participants are left out.
    """
    pairs = normalize_tags(tags)
    items = wave.items.reset_index()
    groups = items.set_index("item_id")[group].astype(str) if group in items.columns \
        else pd.Series("all", index=items["item_id"].astype(str))
    ratings = wave.ratings.reset_index()
    wide = ratings.pivot_table(index="participant_id", columns="item_id", values="rating")
    wide.columns = wide.columns.astype(str)
    rng = np.random.default_rng(seed)
    q = [(1 - mass) / 2, (1 + mass) / 2]
    rows = []
    pairs = pairs[pairs["item_id"].isin(wide.columns)]
    pairs = pairs.assign(group=pairs["item_id"].map(groups))
    for (value, grp), sub in pairs.groupby(["value", "group"], sort=True):
        x = wide[sub["item_id"].tolist()].dropna().to_numpy(dtype=float)
        if x.shape[1] < MIN_ITEMS or x.shape[0] < MIN_PARTICIPANTS:
            continue
        boot = rng.integers(0, x.shape[0], (n_boot, x.shape[0]))
        a_b = np.array([cronbach_alpha(x[b]) for b in boot])
        o_b = np.array([mcdonald_omega(x[b]) for b in boot])
        rows.append((value, grp, x.shape[1], x.shape[0], cronbach_alpha(x),
                     *np.nanquantile(a_b, q), mcdonald_omega(x), *np.nanquantile(o_b, q), mass))
    return pd.DataFrame(rows, columns=list(COLUMNS))
