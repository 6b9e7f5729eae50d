r"""The per-draw conditional posterior of one respondent, by Newton + Laplace + importance sampling.

For item-parameter draw s the respondent's unknowns are ``x = (theta, alpha, o)``: latent
values theta (V), response style alpha (when the model has one) and, optionally, one intercept
shift o_g per prompt variant. With ``eta_jg = beta_j . theta + alpha + b_j + o_g`` and rating
weights ``W_jgk`` (the number of ratings of item j in category k under variant g; soft ratings
add their probabilities instead of a count of one), the log posterior is::

    log p(x | y, params_s) = sum_jgk W_jgk log P_s(y = k | eta_jg)
                             - theta' corr_s^-1 theta / (2 c^2) - alpha^2 / (2 c^2 sigma_alpha_s^2)
                             - sum_g o_g^2 / (2 * 0.5^2) + const.

with ``c`` the prior scale (:data:`PRIOR_SCALE`; :func:`prior_precision`).

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
from scipy.linalg import solve_triangular
from scipy.special import expit, log_expit, logsumexp

from vp_bayes.model.likelihood import gap_logp_np, pad_cutpoints_np
from vp_bayes.scoring.posterior import ItemDraws

OFFSET_SD = 0.5  # prior SD of the per-variant intercept shifts
PRIOR_SCALE = 2.0  # default prior SD of an LLM's values (and response style), in human SDs
TAU_SCALE = 1.0  # |tau| ~ HalfNormal(TAU_SCALE): SD of a respondent's item deviation (logits)
TAU_SD = 1.0  # prior SD of x_tau = tau / TAU_SCALE
TAU_START = 0.5  # Newton starts x_tau here: at 0 its gradient vanishes by symmetry
SIGMA_LOG_SD = 1.0  # prior SD of log sigma, the respondent's rating-noise scale (humans: 0)
MAX_LOG_SCALE = 6.0  # |log sigma| is clipped here (no overflow during Newton's line search)
IS_DF = 10.0  # degrees of freedom of the multivariate-t proposal
ADAPT_BELOW = 0.5  # ESS fraction below which a single-draw target's proposal is refitted
K_HAT_MAX = 0.7  # Pareto k-hat above which importance weights are unreliable (refit, warn)
AMIS_ROUNDS = 4  # largest number of refitted proposal rounds of a single-draw target
AMIS_COMPONENTS = 3  # largest number of t components of a refitted proposal
ADAPT_PROPOSALS_PER_DIM = 50  # ... if it has at least this many proposals per dimension (the
# weighted covariance of a collapsed high-dimensional round is too narrow: measured on jointly
# scored personas, 78 dimensions, the refit cut persona-contrast coverage from 0.875 to 0.725)
MAX_NEWTON = 100
STALL = 1e-12  # relative gain in log density of a Newton iteration below which it has stalled
# (the default target's gradient omits a small term where its quadrature rules are blended:
# the decrement can stay above tol with nothing left to gain)
MAX_STEP = 2.0  # largest change of one coordinate of x in a Newton step (a trust region:
# far from the mode the clipped Hessian is nearly singular and its step useless)
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
    """Positions of theta, alpha, the variant offsets and the respondent's noise inside x.

    ``x = (theta (V), alpha, o_1..o_G, tau / TAU_SCALE, log sigma)``: alpha when the
    model has a response style, the G offsets with variant offsets, the last two entries when
    the respondent's own noise is modelled (``has_tau``, :mod:`.marginal`): one shared item
    deviation ``e_j ~ N(0, tau^2)`` per item and the scale sigma of its rating noise (the
    latent rating is ``eta + e_j + sigma * logistic``; humans have sigma = 1 by the model's
    identification, a near-deterministic LLM much less). Offsets and noise are the
    respondent's own (never shared with its personas).
    """

    n_values: int
    has_alpha: bool
    n_offsets: int
    has_tau: bool = False

    @property
    def size(self) -> int:
        """Dimension D of x."""
        return self.n_values + int(self.has_alpha) + self.n_offsets + 2 * int(self.has_tau)

    @property
    def alpha(self) -> int:
        """Index of alpha in x."""
        return self.n_values

    @property
    def offsets(self) -> slice:
        """Slice of the variant offsets in x."""
        start = self.n_values + int(self.has_alpha)
        return slice(start, start + self.n_offsets)

    @property
    def tau(self) -> int:
        """Index of ``tau / TAU_SCALE`` in x (only with ``has_tau``; signed, only tau^2 enters
        the likelihood, so its prior ``N(0, 1)`` makes |tau| half-normal: a posterior near
        tau = 0 stays near-Gaussian, where log tau had a long tail)."""
        return self.size - 2

    @property
    def sigma(self) -> int:
        """Index of ``log sigma`` in x (the last entry; only with ``has_tau``)."""
        return self.size - 1

    def start(self) -> np.ndarray:
        """Newton's starting point (D,): zeros, but tau away from its symmetric point 0."""
        x = np.zeros(self.size)
        if self.has_tau:
            x[self.tau] = TAU_START
        return x

    @property
    def own(self) -> slice:
        """The respondent's own parameters (offsets, item deviation), at the end of x."""
        return slice(self.offsets.start, self.size)

    def own_precision(self) -> np.ndarray:
        """Prior precisions of the :attr:`own` entries (offsets, tau, log sigma)."""
        noise = [1.0 / TAU_SD**2, 1.0 / SIGMA_LOG_SD**2] if self.has_tau else []
        return np.r_[np.full(self.n_offsets, 1.0 / OFFSET_SD**2), noise]


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

    def start(self) -> np.ndarray:
        """Newton's starting point (S, D): :meth:`Layout.start` for every draw."""
        return np.broadcast_to(self.layout.start(), (self.n_draws, self.size)).copy()

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

    def start(self) -> np.ndarray: ...  # noqa: D102

    def log_posterior(self, x: np.ndarray) -> np.ndarray: ...  # noqa: D102

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...  # noqa: D102


