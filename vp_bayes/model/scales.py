"""Zero-sum normal blocks whose half-normal scale is integrated out of the sampler.

A block ``x`` (item locations, response styles, a demographic axis's group effects) is
``x = sigma z`` with ``z ~ ZeroSumNormal(1)`` and ``sigma ~ HalfNormal(prior_sd)``. ``x`` is
then normal with covariance ``t P`` (``t = sigma^2``, P the projection onto the zero-sum
subspace, of dimension d) and ``t``'s prior is known, so ``sigma`` can be integrated out::

    p(x) = (2 pi)^(-d/2) sqrt(2 / pi) / (2 prior_sd) * I((1 - d) / 2, 1 / prior_sd^2, |x|^2)
    I(p, a, b) = int_0^inf t^(p - 1) exp(-(a t + b / t) / 2) dt = 2 (b / a)^(p / 2) K_p(sqrt(a b))

(K the modified Bessel function of the second kind). The sampler then sees ``x`` itself
(through PyMC's zero-sum transform, an isometry) and no scale: no ridge between the scale and
standardised deviations. The model is the same. Given ``x``, ``t`` is generalised inverse
Gaussian, ``GIG(p, a, |x|^2)``, so ``sigma`` is drawn after sampling, one per posterior draw
(:func:`draw_scale`), and the saved posterior has the same variables as the sampled form.

``log I`` is computed by Gauss-Hermite quadrature in ``log t`` around the integrand's mode
(:func:`log_gig_integral`): every operation is elementwise, so it compiles for Numba and JAX
alike, and it stays finite where ``K_p`` overflows (orders of hundreds: a block of a thousand
participants).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import ZeroSumTransform

# Gauss-Hermite nodes of log I: 32 give log I within 1e-5 for d >= 2 and 1e-8 for d >= 10
# (tests/test_model_scales.py compares scipy's Bessel function).
N_NODES = 32


def log_gig_integral(p, a, b, n_nodes: int = N_NODES):
    """``log I(p, a, b)``, ``I = int_0^inf t^(p - 1) exp(-(a t + b / t) / 2) dt`` (a, b > 0).

    Gauss-Hermite quadrature in ``u = log t`` centred at the integrand's mode
    ``exp(u*) = (p + sqrt(p^2 + a b)) / a = b / (sqrt(p^2 + a b) - p)`` (the second form,
    free of cancellation, for ``p <= 0``: every block here) with the Laplace scale
    ``1 / sqrt(f''(u*))``. PyTensor tensors in, a tensor out (elementwise over ``b``).
    """
    nodes, weights = np.polynomial.hermite.hermgauss(n_nodes)
    b = pt.as_tensor_variable(b)
    root = pt.sqrt(p * p + a * b)
    mode = (p + root) / a if p > 0 else b / (root - p)
    u0 = pt.log(mode)
    width = pt.sqrt(4.0 / (a * mode + b / mode))  # sqrt(2) / sqrt(f''(u*))
    u = u0[..., None] + width[..., None] * nodes
    f = p * u - 0.5 * (a * pt.exp(u) + b[..., None] * pt.exp(-u)) + nodes**2
    return pt.logsumexp(f + np.log(weights), axis=-1) + pt.log(width)


def log_marginal(ss, d: int, prior_sd):
    """log density of a zero-sum normal block of ``d`` free dimensions and sum of squares
    ``ss`` with its scale ``sigma ~ HalfNormal(prior_sd)`` integrated out (``prior_sd`` a
    number or a scalar tensor)."""
    a = 1.0 / prior_sd**2
    const = (-0.5 * d * np.log(2.0 * np.pi) + 0.5 * np.log(2.0 / np.pi)
             - pt.log(2.0 * prior_sd))
    return const + log_gig_integral(0.5 * (1.0 - d), a, ss)


def free_dims(shape: tuple[int, ...], sum_axes: tuple[int, ...]) -> int:
    """Dimension of the blocks of ``shape`` that sum to zero along each of ``sum_axes`` (the
    subspace PyMC's zero-sum transform maps onto): every such axis loses one dimension.
    Negative axes count from the end, as in ``shape[k]``."""
    summed = {k % len(shape) for k in sum_axes}
    return int(np.prod([n - 1 if k in summed else n for k, n in enumerate(shape)]))


class _BlockZeroSum(ZeroSumTransform):
    """PyMC's zero-sum transform (an isometry: no Jacobian) for a block whose log density is
    one number, not one per row along the axes that do not sum to zero."""

    def log_jac_det(self, value, *rv_inputs):
        return pt.zeros_like(value.sum())


@dataclass(frozen=True)
class IntegratedScale:
    """A scale integrated out of the model: drawn after sampling from the saved block.

    Attributes
    ----------
    scale
        Name of the scale (``sigma_b``): what the posterior gets.
    block
        Name of the block's variable (``b``) in the posterior.
    prior_sd
        Its half-normal prior's scale.
    sum_dims
        Dimensions of the block over which it sums to zero.
    """

    scale: str
    block: str
    prior_sd: float
    sum_dims: tuple[str, ...]


def zero_sum_block(name: str, prior_sd: float, dims: tuple[str, ...],
                   sum_axes: tuple[int, ...], shape: tuple[int, ...]) -> pt.TensorVariable:
    """The block ``name`` (dims ``dims``, zero-sum over ``sum_axes``) with its half-normal
    scale integrated out (module docstring); prior draws take ``sigma`` and then the block."""
    d = free_dims(shape, sum_axes)
    axes = tuple(k % len(shape) - len(shape) for k in sum_axes)  # the transform's: negative

    def logp(value, centre, scale):
        return log_marginal(pt.sum(value**2), d, scale) + 0.0 * pt.sum(centre)

    def random(centre, scale, rng=None, size=None):
        sigma = np.abs(rng.normal(0.0, scale))
        x = rng.normal(0.0, sigma, size=np.shape(centre))
        for k in axes:
            x = x - x.mean(axis=k, keepdims=True)
        return x

    # The density is infinite at x = 0 (d >= 2): chains start from a spread-out block, a
    # ramp along each zero-sum axis of half the prior scale's size per element.
    start = np.zeros(shape)
    for k in sum_axes:
        ramp = np.linspace(-1.0, 1.0, shape[k]) * 0.5 * prior_sd * np.sqrt(3.0)
        start = start + ramp.reshape([-1 if j == k else 1 for j in range(len(shape))])
    core = ",".join(f"n{k}" for k in range(len(shape)))
    return pm.CustomDist(name, np.zeros(shape), np.float64(prior_sd), logp=logp,
                         random=random, signature=f"({core}),()->({core})",
                         class_name="ZeroSumScaleMixture", transform=_BlockZeroSum(axes),
                         support_point=lambda rv, size, c, scale: pt.as_tensor_variable(start),
                         dims=dims)


REJECTION_ROUNDS = 200  # proposal rounds before the draws still pending go to scipy


def draw_scale(block: np.ndarray, sum_axes: tuple[int, ...], prior_sd: float,
               rng: np.random.Generator) -> np.ndarray:
    """Draws of ``sigma | x`` (``sqrt`` of ``GIG((1 - d) / 2, 1 / prior_sd^2, |x|^2)``), one
    per leading index of ``block`` (``(chain, draw, *block dims)``; ``sum_axes`` are the
    zero-sum axes among the block's own).

    Exact rejection sampling, vectorised over the draws: ``t = sigma^2`` is proposed from the
    block's likelihood alone, ``InvGamma((d - 1) / 2, |x|^2 / 2)``, and kept with probability
    ``exp(-t / (2 prior_sd^2))`` (the half-normal prior's factor, at most 1). Where the data
    dominate the prior, as in the fitted blocks, most proposals are kept; draws still pending
    after :data:`REJECTION_ROUNDS` rounds, and blocks with d < 2 (no proper proposal), come
    from scipy's ``geninvgauss``, which loops over them in Python (about 0.2 ms a draw).
    """
    core = block.shape[2:]
    d = free_dims(core, sum_axes)
    ss = np.sum(block.reshape(*block.shape[:2], -1) ** 2, axis=-1)
    flat_ss, flat_t = ss.reshape(-1), np.full(ss.size, np.nan)
    pending = np.arange(ss.size)
    for _ in range(REJECTION_ROUNDS if d >= 2 else 0):
        if pending.size == 0:
            break
        proposal = 0.5 * flat_ss[pending] / rng.gamma(0.5 * (d - 1), size=pending.size)
        keep = np.log(rng.uniform(size=pending.size)) < -proposal / (2.0 * prior_sd**2)
        flat_t[pending[keep]] = proposal[keep]
        pending = pending[~keep]
    if pending.size:
        flat_t[pending] = _scipy_gig(0.5 * (1.0 - d), 1.0 / prior_sd**2, flat_ss[pending], rng)
    return np.sqrt(flat_t).reshape(ss.shape)


def _scipy_gig(p: float, a: float, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draws of ``GIG(p, a, b)`` (one per element of ``b``) by scipy."""
    from scipy.stats import geninvgauss

    t = geninvgauss.rvs(p, np.sqrt(a * b), scale=np.sqrt(b / a), random_state=rng)
    return np.reshape(t, b.shape)  # scipy drops leading axes of length 1
