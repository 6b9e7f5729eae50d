"""A slow, assumption-free reference for a single-draw scoring posterior: ensemble MCMC.

The affine-invariant ensemble sampler of Goodman and Weare (2010; the stretch move, as in
emcee), run on the unnormalised log posterior of a target of :mod:`vp_bayes.scoring.laplace`
with one draw (the default marginal target). It uses the log density only, no Laplace
approximation and no importance weights, so it checks them. The walkers start spread around
the target's Laplace approximation (covariance inflated), the first half of the iterations is
discarded.
"""

from __future__ import annotations

import numpy as np

from vp_bayes.scoring.laplace import Target, find_modes


def stretch_sampler(target: Target, rng: np.random.Generator, *, n_walkers: int = 64,
                    n_iter: int = 4000, spread: float = 2.0, a: float = 2.0,
                    thin: int = 10) -> tuple[np.ndarray, float]:
    """Draws (N, D) of ``target`` (one draw) by the stretch move, and the acceptance rate.

    Parameters
    ----------
    target
        A single-draw target (``n_draws == 1``).
    rng
        Random generator.
    n_walkers
        Walkers (even; at least twice the dimension).
    n_iter
        Iterations; the first half is burn-in.
    spread
        Starting points: Laplace samples with the covariance scaled by ``spread**2``.
    a
        The stretch move's scale.
    thin
        Keep every ``thin``-th iteration after burn-in.
    """
    mode, prec, _ = find_modes(target)
    d = target.size
    cov = np.linalg.inv(prec[0])
    cov = 0.5 * (cov + cov.T)
    # a non-converged or flat mode gives a useless covariance: cap it at the prior's scale
    cov = cov if np.all(np.isfinite(cov)) and np.diag(cov).max() < 25 else np.eye(d)
    x = mode[0] + spread * rng.multivariate_normal(np.zeros(d), cov, size=n_walkers)
    logp = target.log_posterior(x[None])[0]
    half = n_walkers // 2
    kept, accepted = [], 0
    for it in range(n_iter):
        for first in (True, False):
            mine = slice(0, half) if first else slice(half, n_walkers)
            other = slice(half, n_walkers) if first else slice(0, half)
            z = ((a - 1.0) * rng.random(half) + 1.0) ** 2 / a
            partner = x[other][rng.integers(0, half, half)]
            prop = partner + z[:, None] * (x[mine] - partner)
            lp = target.log_posterior(prop[None])[0]
            ok = np.log(rng.random(half)) < (d - 1) * np.log(z) + lp - logp[mine]
            xm, lm = x[mine].copy(), logp[mine].copy()
            xm[ok], lm[ok] = prop[ok], lp[ok]
            x[mine], logp[mine] = xm, lm
            accepted += int(ok.sum())
        if it >= n_iter // 2 and (it - n_iter // 2) % thin == 0:
            kept.append(x.copy())
    return np.concatenate(kept), accepted / (n_iter * n_walkers)
