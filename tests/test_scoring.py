"""Fast tests of scoring: derivatives, Newton, importance sampling, bookkeeping, tables, I/O.

The item model here is hand-made from a simulation's true parameters (a few jittered copies
stand in for posterior draws): it exercises the bookkeeping, not the calibration, which
``tests/test_scoring_calibration.py`` checks against a real fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import log_expit

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.fit import ItemModel
from vp_bayes.model.likelihood import category_logp_np
from vp_bayes.scoring import (
    ItemDraws,
    RespondentData,
    item_draws,
    load_portraits,
    make_problem,
    portrait_table,
    save_portraits,
    score,
    split_respondent,
)
from vp_bayes.scoring.laplace import (
    find_modes,
    gradient_hessian,
    laplace_samples,
    linear_predictor,
    log_posterior,
)
from vp_bayes.scoring.portraits import _percentiles
from vp_bayes.wave.simulate import VARIANTS, ordered_logistic, simulate_wave

N_ITEMS = 40


@pytest.fixture(scope="module")
def sim():
    return simulate_wave(n_participants=60, n_items=N_ITEMS, seed=11, n_llm=0)


def _fake_model(truth: xr.Dataset, n_draws: int = 8, thresholds: str = "shared",
                jitter: float = 0.05) -> ItemModel:
    """An ItemModel whose 'posterior' is jittered copies of the true parameters (1 chain)."""
    rng = np.random.default_rng(0)
    v = truth.sizes[dims.VALUE]
    cd = (dims.CHAIN, dims.DRAW)

    def jit(a: np.ndarray, sd: float = jitter) -> np.ndarray:
        return a[None, None] + sd * rng.standard_normal((1, n_draws, *np.shape(a)))

    post = {
        "beta": ((*cd, dims.ITEM, dims.VALUE), jit(truth["beta"].values)),
        "sigma_alpha": (cd, np.abs(jit(np.asarray(truth["sigma_alpha"].values)))),
        "corr": ((*cd, dims.VALUE, f"{dims.VALUE}_b"),
                 np.broadcast_to(truth["R"].values, (1, n_draws, v, v))),
        "theta": ((*cd, dims.PARTICIPANT, dims.VALUE), jit(truth["theta"].values)),
    }
    kappa = truth["kappa"].values
    if thresholds == "shared":
        post["b"] = ((*cd, dims.ITEM), jit(truth["b"].values))
        post["kappa"] = ((*cd, dims.CUTPOINT), jit(kappa, 0.0))
    else:  # fold b into per-item cutpoints: same likelihood
        per_item = kappa[None, :] - truth["b"].values[:, None]
        post["kappa"] = ((*cd, dims.ITEM, dims.CUTPOINT), jit(per_item, 0.0))
    coords = {dims.ITEM: truth[dims.ITEM].values, dims.VALUE: truth[dims.VALUE].values,
              f"{dims.VALUE}_b": truth[dims.VALUE].values,
              dims.PARTICIPANT: truth[dims.PARTICIPANT].values,
              dims.CUTPOINT: np.arange(len(kappa)),
              dims.CHAIN: [0], dims.DRAW: np.arange(n_draws)}
    tree = xr.DataTree.from_dict({"posterior": xr.Dataset(post, coords=coords)})
    tree.attrs.update(n_categories=len(kappa) + 1, scale_min=1)
    return ItemModel(idata=tree, model_config=ModelConfig(thresholds=thresholds),
                     sampler_config=SamplerConfig(), wave_hash="test")


def _ratings(truth: xr.Dataset, names: list[str], seed: int) -> pd.DataFrame:
    """Simulated LLM ratings from the true item parameters, all items x six variants."""
    rng = np.random.default_rng(seed)
    beta, b, kappa = truth["beta"].values, truth["b"].values, truth["kappa"].values
    items = [str(i) for i in truth[dims.ITEM].values]
    frames = []
    for name in names:
        theta = rng.standard_normal(beta.shape[1])
        eta = beta @ theta + b
        y = ordered_logistic(rng, np.repeat(eta[:, None], len(VARIANTS), 1), kappa)
        frames.append(pd.DataFrame({"respondent": name, "item_id": np.repeat(items, 6),
                                    "variant": np.tile(VARIANTS, len(items)),
                                    "rating": y.ravel().astype(float)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def model(sim):
    return _fake_model(sim.truth)


@pytest.fixture(scope="module")
def table(sim):
    return _ratings(sim.truth, ["m1", "m1|gender=male"], seed=5)


def _quick(model, ratings, **kw):
    opts = dict(n_item_draws=4, n_per_draw=10, seed=3, progress=False)
    opts.update(kw)
    return score(model, ratings, **opts)


# ---------------------------------------------------------------- derivatives and Newton
@pytest.mark.parametrize("thresholds", ["shared", "item"])
@pytest.mark.parametrize("offsets", [False, True])
def test_gradient_and_hessian_match_finite_differences(sim, thresholds, offsets):
    draws = item_draws(_fake_model(sim.truth, 3, thresholds), 3)
    rng = np.random.default_rng(1)
    w = rng.random((N_ITEMS, 3, draws.n_categories))
    w /= w.sum(-1, keepdims=True)
    data = RespondentData(np.arange(N_ITEMS), w if offsets else w.sum(1, keepdims=True),
                          ("a", "b", "c") if offsets else ("all",))
    problem = make_problem(draws, data, offsets)
    x = 0.7 * rng.standard_normal((3, problem.layout.size))
    grad, hess = gradient_hessian(problem, x)
    eps = 1e-5
    for d in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, d] = eps
        num_g = (log_posterior(problem, x + e) - log_posterior(problem, x - e)) / (2 * eps)
        num_h = (gradient_hessian(problem, x + e)[0] - gradient_hessian(problem, x - e)[0]) \
            / (2 * eps)
        np.testing.assert_allclose(grad[:, d], num_g, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(hess[:, :, d], num_h, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("thresholds", ["shared", "item"])
def test_sparse_log_likelihood_equals_category_logp(sim, thresholds):
    """The scorer's gathered log-likelihood equals sum W * category_logp_np (the model's)."""
    draws = item_draws(_fake_model(sim.truth, 3, thresholds), 3)
    rng = np.random.default_rng(4)
    w = rng.random((N_ITEMS, 2, draws.n_categories)) * (rng.random((N_ITEMS, 2, 6)) < 0.4)
    problem = make_problem(draws, RespondentData(np.arange(N_ITEMS), w, ("a", "b")), True)
    x = rng.standard_normal((3, 5, problem.layout.size))
    eta = linear_predictor(problem, x)  # (S, 5, J, G)
    cuts = draws.cuts[:, None, None, None, :] if thresholds == "shared" \
        else draws.cuts[:, None, :, None, :]
    loglik = np.einsum("smjgk,jgk->sm", category_logp_np(eta, cuts), w)
    prior = 0.5 * np.einsum("smd,sde,sme->sm", x, problem.precision, x)
    np.testing.assert_allclose(log_posterior(problem, x), loglik - prior, rtol=1e-10)


def test_newton_mode_has_zero_gradient_and_negative_definite_hessian(sim):
    draws = item_draws(_fake_model(sim.truth, 4), 4)
    w = np.zeros((N_ITEMS, 1, 6))
    w[np.arange(N_ITEMS), 0, np.arange(N_ITEMS) % 6] = 6.0  # extreme, varied ratings
    problem = make_problem(draws, RespondentData(np.arange(N_ITEMS), w, ("all",)), False)
    mode, precision, _ = find_modes(problem)
    grad, _ = gradient_hessian(problem, mode)
    assert np.abs(grad).max() < 1e-6
    assert np.linalg.eigvalsh(precision).min() > 0


# ---------------------------------------------------------------- importance sampling
def _one_value_draws(beta: np.ndarray, b: np.ndarray, kappa: np.ndarray) -> ItemDraws:
    """One value, no response style, one draw: a 1-D posterior we can integrate on a grid."""
    j = len(beta)
    return ItemDraws(("power",), tuple(f"i{k}" for k in range(j)), beta[None, :, None],
                     b[None], kappa[None], None, np.ones((1, 1, 1)), np.zeros((1, 5, 1)),
                     np.zeros(1, dtype=int), len(kappa) + 1, 1)


def test_importance_sampling_matches_the_exact_one_dimensional_posterior():
    # four ratings, strongly loaded items, all extreme: a skewed posterior, far from Gaussian
    beta = np.array([2.5, 2.5, 2.0, 3.0])
    b = np.zeros(4)
    kappa = np.array([-2.2, -1.1, -0.2, 0.7, 1.8])
    draws = _one_value_draws(beta, b, kappa)
    w = np.zeros((4, 1, 6))
    w[:, 0, 5] = 1.0  # all "very much like me"
    problem = make_problem(draws, RespondentData(np.arange(4), w, ("all",)), False,
                           prior_scale=1.0)
    grid = np.linspace(-4, 8, 20001)
    upper_gap = log_expit(grid[:, None] * beta[None, :] - kappa[-1]).sum(1)
    log_post = upper_gap - grid**2 / 2
    dens = np.exp(log_post - log_post.max())
    dens /= dens.sum()
    exact_mean = float((grid * dens).sum())
    exact_sd = float(np.sqrt(((grid - exact_mean) ** 2 * dens).sum()))
    rng = np.random.default_rng(7)
    is_draws = laplace_samples(problem, 20000, rng, importance=True).samples[0, :, 0]
    plain = laplace_samples(problem, 20000, rng, importance=False).samples[0, :, 0]
    mc_se = exact_sd / np.sqrt(20000) * 3  # resampling inflates the MC error; generous
    assert abs(is_draws.mean() - exact_mean) < 4 * mc_se
    # the plain Laplace approximation is biased here, so the check has power
    assert abs(plain.mean() - exact_mean) > 4 * mc_se


def test_percentiles_hand_example():
    draws = _one_value_draws(np.ones(1), np.zeros(1), np.array([-1.0, 0, 1, 2, 3]))
    ref = np.array([0.0, 1.0, 2.0, 3.0])[None, :, None]
    hand = ItemDraws(*[getattr(draws, f) for f in ("values", "items", "beta", "b", "cuts",
                                                    "sigma_alpha", "corr")], ref,
                     draws.draw_index, 6, 1)
    theta = np.array([[[1.5], [3.5], [-1.0], [0.5]]])  # below: 2, 4, 0, 1 of 4 participants
    per_sample = _percentiles(hand, theta)
    np.testing.assert_allclose(per_sample[0, :, 0], [50.0, 100.0, 0.0, 25.0])
    assert per_sample.mean() == pytest.approx(100 * (2 + 4 + 0 + 1) / 16)


# ---------------------------------------------------------------- bookkeeping through score()
def test_soft_one_hot_equals_hard(model, table):
    soft = table.copy()
    for k in range(1, 7):
        soft[f"p{k}"] = (soft["rating"] == k).astype(float)
    a = _quick(model, table)
    b = _quick(model, soft, soft=True)
    np.testing.assert_allclose(a.draws["theta"].values, b.draws["theta"].values)
    # with --hard the probabilities are ignored: change them and nothing moves
    soft[[f"p{k}" for k in range(1, 7)]] = 1.0 / 6
    c = _quick(model, soft, soft=False)
    np.testing.assert_allclose(a.draws["theta"].values, c.draws["theta"].values)
    d = _quick(model, soft, soft=True)
    assert not np.allclose(a.draws["theta"].values, d.draws["theta"].values)


def test_unknown_items_are_counted_and_reported(model, table):
    extra = table[table["respondent"] == "m1"].head(12).copy()
    extra["item_id"] = ["zz_new_" + str(i // 6) for i in range(12)]
    res = _quick(model, pd.concat([table, extra], ignore_index=True))
    base = _quick(model, table)
    row = res.table[res.table["respondent"] == "m1"].iloc[0]
    assert row["n_unknown_items"] == 2
    assert res.table.loc[res.table["respondent"] != "m1", "n_unknown_items"].eq(0).all()
    assert any("2 item id(s) unknown" in n and "zz_new_0" in n for n in res.notes)
    np.testing.assert_allclose(res.draws["theta"].values, base.draws["theta"].values)


def test_unparsed_ratings_are_skipped_and_counted(model, table):
    holed = table.copy()
    holed.loc[[0, 7, 20], "rating"] = np.nan
    res = _quick(model, holed)
    base = _quick(model, table.drop(index=[0, 7, 20]))
    m1 = res.table[res.table["respondent"] == "m1"].iloc[0]
    assert m1["n_unparsed"] == 3
    assert m1["n_ratings"] == N_ITEMS * 6 - 3
    np.testing.assert_allclose(res.draws["theta"].values, base.draws["theta"].values)


def test_mass_option_changes_the_interval(model, table):
    res = _quick(model, table, mass=0.9)
    narrow = portrait_table(res.draws, 0.5)
    wide = res.table
    assert (wide["mass"] == 0.9).all() and (narrow["mass"] == 0.5).all()
    assert ((narrow["upper"] - narrow["lower"]) < (wide["upper"] - wide["lower"])).all()
    np.testing.assert_allclose(narrow["mean"], wide["mean"])
    with pytest.raises(InputError):
        portrait_table(res.draws, 1.5)


def test_table_columns_names_and_centering(model, table):
    res = _quick(model, table, variant_offsets=True)
    t = res.table
    required = ["respondent", "value", "mean", "sd", "lower", "upper", "centered_mean",
                "centered_lower", "centered_upper", "percentile", "n_ratings", "n_unparsed",
                "n_unknown_items", "mass", "model", "persona"]
    assert all(c in t.columns for c in required)
    assert list(t["value"].unique()) == list(dims.VALUES_10)
    per = t[t["respondent"] == "m1|gender=male"]
    assert (per["model"] == "m1").all() and (per["persona"] == "gender=male").all()
    assert (t.loc[t["respondent"] == "m1", "persona"] == "").all()
    sums = t.groupby("respondent")["centered_mean"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 0.0, atol=1e-9)
    assert res.draws["theta"].dims == (dims.RESPONDENT, dims.SAMPLE, dims.VALUE)
    assert res.draws.sizes[dims.SAMPLE] == 4 * 10
    assert res.draws["variant_offset"].sizes[dims.VARIANT] == 6
    assert t["percentile"].between(0, 100).all()


def test_split_respondent():
    assert split_respondent("gpt-4o|gender=male;age=20-39") == ("gpt-4o", "gender=male;age=20-39")
    assert split_respondent("gpt-4o") == ("gpt-4o", "")


def test_save_and_load_round_trip(model, table, tmp_path):
    res = _quick(model, table)
    csv, nc = save_portraits(res, tmp_path / "portraits.csv")
    assert nc == tmp_path / "portraits.nc"
    back = load_portraits(nc)
    pd.testing.assert_frame_equal(back.table, res.table, check_dtype=False)
    assert back.draws.attrs["n_item_draws"] == 4
    assert pd.read_csv(csv, keep_default_na=False).shape == res.table.shape
    with pytest.raises(InputError, match="not found"):
        load_portraits(tmp_path / "missing.nc")


@pytest.mark.parametrize("method", ["marginal", "cut"])
def test_same_seed_same_draws_regardless_of_other_models(model, sim, method):
    table = _ratings(sim.truth, ["m1", "m2"], seed=5)
    both = _quick(model, table, method=method)
    alone = _quick(model, table[table["respondent"] == "m1"], method=method)
    np.testing.assert_allclose(both.draws["theta"].sel(respondent="m1").values,
                               alone.draws["theta"].sel(respondent="m1").values)


def test_independent_persona_scoring_ignores_the_model(model, table):
    both = _quick(model, table, personas="independent")
    alone = _quick(model, table[table["respondent"] == "m1|gender=male"],
                   personas="independent")
    np.testing.assert_allclose(both.draws["theta"].sel(respondent="m1|gender=male").values,
                               alone.draws["theta"].sel(respondent="m1|gender=male").values)


# ---------------------------------------------------------------- CLI
def test_cli_score_writes_table_and_draws(model, table, tmp_path):
    import subprocess
    import sys

    from vp_bayes.model.io import save_model

    model_path = save_model(model, tmp_path / "model.nc", card=False)
    rows = table.copy()
    rows.loc[3, "rating"] = np.nan
    extra = rows.iloc[:1].copy()
    extra["item_id"] = "not_an_item"
    ratings = tmp_path / "ratings.csv"
    pd.concat([rows, extra]).to_csv(ratings, index=False)
    out = tmp_path / "out" / "portraits.csv"
    cmd = [sys.executable, "-m", "vp_bayes", "score", str(model_path), str(ratings),
           "--out", str(out), "--item-draws", "4", "--per-draw", "5", "--mass", "0.8"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "80% equal-tailed intervals" in res.stdout
    assert "1 item id(s) unknown" in res.stdout and "not_an_item" in res.stdout
    back = load_portraits(out.with_suffix(".nc"))
    assert back.draws.attrs["mass"] == 0.8 and len(back.draws.attrs["model_file_sha256"]) == 64
    written = pd.read_csv(out, keep_default_na=False)
    m1 = written[written["respondent"] == "m1"].iloc[0]
    assert (m1["n_unparsed"], m1["n_unknown_items"]) == (1, 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("respondent,item_id,variant,rating\nm1,item001,v1,9\n")
    res = subprocess.run(cmd[:5] + [str(bad)] + cmd[6:], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2
    assert "bad.csv, row 1, field 'rating'" in res.stderr


def test_cli_score_methods_and_persona_options(model, table, tmp_path):
    import subprocess
    import sys

    from vp_bayes.model.io import save_model

    model_path = save_model(model, tmp_path / "model.nc", card=False)
    ratings = tmp_path / "ratings.csv"
    table.to_csv(ratings, index=False)
    out = tmp_path / "portraits.csv"
    base = [sys.executable, "-m", "vp_bayes", "score", str(model_path), str(ratings),
            "--out", str(out), "--item-draws", "4", "--per-draw", "5", "--quiet"]
    res = subprocess.run(base + ["--method", "marginal", "--personas", "independent",
                                 "--persona-sd", "0.5"], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    attrs = load_portraits(out.with_suffix(".nc")).draws.attrs
    assert (attrs["method"], attrs["personas"], attrs["persona_sd"]) == (
        "marginal", "independent", 0.5)
    # unknown words and numbers out of range are usage errors
    for option, value, named in [("--method", "exact", "Invalid value for '--method'"),
                                 ("--personas", "pooled", "Invalid value for '--personas'"),
                                 ("--persona-sd", "0", "Invalid value for '--persona-sd'")]:
        res = subprocess.run(base + [option, value], capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 2, (option, res.stderr)
        assert named in res.stderr


def test_fused_drop_point_kernel_equals_value_and_slope_bit_for_bit():
    """The panel edges' Newton evaluates g and g' in one pass (sharing an exponential); it
    gives exactly what the two reference functions give, on every branch: inside and outside
    the category, beyond the -30 switch of the stable form, open-ended categories, with and
    without per-rating offsets."""
    from vp_bayes.scoring.marginal import _g_slope, _g_value, _g_value_slope

    rng = np.random.default_rng(7)
    n_ratings = 12
    lower = np.sort(rng.normal(0.0, 2.0, size=n_ratings))
    upper = lower + rng.uniform(0.01, 3.0, size=n_ratings)
    lower[0], upper[-1] = -np.inf, np.inf
    weight = rng.uniform(0.2, 1.5, size=n_ratings)
    off = rng.normal(0.0, 1.0, size=(3, n_ratings))
    seen = set()
    for _ in range(400):
        u, m = rng.normal(0.0, 3.0), rng.normal(0.0, 2.0)
        sc, inv = rng.uniform(0.1, 2.0), 1.0 / rng.choice([0.01, 0.07, 0.5, 1.0, 3.0])
        n, has_off = int(rng.integers(3)), bool(rng.integers(2))
        e0 = int(rng.integers(n_ratings))
        e1 = int(rng.integers(e0 + 1, n_ratings + 1))
        args = (u, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper)
        assert _g_value_slope(*args) == (_g_value(*args), _g_slope(*args))
        eta = m + sc * u + (off[n, e0:e1] if has_off else 0.0)
        a, b = (upper[e0:e1] - eta) * inv, (eta - lower[e0:e1]) * inv
        seen |= {(bool(x > 0), bool(x > -30)) for x in np.concatenate([a, b])}
    assert seen == {(True, True), (False, True), (False, False)}  # every branch taken


def test_portraits_scored_before_a_setting_existed_match_their_model():
    """Portraits keep their model's settings as text. Those scored through a model saved
    before ``value_prior`` and ``loading_scale_family`` existed lack them, and that model
    now loads with them filled in (LKJ, half-normal): the same model, not refused. A real
    difference still is, and the gamma spreads prior is another model."""
    from types import SimpleNamespace

    from vp_bayes.errors import InputError
    from vp_bayes.scoring.portraits import check_scored_through

    cfg = ModelConfig(value_prior="lkj", loading_scale_family="half_normal")
    model = SimpleNamespace(version="0", wave_hash="h", model_config=cfg)
    old = cfg.to_dict()
    del old["value_prior"], old["loading_scale_family"], old["loading_scale_rate"]
    assert check_scored_through({"wave_hash": "h", "model_config": str(old)}, model)
    with pytest.raises(InputError, match="thresholds 'item' vs 'shared'"):
        check_scored_through({"wave_hash": "h", "model_config": str(
            dict(old, thresholds="item"))}, model)
    gamma = ModelConfig(value_prior="lkj", loading_scale_family="gamma").to_dict()
    with pytest.raises(InputError, match="loading_scale_family 'gamma' vs 'half_normal'"):
        check_scored_through({"wave_hash": "h", "model_config": str(gamma)}, model)
