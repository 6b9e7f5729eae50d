"""Warm-started mean-field ADVI: exact on a Gaussian posterior, correct transforms and dims,
and the item model's ADVI fit saved and loaded like any other."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.fit import fit_wave
from vp_bayes.model.io import load_model, save_model
from vp_bayes.model.variational import AdviSettings, fit_meanfield, meanfield_posterior
from vp_bayes.wave.simulate import simulate_wave


def _conjugate(n: int = 40):
    """mu ~ N(0, 3), y ~ N(mu, 1): the posterior of mu is Gaussian with known moments."""
    y = np.random.default_rng(0).normal(1.3, 1.0, size=n)
    with pm.Model(coords={"obs": np.arange(n)}) as model:
        mu = pm.Normal("mu", 0.0, 3.0)
        pm.Normal("y", mu, 1.0, observed=y, dims="obs")
    precision = 1 / 9 + n
    return model, y.sum() / precision, precision**-0.5


def test_exact_on_a_gaussian_posterior():
    model, mean, sd = _conjugate()
    approx = fit_meanfield(model, AdviSettings(steps=3000, learning_rate=0.02, seed=1))
    np.testing.assert_allclose(approx.mean[0], mean, atol=0.01)
    np.testing.assert_allclose(approx.sd[0], sd, rtol=0.1)
    # The ELBO estimate improves from the start to the end of the run.
    assert approx.elbo_trace[-1] > approx.elbo_trace[0]


def test_draws_are_constrained_and_carry_the_model_dims():
    with pm.Model(coords={"g": ["a", "b", "c"]}) as model:
        sigma = pm.HalfNormal("sigma", 1.0)
        effect = pm.Normal("effect", 0.0, sigma, dims="g")
        pm.Deterministic("double", 2 * effect, dims="g")
        pm.Normal("y", effect, 0.5, observed=np.array([0.4, -0.2, 0.9]), dims="g")
    approx = fit_meanfield(model, AdviSettings(steps=500, seed=2))
    post = meanfield_posterior(model, approx, draws=200, seed=3)
    assert set(post.data_vars) == {"sigma", "effect", "double"}
    assert post["effect"].dims == ("chain", "draw", "g")
    assert list(post["g"].values) == ["a", "b", "c"]
    assert float(post["sigma"].min()) > 0  # back-transformed from log space
    np.testing.assert_allclose(post["double"], 2 * post["effect"])
    # The draws' spread is the fitted scale (sigma's is in log space).
    log_sd = float(np.log(post["sigma"]).std())
    assert log_sd == pytest.approx(approx.sd[0], rel=0.15)


def test_item_model_advi_fit_saves_and_loads(tmp_path):
    sim = simulate_wave(n_participants=60, n_items=12, items_per_participant=8, seed=7,
                        n_llm=1, personas=False)
    model = fit_wave(sim.wave, ModelConfig(),
                     SamplerConfig(sampler="advi", advi_iterations=400, draws=50, chains=2,
                                   seed=7), progress=False, ppc_draws=20)
    post = model.posterior
    assert post["beta"].dims == ("chain", "draw", "item", "value")
    assert post.sizes["draw"] == 100
    assert post["beta"].std(("chain", "draw")).min() > 0
    loaded = load_model(save_model(model, tmp_path / "advi.nc"))
    np.testing.assert_allclose(loaded.posterior["beta"], post["beta"])
    assert loaded.sampler_config.sampler == "advi"
