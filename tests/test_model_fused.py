"""The fused likelihood terms give the graph model's density and gradient, to rounding."""

from __future__ import annotations

import numpy as np
import pytest

from vp_bayes.model.build import build_model
from vp_bayes.model.config import ModelConfig
from vp_bayes.model.fused import (
    matrix_t_kernel,
    padded_from_raw,
    questions_kernel,
    ratings_kernel,
    ratings_logp_draws,
    raw_cutpoint_gradient,
)
from vp_bayes.model.likelihood import category_logp_np, observed_logp_np, pad_cutpoints_np
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def waves():
    """A wave with raw PVQ-RR answers (latent values) and one with pre-scored values."""
    kw = dict(n_participants=40, n_items=15, items_per_participant=8, n_llm=1, personas=False)
    return {"latent": simulate_wave(seed=3, **kw).wave,
            "prescored": simulate_wave(seed=4, prescored=True, **kw).wave}


_SLOW = pytest.mark.slow  # each Numba case compiles the fused model's density and gradient
CASES = [
    pytest.param("latent", ModelConfig(), "NUMBA", id="latent-numba"),
    pytest.param("latent", ModelConfig(thresholds="item"), "NUMBA", id="latent-item-numba",
                 marks=_SLOW),
    pytest.param("latent", ModelConfig(response_style=False), "NUMBA",
                 id="latent-nostyle-numba", marks=_SLOW),
    pytest.param("prescored", ModelConfig(value_input="exact"), "NUMBA", id="exact-numba",
                 marks=_SLOW),
    pytest.param("prescored", ModelConfig(value_input="latent", thresholds="item"), "NUMBA",
                 id="prescored-item-numba", marks=_SLOW),
    # the numpy ``perform`` path (PyTensor's Python linker)
    pytest.param("latent", ModelConfig(thresholds="item"), "FAST_COMPILE", id="latent-item-py"),
    pytest.param("prescored", ModelConfig(value_input="exact", response_style=False),
                 "FAST_COMPILE", id="exact-nostyle-py"),
]


def _points(model, n: int, seed: int, loading_shift: float = 0.0):
    """Jittered starts; ``loading_shift`` moves the mean loadings (predictors of tens of
    logits for a shift of 8)."""
    rng = np.random.default_rng(seed)
    start = model.initial_point()
    return [{k: v + rng.normal(0.0, 0.5, np.shape(v))
             + (loading_shift if k.startswith("beta_mean") else 0.0)
             for k, v in start.items()} for _ in range(n)]


def _logp_dlogp(model, mode: str):
    """The log density and its gradient at a point (dict of value variables), compiled as one
    function, as the samplers compile them (one compilation per model instead of two)."""
    fn = model.logp_dlogp_function(ravel_inputs=True, mode=mode)
    names = [v.name for v in model.continuous_value_vars]
    return lambda point: fn(np.concatenate([np.ravel(point[n]) for n in names]))


@pytest.mark.parametrize(("wave", "config", "mode"), CASES)
def test_fused_model_has_the_graph_models_density(waves, wave, config, mode):
    graph = build_model(waves[wave], config)
    fused = build_model(waves[wave], config, fused=True)
    observed = {v.name for v in fused.observed_RVs}
    assert not observed & {"x", "y"} and {"y_loglik"} <= {p.name for p in fused.potentials}
    assert [v.name for v in fused.free_RVs] == [v.name for v in graph.free_RVs]
    # the graph model is the reference: PyTensor's numpy implementations of its ops compile
    # in a fraction of Numba's time (the graph density compiled by Numba: test_model_jax.py)
    on_graph, on_fused = _logp_dlogp(graph, "FAST_COMPILE"), _logp_dlogp(fused, mode)
    # near the prior's centre and far out (eta of tens of logits: the kernel's stable branch)
    for point in _points(graph, 2, 0) + _points(graph, 2, 1, loading_shift=8.0):
        (a, grad_a), (b, grad_b) = on_graph(point), on_fused(point)
        assert np.isfinite(a)
        assert b == pytest.approx(a, rel=1e-10, abs=1e-8)
        np.testing.assert_allclose(grad_b, grad_a, rtol=1e-8, atol=1e-8)


