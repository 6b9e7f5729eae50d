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
from functools import cached_property, lru_cache

import numba
import numpy as np

from vp_bayes.model.likelihood import gap_logp_np
from vp_bayes.scoring.laplace import (
    CHUNK_ELEMENTS,
    MAX_LOG_SCALE,
    TAU_SCALE,
    Layout,
    Problem,
)

ITEM_BLOCK = 32  # items per parallel task of the quadrature kernels
N_NODES = 12  # adaptive Gauss-Hermite nodes per item (on the 27 released LLMs the log likelihood
# at 500 posterior points differs from 40 nodes' by SD <= 1e-4 across the points)
PANEL_NODES = 8  # Gauss-Legendre nodes per panel of a box-like item integrand
PANEL_DROPS = (2.0, 18.0)  # panels end where the log integrand has fallen by these (both sides)
GAUSSIAN_SLACK = (0.15, 0.35)  # relative departure from a Gaussian's fall at the outermost
# Hermite nodes: below the first Hermite only, above the second the panels only, blended between
# (panels measured on boxes of width 0.2 to 6, walls 0.001 to 1: log integral within 4e-3 of a
# fine grid, 32 evaluations)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
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


@numba.njit(cache=True)
def _log_both(a: float, b: float) -> float:
    """``log sigmoid(a) + log sigmoid(b)`` with one logarithm where both are moderate."""
    if a > -30.0 and b > -30.0:
        return -math.log((1.0 + math.exp(-a)) * (1.0 + math.exp(-b)))
    return _log_expit(a) + _log_expit(b)


@numba.njit(cache=True)
def _item_mode(m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper):  # pragma: no cover
    """Mode ``u_hat`` of an item's concave integrand g(u) in u and ``c = (-g''(u_hat))^-1/2``.

    Newton from 0 safeguarded by bisection: g' decreases, so every point narrows a bracket
    of the root of g', and a Newton step leaving the bracket (or longer than 1 while one side
    is open) is replaced by its midpoint (or a step of 1). Stops at a step below 1e-10; with a
    nearly deterministic respondent the walls of g are steep and plain Newton oscillates
    across them (the mode then moved in jumps with x).
    """
    u = 0.0
    lo, hi = -math.inf, math.inf
    curv = -1.0
    for _ in range(200):
        g1 = -u
        g2 = -1.0
        for e in range(e0, e1):
            eta = m + sc * u + (off[n, e] if has_off else 0.0)
            pu = _expit((eta - upper[e]) * inv)  # = expit(-z_up)
            pl = _expit((lower[e] - eta) * inv)  # = expit(-z_lo)
            g1 += weight[e] * sc * (pl - pu) * inv
            g2 -= weight[e] * sc * sc * (pu * (1 - pu) + pl * (1 - pl)) * inv * inv
        curv = g2
        if g1 == 0.0:
            break
        if g1 > 0.0:
            lo = u
        else:
            hi = u
        new = u - g1 / g2
        if not (lo < new < hi):
            new = 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) \
                else u + (1.0 if g1 > 0.0 else -1.0)
        elif not (math.isfinite(lo) and math.isfinite(hi)) and abs(new - u) > 1.0:
            new = u + (1.0 if g1 > 0.0 else -1.0)
        done = abs(new - u) < 1e-10 * (1.0 + abs(u))
        u = new
        if done:
            break
    return u, 1.0 / math.sqrt(-curv)


@numba.njit(cache=True)
def _g_value(u, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper):  # pragma: no cover
    """The item's log integrand ``g(u) = -u^2 / 2 + sum_e w_e log P(k_e | eta)`` without
    constants (the category's gap factor is added by the caller)."""
    acc = -0.5 * u * u
    for e in range(e0, e1):
        eta = m + sc * u + (off[n, e] if has_off else 0.0)
        acc += weight[e] * _log_both((upper[e] - eta) * inv, (eta - lower[e]) * inv)
    return acc


