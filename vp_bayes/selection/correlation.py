"""The paper's item-selection rule: tag an item for a trait when the item's human ratings
correlate with the raters' trait scores (Value Portrait: Spearman rho > 0.3 and p < 0.05).

Functions here compute that table from a wave (:func:`item_trait_correlations`), read the
published one (:func:`published_correlations`), re-apply the rule with any threshold,
sign and multiple-testing correction (:func:`select_items`), and say how many tags the
rule would give by chance (:func:`expected_chance_tags`), which the paper does not report.

All p-values are two-sided. Spearman and Pearson p-values use the t distribution with
n - 2 degrees of freedom (exactly what ``scipy.stats.spearmanr`` does, and equal to the
exact null distribution of ``scipy.stats.pearsonr``); Kendall uses ``scipy.stats.kendalltau``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vp_bayes.dims import (
    ITEM_ID,
    TAG_ALPHA,
    TAG_COLUMNS,
    TAG_THRESHOLD,
    TRAIT_SETS,
    VALUE,
    canonical_trait,
)
from vp_bayes.errors import InputError
from vp_bayes.readers import read_json
from vp_bayes.wave.core import Wave

METHODS: tuple[str, ...] = ("spearman", "pearson", "kendall")
CORRECTIONS: tuple[str, ...] = ("none", "fdr_bh", "bonferroni")
SIGNS: tuple[str, ...] = ("positive", "negative", "both")
COLUMNS: list[str] = list(TAG_COLUMNS)  # the tag table (vp_bayes.dims owns the names)


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}",
                         field=name)


def resolve_traits(spec: str | Sequence[str], available: Sequence[str] | None = None
                   ) -> list[str]:
    """Turn a trait spec into canonical trait names.

    Parameters
    ----------
    spec
        A trait-set name (``values``, ``values19``, ``higher``, ``bigfive``), a comma list
        of trait names in any spelling, or a sequence of names.
    available
        If given, every resolved trait must be among these.

    Returns
    -------
    list of str
    """
    if isinstance(spec, str):
        names = list(TRAIT_SETS[spec]) if spec in TRAIT_SETS else spec.split(",")
    else:
        names = list(spec)
    out: list[str] = []
    for name in names:
        try:
            out.append(canonical_trait(name.strip()))
        except KeyError as err:
            raise InputError(f"unknown trait {name!r}", field="traits") from err
    if available is not None:
        missing = [t for t in out if t not in available]
        if missing:
            raise InputError(f"trait(s) not in the data: {', '.join(missing)}",
                             field="traits")
    return out


def wave_traits(wave: Wave, spec: str | Sequence[str] = "values") -> pd.DataFrame:
    """The trait scores of a wave's participants for the selection rule.

    Parameters
    ----------
    wave
        A wave with pre-scored ``values`` or raw instrument ``answers``.
    spec
        Trait spec, see :func:`resolve_traits`. For raw answers the traits are MRAT-centred
        scores of the wave's instrument at every level it supports.

    Returns
    -------
    pandas.DataFrame
        Indexed by participant id, one column per requested trait.
    """
    if wave.values is not None:
        frame = wave.values
    elif wave.answers is not None and wave.manifest.instrument is not None:
        from vp_bayes.instruments import get_instrument, mrat_centered

        inst = get_instrument(wave.manifest.instrument)
        frame = pd.concat([mrat_centered(wave.answers, inst, level) for level in inst.levels],
                          axis=1)
        frame = frame.loc[:, ~frame.columns.duplicated()]
    else:
        raise InputError("wave has neither values nor instrument answers", field="values")
    names = resolve_traits(spec, available=[str(c) for c in frame.columns])
    return frame[names]


# --------------------------------------------------------------------------------------
# multiple testing
# --------------------------------------------------------------------------------------
def bh_adjust(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries ignored and kept NaN).

    Parameters
    ----------
    p
        p-values, any shape.

    Returns
    -------
    numpy.ndarray
        ``min(1, min_{j >= i} p_(j) m / j)`` at the position of each ``p_(i)``.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    vals = p[ok]
    m = vals.size
    if m == 0:
        return out
    order = np.argsort(vals, kind="mergesort")
    scaled = vals[order] * m / np.arange(1, m + 1)
    adj_sorted = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    adj = np.empty(m)
    adj[order] = adj_sorted
    out[ok] = adj
    return out


def adjust_pvalues(p: np.ndarray, correction: str = "none") -> np.ndarray:
    """Adjust p-values across all tests: ``none``, ``fdr_bh`` or ``bonferroni``."""
    _check_choice("correction", correction, CORRECTIONS)
    p = np.asarray(p, dtype=float)
    if correction == "none":
        return p.copy()
    if correction == "fdr_bh":
        return bh_adjust(p)
    m = int((~np.isnan(p)).sum())
    return np.minimum(p * m, 1.0)


# --------------------------------------------------------------------------------------
# correlations
# --------------------------------------------------------------------------------------
def _t_pvalue(r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p of a correlation under rho = 0 by the t distribution (n - 2 df)."""
    r = np.asarray(r, dtype=float)
    dof = np.asarray(n, dtype=float) - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = r * np.sqrt((dof / ((r + 1.0) * (1.0 - r))).clip(0))
        p = 2 * stats.t.sf(np.abs(t), dof)
    return np.where(dof > 0, p, np.nan)


