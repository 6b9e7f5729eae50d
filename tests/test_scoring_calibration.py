"""Calibration of scoring against a real fit of a simulated wave (slow).

1. Coverage: LLM respondents with known profiles (drawn from the population by the test,
   rated under six prompt variants from the TRUE item parameters, not the posterior) are
   scored through the fitted item posterior; with the values' prior at the respondents'
   spread the 90% intervals must cover the truth for 85-95% of (respondent, value) pairs,
   with the default prior (twice that spread) 85-97%, and the posterior means must track
   the truth.
2. Simulation-based calibration of the scoring step alone: with the item parameters fixed at
   one posterior draw, (theta, alpha) drawn from the prior, ratings simulated, scored; the
   ranks of the truth among the posterior samples must be uniform.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vp_bayes import dims
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.scoring import RespondentData, item_draws, score, score_respondent
from vp_bayes.wave.simulate import VARIANTS, ordered_logistic, simulate_wave

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).parent))  # test_scoring._fake_model

# 100 respondents (1,000 pairs: binomial SE of a 0.90 rate 0.0095). With 25 (250 pairs, SE
# 0.019) the coverage moved by a pair or two with the fit: 0.948 (LKJ value prior), 0.956
# (inverse-Wishart, the default for raw answers since session 25); with 100 both priors' fits
# covered 0.949-0.950 and the true item parameters 0.922 (session 25, docs/benchmarks.md).
# The band's upper edge is close on every wave seed tried (0.949-0.956 sparse, 0.934-0.957
# heavy-tailed loadings). The width is the default prior's: the values' prior is twice the
# human spread (laplace.PRIOR_SCALE, for LLMs unlike humans) and these respondents are drawn at
# the human spread. The item uncertainty flattens the likelihood, so the prior weighs more
# through the fit than through the true items. With prior_scale=1 the same fit covers 0.908
# (errors 0.98 of the intervals' SD; docs/benchmarks.md, session 29). These figures were
# measured at acceptance target 0.8; since session 35 the fit samples at 0.65, the default for
# raw answers, and since session 40 under the gamma spreads prior, the raw-answer default
# (the test passed unchanged both times).
N_RESPONDENTS = 100
N_SBC = 200


def fit_calibration_wave(seed: int = 21, target_accept: float | None = None,
                         loadings: str = "sparse"):
    """The simulated wave of this test (wave ``seed``) and its fit; also
    ``benchmarks/score_calibration_sim.py``'s, over other seeds, acceptance targets and
    true loadings (``simulate_wave``'s ``loadings``)."""
    from vp_bayes.model.fit import fit_wave

    sim = simulate_wave(n_participants=250, n_items=60, items_per_participant=30, seed=seed,
                        n_llm=0, loadings=loadings)
    # 2 x (500 + 3000), about 75 s with the vectorised fused likelihood (session 31): max
    # R-hat 1.007 (beta_sd). At 2 x (500 + 1000) (max R-hat 1.042) the default prior's
    # coverage below moved with the chains' realisation: 0.950 (session 29's kernels), 0.957
    # (session 31's, whose draws differ in the last bits); at 2 x (300 + 300) (R-hat 1.16)
    # 0.944-0.952.
    model = fit_wave(sim.wave, ModelConfig(),
                     SamplerConfig(draws=3000, tune=500, chains=2, seed=21,
                                   target_accept=target_accept), progress=False, ppc_draws=20)
    return sim, model


@pytest.fixture(scope="module")
def fitted():
    return fit_calibration_wave()


def _simulate_respondents(truth, n: int, seed: int):
    """True theta ~ MVN(0, R), alpha ~ N(0, sigma_alpha^2), variant offsets ~ N(0, 0.2^2)."""
    rng = np.random.default_rng(seed)
    beta, b, kappa = truth["beta"].values, truth["b"].values, truth["kappa"].values
    corr = truth["R"].values
    theta = rng.multivariate_normal(np.zeros(corr.shape[0]), corr, size=n)
    alpha = rng.normal(0.0, float(truth["sigma_alpha"]), size=n)
    offsets = rng.normal(0.0, 0.2, size=(n, len(VARIANTS)))
    items = [str(i) for i in truth[dims.ITEM].values]
    frames = []
    for r in range(n):
        eta = beta @ theta[r] + alpha[r] + b
        y = ordered_logistic(rng, eta[:, None] + offsets[r][None, :], kappa)
        frames.append(pd.DataFrame({"respondent": f"sim-{r:02d}",
                                    "item_id": np.repeat(items, len(VARIANTS)),
                                    "variant": np.tile(VARIANTS, len(items)),
                                    "rating": y.ravel().astype(float)}))
    return theta, pd.concat(frames, ignore_index=True)


def _coverage(model, ratings, theta, prior_scale: float | None = None
              ) -> tuple[float, float, pd.DataFrame]:
    kwargs = {} if prior_scale is None else {"prior_scale": prior_scale}
    res = score(model, ratings, n_item_draws=200, n_per_draw=20, seed=1,
                progress=False, **kwargs)
    truth = pd.DataFrame(theta, index=[f"sim-{r:02d}" for r in range(len(theta))],
                         columns=list(dims.VALUES_10)).stack()
    truth.index.names = ["respondent", "value"]
    t = res.table.set_index(["respondent", "value"]).loc[truth.index]
    covered = float(((t["lower"] <= truth) & (truth <= t["upper"])).mean())
    return covered, float(np.corrcoef(t["mean"], truth)[0, 1]), res.table


def _loading_coverage(model, truth) -> float:
    """Share of the true non-zero loadings inside their 90% posterior interval."""
    q = model.posterior["beta"].quantile([0.05, 0.95], dim=(dims.CHAIN, dims.DRAW)).values
    beta = truth["beta"].values
    nz = beta != 0
    return float(((q[0] <= beta) & (beta <= q[1]))[nz].mean())


def test_intervals_cover_true_profiles(fitted):
    sim, model = fitted
    theta, ratings = _simulate_respondents(sim.truth, N_RESPONDENTS, seed=5)
    # the scoring step alone: the same respondents through the TRUE item parameters
    from test_scoring import _fake_model

    exact, _, _ = _coverage(_fake_model(sim.truth, 200, jitter=0.0), ratings, theta)
    covered, r, table = _coverage(model, ratings, theta)
    matched, _, _ = _coverage(model, ratings, theta, prior_scale=1.0)
    print(f"\n90% coverage through the fitted posterior {covered:.3f} (values' prior at the "
          f"respondents' spread: {matched:.3f}), through the true item "
          f"parameters {exact:.3f} ({len(theta) * 10} pairs); corr(mean, truth) {r:.3f}; "
          f"mean ESS fraction {table['ess_fraction'].mean():.2f}, "
          f"max k-hat {table['pareto_k'].max():.2f}; 90% posterior coverage of the true "
          f"non-zero loadings {_loading_coverage(model, sim.truth):.2f}")
    np.testing.assert_allclose(table.groupby("respondent")["centered_mean"].sum(), 0.0,
                               atol=1e-9)
    assert r > 0.6
    # 1,000 pairs: binomial SE of a 0.90 rate is 0.0095, so 0.85-0.95 is about +-5 SE (pairs
    # within a respondent and item-parameter errors shared by all respondents are positively
    # correlated, so the true SE is larger; the band is the brief's)
    assert 0.85 <= exact <= 0.95
    # The respondents are drawn at the human spread. Scored with the values' prior at that
    # spread (prior_scale=1), the fitted item posterior's intervals are nominal: the
    # calibration of the scoring step through the item posterior (0.901 at this fixture,
    # session 31; 0.904-0.909 over three waves, session 29).
    assert 0.85 <= matched <= 0.95
    # The default prior is twice the human spread (laplace.PRIOR_SCALE, for LLMs unlike
    # humans, where x1 under-covers: test_scoring_calibration_real.py). On human-like
    # respondents it is conservative: 0.958 at this converged fixture, 0.950-0.957 over
    # realisations of the shorter one and 0.943-0.957 over three waves (session 29). Until
    # session 31 this asserted 0.85-0.95, which the shorter fixture's chains met or missed
    # by a pair or two. Bounded, so that the default cannot grow wider unnoticed.
    assert 0.85 <= covered <= 0.97


def test_sbc_of_the_cut_scoring_step(fitted):
    sim, model = fitted
    draws = item_draws(model, 10).subset([3])  # item parameters fixed at one posterior draw
    rng = np.random.default_rng(2024)
    corr, sa = draws.corr[0], float(draws.sigma_alpha[0])
    beta, b, cuts = draws.beta[0], draws.b[0], draws.cuts[0]
    n_items, n_samples = 20, 99  # few ratings: the posterior is visibly non-Gaussian
    ranks = []
    for rep in range(N_SBC):
        theta = rng.multivariate_normal(np.zeros(len(corr)), corr)
        alpha = rng.normal(0.0, sa)
        idx = rng.choice(len(draws.items), n_items, replace=False)
        y = ordered_logistic(rng, beta[idx] @ theta + alpha + b[idx], cuts) - 1
        w = np.zeros((n_items, 1, draws.n_categories))
        w[np.arange(n_items), 0, y] = 1.0
        out = score_respondent(draws, RespondentData(idx, w, ("all",)), n_per_draw=n_samples,
                               rng=np.random.default_rng([7, rep]), method="cut",
                               variant_offsets=False, item_deviation=False, prior_scale=1.0)
        post = np.column_stack([out["theta"], out["alpha"]])
        ranks.append((post < np.append(theta, alpha)).sum(axis=0))
    ranks = np.array(ranks)  # (N_SBC, V + 1), each in 0..n_samples
    bins = 10
    pvals = []
    for col in ranks.T:
        counts = np.bincount(col * bins // (n_samples + 1), minlength=bins)
        pvals.append(stats.chisquare(counts).pvalue)
    pooled = stats.kstest((ranks.ravel() + 0.5) / (n_samples + 1), "uniform").pvalue
    print(f"\nSBC chi-square p-values per parameter: {np.round(pvals, 3)}; "
          f"pooled KS p = {pooled:.3f}")
    # generous: Bonferroni over V + 1 parameters at overall level 0.01
    assert min(pvals) > 0.01 / len(pvals)


def test_sbc_of_the_default_scoring_step(fitted):
    """SBC of the default step (marginal, the respondent's noise tau and sigma integrated,
    prior scale 2, variants pooled), items fixed at one posterior draw: everything drawn from
    the scoring model's own prior, 40 items x 6 variants, ranks of theta and alpha uniform."""
    from vp_bayes.scoring.laplace import PRIOR_SCALE, SIGMA_LOG_SD, TAU_SCALE, TAU_SD

    sim, model = fitted
    draws = item_draws(model, 10).subset([3])
    rng = np.random.default_rng(2025)
    corr, sa = draws.corr[0], float(draws.sigma_alpha[0])
    beta, b, cuts = draws.beta[0], draws.b[0], draws.cuts[0]
    n_items, n_var, n_samples = 40, len(VARIANTS), 99
    ranks = []
    for rep in range(N_SBC):
        theta = rng.multivariate_normal(np.zeros(len(corr)), PRIOR_SCALE**2 * corr)
        alpha = rng.normal(0.0, PRIOR_SCALE * sa)
        tau = abs(rng.normal(0.0, TAU_SCALE * TAU_SD))
        sigma = np.exp(rng.normal(0.0, SIGMA_LOG_SD))
        idx = rng.choice(len(draws.items), n_items, replace=False)
        eta = beta[idx] @ theta + alpha + b[idx] + tau * rng.standard_normal(n_items)
        latent = eta[:, None] + sigma * rng.logistic(size=(n_items, n_var))
        y = (latent[..., None] > cuts).sum(-1)  # 0-based
        w = np.zeros((n_items, n_var, draws.n_categories))
        np.put_along_axis(w, y[..., None], 1.0, axis=-1)
        out = score_respondent(draws, RespondentData(idx, w, tuple(VARIANTS)),
                               n_per_draw=n_samples, rng=np.random.default_rng([8, rep]))
        post = np.column_stack([out["theta"], out["alpha"]])
        ranks.append((post < np.append(theta, alpha)).sum(axis=0))
    ranks = np.array(ranks)  # (N_SBC, V + 1), each in 0..n_samples
    bins = 10
    pvals = [stats.chisquare(np.bincount(col * bins // (n_samples + 1), minlength=bins)).pvalue
             for col in ranks.T]
    pooled = stats.kstest((ranks.ravel() + 0.5) / (n_samples + 1), "uniform").pvalue
    print(f"\nSBC (default scoring) chi-square p-values per parameter: {np.round(pvals, 3)}; "
          f"pooled KS p = {pooled:.3f}")
    assert min(pvals) > 0.01 / len(pvals)
