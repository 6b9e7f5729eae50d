"""Convergence diagnostics, fit warnings and the posterior predictive check of item ratings.

The thresholds of the fit warnings (:data:`R_HAT_MAX`, :data:`ESS_MIN`, :data:`BFMI_MIN`) and
their computation (:func:`fit_warnings`, :func:`convergence_problems`) live here only: the
model card, ``vp-bayes fit`` and the report all call them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd
import xarray as xr

from vp_bayes import dims
from vp_bayes.model.config import ModelConfig
from vp_bayes.model.rank_diagnostics import rank_diagnostics
from vp_bayes.wave.simulate import ordered_logistic

if TYPE_CHECKING:
    from vp_bayes.model.fit import ItemModel

# Variables that are item parameters (the ``item_parameter`` column of the convergence table).
ITEM_VARIABLES = ("beta", "b", "kappa")
# Fit-warning thresholds, applied to the worst element of every saved posterior variable.
R_HAT_MAX: Final = 1.01  # largest R-hat
ESS_MIN: Final = 400.0  # smallest bulk and tail effective sample size
BFMI_MIN: Final = 0.3  # smallest E-BFMI of a chain
# Power-scaling sensitivity (priorsense) above which a quantity is prior- or
# likelihood-sensitive (vp_bayes.model.sensitivity).
SENSITIVITY_MIN: Final = 0.05
APPROXIMATE_SAMPLERS: Final = ("advi", "pathfinder")  # no MCMC convergence checks
THREADS_MAX: Final = 4  # threads of the post-fit computations (convergence table, log-lik)


def _threads() -> int:
    """Threads for the post-fit computations: one per usable CPU, at most :data:`THREADS_MAX`."""
    from vp_bayes.model.fit import usable_cores

    return min(THREADS_MAX, usable_cores())


def convergence_table(tree: xr.DataTree, workers: int | None = None) -> pd.DataFrame:
    """R-hat and bulk/tail ESS per posterior variable (worst element of each).

    arviz-stats' estimators (:mod:`vp_bayes.model.rank_diagnostics`), computed by ``workers``
    threads (None: one per usable CPU, at most :data:`THREADS_MAX`).

    Returns
    -------
    pandas.DataFrame
        Index ``variable``; columns ``r_hat_max, ess_bulk_min, ess_tail_min, n_elements,
        item_parameter``.
    """
    return posterior_table(tree["posterior"].to_dataset(), workers)


def posterior_table(post: xr.Dataset, workers: int | None = None) -> pd.DataFrame:
    """:func:`convergence_table` of a posterior dataset."""
    from arviz_base import rcParams

    workers = _threads() if workers is None else workers
    rows = []
    for name in post.data_vars:
        da = post[name]
        if da.sizes.get("chain", 1) < 1 or da.sizes.get("draw", 0) < 4 or da.size == 0:
            continue
        draws = _chain_draw_elements(da)
        diag = rank_diagnostics(draws, rcParams["stats.ci_prob"], workers)
        with warnings.catch_warnings():  # an all-NaN variable (NaN draws) gives NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            worst = dict(r_hat_max=float(np.nanmax(diag.rhat)),
                         ess_bulk_min=float(np.nanmin(diag.ess_bulk)),
                         ess_tail_min=float(np.nanmin(diag.ess_tail)))
        rows.append(dict(variable=str(name), **worst, n_elements=draws.shape[-1],
                         item_parameter=str(name) in ITEM_VARIABLES))
    columns = ["variable", "r_hat_max", "ess_bulk_min", "ess_tail_min", "n_elements",
               "item_parameter"]
    return pd.DataFrame(rows, columns=columns).set_index("variable")


def meets_bar(table: pd.DataFrame) -> bool:
    """Whether every row of a :func:`convergence_table` has R-hat at most :data:`R_HAT_MAX`
    and bulk and tail ESS at least :data:`ESS_MIN` (a NaN misses; an empty table, nothing
    diagnosed, misses too): then :func:`fit_warnings` gives no R-hat or ESS warning for it."""
    return bool(not table.empty and (table["r_hat_max"] <= R_HAT_MAX).all()
                and (table["ess_bulk_min"] >= ESS_MIN).all()
                and (table["ess_tail_min"] >= ESS_MIN).all())


def unconverged(post: xr.Dataset, workers: int | None = None) -> str | None:
    """The first posterior variable that misses the fit warnings' bar (:func:`meets_bar`,
    or too few draws to diagnose it), or None when every variable meets it.

    Variables are checked smallest first and the check ends at the first miss, so an early
    checkpoint of a fit (:class:`vp_bayes.model.nutpie_path.StopRule`) usually costs the
    hyperparameters' diagnostics only.
    """
    for name in sorted(post.data_vars, key=lambda v: (post[v].size, str(v))):
        if post[name].size == 0:  # nothing to diagnose (convergence_table skips it too)
            continue
        table = posterior_table(post[[name]], workers)
        if not meets_bar(table):  # an empty table (too few draws, no chain) misses too
            return str(name)
    return None


def _chain_draw_elements(da: xr.DataArray) -> np.ndarray:
    """A posterior variable's draws as ``(chain, draw, element)``."""
    if "chain" not in da.dims:
        da = da.expand_dims("chain")
    rest = [d for d in da.dims if d not in ("chain", "draw")]
    values = da.transpose("chain", "draw", *rest).values
    return values.reshape(values.shape[0], values.shape[1], -1)


