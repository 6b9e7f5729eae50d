"""The log-space cumulative-logit likelihood against PyMC's OrderedLogistic and numpy."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest

from vp_bayes.model.likelihood import (
    category_logp_np,
    category_probs_np,
    ordered_cutpoints,
    ordinal_logp,
    pad_cutpoints,
)

CUTS = np.array([-2.2, -1.1, -0.2, 0.7, 1.8])


def _pt_logp(y, eta, cuts):
    return ordinal_logp(pt.as_tensor(y), pt.as_tensor(eta), pad_cutpoints(pt.as_tensor(cuts)))


def test_matches_pymc_ordered_logistic_in_the_bulk():
    rng = np.random.default_rng(0)
    eta = rng.normal(0, 2, size=300)
    y = rng.integers(0, 6, size=300)
    ours = _pt_logp(y, eta, CUTS).eval()
    ref = pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=CUTS, compute_p=False), y).eval()
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_finite_in_the_tails_where_ordered_logistic_is_not():
    eta = np.array([-40.0, 40.0, -200.0, 200.0])
    y = np.array([5, 0, 5, 0])  # the most improbable categories
    ours = _pt_logp(y, eta, CUTS).eval()
    assert np.all(np.isfinite(ours))
    # Exact tail asymptotics: log P(y=K-1 | eta) ~ eta - c_{K-2} when eta -> -inf.
    np.testing.assert_allclose(ours[0], -40.0 - CUTS[-1], atol=1e-6)
    np.testing.assert_allclose(ours[1], CUTS[0] - 40.0, atol=1e-6)


def test_per_observation_cutpoints_match_shared():
    rng = np.random.default_rng(1)
    eta = rng.normal(size=50)
    y = rng.integers(0, 6, size=50)
    shared = _pt_logp(y, eta, CUTS).eval()
    per_obs = ordinal_logp(pt.as_tensor(y), pt.as_tensor(eta),
                           pad_cutpoints(pt.as_tensor(np.tile(CUTS, (50, 1))))).eval()
    np.testing.assert_allclose(per_obs, shared)


def test_numpy_twins_agree_and_normalise():
    rng = np.random.default_rng(2)
    eta = rng.normal(0, 3, size=40)
    lp = category_logp_np(eta, CUTS)
    probs = category_probs_np(eta, CUTS)
    np.testing.assert_allclose(np.exp(lp).sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.exp(lp), probs, atol=1e-12)
    for k in range(6):
        np.testing.assert_allclose(lp[:, k], _pt_logp(np.full(40, k), eta, CUTS).eval(),
                                   rtol=1e-10)


def test_ordered_cutpoints_are_increasing():
    cuts = ordered_cutpoints(pt.as_tensor(-1.0), pt.as_tensor(np.array([-3.0, 0.0, 2.0]))).eval()
    assert np.all(np.diff(cuts) > 0)
    np.testing.assert_allclose(cuts, [-1.0, -1.0 + np.exp(-3), -1 + np.exp(-3) + 1,
                                      -1 + np.exp(-3) + 1 + np.exp(2)])


@pytest.mark.parametrize("eta", [-5.0, 0.0, 3.0])
def test_category_frequencies_match_probabilities(eta):
    from vp_bayes.model.build import _cumlogit_random

    rng = np.random.default_rng(3)
    padded = np.concatenate([[-1e4], CUTS, [1e4]])
    draws = _cumlogit_random(np.full(20000, eta), padded, rng=rng)
    freq = np.bincount(draws, minlength=6) / draws.size
    np.testing.assert_allclose(freq, category_probs_np(np.array(eta), CUTS), atol=0.015)


def test_table_draws_use_each_observations_row():
    """Random draws with a cutpoint table: observation n follows row group[n], also when the
    table arrives with a broadcast batch dimension (as in prior predictive sampling)."""
    from vp_bayes.model.build import _cumlogit_random_table
    from vp_bayes.model.likelihood import pad_cutpoints_np

    table = pad_cutpoints_np(np.stack([CUTS, CUTS + 3.0]))  # row 1 shifts mass to low categories
    group = np.repeat([0, 1], 20000)
    for tab in (table, table[None]):
        draws = _cumlogit_random_table(np.zeros(group.size), tab, group,
                                       rng=np.random.default_rng(4))
        for g, cuts in ((0, CUTS), (1, CUTS + 3.0)):
            freq = np.bincount(draws[group == g], minlength=6) / 20000
            np.testing.assert_allclose(freq, category_probs_np(np.array(0.0), cuts), atol=0.015)


def test_observed_category_logp_is_the_gathered_full_table():
    """``observed_logp_np`` (the LOO and prior-sensitivity path) equals the observed entry of
    ``category_logp_np``, with cutpoints shared per draw and per observation."""
    from vp_bayes.model.likelihood import observed_logp_np

    rng = np.random.default_rng(5)
    eta = rng.normal(0.0, 3.0, (4, 50))
    y = rng.integers(0, 6, 50)
    for cuts in (np.sort(rng.normal(0, 1.5, (4, 1, 5)), axis=-1),
                 np.sort(rng.normal(0, 1.5, (4, 50, 5)), axis=-1)):
        full = category_logp_np(eta, cuts)
        np.testing.assert_array_equal(observed_logp_np(eta, cuts, y),
                                      full[:, np.arange(50), y])
