"""Time of the fit's work after the sampler (issue 16, session 33): the package's way against
the way it was done before, both in the same run, on a saved fit and its wave.

* the ratings' log-likelihood summed per draw (prior sensitivity; PSIS-LOO uses the same
  pointwise values): one Numba kernel (``fused.ratings_logp_draws``) against the numpy
  predictor and density in chunks of 25 draws on the same threads (session 32's path);
* the power-scaled priors' log density per draw (``sensitivity.log_prior``): every draw at
  once (``vectorize_graph``) against one call per draw of the same compiled function;
* the values' correlation drawn given each draw's scatter (``build.draw_collapsed_correlation``,
  latent values with the inverse-Wishart prior): batched Bartlett draws against one
  ``scipy.stats.invwishart`` draw per matrix. The scatter matrices are not saved, so
  ``(df - V - 1) * corr`` of each saved draw stands in for them (the same sizes);
* psense for every reported variable's elements, prior and likelihood: batches of elements
  at once (``sensitivity.power_scale_sensitivity``) against arviz-stats' ``psense``;
* the ratings' log-likelihood again on the posterior as a stopped fit holds it (float64, a
  view of each chain's first draws of a longer run, session 37): rows read at the chunk's
  draws against session 36's flat reshape of the whole variable, which copies all of it at
  every chunk when the posterior is such a view;
* the whole prior sensitivity (``sensitivity.prior_sensitivity``) as the fit now runs it.

Prints one Markdown table with seconds, the speed-up and the largest relative difference
(for the random draws: the largest KS distance between the two ways' draws of any
correlation). ``--tile N`` repeats each chain's saved draws N times: the README main job
saves 1,500 of its 3,500 draws per chain, and the correlations are drawn before thinning::

    python benchmarks/fit_fixed_costs.py out/demo/model.nc data/demo
    python benchmarks/fit_fixed_costs.py out/demo/model.nc data/demo --tile 2
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    """Largest relative difference (NaN where both are NaN ignored; a zero reference counts
    the difference itself)."""
    return float(np.nanmax(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)))


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _loglik_reference(model) -> np.ndarray:
    """Session 32's path: numpy predictor and density per chunk of 25 draws, on threads."""
    from concurrent.futures import ThreadPoolExecutor

    from vp_bayes.model.diagnostics import _eta_draws, _threads
    from vp_bayes.model.likelihood import observed_logp_np

    post = model.idata["posterior"].to_dataset().astype(float)
    const = model.idata["constant_data"].to_dataset()
    y = const["rating_y"].values
    total = post.sizes["chain"] * post.sizes["draw"]

    def one(start: int) -> np.ndarray:
        idx = np.arange(start, min(start + 25, total))
        eta, cuts = _eta_draws(post, const, model.model_config, idx)
        return observed_logp_np(eta, cuts, y).sum(axis=1)

    with ThreadPoolExecutor(max_workers=_threads()) as pool:
        return np.concatenate(list(pool.map(one, range(0, total, 25))))


def _log_prior_reference(model, wave) -> np.ndarray:
    """Session 32's path: the prior terms compiled once, called draw by draw."""
    import pytensor

    from vp_bayes.model.sensitivity import _saved_value, prior_terms

    names, values, terms = prior_terms(model, wave)
    fn = pytensor.function(values, [t.sum() for t in terms], mode="FAST_COMPILE")
    draws = [_saved_value(n, model.posterior) for n in names]
    return np.array([[float(x) for x in fn(*(v[s] for v in draws))]
                     for s in range(draws[0].shape[0])])


def _correlation_reference(scatter: np.ndarray, df: float, rng) -> np.ndarray:
    """Session 32's path: one scipy inverse-Wishart draw per scatter matrix."""
    from scipy.stats import invwishart

    out = np.empty_like(scatter)
    for k, scale in enumerate(scatter):
        sigma = invwishart(df=df, scale=scale).rvs(random_state=rng)
        sd = np.sqrt(np.diag(sigma))
        out[k] = sigma / sd[:, None] / sd[None, :]
    return out


def _psense_reference(draws, log_prior_ds, loglik) -> dict:
    """Session 32's path: arviz-stats' psense for each component."""
    import xarray as xr
    from arviz_stats import psense

    tree = xr.DataTree.from_dict({"posterior": draws.astype(float), "log_prior": log_prior_ds,
                                  "log_likelihood": xr.Dataset({"y": loglik})})
    return {group: psense(tree, group=group, alphas=(0.99, 1.01))
            for group in ("prior", "likelihood")}


def _flat_rows(post, name: str, draw_idx: np.ndarray) -> np.ndarray:
    """Session 36's ``diagnostics._draw_rows``: the whole variable reshaped flat, then the
    rows."""
    da = post[name].transpose("chain", "draw", ...)
    return da.values.reshape(-1, *da.shape[2:])[draw_idx]


