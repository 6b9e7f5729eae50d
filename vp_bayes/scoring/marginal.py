r"""Scoring with each item's parameters integrated out (``method="marginal"``, the default).

The cut posterior (:mod:`vp_bayes.scoring.laplace`) mixes, over item draws s, the posterior
of a respondent given draw s's parameters of *all* items at once. Each draw's loadings carry
estimation noise, and a respondent who rates every item is then fitted to noisy loadings:
errors-in-variables attenuation. Each draw's mode is pulled toward 0 by about
``B'B / (B'B + E'E)`` (true loadings B, their posterior noise E), and the mixture inherits it.
On a simulated wave with about 110 human ratings per item, LLM portraits came out at 0.75-0.8
of their true size, persona contrasts at about 0.5.

Here each item's parameters ``(beta_j, b_j)`` are integrated inside the likelihood, item by
item, under a Gaussian approximation of their posterior (mean ``m_j`` and covariance ``C_j``
of the S draws), together with the respondent's own deviation on the item
``e_j ~ N(0, tau^2)``, shared by all its ratings of the item (its prompt variants: in the 27
released LLMs an item's six variant ratings correlate 0.40, which independent ratings cannot
produce). Given the respondent's ``x = (theta, alpha, o, tau, log sigma)`` the item's linear
predictor is Gaussian, ``eta_j = mu_j + s_j u``, ``u ~ N(0, 1)``, with
``mu_j = m_j . (theta, 1) + alpha`` and ``s_j^2 = (theta, 1)' C_j (theta, 1) + tau^2``, and
each rating is ``eta_j + o_g + sigma * logistic`` cut at the human cutpoints (sigma: the
respondent's rating noise; humans have 1 by identification, consistent LLMs much less)::

    p(y_j | x) = integral phi(u) prod_e P(k_e | mu_j + s_j u + o_g(e), sigma)^(w_e) du

by adaptive Gauss-Hermite quadrature (``N_NODES`` nodes placed at the integrand's mode in u
and scaled by its curvature, as in lme4's nAGQ): fixed nodes fail when sigma is small and
the six ratings pin u sharply (measured in the real-wave regime: importance k-hat up to 2.8).
This is the respondent's posterior as if it were one more participant of the fit, with the item
posteriors Gaussian and independent across items: the respondent's own ratings of item j weigh
which of the item's plausible loadings fit, as in a joint fit, and the attenuation goes.
Cutpoints are fixed at their posterior means; with per-item thresholds the draws' shift of each
item's cutpoints is moved into the item's location, so location uncertainty is kept.

The gradient is analytic (posterior expectation over each item's nodes); the Hessian is the
forward difference of the gradient, made negative definite by clipping its eigenvalues if
needed. tau and sigma are integrated with the values: the Laplace proposal (tau signed with a
half-normal prior on |tau|, so a posterior near 0 stays near-Gaussian) is corrected by
importance resampling. There is one posterior, not one per draw: this target has a single
"draw".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
from scipy.special import expit, logsumexp

from vp_bayes.model.likelihood import gap_logp_np
from vp_bayes.scoring.laplace import (
    CHUNK_ELEMENTS,
    MAX_LOG_SCALE,
    TAU_SCALE,
    Layout,
    Problem,
)

N_NODES = 20  # Gauss-Hermite nodes per item
HESSIAN_STEP = 1e-5
MIN_CURVATURE = 1e-6


@numba.njit(cache=True)
def _log_expit(z: float) -> float:
    """log sigmoid(z), stable on both sides (0 at +inf)."""
    if z >= 0:
        return -math.log1p(math.exp(-z))
    return z - math.log1p(math.exp(z))


@numba.njit(cache=True)
def _expit(z: float) -> float:
    """sigmoid(z), stable on both sides."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