def prior_precision(draws: ItemDraws, layout: Layout,
                    prior_scale: float = PRIOR_SCALE) -> np.ndarray:
    """(S, D, D) prior precision of a respondent's x.

    ``theta ~ MVN(0, prior_scale^2 corr_s)``, ``alpha ~ N(0, (prior_scale sigma_alpha_s)^2)``:
    the fitted human population's correlation and response-style SD, widened by
    ``prior_scale`` (an LLM is not assumed to be a typical participant); offsets
    ``N(0, OFFSET_SD^2)``, ``tau / TAU_SCALE ~ N(0, TAU_SD^2)``, ``log sigma ~ N(0,
    SIGMA_LOG_SD^2)``.
    """
    s, v = draws.n_draws, len(draws.values)
    prec = np.zeros((s, layout.size, layout.size))
    prec[:, :v, :v] = np.linalg.inv(draws.corr) / prior_scale**2
    if layout.has_alpha:
        prec[:, layout.alpha, layout.alpha] = 1.0 / (prior_scale * draws.sigma_alpha) ** 2
    own = np.arange(layout.size)[layout.own]
    prec[:, own, own] = layout.own_precision()
    return prec


def make_problem(draws: ItemDraws, data: RespondentData, variant_offsets: bool,
                 prior_scale: float = PRIOR_SCALE, item_deviation: bool = False) -> Problem:
    """Gather the item parameters of the rated items and the prior precision of x.

    ``item_deviation`` adds the respondent's noise to the layout (``tau / TAU_SCALE`` of a
    shared item deviation and ``log sigma`` of the rating noise); only the marginal target
    (:mod:`.marginal`) evaluates it.
    """
    s = draws.n_draws
    idx = data.item_index
    weights = data.weights if variant_offsets else data.weights.sum(axis=1, keepdims=True)
    n_groups = weights.shape[1]
    layout = Layout(len(draws.values), draws.sigma_alpha is not None,
                    n_groups if variant_offsets else 0, item_deviation)
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
    prec = prior_precision(draws, layout, prior_scale)
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


