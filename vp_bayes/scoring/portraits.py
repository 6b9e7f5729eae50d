"""Value portraits of respondents (LLMs, personas) through the item posterior.

:func:`score` is the one call (mirt's ``fscores`` habit): it reads S item-parameter draws
from a fitted :class:`~vp_bayes.model.fit.ItemModel`, scores every respondent of a long LLM
rating table by the cut posterior (:mod:`vp_bayes.scoring.laplace`), and returns
:class:`Portraits`: the draws (an xarray Dataset) and a tidy table (:func:`portrait_table`).
"""

from __future__ import annotations

import ast
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from vp_bayes import __version__, dims
from vp_bayes.dims import split_respondent
from vp_bayes.errors import InputError
from vp_bayes.output import write_csv
from vp_bayes.scoring import checks
from vp_bayes.scoring.joint import PERSONA_SD, make_joint_problem
from vp_bayes.scoring.laplace import (
    K_HAT_MAX,
    MAX_LOG_SCALE,
    PRIOR_SCALE,
    TAU_SCALE,
    LaplaceResult,
    Layout,
    RespondentData,
    laplace_samples,
    make_problem,
)
from vp_bayes.scoring.marginal import MarginalProblem
from vp_bayes.scoring.posterior import ItemDraws, item_draws

NETCDF_ENGINE = "scipy"  # netCDF3, needs nothing beyond scipy
POOLED = "all"  # label of the single variant group when variants are pooled
N_LISTED = 5  # unknown item ids listed in notes
PERSONA_MODES = ("joint", "independent")
METHODS = ("cut", "marginal")
N_PROPOSALS = 1000  # importance-sampling proposals of a marginal posterior (cost: S per one)

TABLE_COLUMNS = (
    "respondent", "model", "persona", "value", "mean", "sd", "lower", "upper",
    "centered_mean", "centered_lower", "centered_upper", "percentile", "percentile_lower",
    "percentile_upper", "n_ratings",
    "n_unparsed", "n_unknown_items", "mass", "ess_fraction", "pareto_k", "reliability",
    "prior_sensitivity", "tau", "sigma", "ppp_agreement", "ppp_distribution", "ppp_fit",
    "misfit",
)


@dataclass(frozen=True)
class Portraits:
    """Scored respondents.

    Attributes
    ----------
    draws
        ``theta (respondent, sample, value)``, ``theta_centered``, ``alpha (respondent,
        sample)``, ``percentile (respondent, value)``, per-respondent counts and diagnostics;
        settings in ``attrs``. With ``method="cut"`` sample ``i`` uses item draw
        ``item_draw[i]`` for every respondent; with ``"marginal"`` (item parameters integrated
        in the likelihood) samples are not tied to item draws and ``item_draw`` is -1.
        Respondents scored jointly (a model and its personas) share sample ``i``: differences
        between them at equal ``sample`` are draws of their joint posterior.
    table
        One row per respondent and value (:data:`TABLE_COLUMNS`).
    notes
        Human-readable remarks (unknown items, non-converged fits, weak importance weights).
    """

    draws: xr.Dataset
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """The portraits in brief: one row per respondent and value (mirt's ``summary``).

        Returns
        -------
        pandas.DataFrame
            Columns ``respondent, model, persona, value, mean, sd, lower, upper, mass,
            percentile, reliability, misfit`` of :attr:`table`: posterior mean, SD and
            equal-tailed interval of probability ``mass`` on the human scale, the percentile
            among the fitted participants, the reliability ``1 - var_post / var_prior`` and
            whether the respondent's posterior predictive checks name it a misfit.
        """
        columns = ["respondent", "model", "persona", "value", "mean", "sd", "lower", "upper",
                   "mass", "percentile", "reliability", "misfit"]
        return self.table[columns].reset_index(drop=True)


