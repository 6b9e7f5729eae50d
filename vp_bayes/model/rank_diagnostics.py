"""Rank-normalised split R-hat and bulk/tail ESS of many elements, one sort per element.

The estimators are arviz-stats' (Vehtari et al. 2021: rank-normalised and folded split
chains; Geyer's initial positive and monotone sequences). arviz-stats computes them one
element and one diagnostic at a time: three sorts and two partitions of each element's draws
(bulk ranks for R-hat, again for bulk ESS, folded ranks, and two tail quantiles). Sorting
dominates: on the README main job's 4 x 3,500 draws of 4,693 elements that took about 40 s.
Here each element's split draws are sorted once. The bulk ranks, folded ranks (two sorted runs
merged: the draws below and above the median), and tail quantiles come from that order, and the
autocorrelations of all elements come from one FFT. ``benchmarks/convergence_table.py`` times
both. R-hat and the ranks agree bitwise with arviz-stats, ESS to rounding
(``tests/test_rank_diagnostics.py``).

:func:`rank_diagnostics` takes draws shaped ``(chain, draw, element)``. An element with any NaN
draw gets NaN, as in arviz-stats, and so does every element with fewer than 4 draws (and R-hat
with one chain).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from scipy import fft as _fft
from scipy.special import ndtri

# Elements per batch: bounds the working memory at about 20 arrays of chains x draws doubles
# per element (the demo's 14,000 draws: about 100 MB a batch).
_BATCH = 64
_BLOM = 3.0 / 8.0  # ranks' fractional offset (Blom 1958), as arviz-stats


class RankDiagnostics(NamedTuple):
    """One value per element: rank-normalised split R-hat, bulk ESS, tail ESS."""

    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray


@numba.njit(cache=True, inline="always")
def _assign_average_ranks(values, index, out):
    """``out[index[t]]`` = average rank of ``values[t]`` (``values`` ascending; ties share
    the mean of their ranks, as ``scipy.stats.rankdata(method="average")``)."""
    n = values.size
    i = 0
    while i < n:
        j = i + 1
        while j < n and values[j] == values[i]:
            j += 1
        rank = 0.5 * (i + 1 + j)
        for t in range(i, j):
            out[index[t]] = rank
        i = j


@numba.njit(cache=True, nogil=True)
def _ranks(ordered, order, median, bulk, folded):
    """Bulk and folded average ranks of each row, from its ascending order.

    ``ordered[r]`` is row r sorted, ``order[r]`` the positions that sort it, ``median[r]`` its
    median. The folded values ``|x - median|`` are two sorted runs of the sorted row (the
    draws below the median read backwards, those above it forwards), merged in one pass.
    """
    rows, n = ordered.shape
    f_values = np.empty(n)
    f_index = np.empty(n, dtype=np.int64)
    for r in range(rows):
        s, o, m = ordered[r], order[r], median[r]
        _assign_average_ranks(s, o, bulk[r])
        lo = 0
        while lo < n and s[lo] < m:
            lo += 1
        i, j = lo - 1, lo
        for t in range(n):
            take_low = j >= n or (i >= 0 and abs(s[i] - m) <= abs(s[j] - m))
            if take_low:
                f_values[t], f_index[t] = abs(s[i] - m), o[i]
                i -= 1
            else:
                f_values[t], f_index[t] = abs(s[j] - m), o[j]
                j += 1
        _assign_average_ranks(f_values, f_index, folded[r])


def _split(x: np.ndarray) -> np.ndarray:
    """``(chain, draw, k)`` -> ``(k, 2 chain, draw // 2)``, C-contiguous (arviz-stats' split
    drops the middle draw of an odd-length chain)."""
    half = x.shape[1] // 2
    both = np.concatenate((x[:, :half], x[:, x.shape[1] - half:]), axis=0)
    return np.ascontiguousarray(np.moveaxis(both, -1, 0))


def _normal_scores(ranks: np.ndarray) -> np.ndarray:
    size = ranks.shape[-1]
    return ndtri((ranks - _BLOM) / (size - 2 * _BLOM + 1))


def _rhat(z: np.ndarray) -> np.ndarray:
    """Split R-hat of each element of ``z`` (``(k, chain, draw)``)."""
    n = z.shape[-1]
    between = n * z.mean(axis=-1).var(axis=-1, ddof=1)
    within = z.var(axis=-1, ddof=1).mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """``rho_t`` of each element for every lag (``(k, draw)``), as arviz-stats' ``_ess``."""
    _, c, n = x.shape
    m = _fft.next_fast_len(2 * n)
    centred = x - x.mean(axis=-1, keepdims=True)
    spectrum = _fft.rfft(centred, n=m, axis=-1)
    spectrum *= np.conjugate(spectrum)
    acov = _fft.irfft(spectrum, n=m, axis=-1)[..., :n]
    acov /= n
    mean_acov = np.ascontiguousarray(np.moveaxis(acov, 1, -1)).mean(axis=-1)  # over chains
    mean_var = mean_acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if c > 1:
        var_plus = var_plus + x.mean(axis=-1).var(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - mean_acov) / var_plus[:, None]
    rho[:, 0] = 1.0
    return rho


