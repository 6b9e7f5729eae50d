r"""Scoring with each item's parameters integrated out item by item (``method="marginal"``).

The cut posterior (:mod:`vp_bayes.scoring.laplace`) mixes, over item draws s, the posterior
of a respondent given draw s's parameters of *all* items at once. Each draw's loadings carry
estimation noise, and a respondent who rates every item is then fitted to noisy loadings:
the classic errors-in-variables attenuation. Each draw's mode is pulled toward 0 by about
``B'B / (B'B + E'E)`` (true loadings B, their posterior noise E), and the mixture inherits it.
On a simulated wave with about 110 human ratings per item, LLM portraits came out at 0.75-0.8
of their true size, persona contrasts at about 0.55.

Here the likelihood integrates each item's parameters over their posterior *separately*::

    p(y | x) = prod_j  (1/S) sum_s  p(y_j | x, params_j^s),

which is the respondent's posterior treating the items' posteriors as independent (they
nearly are: loadings and locations are per item; the shared cutpoints are tightly
estimated). Now the respondent's own ratings of item j weigh which of the item's draws fit
(weights ``omega_sj`` = softmax over s of ``log p(y_j | x, s)``), as in a joint fit, and the
attenuation goes. The population prior uses the draws' mean precision. With
``l_sj = log p(y_j | x, s)`` and ``g_sj, h_sj`` its gradient and Hessian in x::

    grad = sum_j sum_s omega_sj g_sj - P x
    H    = sum_j [sum_s omega_sj h_sj + Cov_omega(g_.j)] - P

``H`` need not be negative definite (a mixture is not log-concave); Newton then steps with
``sum omega h - P`` (always negative definite) and the Laplace proposal uses the same matrix,
which importance sampling corrects. The posterior is one distribution (not one per draw), so
this target has a single "draw" and its samples are not tied to item draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit, logsumexp

from vp_bayes.scoring.laplace import CHUNK_ELEMENTS, Layout, Problem


@dataclass(frozen=True)
class MarginalProblem:
    """A respondent's posterior with item parameters integrated item by item.

    Attributes
    ----------
    problem
        The respondent's per-draw :class:`~vp_bayes.scoring.laplace.Problem` (all S draws).
    precision
        (1, D, D) prior precision: the mean over draws of ``problem.precision``.
    """

    problem: Problem
    precision: np.ndarray

    @classmethod
    def from_problem(cls, problem: Problem) -> MarginalProblem:
        """Wrap a per-draw problem."""
        return cls(problem, problem.precision.mean(axis=0, keepdims=True))

    @property
    def layout(self) -> Layout:
        """Positions of theta, alpha and offsets in x."""
        return self.problem.layout

    @property
    def n_draws(self) -> int:
        """One: the item draws are integrated inside the likelihood."""
        return 1

    @property
    def size(self) -> int:
        """Dimension D of x."""
        return self.problem.layout.size

    @property
    def cost_per_sample(self) -> int:
        """Elements evaluated per sample (all item draws)."""
        return self.problem.n_draws * self.problem.cost_per_sample

    def draws_slice(self, sl: slice) -> MarginalProblem:
        """Itself (there is one draw)."""
        return self

    def _item_starts(self) -> np.ndarray:
        item = self.problem.unit // self.problem.n_groups
        return np.flatnonzero(np.r_[True, np.diff(item) != 0])

    def _item_loglik(self, x: np.ndarray) -> np.ndarray:
        """``l_sj`` (S, N, J_e) at points x (N, D); J_e = items with ratings."""
        p = self.problem
        eta = _points_eta(p, x)  # (S, N, E)
        terms = (log_expit(p.upper[:, None, :] - eta) + log_expit(eta - p.lower[:, None, :])
                 + np.log(-np.expm1(np.minimum(p.lower - p.upper, -1e-300)))[:, None, :])
        return np.add.reduceat(terms * p.weight, self._item_starts(), axis=-1)

    def log_posterior(self, x: np.ndarray) -> np.ndarray:
        """Log posterior (unnormalised) at x (1, ..., D) -> (1, ...)."""
        shape = x.shape[:-1]
        flat = x.reshape(-1, x.shape[-1])
        out = np.empty(flat.shape[0])
        step = max(1, CHUNK_ELEMENTS // max(self.cost_per_sample, 1))
        s = self.problem.n_draws
        for start in range(0, flat.shape[0], step):
            chunk = flat[start:start + step]
            if self.problem.unit.size:
                lik = (logsumexp(self._item_loglik(chunk), axis=0) - np.log(s)).sum(axis=-1)
            else:
                lik = np.zeros(chunk.shape[0])
            quad = np.einsum("nd,de,ne->n", chunk, self.precision[0], chunk)
            out[start:start + step] = lik - 0.5 * quad
        return out.reshape(shape)

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (1, D) and Hessian (1, D, D) at x (1, D).

        The exact Hessian where it is negative definite, else ``sum omega h - P``.
        """
        p, lay = self.problem, self.layout
        prec = self.precision[0]
        grad = -prec @ x[0]
        hess = -prec.copy()
        if p.unit.size:
            eta = _points_eta(p, x)[:, 0, :]  # (S, E)
            s1, s2 = expit(p.lower - eta), expit(eta - p.upper)
            d_e = (s1 - s2) * p.weight
            h_e = -(s1 * (1.0 - s1) + s2 * (1.0 - s2)) * p.weight
            design = _entry_design(p, lay)  # (S, E, D)
            starts = self._item_starts()
            omega = _softmax0(self._item_loglik(x)[:, 0, :])  # (S, J_e)
            g_sj = np.add.reduceat(d_e[..., None] * design, starts, axis=1)  # (S, J_e, D)
            g_j = np.einsum("sj,sjd->jd", omega, g_sj)
            item_of_entry = np.repeat(np.arange(starts.size),
                                      np.diff(np.r_[starts, eta.shape[1]]))
            w_e = omega[:, item_of_entry] * h_e  # (S, E)
            grad = grad + g_j.sum(axis=0)
            hess = hess + np.einsum("se,sed,sef->df", w_e, design, design, optimize=True)
            spread = (np.einsum("sj,sjd,sjf->df", omega, g_sj, g_sj, optimize=True)
                      - g_j.T @ g_j)  # sum_j Cov_omega(g_.j), positive semi-definite
            if np.all(np.linalg.eigvalsh(-(hess + spread)) > 0):
                hess = hess + spread
        return grad[None], hess[None]


