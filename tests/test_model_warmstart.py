"""NUTS started from the ADVI fit: which models use it, that each chain gets its own start
drawn from the approximation, and that sampling from there is still exact."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

import vp_bayes.model.warmstart as warmstart
from vp_bayes.model.build import build_model
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.fit import fit_wave, resolve_init
from vp_bayes.model.io import load_model, save_model
from vp_bayes.model.variational import MeanField
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def latent():
    return simulate_wave(n_participants=60, n_items=12, items_per_participant=8, seed=21,
                         n_llm=1, personas=False)


@pytest.fixture(scope="module")
def prescored():
    return simulate_wave(n_participants=60, n_items=12, items_per_participant=8, seed=22,
                         n_llm=1, personas=False, prescored=True)


def test_auto_uses_advi_only_for_latent_values_under_nutpie(latent, prescored):
    latent_model = build_model(latent.wave, ModelConfig())
    exact_model = build_model(prescored.wave, ModelConfig(value_input="exact"))
    assert resolve_init(latent_model, SamplerConfig()) == "advi"
    assert resolve_init(exact_model, SamplerConfig()) == "jitter"
    assert resolve_init(latent_model, SamplerConfig(sampler="pymc")) == "jitter"
    assert resolve_init(latent_model, SamplerConfig(init="jitter")) == "jitter"
    assert resolve_init(exact_model, SamplerConfig(init="advi")) == "advi"


def test_starts_are_independent_draws_from_the_approximation():
    approx = MeanField(np.array([1.0, -2.0, 3.0]), np.array([0.1, 0.2, 0.3]), np.array([]),
                       0.0, 0.0)
    start = warmstart.meanfield_starts(approx)
    draws = np.stack([start(seed) for seed in range(2000)])
    np.testing.assert_allclose(draws.mean(0), approx.mean, atol=0.03)
    np.testing.assert_allclose(draws.std(0), approx.sd, rtol=0.08)
    np.testing.assert_array_equal(start(5), start(5))


def test_each_chain_starts_at_its_own_draw_and_samples_the_posterior(monkeypatch):
    """Conjugate normal: nutpie started far out (ADVI mean at +5 SD) still samples the exact
    posterior, and every chain asked for its own start."""
    y = np.random.default_rng(0).normal(1.3, 1.0, size=40)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 3.0)
        pm.Normal("y", mu, 1.0, observed=y)
    precision = 1 / 9 + len(y)
    post_mean, post_sd = y.sum() / precision, precision**-0.5
    approx = MeanField(np.array([post_mean + 5 * post_sd]), np.array([0.01]), np.array([]),
                       0.0, 0.0)
    calls: list[np.ndarray] = []
    real = warmstart.meanfield_starts

    def recording(a):
        fn = real(a)

        def start(seed=None):
            calls.append(fn(seed))
            return calls[-1]

        return start

    monkeypatch.setattr(warmstart, "meanfield_starts", recording)
    idata = warmstart.sample_nutpie_from(model, approx, draws=1500, tune=300, chains=3,
                                         seed=4, progress=False)
    starts = np.concatenate(calls)
    assert len(np.unique(starts)) >= 3  # one start per chain, all different
    assert np.all(np.abs(starts - approx.mean) < 0.05)  # drawn from the approximation
    draws = idata["posterior"]["mu"]
    assert draws.sizes == {"chain": 3, "draw": 1500}
    assert float(draws.mean()) == pytest.approx(post_mean, abs=0.03)
    assert float(draws.std()) == pytest.approx(post_sd, rel=0.1)


def test_item_model_fit_from_advi_starts(latent, tmp_path):
    model = fit_wave(latent.wave, ModelConfig(),
                     SamplerConfig(draws=100, tune=150, chains=2, advi_iterations=300, seed=3),
                     progress=False, ppc_draws=20)
    post = model.posterior
    assert post["beta"].dims == ("chain", "draw", "item", "value")
    assert post.sizes["draw"] == 100
    assert int(model.idata["sample_stats"]["diverging"].sum()) == 0
    assert model.sampler_config.init == "auto"
    assert model.idata.attrs["chain_start"] == "advi"
    save_model(model, tmp_path / "m.nc")
    assert "chains started at their own draws from a mean-field ADVI fit" in (
        tmp_path / "m.md").read_text()
    assert load_model(tmp_path / "m.nc").idata.attrs["chain_start"] == "advi"
