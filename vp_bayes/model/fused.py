"""The item model's ordinal likelihood terms and the values' matrix-t prior as fused ops:
value and gradient in one call.

Built as a graph (:func:`vp_bayes.model.build.build_model`), each ordinal term is a chain of
gathers (``beta[item]``, ``theta[participant]``, cutpoints per observation), elementwise
softplus terms and a sum; its gradient is the reverse chain, with scatter-adds into ``beta``,
``theta`` and the cutpoints. Most of that cost is moving (N, V) intermediate arrays, not
arithmetic. Here one compiled function computes the summed log likelihood and its gradient
with respect to every parameter it reads, in three loops over the observations: the
predictors (gathers), the softplus terms and their sigmoids (two exponentials and one
logarithm per observation, written as arithmetic so that the loop runs on vector
instructions: :func:`_softplus_pass`) and the gradients (scatter-adds):

* :func:`ratings_term`: ``y_n ~ CumLogit(beta[j] . theta[i] + alpha[i] + b[j], c[g])`` with
  the cutpoints shared (one row) or per item (``g = j``);
* :func:`questions_term`: ``x_n ~ CumLogit(lam[q] theta[i, v(q)] + alpha[i], c[q])``.

The values' matrix-t prior (their inverse-Wishart covariance integrated out) is one more such
op, :func:`matrix_t_term`: as a graph (a Cholesky factor, its log determinant and their
gradients) it was about a hundred of the demo model's nodes, which a new machine compiles one
by one; its arithmetic is a small share of a gradient either way. For the same reason the
fitted model gives each ordinal term its cutpoints as :class:`RawCutpoints` (each row's first
cutpoint and log gaps): the term builds them (:func:`padded_from_raw`) and carries their
gradient back (:func:`raw_cutpoint_gradient`), where the graph had exponentials, cumulative
sums, padding and their gradients.

The log probability of category k with padded cutpoints ``l = c[g, k]``, ``u = c[g, k+1]`` is
``-softplus(eta - u) - softplus(l - eta) + log(1 - exp(l - u))`` (the log-space identity of
:mod:`vp_bayes.model.likelihood`, so the fused and graph models have one density); the last
term depends on the cutpoints only and is computed once per (row, category) and weighted by
its count.

:func:`~vp_bayes.model.fit.fit_wave` samples the fused model unless the sampler compiles
through JAX or the model has DIF terms (``SamplerConfig.fused_likelihood``).
Each term is a PyTensor ``Op`` with two implementations: ``perform`` (numpy callers, the
default PyTensor linker) and a Numba one registered for the Numba backend, which is what
nutpie compiles, so the loop is inlined in the sampler's compiled log density. Its outputs are
the value and the gradients; the gradient of the value is the gradient outputs times the
incoming gradient, so computing ``logp`` and ``dlogp`` together runs the loops once.
The chains of nutpie run in threads, one per core, so the loops themselves are serial.

The op's kernels are compiled without Numba's on-disk cache (PyTensor's cache holds the
compiled op, kernels included); :func:`ratings_logp_draws`, which no op calls (the pointwise
log likelihood after sampling), is cached by Numba. A kernel loaded from Numba's cache is
linked into the op as machine code, one compiled in the process as LLVM IR optimised with its
caller; one route gives the op one compiled form whatever the caches hold (session 23 once
saw the two routes give the demo wave's gradient different bits; ``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
import pytensor.tensor as pt
from numba import types
from numba.extending import intrinsic
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from pytensor.tensor.variable import TensorConstant

from vp_bayes.model.likelihood import BIG

# exp and log from arithmetic alone (no library call), so that the loop over observations in
# :func:`_softplus_pass` compiles to vector instructions: LLVM vectorises no loop that calls
# libm, and numba's SVML path is not there on PyPI's llvmlite. exp: Cody-Waite reduction
# x = n ln2 + r, |r| <= ln2 / 2, Taylor to r^13 (truncation 4e-18), 2^n from its bits; log on
# [1, 4]: p = 2^k m, m in [1/sqrt2, sqrt2), log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <=
# 0.172, series to s^23. Both within 1-2 ulp of libm (``tests/test_model_fused.py``).
_LN2_HI = 6.93147180369123816490e-01  # ln 2, low 32 bits of the significand 0: n * it is exact
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e+00
_EXP_FLOOR = -700.0  # exp(-700) = 1e-304, still a normal number; below it 0 would do as well
_SQRT2 = 1.4142135623730951
_VECTOR = {"error_model": "numpy", "fastmath": {"contract"}}  # no zero-division branch; FMA


@intrinsic
def _bits_as_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bitcast, no conversion)."""
    if not (isinstance(bits, types.Integer) and bits.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


# Horner coefficients, highest power first: exp's Taylor series to r^13 (1 / k!), and the
# atanh series of log in z = s^2 to z^11 (1 / (2k + 1)).
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))
_LOG_COEFFICIENTS = tuple(1.0 / (2 * k + 1) for k in range(11, -1, -1))


