"""build_model: structure, identification constraints (checked on prior draws), config errors."""

from __future__ import annotations

import json

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.build import build_model
from vp_bayes.model.config import ModelConfig, SamplerConfig, read_config
from vp_bayes.model.data import null_space, prepare_data
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def sim():
    return simulate_wave(n_participants=60, n_items=12, items_per_participant=8, seed=11,
                         n_llm=1, personas=False)


@pytest.fixture(scope="module")
def sim_prescored():
    return simulate_wave(n_participants=60, n_items=12, items_per_participant=8, seed=12,
                         n_llm=1, personas=False, prescored=True)


# Prior draws are compiled by PyTensor's Python linker: what they test is the model's prior,
# and a Numba compile of each forward-sampling graph costs seconds to tens of seconds.
PRIOR_COMPILE = {"mode": "FAST_COMPILE"}


def _prior(model, names, n=400):
    return pm.sample_prior_predictive(draws=n, model=model, var_names=names, random_seed=1,
                                      compile_kwargs=PRIOR_COMPILE)["prior"].to_dataset()


@pytest.mark.parametrize("value_prior", ["lkj", "inverse_wishart"])
def test_instrument_model_structure(sim, value_prior):
    model = build_model(sim.wave, ModelConfig(value_prior=value_prior))
    names = set(model.named_vars)
    # the inverse-Wishart model draws corr after sampling (fit_wave), from value_scatter
    values = ("corr", "corr_chol") if value_prior == "lkj" else ("value_scale", "value_scatter")
    for name in ("theta", "alpha", "beta", "b", "kappa", "lam", "x", "y",
                 "effect_gender", "effect_age", *values):
        assert name in names, name
    assert model.named_vars_to_dims["beta"] == (dims.ITEM, dims.VALUE)
    assert model.named_vars_to_dims["theta"] == (dims.PARTICIPANT, dims.VALUE)
    assert list(model.coords[dims.VALUE]) == list(dims.VALUES_10)
    if value_prior == "lkj":  # the inverse-Wishart model's: test_model_value_prior.py
        assert np.isfinite(model.compile_logp(mode="FAST_COMPILE")(model.initial_point()))


@pytest.mark.parametrize("value_prior", ["lkj", "inverse_wishart"])
def test_identification_constraints_hold_on_prior_draws(sim, value_prior):
    """Prior draws of both value priors (the inverse-Wishart one draws Sigma, then the values)
    keep the constraints that identify the model."""
    model = build_model(sim.wave, ModelConfig(value_prior=value_prior))
    prior = _prior(model, ["effect_gender", "effect_age", "lam", "kappa", "theta"]
                   + (["corr"] if value_prior == "lkj" else []))
    if value_prior == "lkj":
        corr = prior["corr"].values
        np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0, atol=1e-10)
        assert np.all(np.linalg.eigvalsh(corr) > 0)
    for axis in ("gender", "age"):
        np.testing.assert_allclose(prior[f"effect_{axis}"].sum(f"group_{axis}"), 0.0,
                                   atol=1e-10)
    assert np.all(prior["lam"].values > 0)
    assert np.all(np.diff(prior["kappa"].values, axis=-1) > 0)
    # Location and scale of theta: mean 0 and SD near 1 (plus group-effect variance).
    theta = prior["theta"].values.reshape(-1, len(dims.VALUES_10))
    assert abs(theta.mean()) < 0.05
    assert 0.9 < theta.std() < 1.5


def test_graded_form_has_ordered_item_cutpoints(sim):
    model = build_model(sim.wave, ModelConfig(thresholds="item"))
    assert "b" not in model.named_vars
    prior = _prior(model, ["kappa"], n=100)
    assert prior["kappa"].dims[-2:] == (dims.ITEM, dims.CUTPOINT)
    assert np.all(np.diff(prior["kappa"].values, axis=-1) > 0)


