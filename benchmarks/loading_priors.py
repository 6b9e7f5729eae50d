"""Loading priors compared (issue 18): coverage on simulated truths, PSIS-LOO on the real wave.

The simulated waves keep the real wave's design: its 559 participants with their MRAT-centred
PVQ-21 values (exact covariates, the default input when this was written; the fits here use
them too, ``value_input = "exact"``), the same participant x item
pairs (24,320 ratings, about 47 per item), 6 categories. Only the item parameters and the
ratings are simulated, from three kinds of truth NOT drawn from any prior family compared:

* ``sparse``: each item loads on one or two values, |loading| ~ U(0.4, 1.0) with a random
  sign, every other loading exactly 0;
* ``heavy``: every loading 0.12 x Cauchy, clipped to +-2 (many near zero, a few large);
* ``posterior``: one posterior draw of the shipped real-wave model (loadings, item
  locations, thresholds, response-style SD).

Item locations (sparse, heavy) are N(0, 0.9^2), thresholds and response-style SD those of
the shipped model's posterior mean. Ratings come from the ordered logit; the truth's
loadings are projected off the values' null direction (the ipsative direction, which the
data cannot identify) before they are compared. For each truth and prior: coverage of the
90% intervals of large (|true| >= 0.3) and small (|true| < 0.1) loadings, the slope of the
posterior means on the truth, RMSE, worst R-hat, divergences and wall time. Then PSIS-LOO of
the item ratings of each prior's fit on the real wave.

Run (about 45 minutes on 2 cores)::

    vp-bayes import valueportrait ../shared/valueportrait/release /tmp/vp_wave
    python benchmarks/loading_priors.py /tmp/vp_wave [--draws 500 --tune 300 --chains 2]
    python benchmarks/loading_priors.py /tmp/vp_wave --priors student_t,horseshoe --chains 4 \
        --draws 1000 --tune 400 --no-real   # the simulated truths only
    python benchmarks/loading_priors.py /tmp/vp_wave --priors student_t --truths posterior,sparse \
        --spread-priors gamma,half_normal --no-real   # the loadings' spreads prior (session 38)

``--spread-priors`` fits each truth under each prior family of the loadings' spreads
``beta_sd`` (``ModelConfig.loading_scale_family``; default: the default family only). The
``posterior`` truth has the shipped model's spreads, three of them near zero: the case where
a boundary-avoiding prior could cost coverage.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

import vp_bayes as vb
from vp_bayes.model.config import LOADING_PRIORS, ModelConfig, SamplerConfig
from vp_bayes.model.data import prepare_data
from vp_bayes.model.diagnostics import convergence_table, loo_comparison
from vp_bayes.model.fit import fit_wave
from vp_bayes.wave.simulate import ordered_logistic

REPO = Path(__file__).resolve().parents[1]
MASS = 0.90


def _truth(kind: str, n_items: int, n_values: int, shipped, rng) -> dict[str, np.ndarray]:
    post = shipped.idata["posterior"].to_dataset()
    mean = post.mean(("chain", "draw"))
    out = {"kappa": mean["kappa"].values, "sigma_alpha": float(mean["sigma_alpha"])}
    if kind == "posterior":
        draw = post.isel(chain=0, draw=post.sizes["draw"] // 2)
        out.update(beta=draw["beta"].values, b=draw["b"].values, kappa=draw["kappa"].values,
                   sigma_alpha=float(draw["sigma_alpha"]))
        return out
    if kind == "sparse":
        beta = np.zeros((n_items, n_values))
        for j in range(n_items):
            picks = rng.choice(n_values, rng.integers(1, 3), replace=False)
            beta[j, picks] = rng.uniform(0.4, 1.0, len(picks)) * rng.choice([-1, 1], len(picks))
    else:
        beta = np.clip(0.12 * rng.standard_cauchy((n_items, n_values)), -2, 2)
    out.update(beta=beta, b=rng.normal(0, 0.9, n_items))
    return out


def _simulate(wave, data, truth, rng):
    alpha = rng.normal(0, truth["sigma_alpha"], len(data.participants))
    i, j = data.rating_participant, data.rating_item
    eta = (truth["beta"][j] * data.values_z[i]).sum(-1) + truth["b"][j] + alpha[i]
    y = ordered_logistic(rng, eta, truth["kappa"]) + data.scale_min - 1
    ratings = wave.ratings.copy()
    ratings["rating"] = y.astype(ratings["rating"].dtype)
    return replace(wave, ratings=ratings)


def _coverage(fit, truth_beta: np.ndarray, null: np.ndarray) -> dict[str, float]:
    post = fit.idata["posterior"].to_dataset()["beta"]
    draws = post.stack(s=("chain", "draw")).transpose("s", ...).values
    true = truth_beta - (truth_beta @ null) @ null.T
    lo, hi = np.quantile(draws, [(1 - MASS) / 2, (1 + MASS) / 2], axis=0)
    inside = (true >= lo) & (true <= hi)
    large, small = np.abs(true) >= 0.3, np.abs(true) < 0.1
    mean = draws.mean(0)
    return {"cover_all": inside.mean(),
            "cover_large": inside[large].mean(), "n_large": int(large.sum()),
            "cover_small": inside[small].mean(),
            "slope": float(np.polyfit(true.ravel(), mean.ravel(), 1)[0]),
            "rmse": float(np.sqrt(np.mean((mean - true) ** 2)))}


def _fit(wave, prior: str, sampler: SamplerConfig, spreads: str | None = None):
    start = time.perf_counter()
    # the values as exact covariates, as the ratings were simulated from them (the calibrated
    # input, today's default for these MRAT-centred values, would shrink them first)
    config = ModelConfig(loading_prior=prior, value_input="exact")
    if spreads is not None:
        config = replace(config, loading_scale_family=spreads)
    fit = fit_wave(wave, config, sampler, progress=False, ppc_draws=20)
    table = convergence_table(fit.idata)
    stats = fit.idata["sample_stats"].to_dataset()
    return fit, {"r_hat_max": float(table["r_hat_max"].max()),
                 "divergences": int(stats["diverging"].sum()),
                 "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wave", type=Path, help="the imported real wave")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--truths", default="sparse,heavy,posterior")
    parser.add_argument("--priors", default=",".join(LOADING_PRIORS))
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--spread-priors", default=ModelConfig().loading_scale_family,
                        help="comma list of loading_scale_family values to fit each truth with")
    parser.add_argument("--no-real", dest="real", action="store_false",
                        help="skip the real wave's PSIS-LOO (or compare saved fits: "
                             "vp-bayes card MODEL --compare OTHER)")
    args = parser.parse_args()
    sampler = SamplerConfig(draws=args.draws, tune=args.tune, chains=args.chains,
                            seed=args.seed)
    wave = vb.load_wave(args.wave)
    shipped = vb.load_model(REPO / "models" / "valueportrait.nc")
    data = prepare_data(wave, ModelConfig(value_input="exact"))
    priors = args.priors.split(",")
    rows = []
    for kind in args.truths.split(","):
        rng = np.random.default_rng(args.seed)
        truth = _truth(kind, len(data.items), len(data.values), shipped, rng)
        sim = _simulate(wave, data, truth, rng)
        for prior in priors:
            for spreads in args.spread_priors.split(","):
                fit, info = _fit(sim, prior, sampler, spreads)
                rows.append({"truth": kind, "prior": prior, "spreads": spreads, **info,
                             **_coverage(fit, truth["beta"], data.value_null_space)})
                print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    pd.set_option("display.width", 160)
    print("\nCoverage of 90% intervals of the loadings, by simulated truth and prior")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    if not args.real:
        return
    fits = {prior: _fit(wave, prior, sampler)[0] for prior in priors}
    print("\nPSIS-LOO of the real wave's item ratings")
    print(loo_comparison(fits).drop(columns=["budget"])
          .round({"elpd": 1, "se": 1, "p": 1, "elpd_diff": 1, "dse": 1}).to_string())


if __name__ == "__main__":
    main()