@numba.njit(cache=True)
def _g_slope(u, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper):  # pragma: no cover
    """``g'(u)`` of :func:`_g_value` (the reference :func:`_g_value_slope` is tested against)."""
    g1 = -u
    for e in range(e0, e1):
        eta = m + sc * u + (off[n, e] if has_off else 0.0)
        pu = _expit((eta - upper[e]) * inv)
        pl = _expit((lower[e] - eta) * inv)
        g1 += weight[e] * sc * (pl - pu) * inv
    return g1


@numba.njit(cache=True)
def _g_value_slope(u, m, sc, n, e0, e1, off, has_off, inv, weight, lower,
                   upper):  # pragma: no cover
    """``(g(u), g'(u))`` in one pass over the item's ratings, equal bit for bit to
    :func:`_g_value` and :func:`_g_slope` (the same operations in the same order), with the
    exponential both use computed once: ``(eta - upper) * inv`` is exactly ``-a``."""
    acc = -0.5 * u * u
    g1 = -u
    for e in range(e0, e1):
        eta = m + sc * u + (off[n, e] if has_off else 0.0)
        a = (upper[e] - eta) * inv
        b = (eta - lower[e]) * inv
        if a > 0.0:  # _expit(-a) takes exp(-a), which _log_both uses too
            ea = math.exp(-a)
            pu = ea / (1.0 + ea)
        else:
            pu = 1.0 / (1.0 + math.exp(a))
            ea = math.exp(-a) if a > -30.0 else 0.0
        if b > 0.0:
            eb = math.exp(-b)
            pl = eb / (1.0 + eb)
        else:
            pl = 1.0 / (1.0 + math.exp(b))
            eb = math.exp(-b) if b > -30.0 else 0.0
        if a > -30.0 and b > -30.0:
            value = -math.log((1.0 + ea) * (1.0 + eb))
        else:
            value = _log_expit(a) + _log_expit(b)
        acc += weight[e] * value
        g1 += weight[e] * sc * (pl - pu) * inv
    return acc, g1


@numba.njit(cache=True)
def _drop_point(u_hat, g_hat, drop, side, m, sc, n, e0, e1, off, has_off, inv, weight, lower,
                upper):  # pragma: no cover
    """The point on ``side`` (+1 or -1) of the mode where g has fallen by ``drop``.

    g is concave with ``g'' <= -1``, so the point lies within ``sqrt(2 drop)`` of the mode;
    Newton from there moves monotonically inward (the tangent of a concave function lies above
    it), to a step below 1e-10.
    """
    u = u_hat + side * math.sqrt(2.0 * drop)
    for _ in range(100):
        value, slope = _g_value_slope(u, m, sc, n, e0, e1, off, has_off, inv, weight, lower,
                                      upper)
        h = value - (g_hat - drop)
        if slope == 0.0:
            break
        step = h / slope
        u -= step
        if abs(step) < 1e-10 * (1.0 + abs(u)):
            break
    return u


@numba.njit(cache=True)
def _panel_nodes(u_hat, g_hat, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper,
                 base, gl_t, gl_log_w, vals, nodes):  # pragma: no cover
    """Composite Gauss-Legendre nodes of a box-like integrand: four panels between the
    points where g has fallen by ``PANEL_DROPS`` on either side of the mode; fills ``vals``
    and ``nodes`` and returns the number of nodes."""
    edges = np.empty(2 * len(PANEL_DROPS) + 1)
    k = len(PANEL_DROPS)
    edges[k] = u_hat
    for i in range(k):
        edges[k - 1 - i] = _drop_point(u_hat, g_hat, PANEL_DROPS[i], -1.0, m, sc, n, e0, e1,
                                       off, has_off, inv, weight, lower, upper)
        edges[k + 1 + i] = _drop_point(u_hat, g_hat, PANEL_DROPS[i], 1.0, m, sc, n, e0, e1,
                                       off, has_off, inv, weight, lower, upper)
    q = 0
    for p in range(edges.size - 1):
        half = 0.5 * (edges[p + 1] - edges[p])
        mid = 0.5 * (edges[p + 1] + edges[p])
        if half <= 0.0:
            continue
        for i in range(gl_t.size):
            uq = mid + half * gl_t[i]
            vals[q] = base + gl_log_w[i] + math.log(half) - LOG_SQRT_2PI + _g_value(
                uq, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper)
            nodes[q] = uq
            q += 1
    return q