def _finite_difference(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        out[idx] = (f(up) - f(down)) / (2 * h)
    return out


def test_kernels_against_numpy_and_finite_differences():
    """Independent of PyMC: the value against the numpy twin used in scoring, the gradient
    against central differences, extreme predictors included."""
    rng = np.random.default_rng(7)
    n_items, n_part, n_values, n = 4, 5, 3, 60
    beta = rng.normal(0, 1.0, (n_items, n_values))
    theta = rng.normal(0, 3.0, (n_part, n_values))
    theta[0] *= 20.0  # predictors of +/- tens of logits
    alpha, b = rng.normal(0, 0.5, n_part), rng.normal(0, 0.5, n_items)
    cuts = np.sort(rng.normal(0, 1.5, (n_items, 5)), axis=1)
    padded = pad_cutpoints_np(cuts)
    item, part = rng.integers(0, n_items, n), rng.integers(0, n_part, n)
    y = rng.integers(0, 6, n)

    def value(beta=beta, theta=theta, alpha=alpha, b=b, padded=padded):
        return ratings_kernel(beta, theta, alpha, b, padded, item, part, y, item)[0]

    eta = (beta[item] * theta[part]).sum(1) + alpha[part] + b[item]
    expected = np.take_along_axis(category_logp_np(eta, cuts[item]), y[:, None], 1).sum()
    total, dbeta, dtheta, dalpha, db, dpadded = ratings_kernel(
        beta, theta, alpha, b, padded, item, part, y, item)
    assert total == pytest.approx(expected, rel=1e-12)
    for grad, name, x in ((dbeta, "beta", beta), (dtheta, "theta", theta),
                          (dalpha, "alpha", alpha), (db, "b", b)):
        np.testing.assert_allclose(grad, _finite_difference(lambda v, k=name: value(**{k: v}),
                                                            x), rtol=1e-5, atol=1e-5)
    inner = (slice(None), slice(1, -1))  # the finite cutpoints
    fd = _finite_difference(lambda v: value(padded=v), padded)
    np.testing.assert_allclose(dpadded[inner], fd[inner], rtol=1e-5, atol=1e-5)

    lam = rng.lognormal(0, 0.3, n_items)
    qv = rng.integers(0, n_values, n_items)
    total_q, dlam, dtheta_q, _, _ = questions_kernel(lam, theta, alpha, padded, qv, part,
                                                     item, y)
    eta_q = lam[item] * theta[part, qv[item]] + alpha[part]
    expected_q = np.take_along_axis(category_logp_np(eta_q, cuts[item]), y[:, None], 1).sum()
    assert total_q == pytest.approx(expected_q, rel=1e-12)
    np.testing.assert_allclose(dlam, _finite_difference(
        lambda v: questions_kernel(v, theta, alpha, padded, qv, part, item, y)[0], lam),
        rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dtheta_q, _finite_difference(
        lambda v: questions_kernel(lam, v, alpha, padded, qv, part, item, y)[0], theta),
        rtol=1e-5, atol=1e-5)


def test_matrix_t_kernel_against_numpy_and_finite_differences():
    """The values' matrix-t term: ``-coef / 2 log det(psi + E'E)`` against numpy's slogdet,
    its gradient against central differences; a scale matrix that is not positive definite
    gives -inf, not an error."""
    rng = np.random.default_rng(5)
    resid = rng.normal(0.0, 1.5, (30, 4))
    root = rng.normal(0.0, 1.0, (4, 4))
    psi = root @ root.T + 0.5 * np.eye(4)  # not diagonal: every off-diagonal term is used
    coef = 41.0
    total, grad = matrix_t_kernel(resid, psi, coef)
    expected = -0.5 * coef * np.linalg.slogdet(psi + resid.T @ resid)[1]
    assert total == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(
        grad, _finite_difference(lambda e: matrix_t_kernel(e, psi, coef)[0], resid),
        rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(grad, -coef * resid @ np.linalg.inv(psi + resid.T @ resid),
                               rtol=1e-10, atol=1e-12)
    indefinite = -np.eye(4) * 1e3
    bad_total, bad_grad = matrix_t_kernel(resid, indefinite, coef)
    assert bad_total == -np.inf and not bad_grad.any()
    assert matrix_t_kernel(np.full_like(resid, np.nan), psi, coef)[0] == -np.inf


def test_raw_cutpoints_against_numpy_and_finite_differences():
    """The cutpoints the fused terms build from first cutpoints and log gaps are numpy's
    cumulative sum, padded, bit for bit; the gradient carried back to them is the chain rule's
    (central differences of a weighted sum of the cutpoints), both compiled and as Python."""
    rng = np.random.default_rng(5)
    first, log_gaps = rng.normal(-2, 1, 4), rng.normal(0, 0.7, (4, 4))
    cuts = np.cumsum(np.concatenate([first[:, None], np.exp(log_gaps)], axis=1), axis=1)
    weights = rng.normal(0, 1, (4, 7))
    inner = weights.copy()
    inner[:, [0, -1]] = 0.0  # the padding's weights (constants: the gradient ignores them)
    for build, carry in ((padded_from_raw, raw_cutpoint_gradient),
                         (padded_from_raw.py_func, raw_cutpoint_gradient.py_func)):
        padded = build(first, log_gaps)
        np.testing.assert_array_equal(padded, pad_cutpoints_np(cuts))
        d_first, d_gaps = carry(weights, log_gaps)
        for got, want in zip((d_first, d_gaps), carry(inner, log_gaps), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(
            d_first, _finite_difference(lambda f, b=build: (inner * b(f, log_gaps)).sum(), first),
            rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(
            d_gaps, _finite_difference(lambda g, b=build: (inner * b(first, g)).sum(), log_gaps),
            rtol=1e-7, atol=1e-7)


def test_fused_models_build_their_cutpoints_inside_the_terms(waves):
    """The sampled log density's graph has no cumulative sum: the questionnaire's and the
    ratings' cutpoints are built inside their fused terms (fewer nodes for a new machine to
    compile), for shared and per-item thresholds."""
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.extra_ops import CumOp

    from vp_bayes.model.fused import OrdinalTerm

    for config in (ModelConfig(), ModelConfig(thresholds="item")):
        model = build_model(waves["latent"], config, fused=True)
        nodes = [v.owner for v in ancestors([model.logp()]) if v.owner is not None]
        terms = [n.op for n in nodes if isinstance(n.op, OrdinalTerm)]
        assert sorted(op.kind for op in terms) == ["questions", "ratings"]
        assert all(op.raw_cutpoints for op in terms)
        assert not any(isinstance(n.op, CumOp) for n in nodes)


def test_terms_refuse_cutpoint_rows_they_cannot_index():
    """Cutpoints per row need each rating's row; the questionnaire's are one row per
    question, never one shared row (its kernel reads the row of each answer's question)."""
    import pytensor.tensor as pt

    from vp_bayes.model.fused import RawCutpoints, questions_term, ratings_term

    beta, theta, idx = pt.dmatrix(), pt.dmatrix(), pt.lvector()
    with pytest.raises(ValueError, match="group"):
        ratings_term(beta, theta, None, None, pt.dmatrix(), idx, idx, idx)
    with pytest.raises(ValueError, match="group"):
        ratings_term(beta, theta, None, None, RawCutpoints(pt.dvector(), pt.dmatrix()), idx,
                     idx, idx)
    for shared in (pt.dvector(), RawCutpoints(pt.dscalar(), pt.dvector())):
        ratings_term(beta, theta, None, None, shared, idx, idx, idx)  # one shared row: fine
        with pytest.raises(ValueError, match="one row per question"):
            questions_term(pt.dvector(), theta, None, shared, idx, idx, idx, idx)


@pytest.mark.parametrize("shared", [True, False], ids=["shared-cutpoints", "item-cutpoints"])
def test_pointwise_kernel_against_numpy(shared):
    """``ratings_logp_draws`` (PSIS-LOO, prior sensitivity) is the numpy density per draw and
    rating, with rows shared by every draw (values as data, no response style) or one per
    draw, extreme predictors included; its sum over ratings is the sampler's kernel's value."""
    rng = np.random.default_rng(11)
    n_draws, n_items, n_part, n_values, n = 3, 4, 5, 3, 80
    beta = rng.normal(0, 1.0, (n_draws, n_items, n_values))
    theta = rng.normal(0, 3.0, (n_draws, n_part, n_values))
    theta[:, 0] *= 20.0
    alpha, b = rng.normal(0, 0.5, (n_draws, n_part)), rng.normal(0, 0.5, (n_draws, n_items))
    cuts = np.sort(rng.normal(0, 1.5, (n_draws, 1 if shared else n_items, 5)), axis=-1)
    padded = pad_cutpoints_np(cuts)
    item, part = rng.integers(0, n_items, n), rng.integers(0, n_part, n)
    y = rng.integers(0, 6, n)
    group = np.zeros_like(item) if shared else item
    for th, al in ((theta, alpha), (theta[:1], np.zeros((1, n_part)))):
        got = ratings_logp_draws(beta, th, al, b, padded, item, part, y, group)
        eta = np.einsum("snv,snv->sn", beta[:, item], np.broadcast_to(th[:, part],
                                                                      beta[:, item].shape))
        eta = eta + al[:, part] + b[:, item]
        expected = observed_logp_np(eta, cuts[:, group], y)
        assert got.shape == (n_draws, n)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        for s in range(n_draws):
            total = ratings_kernel(beta[s], th[min(s, len(th) - 1)], al[min(s, len(al) - 1)],
                                   b[s], padded[s], item, part, y, group)[0]
            assert got[s].sum() == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("thresholds", ["shared", "item"])
@pytest.mark.parametrize("latent", [True, False], ids=["theta-drawn", "values-as-data"])
@pytest.mark.parametrize("style", [True, False], ids=["alpha", "no-alpha"])
def test_kernel_inputs_cover_the_numpy_predictor(thresholds, latent, style):
    """The fit's pointwise log likelihood (``_kernel_inputs`` -> the kernel) equals the numpy
    path (``_eta_draws`` -> ``observed_logp_np``) for every combination of cutpoints, values
    drawn or given as data (a missing value read as 0) and response style."""
    import xarray as xr

    from vp_bayes.model.diagnostics import _eta_draws, _kernel_inputs

    rng = np.random.default_rng(17)
    n_chain, n_draw, n_items, n_part, n_values, n = 2, 5, 6, 7, 3, 90
    sample = ("chain", "draw")
    post = {"beta": (sample + ("item", "value"),
                     rng.normal(size=(n_chain, n_draw, n_items, n_values)))}
    kappa_shape = (5,) if thresholds == "shared" else (n_items, 5)
    kappa_dims = ("cutpoint",) if thresholds == "shared" else ("item", "cutpoint")
    post["kappa"] = (sample + kappa_dims,
                     np.sort(rng.normal(0, 1.5, (n_chain, n_draw, *kappa_shape)), axis=-1))
    if thresholds == "shared":
        post["b"] = (sample + ("item",), rng.normal(size=(n_chain, n_draw, n_items)))
    if style:
        post["alpha"] = (sample + ("participant",), rng.normal(size=(n_chain, n_draw, n_part)))
    const = {"rating_participant": ("rating", rng.integers(0, n_part, n)),
             "rating_item": ("rating", rng.integers(0, n_items, n)),
             "rating_y": ("rating", rng.integers(0, 6, n))}
    if latent:
        post["theta"] = (sample + ("participant", "value"),
                         rng.normal(size=(n_chain, n_draw, n_part, n_values)))
    else:
        values = rng.normal(size=(n_part, n_values))
        values[0, 1] = np.nan
        const["values_z"] = (("participant", "value"), values)
    post, const = xr.Dataset(post), xr.Dataset(const)
    config = ModelConfig(thresholds=thresholds)
    idx = np.array([0, 3, 7, 9])
    eta, cuts = _eta_draws(post, const, config, idx)
    expected = observed_logp_np(eta, cuts, const["rating_y"].values)
    got = ratings_logp_draws(*_kernel_inputs(post, const, config, idx))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_pointwise_kernel_refuses_rows_that_are_not_per_draw():
    beta = np.zeros((3, 2, 2))
    pad = pad_cutpoints_np(np.zeros((3, 1, 1)))
    with pytest.raises(ValueError, match="one row nor one per draw"):
        ratings_logp_draws(beta, np.zeros((2, 2, 2)), np.zeros((1, 2)), np.zeros((1, 2)), pad,
                           np.zeros(1, np.int64), np.zeros(1, np.int64),
                           np.zeros(1, np.int64), np.zeros(1, np.int64))


def test_fit_samples_the_fused_model_by_default():
    """A default ``SamplerConfig``: a real (short) nutpie fit of the fused model, saved with
    the setting resolved; numpyro refuses it (no JAX implementation), and a DIF model given
    it is refused in one line before any sampling."""
    from vp_bayes.errors import InputError
    from vp_bayes.model.config import SamplerConfig
    from vp_bayes.model.fit import fit_wave

    sim = simulate_wave(n_participants=40, n_items=10, items_per_participant=8, seed=8,
                        n_llm=0, personas=False)
    cfg = SamplerConfig(draws=50, tune=50, seed=8)
    model = fit_wave(sim.wave, ModelConfig(), cfg, progress=False, ppc_draws=10)
    assert model.sampler_config.fused_likelihood is True
    assert np.isfinite(model.posterior["beta"].values).all()
    assert model.posterior.sizes["draw"] == 50
    with pytest.raises(InputError, match="field 'fused_likelihood'"):
        SamplerConfig(sampler="numpyro", fused_likelihood=True).validate()
    with pytest.raises(InputError, match="field 'dif_axis'"):
        fit_wave(sim.wave, ModelConfig(dif_axis="gender"),
                 SamplerConfig(draws=5, tune=5, fused_likelihood=True), progress=False)


def _ulps(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return np.abs(got - expected) / np.spacing(np.abs(expected))


def test_arithmetic_exp_and_log_match_libm():
    """The vectorisable exp (x <= 0) and log (on [1, 4]) of the softplus pass, against
    numpy's, over their whole ranges and their edges."""
    import numba

    from vp_bayes.model.fused import _exp_nonpositive, _log_1_to_4

    @numba.njit
    def exp_all(x):
        return np.array([_exp_nonpositive(v) for v in x])

    @numba.njit
    def log_all(x):
        return np.array([_log_1_to_4(v) for v in x])

    rng = np.random.default_rng(11)
    x = -np.concatenate([rng.exponential(3.0, 200_000), rng.uniform(0.0, 700.0, 20_000),
                         [0.0, 5e-324, 1e-300, 1e-17, np.log(2) / 2, 699.999, 700.0]])
    assert _ulps(exp_all(x), np.exp(x)).max() <= 2.0
    far = -np.array([700.5, 745.2, 1e4, 1e300])  # below the floor: exp(-700), 1e-304
    assert np.all(exp_all(far) == exp_all(np.array([-700.0]))[0])
    assert exp_all(far)[0] < 1e-303
    p = np.concatenate([1.0 + rng.uniform(0.0, 3.0, 200_000),
                        [1.0, 1.0 + 2.0**-52, np.sqrt(2.0), 2.0, 2.0 * np.sqrt(2.0), 4.0],
                        np.nextafter(np.array([np.sqrt(2.0), 2.0 * np.sqrt(2.0)]), 0.0)])
    got, expected = log_all(p), np.log(p)
    assert got[p == 1.0][0] == 0.0
    inner = p > 1.0
    assert _ulps(got[inner], expected[inner]).max() <= 4.0
    assert np.abs(got - expected).max() <= 4.5e-16


def test_softplus_pass_against_numpy_and_nan():
    """Log probabilities and sigmoids of the pass for arguments from 0 to the padded
    cutpoints' 1e4, and a NaN predictor's NaN (which the sampler rejects)."""
    from vp_bayes.model.fused import _softplus_pass

    rng = np.random.default_rng(12)
    hi = np.concatenate([rng.normal(0.0, 3.0, 5_000), rng.normal(0.0, 40.0, 500),
                         [0.0, -0.0, 1e4, -1e4, 36.0, -36.0, 1e-300]])
    lo = rng.permutation(hi)
    expected = -(np.logaddexp(0.0, hi) + np.logaddexp(0.0, lo))
    s_hi, s_lo = hi.copy(), lo.copy()
    got = _softplus_pass(s_hi, s_lo)
    np.testing.assert_allclose(got, expected, rtol=4e-16, atol=4e-16)
    from scipy.special import expit

    np.testing.assert_allclose(s_hi, expit(hi), rtol=4e-16, atol=1e-300)
    np.testing.assert_allclose(s_lo, expit(lo), rtol=4e-16, atol=1e-300)
    out = _softplus_pass(np.array([np.nan, 0.3]), np.array([0.1, -0.2]))
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_values_as_data_get_no_gradient(waves):
    """Exact values: the ratings op skips the values' gradient (they are data), and the
    kernel's other outputs are those of the full computation."""
    from vp_bayes.model.fused import OrdinalTerm

    def ratings_ops(model):
        from pytensor.graph.traversal import ancestors

        return [v.owner.op for v in ancestors(model.potentials)
                if v.owner is not None and isinstance(v.owner.op, OrdinalTerm)
                and v.owner.op.kind == "ratings"]

    exact = build_model(waves["prescored"], ModelConfig(value_input="exact"), fused=True)
    latent = build_model(waves["latent"], ModelConfig(), fused=True)
    assert {op.theta_grad for op in ratings_ops(exact)} == {False}
    assert {op.theta_grad for op in ratings_ops(latent)} == {True}
    rng = np.random.default_rng(3)
    beta, theta = rng.normal(0, 1, (4, 3)), rng.normal(0, 1, (5, 3))
    alpha, b = rng.normal(0, 0.5, 5), rng.normal(0, 0.5, 4)
    padded = pad_cutpoints_np(np.sort(rng.normal(0, 1.5, (1, 5)), axis=1))
    item, part, y = rng.integers(0, 4, 30), rng.integers(0, 5, 30), rng.integers(0, 6, 30)
    args = (beta, theta, alpha, b, padded, item, part, y, np.zeros(30, dtype=np.int64))
    full, skipped = ratings_kernel(*args), ratings_kernel(*args, False)
    assert np.abs(full[2]).max() > 0 and not skipped[2].any()
    for a, c in zip(full[:2] + full[3:], skipped[:2] + skipped[3:], strict=True):
        np.testing.assert_array_equal(a, c)