def test_ipsative_values_project_loadings(sim_prescored, ipsative_wave):
    data = prepare_data(sim_prescored.wave, ModelConfig())
    assert data.value_input == "latent"  # PVQ-RR MRAT with face is not rank-deficient
    ipsative = ipsative_wave  # each person's mean over the 10 values removed
    data = prepare_data(ipsative, ModelConfig())
    assert data.value_input == "calibrated"  # auto: measured with error, in their subspace
    assert data.value_null_space.shape == (10, 1)
    for mode in ("exact", "calibrated"):
        model = build_model(ipsative, ModelConfig(value_input=mode))
        beta = _prior(model, ["beta"], n=50)["beta"].values
        np.testing.assert_allclose(beta @ data.value_null_space, 0.0, atol=1e-9)


def test_auto_geometry_follows_the_resolved_value_input(sim, sim_prescored, ipsative_wave):
    """``auto`` loadings and sampler settings: the calibrated geometry (scale-mixture
    loadings, target 0.9) only where the values resolve to calibrated."""
    from vp_bayes.model.config import resolve_model_config, resolve_sampler_config

    wave, ipsative = sim_prescored.wave, ipsative_wave
    for config in (ModelConfig(), ModelConfig(value_input="calibrated")):  # auto: calibrated
        model = build_model(ipsative, config)
        assert "beta_mix" in model.named_vars
        assert type(model["beta_sd"].owner.op).__name__ == "GammaRV"  # the spreads' prior
    for config in (ModelConfig(value_input="exact"),
                   ModelConfig(value_input="calibrated", loading_prior="normal")):
        assert "beta_mix" not in build_model(ipsative, config).named_vars
    assert "beta_mix" not in build_model(wave, ModelConfig()).named_vars  # latent

    assert resolve_model_config(ModelConfig(), "calibrated").loading_parameterization == \
        "mixture"
    for mode in ("exact", "latent"):
        assert resolve_model_config(ModelConfig(), mode).loading_parameterization == \
            "noncentered"
    # raw answers: deviations partially centred by the data, except under the horseshoe
    assert resolve_model_config(ModelConfig(), "instrument").loading_parameterization == \
        "partial"
    assert "beta_p_z" in build_model(sim.wave, ModelConfig()).named_vars
    assert resolve_model_config(ModelConfig(loading_prior="horseshoe"),
                                "instrument").loading_parameterization == "noncentered"
    explicit = ModelConfig(loading_parameterization="centered", value_prior="lkj",
                           loading_scale_family="half_normal",
                           style_parameterization="noncentered", integrate_scales=False)
    assert resolve_model_config(explicit, "calibrated") is explicit
    # the zero-sum blocks' scales: integrated out for raw answers only, never under anchored
    # styles (which sample theirs), and as set where the config sets them
    assert resolve_model_config(ModelConfig(), "instrument").integrate_scales is True
    for mode in ("exact", "latent", "calibrated", None):
        assert resolve_model_config(ModelConfig(), mode).integrate_scales is False
    anchored = ModelConfig(style_parameterization="anchored")
    assert resolve_model_config(anchored, "calibrated").integrate_scales is False
    assert resolve_model_config(ModelConfig(integrate_scales=False),
                                "instrument").integrate_scales is False
    assert resolve_model_config(ModelConfig(integrate_scales=True),
                                "exact").integrate_scales is True
    raw_model = build_model(sim.wave, ModelConfig())
    sampled = {v.name for v in raw_model.free_RVs}
    assert {"b", "alpha"} <= sampled and not {"sigma_b", "sigma_alpha"} & sampled
    # the values' prior: inverse-Wishart for raw answers, LKJ for pre-scored values
    assert resolve_model_config(ModelConfig(), "instrument").value_prior == "inverse_wishart"
    for mode in ("exact", "latent", "calibrated"):
        assert resolve_model_config(ModelConfig(), mode).value_prior == "lkj"
    # the loadings' spreads: gamma for calibrated values and raw answers, half-normal for the
    # others, unless the config sets one family's number
    for mode in ("calibrated", "instrument"):
        assert resolve_model_config(ModelConfig(), mode).loading_scale_family == "gamma"
    for mode in ("exact", "latent"):
        assert resolve_model_config(ModelConfig(), mode).loading_scale_family == "half_normal"
    assert resolve_model_config(ModelConfig(loading_scale_prior=0.3),
                                "calibrated").loading_scale_family == "half_normal"
    assert resolve_model_config(ModelConfig(loading_scale_rate=3.0),
                                "exact").loading_scale_family == "gamma"
    assert "theta_raw" in build_model(sim.wave, ModelConfig()).named_vars
    assert "corr_chol" in build_model(wave, ModelConfig()).named_vars  # pre-scored, latent
    cal = resolve_sampler_config(SamplerConfig(), "calibrated")
    assert (cal.target_accept, cal.low_rank_modified_mass_matrix) == (0.9, False)
    raw = resolve_sampler_config(SamplerConfig(), "instrument")
    assert (raw.target_accept, raw.low_rank_modified_mass_matrix) == (0.65, False)
    for mode in ("exact", "latent", None):
        other = resolve_sampler_config(SamplerConfig(), mode)
        assert (other.target_accept, other.low_rank_modified_mass_matrix) == (0.8, False)
    mine = SamplerConfig(target_accept=0.95, low_rank_modified_mass_matrix=False,
                         fused_likelihood=False)
    assert resolve_sampler_config(mine, "calibrated") == mine


