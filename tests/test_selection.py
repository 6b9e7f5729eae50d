"""The paper's correlation rule: hand-made tables, scipy references, the real release."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vp_bayes.dims import VALUES_10
from vp_bayes.errors import InputError
from vp_bayes.selection import (
    adjust_pvalues,
    bh_adjust,
    chance_tag_probability,
    compare_correlations,
    expected_chance_tags,
    item_trait_correlations,
    published_correlations,
    resolve_traits,
    select_items,
    tag_counts,
)


def _long(matrix: dict[str, list[float]], pids: list[str]) -> pd.DataFrame:
    rows = [(p, item, r) for item, col in matrix.items() for p, r in zip(pids, col, strict=True)
            if not np.isnan(r)]
    return pd.DataFrame(rows, columns=["participant_id", "item_id", "rating"])


PIDS = [f"P{k}" for k in range(1, 7)]
TRAITS = pd.DataFrame(
    {"power": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "tradition": [0.3, -0.1, 0.2, 0.0, 0.5, -0.4]},
    index=pd.Index(PIDS, name="participant_id"),
)
# item "up" rises with power, "down" falls with it, "flat" is unrelated (hand-made)
RATINGS = _long({"up": [1, 2, 2, 4, 5, 6], "down": [6, 5, 5, 3, 2, 1],
                 "flat": [3, 1, 4, 1, 5, 2]}, PIDS)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall"])
def test_matches_scipy_per_pair(method: str) -> None:
    table = item_trait_correlations(RATINGS, TRAITS, method=method)
    ref = {"spearman": stats.spearmanr, "pearson": stats.pearsonr, "kendall": stats.kendalltau}
    for row in table.itertuples():
        x = RATINGS[RATINGS.item_id == row.item_id].set_index("participant_id")["rating"]
        res = ref[method](x.to_numpy(float), TRAITS.loc[x.index, row.value].to_numpy())
        assert row.r == pytest.approx(res.statistic, abs=1e-12)
        assert row.p == pytest.approx(res.pvalue, rel=1e-9, abs=1e-15)
        assert row.n == 6
    assert list(table.columns) == ["item_id", "value", "r", "p", "p_adjusted", "n", "tagged"]


def test_spearman_by_hand() -> None:
    # "down" is the exact reverse of "up" with ties at ranks 2.5: rho(up, power) computed by
    # hand from ranks up=(1, 2.5, 2.5, 4, 5, 6), power=(1..6): d = (0, .5, -.5, 0, 0, 0)
    table = item_trait_correlations(RATINGS, TRAITS[["power"]]).set_index("item_id")
    ranks_up = np.array([1, 2.5, 2.5, 4, 5, 6])
    ranks_p = np.arange(1, 7)
    cu, cp = ranks_up - ranks_up.mean(), ranks_p - ranks_p.mean()
    rho = (cu @ cp) / np.sqrt((cu @ cu) * (cp @ cp))
    assert table.loc["up", "r"] == pytest.approx(rho)
    assert table.loc["down", "r"] == pytest.approx(-rho)


@pytest.mark.parametrize(
    ("sign", "expected"),
    [("positive", {("up", "power")}), ("negative", {("down", "power")}),
     ("both", {("up", "power"), ("down", "power")})],
)
def test_sign_modes(sign: str, expected: set) -> None:
    table = item_trait_correlations(RATINGS, TRAITS, sign=sign)
    tagged = set(map(tuple, table.loc[table.tagged, ["item_id", "value"]].to_numpy()))
    assert tagged == expected


def test_threshold_is_strict_and_alpha_applies() -> None:
    table = pd.DataFrame({"item_id": ["a", "b", "c"], "value": ["power"] * 3,
                          "r": [0.3, 0.31, 0.9], "p": [0.001, 0.001, 0.06]})
    out = select_items(table)
    assert out["tagged"].tolist() == [False, True, False]
    assert select_items(table, alpha=0.1)["tagged"].tolist() == [False, True, True]
    assert select_items(table, threshold=0.2)["tagged"].tolist() == [True, True, False]


def test_bh_hand_table() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 -> x m/rank (m = 4): 0.02, 0.02, 0.04, 0.04
    expected = np.array([0.02, 0.04, 0.04, 0.02, np.nan])
    np.testing.assert_allclose(bh_adjust(p), expected)
    np.testing.assert_allclose(adjust_pvalues(p, "fdr_bh"), expected)
    # the step-up minimum: 0.5 stays, the three below it share 0.03 * 4 / 3
    np.testing.assert_allclose(bh_adjust(np.array([0.02, 0.03, 0.5, 0.01])),
                               [0.04, 0.04, 0.5, 0.04])
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02, np.nan])
    rng = np.random.default_rng(1)
    q = rng.uniform(size=200) ** 3
    np.testing.assert_allclose(bh_adjust(q), stats.false_discovery_control(q), rtol=1e-12)


@pytest.mark.parametrize(("correction", "n_tags"), [("none", 2), ("bonferroni", 1)])
def test_correction_changes_tags(correction: str, n_tags: int) -> None:
    table = pd.DataFrame({"item_id": list("abcd"), "value": ["power"] * 4,
                          "r": [0.5, 0.5, 0.1, 0.1], "p": [0.001, 0.02, 0.5, 0.9]})
    # bonferroni: 0.004 and 0.08; BH: 0.004 and 0.04
    assert select_items(table, correction=correction)["tagged"].sum() == n_tags
    assert select_items(table, correction="fdr_bh")["tagged"].sum() == 2


def test_missing_traits_reduce_n_and_unknown_raters_fail() -> None:
    traits = TRAITS.copy()
    traits.loc["P2", "tradition"] = np.nan
    table = item_trait_correlations(RATINGS, traits).set_index(["item_id", "value"])
    assert table.loc[("up", "tradition"), "n"] == 5
    assert table.loc[("up", "power"), "n"] == 6
    bad = pd.concat([RATINGS, pd.DataFrame({"participant_id": ["P9"], "item_id": ["up"],
                                            "rating": [3]})], ignore_index=True)
    with pytest.raises(InputError, match="no trait scores") as err:
        item_trait_correlations(bad, TRAITS)
    assert err.value.row == len(bad) and err.value.field == "participant_id"
    with pytest.raises(InputError, match="method"):
        item_trait_correlations(RATINGS, TRAITS, method="cosine")


def test_resolve_traits() -> None:
    assert resolve_traits("values") == list(VALUES_10)
    assert resolve_traits("Power, Self-Direction") == ["power", "self_direction"]
    with pytest.raises(InputError, match="unknown trait"):
        resolve_traits("power,greed")
    with pytest.raises(InputError, match="not in the data"):
        resolve_traits("bigfive", available=list(VALUES_10))


def test_chance_probability_t_against_simulation() -> None:
    """Under rho = 0 with continuous data, the t approximation matches simulation."""
    n, reps = 47, 20_000
    rng = np.random.default_rng(7)
    x = rng.normal(size=(reps, n))
    y = rng.normal(size=n)
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    r = (xc @ yc) / np.sqrt((xc * xc).sum(axis=1) * (yc @ yc))
    sim = np.mean(r > 0.3)
    prob = float(chance_tag_probability(n))
    assert abs(sim - prob) < 4 * np.sqrt(prob * (1 - prob) / reps)
    assert float(chance_tag_probability(n, sign="both")) == pytest.approx(2 * prob)
    # with a tiny threshold the significance cut-off binds: P(tag) = alpha / 2
    assert float(chance_tag_probability(n, threshold=0.0)) == pytest.approx(0.025)


def test_expected_chance_tags_on_null_data() -> None:
    """Items unrelated to traits: observed tag count agrees with the chance expectation."""
    rng = np.random.default_rng(3)
    n_p, n_i = 47, 300
    pids = [f"P{k}" for k in range(n_p)]
    traits = pd.DataFrame(rng.normal(size=(n_p, 2)), index=pids, columns=["power", "hedonism"])
    ratings = pd.DataFrame({
        "participant_id": np.repeat(pids, n_i),
        "item_id": np.tile([f"i{k}" for k in range(n_i)], n_p),
        "rating": rng.integers(1, 7, size=n_p * n_i),
    })
    observed = item_trait_correlations(ratings, traits)
    perm = expected_chance_tags(ratings, traits, n_permutations=100, seed=0)
    tee = expected_chance_tags(ratings, traits, how="t")
    total = perm["expected_tags"].sum()
    assert abs(observed["tagged"].sum() - total) < 4 * np.sqrt(total)
    assert perm["expected_tags"].sum() == pytest.approx(tee["expected_tags"].sum(), rel=0.15)
    again = expected_chance_tags(ratings, traits, n_permutations=100, seed=0)
    pd.testing.assert_frame_equal(perm, again)


# --- the real release -----------------------------------------------------------------
@pytest.fixture(scope="module")
def release(release_dir: Path):
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    wave = read_valueportrait(release_dir)
    recomputed = item_trait_correlations(wave.ratings, wave.values[list(VALUES_10)])
    return wave, recomputed, published_correlations(release_dir)


@pytest.mark.release
def test_published_tags(release) -> None:
    _, _, pub = release
    assert len(pub) == 5200
    assert pub["tagged"].sum() == 284
    assert pub.loc[pub["tagged"], "item_id"].nunique() == 221
    expected = {"power": 64, "achievement": 56, "stimulation": 43, "hedonism": 33,
                "conformity": 23, "universalism": 15, "security": 14, "benevolence": 13,
                "tradition": 12, "self_direction": 11}
    assert tag_counts(pub).to_dict() == expected


@pytest.mark.release
def test_recomputed_matches_published_except_group_1(release) -> None:
    wave, recomputed, pub = release
    cmp = compare_correlations(recomputed, pub, tol=1e-9)
    group = wave.items["rater_group"].astype(int).reindex(cmp.index)
    assert len(cmp) == 520
    assert cmp.loc[group != 1, "match"].sum() == 480
    assert set(cmp.index[~cmp["match"]]) == set(cmp.index[group == 1])
    assert len(cmp.index[group == 1]) == 40


@pytest.mark.release
def test_release_chance_and_fdr(release) -> None:
    wave, recomputed, pub = release
    chance_t = expected_chance_tags(wave.ratings, wave.values[list(VALUES_10)], how="t")
    n_items = wave.ratings.groupby("item_id").size()
    assert chance_t["expected_tags"].iloc[0] == pytest.approx(
        chance_tag_probability(n_items.to_numpy()).sum())
    # the uncorrected rule's chance rate is about 2% of tests, a third of the 284 tags
    assert 80 < chance_t["expected_tags"].sum() < 130
    fdr = select_items(pub, correction="fdr_bh")
    assert fdr["tagged"].sum() < pub["tagged"].sum()
    assert fdr["tagged"].sum() == (fdr["tagged"] & pub["tagged"]).sum()


@pytest.mark.release
def test_cli_select(release_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vp_bayes.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["import", "valueportrait", str(release_dir), str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    pub_file = release_dir / "release/data/correlation_results/pvq_correlation_results.json"
    res = runner.invoke(app, ["select", str(tmp_path / "w"), "--out", str(tmp_path / "t.csv"),
                              "--published", str(pub_file), "--compare-published",
                              str(pub_file), "--n-permutations", "20"])
    assert res.exit_code == 0, res.output
    assert "284 tags on 221 items" in res.output
    assert "480 of 520 items match" in res.output
    tags = pd.read_csv(tmp_path / "t.csv", dtype={"item_id": str})
    assert tags["tagged"].sum() == 284


def test_tag_files_of_earlier_versions_are_read(tmp_path: Path) -> None:
    """Tag tables name the trait column ``value`` (dims.TAG_COLUMNS); ``trait`` still reads."""
    from vp_bayes import dims
    from vp_bayes.selection.bayes import read_selection_tags

    assert dims.TAG_COLUMNS[:2] == ("item_id", "value")
    for col in ("value", "trait"):
        path = tmp_path / f"{col}.csv"
        pd.DataFrame({"item_id": ["a", "b"], col: ["power", "Hedonism"], "r": [0.4, 0.1],
                      "tagged": [True, False]}).to_csv(path, index=False)
        got = read_selection_tags(path, ["a", "b"], ["power", "hedonism"])
        assert list(got.columns) == ["item_id", "value", "r", "tagged"]
        assert got["value"].tolist() == ["power", "hedonism"]
