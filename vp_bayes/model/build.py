"""The hierarchical Bayesian item model, built by a pure function.

For participant i, latent value v, statement item j and questionnaire item k::

    theta_i  = mu_g(i) + L z_i            z_i ~ N(0, I);  L L' = R ~ LKJ(eta)
    mu_g(i)  = sum_axes sigma_a * e_a[g_a(i)]    e_a ~ ZeroSumNormal over groups
    alpha_i  = sigma_alpha * u_i          (response style; shared by questionnaire and items)
    x_ik     ~ CumLogit(lambda_k theta_{i,v(k)} + alpha_i, c_k)        (raw answers)
    z_iv     ~ N(sqrt(rel_v) theta_iv, sqrt(1 - rel_v))               (pre-scored values)
    beta_jv  = m_v + s_v w_jv             (loadings, shrunk toward the value's mean loading)
    y_ij     ~ CumLogit(beta_j . theta_i + alpha_i + b_j, kappa)      (shared thresholds)
            or CumLogit(beta_j . theta_i + alpha_i, kappa_j)            (per-item thresholds)

Identification: theta has population mean 0 (group effects sum to zero) and unit variance
(R is a correlation matrix), which fixes its location and scale; lambda_k > 0 and the
positive coefficient of the standardised pre-scored values fix its sign; alpha has mean 0
and enters with coefficient 1 (its scale is that of the logistic noise); b has mean 0, so
the cutpoints carry the overall location. To remove ridges that slow the sampler, the
non-centred loading deviations, the item locations and the response styles sum to zero over
items / participants (ZeroSumNormal): m_v is then exactly the mean loading, and the sample
means of b and alpha are exactly 0. Ipsative (MRAT-centred) pre-scored values never vary in
one direction; the loadings' component along it is projected out (see ``null_space``).
All parameterisations are non-centred and vectorised over observations, with two
exceptions. The anchored response styles (``style_parameterization = "anchored"``, opt-in):
with the values as data the sampler moves each participant's overall level
``alpha_i + theta_i . m`` and ``alpha`` follows from it (:func:`_anchored_styles`). And the
loading deviations of raw-answer waves (``loading_parameterization = "partial"``, the
default there) are centred per loading as far as the ratings inform them
(:mod:`vp_bayes.model.partial`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.config import ModelConfig, resolve_model_config
from vp_bayes.model.data import ModelData, prepare_data
from vp_bayes.model.fused import RawCutpoints, matrix_t_term, questions_term, ratings_term
from vp_bayes.model.likelihood import ordered_cutpoints, ordinal_logp, pad_cutpoints
from vp_bayes.model.partial import loading_likelihood_sd, widening
from vp_bayes.model.scales import IntegratedScale, zero_sum_block
from vp_bayes.wave.core import Wave
from vp_bayes.wave.simulate import ordered_logistic

# Names of the item parameters: what scoring reads from the posterior.
ITEM_PARAMS = ("beta", "b", "kappa")


def build_model(wave: Wave, config: ModelConfig | None = None, *,
                fused: bool = False) -> pm.Model:
    """Build (never fit) the PyMC model of a wave.

    Parameters
    ----------
    wave
        A validated survey wave.
    config
        Model configuration; defaults to :class:`ModelConfig()`.
    fused
        Write the two ordinal likelihood terms as fused ops (:mod:`vp_bayes.model.fused`:
        value and gradient in one compiled function; what :func:`~vp_bayes.model.fit.fit_wave`
        samples by default, ``SamplerConfig.fused_likelihood``) instead of observed variables
        built from graph operations, and the values' matrix-t prior (inverse-Wishart values)
        as one op as well (:func:`matrix_t_logp_fused`). The density is the same; the fused
        model has no observed variables (``y``, ``x``) to draw predictive samples from, so
        prior predictive checks use the default.

    Returns
    -------
    pm.Model

    Raises
    ------
    InputError
        When ``config`` is invalid (:meth:`ModelConfig.validate`).
    """
    config = config or ModelConfig()
    config.validate()
    return build_model_from_data(prepare_data(wave, config), config, fused=fused)


def _cumlogit_random(eta, padded, rng=None, size=None):
    eta = np.asarray(eta) if size is None else np.broadcast_to(eta, size)
    return (ordered_logistic(rng, eta, padded[..., 1:-1]) - 1).astype(np.int64)


def _cumlogit_random_table(eta, table, group, rng=None, size=None):
    # The table may arrive with (broadcast) batch dimensions before its (G, K+1) core.
    group = np.asarray(group)
    batch = np.broadcast_shapes(group.shape, np.shape(table)[:-2])
    table = np.broadcast_to(table, batch + np.shape(table)[-2:])
    rows = np.broadcast_to(group, batch)[..., None, None]
    padded = np.take_along_axis(table, rows, axis=-2)[..., 0, :]
    return _cumlogit_random(eta, padded, rng=rng, size=size)


def _data(name: str, values: np.ndarray) -> pt.TensorVariable:
    """An observed array or index as model data (a shared variable), not a graph constant.

    PyTensor's Numba backend freezes constants into the compiled code: every wave then
    compiled its log density from scratch (about 60-140 s on two cores). As data, the code of
    two waves with the same configuration is the same and the compile cache serves both. The
    ratings, questionnaire answers and their indices go through here (exact and calibrated
    values are ``pm.Data`` too); the pre-scored values of ``value_input="latent"`` (plain or
    in the ipsative subspace) are still constants, so such waves share less of their code.
    """
    return pm.Data(f"data_{name}", values)


def _cumlogit(name: str, eta, padded, observed: np.ndarray, dim: str,
              group: pt.TensorVariable | None = None):
    """A cumulative-logit observed variable (categories 0..K-1) with a log-space logp.

    ``padded`` holds shared cutpoints (K+1,), or a table (G, K+1) indexed per observation by
    ``group`` (model data: the question of each answer, or the item of each rating when items
    have their own thresholds).
    """
    params = (eta, padded) if group is None else (eta, padded, group)
    return pm.CustomDist(
        name, *params,
        logp=lambda value, *p: ordinal_logp(value, *p),
        random=_cumlogit_random if group is None else _cumlogit_random_table,
        signature="(),(p)->()" if group is None else "(),(g,p),()->()",
        observed=_data(name, observed), dtype="int64", dims=dim,
    )


# Above this share of the participant x item grid being rated, the ratings' linear predictor
# is computed as the dense product theta @ beta.T and then gathered (one BLAS product and a
# gather of N scalars, instead of gathering and scattering two (N, V) arrays). Measured on the
# ratings term alone: 2.2x faster at 27% density (the 2,000 x 300 benchmark wave: 30 -> 14 ms),
# 2.6x slower at 8% (the real wave: 1.6 vs 4.2 ms).
DENSE_DENSITY = 0.15


def rating_predictor(beta, theta, item: np.ndarray, participant: np.ndarray,
                     n_items: int, n_participants: int, *, item_data, participant_data):
    """``eta_n = beta[item_n] . theta[participant_n]``, dense or gathered by density
    (``*_data``: the same indices as model data, :func:`_data`)."""
    if item.size >= DENSE_DENSITY * n_items * n_participants:
        return (theta @ beta.T).ravel()[_data("rating_cell", participant * n_items + item)]
    return (beta[item_data] * theta[participant_data]).sum(axis=-1)


# Half-normal prior scales of the zero-sum blocks' scales: sigma_{axis}, sigma_alpha, sigma_b.
EFFECT_SCALE_PRIOR, STYLE_SCALE_PRIOR, LOCATION_SCALE_PRIOR = 0.5, 1.0, 1.0


def integrated_scales(data: ModelData, config: ModelConfig) -> list[IntegratedScale]:
    """The scales ``config.integrate_scales`` integrates out of the model (none otherwise):
    what :func:`vp_bayes.model.fit.fit_wave` draws after sampling. ``config`` is resolved
    for the data's value input first, as :func:`build_model_from_data` does."""
    config = resolve_model_config(config, data.value_input)
    if not config.integrate_scales:
        return []
    out = [IntegratedScale(f"sigma_{axis.name}", f"effect_{axis.name}_block",
                           EFFECT_SCALE_PRIOR, (axis.dim,))
           for axis in data.axes if data.covariates is None]
    if config.response_style:
        out.append(IntegratedScale("sigma_alpha", "alpha", STYLE_SCALE_PRIOR,
                                   (dims.PARTICIPANT,)))
    if config.thresholds == "shared":
        out.append(IntegratedScale("sigma_b", "b", LOCATION_SCALE_PRIOR, (dims.ITEM,)))
    return out


