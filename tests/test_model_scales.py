"""Zero-sum blocks whose half-normal scale is integrated out (``ModelConfig.integrate_scales``,
:mod:`vp_bayes.model.scales`): the marginal density against numerical integration over the
scale, the scale's conditional draws against its numerically normalised posterior, prior draws,
the model's wiring, and a real fit that agrees with the model whose scales are sampled."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate, stats

from vp_bayes.model.build import build_model
from vp_bayes.model.config import ModelConfig
from vp_bayes.model.scales import draw_scale, free_dims, log_marginal, zero_sum_block
from vp_bayes.wave.simulate import simulate_wave


def _quad_log_marginal(ss: float, d: int, prior_sd: float) -> float:
    """log int N_d(x | 0, s^2 I) HalfNormal(s | prior_sd) ds, by adaptive quadrature over s
    (scaled by the integrand's maximum so that it stays finite)."""
    def log_f(s):
        return (-0.5 * d * np.log(2 * np.pi * s * s) - ss / (2 * s * s)
                + stats.halfnorm(scale=prior_sd).logpdf(s))

    grid = np.exp(np.linspace(-12, 3, 4001))
    top = grid[np.argmax(log_f(grid))]
    peak = log_f(top)
    value = sum(integrate.quad(lambda s: np.exp(log_f(s) - peak), lo, hi, limit=400,
                               epsabs=0, epsrel=1e-10)[0] for lo, hi in ((0, top), (top, np.inf)))
    return peak + np.log(value)


@pytest.mark.parametrize("d", [2, 5, 14, 79, 299])
def test_log_marginal_is_the_scale_integral(d):
    ss = pt.dvector("ss")
    fn = pytensor.function([ss], log_marginal(ss, d, 0.7))
    points = np.array([1e-3, 0.1, 1.0, 30.0, 500.0])
    expected = [_quad_log_marginal(s, d, 0.7) for s in points]
    np.testing.assert_allclose(fn(points), expected, rtol=0, atol=5e-5 if d < 10 else 1e-7)


def test_log_marginal_stays_finite_for_thousands_of_participants():
    """Orders where the Bessel function overflows (d = 20,000 participants' styles)."""
    ss = pt.dvector("ss")
    fn = pytensor.function([ss], [log_marginal(ss, 19999, 1.0),
                                  pt.grad(log_marginal(ss, 19999, 1.0).sum(), ss)])
    value, grad = fn(np.array([50.0, 8000.0, 20000.0]))
    assert np.isfinite(value).all() and np.isfinite(grad).all()
    # d/dss of the marginal is -E[1 / (2 t) | x]: near -d / (2 ss) for a well-informed scale
    np.testing.assert_allclose(grad[1:], -19999 / (2 * np.array([8000.0, 20000.0])), rtol=0.05)


def test_scale_draws_follow_the_conditional_posterior():
    """sigma | x (GIG draws) against the moments of HalfNormal(s) N_d(x | 0, s^2) normalised
    numerically over s."""
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.3, size=(1, 1, 12))
    x -= x.mean(axis=-1, keepdims=True)
    draws = draw_scale(np.broadcast_to(x, (4, 5000, 12)), (0,), 1.0, rng).ravel()
    ss, d = float((x**2).sum()), 11
    log_norm = _quad_log_marginal(ss, d, 1.0)

    def density(s):
        return np.exp(-0.5 * d * np.log(2 * np.pi * s * s) - ss / (2 * s * s)
                      + stats.halfnorm().logpdf(s) - log_norm)

    mean = integrate.quad(lambda s: s * density(s), 0, np.inf)[0]
    second = integrate.quad(lambda s: s * s * density(s), 0, np.inf)[0]
    sd = np.sqrt(second - mean**2)
    assert integrate.quad(density, 0, np.inf)[0] == pytest.approx(1.0, abs=1e-6)
    assert draws.mean() == pytest.approx(mean, abs=4 * sd / np.sqrt(draws.size))
    assert draws.std() == pytest.approx(sd, rel=0.03)
    # one draw per (chain, draw), also for one chain (ADVI) or one draw
    for lead in ((1, 7), (3, 1), (1, 1)):
        assert draw_scale(np.broadcast_to(x, (*lead, 12)), (0,), 1.0, rng).shape == lead


@pytest.mark.parametrize(("n", "spread", "prior_sd"), [
    (12, 0.3, 1.0),   # the data dominate: nearly every proposal is kept
    (80, 1.0, 0.5),   # a fitted block's regime (the items' locations)
    (3, 0.2, 0.2),    # d = 2: the smallest proper proposal
    (2, 0.5, 1.0),    # d = 1: scipy alone
    (40, 2.0, 0.3),   # the prior far below the data: every proposal rejected, scipy's draws
])
def test_scale_draws_match_the_numerical_posterior_distribution(n, spread, prior_sd):
    """Kolmogorov-Smirnov of 20,000 draws of sigma | x against the cumulative distribution
    of HalfNormal(s) N_d(x | 0, s^2), normalised and integrated numerically over s (a fine
    grid). Over 40 seeds of the first three cases the p-values were uniform (session 47)."""
    x = np.random.default_rng(n).normal(0, spread, size=(1, 1, n))
    x -= x.mean(axis=-1, keepdims=True)
    rng = np.random.default_rng([n, 1])
    draws = draw_scale(np.broadcast_to(x, (2, 10000, n)), (0,), prior_sd, rng).ravel()
    ss, d = float((x**2).sum()), n - 1
    grid = np.linspace(0.0, draws.max() * 2.0, 400001)[1:]
    log_f = (-0.5 * d * np.log(2 * np.pi * grid**2) - ss / (2 * grid**2)
             + stats.halfnorm(scale=prior_sd).logpdf(grid))
    f = np.exp(log_f - log_f.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(grid))])
    result = stats.kstest(draws, lambda s: np.interp(s, grid, cdf / cdf[-1]))
    assert result.pvalue > 1e-3, result