def _rating_weights(frame: pd.DataFrame, k: int, scale_min: int, soft: bool,
                    pcols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: weights over the K categories (rows sum to 1) and a usable mask."""
    w = np.zeros((len(frame), k))
    usable = np.zeros(len(frame), dtype=bool)
    if soft and pcols:
        p = frame[pcols].to_numpy(dtype=float)
        total = np.nansum(p, axis=1)
        has_p = ~np.isnan(p).any(axis=1) & (total > 0)
        w[has_p] = p[has_p] / total[has_p, None]
        usable |= has_p
    rating = frame["rating"].to_numpy(dtype=float)
    hard = ~usable & ~np.isnan(rating)
    w[np.flatnonzero(hard), rating[hard].astype(int) - scale_min] = 1.0
    return w, usable | hard


def respondent_data(frame: pd.DataFrame, draws: ItemDraws, *, soft: bool = True,
                    variant_offsets: bool = False) -> tuple[RespondentData, dict[str, Any]]:
    """Aggregate one respondent's rows into rating weights; count what cannot be used.

    Parameters
    ----------
    frame
        The respondent's rows of a table from :func:`vp_bayes.wave.ratings.read_llm_ratings`.
    draws
        The item draws (known items, scale).
    soft
        Use ``p1..pK`` where given (expected log-likelihood); otherwise the hard rating.
    variant_offsets
        Keep the variants apart (one intercept shift each) instead of pooling them.

    Returns
    -------
    data
        The weights of the usable rows on known items.
    counts
        ``n_rows, n_ratings, n_unparsed, n_unknown_items, unknown_items`` (the ids).
    """
    k = draws.n_categories
    pcols = [f"p{i}" for i in range(1, k + 1)]
    pcols = pcols if all(c in frame.columns for c in pcols) else []
    lookup = {item: j for j, item in enumerate(draws.items)}
    item_pos = frame["item_id"].astype(str).map(lookup)
    known = item_pos.notna().to_numpy()
    unknown = sorted(frame.loc[~known, "item_id"].astype(str).unique())
    w, usable = _rating_weights(frame, k, draws.scale_min, soft, pcols)
    keep = known & usable
    pos = item_pos.to_numpy()[keep].astype(int)
    items, j_local = np.unique(pos, return_inverse=True)
    if variant_offsets:
        variants, g_local = np.unique(frame["variant"].astype(str).to_numpy()[keep],
                                      return_inverse=True)
        labels = tuple(str(v) for v in variants)
    else:
        g_local = np.zeros(int(keep.sum()), dtype=int)
        labels = (POOLED,)
    weights = np.zeros((len(items), len(labels), k))
    np.add.at(weights, (j_local, g_local), w[keep])
    counts = {
        "n_rows": len(frame),
        "n_ratings": int(keep.sum()),
        "n_unparsed": int((~usable).sum()),
        "n_unknown_items": len(unknown),
        "unknown_items": unknown,
    }
    return RespondentData(items, weights, labels), counts


def _seed_for(seed: int, respondent: str) -> np.random.Generator:
    """A generator depending on the seed and the respondent's name only (order-free)."""
    return np.random.default_rng([seed, zlib.crc32(respondent.encode())])


def _percentiles(draws: ItemDraws, theta: np.ndarray) -> np.ndarray:
    """Share (in %) of reference participants below theta, sample by sample: (S, M, V) -> same.

    With a posterior of the participants' values (latent mode) each sample is compared with
    the participants' values of its own item draw."""
    ref = np.sort(draws.reference, axis=1)  # (S or 1, P, V)
    n_ref = ref.shape[1]
    out = np.empty(theta.shape)
    for v in range(theta.shape[-1]):
        if ref.shape[0] == 1:
            below = np.searchsorted(ref[0, :, v], theta[..., v])
        else:  # blocks shifted apart so one sorted array serves all draws
            span = np.ptp(ref[..., v]) + np.ptp(theta[..., v]) + 1.0
            offset = span * np.arange(ref.shape[0])
            flat = (ref[:, :, v] + offset[:, None]).ravel()
            below = np.searchsorted(flat, theta[..., v] + offset[:, None]) \
                - n_ref * np.arange(ref.shape[0])[:, None]
        out[..., v] = 100.0 * below / n_ref
    return out


def _result(draws: ItemDraws, layout: Layout, samples: np.ndarray, res: LaplaceResult,
            log_prior: np.ndarray) -> dict[str, Any]:
    """One respondent's samples (S, M, D_r) as flat theta (S*M, V), alpha, offsets, its noise
    (tau, sigma: NaN where not modelled), diagnostics; ``log_prior`` (S*M,) is the
    power-scaled part of the prior at each sample."""
    s, m, _ = samples.shape
    flat = samples.reshape(s * m, -1)
    theta = flat[:, : layout.n_values]
    nan = np.full(s * m, np.nan)
    return {
        "theta": theta,
        "alpha": flat[:, layout.alpha] if layout.has_alpha else nan,
        "offsets": flat[:, layout.offsets],
        "tau": TAU_SCALE * np.abs(flat[:, layout.tau]) if layout.has_tau else nan,
        "sigma": np.exp(np.clip(flat[:, layout.sigma], -MAX_LOG_SCALE, MAX_LOG_SCALE))
        if layout.has_tau else nan,
        "percentile_draws": _percentiles(draws, samples[..., : layout.n_values])
        .reshape(s * m, -1),
        "prior_sensitivity": checks.prior_sensitivity(theta, log_prior),
        "ess_fraction": res.ess_fraction,
        "pareto_k": res.pareto_k,
        "newton_iterations": res.iterations,
    }


def _not_own(size: int, own_columns: np.ndarray) -> np.ndarray:
    """Entries of x (or z) whose prior is power-scaled: all but offsets and item deviations."""
    keep = np.ones(size, dtype=bool)
    keep[own_columns] = False
    return keep


def _as_draws(samples: np.ndarray, n_draws: int) -> np.ndarray:
    """Marginal samples (1, S*M, D) laid out as (S, M, D) (bookkeeping only; no pairing)."""
    return samples.reshape(n_draws, -1, samples.shape[-1])


def score_respondent(draws: ItemDraws, data: RespondentData, *, n_per_draw: int = 20,
                     rng: np.random.Generator, variant_offsets: bool = False,
                     importance: bool = True, method: str = "marginal",
                     n_proposals: int = N_PROPOSALS, prior_scale: float = PRIOR_SCALE,
                     item_deviation: bool = True) -> dict[str, Any]:
    """Posterior samples of one respondent: theta (S*M, V), alpha, offsets, tau, diagnostics.

    ``method="marginal"`` (default): item parameters and the respondent's item deviation
    integrated item by item (:mod:`.marginal`); ``"cut"``: mixture over item draws of the
    per-draw posteriors (:mod:`.laplace`; no item deviation).
    """
    marginal = method == "marginal"
    problem = make_problem(draws, data, variant_offsets, prior_scale,
                           item_deviation and marginal)
    layout = problem.layout
    keep = _not_own(layout.size, np.arange(layout.size)[layout.own])
    if not marginal:
        res = laplace_samples(problem, n_per_draw, rng, importance=importance)
        log_prior = checks.log_prior_quadratic(res.samples, problem.precision, keep)
        return _result(draws, layout, res.samples, res, log_prior)
    target = MarginalProblem.from_problem(problem, draws.shared_thresholds)
    res = laplace_samples(target, n_per_draw * draws.n_draws, rng, importance=importance,
                          n_proposals=n_proposals)
    log_prior = checks.log_prior_quadratic(res.samples, target.precision, keep)
    return _result(draws, layout, _as_draws(res.samples, draws.n_draws), res, log_prior)


def score_jointly(draws: ItemDraws, data: list[RespondentData], is_base: list[bool], *,
                  n_per_draw: int = 20, rng: np.random.Generator,
                  variant_offsets: bool = False, importance: bool = True,
                  persona_sd: float = PERSONA_SD, method: str = "marginal",
                  n_proposals: int = N_PROPOSALS, prior_scale: float = PRIOR_SCALE,
                  item_deviation: bool = True) -> list[dict[str, Any]]:
    """Joint posterior samples of a model and its personas (:mod:`.joint`), one dict each.

    Sample i is one joint draw for all of them, so differences between them at equal sample
    are draws of their joint posterior. Diagnostics are those of the joint fit.
    """
    marginal = method == "marginal"
    problem = make_joint_problem(draws, data, is_base, variant_offsets, persona_sd,
                                 marginal=marginal, prior_scale=prior_scale,
                                 item_deviation=item_deviation and marginal)
    n = n_per_draw * draws.n_draws if marginal else n_per_draw
    res = laplace_samples(problem, n, rng, importance=importance,
                          n_proposals=n_proposals if marginal else None)
    own = [np.flatnonzero(t[m.layout.own].any(axis=0))
           for t, m in zip(problem.maps, problem.members, strict=True)]
    keep = _not_own(problem.size, np.concatenate(own))
    log_prior = checks.log_prior_quadratic(res.samples, problem.precision, keep)
    samples = _as_draws(res.samples, draws.n_draws)
    return [_result(draws, member.layout, problem.member_x(samples, r), res, log_prior)
            for r, member in enumerate(problem.members)]


def scoring_units(names: list[str], personas: str) -> list[list[str]]:
    """Respondents scored together: a model with its personas (``"joint"``), else one each.

    Parameters
    ----------
    names
        Respondent names (``model`` or ``model|persona``) in table order.
    personas
        ``"joint"``: the respondents of a model with at least one persona form one unit;
        ``"independent"``: every respondent alone.
    """
    if personas not in PERSONA_MODES:
        raise InputError(f"unknown persona scoring {personas!r} (known: "
                         f"{', '.join(PERSONA_MODES)})", field="personas")
    if personas == "independent":
        return [[n] for n in names]
    by_model: dict[str, list[str]] = {}
    for n in names:
        by_model.setdefault(split_respondent(n)[0], []).append(n)
    units: list[list[str]] = []
    for unit in by_model.values():
        if any(split_respondent(n)[1] for n in unit):
            units.append(unit)
        else:
            units.extend([n] for n in unit)
    return units


def _model_attrs(item_model: Any) -> dict[str, Any]:
    return {
        "model_version": str(getattr(item_model, "version", "")),
        "wave_hash": str(getattr(item_model, "wave_hash", "")),
        "model_config": str(getattr(getattr(item_model, "model_config", None), "to_dict",
                                    dict)()),
    }


def check_scored_through(attrs: Mapping[str, Any], item_model: Any,
                         file: str | Path | None = None) -> bool:
    """Refuse portraits that were scored through another item model than ``item_model``.

    :func:`score` stores the fitted wave's data hash and the model's settings in the portrait
    draws' attributes; both must equal ``item_model``'s (a model refitted on the same wave
    with the same settings counts as the same model).

    Parameters
    ----------
    attrs
        The attributes of the portrait draws (``Portraits.draws.attrs``).
    item_model
        The model the portraits are about to be used with.
    file
        The portrait file, for the message.

    Returns
    -------
    bool
        True when checked; False when ``attrs`` carry no wave hash (portraits made by hand),
        so nothing can be compared.

    Raises
    ------
    InputError
        Naming ``file`` and the attribute that differs.
    """
    saved = str(attrs.get("wave_hash", "") or "")
    if not saved:
        return False
    mine = _model_attrs(item_model)
    if saved != mine["wave_hash"]:
        raise InputError(
            f"scored through a model of another wave (wave hash {saved[:12]}...; the model "
            f"given was fitted on {mine['wave_hash'][:12]}...): score the ratings with this "
            "model", file=file, field="wave_hash")
    config = str(attrs.get("model_config", "") or "")
    if config and config != mine["model_config"]:
        differ = _settings_differ(config, mine["model_config"])
        if differ:
            raise InputError(f"scored through a model with other settings ({differ}): score "
                             "the ratings with this model", file=file, field="model_config")
    return True


def _settings_differ(saved: str, mine: str) -> str:
    """The settings in which the model config stored with portraits (``saved``, as
    :func:`_model_attrs` wrote it, perhaps by an earlier version) differs from ``mine``, as
    text; empty when they are the same model. The stored config is read as a saved model's
    is (:func:`~vp_bayes.model.config.saved_model_config`), so settings added since it was
    written compare as what the model used then."""
    from vp_bayes.model.config import ModelConfig, saved_model_config

    try:
        saved_cfg, my_cfg = ast.literal_eval(saved), ast.literal_eval(mine)
        saved_cfg = ModelConfig.from_dict(saved_model_config(saved_cfg)).to_dict()
    except (ValueError, SyntaxError, AttributeError, TypeError, InputError):
        return saved
    return ", ".join(f"{k} {saved_cfg.get(k)!r} vs {my_cfg.get(k)!r}"
                     for k in sorted(set(saved_cfg) | set(my_cfg))
                     if saved_cfg.get(k) != my_cfg.get(k))


def draws_attrs(path: str | Path) -> dict[str, Any] | None:
    """The attributes of a portrait draws file, for :func:`check_scored_through`.

    ``path`` is the draws file (``.nc``) or a portrait table (CSV/Parquet), whose draws
    :func:`save_portraits` writes beside it with the suffix ``.nc``. None when there is no
    such file or it cannot be read (the readers of the table report their own problems).
    """
    path = Path(path)
    nc = path if path.suffix.lower() == ".nc" else path.with_suffix(".nc")
    if not nc.is_file():
        return None
    try:
        with xr.open_dataset(nc, engine=NETCDF_ENGINE) as ds:
            return dict(ds.attrs)
    except (OSError, ValueError, TypeError):
        return None


def score(
    item_model: Any,
    ratings: pd.DataFrame,
    *,
    mass: float = dims.INTERVAL_MASS,
    n_item_draws: int = 200,
    n_per_draw: int = 20,
    seed: int = 0,
    variant_offsets: bool = False,
    soft: bool = True,
    importance: bool = True,
    progress: bool = True,
    draws: ItemDraws | None = None,
    personas: str = "joint",
    persona_sd: float = PERSONA_SD,
    method: str = "marginal",
    n_proposals: int = N_PROPOSALS,
    prior_scale: float = PRIOR_SCALE,
    item_deviation: bool = True,
    person_fit: bool = True,
) -> Portraits:
    """Score every respondent of an LLM rating table through the item posterior.

    Parameters
    ----------
    item_model
        A fitted :class:`~vp_bayes.model.fit.ItemModel`; its item parameters are integrated
        over and never updated by these ratings (cut posterior).
    ratings
        Long table ``respondent, item_id, variant, rating[, p1..pK]`` (as from
        :func:`vp_bayes.wave.ratings.read_llm_ratings`); NaN ratings count as unparsed.
    mass
        Probability mass of the equal-tailed intervals in the table.
    n_item_draws, n_per_draw
        Item-parameter draws S (thinned evenly) and samples M per draw.
    seed
        Base seed; each respondent's generator depends on it and the respondent's name.
    variant_offsets
        One N(0, 0.5^2) intercept shift per prompt variant (shared by all items), integrated
        out. Off by default: when every item is rated under every variant (the paper's
        design) offsets cancel in the values (measured: same coverage, 3x the cost); turn
        them on when variants are unbalanced across items.
    soft
        Use ``p1..pK`` where the table has them.
    importance
        Correct the Laplace approximation by importance resampling (t proposal).
    progress
        Show a progress bar over respondents.
    draws
        Pre-read item draws (skips reading ``item_model``; for repeated calls).
    personas
        ``"joint"`` (default): a model and its personas (``model|persona``) are scored
        together, each persona as the model's portrait plus a shift (:mod:`.joint`);
        ``"independent"``: every respondent alone under the population prior.
    persona_sd
        Prior SD of a persona's shift of each value (joint scoring), in population SDs.
    method
        ``"marginal"`` (default): each item's parameters (Gaussian moments of the draws) and
        the respondent's item deviation integrated inside the likelihood (:mod:`.marginal`).
        ``"cut"``: mixture over item draws of per-draw posteriors (:mod:`.laplace`; sample i
        uses item draw ``item_draw[i]``; no item deviation; attenuated toward 0 when items
        are noisy, see ``docs/scoring.md``).
    n_proposals
        Importance-sampling proposals of each marginal posterior (each costs S likelihood
        evaluations); ``n_item_draws * n_per_draw`` samples are resampled from them.
    prior_scale
        A respondent's values have the prior ``MVN(0, prior_scale^2 corr)`` (``corr`` the
        fitted population's) and its response style ``N(0, (prior_scale sigma_alpha)^2)``:
        LLMs are not assumed to be typical participants.
    item_deviation
        (marginal) the respondent's own noise: one deviation ``e_j ~ N(0, tau^2)`` per item
        shared by all of its ratings of the item (its prompt variants) and the scale sigma of
        its rating noise (humans: 1), both estimated per respondent.
    person_fit
        Posterior predictive checks of each respondent (:mod:`.checks`) on its hard ratings
        (rows with only ``p1..pK`` are not checked).

    Returns
    -------
    Portraits
    """
    _check_table(ratings)
    if method not in METHODS:
        raise InputError(f"unknown scoring method {method!r} (known: {', '.join(METHODS)})",
                         field="method")
    for name, val in (("persona_sd", persona_sd), ("prior_scale", prior_scale)):
        if not val > 0:
            raise InputError("must be positive", field=name)
    if not 0.0 < mass < 1.0:
        raise InputError("interval mass must lie strictly between 0 and 1", field="mass")
    for name, count in (("n_item_draws", n_item_draws), ("n_per_draw", n_per_draw)):
        if not count >= 1:
            raise InputError(f"must be at least 1, got {count}", field=name)
    draws = draws if draws is not None else item_draws(item_model, n_item_draws)
    names = [str(r) for r in pd.unique(ratings["respondent"])]
    if not names:
        raise InputError("the rating table has no rows", file=ratings.attrs.get("source"))
    groups = dict(tuple(ratings.groupby("respondent", sort=False)))
    options = {"n_per_draw": n_per_draw, "variant_offsets": variant_offsets,
               "importance": importance, "method": method, "n_proposals": n_proposals,
               "prior_scale": prior_scale, "item_deviation": item_deviation}
    by_name: dict[str, tuple[dict, dict]] = {}
    # person fit under marginal scoring uses the items' Gaussian: computed once, not per respondent
    moments = checks.item_moments(draws) if person_fit and method != "cut" else None
    for unit in tqdm(scoring_units(names, personas), desc="scoring respondents",
                     disable=not progress):
        data, unit_counts = zip(*(respondent_data(groups[n], draws, soft=soft,
                                                  variant_offsets=variant_offsets)
                                  for n in unit), strict=True)
        joint = any(split_respondent(n)[1] for n in unit) and personas == "joint"
        if not joint:
            unit_results = [score_respondent(draws, data[0], rng=_seed_for(seed, unit[0]),
                                             **options)]
        else:
            unit_results = score_jointly(
                draws, list(data), [not split_respondent(n)[1] for n in unit],
                rng=_seed_for(seed, split_respondent(unit[0])[0]), persona_sd=persona_sd,
                **options)
        for n, d, res, count in zip(unit, data, unit_results, unit_counts, strict=True):
            res["variants"] = d.variants
            prior_var = prior_scale**2 + (persona_sd**2 if joint and split_respondent(n)[1]
                                          else 0.0)
            res["reliability"] = checks.reliability(res["theta"], np.full(len(draws.values),
                                                                          prior_var))
            res.update(_person_fit(draws, groups[n], res, method, seed, n, moments)
                       if person_fit else dict.fromkeys(checks.PPP_NAMES, np.nan))
            by_name[n] = (res, count)
    results = [by_name[n][0] for n in names]
    counts = [by_name[n][1] for n in names]
    variants = {v for r in results for v in r["variants"]}
    ds = _dataset(draws, names, results, counts, sorted(variants) if variant_offsets else [],
                  n_per_draw, method)
    ds.attrs.update(
        _model_attrs(item_model), vp_bayes_version=__version__, mass=float(mass),
        n_item_draws=int(draws.n_draws), n_per_draw=int(n_per_draw), seed=int(seed),
        variant_offsets=int(variant_offsets), soft=int(soft), importance=int(importance),
        personas=personas, persona_sd=float(persona_sd), method=method,
        n_proposals=int(n_proposals), prior_scale=float(prior_scale),
        item_deviation=int(item_deviation and method == "marginal"),
        person_fit=int(person_fit),
        scale="theta: 0 = population mean of the fitted participants, 1 = one population SD",
    )
    notes = _notes(names, counts, results)
    return Portraits(ds, portrait_table(ds, mass), notes)


def _person_fit(draws: ItemDraws, frame: pd.DataFrame, res: dict[str, Any], method: str,
                seed: int, name: str, moments: checks.ItemMoments | None) -> dict[str, float]:
    """Posterior predictive p-values of one respondent (:func:`checks.person_fit`);
    ``moments``: the items' Gaussian under marginal scoring (``None`` under cut)."""
    lookup = {item: j for j, item in enumerate(draws.items)}
    rating = frame["rating"].to_numpy(dtype=float)
    item = frame["item_id"].astype(str).map(lookup).to_numpy(dtype=float)
    ok = ~np.isnan(rating) & ~np.isnan(item)
    variant_col = {v: g for g, v in enumerate(res["variants"])}
    group = frame["variant"].astype(str).map(variant_col).fillna(-1).to_numpy(dtype=int)
    if res["offsets"].shape[1] == 0:
        group = np.full(len(frame), -1)
    cells = checks.make_cells(item[ok].astype(int), group[ok],
                              rating[ok].astype(int) - draws.scale_min)
    n = res["theta"].shape[0]
    tied = np.repeat(np.arange(draws.n_draws), n // draws.n_draws) if method == "cut" \
        else np.full(n, -1)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 1])
    return checks.person_fit(draws, cells, res["theta"], res["alpha"], res["offsets"],
                             res["tau"], res["sigma"], tied, rng, moments=moments)


