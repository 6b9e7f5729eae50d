"""Checks of scored respondents: person fit, the respondent's noise, reliability, prior
sensitivity (fast; items known exactly, so the checks alone are tested)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_scoring import _fake_model

from vp_bayes import dims
from vp_bayes.scoring import score
from vp_bayes.scoring.checks import MISFIT_P, SENSITIVE_SHIFT, prior_sensitivity
from vp_bayes.wave.simulate import VARIANTS, simulate_wave

N_ITEMS = 80


@pytest.fixture(scope="module")
def sim():
    return simulate_wave(n_participants=60, n_items=N_ITEMS, seed=12, n_llm=0)


@pytest.fixture(scope="module")
def model(sim):
    return _fake_model(sim.truth, n_draws=4, jitter=0.0)


def _respondent(truth, name: str, rng, tau: float, sigma: float,
                copies: bool = False) -> pd.DataFrame:
    """Ratings from the scoring model itself: shared item deviation N(0, tau^2), logistic
    rating noise of scale sigma; ``copies``: one rating per item repeated over the variants."""
    beta, b, kappa = truth["beta"].values, truth["b"].values, truth["kappa"].values
    theta = rng.standard_normal(beta.shape[1])
    eta = beta @ theta + b + tau * rng.standard_normal(beta.shape[0])
    n_var = 1 if copies else len(VARIANTS)
    latent = eta[:, None] + sigma * rng.logistic(size=(beta.shape[0], n_var))
    y = (latent[..., None] > kappa).sum(-1) + 1
    y = np.repeat(y, len(VARIANTS), axis=1) if copies else y
    items = [str(i) for i in truth[dims.ITEM].values]
    return pd.DataFrame({"respondent": name, "item_id": np.repeat(items, len(VARIANTS)),
                         "variant": np.tile(VARIANTS, len(items)),
                         "rating": y.ravel().astype(float)})


@pytest.fixture(scope="module")
def scored(sim, model):
    """Two respondents from the scoring model; three that violate it: option order misread
    under the reversed prompts (7 - y), uniform random answers, and a hedger who only ever
    answers 3 or 4."""
    rng = np.random.default_rng(3)
    ratings = pd.concat([
        _respondent(sim.truth, "fits-a", rng, tau=0.8, sigma=0.6),
        _respondent(sim.truth, "fits-b", rng, tau=0.3, sigma=1.0),
        *(_respondent(sim.truth, n, rng, tau=0.5, sigma=0.7)
          for n in ("reversed", "uniform", "middle")),
    ], ignore_index=True)
    who = ratings["respondent"]
    rev = (who == "reversed") & ratings["variant"].str.endswith("reversed")
    ratings.loc[rev, "rating"] = 7 - ratings.loc[rev, "rating"]
    ratings.loc[who == "uniform", "rating"] = rng.integers(1, 7, (who == "uniform").sum())
    ratings.loc[who == "middle", "rating"] = rng.choice([3, 4], (who == "middle").sum())
    return score(model, ratings, n_item_draws=4, n_per_draw=50, seed=1, progress=False)


def _per_respondent(res) -> pd.DataFrame:
    return res.table.drop_duplicates("respondent").set_index("respondent")


def test_model_consistent_respondents_are_not_flagged(scored):
    per = _per_respondent(scored)
    for name in ("fits-a", "fits-b"):
        p = per.loc[name, ["ppp_agreement", "ppp_distribution", "ppp_fit"]]
        assert (p >= MISFIT_P).all(), (name, p.to_dict())
        assert not per.loc[name, "misfit"]


def test_respondent_noise_is_recovered(scored):
    per = _per_respondent(scored)
    assert per.loc["fits-a", "sigma"] == pytest.approx(0.6, abs=0.15)
    assert per.loc["fits-b", "sigma"] == pytest.approx(1.0, abs=0.2)
    assert per.loc["fits-a", "tau"] == pytest.approx(0.8, abs=0.3)
    assert per.loc["fits-a", "tau"] > per.loc["fits-b", "tau"]


def test_misfitting_respondents_are_named(scored):
    per = _per_respondent(scored)
    # the respondent's own noise absorbs variants that merely agree more or less than humans;
    # misreading the reversed option order, or ignoring the items, is caught by person fit
    assert per.loc["reversed", "ppp_fit"] < MISFIT_P
    assert per.loc["uniform", "ppp_fit"] < MISFIT_P
    assert per.loc["middle", "ppp_distribution"] < MISFIT_P  # never an outer category
    assert per.loc[["reversed", "uniform", "middle"], "misfit"].all()
    for name in ("reversed", "uniform", "middle"):
        assert any(n.startswith(f"{name}: the item model does not fit") for n in scored.notes)
    assert not any("fits-a: the item model" in n or "fits-b: the item model" in n
                   for n in scored.notes)


def test_reliability_is_high_with_many_ratings_and_zero_without(model, scored):
    fits = scored.table[scored.table["respondent"].str.startswith("fits")]
    assert (fits["reliability"] > 0.5).all()
    empty = pd.DataFrame({"respondent": "nobody", "item_id": ["x"], "variant": ["v1"],
                          "rating": [np.nan]})
    res = score(model, empty, n_item_draws=4, n_per_draw=200, seed=1, progress=False)
    assert res.table["reliability"].abs().max() < 0.15  # posterior = prior
    # the prior decides everything: log sd changes by 0.5 per unit of log power
    assert res.table["prior_sensitivity"].min() > SENSITIVE_SHIFT
    assert any("prior-sensitive" in n for n in res.notes)


def test_prior_sensitivity_of_gaussians():
    """Posterior N(0, 1 / (d + p)) with prior precision p: power a gives variance
    1 / (d + a p), so the sensitivity is max_a |log((d + p) / (d + a p))| / (2 |log a|)
    (about half the prior's share of the precision)."""
    rng = np.random.default_rng(0)
    for d, p in [(9.0, 1.0), (1.0, 1.0), (0.0, 1.0)]:
        x = rng.standard_normal((200_000, 1)) / np.sqrt(d + p)
        log_prior = -0.5 * p * x[:, 0] ** 2
        expected = max(abs(np.log((d + p) / (d + a * p))) / (2 * abs(np.log(a)))
                       for a in (0.5, 2.0))
        got = prior_sensitivity(x, log_prior)[0]
        assert got == pytest.approx(expected, abs=0.03)


def test_respondents_far_out_are_not_flagged_for_the_items_uncertainty(sim):
    """Item parameters known only up to a posterior spread, respondents at twice the human
    spread, ratings from the marginal scoring's own form (the items' parameters a fresh draw
    of their posterior): not flagged. Before session 19 every replication evaluated the
    observed ratings under one item draw, whose differences from the items that produced
    them (times |theta|) its replicates never had, and all four were flagged."""
    jitter = 0.3
    model = _fake_model(sim.truth, n_draws=40, jitter=jitter)  # draws: truth + jitter noise
    true_beta, true_b = sim.truth["beta"].values, sim.truth["b"].values
    kappa = sim.truth["kappa"].values
    rng = np.random.default_rng(7)
    items = [str(i) for i in sim.truth[dims.ITEM].values]
    frames = []
    for name in ("far-a", "far-b", "far-c", "far-d"):
        # one more draw of the items' 'posterior' (truth + jitter noise), fresh per respondent
        beta = true_beta + jitter * rng.standard_normal(true_beta.shape)
        b = true_b + jitter * rng.standard_normal(len(items))
        theta = 2.0 * rng.standard_normal(beta.shape[1])
        eta = beta @ theta + b + 0.5 * rng.standard_normal(len(items))
        latent = eta[:, None] + 0.7 * rng.logistic(size=(len(items), len(VARIANTS)))
        y = (latent[..., None] > kappa).sum(-1) + 1
        frames.append(pd.DataFrame({"respondent": name,
                                    "item_id": np.repeat(items, len(VARIANTS)),
                                    "variant": np.tile(VARIANTS, len(items)),
                                    "rating": y.ravel().astype(float)}))
    res = score(model, pd.concat(frames, ignore_index=True), n_item_draws=40, seed=1,
                progress=False)
    per = _per_respondent(res)
    print(per[["ppp_agreement", "ppp_distribution", "ppp_fit", "misfit"]])
    assert not per["misfit"].any()
