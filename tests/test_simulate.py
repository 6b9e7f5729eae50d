"""The simulator: round trip, determinism, structure, and truth-data consistency."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from datacompare import assert_same_data, same_data
from scipy.stats import spearmanr

from vp_bayes.dims import VALUES_10
from vp_bayes.errors import InputError
from vp_bayes.instruments import get_instrument, mrat_centered
from vp_bayes.wave import load_wave
from vp_bayes.wave.simulate import (
    LLM_RATINGS_FILE,
    VARIANTS,
    circumplex_correlation,
    load_truth,
    ordered_logistic,
    simulate_wave,
    write_simulated,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small():
    return simulate_wave(60, 20, 10, seed=11, n_llm=2)


@pytest.fixture(scope="module")
def large():
    """N = 2000 humans, 60 items, 30 rated each: big enough for statistical checks (~2 s)."""
    return simulate_wave(2000, 60, 30, seed=5, n_llm=1, personas=False)


@pytest.mark.parametrize("prescored", [False, True])
def test_round_trip(tmp_path: Path, prescored: bool) -> None:
    sim = simulate_wave(60, 20, 10, seed=3, n_llm=2, prescored=prescored)
    folder = write_simulated(sim, tmp_path / "sim")
    wave = load_wave(folder)
    assert wave.data_hash() == sim.wave.data_hash()
    assert (wave.answers is None) == prescored and (wave.values is None) != prescored
    assert wave.manifest.instrument == (None if prescored else "pvq_rr")
    truth = load_truth(folder)
    assert_same_data(truth, sim.truth)
    llm = pd.read_csv(folder / LLM_RATINGS_FILE, dtype={"rating": "int64"})
    assert llm.astype(str).equals(sim.llm_ratings.astype(str))


def test_llm_table_reads_with_the_llm_reader(tmp_path: Path, small) -> None:
    ratings_mod = pytest.importorskip("vp_bayes.wave.ratings")
    folder = write_simulated(small, tmp_path / "sim")
    table = ratings_mod.read_llm_ratings(folder / LLM_RATINGS_FILE)
    assert len(table) == len(small.llm_ratings) and table.attrs["n_unparsed"] == 0


def test_determinism() -> None:
    a = simulate_wave(50, 15, 8, seed=99, n_llm=2)
    b = simulate_wave(50, 15, 8, seed=99, n_llm=2)
    c = simulate_wave(50, 15, 8, seed=100, n_llm=2)
    assert a.wave.data_hash() == b.wave.data_hash() != c.wave.data_hash()
    assert_same_data(a.truth, b.truth)
    assert not same_data(a.truth, c.truth)
    pd.testing.assert_frame_equal(a.llm_ratings, b.llm_ratings)


def test_structure(small) -> None:
    wave, truth = small.wave, small.truth
    assert (wave.ratings.groupby("participant_id").size() == 10).all()
    assert wave.ratings.groupby("participant_id").size().size == 60
    assert not wave.ratings.duplicated(["participant_id", "item_id"]).any()
    assert set(wave.participants.columns) == {"gender", "age"}
    nonzero = (truth["beta"] != 0).sum("value").values
    assert set(np.unique(nonzero)) <= {1, 2}
    mags = np.abs(truth["beta"].values[truth["beta"].values != 0])
    assert mags.min() >= 0.5 and mags.max() <= 1.3
    for axis in ("gender", "age"):
        np.testing.assert_allclose(truth[f"effect_{axis}"].sum(f"group_{axis}"), 0, atol=1e-12)
        np.testing.assert_allclose(
            truth[f"persona_distortion_{axis}"].sum(f"group_{axis}"), 0, atol=1e-12
        )
    corr = truth["R"].values
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert np.linalg.eigvalsh(corr).min() > 0
    assert corr[0, 1] > 0 > corr[0, 5]  # neighbours alike, opposites unlike
    # respondents: 2 models + 5 personas of sim-llm-1, each rating every item x variant
    resp = list(truth["respondent"].values)
    assert resp[:2] == ["sim-llm-1", "sim-llm-2"] and "sim-llm-1|age=40-59" in resp
    assert len(resp) == 7
    counts = small.llm_ratings.groupby("respondent").size()
    assert (counts == 20 * len(VARIANTS)).all() and len(counts) == 7


def test_persona_truth_is_base_plus_effect_plus_distortion(small) -> None:
    t = small.truth
    base = t["llm_theta"].sel(respondent="sim-llm-1")
    persona = t["llm_theta"].sel(respondent="sim-llm-1|gender=male")
    expected = (
        base
        + t["effect_gender"].sel(group_gender="male")
        + t["persona_distortion_gender"].sel(group_gender="male")
    )
    np.testing.assert_allclose(persona.values, expected.values)
    assert t["persona"].sel(respondent="sim-llm-1|gender=male").item() == "gender=male"
    assert t["model"].sel(respondent="sim-llm-1|gender=male").item() == "sim-llm-1"


def test_ordered_logistic_matches_its_probabilities() -> None:
    rng = np.random.default_rng(0)
    cut = np.array([-1.0, 0.0, 1.5])
    y = ordered_logistic(rng, np.full(200_000, 0.5), cut)
    cdf = 1 / (1 + np.exp(-(cut - 0.5)))
    expected = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    observed = np.bincount(y, minlength=5)[1:] / y.size
    np.testing.assert_allclose(observed, expected, atol=0.005)


def test_circumplex_shrinks_until_positive_definite() -> None:
    corr = circumplex_correlation(10, 1.0)  # w = 1 is singular: must be shrunk
    assert np.linalg.eigvalsh(corr).min() > 1e-6
    np.testing.assert_allclose(np.diag(corr), 1.0)


def _per_item_spearman(sim) -> pd.DataFrame:
    truth = sim.truth
    theta = truth["theta"].to_pandas()
    rows = []
    for item_id, block in sim.wave.ratings.groupby("item_id"):
        beta = truth["beta"].sel(item=item_id).values
        nz = np.flatnonzero(beta)
        if len(nz) != 1:
            continue
        v = VALUES_10[nz[0]]
        rho = spearmanr(block["rating"], theta.loc[block["participant_id"], v]).statistic
        rows.append({"item_id": item_id, "loading": beta[nz[0]], "rho": rho})
    return pd.DataFrame(rows)


def test_ratings_follow_item_loadings(large) -> None:
    table = _per_item_spearman(large)
    pos, neg = table[table["loading"] > 0], table[table["loading"] < 0]
    assert len(pos) >= 20
    assert (pos["rho"] > 0).mean() >= 0.9
    if len(neg):
        assert (neg["rho"] < 0).mean() >= 0.8


def test_mean_rating_increases_with_item_location(large) -> None:
    means = large.wave.ratings.groupby("item_id")["rating"].mean()
    b = large.truth["b"].to_pandas().loc[means.index]
    assert spearmanr(b, means).statistic > 0.7


def test_mrat_scores_track_true_values(large) -> None:
    scores = mrat_centered(large.wave.answers, get_instrument("pvq_rr"), "values")
    theta = large.truth["theta"].to_pandas()
    for v in VALUES_10:
        r = np.corrcoef(scores[v], theta.loc[scores.index, v])[0, 1]
        assert r > 0.5, f"{v}: r = {r:.2f}"
    style = large.wave.answers.mean(axis=1)
    alpha = large.truth["alpha"].to_pandas().loc[style.index]
    assert np.corrcoef(style, alpha)[0, 1] > 0.5


def test_group_effects_show_in_the_answers(large) -> None:
    """The gender difference of MRAT scores has the sign of the true effect where it is big."""
    scores = mrat_centered(large.wave.answers, get_instrument("pvq_rr"), "values")
    gender = large.wave.participants["gender"]
    diff = scores[gender == "male"].mean() - scores[gender == "female"].mean()
    effect = large.truth["effect_gender"].to_pandas()
    true = effect.loc["male"] - effect.loc["female"]
    big = true.abs() > 0.3
    assert big.any()
    assert (np.sign(diff[big]) == np.sign(true[big])).all()


def test_cli_simulate_then_validate(tmp_path: Path) -> None:
    out = tmp_path / "cli_wave"
    cmd = [sys.executable, "-m", "vp_bayes", "simulate", str(out), "--participants", "40",
           "--items", "12", "--per-participant", "6", "--seed", "4", "--llms", "1"]  # fmt: skip
    made = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert made.returncode == 0, made.stderr
    for name in ("wave.json", "participants.csv", "instrument.csv", "items.csv", "ratings.csv",
                 "llm_ratings.csv", "truth.nc"):  # fmt: skip
        assert (out / name).is_file(), name
    check = subprocess.run(
        [sys.executable, "-m", "vp_bayes", "validate", str(out)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    wave = load_wave(out)
    assert wave.data_hash() == simulate_wave(40, 12, 6, seed=4, n_llm=1).wave.data_hash()
    assert wave.items.loc["item001", "title"] == "Simulated item 1"


def test_demo_wave_is_reproducible(demo_wave_dir: Path) -> None:
    """data/demo equals a fresh run of the documented command (data/README.md).

    The wave's tables (answers, ratings, labels) are compared exactly through their hash. The
    truth's real values are compared to 1e-12 relative: they were computed on another CPU,
    whose BLAS kernel rounds matrix products differently in the last bits (on an AMD EPYC,
    a third of theta differed from the stored file by up to 9e-16). A change of seed or of the
    simulator moves them by far more.
    """
    demo = load_wave(demo_wave_dir)
    sim = simulate_wave(300, 80, 40, seed=2026, n_llm=3, personas=True)
    assert demo.data_hash() == sim.wave.data_hash()
    assert_same_data(load_truth(demo_wave_dir), sim.truth, rtol=1e-12)
    size = sum(p.stat().st_size for p in demo_wave_dir.iterdir())
    assert size < 2_000_000


def test_heavy_tailed_loadings_are_near_zero_but_never_zero() -> None:
    sim = simulate_wave(50, 200, 20, seed=3, n_llm=0, loadings="heavy_tailed")
    beta = sim.truth["beta"].values
    assert sim.truth.attrs["loadings"] == "heavy_tailed"
    assert np.all(beta != 0)
    assert np.median(np.abs(beta - np.median(beta))) < 0.4  # most near their centre
    assert np.abs(beta).max() > 1.0  # heavy tails: some large ones
    sparse = simulate_wave(50, 200, 20, seed=3, n_llm=0).truth["beta"].values
    assert (sparse == 0).mean() > 0.8
    with pytest.raises(InputError, match="loadings"):
        simulate_wave(50, 20, 10, seed=3, n_llm=0, loadings="dense")