def find_modes(problem: Target, tol: float = 1e-10,
               max_iter: int = MAX_NEWTON) -> tuple[np.ndarray, np.ndarray, int]:
    """Mode of every draw's conditional posterior by damped Newton, all draws at once
    (until the Newton decrement is below ``tol``, at most ``max_iter`` iterations, or until
    no draw's line search finds a better point: then every later iteration would repeat it).

    Returns
    -------
    mode
        (S, D).
    neg_hessian
        (S, D, D) the posterior precision at the mode.
    iterations
        Newton iterations used.
    """
    s = problem.n_draws
    x = problem.start()
    f = problem.log_posterior(x)
    for it in range(1, max_iter + 1):
        grad, hess = problem.gradient_hessian(x)
        step = np.linalg.solve(-hess, grad[..., None])[..., 0]
        decrement = np.einsum("sd,sd->s", grad, step)  # Newton decrement squared
        if np.all(decrement < tol):
            return x, -hess, it
        step *= np.minimum(1.0, MAX_STEP / np.abs(step).max(axis=-1, keepdims=True))
        t = np.ones(s)
        for _ in range(40):
            x_new = x + t[:, None] * step
            f_new = problem.log_posterior(x_new)
            worse = f_new < f - 1e-12 * np.abs(f)
            if not worse.any():
                break
            t = np.where(worse, t / 2, t)
        if worse.all():  # no draw can improve: every later iteration would repeat this one
            return x, -hess, it
        x = np.where(worse[:, None], x, x_new)  # a draw that never improves stays put
        gain = np.where(worse, 0.0, f_new - f)
        f = np.where(worse, f, f_new)
        if np.all(gain <= STALL * (1.0 + np.abs(f))):  # no draw gains: Newton has stalled
            grad, hess = problem.gradient_hessian(x)
            return x, -hess, it
    _, hess = problem.gradient_hessian(x)
    return x, -hess, max_iter


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