def _check_table(ratings: pd.DataFrame) -> None:
    missing = [c for c in ("respondent", "item_id", "variant", "rating")
               if c not in ratings.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}",
                         file=ratings.attrs.get("source"), row=0, field=missing[0])


def _dataset(draws: ItemDraws, names: list[str], results: list[dict], counts: list[dict],
             variants: list[str], n_per_draw: int, method: str) -> xr.Dataset:
    theta = np.stack([r["theta"] for r in results])  # (R, N, V)
    n = theta.shape[1]
    models, personas = zip(*(split_respondent(r) for r in names), strict=True)
    coords = {
        dims.RESPONDENT: names,
        dims.SAMPLE: np.arange(n),
        dims.VALUE: list(draws.values),
        "model": (dims.RESPONDENT, list(models)),
        "persona": (dims.RESPONDENT, list(personas)),
        "item_draw": (dims.SAMPLE, np.repeat(draws.draw_index, n_per_draw).astype(np.int32)
                      if method == "cut" else np.full(n, -1, dtype=np.int32)),
    }
    r_dim = (dims.RESPONDENT,)
    data = {
        "theta": ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE), theta),
        dims.THETA_CENTERED: ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE),
                          theta - theta.mean(axis=-1, keepdims=True)),
        "alpha": ((dims.RESPONDENT, dims.SAMPLE), np.stack([r["alpha"] for r in results])),
        "tau": ((dims.RESPONDENT, dims.SAMPLE), np.stack([r["tau"] for r in results])),
        "sigma": ((dims.RESPONDENT, dims.SAMPLE), np.stack([r["sigma"] for r in results])),
        "percentile_draws": ((dims.RESPONDENT, dims.SAMPLE, dims.VALUE),
                             np.stack([r["percentile_draws"] for r in results])),
        "percentile": ((dims.RESPONDENT, dims.VALUE),
                       np.stack([r["percentile_draws"].mean(axis=0) for r in results])),
        "reliability": ((dims.RESPONDENT, dims.VALUE),
                        np.stack([r["reliability"] for r in results])),
        "prior_sensitivity": ((dims.RESPONDENT, dims.VALUE),
                              np.stack([r["prior_sensitivity"] for r in results])),
        "ess_fraction": (r_dim, np.array([r["ess_fraction"] for r in results])),
        "pareto_k": (r_dim, np.array([r["pareto_k"] for r in results])),
        "newton_iterations": (r_dim, np.array([r["newton_iterations"] for r in results],
                                              dtype=np.int32)),
    }
    for key in checks.PPP_NAMES:
        data[key] = (r_dim, np.array([r[key] for r in results], dtype=float))
    for key in ("n_ratings", "n_unparsed", "n_unknown_items", "n_rows"):
        data[key] = (r_dim, np.array([c[key] for c in counts], dtype=np.int32))
    if variants:
        off = np.full((len(names), n, len(variants)), np.nan)
        for i, r in enumerate(results):
            cols = [variants.index(v) for v in r["variants"]]
            off[i][:, cols] = r["offsets"]
        coords[dims.VARIANT] = variants
        data["variant_offset"] = ((dims.RESPONDENT, dims.SAMPLE, dims.VARIANT), off)
    return xr.Dataset(data, coords=coords)