def sampler_summary(tree: xr.DataTree) -> dict[str, float]:
    """Divergences, minimum E-BFMI over chains and mean tree depth (NaN when not NUTS)."""
    if "sample_stats" not in tree.children:
        return {"divergences": float("nan"), "bfmi_min": float("nan"),
                "mean_tree_depth": float("nan")}
    stats = tree["sample_stats"].to_dataset()
    out = {"divergences": float(stats["diverging"].sum()) if "diverging" in stats else np.nan}
    if "energy" in stats:
        e = stats["energy"].values  # (chain, draw)
        bfmi = np.square(np.diff(e, axis=1)).mean(axis=1) / np.var(e, axis=1)
        out["bfmi_min"] = float(bfmi.min())
    else:
        out["bfmi_min"] = float("nan")
    depth = stats.get("depth", stats.get("tree_depth"))
    out["mean_tree_depth"] = float(depth.mean()) if depth is not None else float("nan")
    return out


def fit_warnings(diagnostics: pd.DataFrame, stats: dict[str, float], *,
                 sampler: str = "nutpie", ppc: pd.DataFrame | None = None,
                 ppc_mass: float = dims.INTERVAL_MASS) -> list[str]:
    """Plain-words warnings about a fit (the one computation; thresholds of this module).

    Parameters
    ----------
    diagnostics
        One row per posterior variable (index = variable) with any of ``r_hat_max,
        ess_bulk_min, ess_tail_min`` (:func:`convergence_table`).
    stats
        ``divergences`` and ``bfmi_min`` (NaN when unknown; :func:`sampler_summary`).
    sampler
        The inference engine; ``advi``/``pathfinder`` are approximations without R-hat.
    ppc
        Posterior predictive table with an ``outside`` column (observed proportion outside
        the replicated interval), if available.
    ppc_mass
        The mass of those replicated intervals.
    """
    out: list[str] = []
    if sampler in APPROXIMATE_SAMPLERS:
        out.append(f"Fitted by {sampler}, an approximation: there are no MCMC convergence "
                   "checks and intervals are often too narrow; refit with NUTS (nutpie) for "
                   "final results.")
    elif "r_hat_max" not in diagnostics.columns or diagnostics["r_hat_max"].isna().all():
        out.append("Convergence could not be diagnosed (one chain or too few draws): do not "
                   "trust the intervals.")
    n_var = len(diagnostics)
    if "r_hat_max" in diagnostics.columns:
        bad = diagnostics[diagnostics["r_hat_max"] > R_HAT_MAX]
        if len(bad):
            worst = bad["r_hat_max"].idxmax()
            out.append(f"R-hat above {R_HAT_MAX} in {_count(bad, n_var)} (worst {worst} "
                       f"{bad['r_hat_max'].max():.3f}): the chains disagree; run longer.")
    for col, kind in (("ess_bulk_min", "bulk"), ("ess_tail_min", "tail")):
        if col in diagnostics.columns:
            low = diagnostics[diagnostics[col] < ESS_MIN]
            if len(low):
                out.append(f"{kind.capitalize()} effective sample size below {ESS_MIN:.0f} "
                           f"in {_count(low, n_var)} (lowest {low[col].min():.0f}): too few "
                           f"independent draws for stable "
                           f"{'means' if kind == 'bulk' else 'interval ends'}; draw more.")
    div = stats.get("divergences", np.nan)
    if np.isfinite(div) and div > 0:
        out.append(f"{int(div)} divergent transition{'s' if div != 1 else ''}: the sampler "
                   "could not explore parts of the posterior, so results may be biased; "
                   "raise target_accept or reparameterise.")
    bfmi = stats.get("bfmi_min", np.nan)
    if np.isfinite(bfmi) and bfmi < BFMI_MIN:
        out.append(f"E-BFMI {bfmi:.2f} below {BFMI_MIN}: the sampler moves poorly between "
                   "energy levels (heavy tails or funnels); results may be unreliable.")
    if ppc is not None and "outside" in ppc.columns and len(ppc):
        share = float(ppc["outside"].astype(bool).mean())
        expected = 1.0 - ppc_mass
        if share > 2 * expected:
            out.append(f"{100 * share:.0f}% of observed item rating proportions fall outside "
                       f"their {100 * ppc_mass:g}% predictive intervals (about "
                       f"{100 * expected:.0f}% expected): the model misfits the rating "
                       "distributions of some items.")
    return out