@numba.njit(cache=True, parallel=True)
def _agq_kernel(mu, s, off, has_off, sig, item, starts, weight, lower, upper, gap,
                gap_per_point, t, log_w, out_ll, out_u):  # pragma: no cover (compiled)
    """Adaptive Gauss-Hermite nodes of every rated item at every point.

    For point n and rated item r (entries ``starts[r]:starts[r+1]``, item ``j``), the
    integrand over the item's standard-normal deviation u is ``g(u) = log phi(u) +
    sum_e w_e log P(k_e | mu[n, j] + s[n, j] u + off[n, e])`` with the category probability
    ``sigmoid((hi - eta) / sig) sigmoid((eta - lo) / sig) (1 - exp((lo - hi) / sig))`` (the
    log-space identity of :mod:`vp_bayes.model.likelihood`). g is concave; Newton finds its
    mode ``u_hat`` and curvature, and the nodes are ``u_q = u_hat + c t_q``,
    ``c = (-g''(u_hat))^-1/2``; ``out_ll[n, r, q] = log w_q + g(u_q) + t_q^2 / 2 + log c``
    (minus log phi's constant), so ``logsumexp_q`` is ``log p(y_r | x)``; ``out_u`` holds
    ``u_q``. ``gap`` (E,) is the weighted log of the last factor at a fixed sigma unless
    ``gap_per_point``.
    """
    n_pts, n_items, n_nodes = out_ll.shape
    for n in numba.prange(n_pts):  # points in parallel (each writes its own rows)
        inv = 1.0 / sig[n]
        for r in range(n_items):
            e0, e1 = starts[r], starts[r + 1]
            j = item[e0]
            m, sc = mu[n, j], s[n, j]
            u = 0.0
            curv = -1.0
            for _ in range(60):  # Newton on the concave g(u), steps of at most 1 (no overshoot)
                g1 = -u
                g2 = -1.0
                for e in range(e0, e1):
                    eta = m + sc * u + (off[n, e] if has_off else 0.0)
                    pu = _expit((eta - upper[e]) * inv)  # = expit(-z_up)
                    pl = _expit((lower[e] - eta) * inv)  # = expit(-z_lo)
                    g1 += weight[e] * sc * (pl - pu) * inv
                    g2 -= weight[e] * sc * sc * (pu * (1 - pu) + pl * (1 - pl)) * inv * inv
                step = min(max(g1 / g2, -1.0), 1.0)
                u -= step
                curv = g2
                if abs(step) < 1e-7:
                    break
            c = 1.0 / math.sqrt(-curv)
            gsum = 0.0
            for e in range(e0, e1):
                if gap_per_point:
                    gsum += weight[e] * math.log(-math.expm1(min((lower[e] - upper[e]) * inv,
                                                                 -1e-300)))
                else:
                    gsum += gap[e]
            for q in range(n_nodes):
                uq = u + c * t[q]
                acc = gsum - 0.5 * uq * uq + 0.5 * t[q] * t[q]
                for e in range(e0, e1):
                    eta = m + sc * uq + (off[n, e] if has_off else 0.0)
                    acc += weight[e] * (_log_expit((upper[e] - eta) * inv)
                                        + _log_expit((eta - lower[e]) * inv))
                out_ll[n, r, q] = acc + log_w[q] + math.log(c)
                out_u[n, r, q] = uq


