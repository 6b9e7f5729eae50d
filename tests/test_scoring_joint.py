"""Fast tests of joint persona scoring (:mod:`vp_bayes.scoring.joint`) and of the
item-by-item marginal likelihood (:mod:`vp_bayes.scoring.marginal`).

Calibration against a real fit is in ``tests/test_contrasts_recovery.py`` (personas) and
``tests/test_scoring_calibration.py`` (respondents).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_expit, logsumexp
from test_scoring import N_ITEMS, _fake_model, _one_value_draws, _quick, _ratings

from vp_bayes.errors import InputError
from vp_bayes.scoring import RespondentData, item_draws, make_problem
from vp_bayes.scoring.joint import make_joint_problem
from vp_bayes.scoring.laplace import laplace_samples
from vp_bayes.scoring.marginal import MarginalProblem
from vp_bayes.scoring.portraits import scoring_units
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def sim():
    return simulate_wave(n_participants=60, n_items=N_ITEMS, seed=11, n_llm=0)


def _random_data(rng, n_categories: int, offsets: bool) -> RespondentData:
    items = np.sort(rng.choice(N_ITEMS, 25, replace=False))
    g = 3 if offsets else 1
    w = rng.random((len(items), g, n_categories)) * (rng.random((len(items), g, 6)) < 0.5)
    return RespondentData(items, w, ("a", "b", "c") if offsets else ("all",))


def _check_derivatives(target, x: np.ndarray, hessian: bool = True) -> None:
    grad, hess = target.gradient_hessian(x)
    eps = 1e-5
    for d in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, d] = eps
        num_g = (target.log_posterior(x + e) - target.log_posterior(x - e)) / (2 * eps)
        np.testing.assert_allclose(grad[:, d], num_g, rtol=1e-6, atol=1e-6)
        if hessian:
            num_h = (target.gradient_hessian(x + e)[0] - target.gradient_hessian(x - e)[0]) \
                / (2 * eps)
            np.testing.assert_allclose(hess[:, :, d], num_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("offsets", [False, True])
@pytest.mark.parametrize("base", [True, False])
def test_joint_gradient_and_hessian_match_finite_differences(sim, offsets, base):
    draws = item_draws(_fake_model(sim.truth, 3), 3)
    rng = np.random.default_rng(2)
    data = [_random_data(rng, draws.n_categories, offsets) for _ in range(3)]
    problem = make_joint_problem(draws, data, [base, False, False], offsets, persona_sd=0.8)
    x = 0.5 * rng.standard_normal((3, problem.size))
    _check_derivatives(problem, x)


def test_joint_log_posterior_is_the_sum_of_its_parts(sim):
    """Members' likelihoods at theta_base + delta_p plus the stated Gaussian priors."""
    draws = item_draws(_fake_model(sim.truth, 2), 2)
    rng = np.random.default_rng(3)
    data = [_random_data(rng, draws.n_categories, False) for _ in range(2)]
    problem = make_joint_problem(draws, data, [True, False], False, persona_sd=0.5)
    v = len(draws.values)
    z = rng.standard_normal((2, problem.size))
    base, delta = z[:, : v + 1], z[:, v + 1:]
    expected = np.zeros(2)
    for d, x in zip(data, [base, base + delta], strict=True):
        expected += make_problem(draws, d, False).log_posterior(x)  # includes the base prior
        prior = make_problem(draws, d, False).precision
        expected += 0.5 * np.einsum("sd,sde,se->s", x, prior, x)  # remove it again
    prec_base = make_problem(draws, data[0], False).precision
    expected -= 0.5 * np.einsum("sd,sde,se->s", base, prec_base, base)
    sd_delta = np.c_[np.full((2, v), 0.5), 0.5 * draws.sigma_alpha]  # per draw
    expected -= 0.5 * ((delta / sd_delta) ** 2).sum(axis=1)
    np.testing.assert_allclose(problem.log_posterior(z), expected, rtol=1e-10)


@pytest.mark.parametrize("offsets", [False, True])
def test_marginal_gradient_matches_finite_differences(sim, offsets):
    draws = item_draws(_fake_model(sim.truth, 5, jitter=0.3), 5)
    rng = np.random.default_rng(4)
    target = MarginalProblem.from_problem(
        make_problem(draws, _random_data(rng, draws.n_categories, offsets), offsets))
    _check_derivatives(target, 0.3 * rng.standard_normal((1, target.size)), hessian=False)


def test_marginal_hessian_is_exact_when_negative_definite(sim):
    draws = item_draws(_fake_model(sim.truth, 5, jitter=0.1), 5)
    rng = np.random.default_rng(5)
    target = MarginalProblem.from_problem(
        make_problem(draws, _random_data(rng, draws.n_categories, False), False))
    x = np.zeros((1, target.size))
    hess = target.gradient_hessian(x)[1]
    assert np.linalg.eigvalsh(-hess[0]).min() > 0
    _check_derivatives(target, x)


