"""The data's information about each loading, which sets the partially centred coordinates
(``loading_parameterization = "partial"``; the prior they keep is tested in
test_model_build)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vp_bayes.model.config import ModelConfig
from vp_bayes.model.data import prepare_data
from vp_bayes.model.likelihood import category_logp_np
from vp_bayes.model.partial import loading_likelihood_sd, ordinal_information
from vp_bayes.wave.simulate import simulate_wave


def _information_by_differences(p: np.ndarray) -> float:
    """E[(d/d eta log P(y | eta))^2] at eta = 0 with cutpoints at the logits of the
    cumulative probabilities ``p``, by central differences of the category log-probabilities."""
    cum = np.cumsum(p)[:-1]
    cuts = np.log(cum / (1.0 - cum))
    h = 1e-5
    score = (category_logp_np(np.array(h), cuts) - category_logp_np(np.array(-h), cuts)) / (2 * h)
    return float((p * score**2).sum())


@pytest.mark.parametrize("counts", [[5, 9, 20, 30, 9, 3], [40, 0, 0, 0, 0, 1], [7, 7]])
def test_ordinal_information_is_the_expected_squared_score(counts):
    """The closed form equals the Fisher information computed from the likelihood's own
    category probabilities, for each item's smoothed category frequencies."""
    counts = np.asarray(counts)
    k = len(counts)
    y = np.repeat(np.arange(k), counts)
    item = np.zeros(len(y), dtype=int)
    got = ordinal_information(y, item, 1, k)
    p = (counts + 0.5) / (counts + 0.5).sum()
    assert got[0] == pytest.approx(_information_by_differences(p), rel=1e-6)
    # coarsening loses information: at most the logistic location's own, 1/3
    assert 0.0 < got[0] < 1.0 / 3.0


def test_likelihood_sd_sums_each_items_raters_values():
    """Exact values: sigma_jv^-2 = I_j * sum of theta_iv^2 over item j's raters; latent
    values count each rater once; an item nobody rated gets a wide, finite sd."""
    sim = simulate_wave(n_participants=50, n_items=6, items_per_participant=4, seed=5,
                        n_llm=1, personas=False, prescored=True)
    data = prepare_data(sim.wave, ModelConfig(value_input="exact"))
    sd = loading_likelihood_sd(data)
    info = ordinal_information(data.rating_y, data.rating_item, len(data.items),
                               data.n_categories)
    theta = data.covariates
    for j in range(len(data.items)):
        raters = data.rating_participant[data.rating_item == j]
        np.testing.assert_allclose(sd[j] ** -2, info[j] * (theta[raters] ** 2).sum(axis=0))
    latent = prepare_data(sim.wave, ModelConfig(value_input="latent"))
    n_j = np.bincount(latent.rating_item, minlength=len(latent.items))
    np.testing.assert_allclose(loading_likelihood_sd(latent) ** -2,
                               np.repeat((info * n_j)[:, None], len(latent.values), axis=1))
    kept = data.rating_item != 0
    unrated = replace(data, rating_item=data.rating_item[kept],
                      rating_participant=data.rating_participant[kept],
                      rating_y=data.rating_y[kept])
    assert np.all(np.isfinite(loading_likelihood_sd(unrated)[0]))
    assert np.all(loading_likelihood_sd(unrated)[0] > 100)


def test_the_raw_answer_model_scales_each_deviation_by_its_data_sd():
    """The default raw-answer model (``partial``) reads sigma_jv as model data (no constant
    of the items x values shape in its log density, so waves of one configuration share
    their compiled code), and ``beta_p_z``'s scale is sqrt(1 + (beta_sd / sigma_jv)^2)."""
    import pytensor
    from pytensor.graph.traversal import ancestors

    from vp_bayes.model.build import build_model
    from vp_bayes.model.config import resolve_model_config

    sim = simulate_wave(n_participants=60, n_items=12, items_per_participant=8, seed=11,
                        n_llm=1, personas=False)
    model = build_model(sim.wave, ModelConfig())
    data = prepare_data(sim.wave, resolve_model_config(ModelConfig(), "instrument"))
    sd = loading_likelihood_sd(data)
    np.testing.assert_array_equal(model["data_loading_sd"].get_value(), sd)
    shape = (len(data.items), len(data.values))
    assert not [v for v in ancestors([model.logp()])
                if isinstance(v, pytensor.tensor.TensorConstant) and v.data.shape == shape]
    scale = model["beta_p_z"].owner.inputs[-1]  # StudentT(nu, mu, sigma)
    spread = np.linspace(0.05, 0.5, len(data.values))
    got = pytensor.function([model["beta_sd"]], scale)(spread)
    np.testing.assert_allclose(got, np.sqrt(1.0 + (spread / sd) ** 2), rtol=1e-6)