@numba.njit(cache=True)
def _item_nodes(m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper, gap,
                gap_per_point, t, log_w, vals, nodes, gl_t, gl_log_w):  # pragma: no cover
    """Fill an item's log node weights ``vals`` and positions ``nodes``; return
    ``log p(y_item | x)`` and the number of nodes used.

    Adaptive Gauss-Hermite (:data:`N_NODES` nodes ``u_q = u_hat + c t_q``,
    ``vals[q] = log w_q + g(u_q) + t_q^2 / 2 + log c``) where the integrand is Gaussian-like:
    at the outermost nodes ``u_hat +- c t_max``, g has fallen by ``t_max^2 / 2`` to within
    ``GAUSSIAN_SLACK[0]`` of that (relative). Beyond ``GAUSSIAN_SLACK[1]`` (a near-deterministic
    respondent, sigma small, and an item with few ratings: the integrand is a box of steep
    walls much narrower than the curvature at the mode says, and Hermite nodes fall outside
    it) composite Gauss-Legendre panels between the points where g has fallen by
    ``PANEL_DROPS`` (:func:`_panel_nodes`); in between, the two log integrals are blended
    with a smoothstep weight, so the result is continuous in x (a switch made Newton stall on
    the jump). The gradient kernel uses the blended node weights (it omits the blend
    weight's own derivative times the two rules' difference, small where both apply).
    ``g(u) = log phi(u) + sum_e w_e log P(k_e | eta)`` with the category probability
    ``sigmoid((hi - eta) / sig) sigmoid((eta - lo) / sig) (1 - exp((lo - hi) / sig))``.
    ``gap`` (E,) is the weighted log of the last factor at a fixed sigma unless
    ``gap_per_point``.
    """
    u, c = _item_mode(m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper)
    base = 0.0
    for e in range(e0, e1):
        if gap_per_point:
            base += weight[e] * math.log(-math.expm1(min((lower[e] - upper[e]) * inv,
                                                         -1e-300)))
        else:
            base += gap[e]
    g_hat = _g_value(u, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper)
    t_max = t[t.size - 1]
    expected = 0.5 * t_max * t_max
    dev = 0.0
    for side in (-1.0, 1.0):
        fall = g_hat - _g_value(u + side * c * t_max, m, sc, n, e0, e1, off, has_off, inv,
                                weight, lower, upper)
        dev = max(dev, abs(fall - expected) / expected)
    lam = min(max((dev - GAUSSIAN_SLACK[0]) / (GAUSSIAN_SLACK[1] - GAUSSIAN_SLACK[0]), 0.0),
              1.0)
    lam = lam * lam * (3.0 - 2.0 * lam)  # smoothstep: the blend is continuous in x
    n_gh = 0
    lse_gh = 0.0
    if lam < 1.0:
        n_gh = t.size
        for q in range(t.size):
            uq = u + c * t[q]
            vals[q] = base + math.log(c) + log_w[q] + 0.5 * t[q] * t[q] + _g_value(
                uq, m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper)
            nodes[q] = uq
        lse_gh = _normalise_logs(vals, 0, n_gh)
    q_used = n_gh
    lse_panel = 0.0
    if lam > 0.0:
        q_used = n_gh + _panel_nodes(u, g_hat, m, sc, n, e0, e1, off, has_off, inv, weight,
                                     lower, upper, base, gl_t, gl_log_w, vals[n_gh:],
                                     nodes[n_gh:])
        lse_panel = _normalise_logs(vals, n_gh, q_used)
    # vals now hold log node weights within each rule; weigh the rules by the blend
    for q in range(n_gh):
        vals[q] += math.log(1.0 - lam) if lam > 0.0 else 0.0
    for q in range(n_gh, q_used):
        vals[q] += math.log(lam) if lam < 1.0 else 0.0
    return (1.0 - lam) * lse_gh + lam * lse_panel, q_used


