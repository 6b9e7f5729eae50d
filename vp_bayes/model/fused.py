"""The item model's two ordinal likelihood terms as fused ops: value and gradient in one loop.

Built as a graph (:func:`vp_bayes.model.build.build_model`), each ordinal term is a chain of
gathers (``beta[item]``, ``theta[participant]``, cutpoints per observation), elementwise
softplus terms and a sum; its gradient is the reverse chain, with scatter-adds into ``beta``,
``theta`` and the cutpoints. Most of that cost is moving (N, V) intermediate arrays, not
arithmetic. Here one compiled loop over the observations computes the summed log likelihood
and, in the same pass, its gradient with respect to every parameter it reads:

* :func:`ratings_term`: ``y_n ~ CumLogit(beta[j] . theta[i] + alpha[i] + b[j], c[g])`` with
  the cutpoints shared (one row) or per item (``g = j``);
* :func:`questions_term`: ``x_n ~ CumLogit(lam[q] theta[i, v(q)] + alpha[i], c[q])``.

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
incoming gradient, so computing ``logp`` and ``dlogp`` together runs the loop once.
The chains of nutpie run in threads, one per core, so the loop itself is serial.

The kernels are compiled without Numba's on-disk cache (PyTensor's cache holds the compiled
op, kernels included). A kernel loaded from Numba's cache is linked into the op as machine
code, one compiled in the process as LLVM IR optimised with its caller; one route gives the op
one compiled form whatever the caches hold (session 23 once saw the two routes give the demo
wave's gradient different bits; ``docs/benchmarks.md``).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key


@numba.njit(inline="always")
def _softplus_sigmoid(x: float) -> tuple[float, float]:
    """``softplus(x)`` and its derivative ``sigmoid(x)`` from one exponential."""
    e = math.exp(-abs(x))
    inv = 1.0 / (1.0 + e)
    if x >= 0.0:
        return x + math.log1p(e), inv
    return math.log1p(e), e * inv


_SAFE = 30.0  # |x| below which exp(x) and products of two such never overflow or underflow


@numba.njit(inline="always")
def _two_softplus(x_hi: float, x_lo: float) -> tuple[float, float, float]:
    """``softplus(x_hi) + softplus(x_lo)`` and the two sigmoids, with one logarithm.

    ``log(1 + e^a) + log(1 + e^c) = log((1 + e^a)(1 + e^c))`` when both exponentials are
    moderate; otherwise each softplus on its own (stable for any argument).
    """
    if abs(x_hi) < _SAFE and abs(x_lo) < _SAFE:
        e_hi = math.exp(x_hi)
        e_lo = math.exp(x_lo)
        one_hi = 1.0 + e_hi
        one_lo = 1.0 + e_lo
        return math.log(one_hi * one_lo), e_hi / one_hi, e_lo / one_lo
    sp_hi, s_hi = _softplus_sigmoid(x_hi)
    sp_lo, s_lo = _softplus_sigmoid(x_lo)
    return sp_hi + sp_lo, s_hi, s_lo


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


@numba.njit(inline="always")
def _observation(padded, dpadded, counts, g: int, k: int, eta: float) -> tuple[float, float]:
    """One observation of category ``k`` on cutpoint row ``g``: its log probability without
    the gap term (counted in ``counts``, added by :func:`_gap_terms`) and its derivative in
    ``eta``; the cutpoints' gradient is added to ``dpadded``."""
    sp, s_hi, s_lo = _two_softplus(eta - padded[g, k + 1], padded[g, k] - eta)
    dpadded[g, k + 1] += s_hi
    dpadded[g, k] -= s_lo
    counts[g, k] += 1
    return -sp, s_lo - s_hi


@numba.njit
def ratings_kernel(beta, theta, alpha, b, padded, item, participant, y, group):
    """Summed log likelihood of the item ratings and its gradients.

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

    Returns
    -------
    tuple
        ``logp, dbeta, dtheta, dalpha, db, dpadded``.
    """
    n_values = beta.shape[1]
    dbeta = np.zeros_like(beta)
    dtheta = np.zeros_like(theta)
    dalpha = np.zeros_like(alpha)
    db = np.zeros_like(b)
    dpadded = np.zeros_like(padded)
    counts = np.zeros((padded.shape[0], padded.shape[1] - 1), dtype=np.int64)
    total = 0.0
    for n in range(y.shape[0]):
        j = item[n]
        i = participant[n]
        g = group[n]
        k = y[n]
        eta = b[j] + alpha[i]
        for v in range(n_values):
            eta += beta[j, v] * theta[i, v]
        logp, de = _observation(padded, dpadded, counts, g, k, eta)
        total += logp
        db[j] += de
        dalpha[i] += de
        for v in range(n_values):
            dbeta[j, v] += de * theta[i, v]
            dtheta[i, v] += de * beta[j, v]
    total += _gap_terms(padded, counts, dpadded)
    return total, dbeta, dtheta, dalpha, db, dpadded