def test_prepare_fit_resolves_the_configs_for_the_wave(sim, ipsative_wave):
    """``fit.prepare_fit`` (``fit_wave``'s start): the configs resolved for the wave's value
    input, and the model built with them (fused, except for numpyro)."""
    from vp_bayes.model.fit import prepare_fit

    raw = prepare_fit(sim.wave)
    assert raw.data.value_input == "instrument"
    assert raw.model_config.value_prior == "inverse_wishart"
    assert (raw.sampler_config.target_accept, raw.sampler_config.fused_likelihood) == (0.65, True)
    assert "theta_raw" in raw.model.named_vars
    assert "rating" not in raw.model.coords  # the fused model: no per-rating graph
    cal = prepare_fit(ipsative_wave, sampler_config=SamplerConfig(sampler="numpyro"))
    assert cal.data.value_input == "calibrated"
    assert cal.model_config.loading_parameterization == "mixture"
    assert "beta_mix" in cal.model.named_vars
    assert "rating" in cal.model.coords  # the graph model, which JAX differentiates
    assert (cal.sampler_config.target_accept, cal.sampler_config.fused_likelihood) == (0.9, False)


def test_fused_likelihood_resolves_to_where_the_fused_ops_apply():
    """Unset, the fused likelihood is chosen for every sampler but numpyro (no JAX
    implementation) and every model without DIF terms; a setting given is kept."""
    from vp_bayes.model.config import resolve_sampler_config

    def fused(sampler_config, model_config=None):
        return resolve_sampler_config(sampler_config, "latent", model_config).fused_likelihood

    assert fused(SamplerConfig()) is True
    assert fused(SamplerConfig(sampler="pymc")) is True
    assert fused(SamplerConfig(sampler="numpyro")) is False
    assert fused(SamplerConfig(), ModelConfig(dif_axis="gender")) is False
    assert fused(SamplerConfig(), ModelConfig()) is True
    assert fused(SamplerConfig(fused_likelihood=False)) is False
    assert fused(SamplerConfig(fused_likelihood=True), ModelConfig(dif_axis="gender")) is True


def test_null_space_empty_for_full_rank():
    rng = np.random.default_rng(0)
    assert null_space(rng.normal(size=(200, 5))).shape == (5, 0)