def _notes(names: list[str], counts: list[dict], results: list[dict]) -> tuple[str, ...]:
    notes = []
    unknown = sorted({i for c in counts for i in c["unknown_items"]})
    if unknown:
        shown = ", ".join(unknown[:N_LISTED]) + (", ..." if len(unknown) > N_LISTED else "")
        notes.append(f"{len(unknown)} item id(s) unknown to the fitted model were not used "
                     f"(first: {shown})")
    for name, r in zip(names, results, strict=True):
        if r["pareto_k"] > K_HAT_MAX:
            notes.append(f"{name}: importance weights unreliable (Pareto k-hat "
                         f"{r['pareto_k']:.2f} > {K_HAT_MAX}); the Laplace approximation is poor")
    for name, r in zip(names, results, strict=True):
        low = [k.removeprefix("ppp_") for k in checks.PPP_NAMES if r[k] < checks.MISFIT_P]
        if low:
            notes.append(f"{name}: the item model does not fit this respondent (posterior "
                         f"predictive p < {checks.MISFIT_P:g} for {', '.join(low)}); read its "
                         f"portrait with care")
        sensitive = r["prior_sensitivity"] > checks.SENSITIVE_SHIFT
        if sensitive.any():
            notes.append(f"{name}: {int(sensitive.sum())} value(s) prior-sensitive (power-"
                         f"scaling sensitivity > {checks.SENSITIVE_SHIFT:g}: the prior supplies "
                         f"much of their precision)")
    for name, c in zip(names, counts, strict=True):
        if c["n_ratings"] == 0:
            notes.append(f"{name}: no usable ratings; its portrait is the population prior")
    return tuple(notes)


