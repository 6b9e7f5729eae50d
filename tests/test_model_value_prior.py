"""The inverse-Wishart value prior (``ModelConfig.value_prior = "inverse_wishart"``): the
values' covariance integrated out, checked against independent computations, and a real fit
that recovers a simulated wave drawn from a different (LKJ, unit-variance) process."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.build import (
    build_model,
    draw_collapsed_correlation,
    inverse_wishart_df,
    inverse_wishart_draws,
)
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.data import prepare_data
from vp_bayes.wave.simulate import simulate_wave

IW = ModelConfig(value_prior="inverse_wishart")


@pytest.fixture(scope="module")
def sim():
    return simulate_wave(n_participants=30, n_items=10, items_per_participant=6, seed=21,
                         n_llm=1, personas=False)


def test_inverse_wishart_df_gives_the_lkj_marginals():
    """Sigma ~ InvWishart(nu, (nu - V - 1) I) with ``inverse_wishart_df``: prior mean I, and
    every correlation has the LKJ(eta) marginal, 2 Beta(b, b) - 1 with b = eta - 1 + V / 2
    (scipy's inverse-Wishart draws, not the model's algebra)."""
    n, eta = 10, 2.0
    nu = inverse_wishart_df(n, eta)
    sigma = stats.invwishart(df=nu, scale=(nu - n - 1) * np.eye(n)).rvs(20000, random_state=4)
    np.testing.assert_allclose(sigma.mean(axis=0), np.eye(n), atol=0.05)
    sd = np.sqrt(np.diagonal(sigma, axis1=1, axis2=2))
    r = (sigma / sd[:, :, None] / sd[:, None, :])[:, 0, 1:].ravel()
    b = eta - 1 + n / 2
    assert stats.kstest((r + 1) / 2, stats.beta(b, b).cdf).pvalue > 0.01
    np.testing.assert_allclose(r.var(), 1 / (2 * b + 1), rtol=0.05)


def _function(model, *outputs):
    """``outputs`` (one or more) as a function of a point (dict of value variables)."""
    fn = model.compile_fn(model.replace_rvs_by_values(list(outputs)), inputs=model.value_vars,
                          point_fn=True, on_unused_input="ignore", mode="FAST_COMPILE")
    return fn if len(outputs) > 1 else (lambda point: fn(point)[0])


def _sequential_matrix_t(resid: np.ndarray, nu: float, psi: np.ndarray) -> float:
    """log p(E) of rows ``e_n ~ N(0, Sigma)``, ``Sigma ~ InvWishart(nu, psi)``, as the product
    of each row's predictive given the rows before it: a multivariate t with ``nu - V + n``
    degrees of freedom (n = 1, 2, ...) and scale ``(psi + S) / (nu - V + n)``."""
    n_v = resid.shape[1]
    total, scatter = 0.0, psi.copy()
    for n, e in enumerate(resid, start=1):
        df = nu - n_v + n
        total += stats.multivariate_t(loc=np.zeros(n_v), shape=scatter / df, df=df).logpdf(e)
        scatter += np.outer(e, e)
    return total


def test_collapsed_prior_is_the_matrix_t(sim):
    """The model's prior of theta_raw given the group means is the inverse-Wishart mixture
    of normals integrated over Sigma: differences of its log density between random points
    equal those of the row-by-row predictive computation (scipy's multivariate t)."""
    model = build_model(sim.wave, IW)
    prior = _function(model, model.logp(vars=[model["theta_raw"]]))
    start = model.initial_point()
    n_v = len(dims.VALUES_10)
    nu = inverse_wishart_df(n_v, IW.lkj_eta)
    psi = (nu - n_v - 1) * np.eye(n_v)
    rng = np.random.default_rng(0)
    points = []
    for _ in range(3):
        point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in start.items()}
        point["theta_raw"] = rng.normal(0, 1.2, start["theta_raw"].shape)
        unscaled = model["theta"] * model["value_scale"] - model["theta_raw"]
        mean = _function(model, unscaled)(point)
        np.testing.assert_allclose(mean, 0.0, atol=1e-12)  # theta saved on the unit scale
        mu = _group_means_at(model, sim.wave, point)
        points.append((float(prior(point)), _sequential_matrix_t(point["theta_raw"] - mu,
                                                                  nu, psi)))
    (a0, b0), *rest = points
    for a, b in rest:
        assert a - a0 == pytest.approx(b - b0, rel=1e-9, abs=1e-8)


