r"""The per-draw conditional posterior of one respondent, by Newton + Laplace + importance sampling.

For item-parameter draw s the respondent's unknowns are ``x = (theta, alpha, o)``: latent
values theta (V), response style alpha (when the model has one) and, optionally, one intercept
shift o_g per prompt variant. With ``eta_jg = beta_j . theta + alpha + b_j + o_g`` and rating
weights ``W_jgk`` (the number of ratings of item j in category k under variant g; soft ratings
add their probabilities instead of a count of one), the log posterior is::

    log p(x | y, params_s) = sum_jgk W_jgk log P_s(y = k | eta_jg)
                             - theta' corr_s^-1 theta / 2 - alpha^2 / (2 sigma_alpha_s^2)
                             - sum_g o_g^2 / (2 * 0.5^2) + const.

It is concave in x (cumulative-logit likelihoods are log-concave in eta, eta is linear in x
and the prior is Gaussian), so Newton's method with step halving finds the mode of every
draw at once. With ``a, b`` the lower and upper cut of category k::

    d log P / d eta   = sigmoid(a - eta) - sigmoid(eta - b)
    d2 log P / d eta2 = -[s1 (1 - s1) + s2 (1 - s2)],  s1 = sigmoid(a - eta), s2 = sigmoid(eta - b)

The Laplace approximation ``N(mode_s, (-H_s)^-1)`` is then used as an importance-sampling
proposal (multivariate t, ``IS_DF`` degrees of freedom, same location and scale): the weights
``p / q`` are self-normalised within each draw s and ``n_per_draw`` samples are drawn by
systematic resampling, so every draw s keeps exactly ``n_per_draw`` samples (the mixture over
s is the cut posterior with equal weights) and sample m of draw s lines up across respondents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from scipy.special import expit, log_expit, logsumexp

from vp_bayes.model.likelihood import gap_logp_np, pad_cutpoints_np
from vp_bayes.scoring.posterior import ItemDraws

OFFSET_SD = 0.5  # prior SD of the per-variant intercept shifts
IS_DF = 10.0  # degrees of freedom of the multivariate-t proposal
MAX_NEWTON = 100
CHUNK_ELEMENTS = 4_000_000  # largest (draws x samples x items x variants x K) block evaluated


@dataclass(frozen=True)
class RespondentData:
    """One respondent's usable ratings, aggregated into weights.

    Attributes
    ----------
    item_index
        Positions (J_r,) of the rated items in :attr:`ItemDraws.items`.
    weights
        W (J_r, G, K): rating weight of item j, variant group g, category k. G = 1 when the
        variants are pooled (no variant offsets).
    variants
        Labels of the G variant groups (``("all",)`` when pooled).
    """

    item_index: np.ndarray
    weights: np.ndarray
    variants: tuple[str, ...]

    @property
    def n_weight(self) -> float:
        """Total rating weight (the number of usable ratings)."""
        return float(self.weights.sum())


@dataclass(frozen=True)
class Layout:
    """Positions of theta, alpha and the variant offsets inside the parameter vector x."""

    n_values: int
    has_alpha: bool
    n_offsets: int

    @property
    def size(self) -> int:
        """Dimension D of x."""
        return self.n_values + int(self.has_alpha) + self.n_offsets

    @property
    def alpha(self) -> int:
        """Index of alpha in x."""
        return self.n_values

    @property
    def offsets(self) -> slice:
        """Slice of the variant offsets in x."""
        start = self.n_values + int(self.has_alpha)
        return slice(start, start + self.n_offsets)


@dataclass(frozen=True)
class Problem:
    """The conditional posteriors of one respondent for all S draws, ready to evaluate.

    The ratings are held sparsely: one entry e per (item j, variant group g, category k) with
    positive weight, sorted by the unit ``j * G + g``; ``lower``/``upper`` are the cuts that
    bound the entry's category under each draw.
    """

    layout: Layout
    beta: np.ndarray  # (S, J, V)
    shift: np.ndarray  # (S, J) item location b (zeros with per-item thresholds)
    n_groups: int  # G
    unit: np.ndarray  # (E,) j * G + g, sorted
    weight: np.ndarray  # (E,)
    lower: np.ndarray  # (S, E)
    upper: np.ndarray  # (S, E)
    gap: np.ndarray  # (S,) sum_e w_e log(1 - exp(lower - upper)): depends on the cuts only
    precision: np.ndarray  # (S, D, D) prior precision of x

    @property
    def n_draws(self) -> int:
        """S."""
        return int(self.beta.shape[0])

    @property
    def size(self) -> int:
        """Dimension D of x."""
        return self.layout.size

    @property
    def cost_per_sample(self) -> int:
        """Elements evaluated per sample and draw (sets the chunk size)."""
        return max(self.weight.size, self.beta.shape[1] * self.n_groups)

    def draws_slice(self, sl: slice) -> Problem:
        """The same problem restricted to the draws ``sl``."""
        return replace(self, beta=self.beta[sl], shift=self.shift[sl], lower=self.lower[sl],
                       upper=self.upper[sl], gap=self.gap[sl], precision=self.precision[sl])

    def log_posterior(self, x: np.ndarray) -> np.ndarray:
        """:func:`log_posterior` of this problem."""
        return log_posterior(self, x)

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`gradient_hessian` of this problem."""
        return gradient_hessian(self, x)