@numba.njit(cache=True)
def _normalise_logs(vals, start, stop):  # pragma: no cover
    """Subtract the logsumexp of ``vals[start:stop]`` from them in place; return it."""
    top = -math.inf
    for q in range(start, stop):
        top = max(top, vals[q])
    total = 0.0
    for q in range(start, stop):
        total += math.exp(vals[q] - top)
    lse = top + math.log(total)
    for q in range(start, stop):
        vals[q] -= lse
    return lse


@numba.njit(cache=True, parallel=True)
def _agq_loglik(mu, s, off, has_off, sig, item, starts, weight, lower, upper, gap,
                gap_per_point, t, log_w, gl_t, gl_log_w, out):  # pragma: no cover (compiled)
    """``out[n, r] = log p(y_r | x_n)`` of every rated item r at every point n, by adaptive
    Gauss-Hermite quadrature (:func:`_item_nodes`); (point, item) pairs in parallel."""
    n_pts, n_items = out.shape
    n_blocks = (n_items + ITEM_BLOCK - 1) // ITEM_BLOCK
    for k in numba.prange(n_pts * n_blocks):
        n, blk = k // n_blocks, k % n_blocks
        size = t.size + 2 * len(PANEL_DROPS) * gl_t.size
        vals, nodes = np.empty(size), np.empty(size)
        for r in range(blk * ITEM_BLOCK, min(n_items, (blk + 1) * ITEM_BLOCK)):
            e0, e1 = starts[r], starts[r + 1]
            out[n, r] = _item_nodes(mu[n, item[e0]], s[n, item[e0]], n, e0, e1, off, has_off,
                                    1.0 / sig[n], weight, lower, upper, gap, gap_per_point,
                                    t, log_w, vals, nodes, gl_t, gl_log_w)[0]


@numba.njit(cache=True, parallel=True)
def _agq_score(mu, s, off, has_off, sig, item, starts, weight, lower, upper, gap,
               gap_per_point, t, log_w, gl_t, gl_log_w, out_a, out_b, out_sig):  # pragma: no cover
    """Per entry e of every point n, the posterior expectations over its item's deviation
    (the quadrature's node weights) of ``d log P_e / d eta`` (``out_a``), of the same times
    the node u (``out_b``: the factor of ``d s_j / d x``) and of ``d log P_e / d log sigma``
    (``out_sig``), all times the entry's weight."""
    n_pts = out_a.shape[0]
    n_items = starts.size - 1
    n_blocks = (n_items + ITEM_BLOCK - 1) // ITEM_BLOCK
    for k in numba.prange(n_pts * n_blocks):
        n, blk = k // n_blocks, k % n_blocks
        size = t.size + 2 * len(PANEL_DROPS) * gl_t.size
        vals, nodes = np.empty(size), np.empty(size)
        for r in range(blk * ITEM_BLOCK, min(n_items, (blk + 1) * ITEM_BLOCK)):
            _item_score(n, r, mu, s, off, has_off, sig, item, starts, weight, lower, upper,
                        gap, gap_per_point, t, log_w, gl_t, gl_log_w, vals, nodes, out_a, out_b,
                        out_sig)


