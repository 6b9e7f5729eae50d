"""Comparing scored respondents with each other: pairwise P(a > b), posterior ranks, leaderboard.

"Is model A more benevolent than B?" is answered by the posterior of ``theta_A - theta_B``
(:func:`pairwise`); "how do the LLMs rank?" by each respondent's rank among the compared ones,
computed draw by draw (:func:`ranks`); :func:`leaderboard` lists the posterior means with
intervals, sorted per value. :func:`compare_models` computes all three (``vp-bayes compare``)
and :func:`comparison_lines` composes what the command prints.

Every comparison needs joint draws of the compared respondents, and how the portrait draws may
be paired depends on how they were scored (:func:`joint_draws`):

- a model and its personas scored jointly (``personas="joint"``) share sample ``i``: the
  differences at equal ``sample`` are draws of their joint posterior, kept as they are;
- with ``method="cut"`` every respondent's sample ``i`` used item draw ``item_draw[i]``:
  pairing by index is the cut posterior's joint, kept as it is;
- otherwise (the default marginal scoring) respondents are independent posteriors: each one
  (or each jointly scored unit) is resampled in random order with a fixed seed
  (:func:`vp_bayes.contrasts.draws.resample`, as the persona-human biases are) and paired by
  index. The generator of a unit depends on the seed and the unit's name only, so a pair's
  result does not depend on which other respondents are compared.

Scales are :data:`vp_bayes.dims.SCALES`: ``latent`` (the human scale) or ``centered`` (minus the
respondent's mean over values, draw by draw: relative priorities).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import rankdata

from vp_bayes.contrasts.draws import (
    check_scale,
    interval_bounds,
    portrait_draws,
    portraits_dataset,
    resample,
)
from vp_bayes.contrasts.tables import BIAS_SEED
from vp_bayes.dims import (
    INTERVAL_MASS,
    LATENT,
    RESPONDENT,
    SAMPLE,
    VALUE,
    Scale,
    canonical_trait,
    split_respondent,
)
from vp_bayes.errors import InputError
from vp_bayes.scoring.checks import MISFIT_P, PPP_NAMES
from vp_bayes.scoring.portraits import scoring_units

COMPARE_SEED = BIAS_SEED  # the seed that matches independently scored respondents' draws
JOINT = "joint"  # pairing: sample i is a draw of the pair's joint posterior
INDEPENDENT = "independent"  # pairing: independent posteriors matched in random order
PAIR_COLUMNS = ["value", "respondent_a", "respondent_b", "mean", "lower", "upper",
                "prob_a_greater", "pairing", "scale", "mass"]
RANK_COLUMNS = ["value", "respondent", "mean_rank", "rank_lower", "rank_upper", "prob_first",
                "n_ranked", "scale", "mass"]
LEADERBOARD_COLUMNS = ["value", "position", "respondent", "model", "persona", "mean", "sd",
                       "lower", "upper", "percentile", "reliability", "misfit", "scale", "mass"]
SUMMARY_COLUMNS = ["value", "position", "respondent", "mean", "lower", "upper", "mean_rank",
                   "rank_lower", "rank_upper", "prob_first", "misfit"]
N_PRINTED = 20  # respondents per value in the printed summary
N_LISTED = 10  # known names listed in an error message
_CHUNK = 20_000_000  # difference elements computed at once (memory of :func:`pairwise`)


# --- which respondents and values ----------------------------------------------------------
def default_respondents(portraits: object) -> list[str]:
    """The respondents compared when none are named: the models scored without a persona.

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.

    Returns
    -------
    list of str
        Every respondent without a persona (``gpt-4o``, not ``gpt-4o|gender=male``) in the
        draws' order; all respondents when every one has a persona.
    """
    names = [str(r) for r in portraits_dataset(portraits)[RESPONDENT].values]
    plain = [n for n in names if not split_respondent(n)[1]]
    return plain or names


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:N_LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > N_LISTED else "")


def select_respondents(portraits: object, respondents: Sequence[str] | None = None) -> list[str]:
    """The respondents to compare, checked against the scored ones.

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.
    respondents
        Respondent names (``model`` or ``model|persona``); repeats are dropped. ``None``:
        :func:`default_respondents`.

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        Naming the unknown respondents and the scored ones (field ``respondent``).
    """
    if respondents is None:
        return default_respondents(portraits)
    if isinstance(respondents, str):
        respondents = [respondents]
    known = [str(r) for r in portraits_dataset(portraits)[RESPONDENT].values]
    chosen = list(dict.fromkeys(str(r) for r in respondents))
    missing = [r for r in chosen if r not in set(known)]
    if missing:
        raise InputError(f"unknown respondent(s) {', '.join(missing)} (scored: "
                         f"{_listed(known)})", field=RESPONDENT)
    if not chosen:
        raise InputError("no respondent to compare", field=RESPONDENT)
    return chosen


def select_values(portraits: object, values: Sequence[str] | None = None) -> list[str]:
    """The values to compare (any spelling of a trait name), checked against the scored ones.

    Raises
    ------
    InputError
        Naming the unknown value and the scored ones (field ``value``).
    """
    known = [str(v) for v in portraits_dataset(portraits)[VALUE].values]
    if values is None:
        return known
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        name = str(v)
        if name not in known:
            try:
                name = canonical_trait(name)
            except KeyError:
                pass
        if name not in known:
            raise InputError(f"unknown value {v!r} (scored: {', '.join(known)})", field=VALUE)
        out.append(name)
    return list(dict.fromkeys(out))


# --- joint draws -----------------------------------------------------------------------------
def _tied_to_item_draws(ds: xr.Dataset) -> bool:
    """Whether sample i of every respondent used the same item draw (the cut method)."""
    if str(ds.attrs.get("method", "")) == "cut":
        return True
    tied = ds.coords.get("item_draw")
    return tied is not None and tied.size > 0 and bool((tied.values >= 0).all())


def scoring_unit_of(portraits: object) -> dict[str, str]:
    """Respondent -> the name of the unit whose members share sample ``i`` as a joint draw.

    With the cut method every respondent is in one unit (sample ``i`` used item draw
    ``item_draw[i]`` for all); otherwise a model and its personas scored jointly form a unit
    (:func:`vp_bayes.scoring.portraits.scoring_units` with the draws' ``personas`` setting,
    ``"joint"`` when the draws do not say) and every other respondent is its own unit.
    """
    ds = portraits_dataset(portraits)
    names = [str(r) for r in ds[RESPONDENT].values]
    if _tied_to_item_draws(ds):
        return dict.fromkeys(names, "item draws")
    mode = str(ds.attrs.get("personas", "joint") or "joint")
    return {n: unit[0] for unit in scoring_units(names, mode) for n in unit}


def joint_draws(portraits: object, respondents: Sequence[str] | None = None, *,
                values: Sequence[str] | None = None, scale: Scale = LATENT,
                seed: int = COMPARE_SEED) -> xr.DataArray:
    """Draws ``(respondent, sample, value)`` in which sample ``i`` is one joint draw of all.

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.
    respondents
        The respondents (default :func:`default_respondents`).
    values
        The values (default all).
    scale
        ``"latent"`` or ``"centered"`` (:data:`vp_bayes.dims.SCALES`).
    seed
        Seed of the random order of independently scored respondents; each unit's generator
        is ``default_rng([seed, crc32(unit name)])``.

    Returns
    -------
    xarray.DataArray
        With the coordinate ``unit`` (per respondent): respondents of one unit keep their
        joint draws (:func:`scoring_unit_of`); each unit is put in its own random order
        (a permutation of its samples, :func:`~vp_bayes.contrasts.draws.resample`) unless the
        samples are tied to item draws, where every unit keeps its order.
    """
    names = select_respondents(portraits, respondents)
    vals = select_values(portraits, values)
    ds = portraits_dataset(portraits)
    draws = portrait_draws(ds, check_scale(scale)).sel({VALUE: vals})
    units = scoring_unit_of(ds)
    tied = _tied_to_item_draws(ds)
    n = draws.sizes[SAMPLE]
    parts = []
    for unit in dict.fromkeys(units[r] for r in names):
        members = [r for r in names if units[r] == unit]
        part = draws.sel({RESPONDENT: members})
        if not tied:
            part = resample(part, n, np.random.default_rng([seed, zlib.crc32(unit.encode())]))
        parts.append(part.assign_coords(unit=(RESPONDENT, [unit] * len(members))))
    out = xr.concat(parts, dim=RESPONDENT).sel({RESPONDENT: names})
    return out.transpose(RESPONDENT, SAMPLE, VALUE)


# --- the three tables ------------------------------------------------------------------------
def pairwise(portraits: object, respondents: Sequence[str] | None = None, *,
             values: Sequence[str] | None = None, scale: Scale = LATENT,
             mass: float = INTERVAL_MASS, seed: int = COMPARE_SEED) -> pd.DataFrame:
    """Every pair of respondents, value by value: ``a - b`` with its interval and P(a > b).

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.
    respondents
        The respondents, in the order that sets each pair's ``a`` (earlier) and ``b``
        (later); default :func:`default_respondents`.
    values
        The values (any spelling; default all).
    scale
        ``"latent"`` (human SD units) or ``"centered"`` (relative priorities).
    mass
        Mass of the equal-tailed intervals.
    seed
        Seed of the random order of independent posteriors (:func:`joint_draws`).

    Returns
    -------
    pandas.DataFrame
        :data:`PAIR_COLUMNS`, one row per (value, a, b), values in the draws' order:
        ``mean``/``lower``/``upper`` of ``theta_a - theta_b`` and ``prob_a_greater`` = the
        share of joint draws with ``theta_a > theta_b`` (ties count for neither);
        ``pairing`` is ``joint`` (sample ``i`` was a joint draw: personas scored jointly with
        their model, or the cut method's shared item draws) or ``independent`` (independent
        posteriors matched in random order).
    """
    lo, hi = interval_bounds(mass)
    draws = joint_draws(portraits, respondents, values=values, scale=scale, seed=seed)
    names = [str(r) for r in draws[RESPONDENT].values]
    vals = [str(v) for v in draws[VALUE].values]
    units = draws["unit"].values
    arr = draws.values  # (R, N, V)
    pairs = list(combinations(range(len(names)), 2))
    if not pairs:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    ia, ib = (np.array(x) for x in zip(*pairs, strict=True))
    step = max(1, _CHUNK // max(arr.shape[1] * arr.shape[2], 1))
    stats = {k: np.empty((len(pairs), len(vals))) for k in ("mean", "lower", "upper", "prob")}
    for start in range(0, len(pairs), step):
        sl = slice(start, start + step)
        diff = arr[ia[sl]] - arr[ib[sl]]  # (P, N, V)
        q = np.quantile(diff, [lo, hi], axis=1)
        stats["mean"][sl] = diff.mean(axis=1)
        stats["lower"][sl], stats["upper"][sl] = q[0], q[1]
        stats["prob"][sl] = (diff > 0).mean(axis=1)
    n_v = len(vals)
    table = pd.DataFrame({
        "value": np.repeat(vals, len(pairs)),
        "respondent_a": np.tile([names[a] for a in ia], n_v),
        "respondent_b": np.tile([names[b] for b in ib], n_v),
        "mean": stats["mean"].T.ravel(),
        "lower": stats["lower"].T.ravel(),
        "upper": stats["upper"].T.ravel(),
        "prob_a_greater": stats["prob"].T.ravel(),
        "pairing": np.tile(np.where(units[ia] == units[ib], JOINT, INDEPENDENT), n_v),
        "scale": scale,
        "mass": float(mass),
    })
    return table[PAIR_COLUMNS]


def _rank_quantiles(rank: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of a discrete rank distribution over axis 1 (values that occur)."""
    return (np.quantile(rank, lo, axis=1, method="inverted_cdf"),
            np.quantile(rank, hi, axis=1, method="inverted_cdf"))