@numba.njit(inline="always", **_VECTOR)
def _horner(x: float, coefficients: tuple) -> float:
    """The polynomial with ``coefficients`` (highest power first) at ``x``."""
    out = 0.0
    for c in coefficients:
        out = out * x + c
    return out


@numba.njit(inline="always", **_VECTOR)
def _exp_nonpositive(x: float) -> float:
    """``exp(x)`` for ``x <= 0`` (below ``_EXP_FLOOR``: exp(_EXP_FLOOR)), vectorisable."""
    x = x if x > _EXP_FLOOR else _EXP_FLOOR
    n = math.floor(x * _INV_LN2 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _horner(r, _EXP_COEFFICIENTS)
    return p * _bits_as_float((np.int64(n) + 1023) << 52)


@numba.njit(inline="always", **_VECTOR)
def _log_1_to_4(p: float) -> float:
    """``log(p)`` for ``1 <= p <= 4``, vectorisable."""
    k = 0.0
    if p >= 2.0 * _SQRT2:
        p = p * 0.25
        k = 2.0
    elif p >= _SQRT2:
        p = p * 0.5
        k = 1.0
    s = (p - 1.0) / (p + 1.0)
    q = _horner(s * s, _LOG_COEFFICIENTS)
    return k * _LN2_HI + (2.0 * s * q + k * _LN2_LO)


@numba.njit(**_VECTOR)
def _softplus_pass(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Per observation, ``-(softplus(hi) + softplus(lo))``, returned; in place, ``hi`` and
    ``lo`` become their sigmoids (the log probability's derivatives in the upper and lower
    cutpoint).

    ``softplus(x) = max(x, 0) + log(1 + e)``, ``e = exp(-|x|)`` in (0, 1], so the two logs
    are one log of a number in [1, 4]; stable for every finite argument. ``max(x, 0)`` is
    ``(x + |x|) / 2`` (exact), so a NaN argument gives a NaN log probability.
    """
    out = np.empty(hi.shape[0])
    for n in range(hi.shape[0]):
        h = hi[n]
        low = lo[n]
        e_h = _exp_nonpositive(-abs(h))
        e_l = _exp_nonpositive(-abs(low))
        o_h = 1.0 + e_h
        o_l = 1.0 + e_l
        out[n] = -(0.5 * (h + abs(h)) + 0.5 * (low + abs(low)) + _log_1_to_4(o_h * o_l))
        hi[n] = (1.0 if h >= 0.0 else e_h) / o_h
        lo[n] = (1.0 if low >= 0.0 else e_l) / o_l
    return out


@numba.njit
def _gap_terms(padded, counts, dpadded):
    """Sum of ``count * log(1 - exp(l - u))`` over (row, category); its gradient into
    ``dpadded``."""
    total = 0.0
    n_rows, n_cuts = padded.shape
    for g in range(n_rows):
        for k in range(n_cuts - 1):
            c = counts[g, k]
            if c == 0:
                continue
            width = padded[g, k + 1] - padded[g, k]
            total += c * math.log(-math.expm1(-width))
            d = c / math.expm1(width)  # d/du log(1 - exp(l - u)) = 1 / expm1(u - l)
            dpadded[g, k + 1] += d
            dpadded[g, k] -= d
    return total


@numba.njit
def _cutpoint_sides(padded, g: int, k: int, eta: float, hi, lo, n: int) -> None:
    """The two softplus arguments of observation ``n`` (category ``k``, cutpoint row ``g``):
    ``hi[n] = eta - u``, ``lo[n] = l - eta``."""
    hi[n] = eta - padded[g, k + 1]
    lo[n] = padded[g, k] - eta


@numba.njit
def _cutpoint_gradient(dpadded, counts, g: int, k: int, s_hi: float, s_lo: float) -> float:
    """Adds observation's sigmoids to the cutpoints' gradient and counts its (row, category)
    for :func:`_gap_terms`; returns the log probability's derivative in the predictor."""
    dpadded[g, k + 1] += s_hi
    dpadded[g, k] -= s_lo
    counts[g, k] += 1
    return s_lo - s_hi


@numba.njit
def _rating_sides(beta, theta, alpha, b, padded, item, participant, y, group, hi, lo) -> None:
    """Each rating's predictor ``b[j] + alpha[i] + beta[j] . theta[i]`` turned into its two
    softplus arguments (:func:`_cutpoint_sides`), written into ``hi`` and ``lo``."""
    n_values = beta.shape[1]
    for n in range(y.shape[0]):
        j = item[n]
        i = participant[n]
        eta = b[j] + alpha[i]
        for v in range(n_values):
            eta += beta[j, v] * theta[i, v]
        _cutpoint_sides(padded, group[n], y[n], eta, hi, lo, n)


@numba.njit
def ratings_kernel(beta, theta, alpha, b, padded, item, participant, y, group,
                   theta_grad=True):
    """Summed log likelihood of the item ratings and its gradients.

    Three passes over the ratings: the predictors (gathers), the softplus terms
    (:func:`_softplus_pass`, vectorised), the gradients (scatters).

    Parameters
    ----------
    beta, theta
        Loadings (J, V) and participants' values (P, V).
    alpha, b
        Response styles (P,) and item locations (J,).
    padded
        Padded cutpoints (G, K+1): one row shared by every rating or one row per item.
    item, participant, y, group
        Per rating (N,): item, participant, category 0..K-1 and cutpoint row.
    theta_grad
        Compute ``dtheta``; when false it is zeros (the values are data: exact or
        calibrated value input, where it was a fifth of the kernel's time on the real wave).

    Returns
    -------
    tuple
        ``logp, dbeta, dtheta, dalpha, db, dpadded``.
    """
    n_values = beta.shape[1]
    n_obs = y.shape[0]
    hi = np.empty(n_obs)
    lo = np.empty(n_obs)
    _rating_sides(beta, theta, alpha, b, padded, item, participant, y, group, hi, lo)
    logp = _softplus_pass(hi, lo)
    dbeta = np.zeros_like(beta)
    dtheta = np.zeros_like(theta)
    dalpha = np.zeros_like(alpha)
    db = np.zeros_like(b)
    dpadded = np.zeros_like(padded)
    counts = np.zeros((padded.shape[0], padded.shape[1] - 1), dtype=np.int64)
    total = 0.0
    for n in range(n_obs):
        j = item[n]
        i = participant[n]
        total += logp[n]
        de = _cutpoint_gradient(dpadded, counts, group[n], y[n], hi[n], lo[n])
        db[j] += de
        dalpha[i] += de
        for v in range(n_values):
            dbeta[j, v] += de * theta[i, v]
        if theta_grad:
            for v in range(n_values):
                dtheta[i, v] += de * beta[j, v]
    total += _gap_terms(padded, counts, dpadded)
    return total, dbeta, dtheta, dalpha, db, dpadded


@numba.njit
def questions_kernel(lam, theta, alpha, padded, question_value, participant, question, y):
    """Summed log likelihood of the questionnaire answers and its gradients (three passes,
    as :func:`ratings_kernel`).

    Parameters
    ----------
    lam
        Discriminations (Q,).
    theta, alpha
        Participants' values (P, V) and response styles (P,).
    padded
        Padded cutpoints per question (Q, K+1).
    question_value
        The value each question measures (Q,).
    participant, question, y
        Per answer (N,).

    Returns
    -------
    tuple
        ``logp, dlam, dtheta, dalpha, dpadded``.
    """
    n_obs = y.shape[0]
    hi = np.empty(n_obs)
    lo = np.empty(n_obs)
    for n in range(n_obs):
        q = question[n]
        eta = lam[q] * theta[participant[n], question_value[q]] + alpha[participant[n]]
        _cutpoint_sides(padded, q, y[n], eta, hi, lo, n)
    logp = _softplus_pass(hi, lo)
    dlam = np.zeros_like(lam)
    dtheta = np.zeros_like(theta)
    dalpha = np.zeros_like(alpha)
    dpadded = np.zeros_like(padded)
    counts = np.zeros((padded.shape[0], padded.shape[1] - 1), dtype=np.int64)
    total = 0.0
    for n in range(n_obs):
        i = participant[n]
        q = question[n]
        v = question_value[q]
        total += logp[n]
        de = _cutpoint_gradient(dpadded, counts, q, y[n], hi[n], lo[n])
        dlam[q] += de * theta[i, v]
        dtheta[i, v] += de * lam[q]
        dalpha[i] += de
    total += _gap_terms(padded, counts, dpadded)
    return total, dlam, dtheta, dalpha, dpadded


@numba.njit(nogil=True, cache=True)
def ratings_logp_draws(beta, theta, alpha, b, padded, item, participant, y, group):
    """Log probability of every rating at every posterior draw (no gradient): the pointwise
    log likelihood of PSIS-LOO and prior sensitivity. Per draw it is
    :func:`ratings_kernel`'s density, with the gap term clamped as numpy's
    :func:`~vp_bayes.model.likelihood.observed_logp_np` clamps it (they differ only where two
    cutpoints coincide).

    Parameters
    ----------
    beta
        Loadings (S, J, V) at S draws.
    theta, alpha, b
        Values (T, P, V), response styles (T, P) and item locations (T, J) with T = S, or
        T = 1 for one row shared by every draw (values that are data; zeros for a model
        without the term).
    padded
        Padded cutpoints (S, G, K+1) (or one row, as above).
    item, participant, y, group
        Per rating (N,), as :func:`ratings_kernel`.

    Returns
    -------
    numpy.ndarray
        (S, N).
    """
    n_draws = beta.shape[0]
    for rows in (theta.shape[0], alpha.shape[0], b.shape[0], padded.shape[0]):
        if rows != 1 and rows != n_draws:
            raise ValueError("a per-draw argument has neither one row nor one per draw")
    n_obs = y.shape[0]
    n_rows, n_cuts = padded.shape[1], padded.shape[2]
    out = np.empty((n_draws, n_obs))
    hi = np.empty(n_obs)
    lo = np.empty(n_obs)
    gap = np.empty((n_rows, n_cuts - 1))
    for s in range(n_draws):
        bs, pad = beta[s], padded[s]
        th = theta[min(s, theta.shape[0] - 1)]
        al = alpha[min(s, alpha.shape[0] - 1)]
        loc = b[min(s, b.shape[0] - 1)]
        _rating_sides(bs, th, al, loc, pad, item, participant, y, group, hi, lo)
        logp = _softplus_pass(hi, lo)
        for g in range(n_rows):
            for k in range(n_cuts - 1):
                gap[g, k] = math.log(-math.expm1(min(pad[g, k] - pad[g, k + 1], -1e-300)))
        for n in range(n_obs):
            out[s, n] = logp[n] + gap[group[n], y[n]]
    return out


@numba.njit
def padded_from_raw(first, log_gaps):
    """Padded cutpoints (G, K+1) from each row's first cutpoint (G,) and its log gaps
    (G, K-2): ``-BIG, first, first + exp(g_1), ..., BIG``, summed in the order of
    :func:`~vp_bayes.model.likelihood.ordered_cutpoints`."""
    n_rows, n_gaps = log_gaps.shape
    padded = np.empty((n_rows, n_gaps + 3))
    for g in range(n_rows):
        padded[g, 0] = -BIG
        cut = first[g]
        padded[g, 1] = cut
        for k in range(n_gaps):
            cut = cut + math.exp(log_gaps[g, k])
            padded[g, k + 2] = cut
        padded[g, n_gaps + 2] = BIG
    return padded


@numba.njit
def raw_cutpoint_gradient(dpadded, log_gaps):
    """The gradient in the padded cutpoints (G, K+1) carried to each row's first cutpoint
    and log gaps (:func:`padded_from_raw`): ``d first = sum_k d c_k``, ``d g_m = exp(g_m)
    sum_{k > m} d c_k``; the padding's entries are constants."""
    n_rows, n_gaps = log_gaps.shape
    dfirst = np.empty(n_rows)
    dgaps = np.empty((n_rows, n_gaps))
    for g in range(n_rows):
        tail = 0.0
        for k in range(n_gaps, 0, -1):
            tail += dpadded[g, k + 1]
            dgaps[g, k - 1] = tail * math.exp(log_gaps[g, k - 1])
        dfirst[g] = tail + dpadded[g, 1]
    return dfirst, dgaps


_KERNELS = {"ratings": ratings_kernel, "questions": questions_kernel}
_N_PARAMS = {"ratings": 5, "questions": 4}  # float inputs before the integer data


class OrdinalTerm(Op):
    """Summed ordinal log likelihood (output 0) and its gradients (outputs 1..).

    ``kind`` is ``"ratings"`` (inputs beta, theta, alpha, b, padded, item, participant, y,
    group) or ``"questions"`` (inputs lam, theta, alpha, padded, question_value,
    participant, question, y). ``theta_grad`` false (ratings only): the values are data, their
    gradient is neither computed nor connected. ``raw_cutpoints``: in place of ``padded``, two
    inputs, each row's first cutpoint (G,) and log gaps (G, K-2), from which the op builds the
    cutpoints (:func:`padded_from_raw`) and to which it carries their gradient, so that the
    graph has no cumulative sums, exponentials or padding of its own for them.
    """

    __props__ = ("kind", "theta_grad", "raw_cutpoints")

    def __init__(self, kind: str, theta_grad: bool = True, raw_cutpoints: bool = False):
        if kind not in _KERNELS:
            raise ValueError(f"unknown ordinal term {kind!r}")
        if kind != "ratings" and not theta_grad:
            raise ValueError("only the ratings term takes its values as data")
        self.kind = kind
        self.theta_grad = bool(theta_grad)
        self.raw_cutpoints = bool(raw_cutpoints)
        super().__init__()

    def _flags(self) -> tuple:
        return (self.theta_grad,) if self.kind == "ratings" else ()

    def _n_params(self) -> int:
        return _N_PARAMS[self.kind] + self.raw_cutpoints

    def make_node(self, *inputs) -> Apply:
        n = self._n_params()
        floats = [pt.as_tensor_variable(x).astype("float64") for x in inputs[:n]]
        ints = [pt.as_tensor_variable(x).astype("int64") for x in inputs[n:]]
        if self.raw_cutpoints and (floats[-2].ndim, floats[-1].ndim) != (1, 2):
            raise ValueError("raw cutpoints are each row's first cutpoint (G,) and log gaps "
                             "(G, K-2)")
        outputs = [pt.dscalar()] + [x.type() for x in floats]
        return Apply(self, floats + ints, outputs)

    def perform(self, node, inputs, output_storage) -> None:
        arrays = [np.asarray(x) for x in inputs]
        n = _N_PARAMS[self.kind]
        if self.raw_cutpoints:
            first, log_gaps = arrays[n - 1], arrays[n]
            arrays = [*arrays[:n - 1], padded_from_raw.py_func(first, log_gaps),
                      *arrays[n + 1:]]
        results = list(_KERNELS[self.kind](*arrays, *self._flags()))
        if self.raw_cutpoints:
            results[-1:] = raw_cutpoint_gradient.py_func(results[-1], log_gaps)
        output_storage[0][0] = np.asarray(results[0], dtype=np.float64)
        for store, value in zip(output_storage[1:], results[1:], strict=True):
            store[0] = value

    def connection_pattern(self, node) -> list[list[bool]]:
        n = self._n_params()
        n_out = len(node.outputs)
        return [[True] * n_out if k < n and (k != 1 or self.theta_grad) else [False] * n_out
                for k in range(len(node.inputs))]

    def pullback(self, inputs, outputs, output_grads):
        n = self._n_params()
        g = output_grads[0]
        if isinstance(g.type, DisconnectedType):
            return [DisconnectedType()() for _ in inputs]
        if any(not isinstance(o.type, DisconnectedType) for o in output_grads[1:]):
            raise NotImplementedError("second derivatives of a fused ordinal term")
        grads = [g * d for d in outputs[1:]]
        if not self.theta_grad:
            grads[1] = DisconnectedType()()
        return grads + [DisconnectedType()() for _ in inputs[n:]]


# Salt of PyTensor's on-disk cache key of the compiled terms (type and props otherwise): bump
# it whenever a kernel changes (the ordinal ones, :func:`padded_from_raw` and
# :func:`raw_cutpoint_gradient`, :func:`matrix_t_kernel`) or a constant compiled into them
# (``likelihood.BIG``), or a process may load the previous version's machine code.
_CACHE_VERSION = 9


@register_funcify_default_op_cache_key(OrdinalTerm)
def _numba_ordinal_term(op: OrdinalTerm, node=None, **kwargs):
    padded_term = _numba_padded_ordinal_term(op)
    if not op.raw_cutpoints:
        return padded_term, _CACHE_VERSION
    if op.kind == "ratings":

        @numba.njit
        def ratings(beta, theta, alpha, b, first, log_gaps, item, participant, y, group):
            out, d1, d2, d3, d4, d5 = padded_term(beta, theta, alpha, b,
                                                  padded_from_raw(first, log_gaps), item,
                                                  participant, y, group)
            d_first, d_gaps = raw_cutpoint_gradient(d5, log_gaps)
            return out, d1, d2, d3, d4, d_first, d_gaps

        return ratings, _CACHE_VERSION

    @numba.njit
    def questions(lam, theta, alpha, first, log_gaps, question_value, participant, question,
                  y):
        out, d1, d2, d3, d4 = padded_term(lam, theta, alpha, padded_from_raw(first, log_gaps),
                                          question_value, participant, question, y)
        d_first, d_gaps = raw_cutpoint_gradient(d4, log_gaps)
        return out, d1, d2, d3, d_first, d_gaps

    return questions, _CACHE_VERSION


def _numba_padded_ordinal_term(op: OrdinalTerm):
    """The Numba form of an :class:`OrdinalTerm` reading padded cutpoints (the raw form
    builds them and calls it)."""
    # PyTensor's Numba backend holds a scalar tensor as a 0-d array
    if op.kind == "ratings":
        theta_grad = op.theta_grad

        @numba.njit
        def ratings(beta, theta, alpha, b, padded, item, participant, y, group):
            total, d1, d2, d3, d4, d5 = ratings_kernel(beta, theta, alpha, b, padded, item,
                                                       participant, y, group, theta_grad)
            out = np.empty((), dtype=np.float64)
            out[()] = total
            return out, d1, d2, d3, d4, d5

        return ratings

    @numba.njit
    def questions(lam, theta, alpha, padded, question_value, participant, question, y):
        total, d1, d2, d3, d4 = questions_kernel(lam, theta, alpha, padded, question_value,
                                                 participant, question, y)
        out = np.empty((), dtype=np.float64)
        out[()] = total
        return out, d1, d2, d3, d4

    return questions


class RawCutpoints(NamedTuple):
    """Cutpoints given as each row's first cutpoint (G,) and log gaps (G, K-2) (a scalar and
    (K-2,) for one shared row): the cutpoints are ``first, first + exp(g_1), ...``
    (:func:`~vp_bayes.model.likelihood.ordered_cutpoints`), built inside the fused term."""

    first: pt.TensorVariable
    log_gaps: pt.TensorVariable


def _cutpoint_inputs(cuts) -> tuple[list, bool, bool]:
    """The ordinal term's cutpoint inputs (rows first), whether they are raw, and whether
    they are one row shared by every observation (given without the rows' axis)."""
    if isinstance(cuts, RawCutpoints):
        first, log_gaps = pt.as_tensor(cuts.first), pt.as_tensor(cuts.log_gaps)
        if first.ndim == 0:
            return [first[None], log_gaps[None, :]], True, True
        return [first, log_gaps], True, False
    padded = pt.as_tensor(cuts)
    if padded.ndim == 1:
        return [padded[None, :]], False, True
    return [padded], False, False


def ratings_term(beta, theta, alpha, b, padded, item, participant, y,
                 group=None) -> pt.TensorVariable:
    """Summed log likelihood of the ratings (a scalar); see :func:`ratings_kernel`.

    ``padded`` is (K+1,) for shared cutpoints or (J, K+1) per item (then ``group`` is the
    item of each rating), or the same as :class:`RawCutpoints`; ``alpha`` and ``b`` may be
    ``None`` (no response style, per-item thresholds). A ``theta`` that is model data (a
    shared variable) or a constant gets no gradient.
    """
    n_part = theta.shape[0]
    alpha = pt.zeros((n_part,)) if alpha is None else alpha
    b = pt.zeros((beta.shape[0],)) if b is None else b
    cuts, raw, shared = _cutpoint_inputs(padded)
    if group is None:
        if not shared:
            raise ValueError("cutpoints per row need the row of each rating (group)")
        group = pt.zeros_like(pt.as_tensor(y))
    theta_grad = not isinstance(theta, SharedVariable | TensorConstant)
    return OrdinalTerm("ratings", theta_grad, raw)(beta, theta, alpha, b, *cuts, item,
                                                   participant, y, group)[0]


def questions_term(lam, theta, alpha, padded, question_value, participant, question,
                   y) -> pt.TensorVariable:
    """Summed log likelihood of the questionnaire answers (a scalar); see
    :func:`questions_kernel`. ``padded`` is (Q, K+1), or the same as :class:`RawCutpoints`;
    ``alpha`` may be ``None`` (no response style)."""
    alpha = pt.zeros((theta.shape[0],)) if alpha is None else alpha
    cuts, raw, shared = _cutpoint_inputs(padded)
    if shared:
        raise ValueError("the questionnaire's cutpoints are one row per question")
    return OrdinalTerm("questions", raw_cutpoints=raw)(lam, theta, alpha, *cuts,
                                                       question_value, participant,
                                                       question, y)[0]


# --- the values' matrix-t prior (the inverse-Wishart covariance integrated out) ------------

@numba.njit(cache=False)
def matrix_t_kernel(resid: np.ndarray, psi: np.ndarray, coef: float):
    """``-coef / 2 log det(S)`` with ``S = psi + resid' resid``, and its gradient with respect
    to ``resid``, ``-coef resid S^-1``: the matrix-t log density of
    :func:`vp_bayes.model.build.matrix_t_logp` (``coef = nu + P``) in one pass.

    ``S`` is factored by a Cholesky decomposition written out (V is the number of values, about
    ten); a non-positive pivot gives ``-inf`` and a zero gradient.

    Parameters
    ----------
    resid
        (P, V) residuals ``E`` of the values from their group means.
    psi
        (V, V) symmetric positive definite scale matrix (its lower triangle is read).
    coef
        ``nu + P``.

    Returns
    -------
    total, grad
        The log density (up to a constant) and its (P, V) gradient with respect to ``resid``.
    """
    n_rows, n_v = resid.shape
    s = psi.copy()
    for p in range(n_rows):
        for a in range(n_v):
            e = resid[p, a]
            for c in range(a + 1):
                s[a, c] += e * resid[p, c]
    chol = np.zeros((n_v, n_v))
    half_logdet = 0.0
    grad = np.zeros((n_rows, n_v))
    for a in range(n_v):
        for c in range(a + 1):
            acc = s[a, c]
            for k in range(c):
                acc -= chol[a, k] * chol[c, k]
            if a == c:
                if not acc > 0.0:  # also NaN
                    return -np.inf, grad
                chol[a, a] = math.sqrt(acc)
                half_logdet += math.log(chol[a, a])
            else:
                chol[a, c] = acc / chol[c, c]
    # S^-1 = L^-T L^-1: invert L (lower), then multiply
    inv_l = np.zeros((n_v, n_v))
    for a in range(n_v):
        inv_l[a, a] = 1.0 / chol[a, a]
        for c in range(a):
            acc = 0.0
            for k in range(c, a):
                acc -= chol[a, k] * inv_l[k, c]
            inv_l[a, c] = acc / chol[a, a]
    s_inv = np.zeros((n_v, n_v))
    for a in range(n_v):
        for c in range(a + 1):
            acc = 0.0
            for k in range(a, n_v):
                acc += inv_l[k, a] * inv_l[k, c]
            s_inv[a, c] = acc
            s_inv[c, a] = acc
    for p in range(n_rows):
        for a in range(n_v):
            acc = 0.0
            for c in range(n_v):
                acc += resid[p, c] * s_inv[c, a]
            grad[p, a] = -coef * acc
    return -coef * half_logdet, grad


class MatrixTTerm(Op):
    """The matrix-t log density (output 0) and its gradient with respect to the residuals
    (output 1); inputs ``resid`` (P, V), ``psi`` (V, V) and ``coef`` (a scalar). ``psi`` and
    ``coef`` are constants of the model: no gradient flows to them."""

    __props__ = ()

    def make_node(self, resid, psi, coef) -> Apply:
        resid = pt.as_tensor_variable(resid).astype("float64")
        psi = pt.as_tensor_variable(psi).astype("float64")
        coef = pt.as_tensor_variable(coef).astype("float64")
        if (resid.ndim, psi.ndim, coef.ndim) != (2, 2, 0):
            raise ValueError(f"the matrix-t term takes a matrix, a matrix and a scalar, not "
                             f"arrays of {resid.ndim}, {psi.ndim} and {coef.ndim} dimensions")
        return Apply(self, [resid, psi, coef], [pt.dscalar(), resid.type()])

    def perform(self, node, inputs, output_storage) -> None:
        resid, psi, coef = (np.asarray(x) for x in inputs)
        total, grad = matrix_t_kernel(resid, psi, float(coef))
        output_storage[0][0] = np.asarray(total, dtype=np.float64)
        output_storage[1][0] = grad

    def connection_pattern(self, node) -> list[list[bool]]:
        return [[True, True], [False, False], [False, False]]

    def pullback(self, inputs, outputs, output_grads):
        g = output_grads[0]
        if isinstance(g.type, DisconnectedType):
            return [DisconnectedType()() for _ in inputs]
        if not isinstance(output_grads[1].type, DisconnectedType):
            raise NotImplementedError("second derivatives of the fused matrix-t term")
        return [g * outputs[1], DisconnectedType()(), DisconnectedType()()]


@register_funcify_default_op_cache_key(MatrixTTerm)
def _numba_matrix_t_term(op: MatrixTTerm, node=None, **kwargs):
    @numba.njit
    def matrix_t(resid, psi, coef):
        total, grad = matrix_t_kernel(resid, psi, coef[()])
        out = np.empty((), dtype=np.float64)
        out[()] = total
        return out, grad

    return matrix_t, _CACHE_VERSION


def matrix_t_term(resid, psi, coef) -> pt.TensorVariable:
    """The values' matrix-t log density ``-coef / 2 log det(psi + resid' resid)`` (a scalar) as
    one op; see :func:`matrix_t_kernel`."""
    return MatrixTTerm()(resid, psi, coef)[0]