def _group_effects(data: ModelData, config: ModelConfig) -> dict[str, pt.TensorVariable]:
    """Each demographic axis's zero-sum group effects (groups, V), by axis name."""
    effects = {}
    for axis in data.axes:
        if config.integrate_scales:
            shape = (len(data.values), len(axis.groups))
            effects[axis.name] = zero_sum_block(f"effect_{axis.name}_block", EFFECT_SCALE_PRIOR,
                                                (dims.VALUE, axis.dim), (1,), shape).T
            continue
        sigma = pm.HalfNormal(f"sigma_{axis.name}", EFFECT_SCALE_PRIOR)
        # ZeroSumNormal sums to zero over its LAST axis: put the groups there.
        raw = pm.ZeroSumNormal(f"effect_{axis.name}_raw", sigma=1.0, dims=(dims.VALUE, axis.dim))
        effects[axis.name] = sigma * raw.T
    return effects


def _save_effects(data: ModelData, effects: dict[str, pt.TensorVariable], scale=None) -> None:
    """The group effects as ``effect_{axis}``, divided by ``scale`` when given."""
    for axis in data.axes:
        effect = effects[axis.name]
        pm.Deterministic(f"effect_{axis.name}", effect if scale is None else effect / scale,
                         dims=(axis.dim, dims.VALUE))


def _sum_effects(data: ModelData, effects: dict[str, pt.TensorVariable]) -> pt.TensorVariable:
    """(P, V) population means ``mu_g(i)``: the sum of each axis's group effects."""
    n_v = len(data.values)
    mu = pt.zeros((len(data.participants), n_v))
    for axis in data.axes:
        padded = pt.concatenate([effects[axis.name], pt.zeros((1, n_v))], axis=0)  # -1: zeros
        mu = mu + padded[_data(f"{axis.name}_code", axis.codes)]
    return mu