def ranks(portraits: object, respondents: Sequence[str] | None = None, *,
          values: Sequence[str] | None = None, scale: Scale = LATENT,
          mass: float = INTERVAL_MASS, seed: int = COMPARE_SEED) -> pd.DataFrame:
    """Each respondent's posterior rank among the compared respondents, value by value.

    The rank is computed in every joint draw (:func:`joint_draws`): 1 = the highest value
    among the respondents; tied draws share the mean of their ranks.

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.
    respondents
        The respondents ranked (default :func:`default_respondents`).
    values, scale, mass, seed
        As in :func:`pairwise`.

    Returns
    -------
    pandas.DataFrame
        :data:`RANK_COLUMNS`: ``mean_rank``, the equal-tailed rank interval
        ``rank_lower``/``rank_upper`` (ranks that occur in the draws), ``prob_first`` =
        P(rank 1), ``n_ranked`` respondents; per value sorted by ``mean_rank``.
    """
    lo, hi = interval_bounds(mass)
    draws = joint_draws(portraits, respondents, values=values, scale=scale, seed=seed)
    names = [str(r) for r in draws[RESPONDENT].values]
    arr = draws.values  # (R, N, V)
    rank = rankdata(-arr, axis=0, method="average")
    low, high = _rank_quantiles(rank, lo, hi)
    frames = []
    for v, value in enumerate(str(x) for x in draws[VALUE].values):
        frame = pd.DataFrame({
            "value": value, "respondent": names, "mean_rank": rank[:, :, v].mean(axis=1),
            "rank_lower": low[:, v], "rank_upper": high[:, v],
            "prob_first": (rank[:, :, v] == 1).mean(axis=1), "n_ranked": len(names),
            "scale": scale, "mass": float(mass)})
        frames.append(frame.sort_values("mean_rank", kind="stable"))
    return pd.concat(frames, ignore_index=True)[RANK_COLUMNS]