@numba.njit
def questions_kernel(lam, theta, alpha, padded, question_value, participant, question, y):
    """Summed log likelihood of the questionnaire answers and its gradients.

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
    dlam = np.zeros_like(lam)
    dtheta = np.zeros_like(theta)
    dalpha = np.zeros_like(alpha)
    dpadded = np.zeros_like(padded)
    counts = np.zeros((padded.shape[0], padded.shape[1] - 1), dtype=np.int64)
    total = 0.0
    for n in range(y.shape[0]):
        i = participant[n]
        q = question[n]
        v = question_value[q]
        k = y[n]
        eta = lam[q] * theta[i, v] + alpha[i]
        logp, de = _observation(padded, dpadded, counts, q, k, eta)
        total += logp
        dlam[q] += de * theta[i, v]
        dtheta[i, v] += de * lam[q]
        dalpha[i] += de
    total += _gap_terms(padded, counts, dpadded)
    return total, dlam, dtheta, dalpha, dpadded


_KERNELS = {"ratings": ratings_kernel, "questions": questions_kernel}
_N_PARAMS = {"ratings": 5, "questions": 4}  # float inputs before the integer data


class OrdinalTerm(Op):
    """Summed ordinal log likelihood (output 0) and its gradients (outputs 1..).

    ``kind`` is ``"ratings"`` (inputs beta, theta, alpha, b, padded, item, participant, y,
    group) or ``"questions"`` (inputs lam, theta, alpha, padded, question_value,
    participant, question, y).
    """

    __props__ = ("kind",)

    def __init__(self, kind: str):
        if kind not in _KERNELS:
            raise ValueError(f"unknown ordinal term {kind!r}")
        self.kind = kind
        super().__init__()

    def make_node(self, *inputs) -> Apply:
        n = _N_PARAMS[self.kind]
        floats = [pt.as_tensor_variable(x).astype("float64") for x in inputs[:n]]
        ints = [pt.as_tensor_variable(x).astype("int64") for x in inputs[n:]]
        outputs = [pt.dscalar()] + [x.type() for x in floats]
        return Apply(self, floats + ints, outputs)

    def perform(self, node, inputs, output_storage) -> None:
        results = _KERNELS[self.kind](*(np.asarray(x) for x in inputs))
        output_storage[0][0] = np.asarray(results[0], dtype=np.float64)
        for store, value in zip(output_storage[1:], results[1:], strict=True):
            store[0] = value

    def connection_pattern(self, node) -> list[list[bool]]:
        n = _N_PARAMS[self.kind]
        n_out = len(node.outputs)
        return [[True] * n_out if k < n else [False] * n_out for k in range(len(node.inputs))]

    def pullback(self, inputs, outputs, output_grads):
        n = _N_PARAMS[self.kind]
        g = output_grads[0]
        if isinstance(g.type, DisconnectedType):
            return [DisconnectedType()() for _ in inputs]
        if any(not isinstance(o.type, DisconnectedType) for o in output_grads[1:]):
            raise NotImplementedError("second derivatives of a fused ordinal term")
        grads = [g * d for d in outputs[1:]]
        return grads + [DisconnectedType()() for _ in inputs[n:]]


# Salt of PyTensor's on-disk cache key of the compiled term (type and props otherwise): bump
# it whenever the kernels change, or a process may load the previous version's machine code.
_CACHE_VERSION = 5


@register_funcify_default_op_cache_key(OrdinalTerm)
def _numba_ordinal_term(op: OrdinalTerm, node=None, **kwargs):
    # PyTensor's Numba backend holds a scalar tensor as a 0-d array
    if op.kind == "ratings":
        @numba.njit
        def ratings(beta, theta, alpha, b, padded, item, participant, y, group):
            total, d1, d2, d3, d4, d5 = ratings_kernel(beta, theta, alpha, b, padded, item,
                                                       participant, y, group)
            out = np.empty((), dtype=np.float64)
            out[()] = total
            return out, d1, d2, d3, d4, d5

        return ratings, _CACHE_VERSION

    @numba.njit
    def questions(lam, theta, alpha, padded, question_value, participant, question, y):
        total, d1, d2, d3, d4 = questions_kernel(lam, theta, alpha, padded, question_value,
                                                 participant, question, y)
        out = np.empty((), dtype=np.float64)
        out[()] = total
        return out, d1, d2, d3, d4

    return questions, _CACHE_VERSION


def ratings_term(beta, theta, alpha, b, padded, item, participant, y,
                 group=None) -> pt.TensorVariable:
    """Summed log likelihood of the ratings (a scalar); see :func:`ratings_kernel`.

    ``padded`` is (K+1,) for shared cutpoints or (J, K+1) per item (then ``group`` is the
    item of each rating); ``alpha`` and ``b`` may be ``None`` (no response style, per-item
    thresholds).
    """
    n_part = theta.shape[0]
    alpha = pt.zeros((n_part,)) if alpha is None else alpha
    b = pt.zeros((beta.shape[0],)) if b is None else b
    if padded.ndim == 1:
        padded = padded[None, :]
        if group is None:
            group = pt.zeros_like(pt.as_tensor(y))
    return OrdinalTerm("ratings")(beta, theta, alpha, b, padded, item, participant, y,
                                  group)[0]


def questions_term(lam, theta, alpha, padded, question_value, participant, question,
                   y) -> pt.TensorVariable:
    """Summed log likelihood of the questionnaire answers (a scalar); see
    :func:`questions_kernel`. ``alpha`` may be ``None`` (no response style)."""
    alpha = pt.zeros((theta.shape[0],)) if alpha is None else alpha
    return OrdinalTerm("questions")(lam, theta, alpha, padded, question_value, participant,
                                    question, y)[0]