def _group_means(data: ModelData, config: ModelConfig) -> pt.TensorVariable:
    """(P, V) population means ``mu_g(i)``: the sum of each axis's zero-sum group effects."""
    effects = _group_effects(data, config)
    _save_effects(data, effects)
    return _sum_effects(data, effects)


def lkj_cholesky_jacobian(chol: pt.TensorVariable) -> pt.TensorVariable:
    """``log |dR / dL|`` for ``R = L L'``, L a correlation matrix's Cholesky factor.

    PyMC 6.3's ``LKJCorr`` takes the Cholesky factor L as its value but its log density is
    the LKJ density of R, ``(eta - 1) log det R``, evaluated at L; the transform's Jacobian
    maps the unconstrained vector to L's strictly lower elements, so nothing maps L to R. The
    missing term is ``sum_j (n - 1 - j) log L_jj`` (0-based j: row i's block of dR/dL is
    triangular with diagonal ``L_jj``, j < i). Without it NUTS samples a prior that favours
    near-singular correlations and depends on the values' order (n = 10, eta = 2: the first
    correlation's prior variance 0.19 against LKJ's 0.077, mean log det R -8.3 against
    -5.5; ``tests/test_model_build.py`` checks the prior against the LKJ's known marginals).

    Parameters
    ----------
    chol
        The (n, n) Cholesky factor, as ``pm.LKJCorr`` returns it.

    Returns
    -------
    pytensor.tensor.TensorVariable
        The scalar log Jacobian.
    """
    n = chol.shape[-1]
    return pt.sum(pt.arange(n - 1, -1, -1) * pt.log(pt.diagonal(chol)))


def lkj_cholesky(n: int, eta: float) -> pt.TensorVariable:
    """``corr_chol``, the Cholesky factor of an n x n correlation ``R ~ LKJ(eta)``, with the
    Jacobian term that makes its prior the LKJ's (:func:`lkj_cholesky_jacobian`, the potential
    ``corr_chol_jacobian``). Every ``LKJCorr`` of a model goes through here.

    PyMC 6.3's ``LKJCorr`` is parameterised by (and returns) the Cholesky factor of the
    correlation matrix: lower triangular with unit-norm rows.

    Parameters
    ----------
    n
        Size of the matrix.
    eta
        The LKJ shape (``ModelConfig.lkj_eta``).

    Returns
    -------
    pytensor.tensor.TensorVariable
        The Cholesky factor ``corr_chol``.
    """
    chol = pm.LKJCorr("corr_chol", n=n, eta=eta)
    pm.Potential("corr_chol_jacobian", lkj_cholesky_jacobian(chol))
    return chol


def lkj_correlation(n: int, eta: float) -> pt.TensorVariable:
    """The values' correlation: :func:`lkj_cholesky` (same parameters, same return) and
    ``corr = L L'`` (dims ``value``, ``value_b``, which the model's coordinates must have)."""
    chol = lkj_cholesky(n, eta)
    pm.Deterministic("corr", chol @ chol.T, dims=(dims.VALUE, f"{dims.VALUE}_b"))
    return chol


def _latent_values(data: ModelData, config: ModelConfig) -> pt.TensorVariable:
    mu = _group_means(data, config)
    chol = lkj_correlation(len(data.values), config.lkj_eta)
    z = pm.Normal("theta_z", 0.0, 1.0, dims=(dims.PARTICIPANT, dims.VALUE))
    zeta = mu + z @ chol.T
    if data.ipsative_latent:
        # Ipsative values: theta is the centred part of zeta, its projection onto the subspace
        # the pre-scored values span (see _prescored_subspace).
        null = data.value_null_space
        zeta = zeta - (zeta @ null) @ null.T
    return pm.Deterministic("theta", zeta, dims=(dims.PARTICIPANT, dims.VALUE))


def inverse_wishart_df(n_values: int, eta: float) -> float:
    """Degrees of freedom ``nu = 2 eta + 2V - 3`` of the values' inverse-Wishart prior, which
    give each correlation the LKJ(eta) marginal, ``(1 - r^2)^(eta - 1 + (V - 2) / 2)``."""
    return 2.0 * eta + 2.0 * n_values - 3.0


def matrix_t_logp(value, mu, nu, psi):
    """log density of the matrix-t, up to a constant: rows ``value_i ~ N(mu_i, Sigma)`` with
    ``Sigma ~ InvWishart(nu, psi)`` integrated out, ``-(nu + P) / 2 log det(psi + E'E)``,
    ``E = value - mu`` (P rows)."""
    resid = value - mu
    chol = pt.linalg.cholesky(psi + resid.T @ resid)
    return -(nu + value.shape[0]) * pt.sum(pt.log(pt.diagonal(chol)))


def matrix_t_draw(mu, nu, psi, rng=None, size=None) -> np.ndarray:
    """Draws of the matrix-t (:func:`matrix_t_logp`), ``size`` of them (``None``: one): each
    takes ``Sigma ~ InvWishart(nu, psi)``, then every row ``N(mu_i, Sigma)``; for prior
    (predictive) sampling."""
    from scipy.stats import invwishart

    batch = tuple(size) if size is not None else ()
    mus = np.broadcast_to(mu, batch + np.shape(mu)[-2:])
    out = np.empty(mus.shape)
    for index in np.ndindex(batch):
        sigma = np.atleast_2d(invwishart(df=float(nu), scale=psi).rvs(random_state=rng))
        out[index] = mus[index] + rng.multivariate_normal(np.zeros(len(psi)), sigma,
                                                          size=mus.shape[-2])
    return out