def test_prior_draws_are_the_matrix_t(sim):
    """``pm.sample_prior_predictive`` draws Sigma from the inverse-Wishart and then the values:
    without group effects, one participant's value is a t with ``nu - V + 1`` degrees of
    freedom and scale ``sqrt(psi_vv / (nu - V + 1))`` (scipy's t, KS test), and two
    participants' values are uncorrelated but dependent through the shared Sigma (their
    squares correlate; independent rows would not)."""
    import pymc as pm

    model = build_model(sim.wave, ModelConfig(value_prior="inverse_wishart",
                                              demographic_axes=()))
    draws = pm.sample_prior_predictive(draws=3000, model=model, var_names=["theta_raw"],
                                       random_seed=5, compile_kwargs={"mode": "FAST_COMPILE"}
                                       )["prior"]["theta_raw"].values[0]
    n_v = len(dims.VALUES_10)
    nu = inverse_wishart_df(n_v, IW.lkj_eta)
    df = nu - n_v + 1
    first = draws[:, 0, 0]
    t = stats.t(df=df, scale=np.sqrt((nu - n_v - 1) / df))
    assert stats.kstest(first, t.cdf).pvalue > 0.01
    assert abs(np.corrcoef(first, draws[:, 1, 0])[0, 1]) < 0.06
    assert np.corrcoef(first**2, draws[:, 1, 0] ** 2)[0, 1] > 0.05
    # a batch of draws (pm.draw(..., draws=k) or a size): one Sigma each, the rows around mu
    from vp_bayes.model.build import matrix_t_draw

    mu = np.arange(12.0).reshape(4, 3)
    batch = matrix_t_draw(mu, 7.0, 3 * np.eye(3), rng=np.random.default_rng(1), size=(2000,))
    assert batch.shape == (2000, 4, 3)
    np.testing.assert_allclose(batch.mean(axis=0), mu, atol=0.12)


def _group_means_at(model, wave, point) -> np.ndarray:
    """The participants' group means at ``point``, from the saved effects (unit scale) times
    the values' scales: the model's own deterministics, not its prior term."""
    fn = _function(model, model["value_scale"], model["effect_gender"], model["effect_age"])
    scale, gender, age = fn(point)
    codes = {a.name: a.codes for a in prepare_data(wave, IW).axes}
    mu = np.zeros_like(point["theta_raw"])
    for effects, code in ((gender, codes["gender"]), (age, codes["age"])):
        known = code >= 0
        mu[known] += effects[code[known]] * scale
    return mu


def test_collapsed_model_saves_every_quantity_on_the_unit_scale(sim):
    """theta = theta_raw / value_scale, corr a correlation matrix, the questionnaire's
    loadings anchored (geometric mean of lam / value_scale 1 per value) and no sampled
    correlation; the graph and fused models have one log density."""
    model = build_model(sim.wave, IW)
    names = {v.name for v in model.free_RVs}
    assert "theta_raw" in names and "corr_chol" not in names
    point = model.initial_point()
    point = {k: v + np.random.default_rng(1).normal(0, 0.3, np.shape(v))
             for k, v in point.items()}
    scatter, lam, scale = _function(model, model["value_scatter"], model["lam"],
                                    model["value_scale"])(point)
    n_p, n_v = len(sim.wave.participants), len(dims.VALUES_10)
    nu = inverse_wishart_df(n_v, IW.lkj_eta)
    np.testing.assert_allclose(scale, np.sqrt(np.diag(scatter) / (nu + n_p - n_v - 1)))
    assert np.all(np.linalg.eigvalsh(scatter) > 0)
    qv = prepare_data(sim.wave, IW).instrument.question_value
    log_anchor = np.log(lam / scale[qv])
    for v in range(len(scale)):
        assert abs(log_anchor[qv == v].mean()) < 1e-12
    fused = build_model(sim.wave, IW, fused=True)
    fast = {"mode": "FAST_COMPILE"}
    assert fused.compile_logp(**fast)(point) == pytest.approx(model.compile_logp(**fast)(point),
                                                               rel=1e-10)