def test_marginal_likelihood_averages_each_item_over_draws(sim):
    """log p = sum_j log mean_s p_s(y_j | x) - x'Px/2, against the per-draw likelihood."""
    draws = item_draws(_fake_model(sim.truth, 4, jitter=0.2), 4)
    rng = np.random.default_rng(6)
    data = _random_data(rng, draws.n_categories, False)
    x = 0.4 * rng.standard_normal((1, len(draws.values) + 1))
    per_item = []
    for j in range(len(data.item_index)):
        w = np.zeros_like(data.weights)
        w[j] = data.weights[j]
        one = make_problem(draws, RespondentData(data.item_index, w, data.variants), False)
        one = type(one)(**{**one.__dict__, "precision": np.zeros_like(one.precision)})
        per_item.append(logsumexp(one.log_posterior(np.repeat(x, 4, 0))) - np.log(4))
    target = MarginalProblem.from_problem(make_problem(draws, data, False))
    prior = 0.5 * float(x[0] @ target.precision[0] @ x[0])
    assert target.log_posterior(x)[0] == pytest.approx(sum(per_item) - prior, rel=1e-10)


def test_marginal_posterior_matches_a_grid_with_two_item_draws():
    """One value, two draws of four items: the exact marginal posterior on a grid."""
    beta = np.array([[2.5, 2.5, 2.0, 3.0], [1.0, 1.5, 0.5, 1.2]])
    kappa = np.array([-2.2, -1.1, -0.2, 0.7, 1.8])
    one = _one_value_draws(beta[0], np.zeros(4), kappa)
    draws = type(one)(one.values, one.items, beta[:, :, None], np.zeros((2, 4)),
                      np.repeat(kappa[None], 2, 0), None, np.ones((2, 1, 1)),
                      np.zeros((2, 5, 1)), np.arange(2), 6, 1)
    w = np.zeros((4, 1, 6))
    w[:, 0, 5] = 2.0  # every item rated "very much like me" twice
    target = MarginalProblem.from_problem(
        make_problem(draws, RespondentData(np.arange(4), w, ("all",)), False))
    grid = np.linspace(-4, 8, 20001)
    loglik = 2 * log_expit(grid[None, :, None] * beta[:, None, :] - kappa[-1])  # (S, G, J)
    log_post = (logsumexp(loglik, axis=0) - np.log(2)).sum(-1) - grid**2 / 2
    dens = np.exp(log_post - log_post.max())
    dens /= dens.sum()
    mean = float((grid * dens).sum())
    sd = float(np.sqrt(((grid - mean) ** 2 * dens).sum()))
    diff = target.log_posterior(grid[None, :, None])[0] - log_post
    assert np.ptp(diff) < 1e-9  # equal up to the normalising constant
    samples = laplace_samples(target, 20000, np.random.default_rng(8)).samples[0, :, 0]
    assert abs(samples.mean() - mean) < 4 * 3 * sd / np.sqrt(20000)
    assert samples.std() == pytest.approx(sd, rel=0.05)


def test_scoring_units_group_a_model_with_its_personas():
    names = ["a", "a|gender=male", "b", "c|age=60-79", "a|gender=female", "d"]
    assert scoring_units(names, "joint") == [["a", "a|gender=male", "a|gender=female"],
                                             ["b"], ["c|age=60-79"], ["d"]]
    assert scoring_units(names, "independent") == [[n] for n in names]
    with pytest.raises(InputError, match="persona scoring"):
        scoring_units(names, "pooled")


def test_a_tight_persona_prior_ties_personas_to_their_model(model, sim):
    table = _ratings(sim.truth, ["m1", "m1|gender=male", "m1|gender=female"], seed=9)
    tight = _quick(model, table, persona_sd=1e-3).draws["theta"]
    gap = np.abs(tight.sel(respondent="m1|gender=male") - tight.sel(respondent="m1"))
    assert float(gap.max()) < 0.02
    loose = _quick(model, table, persona_sd=1.0).draws["theta"]
    gap = np.abs(loose.sel(respondent="m1|gender=male") - loose.sel(respondent="m1"))
    assert float(gap.mean()) > 0.1


def test_joint_samples_share_the_base_draw_by_draw(model, sim):
    """Persona minus model at equal sample is the persona shift: less spread than either."""
    table = _ratings(sim.truth, ["m1", "m1|gender=male"], seed=9)
    theta = _quick(model, table, n_per_draw=50, persona_sd=0.3).draws["theta"]
    shift = theta.sel(respondent="m1|gender=male") - theta.sel(respondent="m1")
    assert float(shift.std("sample").mean()) < float(theta.sel(respondent="m1")
                                                     .std("sample").mean())


@pytest.fixture(scope="module")
def model(sim):
    return _fake_model(sim.truth)