def matrix_t_logp_fused(value, mu, nu, psi):
    """:func:`matrix_t_logp` as one op (:func:`vp_bayes.model.fused.matrix_t_term`), the
    fused model's: a new machine compiles about a hundred graph nodes fewer."""
    return matrix_t_term(value - mu, psi, nu + value.shape[0])


def _matrix_t_centre(rv, size, mu, nu, psi):
    return mu


def _collapsed_values(data: ModelData, config: ModelConfig, fused: bool = False):
    """Values whose covariance is integrated out (``value_prior = "inverse_wishart"``).

    ``theta_raw_i ~ MvNormal(mu_g(i), Sigma)``, ``Sigma ~ InvWishart(nu, (nu - V - 1) I)``
    (prior mean I, :func:`inverse_wishart_df`). Integrated over Sigma, theta_raw's prior is
    the matrix-t (:func:`matrix_t_logp`), ``log p = -(nu + P) / 2 log det(Psi + E'E) +
    const``, ``E = theta_raw - mu``: the sampler sees theta_raw (centred) and no correlation
    parameter, and prior predictive sampling draws Sigma and then theta_raw. The questionnaire
    fixes theta_raw's scale (its loadings are anchored per value: :func:`_anchored_loadings`).
    Saved on the unit scale through ``E[Sigma | theta_raw] = (Psi + E'E) / (nu + P - V - 1)``:
    ``value_scale`` its square-rooted diagonal, ``theta = theta_raw / value_scale`` (what the
    ratings read) and the group effects divided by it. ``value_scatter`` (``Psi + E'E``) is
    saved for :func:`draw_collapsed_correlation`, which draws the values' correlation from
    ``Sigma | theta_raw`` after sampling.

    Returns
    -------
    theta_raw, value_scale, theta
    """
    n_p, n_v = len(data.participants), len(data.values)
    nu = inverse_wishart_df(n_v, config.lkj_eta)
    psi = (nu - n_v - 1.0) * np.eye(n_v)
    effects = _group_effects(data, config)
    mu = pt.broadcast_to(_sum_effects(data, effects), (n_p, n_v))
    logp = matrix_t_logp_fused if fused else matrix_t_logp
    raw = pm.CustomDist("theta_raw", mu, np.float64(nu), psi, logp=logp,
                        random=matrix_t_draw, support_point=_matrix_t_centre,
                        signature="(p,v),(),(v,v)->(p,v)", class_name="MatrixT",
                        dims=(dims.PARTICIPANT, dims.VALUE))
    resid = raw - mu
    scatter = psi + resid.T @ resid
    pm.Deterministic(COLLAPSED_SCATTER, scatter, dims=(dims.VALUE, f"{dims.VALUE}_b"))
    # the scatter's diagonal without the matrix product: the fused model's log density needs
    # only the scales (its matrix-t op forms the scatter itself; the full scatter is saved from
    # the trace), and a product with its gradient adds compiled nodes
    diagonal = np.diag(psi) + pt.sum(resid**2, axis=0)
    scale = pm.Deterministic("value_scale", pt.sqrt(diagonal / (nu + n_p - n_v - 1.0)),
                             dims=dims.VALUE)
    _save_effects(data, effects, scale)
    theta = pm.Deterministic("theta", raw / scale, dims=(dims.PARTICIPANT, dims.VALUE))
    return raw, scale, theta


# The collapsed model's ``Psi + E'E`` per draw: the scale matrix of ``Sigma | theta_raw``.
COLLAPSED_SCATTER = "value_scatter"


def draw_collapsed_correlation(scatter: np.ndarray, df: float,
                               rng: np.random.Generator) -> np.ndarray:
    """The values' correlation drawn from ``Sigma | theta_raw ~ InvWishart(df, scatter)``.

    ``Sigma`` enters the collapsed model only through theta_raw's prior, so given theta_raw
    it is conjugate: ``df = nu + P``, ``scatter = Psi + E'E`` (:func:`_collapsed_values`). One
    draw per posterior draw makes ``corr`` a posterior draw (its conditional mean would leave
    out ``Var(corr | theta_raw)``, about the sampling variance of a correlation over P people:
    90% intervals of a simulated wave's 45 correlations covered 0.80 with it).

    Parameters
    ----------
    scatter
        (..., V, V) scale matrices, one per posterior draw.
    df
        Degrees of freedom ``nu + P``.
    rng
        Random numbers.

    Returns
    -------
    (..., V, V) correlation matrices.
    """
    sigma = inverse_wishart_draws(scatter, df, rng)
    sd = np.sqrt(np.diagonal(sigma, axis1=-2, axis2=-1))
    return sigma / sd[..., :, None] / sd[..., None, :]