def _count(rows: pd.DataFrame, n_var: int) -> str:
    names = ", ".join(map(str, rows.index))
    return f"{len(rows)} of {n_var} posterior variables ({names})"


def convergence_problems(item_model: ItemModel) -> list[str]:
    """Every plain-words warning about a fitted model (model card, ``vp-bayes fit``, report).

    :func:`fit_warnings` of the model's convergence table, sampler statistics, sampler and
    stored posterior predictive check, then the chains stuck at a boundary of the latent
    correlation matrix (:func:`stuck_correlations`).
    """
    tree = item_model.idata
    ppc, mass = None, dims.INTERVAL_MASS
    if "ppc" in tree.children and "outside" in tree["ppc"].data_vars:
        ds = tree["ppc"].to_dataset()
        ppc = ds["outside"].to_dataframe()
        mass = float(ds.attrs.get("mass", dims.INTERVAL_MASS))
    out = fit_warnings(item_model.diagnostics, sampler_summary(tree),
                       sampler=item_model.sampler_config.sampler, ppc=ppc, ppc_mass=mass)
    return out + stuck_correlations(item_model.posterior)


def stuck_correlations(post: xr.Dataset, limit: float = 0.98) -> list[str]:
    """Chains whose latent correlation matrix sits at a boundary (|r| >= ``limit`` on average).

    Seen on a 2,000-participant simulated wave: one chain's correlation of two values went to
    1.00 (truth 0.49) and stayed there, so one value's scores copied the other's. R-hat flags
    the disagreement; this names its cause.
    """
    if "corr" not in post:
        return []
    corr = post["corr"].mean("draw")
    values = corr[dims.VALUE].values
    out = []
    for chain in corr["chain"].values:
        mat = corr.sel(chain=chain).values
        rows, cols = np.nonzero(np.triu(np.abs(mat) >= limit, k=1))
        for a, b in zip(rows, cols, strict=True):
            out.append(f"chain {chain}: correlation of {values[a]} and {values[b]} is "
                       f"{mat[a, b]:.2f}, a boundary the chain is stuck at; refit with another "
                       "seed or longer warm-up and compare the chains")
    return out