def _importance_round(problem: Target, center: np.ndarray, scale: np.ndarray, z: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Multivariate-t proposals ``center + scale t`` (S, M, D) and their normalised log
    weights (S, M) (``scale``'s determinant is a constant per draw and cancels)."""
    d = z.shape[-1]
    u = rng.chisquare(IS_DF, size=z.shape[:2] + (1,)) / IS_DF
    t = z / np.sqrt(u)
    x = center[:, None, :] + np.einsum("sde,sme->smd", scale, t)
    log_q = -0.5 * (IS_DF + d) * np.log1p((t**2).sum(-1) / IS_DF)
    log_w = _chunked_log_posterior(problem, x) - log_q
    return x, log_w - logsumexp(log_w, axis=1, keepdims=True)  # normalised within each draw


@dataclass(frozen=True)
class Mixture:
    """A mixture of multivariate-t densities (``IS_DF`` degrees of freedom) on x (D,).

    ``centers`` (C, D), ``chols`` (C, D, D) lower Cholesky factors of the components' scale
    matrices, ``log_mass`` (C,) log mixture weights (summing to one). With ``fold`` (the index
    of ``tau / TAU_SCALE`` in x) the density is that of ``|x_fold|`` folded onto the other
    coordinates: the target depends on tau only through tau^2, so a proposal is compared with
    it on the folded space (:func:`_log_density`).
    """

    centers: np.ndarray
    chols: np.ndarray
    log_mass: np.ndarray
    fold: int | None = None

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points (n, D): components drawn by mass, then each component's t."""
        d = self.centers.shape[1]
        comp = rng.choice(len(self.log_mass), size=n, p=np.exp(self.log_mass))
        z = rng.standard_normal((n, d)) / np.sqrt(rng.chisquare(IS_DF, size=(n, 1)) / IS_DF)
        return self.centers[comp] + np.einsum("nde,ne->nd", self.chols[comp], z)

    def _log_components(self, x: np.ndarray) -> np.ndarray:
        """(N, C) ``log mass_c + log t_c(x)`` up to the constant shared by all components."""
        d = x.shape[1]
        out = np.empty((x.shape[0], len(self.log_mass)))
        for c, (mu, chol) in enumerate(zip(self.centers, self.chols, strict=True)):
            t = solve_triangular(chol, (x - mu).T, lower=True).T
            out[:, c] = (self.log_mass[c] - np.log(np.diag(chol)).sum()
                         - 0.5 * (IS_DF + d) * np.log1p((t**2).sum(-1) / IS_DF))
        return out

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Log density (N,) at points x (N, D), folded in ``fold`` (constant omitted)."""
        own = logsumexp(self._log_components(x), axis=1)
        if self.fold is None:
            return own
        mirror = x.copy()
        mirror[:, self.fold] *= -1.0
        return np.logaddexp(own, logsumexp(self._log_components(mirror), axis=1))


def _floored_scale(precision: np.ndarray, floor: float) -> np.ndarray:
    """Lower Cholesky factor of the covariance ``precision^-1`` with the precision's
    eigenvalues raised to at least ``floor`` (no direction wider than the prior's widest)."""
    vals, vecs = np.linalg.eigh(0.5 * (precision + precision.T))
    cov = (vecs / np.maximum(vals, floor)) @ vecs.T
    return np.linalg.cholesky(0.5 * (cov + cov.T))


def _fit_mixture(x: np.ndarray, log_w: np.ndarray, start: Mixture, n_components: int,
                 rng: np.random.Generator) -> Mixture:
    """A t mixture fitted to weighted points by a few weighted EM steps (Gaussian moments),
    each component's covariance shrunk toward the starting proposal's first scale with
    ``D + 2`` pseudo-points (so a handful of heavy points cannot make it degenerate)."""
    n, d = x.shape
    pts = x.copy()
    if start.fold is not None:
        pts[:, start.fold] = np.abs(pts[:, start.fold])
    w = np.exp(log_w - logsumexp(log_w))
    prior_cov = start.chols[0] @ start.chols[0].T
    k = max(1, min(n_components, int(1.0 / (w**2).sum() // (d + 2)) or 1))
    means = pts[rng.choice(n, size=k, replace=False, p=w)] if k > 1 else (w @ pts)[None]
    resp = np.ones((n, k)) / k
    for _ in range(10):
        dist = ((pts[:, None, :] - means[None]) ** 2 / np.diag(prior_cov)).sum(-1)
        resp = np.exp(-0.5 * (dist - dist.min(axis=1, keepdims=True)))
        resp /= resp.sum(axis=1, keepdims=True)
        mass = (w[:, None] * resp).sum(axis=0) + 1e-300
        means = ((w[:, None] * resp).T @ pts) / mass[:, None]
    chols, keep = [], mass > 1e-6
    n_eff = mass / (w**2 @ resp**2 / mass + 1e-300)  # effective points of each component
    for c in np.flatnonzero(keep):
        dev = pts - means[c]
        cov = (dev * (w * resp[:, c])[:, None]).T @ dev / mass[c]
        shrunk = (n_eff[c] * cov + (d + 2) * prior_cov) / (n_eff[c] + d + 2)
        chols.append(np.linalg.cholesky(0.5 * (shrunk + shrunk.T) + 1e-9 * np.eye(d)))
    log_mass = np.log(mass[keep] / mass[keep].sum())
    return Mixture(means[keep], np.stack(chols), log_mass, start.fold)


def _ess(log_w: np.ndarray) -> float:
    """Effective sample size of normalised log weights (N,)."""
    return float(1.0 / np.exp(2.0 * log_w).sum())


def adaptive_importance(problem: Target, first: Mixture, n_prop: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive multiple importance sampling (AMIS; Cornuet et al. 2012) of a single-draw
    target: proposals (N, D) and normalised log weights (N,).

    Round 0 draws ``n_prop`` points from ``first``. While the Pareto k-hat of all points so
    far is above ``K_HAT_MAX`` (at most ``AMIS_ROUNDS`` more rounds), and once when round 0's
    effective sample size is below ``ADAPT_BELOW`` of ``n_prop`` (as the earlier single refit
    round; more rounds there cost full-data portraits 5x the time), a t mixture is fitted to
    the weighted points (:func:`_fit_mixture`) and ``n_prop`` more are drawn from it. Every point is
    weighted against the equal-count mixture of all proposals used (the balance heuristic),
    so every round's points stay valid and the estimate is consistent whatever the fits.
    """
    mixtures = [first]
    x = first.sample(n_prop, rng)
    log_p = _chunked_log_posterior(problem, x[None])[0]
    log_w = _normalise(log_p - first.log_density(x))
    for round_ in range(AMIS_ROUNDS):
        low_ess = round_ == 0 and _ess(log_w) < ADAPT_BELOW * n_prop
        if not low_ess and not pareto_khat(log_w) > K_HAT_MAX:
            break
        mixtures.append(_fit_mixture(x, log_w, first, AMIS_COMPONENTS, rng))
        new = mixtures[-1].sample(n_prop, rng)
        x = np.vstack([x, new])
        log_p = np.r_[log_p, _chunked_log_posterior(problem, new[None])[0]]
        log_q = logsumexp(np.stack([m.log_density(x) for m in mixtures]), axis=0)
        log_w = _normalise(log_p - log_q)
    return x, log_w


def _normalise(log_w: np.ndarray) -> np.ndarray:
    """Log weights normalised to sum to one (non-finite ones get zero weight)."""
    log_w = np.where(np.isfinite(log_w), log_w, -np.inf)
    return log_w - logsumexp(log_w)


def _single_draw_first(problem: Target, mode: np.ndarray, precision: np.ndarray) -> Mixture:
    """The first proposal of a single-draw target: the Laplace t at the mode, its covariance
    no wider in any direction than the prior's widest (:func:`_floored_scale`), folded in
    tau when the target has a respondent item deviation."""
    prior = getattr(problem, "precision", None)
    floor = float(np.linalg.eigvalsh(prior[0]).min()) if prior is not None else 0.0
    chol = _floored_scale(precision[0], max(floor, 1e-12))
    layout = getattr(problem, "layout", None)
    fold = layout.tau if layout is not None and layout.has_tau else None
    return Mixture(mode, chol[None], np.zeros(1), fold)


def laplace_samples(problem: Target, n_per_draw: int, rng: np.random.Generator,
                    importance: bool = True, n_proposals: int | None = None) -> LaplaceResult:
    """Draw ``n_per_draw`` samples per item draw from the Laplace (+ IS) posterior.

    With importance sampling, ``n_proposals`` proposals per draw (default ``n_per_draw``) are
    weighted and ``n_per_draw`` samples are resampled from them (with repeats when fewer).

    A single-draw target (marginal scoring) is sampled by :func:`adaptive_importance` when it
    has at least
    ``ADAPT_PROPOSALS_PER_DIM`` proposals per dimension: the Laplace t first (no wider than
    the prior, folded in tau), then, while its weights are unreliable (k-hat above
    ``K_HAT_MAX``; once for an effective sample size below ``ADAPT_BELOW``), up to
    ``AMIS_ROUNDS`` rounds of t mixtures fitted to the weighted points. The diagnostics are
    those of all points weighted together (ESS as a fraction of one round's proposals).
    """
    mode, precision, iterations = find_modes(problem)
    s, d = mode.shape
    n_prop = n_per_draw if n_proposals is None or not importance else n_proposals
    if s == 1 and importance and n_prop >= ADAPT_PROPOSALS_PER_DIM * d:
        first = _single_draw_first(problem, mode, precision)
        x, log_w = adaptive_importance(problem, first, n_prop, rng)
        pick = _systematic(np.exp(log_w)[None], rng, n_per_draw)
        return LaplaceResult(x[pick], mode, min(1.0, _ess(log_w) / n_prop),
                             pareto_khat(log_w), iterations)
    chol = np.linalg.cholesky(precision)  # precision = L L'
    scale = np.linalg.inv(np.swapaxes(chol, 1, 2))  # x = mode + L'^-1 z has covariance prec^-1
    z = rng.standard_normal((s, n_prop, d))
    if not importance:
        x = mode[:, None, :] + np.einsum("sde,sme->smd", scale, z)
        return LaplaceResult(x, mode, 1.0, float("nan"), iterations)
    x, log_w = _importance_round(problem, mode, scale, z, rng)
    ess = 1.0 / (np.exp(2 * log_w)).sum(axis=1)
    pick = _systematic(np.exp(log_w), rng, n_per_draw)
    x = np.take_along_axis(x, pick[..., None], axis=1)
    return LaplaceResult(x, mode, float(ess.mean() / n_prop), pareto_khat(log_w), iterations)