def _ess(x: np.ndarray) -> np.ndarray:
    """Effective sample size of each element of ``x`` (``(k, chain, draw)``)."""
    k, c, n = x.shape
    flat = x.reshape(k, c * n)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    rho = _autocorrelation(x)
    n_pairs = n // 2
    pairs = rho[:, 0:2 * n_pairs:2] + rho[:, 1:2 * n_pairs:2]
    # Geyer's initial positive sequence: pair j >= 1 is read while 2j - 1 < n - 3 and every
    # earlier pair's sum is positive; the first pair whose sum is not positive is read last.
    bound = max(0, (n - 3) // 2)
    last = np.zeros(k, dtype=int)
    if bound >= 1:
        positive = pairs[:, 1:bound + 1] > 0.0
        first_bad = np.where(positive.all(axis=1), bound, np.argmin(positive, axis=1) + 1)
        last = np.where(pairs[:, 0] > 0.0, first_bad, 0)
    rows = np.arange(k)
    even = np.where(last >= 1, rho[rows, 2 * last], 1.0)
    last_sum = pairs[rows, last]
    end = np.where((even > 0) | ((last >= 1) & (last_sum >= 0)), even, 0.0)
    # Geyer's initial monotone sequence: each pair's sum capped at the previous (capped) one.
    capped = np.minimum.accumulate(pairs[:, :max(bound, 1)], axis=1)
    used = np.arange(capped.shape[1])[None, :] < last[:, None]
    tau = -1.0 + 2.0 * np.where(used, capped, 0.0).sum(axis=1) + end
    size = c * n
    tau = np.maximum(tau, 1.0 / np.log10(size))
    ess = size / tau
    ess[np.isnan(rho[:, 1])] = np.nan
    ess[constant] = size
    return ess


def _batch(x: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat, bulk ESS and tail ESS of a batch of finite elements (``(chain, draw, k)``)."""
    chains, draws, k = x.shape
    split = _split(x)
    rows = split.reshape(k, -1)
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    bulk, folded = np.empty(rows.shape), np.empty(rows.shape)  # ranks as doubles
    _ranks(ordered, order, np.median(ordered, axis=1), bulk, folded)
    z_bulk = _normal_scores(bulk).reshape(split.shape)
    rhat = np.full(k, np.nan)
    if chains > 1:
        rhat = np.maximum(_rhat(z_bulk), _rhat(_normal_scores(folded).reshape(split.shape)))
    # the tail quantiles are of every draw; when the split dropped none, those are `ordered`
    every = ordered if draws % 2 == 0 else np.moveaxis(x, -1, 0).reshape(k, -1)
    low, high = sorted((prob, 1 - prob))
    quantiles = np.quantile(every, [low, high], axis=1)
    tails = [_ess((split <= q[:, None, None]).astype(float)) for q in quantiles]
    return rhat, _ess(z_bulk), np.minimum(*tails)


def rank_diagnostics(values: np.ndarray, prob: float, workers: int = 1) -> RankDiagnostics:
    """Rank-normalised split R-hat (the larger of bulk and folded), bulk ESS and tail ESS.

    Parameters
    ----------
    values : numpy.ndarray
        Draws shaped ``(chain, draw, element)``.
    prob : float
        The tail ESS is the smaller of the ESS of the indicators of the ``1 - prob`` and
        ``prob`` quantiles (arviz-stats' default: its ``stats.ci_prob``).
    workers : int
        Threads computing batches of elements at once (the same results for any number).

    Returns
    -------
    RankDiagnostics
        Arrays of one value per element.
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(float)
    chains, draws, k = values.shape
    out = RankDiagnostics(*(np.full(k, np.nan) for _ in range(3)))
    if draws < 4 or chains < 1:
        return out
    good = np.flatnonzero(~np.isnan(values).any(axis=(0, 1)))
    batches = [good[start:start + _BATCH] for start in range(0, good.size, _BATCH)]

    def run(where: np.ndarray) -> None:
        for target, result in zip(out, _batch(values[..., where], prob), strict=True):
            target[where] = result

    if workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, batches))
    else:
        for where in batches:
            run(where)
    return out
