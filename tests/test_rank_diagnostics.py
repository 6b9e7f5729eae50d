"""The vectorised R-hat and ESS give arviz-stats' values, element by element, to rounding."""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pytest
import xarray as xr

from vp_bayes.model.diagnostics import convergence_table
from vp_bayes.model.rank_diagnostics import rank_diagnostics

PROB = 0.89  # arviz-stats' default ci_prob, the tail ESS's quantile


def _chains(seed: int, chains: int, draws: int, k: int, phi: float) -> np.ndarray:
    """AR(1) chains with chain offsets, a constant element, a tied element and one NaN draw."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(chains, draws, k))
    x = np.zeros_like(noise)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    x += 0.3 * rng.normal(size=(chains, 1, k))
    x[..., 0] = 1.0
    x[..., 1] = np.round(x[..., 1])
    x[0, min(2, draws - 1), 2] = np.nan
    return x


def _reference(x: np.ndarray) -> dict[str, np.ndarray]:
    da = xr.DataArray(x, dims=("chain", "draw", "element"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"rhat": (azs.rhat(da).values if x.shape[0] > 1
                         else np.full(x.shape[-1], np.nan)),
                "bulk": azs.ess(da, method="bulk").values,
                "tail": azs.ess(da, method="tail", prob=PROB).values}


def _ours(x: np.ndarray) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diag = rank_diagnostics(x, PROB)
    return {"rhat": diag.rhat, "bulk": diag.ess_bulk, "tail": diag.ess_tail}


@pytest.mark.parametrize(("chains", "draws", "k", "phi"), [
    (4, 1000, 40, 0.9),     # the usual case: slow chains
    (8, 333, 30, 0.99),     # odd draws (split drops the middle one), eight split chains
    (2, 2001, 12, 0.995),   # long autocorrelation: Geyer's sequence runs far
    (4, 60, 300, -0.6),     # antithetic chains, more elements than one batch
    (1, 100, 20, 0.5),      # one chain: ESS only
    (2, 7, 40, 0.2),        # a handful of draws
    (3, 4, 20, 0.0),        # the fewest draws arviz-stats diagnoses
])
def test_matches_arviz_stats(chains, draws, k, phi):
    x = _chains(chains * 1000 + draws, chains, draws, k, phi)
    ours, theirs = _ours(x), _reference(x)
    for name in ("rhat", "bulk", "tail"):
        np.testing.assert_array_equal(np.isnan(ours[name]), np.isnan(theirs[name]), err_msg=name)
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-12, err_msg=name)
    assert np.isnan(ours["bulk"][2]) and ours["bulk"][0] == chains * (draws // 2) * 2


def test_too_few_draws_give_nan():
    x = np.random.default_rng(0).normal(size=(2, 3, 5))
    for values in _ours(x).values():
        assert np.isnan(values).all()


def _tree(seed: int) -> xr.DataTree:
    x = _chains(seed, 4, 400, 12, 0.8)[..., 3:]
    post = xr.Dataset({"a": (("chain", "draw", "item", "value"), x.reshape(4, 400, 3, 3)),
                       "s": (("chain", "draw"), x[..., 0])})
    return xr.DataTree.from_dict({"posterior": post})


def test_convergence_table_is_the_worst_element():
    tree = _tree(5)
    table = convergence_table(tree)
    post = tree["posterior"].to_dataset()
    for name in ("a", "s"):
        ref = _reference(post[name].values.reshape(4, 400, -1))
        assert table.loc[name, "r_hat_max"] == pytest.approx(np.nanmax(ref["rhat"]), rel=1e-12)
        assert table.loc[name, "ess_bulk_min"] == pytest.approx(np.nanmin(ref["bulk"]), rel=1e-12)
        assert table.loc[name, "ess_tail_min"] == pytest.approx(np.nanmin(ref["tail"]), rel=1e-12)
    assert table.loc["a", "n_elements"] == 9 and table.loc["s", "n_elements"] == 1


def test_threads_give_the_same_values():
    x = _chains(9, 4, 200, 700, 0.7)  # six batches of elements
    one, three = rank_diagnostics(x, PROB, workers=1), rank_diagnostics(x, PROB, workers=3)
    for a, b in zip(one, three, strict=True):
        np.testing.assert_array_equal(a, b)


def test_single_precision_draws_agree_to_single_precision():
    """Saved fits hold float32 draws; arviz-stats then computes its normal scores in single
    precision (scipy keeps float32 ranks), this module in double: they agree to about 1e-7."""
    x = _chains(11, 4, 300, 20, 0.8)[..., 3:].astype(np.float32)
    ours, theirs = _ours(x), _reference(x)
    for name in ("rhat", "bulk", "tail"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, err_msg=name)
