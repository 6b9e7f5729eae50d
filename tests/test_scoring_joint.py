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
from vp_bayes.scoring.laplace import TAU_SCALE, laplace_samples
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


@pytest.mark.parametrize("deviation", [False, True])
@pytest.mark.parametrize("thresholds", ["shared", "item"])
@pytest.mark.parametrize("offsets", [False, True])
def test_marginal_gradient_matches_finite_differences(sim, offsets, thresholds, deviation):
    draws = item_draws(_fake_model(sim.truth, 5, thresholds, jitter=0.3), 5)
    rng = np.random.default_rng(4)
    target = MarginalProblem.from_problem(
        make_problem(draws, _random_data(rng, draws.n_categories, offsets), offsets,
                     item_deviation=deviation),
        thresholds == "shared")
    assert target.layout.has_tau == deviation
    x = 0.3 * rng.standard_normal((1, target.size))
    grad = target.gradient(x[0])
    eps = 1e-5
    for d in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, d] = eps
        num = (target.log_posterior(x + e) - target.log_posterior(x - e))[0] / (2 * eps)
        assert grad[d] == pytest.approx(num, rel=1e-6, abs=1e-6)


def test_marginal_hessian_matches_second_differences_of_the_log_posterior(sim):
    draws = item_draws(_fake_model(sim.truth, 5, jitter=0.1), 5)
    rng = np.random.default_rng(5)
    target = MarginalProblem.from_problem(
        make_problem(draws, _random_data(rng, draws.n_categories, False), False))
    x = np.zeros((1, target.size))
    hess = target.gradient_hessian(x)[1][0]
    assert np.linalg.eigvalsh(-hess).min() > 0
    f, h = target.log_posterior, 1e-3
    for i, j in [(0, 0), (0, 3), (2, 5), (4, target.size - 1)]:
        ei, ej = np.eye(target.size)[i] * h, np.eye(target.size)[j] * h
        num = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej))[0] / (4 * h * h)
        assert hess[i, j] == pytest.approx(num, rel=1e-3, abs=1e-3)


def test_marginal_equals_the_plain_likelihood_when_items_are_known(sim):
    """Identical draws (no item uncertainty): the marginal posterior is the cut one."""
    draws = item_draws(_fake_model(sim.truth, 3, jitter=0.0), 3)
    rng = np.random.default_rng(6)
    problem = make_problem(draws, _random_data(rng, draws.n_categories, True), True)
    target = MarginalProblem.from_problem(problem)
    x = 0.5 * rng.standard_normal((1, 7, target.size))
    np.testing.assert_allclose(target.log_posterior(x)[0],
                               problem.draws_slice(slice(0, 1)).log_posterior(x)[0], rtol=1e-10)


def _gaussian_item_draws(rng, n_draws: int = 400) -> tuple:
    """One value, four items whose (beta, b) draws are Gaussian around (1.5, 0)."""
    beta = 1.5 + 0.6 * rng.standard_normal((n_draws, 4))
    b = 0.4 * rng.standard_normal((n_draws, 4))
    kappa = np.array([-2.2, -1.1, -0.2, 0.7, 1.8])
    one = _one_value_draws(beta[0], b[0], kappa)
    return type(one)(one.values, one.items, beta[:, :, None], b, np.repeat(kappa[None],
                     n_draws, 0), None, np.ones((n_draws, 1, 1)), np.zeros((n_draws, 5, 1)),
                     np.arange(n_draws), 6, 1), kappa