def inverse_wishart_draws(scale: np.ndarray, df: float,
                          rng: np.random.Generator) -> np.ndarray:
    """One draw of ``InvWishart(df, scale)`` per (..., V, V) scale matrix, all at once.

    Bartlett's decomposition: with ``scale = U U'`` (Cholesky) and A lower triangular,
    ``A_kk^2 ~ chi2(df - k)`` (k = 0..V-1) and ``A_kl ~ N(0, 1)`` below the diagonal,
    ``W = U^-T A A' U^-1 ~ Wishart(df, scale^-1)``, so ``Sigma = W^-1 = B B'`` with
    ``B = U A^-T``.
    """
    scale = np.asarray(scale, dtype=float)
    n = scale.shape[-1]
    batch = scale.shape[:-2]
    a = np.tril(rng.standard_normal((*batch, n, n)), -1)
    diag = np.sqrt(rng.chisquare(df - np.arange(n), size=(*batch, n)))
    a[..., np.arange(n), np.arange(n)] = diag
    b = np.linalg.cholesky(scale) @ np.swapaxes(np.linalg.inv(a), -1, -2)
    return b @ np.swapaxes(b, -1, -2)


def collapsed_df(data: ModelData, config: ModelConfig) -> float:
    """Degrees of freedom of ``Sigma | theta_raw``: ``nu + P``."""
    return inverse_wishart_df(len(data.values), config.lkj_eta) + len(data.participants)


def _anchored_loadings(question_value: np.ndarray) -> pt.TensorVariable:
    """Questionnaire loadings whose geometric mean over each value's questions is 1:
    ``lam_k = exp(e_k - mean of e over the questions of value v(k))``, ``e_k ~ N(0, 0.5)``."""
    qv = question_value
    onehot = np.zeros((len(qv), int(qv.max()) + 1))
    onehot[np.arange(len(qv)), qv] = 1.0
    onehot /= onehot.sum(axis=0, keepdims=True)
    log_lam = pm.Normal("lam_log_raw", 0.0, 0.5, dims=dims.QUESTION)
    return pt.exp(log_lam - (log_lam @ onehot)[qv])


def _prescored_subspace(data: ModelData, theta) -> None:
    """Ipsative pre-scored values as noisy measures, in the subspace they span.

    MRAT-centred values z_i never vary along the null directions N, so only
    u_i = Q' z_i (Q an orthonormal basis of the complement, V - r coordinates) is data. The
    model is ``z*_i = sqrt(rel) * theta_i + e_i``, ``e_i ~ N(0, diag(1 - rel))``, observed as
    ``u_i = Q' z*_i ~ N(Q' (sqrt(rel) * theta_i), Q' diag(1 - rel) Q)`` (a constant
    covariance, passed by its Cholesky factor).
    """
    basis = data.value_basis
    chol = np.linalg.cholesky(basis.T @ np.diag(1.0 - data.reliability) @ basis)
    load = basis * np.sqrt(data.reliability)[:, None]  # (V, V - r)
    pm.MvNormal("values_obs", mu=theta @ load, chol=chol, observed=data.values_z @ basis,
              dims=(dims.PARTICIPANT, dims.VALUE_BASIS))


def _value_measurement(data: ModelData, theta, alpha, fused: bool, scale=None) -> None:
    """The questionnaire answers or pre-scored values given the values ``theta``.

    ``scale`` given (the values' covariance integrated out: :func:`_collapsed_values`),
    ``theta`` is on the questionnaire's own scale, the loadings are anchored
    (:func:`_anchored_loadings`) and saved as ``lam`` times the values' scales.
    """
    if data.value_input == "instrument":
        ins = data.instrument
        if scale is None:
            lam = pm.LogNormal("lam", 0.0, 0.5, dims=dims.QUESTION)
        else:
            lam = _anchored_loadings(ins.question_value)
            pm.Deterministic("lam", lam * scale[ins.question_value], dims=dims.QUESTION)
        first = pm.Normal("c_first", -2.0, 1.5, dims=dims.QUESTION)
        log_gaps = pm.Normal("c_log_gaps", 0.0, 0.7,
                             shape=(len(ins.questions), ins.n_categories - 2))
        cuts = ordered_cutpoints(first, log_gaps)
        pm.Deterministic("c", cuts)
        if fused:
            pm.Potential("x_loglik", questions_term(
                lam, theta, alpha, RawCutpoints(first, log_gaps),
                _data("question_value", ins.question_value),
                _data("answer_participant", ins.participant),
                _data("answer_question", ins.question), _data("x", ins.y)))
            return
        # Dense (participant x question) predictor, then one flat gather of the answers.
        grid = lam * theta[:, _data("question_value", ins.question_value)]
        if alpha is not None:
            grid = grid + alpha[:, None]
        eta = grid.ravel()[_data("answer_cell", ins.participant * len(ins.questions)
                                 + ins.question)]
        _cumlogit("x", eta, pad_cutpoints(cuts), ins.y, "answer",
                  group=_data("answer_question", ins.question))
        return
    if data.ipsative_latent:
        _prescored_subspace(data, theta)
        return
    rel = data.reliability
    obs = ~np.isnan(data.values_z)
    rows, cols = np.nonzero(obs)
    pm.Normal("values_obs", mu=np.sqrt(rel)[cols] * theta[rows, cols],
              sigma=np.sqrt(1.0 - rel)[cols], observed=data.values_z[rows, cols],
              dims="value_obs")