def _stopped_view(model, more: int = 250):
    """``model`` with its posterior as a stopped fit holds it: float64, the first draws of a
    run ``more`` draws per chain longer (a view, not contiguous across chains)."""
    import xarray as xr

    tree = model.idata.copy()
    post = tree["posterior"].to_dataset().astype(float)
    n = post.sizes["draw"]
    longer = xr.concat([post, post.isel(draw=slice(0, more))], dim="draw").assign_coords(
        draw=np.arange(n + more))
    view = longer.isel(draw=slice(0, n))
    assert not view["beta"].values.flags.c_contiguous
    tree["posterior"] = xr.DataTree(view)
    return replace(model, idata=tree)


def _tiled(model, tile: int):
    import xarray as xr

    if tile == 1:
        return model
    tree = model.idata.copy()
    post = tree["posterior"].to_dataset()
    post = xr.concat([post] * tile, dim="draw").assign_coords(
        draw=np.arange(post.sizes["draw"] * tile))
    tree["posterior"] = xr.DataTree(post)
    return replace(model, idata=tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("wave")
    parser.add_argument("--tile", type=int, default=1)
    args = parser.parse_args()

    from scipy import stats

    from vp_bayes import dims
    from vp_bayes.model import sensitivity
    from vp_bayes.model.build import draw_collapsed_correlation, inverse_wishart_df
    from vp_bayes.model.diagnostics import rating_log_likelihood_total
    from vp_bayes.model.io import load_model
    from vp_bayes.model.sensitivity import log_prior, prior_sensitivity
    from vp_bayes.wave.io import load_wave

    model = _tiled(load_model(args.model), args.tile)
    wave = load_wave(Path(args.wave))
    post = model.posterior
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    rows = []

    rating_log_likelihood_total(model)  # compiles (or loads) the kernel outside the timing
    new, t_new = _timed(lambda: rating_log_likelihood_total(model).values.ravel())
    ref, t_ref = _timed(lambda: _loglik_reference(model))
    rows.append(("ratings' log-likelihood per draw", t_ref, t_new, f"{_rel(new, ref):.1e}"))

    from vp_bayes.model import diagnostics

    stopped = _stopped_view(model)
    new, t_new = _timed(lambda: rating_log_likelihood_total(stopped).values.ravel())
    package_rows = diagnostics._draw_rows
    diagnostics._draw_rows = _flat_rows
    try:
        ref, t_ref = _timed(lambda: rating_log_likelihood_total(stopped).values.ravel())
    finally:
        diagnostics._draw_rows = package_rows
    rows.append(("the same, on a stopped fit's posterior (a view)", t_ref, t_new,
                 f"{_rel(new, ref):.1e}"))

    lp_new, t_new = _timed(lambda: log_prior(model, wave))
    lp_ref, t_ref = _timed(lambda: _log_prior_reference(model, wave))
    got = np.stack([lp_new[n].values.ravel() for n in lp_new.data_vars], axis=1)
    rows.append(("log prior per draw", t_ref, t_new, f"{_rel(got, lp_ref):.1e}"))

    if "corr" in post:
        corr = post["corr"].transpose("chain", "draw", ...).values.astype(float)
        corr = corr.reshape(-1, *corr.shape[-2:])
        n_values = corr.shape[-1]
        df = inverse_wishart_df(n_values, model.model_config.lkj_eta) + post.sizes[
            dims.PARTICIPANT]
        scatter = (df - n_values - 1) * corr
        c_new, t_new = _timed(lambda: draw_collapsed_correlation(
            scatter, df, np.random.default_rng(0)))
        c_ref, t_ref = _timed(lambda: _correlation_reference(
            scatter, df, np.random.default_rng(1)))
        rows_, cols_ = np.tril_indices(n_values, -1)
        ks = max(stats.ks_2samp(c_new[:, r, c], c_ref[:, r, c]).statistic
                 for r, c in zip(rows_, cols_, strict=True))
        rows.append(("collapsed correlation draws", t_ref, t_new, f"KS {ks:.3f}"))

    names = sensitivity._reported(post)
    draws = post[names]
    totals = {"prior": lp_new.to_array().sum("variable"),
              "likelihood": rating_log_likelihood_total(model)}
    s_new, t_new = _timed(lambda: sensitivity.power_scale_sensitivity(draws, totals))
    s_ref, t_ref = _timed(lambda: _psense_reference(draws, lp_new, totals["likelihood"]))
    diff = max(_rel(s_new[g][n].values, s_ref[g][n].values) for g in s_new for n in names)
    rows.append((f"psense, prior and likelihood ({sum(draws[n].size for n in names) // n_draws}"
                 " elements)", t_ref, t_new, f"{diff:.1e}"))

    _, t_sens = _timed(lambda: prior_sensitivity(model, wave))

    print(f"{args.model}: {post.sizes['chain']} chains x {post.sizes['draw']} draws "
          f"({n_draws})\n")
    print("| step | before (s) | package (s) | speed-up | max relative difference |")
    print("|---|---|---|---|---|")
    for name, before, after, diff in rows:
        print(f"| {name} | {before:.2f} | {after:.2f} | {before / after:.0f}x | {diff} |")
    print(f"| whole prior sensitivity (package) | | {t_sens:.2f} | | |")


if __name__ == "__main__":
    main()
