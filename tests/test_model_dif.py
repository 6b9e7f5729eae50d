"""Differential item functioning: the model's DIF terms, their log-likelihood, recovery."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.build import build_model
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.data import prepare_data
from vp_bayes.model.diagnostics import _eta_draws
from vp_bayes.model.likelihood import category_logp_np
from vp_bayes.wave.simulate import simulate_wave

EXACT_DIF = ModelConfig(value_input="exact", dif_axis="gender")


@pytest.fixture(scope="module")
def sim():
    """A small prescored wave (values as exact covariates) with 3 planted DIF items."""
    return simulate_wave(n_participants=80, n_items=15, items_per_participant=10, seed=5,
                         n_llm=0, personas=False, prescored=True, dif_items=3, dif_size=1.0)


def test_planting_dif_changes_only_the_planted_items():
    kw = dict(n_participants=60, n_items=12, items_per_participant=8, seed=9, n_llm=0,
              personas=False, prescored=True)
    plain, planted = simulate_wave(**kw), simulate_wave(**kw, dif_items=2, dif_size=3.0)
    a, b = plain.wave.ratings, planted.wave.ratings
    same_item = ~a["item_id"].isin(["item001", "item002"]).to_numpy()
    assert (a["rating"].to_numpy()[same_item] == b["rating"].to_numpy()[same_item]).all()
    assert (a["rating"].to_numpy()[~same_item] != b["rating"].to_numpy()[~same_item]).any()
    dif = planted.truth["dif_location"].values
    np.testing.assert_allclose(dif[:2], [[-1.5, 1.5]] * 2)
    assert not dif[2:].any()


def test_dif_terms_sum_to_zero_over_groups(sim):
    model = build_model(sim.wave, EXACT_DIF)
    prior = pm.sample_prior_predictive(draws=100, model=model, random_seed=2,
                                       var_names=["dif_location", "dif_loading"],
                                       compile_kwargs={"mode": "FAST_COMPILE"})["prior"]
    for name in ("dif_location", "dif_loading"):
        np.testing.assert_allclose(prior[name].sum("group_gender"), 0.0, atol=1e-10)
        assert float(np.abs(prior[name]).max()) > 0


def test_rating_log_likelihood_applies_dif_like_the_model(sim):
    """The diagnostics' log-likelihood (LOO, predictive checks) equals the model's at a point
    where every DIF effect is far from zero."""
    data = prepare_data(sim.wave, EXACT_DIF)
    model = build_model(sim.wave, EXACT_DIF)
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(0, 0.7, np.shape(v)) for k, v in model.initial_point().items()}
    for name in ("dif_location_sd_log__", "dif_loading_sd_log__"):
        point[name] = np.log(1.0)  # far above the prior's scale, so the effects are large
    names = ["beta", "b", "kappa", "alpha", "dif_location", "dif_loading"]
    graphs = model.replace_rvs_by_values([model[n] for n in names])
    values = model.compile_fn(graphs, inputs=model.value_vars, on_unused_input="ignore",
                              mode="FAST_COMPILE")(point)
    assert np.abs(values[4]).max() > 0.3 and np.abs(values[5]).max() > 0.1
    post = xr.Dataset({n: (("chain", "draw", *model.named_vars_to_dims[n]), v[None, None])
                       for n, v in zip(names, values, strict=True)})
    const = xr.Dataset({"rating_participant": ("rating", data.rating_participant),
                        "rating_item": ("rating", data.rating_item),
                        "values_z": ((dims.PARTICIPANT, dims.VALUE), data.values_z),
                        "dif_group": ((dims.PARTICIPANT,), data.dif.codes)})
    eta, cuts = _eta_draws(post, const, EXACT_DIF, np.array([0]))
    logp = category_logp_np(eta, cuts)[0, np.arange(eta.shape[1]), data.rating_y].sum()
    y_logp = model.compile_fn(model.logp(vars=[model["y"]], sum=True),
                              inputs=model.value_vars, on_unused_input="ignore",
                              mode="FAST_COMPILE")(point)
    np.testing.assert_allclose(logp, y_logp, rtol=1e-9)


def test_dif_bad_settings(sim):
    with pytest.raises(InputError, match=r"participants.csv, field 'nation'"):
        prepare_data(sim.wave, ModelConfig(value_input="exact", dif_axis="nation"))
    one_group = sim.wave.participants.assign(gender="female")
    with pytest.raises(InputError, match="at least two groups"):
        prepare_data(replace(sim.wave, participants=one_group), EXACT_DIF)
    with pytest.raises(InputError, match="dif_axis"):
        build_model(sim.wave, EXACT_DIF, fused=True)
    with pytest.raises(InputError, match="dif_axis"):
        ModelConfig(dif_axis=3).validate()


@pytest.mark.slow
def test_planted_dif_is_recovered_without_false_alarms():
    """300 participants x 60 items (200 ratings per item), 6 items with a 1.5-logit location
    difference between genders: real nutpie fit, ROPE decisions of dif_table."""
    from vp_bayes.model.dif import dif_table, flagged_items
    from vp_bayes.model.fit import fit_wave

    sim = simulate_wave(n_participants=300, n_items=60, items_per_participant=40, seed=31,
                        n_llm=0, personas=False, prescored=True, dif_items=6, dif_size=1.5)
    fit = fit_wave(sim.wave, EXACT_DIF, SamplerConfig(draws=300, tune=300, chains=2),
                   progress=False, ppc_draws=20)
    table = dif_table(fit)
    loc = table[table["kind"] == "location"].set_index("item_id")
    truth = sim.truth["dif_location"].values
    true_diff = truth[:, 0] - truth[:, 1]  # female - male, groups in sorted order
    planted = true_diff != 0
    assert list(loc["group_a"].unique()) == ["female"]
    # no item without DIF is flagged, by location or by loading
    assert not set(flagged_items(table)) & set(loc.index[~planted])
    # planted items: right sign, most intervals exclude zero, at least half flagged
    assert (np.sign(loc["mean"].to_numpy()[planted]) == np.sign(true_diff[planted])).all()
    assert (loc["upper"].to_numpy()[planted] < 0).sum() >= 4
    assert (loc["flag"].to_numpy()[planted] == "dif").sum() >= 3