def _misfit(ds: xr.Dataset, names: list[str]) -> np.ndarray:
    """Whether a posterior predictive p-value of each respondent is below ``MISFIT_P``."""
    have = [k for k in PPP_NAMES if k in ds]
    if not have:
        return np.zeros(len(names), dtype=bool)
    ppp = np.stack([ds[k].sel({RESPONDENT: names}).values for k in have], axis=1)
    return np.where(np.isnan(ppp), np.inf, ppp).min(axis=1) < MISFIT_P


def leaderboard(portraits: object, respondents: Sequence[str] | None = None, *,
                values: Sequence[str] | None = None, scale: Scale = LATENT,
                mass: float = INTERVAL_MASS) -> pd.DataFrame:
    """Respondents x values: posterior means with intervals, sorted per value (highest first).

    Parameters
    ----------
    portraits
        :class:`~vp_bayes.scoring.portraits.Portraits` or its draws Dataset.
    respondents
        The respondents listed (default :func:`default_respondents`).
    values
        The values (default all, in the draws' order).
    scale
        ``"latent"`` or ``"centered"``: the scale of ``mean``, ``sd``, ``lower``, ``upper``.
    mass
        Mass of the equal-tailed intervals.

    Returns
    -------
    pandas.DataFrame
        :data:`LEADERBOARD_COLUMNS`; ``position`` 1 = the highest posterior mean of the value;
        ``percentile`` the posterior mean share (%) of fitted participants below (on the
        latent scale whatever ``scale``), ``reliability`` and ``misfit`` as in the portrait
        table (NaN / False where the draws lack them).
    """
    lo, hi = interval_bounds(mass)
    names = select_respondents(portraits, respondents)
    vals = select_values(portraits, values)
    ds = portraits_dataset(portraits)
    draws = portrait_draws(ds, check_scale(scale)).sel({RESPONDENT: names, VALUE: vals})
    arr = draws.transpose(RESPONDENT, SAMPLE, VALUE).values
    q = np.quantile(arr, [lo, hi], axis=1)

    def per_value(name: str) -> np.ndarray:
        if name not in ds:
            return np.full((len(names), len(vals)), np.nan)
        return ds[name].sel({RESPONDENT: names, VALUE: vals}) \
            .transpose(RESPONDENT, VALUE).values.astype(float)

    models, personas = zip(*(split_respondent(n) for n in names), strict=True)
    percentile, reliability = per_value("percentile"), per_value("reliability")
    misfit = _misfit(ds, names)
    frames = []
    for v, value in enumerate(vals):
        frame = pd.DataFrame({
            "value": value, "respondent": names, "model": list(models),
            "persona": list(personas), "mean": arr[:, :, v].mean(axis=1),
            "sd": arr[:, :, v].std(axis=1, ddof=1) if arr.shape[1] > 1 else np.nan,
            "lower": q[0, :, v], "upper": q[1, :, v], "percentile": percentile[:, v],
            "reliability": reliability[:, v], "misfit": misfit, "scale": scale,
            "mass": float(mass)})
        frame = frame.sort_values("mean", ascending=False, kind="stable")
        frame["position"] = np.arange(1, len(frame) + 1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[LEADERBOARD_COLUMNS]


# --- all at once, and what the command prints ------------------------------------------------
@dataclass(frozen=True)
class ModelComparison:
    """Everything ``vp-bayes compare`` prints and writes.

    Attributes
    ----------
    leaderboard
        :func:`leaderboard` (:data:`LEADERBOARD_COLUMNS`).
    ranks
        :func:`ranks` (:data:`RANK_COLUMNS`).
    pairs
        :func:`pairwise` (:data:`PAIR_COLUMNS`).
    scale
        The scale of all three.
    mass
        The interval mass.
    seed
        The seed that matched independent posteriors.
    """

    leaderboard: pd.DataFrame
    ranks: pd.DataFrame
    pairs: pd.DataFrame
    scale: str
    mass: float
    seed: int = COMPARE_SEED

    def summary(self) -> pd.DataFrame:
        """The comparison in brief: the leaderboard with the posterior ranks.

        Returns
        -------
        pandas.DataFrame
            :data:`SUMMARY_COLUMNS`, one row per value and respondent, per value in
            leaderboard order (``position`` 1 = highest posterior mean); ``mean_rank``,
            ``rank_lower``/``rank_upper`` and ``prob_first`` from :attr:`ranks`.
        """
        rank_cols = ["value", "respondent", "mean_rank", "rank_lower", "rank_upper",
                     "prob_first"]
        merged = self.leaderboard.merge(self.ranks[rank_cols], on=["value", "respondent"],
                                        how="left", sort=False)
        return merged[SUMMARY_COLUMNS].reset_index(drop=True)


def compare_models(portraits: object, respondents: Sequence[str] | None = None, *,
                   values: Sequence[str] | None = None, scale: Scale = LATENT,
                   mass: float = INTERVAL_MASS, seed: int = COMPARE_SEED) -> ModelComparison:
    """:func:`leaderboard`, :func:`ranks` and :func:`pairwise` of the same respondents.

    Parameters are those of :func:`pairwise`; names are checked once, before any work.
    """
    check_scale(scale)
    interval_bounds(mass)
    names = select_respondents(portraits, respondents)
    vals = select_values(portraits, values)
    opts = {"values": vals, "scale": scale, "mass": mass}
    return ModelComparison(leaderboard(portraits, names, **opts),
                           ranks(portraits, names, seed=seed, **opts),
                           pairwise(portraits, names, seed=seed, **opts),
                           scale, float(mass), int(seed))


def _signed(x: float) -> str:
    return f"{x:+.2f}"


_FORMATS = {"mean": _signed, "lower": _signed, "upper": _signed,
            "mean_rank": lambda x: f"{x:.2f}", "rank_lower": lambda x: f"{x:g}",
            "rank_upper": lambda x: f"{x:g}", "prob_first": lambda x: f"{x:.3f}"}


def _neighbour_line(pairs: pd.DataFrame, high: str, low: str) -> str:
    """``"  a > b  P = 0.97  a - b = +0.52 [+0.10, +0.95]"`` from the pair row of (a, b)."""
    row = pairs[(pairs["respondent_a"] == high) & (pairs["respondent_b"] == low)]
    if len(row):
        r = row.iloc[0]
        prob, mean, lower, upper = r["prob_a_greater"], r["mean"], r["lower"], r["upper"]
    else:  # the pair is stored the other way round
        r = pairs[(pairs["respondent_a"] == low) & (pairs["respondent_b"] == high)].iloc[0]
        prob, mean, lower, upper = 1.0 - r["prob_a_greater"], -r["mean"], -r["upper"], -r["lower"]
    return (f"  P({high} > {low}) = {prob:.3f}; difference {_signed(mean)} "
            f"[{_signed(lower)}, {_signed(upper)}]")


def comparison_lines(comparison: ModelComparison, *, full: bool = False,
                     max_rows: int = N_PRINTED, table_path: str | Path | None = None,
                     ranks_path: str | Path | None = None) -> list[str]:
    """The lines ``vp-bayes compare`` prints for a :class:`ModelComparison`.

    Parameters
    ----------
    comparison
        From :func:`compare_models`.
    full
        Every respondent of each value and every pair; otherwise at most ``max_rows``
        respondents per value and, for the pairs, each respondent against the next one down
        the leaderboard.
    max_rows
        The cap of the summary.
    table_path, ranks_path
        Where the pair table and the leaderboard with ranks were written (named in the lines
        about what was left out).

    Returns
    -------
    list of str
        A heading, then per value the leaderboard with posterior ranks and the pairs.
    """
    pct = f"{100 * comparison.mass:g}%"
    summary = comparison.summary()
    pairs = comparison.pairs
    n_resp = summary["respondent"].nunique()
    n_val = summary["value"].nunique()
    paired = set(pairs["pairing"]) if len(pairs) else set()
    lines = [f"Comparing {n_resp} respondent(s) on {n_val} value(s): {comparison.scale} scale, "
             f"{pct} equal-tailed intervals, rank 1 = highest (ranks and P(a > b) computed "
             "draw by draw)"]
    if INDEPENDENT in paired:
        lines.append(f"Independently scored respondents are independent posteriors, matched "
                     f"in random order (seed {comparison.seed}); a model and its personas "
                     "scored jointly keep their joint draws.")
    cap = None if full else max(max_rows, 0)
    for value, grp in summary.groupby("value", sort=False):
        shown = grp if cap is None else grp.head(cap)
        lines += ["", str(value)]
        lines.append(shown.drop(columns="value").to_string(index=False,
                                                           formatters=_FORMATS))
        if len(shown) < len(grp):
            where = f"all in {ranks_path}" if ranks_path else "--full prints them"
            lines.append(f"  ... {len(grp) - len(shown)} more respondent(s) ({where})")
        rows = pairs[pairs["value"] == value]
        if rows.empty:
            continue
        if full:
            for r in rows.itertuples():
                lines.append(f"  P({r.respondent_a} > {r.respondent_b}) = "
                             f"{r.prob_a_greater:.3f}; difference {_signed(r.mean)} "
                             f"[{_signed(r.lower)}, {_signed(r.upper)}]")
        else:
            order = grp["respondent"].tolist()
            stop = len(order) if cap is None else min(len(order), cap)
            for high, low in zip(order[: stop - 1], order[1:stop], strict=True):
                lines.append(_neighbour_line(rows, high, low))
            if len(rows) > stop - 1:
                where = f"all in {table_path}" if table_path else "--full prints them"
                lines.append(f"  ... {len(rows) - (stop - 1)} more pair(s) ({where})")
    if n_resp < 2:
        lines += ["", "One respondent: there is nothing to compare it with."]
    return lines