@numba.njit(cache=True)
def _item_score(n, r, mu, s, off, has_off, sig, item, starts, weight, lower, upper, gap,
                gap_per_point, t, log_w, gl_t, gl_log_w, vals, nodes, out_a, out_b,
                out_sig):  # pragma: no cover
    """:func:`_agq_score` of rated item r at point n."""
    e0, e1 = starts[r], starts[r + 1]
    m, sc, inv = mu[n, item[e0]], s[n, item[e0]], 1.0 / sig[n]
    lse, q_used = _item_nodes(m, sc, n, e0, e1, off, has_off, inv, weight, lower, upper, gap,
                              gap_per_point, t, log_w, vals, nodes, gl_t, gl_log_w)
    for q in range(q_used):
        vals[q] = math.exp(vals[q])  # node weight (its rule's, times the rule's blend weight)
    for e in range(e0, e1):
        width = (upper[e] - lower[e]) * inv
        d_gap = -width / math.expm1(width) if math.isfinite(width) else 0.0
        a = b = ds = 0.0
        for q in range(q_used):
            eta = m + sc * nodes[q] + (off[n, e] if has_off else 0.0)
            z_up, z_lo = (upper[e] - eta) * inv, (eta - lower[e]) * inv
            e_up, e_lo = _expit(-z_up), _expit(-z_lo)
            d = (e_lo - e_up) * inv
            a += vals[q] * d
            b += vals[q] * d * nodes[q]
            d_sig = d_gap
            if math.isfinite(z_up):
                d_sig -= z_up * e_up
            if math.isfinite(z_lo):
                d_sig -= z_lo * e_lo
            ds += vals[q] * d_sig
        out_a[n, e] = weight[e] * a
        out_b[n, e] = weight[e] * b
        out_sig[n, e] = weight[e] * ds