class Target(Protocol):
    """What Newton + Laplace + importance sampling need of a posterior over S draws.

    Implemented by :class:`Problem` (one respondent, per draw),
    :class:`vp_bayes.scoring.marginal.MarginalProblem` (one respondent, items integrated) and
    :class:`vp_bayes.scoring.joint.JointProblem` (a model and its personas).
    """

    @property
    def n_draws(self) -> int: ...  # noqa: D102

    @property
    def size(self) -> int: ...  # noqa: D102

    @property
    def cost_per_sample(self) -> int: ...  # noqa: D102

    def draws_slice(self, sl: slice) -> Target: ...  # noqa: D102

    def log_posterior(self, x: np.ndarray) -> np.ndarray: ...  # noqa: D102

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # noqa: D102


def make_problem(draws: ItemDraws, data: RespondentData, variant_offsets: bool) -> Problem:
    """Gather the item parameters of the rated items and the prior precision of x."""
    s, v = draws.n_draws, len(draws.values)
    idx = data.item_index
    weights = data.weights if variant_offsets else data.weights.sum(axis=1, keepdims=True)
    n_groups = weights.shape[1]
    layout = Layout(v, draws.sigma_alpha is not None, n_groups if variant_offsets else 0)
    beta = draws.beta[:, idx]
    shift = draws.b[:, idx] if draws.b is not None else np.zeros((s, len(idx)))
    j, g, k = np.nonzero(weights)  # lexicographic: sorted by unit j * G + g
    padded = pad_cutpoints_np(draws.cuts)  # (S, K+1) or (S, J_all, K+1)
    if draws.shared_thresholds:
        lower, upper = padded[:, k], padded[:, k + 1]
    else:
        lower, upper = padded[:, idx[j], k], padded[:, idx[j], k + 1]
    weight = weights[j, g, k]
    gap = (weight * gap_logp_np(lower, upper)).sum(axis=1)
    prec = np.zeros((s, layout.size, layout.size))
    prec[:, :v, :v] = np.linalg.inv(draws.corr)
    if layout.has_alpha:
        prec[:, layout.alpha, layout.alpha] = 1.0 / draws.sigma_alpha**2
    off = np.arange(layout.size)[layout.offsets]
    prec[:, off, off] = 1.0 / OFFSET_SD**2
    return Problem(layout, beta, shift, n_groups, j * n_groups + g, weight, lower, upper, gap,
                   prec)


def _expand(a: np.ndarray, extra: int) -> np.ndarray:
    """Insert ``extra`` length-1 axes after the draws axis."""
    return a.reshape(a.shape[:1] + (1,) * extra + a.shape[1:])


def linear_predictor(problem: Problem, x: np.ndarray) -> np.ndarray:
    """eta (S, ..., J, G) for parameter vectors x (S, ..., D); the draws axis comes first."""
    lay = problem.layout
    v = lay.n_values
    extra = x.ndim - 2  # sample axes between draws and D
    eta = np.einsum("...jv,...v->...j", _expand(problem.beta, extra), x[..., :v])
    eta = eta + _expand(problem.shift, extra)
    if lay.has_alpha:
        eta = eta + x[..., lay.alpha, None]
    eta = eta[..., None]
    if lay.n_offsets:
        eta = eta + x[..., None, lay.offsets]
    return eta


def _entry_eta(problem: Problem, x: np.ndarray) -> np.ndarray:
    eta = linear_predictor(problem, x)
    return eta.reshape(eta.shape[:-2] + (-1,))[..., problem.unit]


