"""Alpha and omega of tagged item sets (fast; the release part skips without it)."""

from __future__ import annotations

import numpy as np
import pytest

from vp_bayes.selection.reliability import (
    cronbach_alpha,
    mcdonald_omega,
    one_factor_loadings,
    tagged_set_reliability,
)


def _items(rng, loadings, n=20_000):
    f = rng.standard_normal((n, 1))
    lam = np.asarray(loadings)[None]
    return f * lam + rng.standard_normal((n, lam.size)) * np.sqrt(1 - lam**2)


def test_alpha_hand_example():
    x = np.array([[1.0, 2.0, 2.0], [2.0, 2.0, 3.0], [3.0, 4.0, 3.0], [4.0, 5.0, 6.0]])
    k, item_var, total_var = 3, x.var(axis=0, ddof=1).sum(), x.sum(axis=1).var(ddof=1)
    assert cronbach_alpha(x) == pytest.approx(k / (k - 1) * (1 - item_var / total_var))
    assert np.isnan(cronbach_alpha(x[:, :1]))


def test_parallel_items_give_the_true_reliability():
    """Four standardised items loading 0.6: reliability of the sum 4^2 .36 / (4^2 .36 + 4 .64)."""
    x = _items(np.random.default_rng(0), [0.6] * 4)
    truth = 16 * 0.36 / (16 * 0.36 + 4 * 0.64)
    assert cronbach_alpha(x) == pytest.approx(truth, abs=0.01)
    assert mcdonald_omega(x) == pytest.approx(truth, abs=0.01)
    np.testing.assert_allclose(one_factor_loadings(np.corrcoef(x, rowvar=False)), 0.6,
                               atol=0.03)


def test_omega_exceeds_alpha_for_congeneric_items():
    x = _items(np.random.default_rng(1), [0.9, 0.7, 0.4, 0.2])
    lam = np.array([0.9, 0.7, 0.4, 0.2])
    truth = lam.sum() ** 2 / (lam.sum() ** 2 + np.sum(1 - lam**2))
    assert mcdonald_omega(x) == pytest.approx(truth, abs=0.01)
    assert cronbach_alpha(x) < mcdonald_omega(x) - 0.01


@pytest.mark.release
def test_tagged_sets_of_the_real_wave(release_dir):
    from vp_bayes.selection.correlation import published_correlations
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    wave = read_valueportrait(release_dir / "release")
    tags = published_correlations(release_dir / "release")
    table = tagged_set_reliability(wave, tags, n_boot=100)
    assert (table["n_items"] >= 2).all() and (table["n_participants"] >= 40).all()
    inside = (table["alpha_lower"] <= table["alpha"]) & (table["alpha"] <= table["alpha_upper"])
    assert inside.mean() > 0.9
    assert table["omega"].between(0, 1).all()
    # the 18 power items of rater group 9 form the most reliable set
    best = table.loc[table["alpha"].idxmax()]
    assert best["alpha"] > 0.9 and best["n_items"] >= 10
    # every tag of a (value, group) set with at least two items is used once
    items = wave.items.reset_index().set_index("item_id")["rater_group"].astype(str)
    tagged = tags[tags["tagged"]].assign(group=lambda t: t["item_id"].map(items))
    sizes = tagged.groupby(["value", "group"]).size()
    assert table["n_items"].sum() == sizes[sizes >= 2].sum()