def portrait_table(draws: xr.Dataset, mass: float = dims.INTERVAL_MASS) -> pd.DataFrame:
    """Tidy summary of portrait draws: one row per respondent and value.

    Parameters
    ----------
    draws
        The ``draws`` Dataset of :class:`Portraits`.
    mass
        Probability mass of the equal-tailed intervals (``lower``/``upper``).

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`; ``mean``/``sd``/``lower``/``upper`` on the human scale,
        ``centered_*`` of each value minus the respondent's mean over values (draw by draw),
        ``percentile`` the posterior mean share (%) of fitted participants below.
    """
    if not 0.0 < mass < 1.0:
        raise InputError("interval mass must lie strictly between 0 and 1", field="mass")
    q = [(1.0 - mass) / 2.0, (1.0 + mass) / 2.0]
    theta, cen = draws["theta"], draws[dims.THETA_CENTERED]
    tq = theta.quantile(q, dim=dims.SAMPLE)
    cq = cen.quantile(q, dim=dims.SAMPLE)
    frame = xr.Dataset({
        "mean": theta.mean(dims.SAMPLE),
        "sd": theta.std(dims.SAMPLE, ddof=1),
        "lower": tq.isel(quantile=0, drop=True),
        "upper": tq.isel(quantile=1, drop=True),
        "centered_mean": cen.mean(dims.SAMPLE),
        "centered_lower": cq.isel(quantile=0, drop=True),
        "centered_upper": cq.isel(quantile=1, drop=True),
        "percentile": draws["percentile"],
        **({"percentile_lower": draws["percentile_draws"].quantile(q[0], dim=dims.SAMPLE,
                                                                    ).drop_vars("quantile"),
            "percentile_upper": draws["percentile_draws"].quantile(q[1], dim=dims.SAMPLE,
                                                                    ).drop_vars("quantile")}
           if "percentile_draws" in draws else {}),
        **{k: draws[k] for k in ("reliability", "prior_sensitivity") if k in draws},
    }).drop_vars(["model", "persona"], errors="ignore")
    frame = frame.to_dataframe(dim_order=[dims.RESPONDENT, dims.VALUE]).reset_index()
    per_resp = draws[["n_ratings", "n_unparsed", "n_unknown_items", "ess_fraction",
                      "pareto_k", *(k for k in checks.PPP_NAMES if k in draws)]]
    per_resp = per_resp.drop_vars(["model", "persona"], errors="ignore").to_dataframe()
    for key in ("tau", "sigma"):
        per_resp[key] = draws[key].median(dims.SAMPLE).values if key in draws else np.nan
    frame = frame.merge(per_resp.reset_index(), on=dims.RESPONDENT)
    for col in ("percentile_lower", "percentile_upper", "reliability", "prior_sensitivity",
                *checks.PPP_NAMES):
        if col not in frame:  # portraits saved before these checks existed
            frame[col] = np.nan
    frame["misfit"] = frame[list(checks.PPP_NAMES)].min(axis=1) < checks.MISFIT_P
    split = [split_respondent(str(r)) for r in frame[dims.RESPONDENT]]
    frame["model"] = [m for m, _ in split]
    frame["persona"] = [p for _, p in split]
    frame["mass"] = float(mass)
    frame = frame.rename(columns={dims.RESPONDENT: "respondent", dims.VALUE: "value"})
    return frame[list(TABLE_COLUMNS)]