@pytest.mark.parametrize("x_tau", [None, 1.0])
def test_marginal_posterior_matches_a_grid(x_tau):
    """One value, uncertain items, each rated "very much like me" twice: the posterior
    theta ~ N(0, 1) x prod_j E_u[sigmoid(eta_j(u) - kappa_5)^2] on a grid (the item integral by
    a fine grid over u with the draws' mean and covariance) against quadrature + IS samples.
    With an item deviation of SD tau (held fixed here), the item's spread is
    sqrt(s_j^2 + tau^2): the shared deviation adds to the item-parameter uncertainty."""
    draws, kappa = _gaussian_item_draws(np.random.default_rng(7))
    w = np.zeros((4, 1, 6))
    w[:, 0, 5] = 2.0
    problem = make_problem(draws, RespondentData(np.arange(4), w, ("all",)), False,
                           prior_scale=1.0, item_deviation=x_tau is not None)
    target = MarginalProblem.from_problem(problem)
    tau = 0.0 if x_tau is None else TAU_SCALE * x_tau
    params = np.stack([draws.beta[:, :, 0], draws.b], axis=-1)  # (S, J, 2)
    m, c = params.mean(0), np.einsum("sjv,sjw->jvw", params - params.mean(0),
                                     params - params.mean(0)) / (len(params) - 1)
    grid, u = np.linspace(-4, 8, 4001), np.linspace(-9, 9, 3001)
    t1 = np.stack([grid, np.ones_like(grid)], axis=1)
    mu = t1 @ m.T  # (G, J)
    sd = np.sqrt(np.einsum("gv,jvw,gw->gj", t1, c, t1) + tau**2)
    eta = mu[..., None] + sd[..., None] * u  # (G, J, U)
    integrand = 2 * log_expit(eta - kappa[-1]) - u**2 / 2
    item = logsumexp(integrand, axis=-1) + np.log(u[1] - u[0]) - 0.5 * np.log(2 * np.pi)
    log_post = item.sum(-1) - grid**2 / 2
    points = grid[None, :, None] if x_tau is None else np.stack(  # rating noise sigma = 1
        [grid, np.full_like(grid, x_tau), np.zeros_like(grid)], axis=-1)[None]
    diff = target.log_posterior(points)[0] - log_post
    dens = np.exp(log_post - log_post.max())
    # equal up to the constant and the quadrature error. The default 12 nodes, where
    # importance proposals land (density above 1e-4 of the mode's, 4.3 SD): measured 3.4e-3
    # without the deviation, 4.1e-3 with tau = 1 (one-sided integrands: each item rated in the
    # top category twice); the error converges to 0 with more nodes: 24 nodes over the whole
    # posterior (density above 1e-8)
    assert np.ptp(diff[dens > 1e-4]) < 6e-3
    fine = MarginalProblem.from_problem(problem, n_nodes=24).log_posterior(points)[0]
    assert np.ptp((fine - log_post)[dens > 1e-8]) < 1e-3
    if x_tau is not None:
        return  # tau is a parameter of that target: its samples are not the fixed-tau grid's
    dens /= dens.sum()
    mean = float((grid * dens).sum())
    sd = float(np.sqrt(((grid - mean) ** 2 * dens).sum()))
    samples = laplace_samples(target, 20000, np.random.default_rng(8)).samples[0, :, 0]
    assert abs(samples.mean() - mean) < 4 * 3 * sd / np.sqrt(20000)
    assert samples.std() == pytest.approx(sd, rel=0.05)


def test_marginal_is_not_attenuated_like_the_cut_posterior():
    """Ratings from true loadings; item draws = truth + posterior-like noise (SD 0.5). The cut
    posterior fits each draw's noisy loadings and is pulled toward 0 (errors in variables);
    the marginal one integrates the noise per item and lands nearer the true value."""
    from vp_bayes.wave.simulate import ordered_logistic

    rng = np.random.default_rng(10)
    n_items, true_theta = 40, 1.5
    beta = rng.uniform(0.5, 1.5, n_items)
    kappa = np.array([-2.2, -1.1, -0.2, 0.7, 1.8])
    y = ordered_logistic(rng, np.repeat((beta * true_theta)[:, None], 6, 1), kappa)  # 1..6
    w = np.zeros((n_items, 1, 6))
    np.add.at(w, (np.repeat(np.arange(n_items), 6), 0, y.ravel() - 1), 1.0)
    noisy = beta + 0.5 * rng.standard_normal((200, n_items))
    one = _one_value_draws(beta, np.zeros(n_items), kappa)
    draws = type(one)(one.values, tuple(f"i{k}" for k in range(n_items)), noisy[:, :, None],
                      np.zeros((200, n_items)), np.repeat(kappa[None], 200, 0), None,
                      np.ones((200, 1, 1)), np.zeros((200, 5, 1)), np.arange(200), 6, 1)
    data = RespondentData(np.arange(n_items), w, ("all",))
    cut = laplace_samples(make_problem(draws, data, False), 20, rng).samples.mean()
    marg = laplace_samples(MarginalProblem.from_problem(make_problem(draws, data, False)),
                           4000, rng).samples.mean()
    assert cut < marg - 0.1
    assert abs(marg - true_theta) < abs(cut - true_theta)


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