@pytest.mark.parametrize(("shape", "sum_axes"), [((80,), (0,)), ((2, 10), (0,)),
                                                ((3, 5), (0, 1)), ((4, 3, 2), (0, 2)),
                                                ((4, 3, 2), (0, -1))])
def test_free_dims_is_the_rank_of_the_zero_sum_blocks(shape, sum_axes):
    """d, the blocks' dimension, against the rank of blocks centred along each summed axis
    (what PyMC's zero-sum transform and the block's prior draws do)."""
    x = np.random.default_rng(0).normal(size=(200, *shape))
    for k in sum_axes:
        x = x - x.mean(axis=k % len(shape) + 1, keepdims=True)
    assert free_dims(shape, sum_axes) == np.linalg.matrix_rank(x.reshape(200, -1))


def test_prior_draws_and_log_density_of_a_block():
    """A (3, 5) block summing to zero over its last axis: prior draws sum to zero, their
    mean square is E[sigma^2] = prior_sd^2 per element of the (3 x 4)-dimensional subspace,
    and the model's log density is the marginal of their sum of squares (transform
    included: an isometry)."""
    with pm.Model(coords={"r": range(3), "c": range(5)}) as model:
        block = zero_sum_block("x", 0.5, ("r", "c"), (1,), (3, 5))
    draws = pm.draw(block, draws=4000, random_seed=5)
    np.testing.assert_allclose(draws.sum(axis=-1), 0.0, atol=1e-12)
    assert (draws**2).sum(axis=(1, 2)).mean() == pytest.approx(0.25 * 12, rel=0.06)
    point = {"x_zerosum__": np.random.default_rng(1).normal(0, 0.4, size=(3, 4))}
    logp = model.compile_logp(mode="FAST_COMPILE")(point)
    value = model.rvs_to_values[block]
    x = pytensor.function([value], model.rvs_to_transforms[block].backward(value))(
        point["x_zerosum__"])
    np.testing.assert_allclose(x.sum(axis=-1), 0.0, atol=1e-12)
    ss = pt.dscalar("ss")
    assert logp == pytest.approx(float(pytensor.function([ss], log_marginal(ss, 12, 0.5))(
        float((x**2).sum()))), abs=1e-9)


@pytest.fixture(scope="module")
def small_wave():
    return simulate_wave(n_participants=60, n_items=15, items_per_participant=8, seed=21,
                         n_llm=1, personas=False)


def test_integrated_model_samples_the_blocks_and_no_scales(small_wave):
    wave = small_wave.wave
    sampled = build_model(wave, ModelConfig(integrate_scales=False))
    integrated = build_model(wave, ModelConfig())  # raw answers: integrated by default
    names = {rv.name for rv in integrated.free_RVs}
    scales = {n for n in (rv.name for rv in sampled.free_RVs) if n.startswith("sigma_")}
    assert scales and not scales & names
    assert {"b", "alpha"} <= names and not {"b_z", "alpha_z"} & names
    assert {f"effect_{n.removeprefix('sigma_')}_block" for n in scales
            if n not in ("sigma_b", "sigma_alpha")} <= names
    point = integrated.initial_point()
    assert np.isfinite(integrated.compile_logp(mode="FAST_COMPILE")(point))
    assert np.isfinite(integrated.compile_dlogp(mode="FAST_COMPILE")(point)).all()


@pytest.mark.slow
def test_integrated_scales_fit_agrees_with_sampled_scales(small_wave):
    """The same model sampled both ways (real nutpie fits, 2 x (300 + 800) each): every scale
    and the item locations agree within Monte Carlo error, the integrated fit saves every
    scale and its blocks sum to zero, and prior sensitivity power-scales the scales' priors
    from their saved draws."""
    import arviz as az

    from vp_bayes.model.config import SamplerConfig
    from vp_bayes.model.fit import fit_wave
    from vp_bayes.model.sensitivity import log_prior

    sampler = SamplerConfig(draws=800, tune=300, chains=2, seed=11)
    fits = {flag: fit_wave(small_wave.wave, ModelConfig(integrate_scales=flag), sampler,
                           progress=False, ppc_draws=10) for flag in (False, True)}
    post = {flag: fit.posterior for flag, fit in fits.items()}
    scales = [str(v) for v in post[False].data_vars if str(v).startswith("sigma_")]
    assert len(scales) == 4 and set(scales) <= set(post[True].data_vars)
    np.testing.assert_allclose(post[True]["b"].sum("item"), 0.0, atol=1e-9)
    for name in [*scales, "b"]:
        means = [post[f][name].mean(("chain", "draw")).values for f in (False, True)]
        mcse = [az.mcse(post[f][name], method="mean").values for f in (False, True)]
        z = np.abs(means[0] - means[1]) / np.hypot(*mcse)
        assert np.mean(z < 3.5) >= 0.9 and z.max() < 5, (name, z.max())
    assert fits[True].diagnostics["r_hat_max"].max() < 1.05
    priors = log_prior(fits[True], small_wave.wave)
    assert set(scales) <= set(priors.data_vars)
    assert all(np.isfinite(priors[n]).all() for n in scales)