def test_collapsed_correlation_draws():
    """Draws of corr given the scatter: correlation matrices, reproducible from the random
    numbers, centred where the inverse-Wishart's mean (scale / (df - V - 1)) puts them, and
    spread as its correlations are (near-zero correlations: variance about 1 / df)."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(10, 10))
    cov = a @ a.T / 10 + np.eye(10)
    sd = np.sqrt(np.diag(cov))
    target = cov / sd[:, None] / sd[None, :]
    df = 4000.0
    scatter = np.broadcast_to((df - 11) * cov, (2, 300, 10, 10))
    corr = draw_collapsed_correlation(scatter, df, np.random.default_rng(1))
    assert corr.shape == scatter.shape
    np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1.0)
    assert np.all(np.linalg.eigvalsh(corr) > 0)
    np.testing.assert_array_equal(
        corr, draw_collapsed_correlation(scatter, df, np.random.default_rng(1)))
    np.testing.assert_allclose(corr.mean(axis=(0, 1)), target, atol=0.01)
    identity = draw_collapsed_correlation(np.broadcast_to((df - 11) * np.eye(10), (600, 10, 10)),
                                          df, np.random.default_rng(2))
    rows, cols = np.tril_indices(10, -1)
    np.testing.assert_allclose(identity[:, rows, cols].var(), 1 / df, rtol=0.15)


def test_inverse_wishart_draws_match_scipy():
    """The batched Bartlett draws have scipy's inverse-Wishart distribution where it is far
    from normal (few degrees of freedom): every entry's two-sample KS test against
    ``scipy.stats.invwishart`` and the mean ``scale / (df - V - 1)``."""
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    scale = a @ a.T + np.eye(4)
    df, n = 9.0, 20000
    ours = inverse_wishart_draws(np.broadcast_to(scale, (n, 4, 4)), df,
                                 np.random.default_rng(1))
    ref = stats.invwishart(df=df, scale=scale).rvs(size=n, random_state=np.random.default_rng(2))
    rows, cols = np.triu_indices(4)
    pvalues = [stats.ks_2samp(ours[:, r, c], ref[:, r, c]).pvalue
               for r, c in zip(rows, cols, strict=True)]
    assert min(pvalues) > 0.001
    np.testing.assert_allclose(np.median(ours, axis=0), np.median(ref, axis=0), rtol=0.05,
                               atol=0.02)
    np.testing.assert_allclose(ours.mean(axis=0), scale / (df - 5), rtol=0.1, atol=0.05)


def test_inverse_wishart_prior_needs_raw_answers(sim):
    with pytest.raises(InputError, match="field 'value_prior'"):
        ModelConfig(value_prior="inverse_wishart", value_input="exact").validate()
    with pytest.raises(InputError, match="field 'value_prior'"):
        ModelConfig(value_prior="wishart").validate()
    prescored = simulate_wave(n_participants=30, n_items=10, items_per_participant=6, seed=22,
                              n_llm=1, personas=False, prescored=True)
    with pytest.raises(InputError, match="field 'value_prior'"):
        build_model(prescored.wave, IW)  # "auto" resolves to pre-scored values


@pytest.mark.slow
def test_collapsed_fit_recovers_a_simulated_wave():
    """A real nutpie fit (fused likelihood, ADVI starts) of a wave simulated with unit-variance
    LKJ-correlated values (not the fitted prior): the values, informative loadings, group
    effects and the values' correlations are recovered, with the recovery tests' bars."""
    from vp_bayes.model.fit import fit_wave

    sim = simulate_wave(n_participants=250, n_items=40, items_per_participant=30, seed=7,
                        n_llm=1, personas=False, loadings="heavy_tailed")
    fit = fit_wave(sim.wave, IW, SamplerConfig(draws=300, tune=300, chains=2, seed=7),
                   progress=False, ppc_draws=20)
    post = fit.posterior.stack(sample=("chain", "draw"))
    truth = sim.truth
    theta = truth["theta"].transpose(dims.PARTICIPANT, dims.VALUE).values
    theta_draws = post["theta"].transpose(dims.PARTICIPANT, dims.VALUE, "sample").values
    lo, hi = np.quantile(theta_draws, [0.05, 0.95], axis=-1)
    coverage = float(((lo <= theta) & (theta <= hi)).mean())
    r_theta = np.corrcoef(theta_draws.mean(-1).ravel(), theta.ravel())[0, 1]
    beta = truth["beta"].transpose(dims.ITEM, dims.VALUE).values
    beta_mean = post["beta"].transpose(dims.ITEM, dims.VALUE, "sample").values.mean(-1)
    big = np.abs(beta) >= 0.5
    r_beta = np.corrcoef(beta_mean[big], beta[big])[0, 1]
    pairs = np.triu_indices(theta.shape[1], 1)
    corr_true = np.corrcoef(theta.T)[pairs]
    corr_draws = post["corr"].transpose("sample", ...).values[:, *pairs]
    corr_lo, corr_hi = np.quantile(corr_draws, [0.05, 0.95], axis=0)
    corr_coverage = float(((corr_lo <= corr_true) & (corr_true <= corr_hi)).mean())
    corr_error = float(np.abs(corr_draws.mean(0) - corr_true).mean())
    print(f"theta coverage {coverage:.3f} r {r_theta:.3f}; informative loadings r "
          f"{r_beta:.3f} ({big.sum()}); corr mean error {corr_error:.3f}, coverage "
          f"{corr_coverage:.3f}")
    assert 0.85 <= coverage <= 0.95, coverage
    assert r_theta > 0.7, r_theta
    assert r_beta >= 0.85, r_beta
    # 45 correlations: the default (LKJ) model's fit of this wave, 0.078 and 0.889
    assert corr_error < 0.1, corr_error
    assert corr_coverage >= 0.8, corr_coverage
    assert fit.model_config.value_prior == "inverse_wishart"
    assert {"theta", "beta", "corr", "lam", "value_scale", "effect_gender"} <= set(post)
    assert not {"theta_raw", "lam_log_raw", "value_scatter"} & set(post)
    # the values' unit: the sample SD of theta near 1 (the shipped model's unit)
    assert 0.8 < float(post["theta"].std(dims.PARTICIPANT).mean()) < 1.2
