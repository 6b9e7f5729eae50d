"""The front door: ``import vp_bayes as vb`` end to end on a tiny simulated wave, and the
README's Python API block executed (with smaller sizes) so it stays true."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import vp_bayes as vb
from vp_bayes import dims

REPO = Path(__file__).resolve().parents[1]
# Sizes of tests/test_model_variational.py's ADVI fit (seconds), with personas for contrasts.
SIM = dict(n_participants=60, n_items=12, items_per_participant=8, seed=7, n_llm=1)
FIT = dict(sampler="advi", advi_iterations=400, draws=50, seed=7, progress=False, ppc_draws=20)
SCORE = dict(n_item_draws=20, n_per_draw=5, progress=False)
N_VALUES = len(dims.VALUES_10)


# ----------------------------------------------------------------------------- names
def test_every_public_name_resolves():
    assert set(vb.__all__) == {"__version__", *vb._EXPORTS}
    assert len(vb.__all__) == len(set(vb.__all__))
    for name in vb.__all__:
        assert getattr(vb, name) is not None, name
    assert set(vb.__all__) <= set(dir(vb))
    for name in ("fit", "select", "contrast", "report", "summary", "score", "load_wave",
                 "simulate_wave", "read_llm_ratings", "classic_scores", "load_model",
                 "save_model"):
        assert callable(getattr(vb, name)), name
    for name in ("Wave", "SimulatedWave", "ItemModel", "Portraits", "ContrastReport"):
        cls = getattr(vb, name)
        assert isinstance(cls, type) and callable(cls.summary), name
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        vb.nonsense  # noqa: B018


def test_import_is_lazy():
    code = ("import sys, vp_bayes; heavy = [m for m in ('pymc', 'pytensor', 'matplotlib', "
            "'xarray', 'vp_bayes.model.fit') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_report_stays_the_verb_after_its_package_is_imported():
    import vp_bayes.report.html  # noqa: F401  (binds vp_bayes.report to the package)

    assert vb.report is sys.modules["vp_bayes.report"]
    assert callable(vb.report)
    params = inspect.signature(vb.report).parameters
    assert list(params)[:4] == ["out_dir", "item_model", "portraits", "contrasts"]
    assert vb.report.write_report is vp_bayes.report.html.write_report
    with pytest.raises(vb.InputError, match="nothing to report"):
        vb.report("unused")


def test_fit_options_route_to_the_configs_and_unknown_ones_fail_before_fitting():
    from vp_bayes.api import _config_options

    model_fields = {f.name for f in fields(vb.ModelConfig)}
    sampler_fields = {f.name for f in fields(vb.SamplerConfig)}
    assert not model_fields & sampler_fields  # one keyword, one owner
    model_opts, sampler_opts = _config_options(dict(thresholds="item", init="jitter"))
    assert model_opts == {"thresholds": "item"} and sampler_opts == {"init": "jitter"}
    with pytest.raises(TypeError, match="unknown option.*drawz"):
        vb.fit("no/such/wave", drawz=10)
    with pytest.raises(vb.InputError, match="sampler"):
        vb.fit("no/such/wave", sampler="gibbs")


# ----------------------------------------------------------------------- the pipeline
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One pass through the front door, as a user would type it."""
    sim = vb.simulate_wave(**SIM)
    tags = vb.select(sim.wave)
    model = vb.fit(sim.wave, **FIT)
    portraits = vb.score(model, sim.llm_ratings, **SCORE)
    contrasts = vb.contrast(model, portraits, axes="gender")
    return dict(sim=sim, tags=tags, model=model, portraits=portraits, contrasts=contrasts,
                tmp=tmp_path_factory.mktemp("front_door"))


def test_wave_summaries_count_the_tables(run, tmp_path):
    sim = run["sim"]
    wave = sim.wave
    summary = wave.summary()
    assert list(summary.columns) == ["table", "rows", "columns"]
    rows = summary.set_index("table")["rows"]
    assert rows["participants"] == SIM["n_participants"] == len(wave.participants)
    assert rows["items"] == SIM["n_items"]
    assert rows["ratings"] == SIM["n_participants"] * SIM["items_per_participant"]
    assert rows["instrument"] == SIM["n_participants"]
    sim_summary = vb.summary(sim)
    assert list(sim_summary["table"]) == [*summary["table"], "llm_ratings"]
    assert sim_summary["rows"].iloc[-1] == len(sim.llm_ratings) > 0
    # a wave folder on disk reaches the same verbs
    folder = vb.write_wave(wave, tmp_path / "wave")
    pd.testing.assert_frame_equal(vb.summary(vb.load_wave(folder)), summary)
    pd.testing.assert_frame_equal(vb.select(folder), run["tags"])


