r"""Adaptive item selection: which (item, variant) requests to send next, and when to stop.

An LLM's portrait from all 520 items x 6 variants costs 3,120 requests. Most of them add
little: the six variant ratings of an item share the respondent's item deviation ``e_j``, and
items differ in how much they load on the values. :class:`AdaptiveDesign` chooses the next
batch of requests by the expected reduction of the posterior variance of the values under the
default scoring model (:mod:`.marginal`), and says when to stop.

The current posterior. The respondent's ratings so far define the marginal target of the
default scoring (item parameters Gaussian and integrated, the respondent's item deviation
``tau`` and noise ``sigma`` integrated with the values); its mode is found by Newton (warm
started at the previous batch's mode) and its Laplace covariance ``Sigma`` (the inverse
negative Hessian) is the current posterior of ``x = (theta, alpha, tau, log sigma)``. With no
ratings it is the prior.

Expected information of item j. At the mode, the item's linear predictor is
``eta_j = mu_j + s_j u``, ``mu_j = m_j . (theta, 1) + alpha`` with the item's posterior-mean
parameters ``m_j``, and ``s_j^2 = (theta, 1)' C_j (theta, 1) + E[tau^2]`` the variance of what
all its ratings share (the item parameters' uncertainty and the respondent's item deviation).
One rating's Fisher information about ``eta`` is, for the cumulative logit with scale sigma,
``I(eta) = sum_k (dp_k / d eta)^2 / p_k``; averaged over the item's plausible ``eta``
(Gauss-Hermite, ``eta ~ N(mu_j, s_j^2 + a_j' Sigma a_j)``) it is ``I_j``. ``n`` ratings of
the item, sharing ``u``, carry information about ``mu_j`` of (random-effect formula)::

    h_j(n) = n I_j / (1 + n I_j s_j^2)

so a second variant of an item adds ``h_j(2) - h_j(1) < h_j(1)``: less than a new item of the
same quality whenever ``s_j^2 > 0``. The direction is ``a_j = d mu_j / d (theta, alpha) =
(m_j, 1)``.

Greedy batch. Each pick adds ``k`` requests (``variants_per_pick``) of one item; its gain is
the weighted reduction of the values' posterior variances by the rank-one update
``Sigma - dh Sigma a a' Sigma / (1 + dh a' Sigma a)``, ``dh = h_j(n_j + k) - h_j(n_j)``, per
request. The best item is taken, ``Sigma`` and ``n_j`` are updated as if its ratings had
arrived, and so on until the batch is full (sequential D/A-optimal design with a fixed
linearisation point; the next batch starts from the real posterior). The weights are
``1 / attainable variance`` of each value: the variance the same approximation predicts if
every request of the pool were answered, so the design drives every value toward its
full-data precision rather than favouring values that are merely wide (``criterion``:
``"relative"`` weighs by the current variance, ``"total"`` not at all; measured on three
released LLMs, the three are within the replay's noise of each other; asking one variant at a
time beat all six at once after 480 and 780 requests, and two at once after 480 (within the
noise after 780), ``docs/scoring.md``).
Which variants of an item:
variants are exchangeable under the default model (no variant offsets), so an item gets the
variant least used so far over all items (ties broken by :func:`variant_order`): every
wording and option order is asked about equally often, as in the full design, where variant
offsets cancel. The choice depends only on the answers so far, so a resumed run continues
the same way.

Stopping. :meth:`AdaptiveDesign.step` stops when every value's Laplace posterior SD is at most
``target_sd``, when every value's SD is at most ``target_ratio`` times its attainable SD, when
``budget`` requests have been spent, or when the pool is empty (for a persona designed from
its base model, the SDs judged are those of its own ratings under the population prior). The
portrait itself is then the default scoring (:func:`vp_bayes.scoring.score`) of the collected
ratings, not this approximation. ``benchmarks/adaptive_replay.py`` measures the design on the
27 released LLMs (``docs/scoring.md``, "Adaptive collection").
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from vp_bayes.dims import ITEM_ID
from vp_bayes.errors import InputError
from vp_bayes.scoring.joint import PERSONA_SD
from vp_bayes.scoring.laplace import (
    MAX_LOG_SCALE,
    PRIOR_SCALE,
    TAU_SCALE,
    TAU_SD,
    TAU_START,
    RespondentData,
    find_modes,
    make_problem,
)
from vp_bayes.scoring.marginal import MarginalProblem
from vp_bayes.scoring.portraits import POOLED, respondent_data
from vp_bayes.scoring.posterior import ItemDraws, item_draws

BATCH_SIZE = 40  # requests per batch (enough to keep a concurrent backend busy)
TARGET_SD = 0.6  # stop when every value's posterior SD is at most this (human SDs)
BUDGET = 780  # stop after this many requests (a quarter of 520 items x 6 variants)
VARIANTS_PER_PICK = 1  # ratings of an item added per pick (1: one variant at a time)
CRITERIA = ("attainable", "relative", "total")  # weights of the values' variance reductions
INFO_NODES = 9  # Gauss-Hermite nodes averaging one rating's information over eta
NEWTON_TOL = 1e-6  # Newton decrement at which the selection's posterior mode is taken
NEWTON_MAX = 15  # ... and its most iterations (some released LLMs' targets never reach the
# scoring's 1e-10 within 100 iterations: 6-11 s per batch; the choice does not need it)


def variant_order(item_id: str, variants: Sequence[str]) -> list[str]:
    """The order in which an item's variants are asked: by the CRC-32 of ``item|variant``.

    Stateless (asking one variant leaves the order of the others as it was, so a resumed run
    continues the same way) and, over many items, every wording and option order comes first
    equally often in expectation.
    """
    return sorted(variants, key=lambda v: (zlib.crc32(f"{item_id}|{v}".encode()), v))


def rating_information(eta: np.ndarray, cuts: np.ndarray, sigma: float) -> np.ndarray:
    """Fisher information of one cumulative-logit rating about its predictor ``eta``.

    Parameters
    ----------
    eta
        Predictors, shape (...,) matching ``cuts``' leading shape after broadcasting.
    cuts
        Cutpoints (..., K-1), increasing.
    sigma
        Scale of the rating noise (the latent rating is ``eta + sigma * logistic``).

    Returns
    -------
    numpy.ndarray
        ``sum_k (dp_k / d eta)^2 / p_k``, shape of ``eta``.
    """
    z = (cuts - eta[..., None]) / sigma  # (..., K-1)
    cdf = expit(z)
    dens = cdf * (1.0 - cdf)
    shape = z.shape[:-1] + (1,)
    cdf = np.concatenate([np.zeros(shape), cdf, np.ones(shape)], axis=-1)
    dens = np.concatenate([np.zeros(shape), dens, np.zeros(shape)], axis=-1)
    p = np.maximum(np.diff(cdf, axis=-1), 1e-300)
    dp = -np.diff(dens, axis=-1) / sigma
    return (dp**2 / p).sum(axis=-1)


@dataclass(frozen=True)
class Posterior:
    """The Laplace approximation of a respondent's current posterior (default scoring target).

    Attributes
    ----------
    mode
        (D,) the mode of ``x = (theta, alpha, tau / TAU_SCALE, log sigma)``.
    cov
        (D, D) inverse negative Hessian at the mode.
    values
        Value names (the first V entries of x).
    n_ratings
        Usable ratings it is based on.
    """

    mode: np.ndarray
    cov: np.ndarray
    values: tuple[str, ...]
    n_ratings: int

    @property
    def mean(self) -> pd.Series:
        """Posterior mode of each value (human SDs)."""
        return pd.Series(self.mode[: len(self.values)], index=list(self.values), name="mean")

    @property
    def sd(self) -> pd.Series:
        """Laplace posterior SD of each value (human SDs)."""
        v = len(self.values)
        return pd.Series(np.sqrt(np.diag(self.cov)[:v]), index=list(self.values), name="sd")


@dataclass(frozen=True)
class AdaptiveStep:
    """What :meth:`AdaptiveDesign.step` decided.

    Attributes
    ----------
    batch
        The next requests, ``item_id, variant`` (empty when stopping).
    posterior
        The current posterior (Laplace) the choice was made under.
    stop
        True when no more requests should be sent.
    reason
        ``"target"`` (every value's SD at most the target), ``"precision"`` (every value's
        SD at most ``target_ratio`` times its attainable SD), ``"budget"``, ``"exhausted"``
        (nothing left to ask) or ``""`` (not stopping).
    n_asked
        Requests spent before this batch.
    expected_sd
        The values' SDs expected after the batch's ratings (the greedy design's prediction).
    attainable_sd
        The values' SDs expected if every request of the pool were answered: the precision a
        full collection would reach (same linearisation).
    """

    batch: pd.DataFrame
    posterior: Posterior
    stop: bool
    reason: str
    n_asked: int
    expected_sd: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    attainable_sd: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))


class _WarmStart:
    """A scoring target whose Newton search starts at a given point (the previous mode)."""

    def __init__(self, target: MarginalProblem, x0: np.ndarray) -> None:
        self.target, self.x0 = target, x0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def start(self) -> np.ndarray:
        return self.x0[None].copy()


class _BasePrior:
    """A persona's scoring target with its values' prior centred at its base model's portrait.

    The values' prior ``MVN(0, prior_scale^2 corr)`` of the target is replaced by
    ``MVN(center, base_cov + persona_sd^2 I)``: the joint scoring's prior of a persona
    (``theta_p = theta_base + delta_p``, ``delta_p ~ N(0, persona_sd^2 I)``, :mod:`.joint`)
    with the base model's posterior approximated by its Laplace approximation (mean
    ``center``, covariance ``base_cov``) and held fixed (the persona's ratings are taken not to
    move the base's portrait, as with a fully collected base). The rest of x (response
    style, item deviation, rating noise) keeps its own prior.
    """

    def __init__(self, target: Any, center: np.ndarray, precision: np.ndarray) -> None:
        self.target, self.center, self.values_precision = target, center, precision
        v = len(center)
        self._old = target.precision[0][:v, :v]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def _swap(self, x: np.ndarray) -> np.ndarray:
        """Log prior of the new values' prior minus the target's, at x (..., D)."""
        v = len(self.center)
        theta = x[..., :v]
        dev = theta - self.center
        return 0.5 * np.einsum("...v,vw,...w->...", theta, self._old, theta) \
            - 0.5 * np.einsum("...v,vw,...w->...", dev, self.values_precision, dev)

    def log_posterior(self, x: np.ndarray) -> np.ndarray:
        return self.target.log_posterior(x) + self._swap(x)

    def gradient_hessian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grad, hess = self.target.gradient_hessian(x)
        v = len(self.center)
        grad = grad.copy()
        hess = hess.copy()
        grad[:, :v] += x[:, :v] @ self._old - (x[:, :v] - self.center) @ self.values_precision
        hess[:, :v, :v] += self._old - self.values_precision
        return grad, hess


class AdaptiveDesign:
    """Chooses a respondent's next requests by expected posterior variance reduction.

    Parameters
    ----------
    draws
        Item-parameter draws (:func:`~vp_bayes.scoring.posterior.item_draws`), or a fitted
        item model (200 draws are read).
    batch_size
        Requests per batch.
    target_sd
        Stop when every value's posterior SD (Laplace) is at most this; ``None``: only the
        budget stops.
    budget
        Stop after this many requests; ``None``: only the target (or an empty pool) stops.
    target_ratio
        Also stop when every value's SD is at most this times the SD a full collection of the
        pool would reach (predicted, :attr:`AdaptiveStep.attainable_sd`); ``None``: off.
    variants_per_pick
        Ratings of an item asked together (1: one variant at a time, the design's choice
        between a new item and another variant of an asked one; 6: all variants at once).
    criterion
        ``"attainable"``: maximise the sum over values of the variance reduction divided by the
        value's attainable variance (what a full collection would reach), so every value
        approaches its full-data precision; ``"relative"``: divided by the value's current
        variance; ``"total"``: the plain sum (A-optimality).
    prior_scale
        The scoring prior's scale (as in :func:`~vp_bayes.scoring.score`).
    base_ratings
        For a persona: its base model's ratings (``item_id, variant, rating``). The design
        then starts from the joint scoring's prior of a persona, the base model's portrait
        (Laplace) plus a shift ``N(0, persona_sd^2)`` per value (:class:`_BasePrior`), instead
        of the population prior, and asks about what the base left open. The stopping rules
        (``target_sd``, ``target_ratio``) are judged on the persona's own ratings under the
        population prior (:meth:`_stop_evidence`).
    persona_sd
        Prior SD of a persona's shift of each value (as in joint scoring).

    Examples
    --------
    >>> design = AdaptiveDesign(draws, batch_size=40, target_sd=0.6, budget=780)
    >>> step = design.step(ratings_so_far, pool)   # pool: item_id, variant not yet asked
    >>> step.batch                                 # send these; repeat until step.stop
    """

    def __init__(self, draws: ItemDraws | Any, *, batch_size: int = BATCH_SIZE,
                 target_sd: float | None = TARGET_SD, budget: int | None = BUDGET,
                 variants_per_pick: int = VARIANTS_PER_PICK, criterion: str = "attainable",
                 prior_scale: float = PRIOR_SCALE, target_ratio: float | None = None,
                 base_ratings: pd.DataFrame | None = None,
                 persona_sd: float = PERSONA_SD) -> None:
        if not isinstance(draws, ItemDraws):
            draws = item_draws(draws, 200)
        if batch_size < 1:
            raise InputError(f"must be at least 1, got {batch_size}", field="batch_size")
        if variants_per_pick < 1:
            raise InputError(f"must be at least 1, got {variants_per_pick}",
                             field="variants_per_pick")
        if target_sd is not None and not target_sd > 0:
            raise InputError("must be positive", field="target_sd")
        if target_ratio is not None and not target_ratio >= 1:
            raise InputError("must be at least 1", field="target_ratio")
        if budget is not None and budget < 0:
            raise InputError(f"must not be negative, got {budget}", field="budget")
        if criterion not in CRITERIA:
            raise InputError(f"unknown criterion {criterion!r} (known: {', '.join(CRITERIA)})",
                             field="criterion")
        if not prior_scale > 0:
            raise InputError("must be positive", field="prior_scale")
        if not persona_sd > 0:
            raise InputError("must be positive", field="persona_sd")
        self.draws = draws
        self.batch_size, self.target_sd, self.budget = batch_size, target_sd, budget
        self.variants_per_pick, self.criterion = variants_per_pick, criterion
        self.prior_scale, self.target_ratio = prior_scale, target_ratio
        self._lookup = {item: j for j, item in enumerate(draws.items)}
        self._mean, self._cov, self._cuts = self._item_moments()
        self._x0: dict[bool, np.ndarray] = {}  # warm starts: design prior / own (population)
        t, w = np.polynomial.hermite_e.hermegauss(INFO_NODES)
        self._gh = (t, w / w.sum())
        self.persona_sd = persona_sd
        self._base: tuple[np.ndarray, np.ndarray] | None = None
        self.set_base(base_ratings)

    def set_base(self, base_ratings: pd.DataFrame | None) -> None:
        """Centre the values' prior at a base model's portrait (a persona's design), or back
        at the population prior (``None`` or empty); forgets the warm start.

        The prior is the joint scoring's prior of a persona given its base model: the base's
        Laplace posterior of the values (mean, covariance) plus ``persona_sd^2`` per value.
        """
        self._base = None
        self.reset()
        if base_ratings is None or not len(base_ratings):
            return
        base = self.posterior(base_ratings)
        v = len(self.draws.values)
        cov = base.cov[:v, :v] + self.persona_sd**2 * np.eye(v)
        self._base = (base.mode[:v].copy(), np.linalg.inv(0.5 * (cov + cov.T)))
        self.reset()

    def reset(self) -> None:
        """Forget the warm starts (before the next respondent)."""
        self._x0 = {}

    # -- item parameters -------------------------------------------------------------------
    def _item_moments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean (J, V+1) and covariance (J, V+1, V+1) of every item's ``(beta_j,
        b_j)`` and its cutpoints (J, K-1), as the default scoring target integrates them."""
        draws = self.draws
        n_items, k = len(draws.items), draws.n_categories
        every = RespondentData(np.arange(n_items), np.ones((n_items, 1, k)), (POOLED,))
        target = MarginalProblem.from_problem(
            make_problem(draws, every, False, self.prior_scale, True), draws.shared_thresholds)
        cuts = target.upper.reshape(n_items, k)[:, : k - 1]  # upper cut of categories 1..K-1
        return target.mean, target.cov, cuts

    # -- the current posterior -------------------------------------------------------------
    def posterior(self, ratings: pd.DataFrame | None, *, own: bool = False) -> Posterior:
        """Laplace approximation of the respondent's posterior given ``ratings`` so far.

        ``ratings``: rows ``item_id, variant, rating[, p1..pK]`` of one respondent (NaN
        ratings are unparsed and skipped; unknown items are not used); ``None`` or empty:
        the prior. ``own``: under the population prior even when a base model is set (what
        the respondent's own ratings say; the stopping rule of a persona).
        """
        draws = self.draws
        if ratings is None or not len(ratings):
            data = RespondentData(np.zeros(0, dtype=int),
                                  np.zeros((0, 1, draws.n_categories)), (POOLED,))
        else:
            data, _ = respondent_data(ratings, draws)
        target = MarginalProblem.from_problem(
            make_problem(draws, data, False, self.prior_scale, True), draws.shared_thresholds)
        base = None if own else self._base
        if base is not None:
            target = _BasePrior(target, *base)
        start = self._x0.get(own)
        start = start if start is not None and start.size == target.size else None
        if start is None and base is not None:  # a persona starts at its base's values
            start = target.start()[0]
            start[: len(base[0])] = base[0]
        mode, neg_hess, _ = find_modes(target if start is None else _WarmStart(target, start),
                                       tol=NEWTON_TOL, max_iter=NEWTON_MAX)
        x0 = mode[0].copy()
        # tau's gradient vanishes at 0 by symmetry: a start there stalls Newton (measured:
        # 100 iterations without convergence), so the next search starts tau away from 0
        tau = target.layout.tau
        x0[tau] = max(abs(x0[tau]), TAU_START)
        self._x0[own] = x0
        cov = np.linalg.inv(neg_hess[0])
        return Posterior(mode[0], 0.5 * (cov + cov.T), draws.values, int(data.n_weight))

    # -- expected information --------------------------------------------------------------
    def item_information(self, post: Posterior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per item at the current posterior: one rating's expected information ``I_j`` about
        the item's predictor, the shared variance ``s_j^2`` and the direction ``a_j``
        (J, P) in (theta[, alpha]) (P = V + 1 with a response style)."""
        draws = self.draws
        v = len(draws.values)
        has_alpha = draws.sigma_alpha is not None
        x = post.mode
        t1 = np.r_[x[:v], 1.0]
        mu = self._mean @ t1 + (x[v] if has_alpha else 0.0)
        var_param = np.maximum(np.einsum("v,jvw,w->j", t1, self._cov, t1), 0.0)
        tau_i = x.size - 2  # layout: ..., tau / TAU_SCALE, log sigma
        # E[tau^2] = mode^2 + variance; the variance capped at the prior's (TAU_SD^2): with
        # one rating per item tau is confounded with the rating noise, the mode sits at 0 on
        # a flat ridge and the Laplace variance of x_tau ran to 38 (SD 6), which made every
        # further rating look worthless (h_j ~ 1 / s_j^2) and stopped the precision rule
        # after 40 of 480 requests (benchmarks/persona_replay.py, session 10)
        tau2 = TAU_SCALE**2 * (x[tau_i] ** 2 + min(post.cov[tau_i, tau_i], TAU_SD**2))
        sigma = math.exp(float(np.clip(x[-1], -MAX_LOG_SCALE, MAX_LOG_SCALE)))
        p = v + int(has_alpha)
        a = np.concatenate([self._mean[:, :v], np.ones((len(mu), 1))], axis=1)[:, :p]
        spread = np.sqrt(var_param + tau2 + np.einsum("jp,pq,jq->j", a, post.cov[:p, :p], a))
        t, w = self._gh
        eta = mu[:, None] + spread[:, None] * t[None]  # (J, Q)
        info = rating_information(eta, self._cuts[:, None, :], sigma) @ w
        return info, var_param + tau2, a

    # -- one step --------------------------------------------------------------------------
    def step(self, ratings: pd.DataFrame | None, pool: pd.DataFrame,
             n_asked: int | None = None) -> AdaptiveStep:
        """The current posterior, whether to stop, and otherwise the next batch.

        Parameters
        ----------
        ratings
            The respondent's answers so far (``item_id, variant, rating[, p1..pK]``).
        pool
            The requests not yet asked, ``item_id, variant`` (items unknown to the model are
            never chosen).
        n_asked
            Requests spent so far (default: the rows of ``ratings``, unparsed ones included).

        Returns
        -------
        AdaptiveStep
        """
        n_asked = (0 if ratings is None else len(ratings)) if n_asked is None else n_asked
        post = self.posterior(ratings)
        cands = self._candidates(post, ratings, pool)
        attainable = self._attainable(post, cands)
        empty = pd.DataFrame({ITEM_ID: pd.Series(dtype=str), "variant": pd.Series(dtype=str)})
        reason = ""
        room = self.batch_size if self.budget is None else min(self.batch_size,
                                                                self.budget - n_asked)
        sd, stop_attainable = self._stop_evidence(post, ratings, pool, cands, attainable)
        if self.target_sd is not None and bool((sd <= self.target_sd).all()):
            reason = "target"
        elif self.target_ratio is not None and bool(
                (sd <= self.target_ratio * stop_attainable).all()):
            reason = "precision"
        elif room <= 0:
            reason = "budget"
        if reason:
            return AdaptiveStep(empty, post, True, reason, n_asked, sd, stop_attainable)
        batch, expected = self.choose(post, cands, room, attainable)
        if not len(batch):
            return AdaptiveStep(empty, post, True, "exhausted", n_asked, sd, attainable)
        return AdaptiveStep(batch, post, False, "", n_asked, expected, attainable)

    def _stop_evidence(self, post: Posterior, ratings: pd.DataFrame | None,
                       pool: pd.DataFrame, cands: dict[str, Any],
                       attainable: pd.Series) -> tuple[pd.Series, pd.Series]:
        """The SDs and attainable SDs the stopping rules judge: the design posterior's, or
        for a persona (base model set) those of its own ratings under the population prior.

        Under the base-centred prior the current and the attainable SD are close from the
        start (the prior is narrow), and the rule stopped personas after 40-120 of 480
        requests with 0-1 values at precision (``benchmarks/persona_replay.py``); judged on
        the persona's own ratings it stops only when they carry the persona near what a full
        collection would, and the joint scoring with the base is then at least as precise.
        """
        if self._base is None or (self.target_sd is None and self.target_ratio is None):
            return post.sd, attainable
        own = self.posterior(ratings, own=True)
        return own.sd, self._attainable(own, self._candidates(own, ratings, pool))

    def _candidates(self, post: Posterior, ratings: pd.DataFrame | None,
                    pool: pd.DataFrame) -> dict[str, Any]:
        """The pool by item: positions, variants left, ratings so far, information terms."""
        pos = pool[ITEM_ID].astype(str).map(self._lookup)
        known = pool[pos.notna().to_numpy()]
        by_item: dict[int, list[str]] = {}
        for variant, j in zip(known["variant"].astype(str), pos.dropna().astype(int),
                              strict=True):
            by_item.setdefault(j, []).append(variant)
        cand = np.fromiter(by_item, dtype=int, count=len(by_item))
        done = np.zeros(len(self.draws.items))
        if ratings is not None and len(ratings):
            rated = ratings[ratings["rating"].notna()] if "rating" in ratings else ratings
            counts = rated[ITEM_ID].astype(str).map(self._lookup).dropna().astype(int)
            np.add.at(done, counts.to_numpy(), 1.0)
        used = {} if ratings is None or not len(ratings) else \
            ratings["variant"].astype(str).value_counts().to_dict()
        info, shared, a = self.item_information(post)
        return {"cand": cand, "by_item": by_item, "used": used,
                "left": np.array([len(by_item[j]) for j in cand], dtype=int),
                "n": done[cand], "info": info[cand], "shared": shared[cand], "a": a[cand]}

    @staticmethod
    def _h(m: np.ndarray, info: np.ndarray, shared: np.ndarray) -> np.ndarray:
        """Information about an item's predictor from m ratings sharing its deviation."""
        return m * info / (1.0 + m * info * shared)

    def _attainable(self, post: Posterior, cands: dict[str, Any]) -> pd.Series:
        """The values' SDs expected if every request of the pool were answered (the same
        linearisation as the batch choice): the precision a full collection would reach."""
        v = len(self.draws.values)
        a, n, left = cands["a"], cands["n"], cands["left"]
        p = a.shape[1]
        cov = post.cov[:p, :p]
        dh = self._h(n + left, cands["info"], cands["shared"]) - \
            self._h(n, cands["info"], cands["shared"])
        prec = np.linalg.inv(cov) + (a.T * dh) @ a
        full = np.linalg.inv(0.5 * (prec + prec.T))
        return pd.Series(np.sqrt(np.diag(full)[:v]), index=list(self.draws.values),
                         name="attainable_sd")

    def choose(self, post: Posterior, cands: dict[str, Any], size: int,
               attainable: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
        """Greedy batch of ``size`` requests from the candidates under ``post`` (see the
        module doc) and the values' SDs expected after it."""
        v = len(self.draws.values)
        cand, by_item, left = cands["cand"], cands["by_item"], cands["left"]
        if not len(cand) or size <= 0:
            return pd.DataFrame(columns=[ITEM_ID, "variant"]), post.sd
        n = cands["n"].copy()
        info, shared, a = cands["info"], cands["shared"], cands["a"]
        p = a.shape[1]
        cov = post.cov[:p, :p].copy()
        weight = np.zeros(p)
        if self.criterion == "attainable":
            weight[:v] = 1.0 / np.maximum(attainable.to_numpy() ** 2, 1e-12)
        elif self.criterion == "relative":
            weight[:v] = 1.0 / np.diag(cov)[:v]
        else:
            weight[:v] = 1.0

        def h(m: np.ndarray) -> np.ndarray:
            return self._h(m, info, shared)

        taken = np.zeros(len(cand), dtype=int)
        picks: list[tuple[int, int]] = []
        total = 0
        while total < size:
            k = np.minimum(np.minimum(self.variants_per_pick, left - taken), size - total)
            dh = np.where(k > 0, h(n + k) - h(n), 0.0)
            c = a @ cov  # (C, P): Sigma a_j
            q = np.einsum("cp,cp->c", c, a)
            gain = dh * (c**2 @ weight) / (1.0 + dh * q) / np.maximum(k, 1)
            best = int(np.argmax(gain))
            if not gain[best] > 0:
                break
            cov -= dh[best] * np.outer(c[best], c[best]) / (1.0 + dh[best] * q[best])
            n[best] += k[best]
            taken[best] += k[best]
            total += int(k[best])
            picks.append((best, int(k[best])))
        # variants: the item's least used so far over all items (ties: variant_order), so
        # every wording and option order is asked about equally often
        used = dict(cands["used"])
        rows = []
        for i, k in picks:
            item = self.draws.items[cand[i]]
            order = variant_order(item, by_item[cand[i]])
            chosen = sorted(order, key=lambda var: used.get(var, 0))[:k]  # stable
            for var in chosen:
                by_item[cand[i]].remove(var)
                used[var] = used.get(var, 0) + 1
                rows.append((item, var))
        batch = pd.DataFrame(rows, columns=[ITEM_ID, "variant"])
        expected = pd.Series(np.sqrt(np.maximum(np.diag(cov)[:v], 0.0)),
                             index=list(self.draws.values), name="sd")
        return batch, expected


def next_items(item_model: Any, ratings: pd.DataFrame | None, pool: pd.DataFrame, *,
               n_asked: int | None = None, **options: Any) -> AdaptiveStep:
    """One adaptive step in one call: the respondent's next batch of requests (or stop).

    Builds an :class:`AdaptiveDesign` (``options``: ``batch_size``, ``target_sd``, ``budget``,
    ``variants_per_pick``, ``criterion``, ``prior_scale``, ``target_ratio``, ``base_ratings``
    and ``persona_sd`` for a persona) from ``item_model`` (a fitted item
    model or its :class:`~vp_bayes.scoring.posterior.ItemDraws`) and calls its
    :meth:`~AdaptiveDesign.step`. In a loop, keep one design (it caches the item moments and
    warm-starts Newton at the previous mode).
    """
    return AdaptiveDesign(item_model, **options).step(ratings, pool, n_asked)


ORDERS = ("adaptive", "random")


@dataclass(frozen=True)
class Replay:
    """An adaptive (or random) collection replayed against a complete rating table.

    Attributes
    ----------
    asked
        The requests in the order asked, with the oracle's answers and ``batch`` (0-based).
    batches
        One row per batch: ``batch, n_asked`` (after it), ``seconds`` (choosing it),
        ``reason`` (why the design stopped after it, else ""), and the Laplace SD of each
        value before the batch (``sd_<value>``).
    stopped
        Why the replay ended: the design's reason, ``"check"`` (the callback said so),
        ``"max_requests"`` or ``"exhausted"``.
    """

    asked: pd.DataFrame
    batches: pd.DataFrame
    stopped: str


def replay(design: AdaptiveDesign, answers: pd.DataFrame, *, order: str = "adaptive",
           seed: int = 0, max_requests: int | None = None,
           check: Any = None) -> Replay:
    """Replay a collection against one respondent's complete ratings (the oracle).

    Parameters
    ----------
    design
        The adaptive design (its ``batch_size``; with ``order="adaptive"`` also its target
        and budget).
    answers
        Every request's answer, ``item_id, variant, rating[, p1..pK]``, one row per (item,
        variant).
    order
        ``"adaptive"``: :meth:`AdaptiveDesign.step` chooses; ``"random"``: a random order of
        all requests (``seed``), in batches of ``design.batch_size``.
    max_requests
        Stop after this many requests.
    check
        Called with the answers collected so far after every batch; a true return ends the
        replay (e.g. a tolerance check against the full-data portrait).

    Returns
    -------
    Replay
    """
    import time

    if order not in ORDERS:
        raise InputError(f"unknown order {order!r} (known: {', '.join(ORDERS)})", field="order")
    table = answers.reset_index(drop=True).astype({ITEM_ID: str, "variant": str})
    if table.duplicated([ITEM_ID, "variant"]).any():
        raise InputError("more than one answer per (item_id, variant)", field=ITEM_ID)
    row_of = {key: i for i, key in enumerate(zip(table[ITEM_ID], table["variant"],
                                                 strict=True))}
    remaining = np.ones(len(table), dtype=bool)
    perm = np.random.default_rng(seed).permutation(len(table))
    limit = len(table) if max_requests is None else min(max_requests, len(table))
    picked: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    stopped = ""
    design.reset()  # a new respondent: Newton from the default start
    while True:
        asked = table.iloc[np.concatenate(picked)] if picked else table.iloc[:0]
        n_asked = len(asked)
        t0 = time.perf_counter()
        room = min(design.batch_size, limit - n_asked)
        if order == "adaptive":
            pool = table.loc[remaining, [ITEM_ID, "variant"]]
            step = design.step(asked, pool, n_asked)
            rows = np.array([row_of[k] for k in zip(step.batch[ITEM_ID], step.batch["variant"],
                                                    strict=True)], dtype=int)[:max(room, 0)]
            sd, reason = step.posterior.sd, step.reason
        else:
            rows = perm[n_asked:n_asked + max(room, 0)]
            sd, reason = pd.Series(dtype=float), ""
        seconds = time.perf_counter() - t0
        records.append({"batch": len(picked), "n_asked": n_asked + len(rows),
                        "seconds": seconds, "reason": reason,
                        **{f"sd_{k}": float(x) for k, x in sd.items()}})
        if reason:
            stopped = reason
            records[-1]["n_asked"] = n_asked
            break
        if not len(rows):
            stopped = "max_requests" if n_asked >= limit else "exhausted"
            records[-1]["n_asked"] = n_asked
            break
        remaining[rows] = False
        picked.append(rows)
        if check is not None and check(table.iloc[np.concatenate(picked)]):
            stopped = "check"
            break
    idx = np.concatenate(picked) if picked else np.zeros(0, dtype=int)
    out = table.iloc[idx].copy()
    out["batch"] = np.repeat(np.arange(len(picked)), [len(p) for p in picked]) \
        if picked else np.zeros(0, dtype=int)
    return Replay(out.reset_index(drop=True), pd.DataFrame(records), stopped)


def within_tolerance(theta: np.ndarray, full_theta: np.ndarray, *, mean_tol: float = 0.25,
                     width_ratio: float = 1.25, mass: float = 0.9) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Per value: is a portrait within tolerance of the full-data portrait?

    ``theta`` and ``full_theta`` are posterior samples (N, V) (human SDs). Returns two boolean
    arrays (V,): the posterior mean is within ``mean_tol`` of the full-data mean; the
    equal-tailed ``mass`` interval is at most ``width_ratio`` times the full-data width. A
    value is within tolerance when both hold.
    """
    q = [(1 - mass) / 2, (1 + mass) / 2]

    def width(x: np.ndarray) -> np.ndarray:
        lo, hi = np.quantile(x, q, axis=0)
        return hi - lo

    close = np.abs(theta.mean(axis=0) - full_theta.mean(axis=0)) <= mean_tol
    return close, width(theta) <= width_ratio * width(full_theta)