def log_posterior(problem: Problem, x: np.ndarray) -> np.ndarray:
    """Unnormalised log posterior at x (S, ..., D) -> (S, ...).

    The log-likelihood term is ``sum_e w_e log P(y = k_e | eta_e)`` evaluated with the
    log-space identity of :mod:`vp_bayes.model.likelihood` on the rated categories only
    (equal to ``sum W * category_logp_np(eta, cuts)``; tested).
    """
    extra = x.ndim - 2
    eta = _entry_eta(problem, x)
    lower, upper = _expand(problem.lower, extra), _expand(problem.upper, extra)
    terms = log_expit(upper - eta) + log_expit(eta - lower)
    loglik = terms @ problem.weight + _expand(problem.gap, extra)
    quad = np.einsum("...d,...de,...e->...", x, _expand(problem.precision, extra), x)
    return loglik - 0.5 * quad


def eta_derivatives(problem: Problem, eta_entry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted first and second derivatives of the log-likelihood w.r.t. eta, (S, J, G) each.

    ``eta_entry`` is eta at each entry (S, E).
    """
    s1 = expit(problem.lower - eta_entry)
    s2 = expit(eta_entry - problem.upper)
    w = problem.weight
    g_e = (s1 - s2) * w
    h_e = -(s1 * (1.0 - s1) + s2 * (1.0 - s2)) * w
    n_units = problem.beta.shape[1] * problem.n_groups
    grad = np.zeros((eta_entry.shape[0], n_units))
    hess = np.zeros_like(grad)
    if problem.unit.size:
        starts = np.flatnonzero(np.r_[True, np.diff(problem.unit) != 0])
        units = problem.unit[starts]
        grad[:, units] = np.add.reduceat(g_e, starts, axis=1)
        hess[:, units] = np.add.reduceat(h_e, starts, axis=1)
    shape = (eta_entry.shape[0], problem.beta.shape[1], problem.n_groups)
    return grad.reshape(shape), hess.reshape(shape)


def gradient_hessian(problem: Problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient (S, D) and Hessian (S, D, D) of :func:`log_posterior` at x (S, D)."""
    lay = problem.layout
    v = lay.n_values
    g_eta, h_eta = eta_derivatives(problem, _entry_eta(problem, x))
    g_item, h_item = g_eta.sum(axis=2), h_eta.sum(axis=2)  # (S, J)
    beta = problem.beta
    grad = np.zeros_like(x)
    hess = np.zeros(x.shape + (x.shape[-1],))
    grad[:, :v] = np.einsum("sj,sjv->sv", g_item, beta)
    hess[:, :v, :v] = np.matmul(np.swapaxes(beta * h_item[..., None], 1, 2), beta)
    if lay.has_alpha:
        a = lay.alpha
        grad[:, a] = g_item.sum(axis=1)
        cross = np.einsum("sj,sjv->sv", h_item, beta)
        hess[:, :v, a] = cross
        hess[:, a, :v] = cross
        hess[:, a, a] = h_item.sum(axis=1)
    if lay.n_offsets:
        o = lay.offsets
        grad[:, o] = g_eta.sum(axis=1)
        h_var = h_eta.sum(axis=1)  # (S, G)
        cross = np.einsum("sjg,sjv->svg", h_eta, beta)
        hess[:, :v, o] = cross
        hess[:, o, :v] = np.swapaxes(cross, 1, 2)
        if lay.has_alpha:
            hess[:, lay.alpha, o] = h_var
            hess[:, o, lay.alpha] = h_var
        idx = np.arange(lay.size)[o]
        hess[:, idx, idx] = h_var
    grad -= np.einsum("sde,se->sd", problem.precision, x)
    hess -= problem.precision
    return grad, hess


def find_modes(problem: Target, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, int]:
    """Mode of every draw's conditional posterior by damped Newton, all draws at once.

    Returns
    -------
    mode
        (S, D).
    neg_hessian
        (S, D, D) the posterior precision at the mode.
    iterations
        Newton iterations used.
    """
    s, d = problem.n_draws, problem.size
    x = np.zeros((s, d))
    f = problem.log_posterior(x)
    for it in range(1, MAX_NEWTON + 1):
        grad, hess = problem.gradient_hessian(x)
        step = np.linalg.solve(-hess, grad[..., None])[..., 0]
        decrement = np.einsum("sd,sd->s", grad, step)  # Newton decrement squared
        if np.all(decrement < tol):
            return x, -hess, it
        t = np.ones(s)
        for _ in range(40):
            x_new = x + t[:, None] * step
            f_new = problem.log_posterior(x_new)
            worse = f_new < f - 1e-12 * np.abs(f)
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        x = np.where(worse[:, None], x, x_new)  # a draw that never improves stays put
        f = np.where(worse, f, f_new)
    _, hess = problem.gradient_hessian(x)
    return x, -hess, MAX_NEWTON


@dataclass(frozen=True)
class LaplaceResult:
    """Samples of one respondent: ``samples`` (S, M, D) plus importance-sampling diagnostics."""

    samples: np.ndarray
    mode: np.ndarray
    ess_fraction: float  # mean over draws of ESS / M
    pareto_k: float  # Pareto k-hat of the pooled within-draw normalised weights (nan if none)
    iterations: int


def _systematic(weights: np.ndarray, rng: np.random.Generator,
                n_out: int | None = None) -> np.ndarray:
    """Systematic resampling indices (S, n_out) from normalised weights (S, M)."""
    s, m = weights.shape
    n_out = m if n_out is None else n_out
    cum = np.cumsum(weights, axis=1)
    cum[:, -1] = 1.0
    pos = (rng.random((s, 1)) + np.arange(n_out)[None, :]) / n_out
    return np.stack([np.searchsorted(cum[i], pos[i], side="left") for i in range(s)]) \
        .clip(max=m - 1)


def _chunked_log_posterior(problem: Target, x: np.ndarray) -> np.ndarray:
    s, m = x.shape[:2]
    per_draw = m * problem.cost_per_sample
    step = max(1, CHUNK_ELEMENTS // max(per_draw, 1))
    out = np.empty((s, m))
    for start in range(0, s, step):
        sl = slice(start, start + step)
        out[sl] = problem.draws_slice(sl).log_posterior(x[sl])
    return out


def pareto_khat(log_weights: np.ndarray) -> float:
    """Pareto k-hat of importance log weights (ArviZ' PSIS estimator; nan below 25 weights)."""
    from arviz_stats.base import array_stats

    flat = np.asarray(log_weights, dtype=float).ravel()
    flat = flat[np.isfinite(flat)]
    if flat.size < 25:  # PSIS fits the largest 20%: too few to fit a tail
        return float("nan")
    if np.ptp(flat) == 0:
        return 0.0
    # arviz_stats' psislw takes the negated log ratios (its LOO convention: log-likelihoods)
    _, khat = array_stats.psislw(flat.max() - flat, axis=-1)
    return float(khat)


def laplace_samples(problem: Target, n_per_draw: int, rng: np.random.Generator,
                    importance: bool = True, n_proposals: int | None = None) -> LaplaceResult:
    """Draw ``n_per_draw`` samples per item draw from the Laplace (+ IS) posterior.

    With importance sampling, ``n_proposals`` proposals per draw (default ``n_per_draw``) are
    weighted and ``n_per_draw`` samples are resampled from them (with repeats when fewer).
    """
    mode, precision, iterations = find_modes(problem)
    s, d = mode.shape
    chol = np.linalg.cholesky(precision)  # precision = L L'
    scale = np.linalg.inv(np.swapaxes(chol, 1, 2))  # x = mode + L'^-1 z has covariance prec^-1
    n_prop = n_per_draw if n_proposals is None or not importance else n_proposals
    z = rng.standard_normal((s, n_prop, d))
    if not importance:
        x = mode[:, None, :] + np.einsum("sde,sme->smd", scale, z)
        return LaplaceResult(x, mode, 1.0, float("nan"), iterations)
    u = rng.chisquare(IS_DF, size=(s, n_prop, 1)) / IS_DF
    t = z / np.sqrt(u)
    x = mode[:, None, :] + np.einsum("sde,sme->smd", scale, t)
    log_q = -0.5 * (IS_DF + d) * np.log1p((t**2).sum(-1) / IS_DF)
    log_p = _chunked_log_posterior(problem, x)
    log_w = log_p - log_q
    log_w -= logsumexp(log_w, axis=1, keepdims=True)  # normalised within each draw s
    w = np.exp(log_w)
    ess = 1.0 / (w**2).sum(axis=1)
    pick = _systematic(w, rng, n_per_draw)
    x = np.take_along_axis(x, pick[..., None], axis=1)
    return LaplaceResult(x, mode, float(ess.mean() / n_prop), pareto_khat(log_w), iterations)