def test_select_and_classic_scores(run):
    tags, sim = run["tags"], run["sim"]
    assert list(tags.columns) == ["item_id", "value", "r", "p", "p_adjusted", "n", "tagged"]
    assert len(tags) == SIM["n_items"] * N_VALUES
    assert np.isfinite(tags["r"]).all() and tags["r"].abs().le(1).all()
    counts = vb.summary(tags)
    assert list(counts.columns) == ["value", "n_items", "n_tagged"]
    assert list(counts["value"]) == list(dims.VALUES_10)
    assert (counts["n_items"] == SIM["n_items"]).all()
    assert counts["n_tagged"].sum() == tags["tagged"].sum() > 0
    classic = vb.classic_scores(tags, sim.llm_ratings)
    assert {"respondent", "value", "score", "centered_score", "n_items"} <= set(classic.columns)
    assert set(classic["respondent"]) == set(sim.llm_ratings["respondent"])
    assert np.isfinite(classic["centered_score"]).all()


def test_fit_returns_an_item_model_with_a_convergence_summary(run, tmp_path):
    model = run["model"]
    assert isinstance(model, vb.ItemModel)
    assert model.sampler_config.sampler == "advi" and model.sampler_config.seed == 7
    assert model.sampler_config.advi_iterations == 400
    assert model.items == tuple(run["sim"].wave.items.index)
    summary = model.summary()
    assert list(summary.columns) == ["variable", "n_elements", "r_hat_max", "ess_bulk_min",
                                     "ess_tail_min", "item_parameter", "divergences"]
    table = summary.set_index("variable")
    assert {"beta", "b", "kappa", "theta", "corr"} <= set(table.index)
    assert table.loc["beta", "n_elements"] == SIM["n_items"] * N_VALUES
    assert set(table.index[table["item_parameter"]]) == {"beta", "b", "kappa"}
    assert (table["ess_bulk_min"] > 0).all() and np.isfinite(table["ess_bulk_min"]).all()
    assert table["divergences"].isna().all()  # ADVI has no sampler statistics
    # the summary survives the file
    loaded = vb.load_model(vb.save_model(model, tmp_path / "m.nc"))
    pd.testing.assert_frame_equal(loaded.summary().set_index("variable").sort_index(),
                                  table.sort_index(), check_dtype=False, rtol=1e-6)


def test_item_model_summary_of_a_nuts_fit_counts_divergences():
    rng = np.random.default_rng(0)
    post = xr.Dataset({"beta": (("chain", "draw", dims.ITEM, dims.VALUE),
                                rng.normal(size=(2, 40, 3, 2)))},
                      coords={dims.ITEM: ["i1", "i2", "i3"], dims.VALUE: ["power", "security"]})
    diverging = np.zeros((2, 40), dtype=bool)
    diverging[1, :5] = True
    stats = xr.Dataset({"diverging": (("chain", "draw"), diverging),
                        "energy": (("chain", "draw"), rng.normal(size=(2, 40)))})
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    model = vb.ItemModel(idata=tree, model_config=vb.ModelConfig(),
                         sampler_config=vb.SamplerConfig(), wave_hash="x")
    summary = vb.summary(model)  # no stored diagnostics: computed from the draws
    assert summary["variable"].tolist() == ["beta"]
    row = summary.iloc[0]
    assert row["n_elements"] == 6 and row["divergences"] == 5 and bool(row["item_parameter"])
    assert 0.9 < row["r_hat_max"] < 1.2 and row["ess_bulk_min"] > 10