def _rank(a: np.ndarray) -> np.ndarray:
    """Average ranks down axis 0."""
    return stats.rankdata(a, axis=0)


def _corr_columns(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pearson correlation of vector ``x`` with every column of ``ys`` (NaN if constant)."""
    xc = x - x.mean()
    yc = ys - ys.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (xc @ yc) / np.sqrt((xc @ xc) * (yc * yc).sum(axis=0))
    return np.clip(r, -1.0, 1.0)


def _item_stats(x: np.ndarray, ys: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """r and p of one item's ratings ``x`` (n,) against traits ``ys`` (n, k), complete."""
    n = x.shape[0]
    k = ys.shape[1]
    if n < 3:
        return np.full(k, np.nan), np.full(k, np.nan)
    if method == "kendall":
        res = [stats.kendalltau(x, ys[:, j]) for j in range(k)]
        return (np.array([q.statistic for q in res], dtype=float),
                np.array([q.pvalue for q in res], dtype=float))
    if method == "spearman":
        x, ys = _rank(x), _rank(ys)
    r = _corr_columns(x, ys)
    return r, _t_pvalue(r, np.full(k, n))


def item_trait_correlations(
    ratings: pd.DataFrame,
    traits: pd.DataFrame,
    method: str = "spearman",
    threshold: float = TAG_THRESHOLD,
    alpha: float = TAG_ALPHA,
    correction: str = "none",
    sign: str = "positive",
) -> pd.DataFrame:
    """Correlate every item's human ratings with the raters' trait scores and tag items.

    Parameters
    ----------
    ratings
        Long table ``participant_id, item_id, rating`` (e.g. ``Wave.ratings``).
    traits
        Indexed by ``participant_id``; one column per trait (e.g. ``Wave.values`` or a
        subset of its columns).
    method
        ``spearman`` (the paper), ``pearson`` or ``kendall`` (tau-b).
    threshold, alpha, correction, sign
        The tagging rule, see :func:`select_items`.

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id, value, r, p, p_adjusted, n, tagged``; items sorted, traits in
        the column order of ``traits``. ``n`` counts raters with both a rating and a score.
    """
    _check_choice("method", method, METHODS)
    for col in ("participant_id", "item_id", "rating"):
        if col not in ratings.columns:
            raise InputError(f"ratings table lacks column {col!r}", field=col)
    pids = ratings["participant_id"].astype(str)
    unknown = ~pids.isin(traits.index.astype(str))
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0]) + 1
        raise InputError(f"participant {pids.iloc[row - 1]} has ratings but no trait scores",
                         row=row, field="participant_id")
    trait_names = [str(c) for c in traits.columns]
    tmat = traits.set_axis(traits.index.astype(str)).astype(float)
    rows: list[tuple[str, str, float, float, int]] = []
    for item_id, grp in ratings.groupby(ratings["item_id"].astype(str), sort=True):
        x_all = grp["rating"].to_numpy(dtype=float)
        y_all = tmat.loc[grp["participant_id"].astype(str)].to_numpy()
        complete = ~np.isnan(x_all)
        if np.isnan(y_all[complete]).any():
            for j, trait in enumerate(trait_names):
                ok = complete & ~np.isnan(y_all[:, j])
                r, p = _item_stats(x_all[ok], y_all[ok][:, [j]], method)
                rows.append((item_id, trait, r[0], p[0], int(ok.sum())))
            continue
        r, p = _item_stats(x_all[complete], y_all[complete], method)
        n = int(complete.sum())
        rows.extend((item_id, t, r[j], p[j], n) for j, t in enumerate(trait_names))
    table = pd.DataFrame(rows, columns=[ITEM_ID, VALUE, "r", "p", "n"])
    return select_items(table, threshold=threshold, alpha=alpha, correction=correction,
                        sign=sign)