def test_value_input_needs_matching_data(sim):
    with pytest.raises(InputError, match="value_input='exact' needs pre-scored values"):
        prepare_data(sim.wave, ModelConfig(value_input="exact"))


def test_config_errors_name_the_field(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"model": {"thresholds": "shared", "bogus": 1}}))
    with pytest.raises(InputError, match=r"cfg.json, field 'bogus'"):
        read_config(path)
    path.write_text(json.dumps({"sampler": {"draws": 10, "speed": "fast"}}))
    with pytest.raises(InputError, match=r"field 'sampler.speed'"):
        read_config(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match=r"cfg.json: invalid JSON \(.*line 1 column 2\)"):
        read_config(path)
    path.write_text(json.dumps({"model": {"reliability": 1.5}}))
    with pytest.raises(InputError, match="field 'reliability'"):
        read_config(path)
    for field, bad in (("advi_learning_rate", -0.1), ("draws", 0), ("advi_iterations", 0),
                       ("advi_map_iterations", -1), ("sampler", "gibbs"), ("init", "zero")):
        path.write_text(json.dumps({"sampler": {field: bad}}))
        with pytest.raises(InputError, match=rf"cfg.json, field '{field}'"):
            read_config(path)
    path.write_text(json.dumps({"sampler": {"sampler": "pymc", "init": "advi"}}))
    with pytest.raises(InputError, match=r"field 'init'.*nutpie sampler only"):
        read_config(path)
    path.write_text(json.dumps({"model": {"thresholds": "item"}, "sampler": {"draws": 7}}))
    cfg = read_config(path)
    assert cfg.model.thresholds == "item" and cfg.sampler.draws == 7


def test_build_model_rejects_an_invalid_config(sim):
    # A misspelt threshold form must not be taken silently as per-item thresholds.
    with pytest.raises(InputError, match="field 'thresholds'"):
        build_model(sim.wave, ModelConfig(thresholds="graded"))


def _lkj_moments(n: int, eta: float) -> tuple[float, float]:
    """The LKJ(eta) prior's variance of every correlation and its mean log det R, from its
    known marginals (Lewandowski, Kurowicka and Joe 2009): each correlation is 2 Beta(b, b) - 1
    with b = eta - 1 + n / 2, and det R is the product over the C-vine's levels k = 1..n-1 of
    the n - k factors (1 - rho^2), each rho = 2 Beta(b_k, b_k) - 1 with
    b_k = eta + (n - 1 - k) / 2, so E log(1 - rho^2) = log 4 + 2 (digamma(b_k) - digamma(2 b_k))."""
    from scipy.special import digamma

    b = eta - 1 + n / 2
    logdet = 0.0
    for k in range(1, n):
        b_k = eta + (n - 1 - k) / 2
        logdet += (n - k) * (np.log(4) + 2 * (digamma(b_k) - digamma(2 * b_k)))
    return 1 / (2 * b + 1), float(logdet)


def test_value_correlation_prior_is_the_lkj_when_sampled(sim):
    """NUTS on the model's correlation prior (the builder the latent values use) gives the
    LKJ's marginals: without the Jacobian from the Cholesky factor to R, PyMC 6.3's LKJCorr
    gave the first correlation a prior variance of 0.19 (LKJ: 0.077) and a mean log det R of
    -8.3 (LKJ: -5.5), and it favoured near-singular matrices."""
    from vp_bayes.model.build import lkj_correlation

    n, eta = 10, 2.0
    with pm.Model(coords={dims.VALUE: range(n), f"{dims.VALUE}_b": range(n)}) as model:
        lkj_correlation(n, eta)
    post = pm.sample(draws=1500, tune=500, chains=2, cores=1, nuts_sampler="nutpie",
                     model=model, random_seed=3, progressbar=False)["posterior"]
    corr = post["corr"].values.reshape(-1, n, n)
    var, logdet = _lkj_moments(n, eta)
    rows, cols = np.tril_indices(n, -1)
    variances = corr[:, rows, cols].var(axis=0)
    np.testing.assert_allclose(variances.mean(), var, rtol=0.05)
    np.testing.assert_allclose(variances, var, rtol=0.3)  # every pair: order-free
    assert abs(np.linalg.slogdet(corr)[1].mean() - logdet) < 0.3
    lkj = ModelConfig(value_prior="lkj")
    assert "corr_chol_jacobian" in build_model(sim.wave, lkj).named_vars