def save_portraits(portraits: Portraits, csv_path: str | Path,
                   draws_path: str | Path | None = None) -> tuple[Path, Path]:
    """Write the table (CSV) and the draws (netCDF; default: beside the CSV, ``.nc``)."""
    csv_path = Path(csv_path)
    draws_path = Path(draws_path) if draws_path is not None else csv_path.with_suffix(".nc")
    for p in (csv_path, draws_path):
        p.parent.mkdir(parents=True, exist_ok=True)
    write_csv(portraits.table, csv_path, lineterminator="\n")
    tmp = draws_path.with_name(draws_path.name + ".tmp")
    portraits.draws.to_netcdf(tmp, engine=NETCDF_ENGINE)
    tmp.replace(draws_path)
    return csv_path, draws_path


def load_portraits(draws_path: str | Path, mass: float | None = None) -> Portraits:
    """Read portrait draws (netCDF) and rebuild the table (mass: the saved one unless given)."""
    draws_path = Path(draws_path)
    if not draws_path.is_file():
        raise InputError("portrait draws file not found", file=draws_path)
    try:
        with xr.open_dataset(draws_path, engine=NETCDF_ENGINE) as ds:
            ds = ds.load()
    except (OSError, ValueError, TypeError) as err:
        reason = " ".join(str(err).split())  # netCDF's messages span lines: one line
        raise InputError(f"not a readable netCDF file ({reason})", file=draws_path) from None
    ds = dims.current_variables(ds)  # files of earlier versions spell theta_centred
    for name in (dims.THETA, dims.THETA_CENTERED, dims.PERCENTILE):
        if name not in ds:
            raise InputError("not a portrait draws file (variable missing)", file=draws_path,
                             field=name)
    ds = ds.assign_coords({dims.RESPONDENT: ds[dims.RESPONDENT].values.astype(str)})
    mass = float(ds.attrs.get("mass", dims.INTERVAL_MASS)) if mass is None else mass
    return Portraits(ds, portrait_table(ds, mass))