def select_items(
    correlations: pd.DataFrame,
    threshold: float = TAG_THRESHOLD,
    alpha: float = TAG_ALPHA,
    correction: str = "none",
    sign: str = "positive",
) -> pd.DataFrame:
    """Apply the tagging rule to a correlation table (recomputed or published).

    An (item, trait) pair is tagged when ``r > threshold`` (``sign="positive"``, the
    paper), ``r < -threshold`` (``negative``) or ``|r| > threshold`` (``both``), and the
    p-value adjusted across all pairs of the table (``correction``) is below ``alpha``.

    Parameters
    ----------
    correlations
        Columns ``item_id, value, r, p`` (others kept).
    threshold, alpha
        Correlation threshold and significance level.
    correction
        ``none`` (the paper), ``fdr_bh`` (Benjamini-Hochberg) or ``bonferroni``.
    sign
        ``positive``, ``negative`` or ``both``.

    Returns
    -------
    pandas.DataFrame
        A copy with ``p_adjusted`` and ``tagged`` (bool) recomputed, columns in
        :data:`COLUMNS` order first.
    """
    _check_choice("sign", sign, SIGNS)
    check_rule(threshold, alpha)
    out = correlations.copy()
    r = out["r"].to_numpy(dtype=float)
    out["p_adjusted"] = adjust_pvalues(out["p"].to_numpy(dtype=float), correction)
    if sign == "positive":
        strong = r > threshold
    elif sign == "negative":
        strong = r < -threshold
    else:
        strong = np.abs(r) > threshold
    out["tagged"] = strong & (out["p_adjusted"].to_numpy() < alpha)
    if "n" not in out.columns:
        out["n"] = pd.NA
    rest = [c for c in out.columns if c not in COLUMNS]
    return out[COLUMNS + rest].reset_index(drop=True)


def check_rule(threshold: float, alpha: float) -> None:
    """Refuse a correlation threshold outside [0, 1) or a significance level outside (0, 1]."""
    if not (math.isfinite(threshold) and 0.0 <= threshold < 1.0):
        raise InputError(f"a correlation threshold must lie in [0, 1), got {threshold:g}",
                         field="threshold")
    if not (math.isfinite(alpha) and 0.0 < alpha <= 1.0):
        raise InputError(f"a significance level must lie in (0, 1], got {alpha:g}",
                         field="alpha")


_PUBLISHED_KEYS = ("portrait_id", "option_id", "pvq_dimension", "spearman_corr",
                   "spearman_p_value")


def _published_row(rec: object, path: Path, row: int) -> tuple[str, str, float, float]:
    if not isinstance(rec, dict):
        raise InputError(f"record is not a JSON object: {rec!r}", file=path, row=row)
    for key in _PUBLISHED_KEYS:
        if key not in rec:
            raise InputError("missing key", file=path, row=row, field=key)
    try:
        trait = canonical_trait(str(rec["pvq_dimension"]))
    except KeyError:
        raise InputError(f"unknown trait {rec['pvq_dimension']!r}", file=path, row=row,
                         field="pvq_dimension") from None
    numbers = []
    for key, lo, hi in (("spearman_corr", -1.0, 1.0), ("spearman_p_value", 0.0, 1.0)):
        value = rec[key]
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not lo <= value <= hi:
            raise InputError(f"must be a number in [{lo:g}, {hi:g}], got {value!r}", file=path,
                             row=row, field=key)
        numbers.append(float(value))
    return f"{rec['portrait_id']}_{rec['option_id']}", trait, numbers[0], numbers[1]


