"""Comparing scored respondents: pairwise P(a > b), posterior ranks, leaderboard, exports.

Hand-built draws where the answer is known exactly (a constant difference, identical
posteriors, ranks by construction, joint versus independent pairing), then one small real
scoring of the demo wave's LLMs (``vp-bayes score`` in-process through an item model made from
``data/demo/truth.nc``, as ``tests/test_scoring.py`` does; 4 item draws x 25 samples, a few
seconds) for ``vp-bayes compare``, the portrait export and the run manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_scoring import _fake_model

import vp_bayes as vb
from vp_bayes.cli import main
from vp_bayes.contrasts.models import (
    INDEPENDENT,
    JOINT,
    LEADERBOARD_COLUMNS,
    PAIR_COLUMNS,
    RANK_COLUMNS,
    SUMMARY_COLUMNS,
    comparison_lines,
    default_respondents,
    joint_draws,
)
from vp_bayes.dims import RESPONDENT, SAMPLE, VALUE, VALUES_10
from vp_bayes.errors import InputError
from vp_bayes.scoring import load_portraits
from vp_bayes.scoring.export import file_sha256, manifest_path

VALS = list(VALUES_10[:3])
N = 2000
DEMO_RESPONDENTS = ["sim-llm-1", "sim-llm-2", "sim-llm-3", "sim-llm-1|gender=female",
                    "sim-llm-1|gender=male"]


def _portraits(theta: dict[str, np.ndarray], **attrs) -> xr.Dataset:
    """Portrait draws ``theta (respondent, sample, value)`` (+ centred, percentile)."""
    names = list(theta)
    arr = np.stack([theta[n] for n in names])
    ds = xr.Dataset(
        {"theta": ((RESPONDENT, SAMPLE, VALUE), arr),
         "theta_centered": ((RESPONDENT, SAMPLE, VALUE), arr - arr.mean(-1, keepdims=True)),
         "percentile": ((RESPONDENT, VALUE), np.full((len(names), arr.shape[-1]), 50.0))},
        coords={RESPONDENT: names, SAMPLE: np.arange(arr.shape[1]), VALUE: VALS})
    ds.attrs.update(attrs)
    return ds


def _normal(rng, mean, sd: float = 1.0) -> np.ndarray:
    return np.asarray(mean, dtype=float) + sd * rng.standard_normal((N, len(VALS)))


def _row(table: pd.DataFrame, value: str, a: str, b: str) -> pd.Series:
    hit = table[(table["value"] == value) & (table["respondent_a"] == a)
                & (table["respondent_b"] == b)]
    assert len(hit) == 1
    return hit.iloc[0]


# ------------------------------------------------------------------ hand-built draws
def test_a_constant_difference_is_certain_and_exact_when_scored_jointly():
    rng = np.random.default_rng(0)
    base = _normal(rng, [0.0, 1.0, -1.0])
    ds = _portraits({"m": base + 0.5, "m|gender=male": base})  # a model and its persona
    table = vb.pairwise(ds, ["m", "m|gender=male"])
    assert list(table.columns) == PAIR_COLUMNS
    assert len(table) == len(VALS) and set(table["pairing"]) == {JOINT}
    np.testing.assert_allclose(table["mean"], 0.5)
    np.testing.assert_allclose(table[["lower", "upper"]].to_numpy(), 0.5)
    assert (table["prob_a_greater"] == 1.0).all()
    # independently scored respondents far apart: certain, but with a real interval
    ds = _portraits({"a": base + 10.0, "b": base})
    row = _row(vb.pairwise(ds), VALS[0], "a", "b")
    assert row["pairing"] == INDEPENDENT and row["prob_a_greater"] == 1.0
    assert abs(row["mean"] - 10.0) < 0.1 and row["upper"] - row["lower"] > 3.0


def test_identical_posteriors_give_one_half_when_independent():
    rng = np.random.default_rng(1)
    draws = _normal(rng, [0.0, 0.0, 0.0])
    table = vb.pairwise(_portraits({"a": draws, "b": draws.copy()}))
    assert (table["pairing"] == INDEPENDENT).all()
    np.testing.assert_allclose(table["prob_a_greater"], 0.5, atol=0.04)
    np.testing.assert_allclose(table["mean"], 0.0, atol=0.1)
    # independent posteriors are matched in random order: the stored (identical) order does
    # not make the difference zero; its spread is sqrt(2) x the posterior SD
    width = table["upper"] - table["lower"]
    np.testing.assert_allclose(width, np.sqrt(2) * 2 * 1.645, rtol=0.1)
    # jointly scored: the same draws pair with themselves (ties count for neither side)
    joint = vb.pairwise(_portraits({"m": draws, "m|age=20-39": draws.copy()}),
                        ["m", "m|age=20-39"])
    assert len(joint) == len(VALS) and (joint["pairing"] == JOINT).all()
    assert (joint["prob_a_greater"] == 0.0).all()
    np.testing.assert_allclose(joint["mean"], 0.0)


def test_cut_draws_stay_paired_by_item_draw():
    rng = np.random.default_rng(2)
    draws = _normal(rng, [0.0, 0.0, 0.0])
    ds = _portraits({"a": draws + 1.0, "b": draws}, method="cut")
    table = vb.pairwise(ds)
    assert (table["pairing"] == JOINT).all()
    np.testing.assert_allclose(table[["mean", "lower", "upper"]].to_numpy(), 1.0)
    tied = _portraits({"a": draws + 1.0, "b": draws}).assign_coords(
        item_draw=(SAMPLE, np.repeat(np.arange(N // 10), 10)))
    np.testing.assert_allclose(vb.pairwise(tied)[["mean", "lower", "upper"]].to_numpy(), 1.0)


def test_personas_scored_independently_are_matched_in_random_order():
    rng = np.random.default_rng(3)
    draws = _normal(rng, [0.0, 0.0, 0.0])
    ds = _portraits({"m": draws, "m|gender=male": draws.copy()}, personas="independent")
    table = vb.pairwise(ds, ["m", "m|gender=male"])
    assert (table["pairing"] == INDEPENDENT).all()
    np.testing.assert_allclose(table["prob_a_greater"], 0.5, atol=0.04)


def test_a_pair_does_not_depend_on_the_other_respondents():
    rng = np.random.default_rng(4)
    ds = _portraits({n: _normal(rng, [i, -i, 0.0]) for i, n in enumerate("abc")})
    two = vb.pairwise(ds, ["a", "b"])
    three = vb.pairwise(ds, ["a", "b", "c"])
    pd.testing.assert_frame_equal(two, three[(three["respondent_a"] == "a")
                                             & (three["respondent_b"] == "b")]
                                  .reset_index(drop=True))
    other_seed = vb.pairwise(ds, ["a", "b"], seed=7)
    assert not np.allclose(two["lower"], other_seed["lower"])


def test_ranks_by_construction():
    rng = np.random.default_rng(5)
    ds = _portraits({"top": _normal(rng, [3.0, -3.0, 0.0], 0.1),
                     "mid": _normal(rng, [0.0, 0.0, 0.0], 0.1),
                     "low": _normal(rng, [-3.0, 3.0, 0.0], 0.1)})
    table = vb.ranks(ds)
    assert list(table.columns) == RANK_COLUMNS
    first = table[table["value"] == VALS[0]]
    assert first["respondent"].tolist() == ["top", "mid", "low"]
    np.testing.assert_array_equal(first["mean_rank"], [1, 2, 3])
    np.testing.assert_array_equal(first[["rank_lower", "rank_upper"]].to_numpy(),
                                  [[1, 1], [2, 2], [3, 3]])
    np.testing.assert_array_equal(first["prob_first"], [1, 0, 0])
    assert table[table["value"] == VALS[1]]["respondent"].tolist() == ["low", "mid", "top"]
    assert (table["n_ranked"] == 3).all()
    # two indistinguishable leaders and one far behind
    draws = _normal(rng, [1.0, 1.0, 1.0])
    ds = _portraits({"x": draws, "y": draws.copy(), "z": draws - 20.0})
    tie = vb.ranks(ds, values=[VALS[0]]).set_index("respondent")
    np.testing.assert_allclose(tie.loc[["x", "y"], "mean_rank"], 1.5, atol=0.04)
    np.testing.assert_allclose(tie.loc[["x", "y"], "prob_first"], 0.5, atol=0.04)
    assert tie.loc["x", "rank_lower"] == 1 and tie.loc["x", "rank_upper"] == 2
    assert tie.loc["z", "mean_rank"] == 3 and tie.loc["z", "prob_first"] == 0


def test_centered_scale_compares_priorities():
    rng = np.random.default_rng(6)
    base = _normal(rng, [1.0, 0.0, -1.0], 0.2)
    ds = _portraits({"m": base + 2.0, "m|gender=male": base})  # everything higher by 2
    latent = vb.pairwise(ds, ["m", "m|gender=male"])
    centered = vb.pairwise(ds, ["m", "m|gender=male"], scale="centered")
    np.testing.assert_allclose(latent["mean"], 2.0)
    np.testing.assert_allclose(centered["mean"], 0.0, atol=1e-12)
    assert (centered["scale"] == "centered").all()
    with pytest.raises(InputError, match="scale must be one of latent, centered"):
        vb.pairwise(ds, scale="centred")


def test_leaderboard_is_sorted_per_value():
    rng = np.random.default_rng(7)
    ds = _portraits({"a": _normal(rng, [0.0, 2.0, 0.0], 0.1),
                     "b": _normal(rng, [1.0, 1.0, 0.5], 0.1),
                     "b|gender=male": _normal(rng, [5.0, 5.0, 5.0], 0.1)})
    board = vb.leaderboard(ds)
    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert set(board["respondent"]) == {"a", "b"}  # default: the models without a persona
    first = board[board["value"] == VALS[0]]
    assert first["respondent"].tolist() == ["b", "a"]
    assert first["position"].tolist() == [1, 2]
    assert board[board["value"] == VALS[1]]["respondent"].tolist() == ["a", "b"]
    np.testing.assert_allclose(first["mean"], [1.0, 0.0], atol=0.01)
    assert (first["lower"] < first["mean"]).all() and (first["mean"] < first["upper"]).all()
    assert (board["reliability"].isna()).all() and not board["misfit"].any()
    everyone = vb.leaderboard(ds, ["a", "b", "b|gender=male"], values=["Self-Direction"])
    assert everyone["respondent"].tolist() == ["b|gender=male", "b", "a"]


def test_names_are_checked():
    rng = np.random.default_rng(8)
    ds = _portraits({"a": _normal(rng, [0, 0, 0]), "a|age=20-39": _normal(rng, [0, 0, 0])})
    assert default_respondents(ds) == ["a"]
    only_personas = _portraits({"a|x=1": _normal(rng, [0, 0, 0]),
                                "a|x=2": _normal(rng, [0, 0, 0])})
    assert default_respondents(only_personas) == ["a|x=1", "a|x=2"]
    with pytest.raises(InputError, match="unknown respondent.*gpt-5") as err:
        vb.pairwise(ds, ["a", "gpt-5"])
    assert err.value.field == RESPONDENT and "scored: a, a|age=20-39" in str(err.value)
    with pytest.raises(InputError, match="unknown value 'honesty'") as err:
        vb.ranks(ds, values=["honesty"])
    assert err.value.field == VALUE
    with pytest.raises(InputError, match="mass"):
        vb.leaderboard(ds, mass=1.5)
    assert vb.pairwise(ds, ["a"]).empty  # one respondent: no pair
    assert vb.compare_models(ds, ["a", "a"]).pairs.empty  # repeats dropped


def test_joint_draws_keep_a_unit_together():
    rng = np.random.default_rng(9)
    base = _normal(rng, [0.0, 0.0, 0.0])
    ds = _portraits({"m": base, "m|gender=male": base + 1.0, "other": base})
    draws = joint_draws(ds, ["m", "m|gender=male", "other"])
    assert draws["unit"].values.tolist() == ["m", "m", "other"]
    np.testing.assert_allclose(draws.sel({RESPONDENT: "m|gender=male"})
                               - draws.sel({RESPONDENT: "m"}), 1.0)
    assert not np.allclose(draws.sel({RESPONDENT: "other"}), draws.sel({RESPONDENT: "m"}))


# ------------------------------------------------------------------ a real (small) scoring
def _run(args: list[str]) -> tuple[int, str, str]:
    """``vp-bayes ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["vp-bayes", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def scored(demo_wave_dir, tmp_path_factory) -> dict[str, Path]:
    """``vp-bayes score`` of three demo LLMs and two personas through the true item
    parameters (4 item draws x 25 samples): the portrait files and the inputs."""
    from vp_bayes.model.io import save_model
    from vp_bayes.wave.simulate import load_truth

    root = tmp_path_factory.mktemp("compare")
    model = save_model(_fake_model(load_truth(demo_wave_dir), n_draws=4), root / "model.nc",
                       card=False)
    ratings = pd.read_csv(demo_wave_dir / "llm_ratings.csv")
    path = root / "ratings.csv"
    ratings[ratings["respondent"].isin(DEMO_RESPONDENTS)].to_csv(path, index=False)
    out = root / "portraits.csv"
    code, stdout, stderr = _run(["score", str(model), str(path), "--out", str(out),
                                 "--item-draws", "4", "--per-draw", "25", "--quiet"])
    assert code == 0, stderr
    assert str(manifest_path(out)) in stdout
    truth = load_truth(demo_wave_dir)["llm_theta"]
    return {"model": model, "ratings": path, "table": out, "draws": out.with_suffix(".nc"),
            "manifest": manifest_path(out), "root": root, "truth": truth}


def test_demo_llms_compared_against_the_truth(scored):
    portraits = load_portraits(scored["draws"])
    comparison = vb.compare_models(portraits, values=["benevolence", "power"])
    truth = scored["truth"]
    for value in ("benevolence", "power"):
        board = comparison.leaderboard[comparison.leaderboard["value"] == value]
        true = truth.sel(value=value).to_series()[board["respondent"]]
        assert true.is_monotonic_decreasing, (value, true)  # the true order
    pairs = comparison.pairs
    assert set(pairs["pairing"]) == {INDEPENDENT}
    assert _row(pairs, "benevolence", "sim-llm-1", "sim-llm-2")["prob_a_greater"] > 0.99
    assert _row(pairs, "power", "sim-llm-1", "sim-llm-2")["prob_a_greater"] < 0.01
    ranked = comparison.ranks.set_index(["value", "respondent"])
    assert ranked.loc[("benevolence", "sim-llm-1"), "prob_first"] > 0.95
    summary = comparison.summary()
    assert list(summary.columns) == SUMMARY_COLUMNS and len(summary) == 2 * 3
    assert vb.summary(comparison).equals(summary)
    # a model and its personas were scored jointly: their draws stay paired
    personas = vb.pairwise(portraits, ["sim-llm-1", "sim-llm-1|gender=male", "sim-llm-2"])
    pairing = personas.drop_duplicates(["respondent_a", "respondent_b"]).set_index(
        ["respondent_a", "respondent_b"])["pairing"]
    assert pairing[("sim-llm-1", "sim-llm-1|gender=male")] == JOINT
    assert pairing[("sim-llm-1", "sim-llm-2")] == INDEPENDENT
    lines = "\n".join(comparison_lines(comparison))
    assert "P(sim-llm-1 > sim-llm-3)" in lines and "benevolence" in lines


def test_cli_compare_prints_and_writes(scored):
    out = scored["root"] / "cmp" / "pairs.csv"
    ranks_out = scored["root"] / "cmp" / "ranks.csv"
    code, stdout, stderr = _run(["compare", str(scored["draws"]), "--model", "sim-llm-1",
                                 "--model", "sim-llm-2", "--value", "benevolence",
                                 "--out", str(out), "--ranks-out", str(ranks_out)])
    assert code == 0, stderr
    assert "Comparing 2 respondent(s) on 1 value(s): latent scale" in stdout
    assert "P(sim-llm-1 > sim-llm-2) = 1.000" in stdout
    pairs = pd.read_csv(out)
    assert list(pairs.columns) == PAIR_COLUMNS and len(pairs) == 1
    assert pairs.loc[0, "respondent_a"] == "sim-llm-1" and pairs.loc[0, "mean"] > 2
    assert pd.read_csv(ranks_out)["respondent"].tolist() == ["sim-llm-1", "sim-llm-2"]
    # defaults: every model without a persona, every value, centred priorities
    code, stdout, stderr = _run(["compare", str(scored["draws"]), "--scale", "centered",
                                 "--full"])
    assert code == 0, stderr
    assert "Comparing 3 respondent(s) on 10 value(s): centered scale" in stdout
    assert stdout.count("P(sim-llm-") == 3 * 10  # --full: every pair of every value


@pytest.mark.parametrize(("args", "says", "field"), [
    (["--model", "sim-llm-9"], "unknown respondent(s) sim-llm-9", "respondent"),
    (["--value", "honesty"], "unknown value 'honesty'", "value"),
])
def test_cli_compare_unknown_names(scored, args, says, field):
    code, stdout, stderr = _run(["compare", str(scored["draws"]), *args])
    assert code == 2 and stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(scored["draws"]) in lines[0] and says in lines[0]
    assert f"field '{field}'" in lines[0]


def test_cli_compare_bad_files(scored, tmp_path):
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_text("not netCDF\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("x\n")
    for args, says in [([str(tmp_path / "missing.nc")], "portrait draws file not found"),
                       ([str(corrupt)], "not a readable netCDF file"),
                       ([str(scored["draws"]), "--out", str(a_file / "p.csv")],
                        "is a file, not a folder")]:
        code, stdout, stderr = _run(["compare", *args])
        lines = stderr.splitlines()
        assert code == 2 and len(lines) == 1, stderr
        assert lines[0].startswith("error: ") and says in lines[0], lines[0]


# ------------------------------------------------------------------ exports
def test_export_portrait_is_json_with_the_model_identity(scored):
    portraits = load_portraits(scored["draws"])
    data = vb.export_portrait(portraits, "sim-llm-1|gender=male")
    json.dumps(data, allow_nan=False)  # strict JSON
    assert (data["model"], data["persona"]) == ("sim-llm-1", "gender=male")
    assert set(data["values"]) == set(VALUES_10)
    bene = data["values"]["benevolence"]
    assert bene["lower"] < bene["mean"] < bene["upper"] and 0 <= bene["percentile"] <= 100
    assert 0 < bene["reliability"] <= 1
    assert set(data["person_fit"]["p_values"]) == {"agreement", "distribution", "fit"}
    assert isinstance(data["person_fit"]["misfit"], bool)
    assert data["scoring"]["method"] == "marginal" and data["scoring"]["n_item_draws"] == 4
    identity = data["item_model"]
    assert identity["wave_hash"] == "test"
    assert identity["model_file_sha256"] == file_sha256(scored["model"])
    assert identity["ratings_file_sha256"] == file_sha256(scored["ratings"])
    assert isinstance(identity["model_config"], dict)
    with pytest.raises(InputError, match="unknown respondent 'nobody'"):
        vb.export_portrait(portraits, "nobody")


def test_score_writes_a_run_manifest(scored):
    manifest = json.loads(scored["manifest"].read_text(encoding="utf-8"))
    digest = hashlib.sha256(scored["model"].read_bytes()).hexdigest()
    assert manifest["model_file"]["sha256"] == digest
    assert manifest["ratings_file"]["sha256"] == file_sha256(scored["ratings"])
    assert manifest["ratings_file"]["bytes"] == scored["ratings"].stat().st_size
    for package in ("vp_bayes", "pymc", "arviz", "numpy", "xarray"):
        assert manifest["packages"][package], package
    assert manifest["packages"]["vp_bayes"] == vb.__version__
    assert manifest["settings"]["n_per_draw"] == 25 and manifest["settings"]["seed"] == 0
    assert manifest["item_model"]["wave_hash"] == "test"
    assert manifest["respondents"] == DEMO_RESPONDENTS
    assert manifest["outputs"]["draws"] == str(scored["draws"])
    again = vb.run_manifest(load_portraits(scored["draws"]), model_file=scored["model"])
    assert again["model_file"]["sha256"] == digest and again["ratings_file"] is None


def test_portraits_of_earlier_versions_load(scored, tmp_path):
    """Files written before the rename hold ``theta_centred``: read as ``theta_centered``."""
    import xarray as xr

    with xr.open_dataset(scored["draws"]) as ds:
        old = ds.load().rename({"theta_centered": "theta_centred"})
    old.to_netcdf(tmp_path / "old.nc", engine="scipy")
    then, now = load_portraits(tmp_path / "old.nc"), load_portraits(scored["draws"])
    pd.testing.assert_frame_equal(then.table, now.table)
    centered = vb.pairwise(now, ["sim-llm-1", "sim-llm-2"], scale="centered")
    pd.testing.assert_frame_equal(
        vb.pairwise(then, ["sim-llm-1", "sim-llm-2"], scale="centered"), centered)


@pytest.mark.slow
def test_cli_compare_on_the_27_released_llms(released, tmp_path):
    """``vp-bayes compare`` on the released LLMs scored from the real release: every pair and
    rank written, each P(a > b) equal to the share of all sample pairs in the draws (computed
    here independently), ranks agreeing with the posterior means."""
    draws_path = released[1]
    out, ranks_out = tmp_path / "pairs.csv", tmp_path / "ranks.csv"
    code, stdout, stderr = _run(["compare", str(draws_path), "--value", "benevolence",
                                 "--value", "power", "--out", str(out),
                                 "--ranks-out", str(ranks_out)])
    assert code == 0, stderr
    assert "Comparing 27 respondent(s) on 2 value(s): latent scale" in stdout
    pairs, ranks = pd.read_csv(out), pd.read_csv(ranks_out)
    assert len(pairs) == 2 * 27 * 26 // 2 and pairs["prob_a_greater"].between(0, 1).all()
    assert set(pairs["pairing"]) == {INDEPENDENT}  # separately scored models
    theta = load_portraits(draws_path).draws["theta"]
    for value in ("benevolence", "power"):
        mine = pairs[pairs["value"] == value].sample(8, random_state=1)
        for row in mine.itertuples():
            a = theta.sel({RESPONDENT: row.respondent_a, VALUE: value}).values
            b = theta.sel({RESPONDENT: row.respondent_b, VALUE: value}).values
            every_pair = float((a[:, None] > b[None, :]).mean())
            assert row.prob_a_greater == pytest.approx(every_pair, abs=0.05), row
        per = ranks[ranks["value"] == value].set_index("respondent")
        assert per["prob_first"].sum() == pytest.approx(1.0, abs=1e-9)
        means = theta.sel({VALUE: value}).mean(SAMPLE).to_series()
        assert per["mean_rank"].corr(means[per.index], method="spearman") < -0.95