def _centered_loadings(config: ModelConfig, m, s) -> pt.TensorVariable:
    """Loadings drawn directly around the value's mean loading (centred parameterisation)."""
    if config.loading_prior == "student_t":
        return pm.StudentT("beta_c_z", nu=config.loading_nu, mu=m, sigma=s,
                           dims=(dims.ITEM, dims.VALUE))
    return pm.Normal("beta_c_z", mu=m, sigma=s, dims=(dims.ITEM, dims.VALUE))


def _student_t_deviations(config: ModelConfig) -> pt.TensorVariable:
    """Standardised Student-t loading deviations, drawn directly (``noncentered``) or as a
    scale mixture of normals (``mixture``): ``w = z sqrt(tau)``, ``z ~ N(0, 1)``,
    ``tau ~ InvGamma(nu / 2, nu / 2)``, the same prior with each loading's local scale
    explicit, as the horseshoe has."""
    shape = (dims.ITEM, dims.VALUE)
    nu = config.loading_nu
    if config.loading_parameterization == "mixture":
        tau = pm.InverseGamma("beta_mix", alpha=nu / 2, beta=nu / 2, dims=shape)
        return pm.Normal("beta_z", 0.0, 1.0, dims=shape) * pt.sqrt(tau)
    return pm.StudentT("beta_z", nu=nu, mu=0.0, sigma=1.0, dims=shape)


def _partial_deviations(config: ModelConfig, data: ModelData, s) -> pt.TensorVariable:
    """Loading deviations ``d`` (prior ``s w``, w Student-t, its scale mixture or normal),
    partially centred per loading by the ratings' information about it
    (:mod:`vp_bayes.model.partial`): ``d = z s / r`` with ``z ~ prior(0, r)`` and
    ``r = sqrt(1 + (s / sigma)^2)``, ``s`` times ``sqrt(beta_mix)`` under the mixture."""
    shape = (dims.ITEM, dims.VALUE)
    nu = config.loading_nu
    scale = s
    if config.loading_parameterization == "partial_mixture":
        tau = pm.InverseGamma("beta_mix", alpha=nu / 2, beta=nu / 2, dims=shape)
        scale = s * pt.sqrt(tau)
    # model data, not a constant: waves of one configuration share their compiled code
    wide = widening(scale, _data("loading_sd", loading_likelihood_sd(data)))
    if config.loading_prior == "student_t" and config.loading_parameterization == "partial":
        z = pm.StudentT("beta_p_z", nu=nu, mu=0.0, sigma=wide, dims=shape)
    else:
        z = pm.Normal("beta_p_z", 0.0, wide, dims=shape)
    return z * (scale / wide)


# The regularised horseshoe's slab: c^2 ~ InvGamma(SLAB_DF / 2, SLAB_DF * SLAB_SCALE^2 / 2).
SLAB_SCALE = 1.0
SLAB_DF = 4.0


def _horseshoe_scale(prefix: str, tau, slab: float, local_dims) -> pt.TensorVariable:
    """Regularised horseshoe scales ``tau * lambda~`` (Piironen & Vehtari 2017, EJS 11).

    Creates the local scales ``{prefix}_local ~ HalfCauchy(1)`` (dims ``local_dims``) and the
    squared slab ``{prefix}_slab2 ~ InvGamma(SLAB_DF / 2, SLAB_DF * slab^2 / 2)``;
    ``lambda~^2 = c^2 lambda^2 / (c^2 + tau^2 lambda^2)`` bounds large effects by the slab
    scale c while small ones shrink with the global scale ``tau``.
    """
    local = pm.HalfCauchy(f"{prefix}_local", 1.0, dims=local_dims)
    slab2 = pm.InverseGamma(f"{prefix}_slab2", alpha=SLAB_DF / 2, beta=SLAB_DF * slab**2 / 2)
    return tau * pt.sqrt(slab2 * local**2 / (slab2 + tau**2 * local**2))


def _horseshoe_deviations(s) -> pt.TensorVariable:
    """Loading deviations ``w_jv = s_v lambda~_jv z_jv`` under the regularised horseshoe,
    with the value's loading scale ``s_v`` as global scale and slab ``SLAB_SCALE``."""
    z = pm.Normal("beta_z", 0.0, 1.0, dims=(dims.ITEM, dims.VALUE))
    return _horseshoe_scale("beta", s, SLAB_SCALE, (dims.ITEM, dims.VALUE)) * z


# DIF effects follow a regularised horseshoe over items (most items function alike, a few
# differ a lot): global scale ~ HalfNormal(DIF_*_SCALE), half-Cauchy local scale per item,
# slab scale DIF_*_SLAB with SLAB_DF degrees of freedom (logits; log loading multiplier).
DIF_LOCATION_SCALE, DIF_LOCATION_SLAB = 0.1, 2.0
DIF_LOADING_SCALE, DIF_LOADING_SLAB = 0.05, 1.0


