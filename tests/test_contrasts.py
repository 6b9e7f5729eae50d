"""Fast tests of the contrast layer with hand-built draws (no sampler)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vp_bayes.contrasts import (
    COLUMNS,
    POPULATION,
    UNPROMPTED,
    ContrastWarning,
    ReferenceWarning,
    bias_contrasts,
    bias_draws,
    credible_summary,
    describe_credible,
    human_contrasts,
    human_group_means,
    parse_respondent,
    persona_contrasts,
    persona_distance,
    persona_shifts,
    read_reference,
    reference_group_draws,
)
from vp_bayes.dims import CHAIN, DRAW, GROUP, RESPONDENT, SAMPLE, VALUE, VALUES_10
from vp_bayes.errors import InputError

VALS = list(VALUES_10[:3])  # self_direction, stimulation, hedonism


def _posterior(effects: dict[str, tuple[list[str], np.ndarray]]) -> xr.Dataset:
    """A posterior Dataset with ``effect_{axis} (chain, draw, group_{axis}, value)``."""
    data, coords = {}, {VALUE: VALS}
    for axis, (groups, arr) in effects.items():
        dim = f"{GROUP}_{axis}"
        data[f"effect_{axis}"] = ((CHAIN, DRAW, dim, VALUE), arr)
        coords[dim] = groups
    return xr.Dataset(data, coords=coords)


def _portraits(theta: dict[str, np.ndarray]) -> xr.Dataset:
    """Portrait draws ``theta (respondent, sample, value)``."""
    names = list(theta)
    arr = np.stack([theta[n] for n in names])
    return xr.Dataset({"theta": ((RESPONDENT, SAMPLE, VALUE), arr)},
                      coords={RESPONDENT: names, SAMPLE: np.arange(arr.shape[1]), VALUE: VALS})


def _write(tmp_path: Path, text: str, name: str = "ref.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _reference_text(rows: dict[tuple[str, str], list[float]], se: float | None = None) -> str:
    head = "axis,group,value,mean" + (",se" if se is not None else "")
    lines = [head]
    for (axis, group), means in rows.items():
        for v, m in zip(VALS, means, strict=True):
            lines.append(f"{axis},{group},{v},{m}" + (f",{se}" if se is not None else ""))
    return "\n".join(lines) + "\n"


def _exact_reference(tmp_path: Path, rows, scale: float = 1.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReferenceWarning)
        return read_reference(_write(tmp_path, _reference_text(rows)), scale=scale)


# --- human side ---------------------------------------------------------------------------
def test_pair_difference_interval_and_prob_positive_by_hand():
    # 1 chain x 4 draws; female effect 0, male effect = d, so male - female = d per draw.
    d = np.array([-1.0, 1.0, 2.0, 3.0])
    arr = np.zeros((1, 4, 2, 3))
    arr[0, :, 0, 0] = d  # male (group index 0), self_direction
    arr[0, :, 0, 1] = -d  # male, stimulation
    post = _posterior({"gender": (["male", "female"], arr)})  # unsorted on purpose
    table = human_contrasts(post, mass=0.5)
    assert list(table.columns) == COLUMNS
    assert set(zip(table.group_a, table.group_b, strict=True)) == {("male", "female")}
    sd = table.set_index("value").loc["self_direction"]
    assert sd["mean"] == pytest.approx(1.25)
    assert sd["prob_positive"] == pytest.approx(0.75)
    # equal-tailed 50%: 25% and 75% quantiles (linear interpolation) of (-1, 1, 2, 3)
    assert sd["lower"] == pytest.approx(0.5) and sd["upper"] == pytest.approx(2.25)
    st = table.set_index("value").loc["stimulation"]
    assert st["prob_positive"] == pytest.approx(0.25) and st["mean"] == pytest.approx(-1.25)
    assert table.set_index("value").loc["hedonism", "prob_positive"] == 0.0
    assert (table["source"] == "human").all() and (table["mass"] == 0.5).all()


def test_every_pair_is_later_minus_earlier_group():
    rng = np.random.default_rng(0)
    arr = rng.normal(size=(2, 5, 3, 3))
    post = _posterior({"age": (["60-79", "20-39", "40-59"], arr)})
    table = human_contrasts(post)
    pairs = set(zip(table.group_a, table.group_b, strict=True))
    assert pairs == {("40-59", "20-39"), ("60-79", "20-39"), ("60-79", "40-59")}
    # 60-79 - 20-39 equals the draw-by-draw difference of the two effects (group index 0, 1)
    want = (arr[:, :, 0, :] - arr[:, :, 1, :]).reshape(10, 3).mean(axis=0)
    got = table[(table.group_a == "60-79") & (table.group_b == "20-39")]
    np.testing.assert_allclose(got["mean"].to_numpy(), want)
    means = human_group_means(post)
    assert set(means.group_b) == {POPULATION} and len(means) == 9


def test_centered_scale_sums_to_zero_over_values():
    rng = np.random.default_rng(1)
    post = _posterior({"gender": (["female", "male"], rng.normal(size=(1, 50, 2, 3)))})
    table = human_contrasts(post, scale="centered")
    assert table["mean"].sum() == pytest.approx(0.0, abs=1e-12)
    for old in ("raw", "centred"):  # one pair of scale names (dims.SCALES)
        with pytest.raises(InputError, match="latent, centered"):
            human_contrasts(post, scale=old)


def test_model_without_effects_or_axis_is_an_input_error():
    post = _posterior({"gender": (["female", "male"], np.zeros((1, 3, 2, 3)))})
    with pytest.raises(InputError, match="no axis 'age'"):
        human_contrasts(post, axes=["age"])
    with pytest.raises(InputError, match="no demographic group effects"):
        human_contrasts(xr.Dataset({"beta": (("item", VALUE), np.zeros((2, 3)))}))
    with pytest.raises(InputError, match="between 0 and 1"):
        human_contrasts(post, mass=1.0)


# --- external reference -------------------------------------------------------------------
def test_reference_scale_conversion_and_se_draws(tmp_path):
    text = _reference_text({("gender", "female"): [0.5, -0.2, 0.0],
                            ("gender", "male"): [-0.5, 0.2, 0.0]}, se=0.1)
    ref = read_reference(_write(tmp_path, text), scale=0.5)  # 0.5 table units per SD
    assert not ref.exact and ref.scale == 0.5
    draws = reference_group_draws(ref, n_draws=20000, seed=3)["gender"]
    female = draws.sel({GROUP: "female"})
    # mean 0.5 units / 0.5 = 1 SD; se 0.1 units -> 0.2 SD (sampling SE of the mean 0.0014)
    assert float(female.sel({VALUE: "self_direction"}).mean()) == pytest.approx(1.0, abs=0.01)
    assert float(female.sel({VALUE: "self_direction"}).std()) == pytest.approx(0.2, abs=0.01)
    table = human_contrasts(ref, mass=0.9)
    sd = table.set_index("value").loc["self_direction"]  # male - female = -1 units = -2 SD
    assert sd["mean"] == pytest.approx(-2.0, abs=0.02)
    # difference of two independent N(., 0.2^2): SD 0.2 sqrt(2); 90% half-width 1.645 * that
    assert sd["upper"] - sd["lower"] == pytest.approx(2 * 1.6449 * 0.2 * np.sqrt(2), rel=0.05)


def test_reference_without_se_warns_and_is_exact_unless_given_one(tmp_path):
    path = _write(tmp_path, "axis,group,value,difference\n" + "".join(
        f"gender,{g},{v},{s * 0.1}\n" for g, s in (("male", 1), ("female", -1)) for v in VALS))
    with pytest.warns(ReferenceWarning) as record:
        ref = read_reference(path)
    text = " ".join(str(w.message) for w in record)
    assert "exact" in text and "--reference-scale" in text
    assert ref.exact and (ref.table["se"] == 0).all()
    table = human_contrasts(ref)
    assert np.allclose(table["lower"], 0.2) and np.allclose(table["upper"], 0.2)
    with pytest.warns(ReferenceWarning, match="reference-scale"):
        ref2 = read_reference(path, se=0.05)
    assert not ref2.exact and (ref2.table["se"] == 0.05).all()


def test_real_ess_table_reads(release_dir):
    with pytest.warns(ReferenceWarning):
        ref = read_reference(release_dir / "ess_group_differences.csv")
    assert set(ref.axes) == {"gender", "age", "political", "education"}
    assert set(ref.values) == set(VALUES_10)
    assert len(ref.table) == 130
    table = human_contrasts(ref, axes=["gender"])
    power = table.set_index("value").loc["power"]
    assert (power.group_a, power.group_b) == ("male", "female")
    assert power["mean"] == pytest.approx(0.08 - (-0.07))  # published male and female rows


@pytest.mark.parametrize(
    ("text", "row", "field"),
    [
        ("axis,group,mean\ngender,male,0.1\n", 0, "value"),
        ("axis,group,value\ngender,male,power\n", 0, "mean"),
        ("axis,group,value,mean,difference\ngender,male,power,1,1\n", 0, "difference"),
        ("axis,group,value,mean\ngender,male,power,abc\n", 1, "mean"),
        ("axis,group,value,mean\ngender,male,power,1\ngender,,power,2\n", 2, "group"),
        ("axis,group,value,mean\ngender,male,powr,1\n", 1, "value"),
        ("axis,group,value,mean\ngender,male,power,1\ngender,male,Power,2\n", 2, "value"),
        ("axis,group,value,mean,se\ngender,male,power,1,-0.1\n", 1, "se"),
        ("axis,group,value,mean,se\ngender,male,power,1,\n", 1, "se"),
        ("axis,group,value,mean\ngender,male,power,1\ngender,male,hedonism,1\n"
         "gender,female,power,1\n", 3, "value"),
        ("axis,group,value,mean\n", 1, None),
        ("axis,group,value,mean\ngender,male,power,inf\n", 1, "mean"),
    ],
)
def test_malformed_reference_rows_name_file_row_field(tmp_path, text, row, field):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_reference(path, scale=1.0)
    assert err.value.file == str(path) and err.value.row == row and err.value.field == field


def test_reference_options_are_checked(tmp_path):
    path = _write(tmp_path, _reference_text({("gender", "a"): [0, 0, 0]}, se=0.1))
    with pytest.raises(InputError) as err:
        read_reference(path, scale=0.0)
    assert err.value.field == "reference_scale"
    with pytest.raises(InputError) as err:
        read_reference(path, se=-1.0, scale=1.0)
    assert err.value.field == "ess_se"
    with pytest.raises(InputError, match="not found"):
        read_reference(tmp_path / "missing.csv")


# --- LLM side -----------------------------------------------------------------------------
def test_parse_respondent():
    assert parse_respondent("gpt-4o") == ("gpt-4o", {})
    assert parse_respondent("gpt-4o|gender=male;age=20-39") == (
        "gpt-4o", {"gender": "male", "age": "20-39"})
    with pytest.raises(InputError, match="axis=group"):
        parse_respondent("gpt-4o|male")


def test_respondent_names_have_one_owner():
    """dims builds and parses ``model|axis=group;...``; the other modules use it."""
    from vp_bayes import contrasts, dims, scoring

    attrs = {"gender": "male", "age": "20-39"}
    name = dims.respondent_name("gpt-4o", dims.persona_id(attrs))
    assert name == "gpt-4o|gender=male;age=20-39"
    assert dims.split_respondent(name) == ("gpt-4o", "gender=male;age=20-39")
    assert dims.parse_respondent(name) == ("gpt-4o", attrs)
    assert dims.respondent_name("gpt-4o") == "gpt-4o"
    assert contrasts.parse_respondent is dims.parse_respondent
    assert scoring.split_respondent is dims.split_respondent


def _llm_draws(rng, n=200):
    return {
        "gpt": rng.normal(0.0, 0.1, size=(n, 3)),
        "gpt|gender=female": rng.normal([0.2, 0.0, -0.3], 0.1, size=(n, 3)),
        "gpt|gender=male": rng.normal([-0.2, 0.4, 0.3], 0.1, size=(n, 3)),
        "gpt|gender=male;age=20-39": rng.normal(0.0, 0.1, size=(n, 3)),
        "llama|gender=male": rng.normal(0.0, 0.1, size=(n, 3)),
    }


def test_persona_contrasts_and_shifts_draw_by_draw():
    theta = _llm_draws(np.random.default_rng(2))
    ports = _portraits(theta)
    table = persona_contrasts(ports, mass=0.9)
    # one pair (gpt male - female); llama has one gender persona, the 2-attribute one is skipped
    assert set(zip(table.model, table.group_a, table.group_b, strict=True)) == {
        ("gpt", "male", "female")}
    want = (theta["gpt|gender=male"] - theta["gpt|gender=female"])
    got = table.set_index("value")
    np.testing.assert_allclose(got.loc[VALS, "mean"], want.mean(axis=0))
    np.testing.assert_allclose(got.loc[VALS, "prob_positive"], (want > 0).mean(axis=0))
    np.testing.assert_allclose(got.loc[VALS, "upper"], np.quantile(want, 0.95, axis=0))
    shifts = persona_shifts(ports)
    assert set(zip(shifts.model, shifts.group_a, shifts.group_b, strict=True)) == {
        ("gpt", "male", UNPROMPTED), ("gpt", "female", UNPROMPTED)}  # llama has no plain run
    male = shifts[shifts.group_a == "male"].set_index("value")
    np.testing.assert_allclose(male.loc[VALS, "mean"],
                               (theta["gpt|gender=male"] - theta["gpt"]).mean(axis=0))
    centered = persona_contrasts(ports, scale="centered")
    assert centered["mean"].sum() == pytest.approx(0.0, abs=1e-12)


# --- bias and distance --------------------------------------------------------------------
def test_bias_is_llm_minus_human_against_an_exact_reference(tmp_path):
    ref = _exact_reference(tmp_path, {("gender", "female"): [0.1, 0.0, 0.0],
                                      ("gender", "male"): [-0.1, 0.3, 0.0]}, scale=0.5)
    theta = _llm_draws(np.random.default_rng(4))
    # llama has neither a female persona nor a plain run: no contrast and no shift exist
    table = bias_contrasts(ref, _portraits(theta), kind="shift")
    assert set(table.model) == {"gpt"} and (table.source == "bias").all()
    human = np.array([-0.2, 0.6, 0.0])  # male row / 0.5
    llm = theta["gpt|gender=male"] - theta["gpt"]
    got = table[table.group_a == "male"].set_index("value")
    # n_draws defaults to min(4000, 200) = 200: a permutation of the LLM draws, same mean
    np.testing.assert_allclose(got.loc[VALS, "mean"], llm.mean(axis=0) - human)
    pairs = bias_contrasts(ref, _portraits(theta))
    want = (theta["gpt|gender=male"] - theta["gpt|gender=female"]).mean(axis=0) - np.array(
        [-0.4, 0.6, 0.0])
    np.testing.assert_allclose(pairs.set_index("value").loc[VALS, "mean"], want)


def test_bias_pairs_independent_posteriors_by_resampling():
    """The same array as human and LLM draws: paired by index the bias would be exactly 0;
    resampled independently its variance is twice the variance of one side."""
    rng = np.random.default_rng(5)
    n = 4000
    diff = rng.normal(0.0, 1.0, size=(n, 3))
    arr = np.zeros((1, n, 2, 3))
    arr[0, :, 1, :] = diff  # male - female = diff
    post = _posterior({"gender": (["female", "male"], arr)})
    ports = _portraits({"m|gender=female": np.zeros((n, 3)), "m|gender=male": diff})
    draws = bias_draws(post, ports, seed=7)
    assert draws.sizes[SAMPLE] == n
    var = draws.var(SAMPLE).values
    assert np.all(np.abs(var - 2.0) < 0.2)  # SE of a variance estimate ~ 2 sqrt(2/n) = 0.045
    again = bias_draws(post, ports, seed=7)
    np.testing.assert_array_equal(draws.values, again.values)  # fixed seed: reproducible
    assert bias_draws(post, ports, n_draws=500).sizes[SAMPLE] == 500


def test_unmatched_persona_axis_warns_and_is_left_out():
    post = _posterior({"gender": (["female", "male"], np.zeros((1, 10, 2, 3)))})
    ports = _portraits({f"m|political={g}": np.zeros((10, 3)) for g in ("left", "right")}
                       | {f"m|gender={g}": np.zeros((10, 3)) for g in ("female", "male")})
    with pytest.warns(ContrastWarning, match="political right - left"):
        table = bias_contrasts(post, ports)
    assert set(table.axis) == {"gender"}


def test_values_missing_on_the_human_side_is_an_input_error(tmp_path):
    ref = _exact_reference(tmp_path, {("gender", "female"): [0, 0, 0],
                                      ("gender", "male"): [0, 0, 0]})
    ds = _portraits({"m|gender=female": np.zeros((5, 3)), "m|gender=male": np.zeros((5, 3))})
    ds = ds.assign_coords({VALUE: ["power", "stimulation", "hedonism"]})
    with pytest.raises(InputError, match="power") as err:
        bias_contrasts(ref, ds)
    assert err.value.file == ref.path


def test_persona_distance_by_hand(tmp_path):
    ref = _exact_reference(tmp_path, {("gender", "female"): [0.0, 0.0, 0.0],
                                      ("gender", "male"): [1.0, 0.0, 0.0]})
    n = 50
    ports = _portraits({"m": np.tile([0.0, 2.0, 0.0], (n, 1)),
                        "m|gender=male": np.tile([1.0, 0.0, 1.0], (n, 1))})
    table = persona_distance(ref, ports, mass=0.9).set_index("quantity")
    assert table.loc["distance", "mean"] == pytest.approx(1.0)  # (1,0,1) - (1,0,0)
    assert table.loc["distance_unprompted", "mean"] == pytest.approx(np.sqrt(5.0))
    assert table.loc["closer", "mean"] == pytest.approx(np.sqrt(5.0) - 1.0)
    assert table.loc["closer", "prob_positive"] == 1.0
    assert np.isnan(table.loc["distance", "prob_positive"])
    ports2 = _portraits({"m|gender=male": np.zeros((n, 3)), "m|age=20-39": np.zeros((n, 3))})
    with pytest.warns(ContrastWarning, match=r"m\|age=20-39"):  # the reference has no age
        table2 = persona_distance(ref, ports2)
    assert set(table2["axis"]) == {"gender"}


def test_credible_summary_keeps_intervals_excluding_zero():
    df = pd.DataFrame({
        "axis": "gender", "group_a": "male", "group_b": "female", "model": "m",
        "value": ["power", "hedonism", "tradition", "security"],
        "source": ["bias", "bias", "bias", "human"],
        "mean": [0.5, -0.8, 0.1, 0.9], "lower": [0.1, -1.2, -0.2, 0.5],
        "upper": [0.9, -0.3, 0.4, 1.3], "prob_positive": [0.99, 0.0, 0.7, 1.0], "mass": 0.9,
    })
    summary = credible_summary(df)
    assert summary["value"].tolist() == ["hedonism", "power"]  # largest |mean| first
    assert summary["direction"].tolist() == ["negative", "positive"]
    assert "2 credible" in describe_credible(summary, 0.9)
    assert "No bias is credible" in describe_credible(credible_summary(df.iloc[2:3]), 0.9)
    assert len(credible_summary(df, source=None)) == 3


def test_recovery_bars_pass_a_calibrated_table_and_fail_broken_copies():
    """The contrast-recovery test's summaries (``tests/test_contrasts_recovery.py``) on a
    conjugate normal posterior of 40 cells: calibrated passes; a flipped sign, intervals half
    as wide and a doubled scale each fail the bar meant for them."""
    from test_contrasts_recovery import KEYS, Z_HALF, failures, recovery

    rng = np.random.default_rng(3)
    truth = rng.normal(size=40)
    data = truth + rng.normal(scale=0.5, size=40)
    mean, sd = data / 1.25, np.sqrt(0.25 / 1.25)  # N(0, 1) prior, N(truth, 0.5^2) datum
    cells = pd.DataFrame({k: [f"{k}{i}" for i in range(40)] for k in KEYS})
    table = cells.assign(mean=mean, lower=mean - Z_HALF * sd, upper=mean + Z_HALF * sd)
    truth_table = cells.assign(truth=truth)
    calibrated = recovery(table, truth_table)
    assert not failures(calibrated), calibrated
    assert 0.8 <= calibrated["coverage"] and 0.5 < calibrated["z2"] < 1.5
    flipped = table.assign(mean=-mean, lower=-table["upper"], upper=-table["lower"])
    narrow = table.assign(lower=mean - Z_HALF * sd / 2, upper=mean + Z_HALF * sd / 2)
    doubled = table.assign(mean=2 * mean, lower=2 * table["lower"], upper=2 * table["upper"])
    assert any(f.startswith("coverage") for f in failures(recovery(flipped, truth_table)))
    assert [f for f in failures(recovery(narrow, truth_table)) if f.startswith("z2")]
    assert [f for f in failures(recovery(doubled, truth_table)) if f.startswith("calibration")]