def _nodes(n: int = N_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and log weights (weights sum to 1)."""
    u, w = np.polynomial.hermite_e.hermegauss(n)
    return u, np.log(w / w.sum())


@dataclass(frozen=True)
class MarginalProblem:
    """A respondent's posterior with each item's parameters integrated (Gaussian, quadrature).

    Attributes
    ----------
    layout
        Positions of theta, alpha, offsets and the respondent's noise (tau, log sigma) in x.
    mean
        (J, V + 1) posterior means of ``(beta_j, b_j)`` of the rated items.
    cov
        (J, V + 1, V + 1) their posterior covariances.
    n_groups, unit, weight
        As in :class:`~vp_bayes.scoring.laplace.Problem` (entries sorted by item, group).
    lower, upper
        (E,) posterior-mean cuts bounding each entry's category.
    gap
        (E,) ``w_e log(1 - exp(lower - upper))``.
    precision
        (1, D, D) prior precision of x: the mean over draws.
    """

    layout: Layout
    mean: np.ndarray
    cov: np.ndarray
    n_groups: int
    unit: np.ndarray
    weight: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    gap: np.ndarray
    precision: np.ndarray

    @classmethod
    def from_problem(cls, problem: Problem, shared_thresholds: bool = True) -> MarginalProblem:
        """Moments of the item parameters over a per-draw problem's S draws."""
        params = np.concatenate([problem.beta, problem.shift[..., None]], axis=-1)  # (S,J,V+1)
        lower, upper = problem.lower.copy(), problem.upper.copy()
        j = problem.unit // problem.n_groups
        if not shared_thresholds and problem.unit.size:
            # each draw's mean shift of an item's finite cuts becomes (minus) a location
            cuts = np.where(np.isfinite(lower), lower, np.where(np.isfinite(upper), upper, 0))
            starts = np.flatnonzero(np.r_[True, np.diff(j) != 0])
            counts = np.diff(np.r_[starts, j.size])
            level = np.add.reduceat(cuts, starts, axis=1) / counts  # (S, J_e)
            delta = level - level.mean(axis=0)
            params[:, j[starts], -1] -= delta
            per_entry = delta[:, np.repeat(np.arange(starts.size), counts)]
            lower, upper = lower - per_entry, upper - per_entry
        with np.errstate(invalid="ignore"):  # -inf - -inf at the open ends
            lower, upper = lower.mean(axis=0), upper.mean(axis=0)
        lower = np.where(np.isnan(lower), -np.inf, lower)
        upper = np.where(np.isnan(upper), np.inf, upper)
        mean = params.mean(axis=0)
        dev = params - mean
        cov = np.einsum("sjv,sjw->jvw", dev, dev) / max(params.shape[0] - 1, 1)
        gap = problem.weight * gap_logp_np(lower, upper)
        return cls(problem.layout, mean, cov, problem.n_groups, problem.unit, problem.weight,
                   lower, upper, gap, problem.precision.mean(axis=0, keepdims=True))

    @property
    def n_draws(self) -> int:
        """One: the item parameters are integrated inside the likelihood."""
        return 1

    @property
    def size(self) -> int:
        """Dimension D of x."""
        return self.layout.size

    @property
    def cost_per_sample(self) -> int:
        """Elements evaluated per sample."""
        return max(self.unit.size, 1) * N_NODES

    def start(self) -> np.ndarray:
        """Newton's starting point (1, D) (:meth:`Layout.start`)."""
        return self.layout.start()[None]

    def draws_slice(self, sl: slice) -> MarginalProblem:
        """Itself (there is one draw)."""
        return self

    @cached_property
    def _item(self) -> np.ndarray:
        """Item position of each entry (E,)."""
        return self.unit // self.n_groups

    @cached_property
    def _item_starts(self) -> np.ndarray:
        """First entry of each rated item (J_e,)."""
        return np.flatnonzero(np.r_[True, np.diff(self._item) != 0])

    @cached_property
    def _item_of_entry(self) -> np.ndarray:
        """Rank among the rated items of each entry's item (E,)."""
        starts = self._item_starts
        return np.repeat(np.arange(starts.size), np.diff(np.r_[starts, self.unit.size]))

    def _tau(self, x: np.ndarray) -> np.ndarray:
        """SD of the respondent's item deviation at points x (N, D) -> (N,); 0 without one."""
        if not self.layout.has_tau:
            return np.zeros(x.shape[0])
        return TAU_SCALE * x[:, self.layout.tau]  # signed: only tau^2 enters

    def _sigma(self, x: np.ndarray) -> np.ndarray:
        """Scale of the respondent's rating noise at points x (N, D) -> (N,); 1 without one."""
        if not self.layout.has_tau:
            return np.ones(x.shape[0])
        return np.exp(np.clip(x[:, self.layout.sigma], -MAX_LOG_SCALE, MAX_LOG_SCALE))

    def _moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``mu (N, J)``, ``s (N, J)`` and ``C_j (theta, 1)`` (N, J, V+1) at points x (N, D).

        ``s^2 = (theta, 1)' C_j (theta, 1) + tau^2``: the item parameters' uncertainty and the
        respondent's item deviation, both shared by all ratings of the item.
        """
        lay = self.layout
        t1 = np.concatenate([x[:, : lay.n_values], np.ones((x.shape[0], 1))], axis=1)
        mu = t1 @ self.mean.T
        if lay.has_alpha:
            mu = mu + x[:, lay.alpha, None]
        ct = np.einsum("jvw,nw->njv", self.cov, t1)
        var = np.maximum(np.einsum("nv,njv->nj", t1, ct), 0.0) + self._tau(x)[:, None] ** 2
        return mu, np.sqrt(var), ct

    def _eta(self, x: np.ndarray, mu: np.ndarray, s: np.ndarray, u: np.ndarray) -> np.ndarray:
        """eta (N, E, Q) of each entry at each node."""
        item = self._item
        eta = mu[:, item, None] + s[:, item, None] * u
        if self.layout.n_offsets:
            eta = eta + x[:, self.layout.offsets][:, self.unit % self.n_groups, None]
        return eta

    def _node_loglik(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Adaptive quadrature of every rated item at points x (N, D): node terms
        ``l_jq`` (N, J_e, Q) whose logsumexp over q is ``log p(y_j | x)``, and the node
        positions ``u_jq`` (N, J_e, Q) (one fused Numba loop, :func:`_agq_kernel`)."""
        t, log_w = _nodes()
        mu, s, _ = self._moments(x)
        if self.layout.n_offsets:
            off = np.ascontiguousarray(x[:, self.layout.offsets][:, self.unit % self.n_groups])
        else:
            off = np.zeros((x.shape[0], 1))
        shape = (x.shape[0], self._item_starts.size, t.size)
        out_ll, out_u = np.empty(shape), np.empty(shape)
        _agq_kernel(np.ascontiguousarray(mu), np.ascontiguousarray(s), off,
                    bool(self.layout.n_offsets), self._sigma(x), self._item,
                    np.r_[self._item_starts, self.unit.size], self.weight, self.lower,
                    self.upper, self.gap, bool(self.layout.has_tau), t, log_w, out_ll, out_u)
        return out_ll, out_u

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """``sum_j log p(y_j | x)`` at points x (N, D) -> (N,)."""
        if not self.unit.size:
            return np.zeros(x.shape[0])
        return logsumexp(self._node_loglik(x)[0], axis=-1).sum(axis=-1)

    def log_posterior(self, x: np.ndarray) -> np.ndarray:
        """Log posterior (unnormalised) at x (1, ..., D) -> (1, ...)."""
        shape = x.shape[:-1]
        flat = x.reshape(-1, x.shape[-1])
        out = np.empty(flat.shape[0])
        step = max(1, CHUNK_ELEMENTS // self.cost_per_sample)
        for start in range(0, flat.shape[0], step):
            chunk = flat[start:start + step]
            quad = np.einsum("nd,de,ne->n", chunk, self.precision[0], chunk)
            out[start:start + step] = self.log_likelihood(chunk) - 0.5 * quad
        return out.reshape(shape)

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Analytic gradient of :meth:`log_posterior` at one point x (D,)."""
        lay = self.layout
        grad = -self.precision[0] @ x
        if not self.unit.size:
            return grad
        pts = x[None]
        mu, s, ct = self._moments(pts)
        node_ll, node_u = self._node_loglik(pts)
        u = node_u[0][self._item_of_entry]  # (E, Q): each entry's item's nodes
        eta = self._eta(pts, mu, s, u)[0]  # (E, Q)
        sig = float(self._sigma(pts)[0])
        z_up = (self.upper[:, None] - eta) / sig
        z_lo = (eta - self.lower[:, None]) / sig
        e_up, e_lo = expit(-z_up), expit(-z_lo)
        d = (e_lo - e_up) / sig * self.weight[:, None]
        node_ll = node_ll[0]  # (J_e, Q)
        omega = np.exp(node_ll - logsumexp(node_ll, axis=-1, keepdims=True))
        om = omega[self._item_of_entry]  # (E, Q)
        a_e = (om * d).sum(axis=1)  # weight of d eta / d x without the node term
        b_e = (om * d * u).sum(axis=1)  # weight of the node term u_q d s_j / d x
        v = lay.n_values
        item = self._item
        ds = np.where(s[0, :, None] > 1e-12, ct[0] / np.maximum(s[0, :, None], 1e-12), 0.0)
        grad[:v] += a_e @ self.mean[item, :v] + b_e @ ds[item, :v]
        if lay.has_alpha:
            grad[lay.alpha] += a_e.sum()
        if lay.n_offsets:
            np.add.at(grad, lay.offsets.start + self.unit % self.n_groups, a_e)
        if lay.has_tau:  # d s_j / d x_tau = TAU_SCALE tau / s_j
            tau = self._tau(pts)[0]
            ds_tau = np.where(s[0] > 1e-12, TAU_SCALE * tau / np.maximum(s[0], 1e-12), 0.0)
            grad[lay.tau] += b_e @ ds_tau[item]
            # d log P / d log sigma = -z_up e(-z_up) - z_lo e(-z_lo) - W / (exp(W) - 1)
            width = ((self.upper - self.lower) / sig)[:, None]
            with np.errstate(invalid="ignore", over="ignore"):
                d_sig = (np.where(np.isfinite(z_up), -z_up * e_up, 0.0)
                         + np.where(np.isfinite(z_lo), -z_lo * e_lo, 0.0)
                         - np.where(np.isfinite(width), width / np.expm1(width), 0.0))
            if abs(x[lay.sigma]) < MAX_LOG_SCALE:  # the likelihood is flat beyond the clip
                grad[lay.sigma] += (om * d_sig * self.weight[:, None]).sum()
        return grad

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (1, D) and Hessian (1, D, D) at x (1, D); the Hessian by forward
        differences of the analytic gradient (D + 1 gradients), symmetrised, eigenvalues
        clipped below ``-MIN_CURVATURE``."""
        x0 = x[0]
        grad = self.gradient(x0)
        d = x0.size
        hess = np.empty((d, d))
        for i in range(d):
            h = HESSIAN_STEP * max(1.0, abs(x0[i]))
            e = np.zeros(d)
            e[i] = h
            hess[:, i] = (self.gradient(x0 + e) - grad) / h
        hess = 0.5 * (hess + hess.T)
        vals, vecs = np.linalg.eigh(hess)
        if vals.max() > -MIN_CURVATURE:
            hess = (vecs * np.minimum(vals, -MIN_CURVATURE)) @ vecs.T
        return grad[None], hess[None]
