"""Where the demo wave's sampler is slow: effective sample size along the model's directions.

Fits the demo wave (``data/demo``: raw PVQ-RR answers, latent values) with nutpie on the
fused model, chains from ADVI draws as ``fit_wave`` starts them, under one of several
parameterisations, and prints per variable the worst R-hat and bulk ESS, then the same split
into directions: a participant's overall value level ``t_i = 1'theta_i / sqrt(V)`` against
the centred part ``P theta_i`` (``P = I - 11'/V``), the loadings' sum ``1'beta_j / sqrt(V)``
against their centred part, the values' correlation along ``1`` (``1'R1 / V``) against the
centred correlation ``PRP``.

    python benchmarks/geometry_probes.py base 400 400          # the model as shipped
    python benchmarks/geometry_probes.py level_free 400 400    # theta = P zeta (no level)
    python benchmarks/geometry_probes.py alpha_shift 400 400   # alpha_i = s a_i - mean(lam) t_i
    python benchmarks/geometry_probes.py centered 100 200 1    # theta ~ MvNormal(mu, R)
    python benchmarks/geometry_probes.py subspace 400 400      # theta = Q (Q'mu + L9 z), 9-dim LKJ
    python benchmarks/geometry_probes.py anchored 400 400      # lam anchored per value, scale free
    python benchmarks/geometry_probes.py anchored_centered 400 400  # the same, theta centred
    python benchmarks/geometry_probes.py collapsed 400 400     # anchored, covariance integrated out
    python benchmarks/geometry_probes.py collapsed 400 400 --loadings centered  # and beta centred

``level_free`` and ``subspace`` are a different model (values as relative priorities, the level
carried by the response style alpha; ``subspace`` puts the LKJ prior on the correlation of the
9 coordinates in an orthonormal basis Q of the centred values, so that nothing is unidentified,
and reports ``corr`` as the correlation of ``Q C Q'``); the other three are the shipped model
reparameterised (``alpha_shift``
without the response styles' sum-to-zero). These are probes of the geometry, not options of
the package: each replaces one builder function of :mod:`vp_bayes.model.build` in this process.

The probes were written for the LKJ values' prior (sessions 9-10), whose correlation is sampled;
the default for raw answers since session 25, the inverse-Wishart, integrates it out, so they
fit with ``value_prior="lkj"`` (``base``: the shipped model under that prior), at the
sampler settings ``fit_wave`` resolves for raw answers.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import arviz_stats as azs
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from vp_bayes import dims
from vp_bayes.model import build as B
from vp_bayes.model.config import (
    LOADING_PARAMETERIZATIONS,
    ModelConfig,
    SamplerConfig,
    resolve_sampler_config,
)
from vp_bayes.model.data import prepare_data
from vp_bayes.model.fit import _sample
from vp_bayes.wave.io import load_wave

REPO = Path(__file__).resolve().parents[1]


def _corr(data, config):
    return B.lkj_correlation(len(data.values), config.lkj_eta)


def _theta_centered(data, config):
    """``theta_i ~ MvNormal(mu_i, R)`` directly (the same model, centred)."""
    mu = B._group_means(data, config)
    chol = _corr(data, config)
    return pm.MvNormal("theta", mu=mu, chol=chol, dims=(dims.PARTICIPANT, dims.VALUE))


def _theta_level_free(data, config):
    """``theta = P (mu + L z)``: the level direction removed (as for ipsative pre-scored values)."""
    mu = B._group_means(data, config)
    chol = _corr(data, config)
    z = pm.Normal("theta_z", 0.0, 1.0, dims=(dims.PARTICIPANT, dims.VALUE))
    zeta = mu + z @ chol.T
    null = data.value_null_space
    return pm.Deterministic("theta", zeta - (zeta @ null) @ null.T,
                            dims=(dims.PARTICIPANT, dims.VALUE))


def _theta_subspace(data, config):
    """``theta_i = Q (Q' mu_i + L z_i)``, ``L L' = C`` a 9 x 9 LKJ correlation (Q: an orthonormal
    basis of the centred values); ``corr`` is the correlation matrix of ``Q C Q'``."""
    from vp_bayes.model.data import complement_basis

    basis = complement_basis(data.value_null_space)  # (V, V - 1)
    mu = B._group_means(data, config)
    chol = B.lkj_cholesky(basis.shape[1], config.lkj_eta)
    cov = basis @ (chol @ chol.T) @ basis.T
    sd = pt.sqrt(pt.diagonal(cov))
    pm.Deterministic("corr", cov / sd[:, None] / sd[None, :],
                     dims=(dims.VALUE, f"{dims.VALUE}_b"))
    z = pm.Normal("theta_z", 0.0, 1.0, shape=(len(data.participants), basis.shape[1]))
    w = mu @ basis + z @ chol.T
    return pm.Deterministic("theta", w @ basis.T, dims=(dims.PARTICIPANT, dims.VALUE))


def _question_cutpoints(ins):
    """The questionnaire's ordered cutpoints, as the shipped model draws them."""
    first = pm.Normal("c_first", -2.0, 1.5, dims=dims.QUESTION)
    log_gaps = pm.Normal("c_log_gaps", 0.0, 0.7, shape=(len(ins.questions), ins.n_categories - 2))
    cuts = B.ordered_cutpoints(first, log_gaps)
    pm.Deterministic("c", cuts)
    return cuts


def _alpha_shift_model(data, config, *, fused=True):
    """The shipped model with ``alpha_i = sigma_alpha a_i - k t_i``, ``k = mean(lam)``,
    ``a_i ~ N(k t_i / sigma_alpha, 1)`` (so alpha_i ~ N(0, sigma_alpha^2)): the coordinate
    the questionnaire pins is ``a_i``, and moving the level t_i leaves it nearly unchanged."""
    ins = data.instrument
    with pm.Model(coords=data.coords()) as model:
        theta = B._latent_values(data, config)
        sigma_alpha = pm.HalfNormal("sigma_alpha", 1.0)
        t = theta.mean(axis=1)
        lam = pm.LogNormal("lam", 0.0, 0.5, dims=dims.QUESTION)
        k = lam.mean()
        a = pm.Normal("alpha_a", mu=k * t / sigma_alpha, sigma=1.0, dims=dims.PARTICIPANT)
        alpha = pm.Deterministic("alpha", sigma_alpha * a - k * t, dims=dims.PARTICIPANT)
        cuts = _question_cutpoints(ins)
        pm.Potential("x_loglik", B.questions_term(
            lam, theta, alpha, B.pad_cutpoints(cuts), ins.question_value, ins.participant,
            ins.question, ins.y))
        B._item_ratings(data, config, theta, alpha, True)
    return model


def _anchored_likelihoods(data, config, raw, scale) -> None:
    """What ``anchored`` and ``collapsed`` share, given the values on the questionnaire's scale
    ``raw`` and their scales: theta on the shipped scale, the response styles, the
    questionnaire with its loadings anchored per value (geometric mean 1) and the ratings."""
    ins = data.instrument
    qv = ins.question_value
    onehot = np.zeros((len(ins.questions), len(data.values)))
    onehot[np.arange(len(qv)), qv] = 1.0
    onehot /= onehot.sum(axis=0, keepdims=True)
    pm.Deterministic("theta", raw / scale, dims=(dims.PARTICIPANT, dims.VALUE))
    sigma_alpha = pm.HalfNormal("sigma_alpha", 1.0)
    alpha = pm.Deterministic(
        "alpha", sigma_alpha * pm.ZeroSumNormal("alpha_z", sigma=1.0, dims=dims.PARTICIPANT),
        dims=dims.PARTICIPANT)
    log_lam = pm.Normal("lam_log_raw", 0.0, 0.5, dims=dims.QUESTION)
    lam_anchor = pt.exp(log_lam - (log_lam @ onehot)[qv])
    pm.Deterministic("lam", lam_anchor * scale[qv], dims=dims.QUESTION)
    cuts = _question_cutpoints(ins)
    pm.Potential("x_loglik", B.questions_term(
        lam_anchor, raw, alpha, B.pad_cutpoints(cuts), qv, ins.participant, ins.question, ins.y))
    B._item_ratings(data, config, raw, alpha, True)


def _anchored_model(data, config, *, centered: bool):
    """The shipped model identified by the questionnaire instead of the values' prior: the
    loadings ``lam`` of each value's questions have geometric mean 1 (``lam_k = exp(e_k -
    mean of e over the value's questions)``), the values' scale ``s_v ~ LogNormal(0, 0.5)`` is
    free, ``theta_raw_i = s * (mu_i + L z_i)`` (``centered``: ``theta_raw_i ~ MvNormal(s mu_i,
    diag(s) R diag(s))``) enters both likelihoods, and the reported quantities are on the
    shipped model's scale: ``theta = theta_raw / s``, ``lam = lam_anchor * s``, ``beta =
    beta_raw * s`` (:func:`_rescale`). The likelihood is invariant to ``(lam c, theta / c,
    beta c)``; only the priors differ. The shipped model pins that direction by the values'
    unit prior variance alone, a ridge through every theta, lam and beta."""
    with pm.Model(coords=data.coords()) as model:
        mu = B._group_means(data, config)
        chol = _corr(data, config)
        scale = pm.LogNormal("scale", 0.0, 0.5, dims=dims.VALUE)
        cov_chol = scale[:, None] * chol
        if centered:
            raw = pm.MvNormal("theta_raw", mu=mu * scale, chol=cov_chol,
                              dims=(dims.PARTICIPANT, dims.VALUE))
        else:
            z = pm.Normal("theta_z", 0.0, 1.0, dims=(dims.PARTICIPANT, dims.VALUE))
            raw = mu * scale + z @ cov_chol.T
        _anchored_likelihoods(data, config, raw, scale)
    return model


def _collapsed_model(data, config):
    """The anchored model with the values' covariance integrated out (a different prior).

    ``theta_raw_i ~ MvNormal(mu_i, Sigma)``, ``Sigma ~ InvWishart(nu, (nu - V - 1) I)`` (prior
    mean I; ``nu = 2 eta + 2V - 3`` gives each correlation the LKJ(eta) marginal,
    ``(1 - r^2)^(eta - 1 + (V - 2) / 2)``), the questionnaire loadings anchored per value as in
    ``anchored``. Sigma is integrated out: theta_raw's prior is the matrix-t,
    ``log p = -(nu + N) / 2 log det(Psi + E'E)`` with ``E = theta_raw - mu``; the sampler sees
    theta directly (centred) and no correlation parameter. Reported on the shipped scale through
    ``E[Sigma | theta] = (Psi + E'E) / (nu + N - V - 1)``: ``scale = sqrt(diag)``, ``corr`` its
    correlation, ``theta = theta_raw / scale``, ``lam``, ``beta`` times scale."""
    n_p, n_v = len(data.participants), len(data.values)
    nu = 2 * config.lkj_eta + 2 * n_v - 3
    psi = (nu - n_v - 1) * np.eye(n_v)
    with pm.Model(coords=data.coords()) as model:
        mu = B._group_means(data, config)
        raw = pm.Flat("theta_raw", dims=(dims.PARTICIPANT, dims.VALUE))
        resid = raw - mu
        scatter = psi + resid.T @ resid
        chol = pt.linalg.cholesky(scatter)
        pm.Potential("theta_prior", -(nu + n_p) * pt.sum(pt.log(pt.diagonal(chol))))
        sigma_hat = scatter / (nu + n_p - n_v - 1)
        scale = pm.Deterministic("scale", pt.sqrt(pt.diagonal(sigma_hat)), dims=dims.VALUE)
        pm.Deterministic("corr", sigma_hat / scale[:, None] / scale[None, :],
                         dims=(dims.VALUE, f"{dims.VALUE}_b"))
        _anchored_likelihoods(data, config, raw, scale)
    return model


def _rescale(post: xr.Dataset) -> xr.Dataset:
    """Loadings of the anchored variants on the shipped model's scale (beta_raw * s)."""
    if "scale" not in post:
        return post
    s = post["scale"]
    return post.assign(beta=post["beta"] * s, beta_mean=post["beta_mean"] * s,
                       beta_sd=post["beta_sd"] * s)


def build(variant: str, data, config):
    if variant == "collapsed":
        return _collapsed_model(data, config)
    if variant in ("anchored", "anchored_centered"):
        return _anchored_model(data, config, centered=variant == "anchored_centered")
    if variant == "centered":
        B._latent_values = _theta_centered
    if variant in ("level_free", "subspace"):
        B._latent_values = _theta_level_free if variant == "level_free" else _theta_subspace
        ones = np.ones((len(data.values), 1)) / np.sqrt(len(data.values))
        data = dataclasses.replace(data, value_null_space=ones)
    if variant == "alpha_shift":
        return _alpha_shift_model(data, config)
    return B.build_model_from_data(data, config, fused=True)


def _rhat_ess(da: xr.DataArray) -> tuple[float, float]:
    ds = xr.Dataset({"x": da})
    return (float(np.nanmax(azs.rhat(ds)["x"].values)),
            float(np.nanmin(azs.ess(ds, method="bulk")["x"].values)))


def directions(post: xr.Dataset) -> list[tuple[str, xr.DataArray]]:
    """The level / centred split of theta, the loadings and the correlations."""
    n_v = post.sizes[dims.VALUE]
    one = np.ones(n_v) / np.sqrt(n_v)
    proj = np.eye(n_v) - np.outer(one, one)
    th, beta, corr = post["theta"], post["beta"], post["corr"].values
    iu = np.triu_indices(n_v, 1)
    centred_corr = np.einsum("ij,cdjk,kl->cdil", proj, corr, proj)[:, :, iu[0], iu[1]]
    return [
        ("theta: level", (th * one).sum(dims.VALUE)),
        ("theta: centred part", xr.DataArray(th.values @ proj, dims=th.dims)),
        ("beta: sum direction", (beta * one).sum(dims.VALUE)),
        ("beta: centred part", xr.DataArray(beta.values @ proj, dims=beta.dims)),
        ("beta_mean: sum direction", (post["beta_mean"] * one).sum(dims.VALUE)),
        ("corr: along 1 (1'R1/V)", xr.DataArray(
            np.einsum("cdij,i,j->cd", corr, one, one), dims=("chain", "draw"))),
        ("corr: centred (PRP)", xr.DataArray(centred_corr, dims=("chain", "draw", "pair"))),
        ("alpha", post["alpha"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=("base", "level_free", "alpha_shift", "centered",
                                            "subspace", "anchored", "anchored_centered",
                                            "collapsed"))
    parser.add_argument("draws", type=int)
    parser.add_argument("tune", type=int)
    parser.add_argument("chains", type=int, nargs="?", default=2)
    parser.add_argument("--seed", type=int, default=SamplerConfig().seed,
                        help="the sampler's seed (default: SamplerConfig's)")
    parser.add_argument("--loadings", choices=LOADING_PARAMETERIZATIONS[1:], default=None,
                        help="the item loadings' parameterisation (default: ModelConfig's)")
    parser.add_argument("--loading-prior", choices=("student_t", "normal", "horseshoe"),
                        default=None, help="the loadings' prior (default: ModelConfig's)")
    args = parser.parse_args()
    wave = load_wave(REPO / "data" / "demo")
    changes = {"loading_parameterization": args.loadings, "loading_prior": args.loading_prior}
    # the probes read the sampled correlation, and their hand-built variants sample the
    # blocks' scales: the base model does too, like with like
    config = ModelConfig(value_prior="lkj", integrate_scales=False,
                         **{k: v for k, v in changes.items() if v is not None})
    data = prepare_data(wave, config)
    start = time.perf_counter()
    model = build(args.variant, data, config)
    sampler = resolve_sampler_config(  # the value input's settings, as fit_wave resolves them
        SamplerConfig(draws=args.draws, tune=args.tune, chains=args.chains,
                      fused_likelihood=True, seed=args.seed), data.value_input, config)
    idata = _sample(model, sampler, progress=False)
    wall = time.perf_counter() - start
    post = _rescale(idata["posterior"].to_dataset())
    stats = idata["sample_stats"].to_dataset()
    print(f"{args.variant}: {args.chains} x ({args.tune} + {args.draws}), wall {wall:.0f} s, "
          f"{float(stats['n_steps'].mean()):.1f} steps per draw, "
          f"{int(stats['diverging'].sum())} divergences")
    per_k = 1000 / float(stats["n_steps"].sum())  # bulk ESS per 1,000 gradients (saved draws)
    print("| variable | max R-hat | min bulk ESS | per 1,000 gradients |\n|---|---|---|---|")
    rows = [(name, *_rhat_ess(post[name])) for name in post.data_vars
            if not str(name).endswith(("_z", "_raw", "_chol", "_a")) and post[name].ndim > 2
            or str(name).startswith("sigma_")]
    for name, rhat, ess in sorted(rows, key=lambda r: -r[1])[:12]:
        print(f"| {name} | {rhat:.3f} | {ess:.0f} | {ess * per_k:.2f} |")
    print("\n| direction | max R-hat | min bulk ESS |\n|---|---|---|")
    for name, da in directions(post):
        rhat, ess = _rhat_ess(da)
        print(f"| {name} | {rhat:.3f} | {ess:.0f} |")


if __name__ == "__main__":
    main()