def _softmax0(a: np.ndarray) -> np.ndarray:
    """Softmax over axis 0."""
    return np.exp(a - logsumexp(a, axis=0, keepdims=True))


def _points_eta(p: Problem, x: np.ndarray) -> np.ndarray:
    """eta at each rated entry for every draw and point: x (N, D) -> (S, N, E)."""
    lay = p.layout
    v = lay.n_values
    eta_j = np.einsum("sjv,nv->snj", p.beta, x[:, :v]) + p.shift[:, None, :]
    if lay.has_alpha:
        eta_j = eta_j + x[None, :, lay.alpha, None]
    j = p.unit // p.n_groups
    eta = eta_j[..., j]
    if lay.n_offsets:
        g = p.unit % p.n_groups
        eta = eta + x[None][..., lay.offsets][..., g]
    return eta


def _entry_design(p: Problem, lay: Layout) -> np.ndarray:
    """d eta_e / d x for every draw and entry: (S, E, D)."""
    s, e = p.n_draws, p.unit.size
    j = p.unit // p.n_groups
    design = np.zeros((s, e, lay.size))
    design[..., : lay.n_values] = p.beta[:, j, :]
    if lay.has_alpha:
        design[..., lay.alpha] = 1.0
    if lay.n_offsets:
        g = p.unit % p.n_groups
        design[:, np.arange(e), lay.offsets.start + g] = 1.0
    return design