def test_score_summary_is_one_row_per_respondent_and_value(run):
    portraits, sim = run["portraits"], run["sim"]
    assert isinstance(portraits, vb.Portraits)
    respondents = list(pd.unique(sim.llm_ratings["respondent"]))
    assert len(respondents) == 6  # sim-llm-1 and five personas
    summary = portraits.summary()
    assert list(summary.columns) == ["respondent", "model", "persona", "value", "mean", "sd",
                                     "lower", "upper", "mass", "percentile", "reliability",
                                     "misfit"]
    assert len(summary) == len(respondents) * N_VALUES
    assert set(summary["respondent"]) == set(respondents)
    assert set(summary["model"]) == {"sim-llm-1"}
    numbers = summary[["mean", "sd", "lower", "upper", "percentile", "reliability"]]
    assert np.isfinite(numbers.to_numpy(dtype=float)).all()
    assert (summary["lower"] <= summary["mean"]).all()
    assert (summary["mean"] <= summary["upper"]).all()
    assert summary["percentile"].between(0, 100).all() and (summary["reliability"] <= 1).all()
    assert summary["misfit"].dtype == bool and (summary["mass"] == dims.INTERVAL_MASS).all()
    pd.testing.assert_frame_equal(vb.summary(portraits), summary)


def test_contrast_summary_has_humans_personas_and_bias(run):
    report = run["contrasts"]
    assert isinstance(report, vb.ContrastReport)
    summary = report.summary()
    assert list(summary.columns) == ["source", "model", "axis", "group_a", "group_b", "value",
                                     "mean", "lower", "upper", "prob_positive", "credible"]
    assert set(summary["source"]) == {"human", "llm", "bias"}
    assert set(summary["axis"]) == {"gender"}  # axes="gender" was honoured
    pair = summary[(summary["source"] == "human") & (summary["group_b"] == "female")]
    assert len(pair) == N_VALUES and (pair["group_a"] == "male").all()
    nums = summary[["mean", "lower", "upper", "prob_positive"]].to_numpy(dtype=float)
    assert np.isfinite(nums).all()
    assert (summary["lower"] <= summary["upper"]).all()
    expected = (summary["lower"] > 0) | (summary["upper"] < 0)
    assert summary["credible"].tolist() == expected.tolist()
    # the credible bias rows are the report's own credible table
    bias = summary[(summary["source"] == "bias") & summary["credible"]]
    assert len(bias) == len(report.credible)


def test_report_writes_the_page_from_result_objects(run):
    out = run["tmp"] / "report"
    index = vb.report(out, item_model=run["model"], portraits=run["portraits"],
                      contrasts=run["contrasts"], selection=run["tags"], title="front door")
    assert index == out / "index.html"
    html = index.read_text(encoding="utf-8")
    assert "<title>front door</title>" in html
    assert "sim-llm-1" in html and "No selection comparison given" not in html
    assert "Tagged by either rule" in html  # tag table compared with the posterior selection
    assert len(list((out / "figures").glob("*.png"))) >= 3


def test_summary_refuses_what_it_does_not_know():
    with pytest.raises(TypeError, match="tag tables"):
        vb.summary(pd.DataFrame({"summary": [1]}))
    with pytest.raises(TypeError, match="no summary for 'int'"):
        vb.summary(3)


# ------------------------------------------------------------------- README's API block
def _readme_api_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section holds one python block"
    return blocks[0]


def test_readme_python_api_block_runs(monkeypatch, tmp_path):
    """Execute the README's block as written, with the sizes of this file's pipeline."""
    code = _readme_api_block()
    assert code.startswith("import vp_bayes as vb\n")
    real = {name: getattr(vb, name) for name in ("simulate_wave", "fit", "score")}
    calls: list[str] = []

    def smaller(name: str, sizes: dict):
        def call(*args, **kwargs):
            calls.append(name)
            return real[name](*args, **{**kwargs, **sizes})
        return call

    monkeypatch.setattr(vb, "simulate_wave", smaller("simulate_wave", SIM))
    monkeypatch.setattr(vb, "fit", smaller("fit", FIT))
    monkeypatch.setattr(vb, "score", smaller("score", SCORE))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)  # noqa: S102
    assert calls == ["simulate_wave", "fit", "score"]
    assert (tmp_path / "out/api/model.nc").is_file() and (tmp_path / "out/api/model.md").is_file()
    assert (tmp_path / "out/api/report/index.html").is_file()
    assert isinstance(namespace["model"], vb.ItemModel)
    assert len(namespace["portraits"].summary()) == 6 * N_VALUES
    assert set(namespace["contrasts"].summary()["source"]) == {"human", "llm", "bias"}