def _with_dif(eta: np.ndarray, stacked: dict[str, np.ndarray], group: np.ndarray,
              j: np.ndarray) -> np.ndarray:
    """Apply each rater group's loading multiplier and location shift (model.build DIF);
    ``stacked`` holds the draws (S, item, group) of ``dif_loading`` and ``dif_location``."""
    known = group >= 0
    g = np.where(known, group, 0)
    mult = np.where(known, np.exp(stacked["dif_loading"][:, j, g]), 1.0)
    shift = np.where(known, stacked["dif_location"][:, j, g], 0.0)
    return eta * mult + shift


def observed_values_name(const: xr.Dataset) -> str:
    """The constant_data variable holding the values the ratings regressed on when they
    were data: the calibrated predictions, else the standardised scores (exact mode)."""
    return "values_calibrated" if "values_calibrated" in const else "values_z"


def _draw_rows(post: xr.Dataset, name: str, draw_idx: np.ndarray) -> np.ndarray:
    """``post[name]`` at flat draw indices (chain-major: ``chain * n_draw + draw``), shape
    (len(draw_idx), ...), copying only those draws: a fit's posterior may be a view of the
    first draws of a longer run, which a flat reshape would copy whole at every call."""
    da = post[name].transpose("chain", "draw", ...)
    chain, draw = np.divmod(np.asarray(draw_idx, dtype=np.intp), da.sizes["draw"])
    return da.values[chain, draw]