@pytest.mark.parametrize("prior", ["student_t", "normal"])
def test_centered_and_noncentered_loadings_have_the_same_prior(sim, prior):
    """Only the geometry differs: the prior of beta (spread over items, and its tail)
    agrees; the Student-t's scale mixture is a third geometry of the same prior, and the
    deviations partially centred by the data (``partial``) a fourth and fifth."""
    spreads = {}
    parameterizations = ("noncentered", "centered", "partial") + (
        ("mixture", "partial_mixture") if prior == "student_t" else ())
    for par in parameterizations:
        model = build_model(sim.wave, ModelConfig(loading_prior=prior,
                                                  loading_parameterization=par))
        assert ("beta_c_z" in model.named_vars) == (par == "centered")
        assert ("beta_p_z" in model.named_vars) == par.startswith("partial")
        assert ("beta_mix" in model.named_vars) == par.endswith("mixture")
        beta = _prior(model, ["beta"], n=2000)["beta"].values  # (chain, draw, item, value)
        dev = np.abs(beta - beta.mean(axis=2, keepdims=True))
        spreads[par] = np.quantile(dev, [0.5, 0.95])
    for par in parameterizations[1:]:
        np.testing.assert_allclose(spreads[par], spreads["noncentered"], rtol=0.1, err_msg=par)
    with pytest.raises(InputError, match="loading_parameterization"):
        ModelConfig(loading_parameterization="mixed").validate()
    if prior == "normal":
        for par in ("mixture", "partial_mixture"):
            with pytest.raises(InputError, match="loading_parameterization.*student_t"):
                ModelConfig(loading_prior=prior, loading_parameterization=par).validate()
    with pytest.raises(InputError, match="loading_parameterization.*noncentered only"):
        ModelConfig(loading_prior="horseshoe", loading_parameterization="partial").validate()


@pytest.mark.parametrize("thresholds", ["shared", "item"])
@pytest.mark.parametrize("density", [0.0, 1e9])  # dense product / gathered rows
def test_observed_logp_equals_a_direct_numpy_computation(sim, thresholds, density,
                                                         monkeypatch):
    """The vectorised likelihood (dense or gathered predictor, cutpoint tables indexed per
    observation) gives exactly the sum of per-observation category log-probabilities."""
    from vp_bayes.model import build as build_mod
    from vp_bayes.model.likelihood import category_logp_np

    monkeypatch.setattr(build_mod, "DENSE_DENSITY", density)
    config = ModelConfig(thresholds=thresholds)
    model = build_model(sim.wave, config)
    data = prepare_data(sim.wave, config)
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.3, size=np.shape(v))
             for k, v in model.initial_point().items()}
    names = ["theta", "alpha", "beta", "kappa", "lam", "c"] + (["b"] if thresholds == "shared"
                                                                else [])
    outs = model.replace_rvs_by_values([model[n] for n in names])
    fn = pytensor.function(model.value_vars, outs, on_unused_input="ignore", mode="FAST_COMPILE")
    got = dict(zip(names, fn(*[point[v.name] for v in model.value_vars]), strict=True))
    i, j, y = data.rating_participant, data.rating_item, data.rating_y
    eta = (got["beta"][j] * got["theta"][i]).sum(-1) + got["alpha"][i]
    if thresholds == "shared":
        lp_y = category_logp_np(eta + got["b"][j], got["kappa"])
    else:
        lp_y = category_logp_np(eta, got["kappa"][j])
    ins = data.instrument
    eta_x = (got["lam"][ins.question] * got["theta"][ins.participant,
                                                      ins.question_value[ins.question]]
             + got["alpha"][ins.participant])
    lp_x = category_logp_np(eta_x, got["c"][ins.question])
    for name, lp, obs in (("y", lp_y, y), ("x", lp_x, ins.y)):
        want = lp[np.arange(obs.size), obs].sum()
        have = model.compile_logp(vars=[model[name]], mode="FAST_COMPILE")(point)
        np.testing.assert_allclose(have, want, rtol=1e-10, err_msg=name)


