r"""Joint scoring of one model and its personas: ``theta_p = theta_base + delta_p``.

Scoring each persona on its own puts the prior ``MVN(0, c^2 corr)`` on every persona's
values, so everything a persona shares with its model (the model's own, often far from human,
portrait) is shrunk once per persona, and persona contrasts shrink with it. Scored jointly, the
respondents of one model (the plain model, if rated, and every ``model|persona``) share

* ``theta_base ~ MVN(0, c^2 corr)`` and ``alpha_base ~ N(0, (c sigma_alpha)^2)``, ``c`` the
  prior scale (the model's portrait
  and response style; the plain model's respondent *is* the base), and
* per persona ``delta_p ~ N(0, persona_sd^2 I)`` and ``gamma_p ~ N(0, (persona_sd
  sigma_alpha)^2)``, the persona's shift of the values and of the response style,

so a persona's values are ``theta_base + delta_p`` and two personas differ by
``delta_p - delta_q``: the shared part is estimated once from all of the model's ratings.
Variant offsets, when used, stay per respondent. The joint vector ``z`` maps linearly onto each
respondent's ``x_r = T_r z`` (``T_r`` a 0/1 matrix), so the log posterior, its gradient and
Hessian are sums of the single-respondent ones of :mod:`vp_bayes.scoring.laplace`::

    log p(z) = sum_r loglik_r(T_r z) - z' P z / 2,
    grad = sum_r T_r' g_r - P z,   H = sum_r T_r' H_r T_r - P.

Without the respondents' noise it is concave; with it (tau, log sigma per respondent) it is
not in general, and the same damped Newton (eigenvalues of the Hessian clipped), Laplace
proposal and importance resampling apply;
sample ``m`` of item draw ``s`` is one joint draw for all the model's respondents, so persona
contrasts taken draw by draw are draws of the joint posterior.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vp_bayes.scoring.laplace import PRIOR_SCALE, Problem, RespondentData, make_problem
from vp_bayes.scoring.marginal import MarginalProblem
from vp_bayes.scoring.posterior import ItemDraws

PERSONA_SD = 1.0  # prior SD of a persona's shift of each value, in population SDs


@dataclass(frozen=True)
class JointProblem:
    """The joint conditional posteriors (all S draws) of a model's respondents.

    Attributes
    ----------
    members
        One :class:`~vp_bayes.scoring.laplace.Problem` per respondent, with zero prior
        precision (the prior lives in :attr:`precision`).
    maps
        ``T_r`` (D_r, D): the respondent's ``x_r = T_r z``.
    precision
        (S, D, D) prior precision of z.
    """

    members: tuple[Problem | MarginalProblem, ...]
    maps: tuple[np.ndarray, ...]
    precision: np.ndarray

    @property
    def n_draws(self) -> int:
        """S."""
        return int(self.precision.shape[0])

    @property
    def size(self) -> int:
        """Dimension D of z."""
        return int(self.precision.shape[1])

    @property
    def cost_per_sample(self) -> int:
        """Elements evaluated per sample and draw (sets the chunk size)."""
        return sum(m.cost_per_sample for m in self.members)

    def draws_slice(self, sl: slice) -> JointProblem:
        """The same problem restricted to the draws ``sl``."""
        return replace(self, members=tuple(m.draws_slice(sl) for m in self.members),
                       precision=self.precision[sl])

    def start(self) -> np.ndarray:
        """Newton's starting point (S, D): each member's :meth:`Layout.start` in z."""
        z = np.zeros(self.size)
        for t, member in zip(self.maps, self.members, strict=True):
            own = member.layout.own
            z[t[own].argmax(axis=1)] = member.layout.start()[own]
        return np.broadcast_to(z, (self.n_draws, self.size)).copy()

    def member_x(self, z: np.ndarray, r: int) -> np.ndarray:
        """Respondent r's parameters ``x_r = T_r z`` for z (..., D)."""
        return z @ self.maps[r].T

    def log_posterior(self, z: np.ndarray) -> np.ndarray:
        """Unnormalised joint log posterior at z (S, ..., D) -> (S, ...)."""
        extra = z.ndim - 2
        prec = self.precision.reshape(self.precision.shape[:1] + (1,) * extra
                                      + self.precision.shape[1:])
        total = -0.5 * np.einsum("...d,...de,...e->...", z, prec, z)
        for r, member in enumerate(self.members):
            total = total + member.log_posterior(self.member_x(z, r))
        return total

    def gradient_hessian(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient (S, D) and Hessian (S, D, D) of :meth:`log_posterior` at z (S, D)."""
        grad = -np.einsum("sde,se->sd", self.precision, z)
        hess = -self.precision.copy()
        for r, member in enumerate(self.members):
            t = self.maps[r]
            g, h = member.gradient_hessian(self.member_x(z, r))
            grad += g @ t
            hess += np.einsum("id,sij,je->sde", t, h, t, optimize=True)
        return grad, hess


def make_joint_problem(draws: ItemDraws, data: list[RespondentData], is_base: list[bool],
                       variant_offsets: bool, persona_sd: float = PERSONA_SD,
                       marginal: bool = False, prior_scale: float = PRIOR_SCALE,
                       item_deviation: bool = False) -> JointProblem:
    """Build the joint problem of one model's respondents.

    Parameters
    ----------
    draws
        Item-parameter draws.
    data
        Each respondent's ratings (:func:`vp_bayes.scoring.portraits.respondent_data`).
    is_base
        True for the model's plain respondent (no persona); at most one.
    variant_offsets
        One intercept shift per prompt variant and respondent.
    persona_sd
        Prior SD of a persona's shift of each value (population SD units); the response-style
        shift has SD ``persona_sd * sigma_alpha``.
    marginal
        Integrate each item's parameters inside the likelihood (:mod:`.marginal`): one
        "draw", prior precision averaged over the item draws.
    prior_scale
        The base portrait's prior is ``MVN(0, prior_scale^2 corr)`` (and
        ``N(0, (prior_scale sigma_alpha)^2)`` for its response style).
    item_deviation
        Each respondent gets its own noise: the SD tau of an item deviation shared by its
        variants and the scale sigma of its rating noise (marginal target only).
    """
    if sum(is_base) > 1:
        raise ValueError("at most one respondent can be the model's base")
    if persona_sd <= 0:
        raise ValueError("persona_sd must be positive")
    s, v = draws.n_draws, len(draws.values)
    has_alpha = draws.sigma_alpha is not None
    n_base = v + int(has_alpha)
    members = [make_problem(draws, d, variant_offsets, prior_scale, item_deviation)
               for d in data]
    sizes = [n_base + int(not base) * n_base + m.layout.size - m.layout.own.start
             for m, base in zip(members, is_base, strict=True)]
    d_total = n_base + sum(sizes) - n_base * len(members)
    prec = np.zeros((s, d_total, d_total))
    prec[:, :v, :v] = np.linalg.inv(draws.corr) / prior_scale**2
    if has_alpha:
        prec[:, v, v] = 1.0 / (prior_scale * draws.sigma_alpha) ** 2
    maps, pos = [], n_base
    for member, base in zip(members, is_base, strict=True):
        lay = member.layout
        t = np.zeros((lay.size, d_total))
        t[np.arange(n_base), np.arange(n_base)] = 1.0
        if not base:
            block = np.arange(pos, pos + n_base)
            t[np.arange(n_base), block] = 1.0
            prec[:, block[:v], block[:v]] = 1.0 / persona_sd**2
            if has_alpha:
                prec[:, block[v], block[v]] = 1.0 / (persona_sd * draws.sigma_alpha) ** 2
            pos += n_base
        own = np.arange(lay.size)[lay.own]  # offsets and item deviation: the respondent's own
        t[own, pos + np.arange(own.size)] = 1.0
        prec[:, pos + np.arange(own.size), pos + np.arange(own.size)] = lay.own_precision()
        pos += own.size
        maps.append(t)
    members = [replace(m, precision=np.zeros_like(m.precision)) for m in members]
    if marginal:
        return JointProblem(tuple(MarginalProblem.from_problem(m, draws.shared_thresholds)
                                  for m in members),
                            tuple(maps), prec.mean(axis=0, keepdims=True))
    return JointProblem(tuple(members), tuple(maps), prec)