@lru_cache(maxsize=1)
def _panel_rule(n: int = PANEL_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes on [-1, 1] and log weights of one panel; read-only."""
    u, w = np.polynomial.legendre.leggauss(n)
    log_w = np.log(w)
    u.flags.writeable = log_w.flags.writeable = False
    return u, log_w


@lru_cache(maxsize=8)
def _nodes(n: int = N_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss-Hermite nodes and log weights (weights sum to 1); read-only."""
    u, w = np.polynomial.hermite_e.hermegauss(n)
    log_w = np.log(w / w.sum())
    u.flags.writeable = log_w.flags.writeable = False
    return u, log_w


def param_moments(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (J, P) and covariance (J, P, P) over draws of each item's parameters (S, J, P):
    the Gaussian that marginal scoring integrates over."""
    mean = params.mean(axis=0)
    dev = params - mean
    return mean, np.einsum("sjv,sjw->jvw", dev, dev) / max(params.shape[0] - 1, 1)


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
    n_nodes
        Gauss-Hermite nodes per item (:data:`N_NODES`).
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
    n_nodes: int = N_NODES

    @classmethod
    def from_problem(cls, problem: Problem, shared_thresholds: bool = True,
                     n_nodes: int = N_NODES) -> MarginalProblem:
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
        mean, cov = param_moments(params)
        gap = problem.weight * gap_logp_np(lower, upper)
        return cls(problem.layout, mean, cov, problem.n_groups, problem.unit, problem.weight,
                   lower, upper, gap, problem.precision.mean(axis=0, keepdims=True), n_nodes)

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
        return max(self.unit.size, 1) * self.n_nodes

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
    def _item_bounds(self) -> np.ndarray:
        """Entry bounds of the rated items (J_e + 1,): item r is ``[b[r], b[r+1])``."""
        return np.r_[self._item_starts, self.unit.size]

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

    def _kernel_args(self, x: np.ndarray) -> tuple:
        """The quadrature kernels' arguments at points x (N, D), and ``(mu, s, ct)``."""
        mu, s, ct = self._moments(x)
        if self.layout.n_offsets:
            off = np.ascontiguousarray(x[:, self.layout.offsets][:, self.unit % self.n_groups])
        else:
            off = np.zeros((x.shape[0], 1))
        t, log_w = _nodes(self.n_nodes)
        gl_t, gl_log_w = _panel_rule()
        args = (np.ascontiguousarray(mu), np.ascontiguousarray(s), off,
                bool(self.layout.n_offsets), self._sigma(x), self._item,
                self._item_bounds, self.weight, self.lower, self.upper,
                self.gap, bool(self.layout.has_tau), t, log_w, gl_t, gl_log_w)
        return args, (mu, s, ct)

    def item_loglik(self, x: np.ndarray) -> np.ndarray:
        """``log p(y_j | x)`` (N, J_e) of every rated item at points x (N, D), by adaptive
        Gauss-Hermite quadrature (:func:`_agq_loglik`)."""
        args, _ = self._kernel_args(x)
        out = np.empty((x.shape[0], self._item_starts.size))
        _agq_loglik(*args, out)
        return out

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """``sum_j log p(y_j | x)`` at points x (N, D) -> (N,)."""
        if not self.unit.size:
            return np.zeros(x.shape[0])
        return self.item_loglik(x).sum(axis=-1)

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

    @cached_property
    def _group_onehot(self) -> np.ndarray:
        """(E, G) indicator of each entry's variant group."""
        return np.eye(max(self.layout.n_offsets, 1))[self.unit % self.n_groups]

    def gradients(self, x: np.ndarray) -> np.ndarray:
        """Analytic gradients of :meth:`log_posterior` at points x (N, D) -> (N, D).

        Each item's contribution is the posterior expectation, over its deviation u (the
        quadrature's node weights), of ``d log P / d eta (d mu_j / d x + u d s_j / d x)``
        (:func:`_agq_score`), plus the rating-noise scale's own term.
        """
        lay = self.layout
        grad = -x @ self.precision[0]
        if not self.unit.size:
            return grad
        args, (mu, s, ct) = self._kernel_args(x)
        a_e, b_e, sig_e = (np.empty((x.shape[0], self.unit.size)) for _ in range(3))
        _agq_score(*args, a_e, b_e, sig_e)
        starts = self._item_starts
        rated = self._item[starts]
        a_j = np.add.reduceat(a_e, starts, axis=1)  # (N, J_e)
        b_j = np.add.reduceat(b_e, starts, axis=1)
        s_j = s[:, rated]
        inv_s = np.where(s_j > 1e-12, 1.0 / np.maximum(s_j, 1e-12), 0.0)
        v = lay.n_values
        grad[:, :v] += a_j @ self.mean[rated, :v] + np.einsum(
            "nj,njv->nv", b_j * inv_s, ct[:, rated, :v])
        if lay.has_alpha:
            grad[:, lay.alpha] += a_j.sum(axis=1)
        if lay.n_offsets:
            grad[:, lay.offsets] += a_e @ self._group_onehot
        if lay.has_tau:  # d s_j / d x_tau = TAU_SCALE tau / s_j
            grad[:, lay.tau] += TAU_SCALE * self._tau(x) * (b_j * inv_s).sum(axis=1)
            inside = np.abs(x[:, lay.sigma]) < MAX_LOG_SCALE  # flat beyond the clip
            grad[:, lay.sigma] += np.where(inside, sig_e.sum(axis=1), 0.0)
        return grad

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Analytic gradient of :meth:`log_posterior` at one point x (D,)."""
        return self.gradients(x[None])[0]

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (1, D) and Hessian (1, D, D) at x (1, D); the Hessian by forward
        differences of the analytic gradient (D + 1 gradients), symmetrised, eigenvalues
        clipped below ``-MIN_CURVATURE``."""
        x0 = x[0]
        h = HESSIAN_STEP * np.maximum(1.0, np.abs(x0))
        grads = self.gradients(np.vstack([x0, x0 + np.diag(h)]))  # all D + 1 at once
        grad = grads[0]
        hess = (grads[1:] - grad).T / h
        hess = 0.5 * (hess + hess.T)
        vals, vecs = np.linalg.eigh(hess)
        if vals.max() > -MIN_CURVATURE:
            hess = (vecs * np.minimum(vals, -MIN_CURVATURE)) @ vecs.T
        return grad[None], hess[None]