def _dif_terms(data: ModelData, i: np.ndarray, j):
    """Per-rating loading multiplier and location shift of the rater's group (DIF); ``i``
    the raters' indices, ``j`` the items' (model data).

    ``dif_location[j, g]`` shifts item j's predictor for group g and ``dif_loading[j, g]``
    multiplies its loadings by ``exp(.)``; both sum to zero over groups (so the item
    parameters are the groups' average) and are shrunk by a regularised horseshoe over
    items (``DIF_*`` constants). Raters of unknown group get neither.
    """
    axis = data.dif
    item_dims = (dims.ITEM, axis.dim)

    def effect(name: str, scale: float, slab: float):
        tau = pm.HalfNormal(f"{name}_sd", scale)
        item_scale = _horseshoe_scale(name, tau, slab, dims.ITEM)
        raw = pm.ZeroSumNormal(f"{name}_z", sigma=1.0, dims=item_dims)
        return pm.Deterministic(name, item_scale[:, None] * raw, dims=item_dims)

    loc = effect("dif_location", DIF_LOCATION_SCALE, DIF_LOCATION_SLAB)
    log_mult = effect("dif_loading", DIF_LOADING_SCALE, DIF_LOADING_SLAB)
    g = axis.codes[i]
    known = _data("dif_known", (g >= 0).astype(np.int8)) > 0
    gi = _data("dif_group", np.where(g >= 0, g, 0))
    return (pt.where(known, pt.exp(log_mult[j, gi]), 1.0),
            pt.where(known, loc[j, gi], 0.0))


# The gamma prior's shape: 2 makes its density vanish linearly at zero (boundary-avoiding,
# Chung et al. 2013, Psychometrika 78), the least that removes the funnel's neck.
LOADING_SCALE_SHAPE = 2.0


def _loading_scales(config: ModelConfig) -> pt.TensorVariable:
    """The per-value spreads ``beta_sd`` of the loadings around their mean, under the prior
    ``config.loading_scale_family`` names."""
    if config.loading_scale_family == "gamma":
        return pm.Gamma("beta_sd", alpha=LOADING_SCALE_SHAPE, beta=config.loading_scale_rate,
                        dims=dims.VALUE)
    return pm.HalfNormal("beta_sd", config.loading_scale_prior, dims=dims.VALUE)


def _anchored_styles(theta, m, n_participants: int) -> pt.TensorVariable:
    """Response styles sampled through each participant's overall level on the items.

    With the values as data, the ratings see ``alpha_i + theta_i . m`` (the style plus the mean
    loadings' part of the predictor), so ``m`` and the non-centred styles form one ridge per
    value (posterior correlation about -0.94 on the real wave). Here the sampler's coordinate
    is that level, ``a = alpha + c(theta m)`` (``c`` centres over participants; ``a`` sums
    to zero as alpha does), with a flat density, and the styles' prior
    ``ZeroSumNormal(sigma_alpha)`` is evaluated at ``alpha = a - c(theta m)``: the same
    model (the map from ``alpha`` to ``a`` has unit Jacobian), its ``m`` identified by the
    regression of the levels on the values instead of along the ridge.
    """
    sigma_alpha = pm.HalfNormal("sigma_alpha", STYLE_SCALE_PRIOR)
    level = pm.ZeroSumNormal("alpha_level_raw", sigma=1.0, dims=dims.PARTICIPANT)
    # Cancels the ZeroSumNormal's N(0, 1) density: the level's own density is flat.
    pm.Potential("alpha_level_flat", 0.5 * pt.sum(level**2))
    general = theta @ m
    alpha = level - (general - general.mean())
    pm.Potential("alpha_prior", -(n_participants - 1) * pt.log(sigma_alpha)
                 - pt.sum(alpha**2) / (2.0 * sigma_alpha**2))
    return pm.Deterministic("alpha", alpha, dims=dims.PARTICIPANT)