@pytest.mark.parametrize("thresholds", ["shared", "item"])
def test_prior_predictive_draws_answers_and_ratings(sim, thresholds):
    model = build_model(sim.wave, ModelConfig(thresholds=thresholds))
    pred = pm.sample_prior_predictive(draws=10, model=model, var_names=["x", "y"],
                                      random_seed=2, compile_kwargs=PRIOR_COMPILE
                                      )["prior_predictive"].to_dataset()
    data = prepare_data(sim.wave, ModelConfig(thresholds=thresholds))
    assert pred["y"].shape == (1, 10, data.rating_y.size)
    assert pred["x"].shape == (1, 10, data.instrument.y.size)
    for name in ("x", "y"):
        values = np.unique(pred[name].values)
        assert values.min() >= 0 and values.max() <= 5 and values.size > 2, name


@pytest.fixture(scope="module")
def ipsative_wave(sim_prescored):
    """The prescored simulated wave made exactly ipsative (each person's mean value removed)."""
    from dataclasses import replace

    wave = sim_prescored.wave
    vals = wave.values.copy()
    cols = list(dims.VALUES_10)
    vals[cols] = vals[cols].sub(vals[cols].mean(axis=1), axis=0)
    return replace(wave, values=vals)


def test_latent_ipsative_values_live_in_their_subspace(ipsative_wave):
    config = ModelConfig(value_input="latent", reliability={
        v: 0.4 + 0.05 * i for i, v in enumerate(dims.VALUES_10)})
    data = prepare_data(ipsative_wave, config)
    assert data.ipsative_latent and data.value_basis.shape == (10, 9)
    np.testing.assert_allclose(data.value_basis.T @ data.value_null_space, 0.0, atol=1e-12)
    model = build_model(ipsative_wave, config)
    assert model.named_vars_to_dims["values_obs"] == (dims.PARTICIPANT, dims.VALUE_BASIS)
    prior = _prior(model, ["theta", "beta"], n=50)
    null = data.value_null_space
    np.testing.assert_allclose(prior["theta"].values @ null, 0.0, atol=1e-9)
    np.testing.assert_allclose(prior["beta"].values @ null, 0.0, atol=1e-9)


def test_latent_ipsative_measurement_density(ipsative_wave):
    """The whitened likelihood equals the density of u = Q'z under
    N(Q'(sqrt(rel) theta), Q' diag(1 - rel) Q), computed here directly with scipy."""
    from scipy.stats import multivariate_normal

    rel = np.linspace(0.45, 0.8, 10)
    config = ModelConfig(value_input="latent", reliability=dict(
        zip(dims.VALUES_10, rel, strict=True)))
    data = prepare_data(ipsative_wave, config)
    model = build_model(ipsative_wave, config)
    point = model.initial_point()
    rng = np.random.default_rng(3)
    point["theta_z"] = rng.normal(size=point["theta_z"].shape)
    fn = {"inputs": model.value_vars, "on_unused_input": "ignore", "mode": "FAST_COMPILE"}
    theta_graph = model.replace_rvs_by_values([model["theta"]])[0]
    theta = model.compile_fn(theta_graph, **fn)(point)
    assert np.abs(theta).max() > 0.1
    logp = model.compile_fn(model.logp(vars=[model["values_obs"]], sum=True), **fn)(point)
    q = data.value_basis
    cov = q.T @ np.diag(1 - rel) @ q
    expected = sum(multivariate_normal(q.T @ (np.sqrt(rel) * t), cov).logpdf(q.T @ z)
                   for t, z in zip(theta, data.values_z, strict=True))
    np.testing.assert_allclose(logp, expected, rtol=1e-9)