def published_correlations(path: str | Path, **rule: object) -> pd.DataFrame:
    """Read ``pvq_correlation_results.json`` of the Value Portrait release.

    Parameters
    ----------
    path
        The JSON file (a list of ``portrait_id, option_id, pvq_dimension, spearman_corr,
        spearman_p_value`` records), or the release root.
    **rule
        Passed to :func:`select_items` (default: the paper's rule).

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id, value, r, p, p_adjusted, n, tagged`` (``n`` unknown: NA),
        canonical trait names, sorted by item then the file's order of traits.

    Raises
    ------
    InputError
        An unreadable file, a document that is not a non-empty list of records, or a record
        (its 1-based position is the row) with a missing key, an unknown trait, a
        correlation outside [-1, 1] or a p-value outside [0, 1].
    """
    path = Path(path)
    if path.is_dir():
        from vp_bayes.wave.importers.valueportrait import CORRELATIONS, _release_root

        path = _release_root(path) / CORRELATIONS
    records = read_json(path, what="published correlation file")
    if not isinstance(records, list) or not records:
        raise InputError("expected a non-empty JSON list of correlation records", file=path)
    rows = [_published_row(rec, path, i) for i, rec in enumerate(records, start=1)]
    table = pd.DataFrame(rows, columns=[ITEM_ID, VALUE, "r", "p"])
    if table.duplicated([ITEM_ID, VALUE]).any():
        row = int(np.flatnonzero(table.duplicated([ITEM_ID, VALUE]).to_numpy())[0]) + 1
        raise InputError("duplicate (item, trait) record", file=path, row=row,
                         field="pvq_dimension")
    table["n"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table = table.sort_values("item_id", kind="mergesort")
    return select_items(table, **rule)  # type: ignore[arg-type]


def tag_counts(table: pd.DataFrame, traits: Sequence[str] | None = None) -> pd.Series:
    """Number of tags per trait (all traits of ``traits`` listed, zero included)."""
    counts = table.loc[table["tagged"], VALUE].value_counts()
    index = list(traits) if traits is not None else list(dict.fromkeys(table[VALUE]))
    return counts.reindex(index, fill_value=0).astype(int).rename("tags")


def compare_correlations(recomputed: pd.DataFrame, published: pd.DataFrame,
                         tol: float = 1e-9) -> pd.DataFrame:
    """Per item: largest |difference| in r and in p between two correlation tables.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``item_id``: ``max_abs_dr``, ``max_abs_dp``, ``match`` (both <= tol),
        over the (item, trait) pairs the two tables share.
    """
    both = recomputed.merge(published, on=[ITEM_ID, VALUE], suffixes=("", "_pub"))
    both["dr"] = (both["r"] - both["r_pub"]).abs()
    both["dp"] = (both["p"] - both["p_pub"]).abs()
    per_item = both.groupby("item_id").agg(max_abs_dr=("dr", "max"), max_abs_dp=("dp", "max"))
    per_item["match"] = (per_item["max_abs_dr"] <= tol) & (per_item["max_abs_dp"] <= tol)
    return per_item


# --------------------------------------------------------------------------------------
# chance expectation
# --------------------------------------------------------------------------------------
def critical_r(n: np.ndarray | int, alpha: float = TAG_ALPHA) -> np.ndarray:
    """Smallest |r| with two-sided t-test p < alpha at n observations."""
    dof = np.asarray(n, dtype=float) - 2
    t = stats.t.isf(alpha / 2, dof)
    return t / np.sqrt(dof + t * t)


def chance_tag_probability(n: np.ndarray | int, threshold: float = TAG_THRESHOLD,
                           alpha: float = TAG_ALPHA, sign: str = "positive") -> np.ndarray:
    """P(tag) for one (item, trait) test under rho = 0, by the t approximation.

    The rule tags when ``r > c`` with ``c = max(threshold, critical_r(n, alpha))``; under
    the null ``r sqrt((n-2)/(1-r^2))`` is taken as t with n - 2 df (exact for Pearson
    with normal data; the approximation ``spearmanr`` itself uses for its p-values).
    """
    _check_choice("sign", sign, SIGNS)
    n = np.asarray(n, dtype=float)
    c = np.maximum(threshold, critical_r(n, alpha))
    dof = n - 2
    one = stats.t.sf(c * np.sqrt(dof / (1 - c * c)), dof)
    return 2 * one if sign == "both" else one


def expected_chance_tags(
    ratings: pd.DataFrame,
    traits: pd.DataFrame,
    threshold: float = TAG_THRESHOLD,
    alpha: float = TAG_ALPHA,
    method: str = "spearman",
    sign: str = "positive",
    how: str = "permutation",
    n_permutations: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Expected number of tags per trait if no item related to any trait (rho = 0).

    Parameters
    ----------
    ratings, traits
        As for :func:`item_trait_correlations`.
    threshold, alpha, method, sign
        The (uncorrected) rule whose chance rate is wanted.
    how
        ``permutation``: Monte Carlo over random permutations of each item's ratings
        among its raters (the exact null for this design, keeping ties and every item's
        n; ``method`` spearman or pearson), seeded; ``t``: the t approximation at each
        item's n (:func:`chance_tag_probability`).
    n_permutations
        Permutations per item for ``how="permutation"``.
    seed
        Seed of the permutation generator.

    Returns
    -------
    pandas.DataFrame
        One row per trait: ``value, expected_tags, per_test_rate, n_tests``; plus
        ``mc_se`` (Monte Carlo standard error of ``expected_tags``) for permutations.
    """
    _check_choice("how", how, ("permutation", "t"))
    tmat = traits.set_axis(traits.index.astype(str)).astype(float)
    names = [str(c) for c in traits.columns]
    if how == "t":
        n_per_item = ratings.groupby("item_id")["rating"].count().to_numpy()
        prob = chance_tag_probability(n_per_item, threshold, alpha, sign)
        tot = float(prob.sum())
        m = len(n_per_item)
        return pd.DataFrame({VALUE: names, "expected_tags": tot, "per_test_rate": tot / m,
                             "n_tests": m})
    if method not in ("spearman", "pearson"):
        raise InputError("permutation chance expectation supports spearman or pearson",
                         field="method")
    rng = np.random.default_rng(seed)
    k = len(names)
    hits = np.zeros((0, k))
    for _, grp in ratings.groupby(ratings["item_id"].astype(str), sort=True):
        x = grp["rating"].to_numpy(dtype=float)
        ys = tmat.loc[grp["participant_id"].astype(str)].to_numpy()
        ok = ~np.isnan(x) & ~np.isnan(ys).any(axis=1)
        x, ys = x[ok], ys[ok]
        n = x.size
        if n < 3:
            continue
        if method == "spearman":
            x, ys = _rank(x), _rank(ys)
        perms = rng.permuted(np.tile(x, (n_permutations, 1)), axis=1)
        xc = perms - perms.mean(axis=1, keepdims=True)
        yc = ys - ys.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (xc @ yc) / np.sqrt((xc * xc).sum(axis=1)[:, None] * (yc * yc).sum(axis=0))
        p = _t_pvalue(r, np.full(r.shape, n))
        strong = {"positive": r > threshold, "negative": r < -threshold,
                  "both": np.abs(r) > threshold}[sign]
        hits = np.vstack([hits, (strong & (p < alpha)).mean(axis=0)])
    rate = hits.mean(axis=0)
    m = hits.shape[0]
    # each item's hit fraction is a mean of n_permutations Bernoulli draws
    se = np.sqrt((hits * (1 - hits)).sum(axis=0) / n_permutations)
    return pd.DataFrame({VALUE: names, "expected_tags": rate * m, "per_test_rate": rate,
                         "n_tests": m, "mc_se": se})