def _item_ratings(data: ModelData, config: ModelConfig, theta, alpha, fused: bool) -> None:
    n_items = len(data.items)
    k = data.n_categories
    null = data.value_null_space
    ipsative = null is not None and null.shape[1] > 0
    m = pm.Normal("beta_mean_raw" if ipsative else "beta_mean", 0.0, 0.5, dims=dims.VALUE)
    if ipsative:  # only the identified part of the mean loading is kept and diagnosed
        m = pm.Deterministic("beta_mean", m - (m @ null) @ null.T, dims=dims.VALUE)
    s = _loading_scales(config)
    if config.loading_parameterization == "centered":
        beta = _centered_loadings(config, m, s)
    elif config.loading_parameterization in ("partial", "partial_mixture"):
        dev = _partial_deviations(config, data, s)
        beta = m + dev - dev.mean(axis=0)
    else:
        # w sums to zero over items, so m is exactly the mean loading (no m <-> mean(w) ridge).
        if config.loading_prior == "horseshoe":
            dev = _horseshoe_deviations(s)
            beta = m + dev - dev.mean(axis=0)
        elif config.loading_prior == "student_t":
            w = _student_t_deviations(config)
            beta = m + s * (w - w.mean(axis=0))
        else:
            w = pm.ZeroSumNormal("beta_z", sigma=1.0, dims=(dims.VALUE, dims.ITEM)).T
            beta = m + s * w
    if ipsative:
        # Ipsative (MRAT-centred) values never vary along `null`: remove that component of
        # the loadings so it cannot trade off against item locations and cutpoints.
        beta = beta - (beta @ null) @ null.T
    beta = pm.Deterministic("beta", beta, dims=(dims.ITEM, dims.VALUE))
    if config.response_style and config.style_parameterization == "anchored":
        alpha = _anchored_styles(theta, m, len(data.participants))
    j, i = data.rating_item, data.rating_participant
    b = None
    if config.thresholds == "shared":
        # Item locations sum to zero: the cutpoints alone carry the overall location.
        if config.integrate_scales:
            b = zero_sum_block("b", LOCATION_SCALE_PRIOR, (dims.ITEM,), (0,), (n_items,))
        else:
            sigma_b = pm.HalfNormal("sigma_b", LOCATION_SCALE_PRIOR)
            b = pm.Deterministic("b", sigma_b * pm.ZeroSumNormal("b_z", sigma=1.0,
                                                                 dims=dims.ITEM), dims=dims.ITEM)
        first = pm.Normal("kappa_first", -2.0, 2.0)
        log_gaps = pm.Normal("kappa_log_gaps", 0.0, 1.0, shape=k - 2)
        kappa = pm.Deterministic("kappa", ordered_cutpoints(first, log_gaps), dims=dims.CUTPOINT)
    else:
        first_mu = pm.Normal("kappa_first_mean", -2.0, 2.0)
        first_sd = pm.HalfNormal("kappa_first_sd", 1.0)
        gap_mu = pm.Normal("kappa_log_gap_mean", 0.0, 1.0, shape=k - 2)
        gap_sd = pm.HalfNormal("kappa_log_gap_sd", 0.5)
        first = first_mu + first_sd * pm.Normal("kappa_first_z", 0.0, 1.0, dims=dims.ITEM)
        log_gaps = gap_mu + gap_sd * pm.Normal("kappa_log_gap_z", 0.0, 1.0,
                                               shape=(n_items, k - 2))
        kappa = pm.Deterministic("kappa", ordered_cutpoints(first, log_gaps),
                                 dims=(dims.ITEM, dims.CUTPOINT))
    item, rater = _data("rating_item", j), _data("rating_participant", i)
    group = item if config.thresholds != "shared" else None  # items with their own cutpoints
    if fused:
        if data.dif is not None:
            raise InputError("the fused likelihood has no DIF terms: unset dif_axis or "
                             "fused_likelihood", field="dif_axis")
        pm.Potential("y_loglik", ratings_term(
            beta, theta, alpha, b, RawCutpoints(first, log_gaps), item, rater,
            _data("y", data.rating_y), group))
        return
    padded = pad_cutpoints(kappa)
    eta = rating_predictor(beta, theta, j, i, n_items, len(data.participants),
                           item_data=item, participant_data=rater)
    if data.dif is not None:
        scale, shift = _dif_terms(data, i, item)
        eta = eta * scale + shift
    if alpha is not None:
        eta = eta + alpha[rater]
    if b is not None:
        eta = eta + b[item]
    _cumlogit("y", eta, padded, data.rating_y, "rating", group=group)


def build_model_from_data(data: ModelData, config: ModelConfig, *,
                          fused: bool = False) -> pm.Model:
    """Build the model from prepared arrays (see :func:`build_model`)."""
    config.validate()
    config = resolve_model_config(config, data.value_input)
    if config.value_prior == "inverse_wishart" and data.value_input != "instrument":
        raise InputError(f"the inverse-Wishart value prior needs raw questionnaire answers "
                         f"(value input {data.value_input!r})", field="value_prior")
    coords = data.coords()
    if not fused:
        coords["rating"] = np.arange(len(data.rating_y))
    if data.instrument is not None:
        if not fused:
            coords["answer"] = np.arange(len(data.instrument.y))
    elif data.ipsative_latent:
        coords[dims.VALUE_BASIS] = np.arange(data.value_basis.shape[1])
    else:
        coords["value_obs"] = np.arange(int((~np.isnan(data.values_z)).sum()))
    with pm.Model(coords=coords) as model:
        measured, scale = None, None  # the values the questionnaire reads, their scales
        if data.covariates is not None:  # exact or calibrated: the values are data
            theta = pm.Data("theta", data.covariates, dims=(dims.PARTICIPANT, dims.VALUE))
        elif config.value_prior == "inverse_wishart":
            measured, scale, theta = _collapsed_values(data, config, fused=fused)
        else:
            theta = _latent_values(data, config)
        alpha = None
        if config.response_style and config.integrate_scales:
            alpha = zero_sum_block("alpha", STYLE_SCALE_PRIOR, (dims.PARTICIPANT,), (0,),
                                   (len(data.participants),))
        elif config.response_style and config.style_parameterization == "anchored":
            if data.covariates is None:
                raise InputError(f"anchored response styles need the values as data (value "
                                 f"input exact or calibrated, not {data.value_input!r})",
                                 file="config", field="style_parameterization")
            # built with the loadings' mean (_item_ratings)
        elif config.response_style:
            sigma_alpha = pm.HalfNormal("sigma_alpha", STYLE_SCALE_PRIOR)
            alpha = pm.Deterministic(
                "alpha",
                sigma_alpha * pm.ZeroSumNormal("alpha_z", sigma=1.0, dims=dims.PARTICIPANT),
                dims=dims.PARTICIPANT)
        if data.covariates is None:
            _value_measurement(data, theta if measured is None else measured, alpha, fused,
                               scale)
        _item_ratings(data, config, theta, alpha, fused)
    return model