def test_latent_ipsative_values_need_every_value(ipsative_wave):
    from dataclasses import replace

    vals = ipsative_wave.values.copy()
    vals.iloc[4, 2] = np.nan
    with pytest.raises(InputError, match=r"centred \(ipsative\) values needs every value"):
        prepare_data(replace(ipsative_wave, values=vals), ModelConfig(value_input="latent"))


def test_horseshoe_loadings(sim):
    config = ModelConfig(loading_prior="horseshoe")
    model = build_model(sim.wave, config)
    assert {"beta_local", "beta_slab2"} <= set(model.named_vars)
    prior = _prior(model, ["beta", "beta_mean"], n=300)
    beta = prior["beta"].values
    assert np.all(np.isfinite(beta))
    # deviations sum to zero over items: the value's mean loading is exactly beta_mean
    np.testing.assert_allclose(beta.mean(axis=-2), prior["beta_mean"].values, atol=1e-10)
    # the slab bounds the largest deviations (a plain horseshoe's half-Cauchy tails do not)
    dev = beta - beta.mean(axis=-2, keepdims=True)
    assert np.quantile(np.abs(dev), 0.999) < 10
    with pytest.raises(InputError, match="loading_parameterization"):
        ModelConfig(loading_prior="horseshoe", loading_parameterization="centered").validate()
    with pytest.raises(InputError, match="horseshoe"):
        ModelConfig(loading_prior="lasso").validate()


# The observation-length arrays each path gives the model (shared thresholds or the items' own).
_LONG_DATA = {"data_y", "data_rating_item", "data_rating_participant", "data_x",
              "data_answer_question"}
_LONG_DATA_OF = {False: _LONG_DATA | {"data_rating_cell", "data_answer_cell"},
                 True: _LONG_DATA | {"data_answer_participant"}}


@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
@pytest.mark.parametrize("thresholds", ["shared", "item"])
def test_observed_arrays_enter_once_as_model_data(sim, thresholds, fused):
    """Ratings, answers and their indices are model data (shared variables, not constants
    frozen into the compiled code), each array once: no observation-length constant in the
    log density, exactly the expected data arrays, no two of them equal (the ratings' item
    index once entered twice, and the fused path once passed a zeros array as data)."""
    from pytensor.graph.traversal import ancestors

    model = build_model(sim.wave, ModelConfig(thresholds=thresholds), fused=fused)
    n_obs = len(sim.wave.ratings)
    constants = [v for v in ancestors([model.logp()])
                 if isinstance(v, pytensor.tensor.TensorConstant)
                 and max(v.data.shape, default=0) >= n_obs]
    assert constants == []
    long = {d.name: np.asarray(d.get_value()) for d in model.data_vars
            if np.size(d.get_value()) >= n_obs}
    assert set(long) == _LONG_DATA_OF[fused]
    names = sorted(long)
    for k, a in enumerate(names):
        assert np.unique(long[a]).size > 1, f"{a} holds one value"
        for b in names[k + 1:]:
            assert not (long[a].shape == long[b].shape and np.array_equal(long[a], long[b])), (
                f"{a} and {b} hold the same array")


@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
@pytest.mark.parametrize(("value_input", "shift"),
                         [("calibrated", 0.0), ("exact", 0.0), ("exact", 0.7)],
                         ids=["calibrated", "exact", "exact, uncentred"])