def _eta_draws(post: xr.Dataset, const: xr.Dataset, config: ModelConfig,
               draw_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear predictor (S, N) and cutpoints for the fitted ratings at selected draws (flat
    indices, chain-major)."""
    i = const["rating_participant"].values
    j = const["rating_item"].values
    beta = _draw_rows(post, "beta", draw_idx)[:, j, :]
    if "theta" in post:
        theta = _draw_rows(post, "theta", draw_idx)[:, i, :]
    else:
        theta = np.nan_to_num(const[observed_values_name(const)].values)[None, i, :]
    eta = np.einsum("snv,snv->sn", beta, np.broadcast_to(theta, beta.shape))
    if "dif_location" in post:
        stacked = {n: _draw_rows(post, n, draw_idx) for n in ("dif_loading", "dif_location")}
        eta = _with_dif(eta, stacked, const["dif_group"].values[i], j)
    if "alpha" in post:
        eta = eta + _draw_rows(post, "alpha", draw_idx)[:, i]
    kappa = _draw_rows(post, "kappa", draw_idx)
    if config.thresholds == "shared":
        eta = eta + _draw_rows(post, "b", draw_idx)[:, j]
        cuts = kappa[:, None, :]
    else:
        cuts = kappa[:, j, :]
    return eta, cuts


def _kernel_inputs(post: xr.Dataset, const: xr.Dataset, config: ModelConfig,
                   draw_idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arguments of :func:`vp_bayes.model.fused.ratings_logp_draws` for the fitted
    ratings at selected draws (flat indices, chain-major); a model without DIF terms."""
    from vp_bayes.model.likelihood import pad_cutpoints_np

    def rows(name: str) -> np.ndarray:
        return np.ascontiguousarray(_draw_rows(post, name, draw_idx), dtype=np.float64)

    def ints(name: str) -> np.ndarray:
        return np.ascontiguousarray(const[name].values, dtype=np.int64)

    beta = rows("beta")
    if "theta" in post:
        theta = rows("theta")
    else:
        theta = np.nan_to_num(const[observed_values_name(const)].values)[None].astype(float)
    alpha = rows("alpha") if "alpha" in post else np.zeros((1, theta.shape[1]))
    padded = pad_cutpoints_np(rows("kappa"))
    item, y = ints("rating_item"), ints("rating_y")
    if config.thresholds == "shared":
        b, padded, group = rows("b"), padded[:, None, :], np.zeros_like(y)
    else:
        b, group = np.zeros((1, beta.shape[1])), item
    return (beta, np.ascontiguousarray(theta), alpha, b, np.ascontiguousarray(padded), item,
            ints("rating_participant"), y, group)


def posterior_predictive_items(tree: xr.DataTree, config: ModelConfig, n_draws: int = 200,
                               *, seed: int = 0, mass: float = dims.INTERVAL_MASS) -> xr.Dataset:
    """Observed vs replicated rating distribution of every item.

    For ``n_draws`` posterior draws, ratings are replicated for every observed
    (participant, item) pair and each item's category proportions computed.

    Returns
    -------
    xarray.Dataset
        ``observed (item, category)``, ``predicted_mean``, ``predicted_lower``,
        ``predicted_upper`` (equal-tailed at ``mass``), and ``outside (item, category)``:
        whether the observed proportion falls outside the replicated interval.
    """
    post = tree["posterior"].to_dataset()
    const = tree["constant_data"].to_dataset()
    k = int(tree.attrs["n_categories"])
    items = post[dims.ITEM].values
    j = const["rating_item"].values
    y = const["rating_y"].values
    n_items = len(items)
    counts = np.zeros((n_items, k))
    np.add.at(counts, (j, y), 1.0)
    per_item = counts.sum(axis=1, keepdims=True)
    observed = counts / np.maximum(per_item, 1)

    total = post.sizes["chain"] * post.sizes["draw"]
    rng = np.random.default_rng(seed)
    draw_idx = np.sort(rng.choice(total, size=min(n_draws, total), replace=False))
    reps = np.empty((len(draw_idx), n_items, k))
    for start in range(0, len(draw_idx), 25):  # chunks bound the memory
        chunk = draw_idx[start:start + 25]
        eta, cuts = _eta_draws(post, const, config, chunk)
        y_rep = ordered_logistic(rng, eta, cuts) - 1  # (s, N), categories 0..K-1
        for s in range(len(chunk)):
            c = np.zeros((n_items, k))
            np.add.at(c, (j, y_rep[s]), 1.0)
            reps[start + s] = c / np.maximum(per_item, 1)
    lo, hi = (1 - mass) / 2, 1 - (1 - mass) / 2
    lower = np.quantile(reps, lo, axis=0)
    upper = np.quantile(reps, hi, axis=0)
    categories = [str(c + int(tree.attrs["scale_min"])) for c in range(k)]
    coords = {dims.ITEM: items, dims.CATEGORY: categories}
    d2 = (dims.ITEM, dims.CATEGORY)
    ds = xr.Dataset(
        {
            "observed": (d2, observed),
            "predicted_mean": (d2, reps.mean(axis=0)),
            "predicted_lower": (d2, lower),
            "predicted_upper": (d2, upper),
            "outside": (d2, (observed < lower - 1e-12) | (observed > upper + 1e-12)),
        },
        coords=coords,
    )
    ds.attrs["mass"] = mass
    ds.attrs["n_draws"] = len(draw_idx)
    return ds


def ppc_summary(item_model: ItemModel) -> pd.DataFrame:
    """Per item: share of categories whose observed proportion lies outside the interval."""
    ppc = item_model.idata["ppc"].to_dataset()
    out = ppc["outside"].mean(dims.CATEGORY).to_series().rename("share_outside").to_frame()
    out["max_abs_error"] = np.abs(ppc["observed"] - ppc["predicted_mean"]).max(
        dims.CATEGORY).to_series()
    return out


def _rating_logp_chunks(item_model: ItemModel, chunk: int, reduce=None):
    """``(draw indices, reduce(log P(y_n | draw) (S, N)))`` over the posterior in chunks of
    draws, computed on :func:`_threads` threads (the array operations release the GIL); in
    order."""
    from concurrent.futures import ThreadPoolExecutor

    from vp_bayes.model.fused import ratings_logp_draws
    from vp_bayes.model.likelihood import observed_logp_np

    tree = item_model.idata
    post = tree["posterior"].to_dataset()
    const = tree["constant_data"].to_dataset()
    config = item_model.model_config
    y = const["rating_y"].values
    total = post.sizes["chain"] * post.sizes["draw"]

    def one(start: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(start, min(start + chunk, total))
        if "dif_location" in post:
            eta, cuts = _eta_draws(post, const, config, idx)
            logp = observed_logp_np(eta, cuts, y)
        else:
            logp = ratings_logp_draws(*_kernel_inputs(post, const, config, idx))
        return idx, logp if reduce is None else reduce(logp)

    workers = _threads()
    starts = range(0, total, chunk)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for first in range(0, len(starts), 2 * workers):  # a few chunks in flight at a time
            yield from pool.map(one, starts[first:first + 2 * workers])


def _sample_coords(post: xr.Dataset) -> dict:
    return {"chain": post["chain"].values, "draw": post["draw"].values}


def rating_log_likelihood(item_model: ItemModel, chunk: int = 25) -> xr.DataArray:
    """Pointwise log-likelihood of every fitted item rating at every posterior draw.

    Returns
    -------
    xarray.DataArray
        ``(chain, draw, rating)``: ``log P(y_n | draw)`` of rating n (the order of the
        ``constant_data`` rating arrays), for PSIS-LOO (:func:`loo`).
    """
    post = item_model.posterior
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    n_ratings = item_model.idata["constant_data"]["rating_y"].size
    out = np.empty((n_chain * n_draw, n_ratings))
    for idx, logp in _rating_logp_chunks(item_model, chunk):
        out[idx] = logp
    return xr.DataArray(out.reshape(n_chain, n_draw, n_ratings),
                        dims=("chain", "draw", "rating"), coords=_sample_coords(post))


def rating_log_likelihood_total(item_model: ItemModel, chunk: int = 25) -> xr.DataArray:
    """The ratings' log-likelihood summed over ratings, per draw (``(chain, draw)``): what
    power-scaling the likelihood needs (:mod:`vp_bayes.model.sensitivity`), without holding
    the draws x ratings array of :func:`rating_log_likelihood`."""
    post = item_model.posterior
    out = np.empty(post.sizes["chain"] * post.sizes["draw"])
    for idx, total in _rating_logp_chunks(item_model, chunk, reduce=lambda lp: lp.sum(axis=1)):
        out[idx] = total
    return xr.DataArray(out.reshape(post.sizes["chain"], post.sizes["draw"]),
                        dims=("chain", "draw"), coords=_sample_coords(post))


def loo(item_model: ItemModel):
    """PSIS-LOO of the item ratings (``arviz_stats.loo``; compare fits with :func:`loo_comparison`).

    Leaves out one rating at a time: the expected log predictive density of a held-out rating
    of a known participant, the model-choice criterion for item-model settings (loading prior,
    thresholds) on one wave.
    """
    import warnings

    from arviz_stats import loo as _loo

    ll = rating_log_likelihood(item_model)
    tree = xr.DataTree.from_dict({
        "posterior": item_model.idata["posterior"].to_dataset()[["beta"]],
        "log_likelihood": xr.Dataset({"y": ll}),
    })
    with warnings.catch_warnings():  # the result says it (``warning``, ``pareto_k``)
        warnings.filterwarnings("ignore", "Estimated shape parameter of Pareto",
                                UserWarning)
        return _loo(tree, var_name="y")


def _resolved_config(item_model) -> dict:
    """The model settings as fitted: ``value_input`` as it resolved (``"auto"`` has meant
    different inputs in different versions; the fit records what it used)."""
    config = item_model.model_config.to_dict()
    config["value_input"] = str(item_model.idata.attrs.get("value_input", config["value_input"]))
    return config


def loo_comparison(fits: dict[str, ItemModel]) -> pd.DataFrame:
    """PSIS-LOO of several fits of one wave as a tidy table, best first.

    Parameters
    ----------
    fits
        Fits of the same wave (same data hash) by name; the first is the reference whose
        model settings the others are described against.

    Returns
    -------
    pandas.DataFrame
        One row per fit: ``fit``, ``settings`` (the model settings that differ from the first
        fit's), ``elpd`` and its ``se``, effective parameters ``p``, ``elpd_diff`` (this fit's
        elpd minus the best's: 0 for the best, negative for the others) and its SE ``dse``,
        ``bad_k``: ratings whose Pareto k exceeds the sample-size threshold (their LOO
        estimate is unreliable; the threshold depends on the number of draws), the fit's
        sampler ``budget`` (chains x (tune + draws)), the draws ``saved`` with it (chains x
        draws: the ones LOO uses) and its worst ``r_hat_max``.

    Raises
    ------
    ValueError
        Fewer than two fits, or fits of different waves.
    """
    from arviz_stats import compare

    if len(fits) < 2:
        raise ValueError("a comparison needs at least two fits")
    ref = next(iter(fits.values()))
    if any(m.wave_hash != ref.wave_hash for m in fits.values()):
        raise ValueError("the fits are of different waves (data hashes differ)")
    results = {name: loo(m) for name, m in fits.items()}
    table = compare(results, round_to="none").filter(["elpd", "se", "p", "elpd_diff", "dse"])
    ref_cfg = _resolved_config(ref)
    rows = {}
    for i, (name, m) in enumerate(fits.items()):
        differ = ", ".join(f"{k}={v}" for k, v in _resolved_config(m).items()
                           if ref_cfg.get(k) != v)
        cfg, res = m.sampler_config, results[name]
        rows[name] = {
            "settings": "(reference)" if i == 0 else differ or "same model settings",
            "bad_k": int((res.pareto_k.values > res.good_k).sum()),
            "budget": f"{cfg.chains} x ({cfg.tune} + {cfg.draws})",
            "saved": f"{m.posterior.sizes['chain']} x {m.posterior.sizes['draw']}",
            "r_hat_max": float(m.diagnostics["r_hat_max"].max()),
        }
    info = pd.DataFrame.from_dict(rows, orient="index")
    table = table.join(info).rename_axis("fit").reset_index()
    return table[["fit", "settings", "elpd", "se", "p", "elpd_diff", "dse", "bad_k", "budget",
                  "saved", "r_hat_max"]]


def comparison_lines(table: pd.DataFrame) -> list[str]:
    """Markdown lines for the model card: a :func:`loo_comparison` table and how to read it."""
    n = len(table)
    lines = [
        f"PSIS-LOO of the item ratings for {n} fits of this wave (the expected log predictive "
        "density of a held-out rating of a known participant; `arviz_stats.compare`), best "
        "first. `elpd_diff` is each fit's elpd minus the best's and `dse` its standard error: "
        "a difference within about two `dse` is no evidence either way. `bad_k` counts ratings "
        "whose Pareto k is above the reliability threshold (which depends on the number of "
        "draws); `budget` and `R-hat max` say how each fit was sampled and whether it "
        "converged, `saved` the draws kept in its file, which LOO uses.",
        "",
        "| fit | settings | elpd | se | p | elpd_diff | dse | bad_k | budget | saved | "
        "R-hat max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in table.iterrows():
        lines.append(f"| {row['fit']} | {row['settings']} | {row['elpd']:.1f} | "
                     f"{row['se']:.1f} | {row['p']:.1f} | {row['elpd_diff']:.1f} | "
                     f"{row['dse']:.1f} | {row['bad_k']} | {row['budget']} | "
                     f"{row['saved']} | {row['r_hat_max']:.3f} |")
    return lines
