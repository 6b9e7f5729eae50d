"""Report figures and input tables: titles, labels, mass, order, no overlapping labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import report_fakes as fake

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.model.diagnostics import fit_warnings
from vp_bayes.report import plots
from vp_bayes.report.tables import (
    check_selection,
    read_contrasts,
    read_portraits,
    read_selection,
    selection_summary,
)

LABELS = [plots.value_label(v) for v in dims.VALUES_10]


def _figures() -> dict[str, object]:
    p = fake.portraits()
    return {
        "forest": plots.portrait_forest(p, "gpt-4o|gender=male"),
        "forest_centered": plots.portrait_forest(p, "gpt-4o", scale="centered"),
        "polar": plots.portrait_polar(p, "gpt-4o"),
        "polar_centered": plots.portrait_polar(p, "llama-3.1-8b", scale="centered"),
        "compare": plots.compare_forest(p),
        "contrast_age": plots.contrast_forest(fake.contrasts(), "age", model="gpt-4o"),
        "contrast_gender": plots.contrast_forest(fake.contrasts(), "gender"),
        "ppc": plots.ppc_figure(fake.ppc()),
    }


@pytest.fixture(scope="module")
def figures():
    return _figures()


def _title(fig) -> str:
    texts = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    return " ".join(t for t in texts if t)


@pytest.mark.parametrize("name", list(_figures()))
def test_title_labels_and_mass(figures, name):
    fig = figures[name]
    assert "90%" in _title(fig), _title(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert visible
    for ax in visible:
        assert ax.get_xlabel().strip(), f"{name}: an axes without an x label"
    assert any(ax.get_ylabel().strip() for ax in visible), f"{name}: no y label"


@pytest.mark.parametrize("name", list(_figures()))
def test_no_overlapping_labels(figures, name):
    fig = figures[name]
    texts = plots.figure_texts(fig)
    assert len(texts) >= 10  # tick labels were found, so the check has something to check
    assert plots.overlapping_labels(fig) == []


def test_overlap_check_catches_crowded_labels():
    fig = plots.new_figure(2.0, 2.0)
    ax = fig.add_subplot()
    ax.set_xticks(np.arange(12), [f"a long label {i}" for i in range(12)])
    ax.set_xlabel("x")
    ax.set_title("crowded")
    pairs = plots.overlapping_labels(fig)
    assert ("a long label 0", "a long label 1") in pairs


def test_forest_is_in_circular_order_and_draws_the_table():
    p = fake.portraits()
    fig = plots.portrait_forest(p.sample(frac=1.0, random_state=0), "gpt-4o")
    ax = fig.axes[0]
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()],
                       strict=True), reverse=True)
    assert [t for _, t in ticks] == LABELS  # top to bottom = Schwartz circular order
    xs = [line for line in ax.lines if line.get_marker() == "o"][0].get_xdata()
    want = p[p.respondent == "gpt-4o"].set_index("value").loc[list(dims.VALUES_10), "mean"]
    np.testing.assert_allclose(np.asarray(xs, float), want.to_numpy())


def test_mass_comes_from_the_table():
    fig = plots.portrait_forest(fake.portraits(mass=0.8), "gpt-4o")
    assert "80% interval" in _title(fig)
    assert "90%" not in _title(fig)


def test_polar_ticks_follow_the_circle():
    fig = plots.portrait_polar(fake.portraits(), "gpt-4o")
    ax = fig.axes[0]
    angles = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == LABELS
    assert np.all(np.diff(angles) > 0)
    assert ax.get_theta_direction() == -1  # clockwise, Schwartz's usual drawing


def test_compare_dodges_respondents():
    p = fake.portraits()
    fig = plots.compare_forest(p)
    ax = fig.axes[0]
    pts = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(pts) == 3
    ys = np.stack([line.get_ydata() for line in pts])
    assert len(np.unique(ys.round(6))) == ys.size  # no two respondents share a row position
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list(fake.RESPONDENTS)


def test_ppc_shows_the_worst_item():
    table = fake.ppc()
    table.loc[table["item"] == "item05", "observed"] = [0.9, 0.02, 0.02, 0.02, 0.02, 0.02]
    fig = plots.ppc_figure(table)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[1] == "poorest fit: item05"


# ------------------------------------------------------------------ input tables
def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_read_portraits_round_trip(tmp_path):
    p = fake.portraits()
    p.loc[0, "value"] = "Self_Direction"  # any spelling is canonicalised
    got = read_portraits(_write(p, tmp_path / "p.csv"))
    assert got.loc[0, "value"] == "self_direction"
    assert len(got) == 30


@pytest.mark.parametrize(("edit", "row", "field"), [
    (lambda f: f.drop(columns="upper"), 0, "upper"),
    (lambda f: f.assign(mean=f["mean"].astype(object).where(f.index != 2, "high")), 3, "mean"),
    (lambda f: f.assign(value=f["value"].where(f.index != 4, "kindness")), 5, "value"),
    (lambda f: f.assign(lower=f["lower"].where(f.index != 6, 9.0)), 7, "lower"),
    (lambda f: f.assign(mass=f["mass"].where(f.index != 1, 90.0)), 2, "mass"),
    (lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True), 31, "value"),
])
def test_read_portraits_names_file_row_field(tmp_path, edit, row, field):
    path = _write(edit(fake.portraits()), tmp_path / "portraits.csv")
    with pytest.raises(InputError) as err:
        read_portraits(path)
    assert (err.value.row, err.value.field) == (row, field)
    assert str(path) in str(err.value)


def test_read_contrasts_checks_intervals(tmp_path):
    c = fake.contrasts()
    assert len(read_contrasts(_write(c, tmp_path / "c.csv"))) == len(c)
    c.loc[4, "upper"] = c.loc[4, "mean"] - 1.0
    with pytest.raises(InputError) as err:
        read_contrasts(_write(c, tmp_path / "c.csv"))
    assert err.value.row == 5


def test_read_selection_and_summary(tmp_path):
    frame = pd.DataFrame({
        "item_id": ["a", "a", "b", "b", "c"],
        "value": ["power", "security", "power", "security", "power"],
        "posterior_tagged": ["true", "false", "true", "false", "false"],
        "spearman_tagged": ["True", "True", "False", "False", "False"],
    })
    got = read_selection(_write(frame, tmp_path / "s.csv"))
    summary = selection_summary(got)
    # power: a both, b posterior only, c neither; security: a spearman only, b neither
    assert summary.loc["power", ["both", "posterior_only", "spearman_only", "neither"]
                       ].tolist() == [1, 1, 0, 1]
    assert summary.loc["security", ["both", "posterior_only", "spearman_only", "neither"]
                       ].tolist() == [0, 0, 1, 1]
    assert summary.loc["power", "agreement"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary.loc["total", "agreement"] == pytest.approx(3 / 5)
    assert list(summary.index) == ["power", "security", "total"]
    frame.loc[3, "spearman_tagged"] = "maybe"
    with pytest.raises(InputError) as err:
        check_selection(frame, "s.csv")
    assert (err.value.row, err.value.field) == (4, "spearman_tagged")


# ------------------------------------------------------------------ warnings
def _diag(**rhat: float) -> pd.DataFrame:
    frame = pd.DataFrame({"r_hat_max": rhat, "ess_bulk_min": 1000.0, "ess_tail_min": 900.0})
    frame.index.name = "variable"
    return frame


def test_warnings_in_plain_words():
    diag = _diag(beta=1.05, kappa=1.002, theta=1.03)
    diag.loc["kappa", "ess_bulk_min"] = 150.0
    got = fit_warnings(diag, {"divergences": 12.0, "bfmi_min": 0.2})
    text = "\n".join(got)
    assert "R-hat above 1.01 in 2 of 3 posterior variables (beta, theta)" in text
    assert "worst beta 1.050" in text and "run longer" in text
    assert "Bulk effective sample size below 400 in 1 of 3 posterior variables (kappa)" in text
    assert "12 divergent transitions" in text
    assert "E-BFMI 0.20" in text
    assert len(got) == 4


def test_no_warnings_for_a_clean_fit():
    assert fit_warnings(_diag(beta=1.001), {"divergences": 0.0, "bfmi_min": 0.9}) == []


def test_warnings_for_approximations_and_misfit():
    ppc = fake.ppc()
    ppc["outside"] = np.arange(len(ppc)) % 3 == 0  # a third outside their 90% intervals
    got = fit_warnings(_diag(beta=1.0), {"divergences": np.nan, "bfmi_min": np.nan},
                       sampler="advi", ppc=ppc)
    assert got[0].startswith("Fitted by advi, an approximation")
    assert "33% of observed item rating proportions fall outside" in got[1]


def test_nineteen_values_fit_without_overlaps():
    """The 19 refined values (PVQ-RR) keep their circular order and readable labels."""
    rng = np.random.default_rng(0)
    m = rng.normal(size=len(dims.VALUES_19))
    table = pd.DataFrame({"respondent": "x", "value": list(dims.VALUES_19)[::-1],
                          "mean": m, "lower": m - 0.3, "upper": m + 0.3, "mass": 0.9})
    for fig in (plots.portrait_forest(table, "x"), plots.portrait_polar(table, "x")):
        assert plots.overlapping_labels(fig) == []
    polar = plots.portrait_polar(table, "x")
    labels = [t.get_text().replace("\n", "") for t in polar.axes[0].get_xticklabels()]
    assert labels == [plots.value_label(v) for v in dims.VALUES_19]
    assert polar.get_supylabel().startswith("radius")


def test_contrast_panels_share_x_and_mark_credible_biases():
    """The contrast figure: one x range in every panel; a bias whose interval excludes 0 is
    drawn filled (its own legend entry), the others hollow."""
    from vp_bayes.report.contrast_plots import CREDIBLE, plot_contrasts

    table = fake.contrasts()
    fig = plot_contrasts(table)
    shown = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
    assert len(shown) == 4  # gender (1 pair) + age (3 pairs), one model
    assert len({ax.get_xlim() for ax in shown}) == 1
    bias = table[table["source"] == "bias"]
    n_credible = int(((bias["lower"] > 0) | (bias["upper"] < 0)).sum())
    assert 0 < n_credible < len(bias)  # the fake table has both kinds
    filled = 0
    for ax in shown:
        for bars in ax.containers:  # one errorbar container per drawn group
            if bars.get_label() == f"bias, {CREDIBLE}":
                filled += len(bars.lines[0].get_xdata())
    assert filled == n_credible
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert f"bias, {CREDIBLE}" in labels and "bias" in labels