def test_anchored_styles_are_the_same_model(ipsative_wave, value_input, shift, fused):
    """Anchored response styles only move the sampler's coordinates: at points where the
    non-centred styles ``alpha = sigma_alpha z`` and the anchored levels give the same
    ``alpha``, the two log densities differ by exactly the Jacobian ``(n - 1) log
    sigma_alpha`` of ``alpha = sigma_alpha z`` (both on the sampler's unconstrained scale),
    also where the values' columns do not average zero (the level is centred explicitly)."""
    from dataclasses import replace

    from vp_bayes.model.build import build_model_from_data

    base = ModelConfig(value_input=value_input, loading_scale_family="half_normal",
                       loading_parameterization="noncentered")
    data = prepare_data(ipsative_wave, base)
    if shift:  # the first value's column no longer averages zero
        shifted = data.values_z.copy()
        shifted[:, 0] += shift
        data = replace(data, values_z=shifted)
        assert abs(data.covariates[:, 0].mean()) > 0.5
    anchored = build_model_from_data(data, ModelConfig(
        **{**base.to_dict(), "style_parameterization": "anchored"}), fused=fused)
    plain = build_model_from_data(data, ModelConfig(
        **{**base.to_dict(), "style_parameterization": "noncentered"}), fused=fused)
    assert "alpha_level_raw" in anchored.named_vars and "alpha_z" not in anchored.named_vars
    assert "alpha_z" in plain.named_vars
    def compiled(model, outputs):  # of a point's values by name, in the model's order
        fn = pytensor.function(model.value_vars, model.replace_rvs_by_values(outputs),
                               on_unused_input="ignore", mode="FAST_COMPILE")
        return lambda point: fn(*(point[v.name] for v in model.value_vars))

    logp_a = compiled(anchored, [anchored.logp(), anchored["alpha"], anchored["sigma_alpha"]])
    logp_p = compiled(plain, [plain.logp(), plain["alpha"]])
    z_value = plain.rvs_to_values[plain["alpha_z"]]
    z_transform = plain.rvs_to_transforms[plain["alpha_z"]]
    rng = np.random.default_rng(5)
    n = len(data.participants)
    gaps = []
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 0.3, np.shape(v))
                 for k, v in anchored.initial_point().items()}
        lp_a, alpha, sigma = logp_a(point)
        assert abs(alpha.sum()) < 1e-8  # the styles still sum to zero
        z = z_transform.forward(pt.as_tensor(alpha / sigma)).eval()
        lp_p, alpha_p = logp_p({**point, z_value.name: z})
        np.testing.assert_allclose(alpha_p, alpha, atol=1e-10)
        gaps.append(lp_a - lp_p + (n - 1) * np.log(sigma))
    np.testing.assert_allclose(gaps, 0.0, atol=1e-6)


def test_anchored_styles_are_asked_for_and_refused_where_they_do_not_apply(sim,
                                                                          ipsative_wave):
    """The default never anchors the styles (anchored fits stopped later at the convergence
    bar on the real wave); asked for, they are built for values as data, and asking where they
    do not apply is one InputError naming the setting."""
    from vp_bayes.model.config import resolve_model_config

    for mode in ("calibrated", "exact", "latent", "instrument", None):
        assert resolve_model_config(ModelConfig(), mode).style_parameterization == \
            "noncentered"
    assert "alpha_z" in build_model(ipsative_wave, ModelConfig()).named_vars
    anchored = ModelConfig(style_parameterization="anchored")
    assert resolve_model_config(anchored, "calibrated").style_parameterization == "anchored"
    assert "alpha_level_raw" in build_model(ipsative_wave, anchored).named_vars
    for bad in (dict(response_style=False), dict(integrate_scales=True),
                dict(value_input="instrument"), dict(value_input="latent"),
                dict(style_parameterization="centered")):
        with pytest.raises(InputError) as err:
            ModelConfig(**{"style_parameterization": "anchored", **bad}).validate()
        assert err.value.field == "style_parameterization"
    with pytest.raises(InputError, match="values as data") as err:  # auto resolves to latent
        build_model(sim.wave, anchored)
    assert err.value.field == "style_parameterization"
