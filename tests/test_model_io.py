"""Fit a tiny wave with real nutpie sampling, save it, load it back, and refuse bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vp_bayes.errors import InputError
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.diagnostics import convergence_problems, ppc_summary
from vp_bayes.model.fit import fit_wave, thin
from vp_bayes.model.io import load_model, save_model
from vp_bayes.wave.io import write_wave
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def tiny():
    sim = simulate_wave(n_participants=50, n_items=10, items_per_participant=8, seed=5,
                        n_llm=1, personas=False)
    model = fit_wave(sim.wave, ModelConfig(), SamplerConfig(draws=60, tune=60, seed=5),
                     progress=False, ppc_draws=30)
    return sim, model


def test_fitted_object_has_the_documented_contents(tiny):
    sim, model = tiny
    post = model.posterior
    for name in ("beta", "b", "kappa", "theta", "alpha", "corr", "sigma_alpha",
                 "effect_gender", "effect_age"):
        assert name in post, name
    assert not any(str(v).endswith("_z") for v in post.data_vars)
    assert post["beta"].dims == ("chain", "draw", "item", "value")
    assert model.items == tuple(sim.wave.items.index)
    assert {"r_hat_max", "ess_bulk_min", "ess_tail_min"} <= set(model.diagnostics.columns)
    assert len(ppc_summary(model)) == 10
    ppc = model.idata["ppc"].to_dataset()
    np.testing.assert_allclose(ppc["observed"].sum("category"), 1.0)
    # 60 draws cannot pass the bar: the warnings must say so in words.
    assert any("effective sample size" in p or "R-hat" in p for p in convergence_problems(model))


def test_round_trip(tiny, tmp_path):
    sim, model = tiny
    path = save_model(model, tmp_path / "m.nc")
    assert path.with_suffix(".md").read_text().startswith("# Item model card")
    loaded = load_model(path, wave=sim.wave)
    assert loaded.model_config == model.model_config
    assert loaded.sampler_config == model.sampler_config
    # saved as run: the "auto" geometry settings resolved for these raw answers
    assert loaded.model_config.loading_parameterization == "partial"
    assert (loaded.sampler_config.target_accept,
            loaded.sampler_config.low_rank_modified_mass_matrix) == (0.65, False)
    assert loaded.wave_hash == sim.wave.data_hash()
    np.testing.assert_allclose(loaded.posterior["beta"].values,
                               model.posterior["beta"].values, rtol=1e-6)
    assert list(loaded.diagnostics.index) == list(model.diagnostics.index)
    assert not list(tmp_path.glob("*.tmp"))


def test_thin_keeps_requested_draws(tiny):
    _, model = tiny
    assert thin(model, 20).posterior.sizes["draw"] == 20


def test_load_refuses_other_wave(tiny, tmp_path):
    sim, model = tiny
    path = save_model(model, tmp_path / "m.nc", card=False)
    other = simulate_wave(n_participants=50, n_items=10, items_per_participant=8, seed=6,
                          n_llm=1, personas=False)
    with pytest.raises(InputError, match="field 'wave_hash'"):
        load_model(path, wave=other.wave)


def _rewrite_attrs(path, **attrs):
    tree = xr.open_datatree(path, engine="netcdf4").load()
    tree.attrs.update(attrs)
    for key, value in attrs.items():
        if value is None:
            del tree.attrs[key]
    out = path.with_name("edited.nc")
    tree.to_netcdf(out, engine="netcdf4")
    return out


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"vp_bayes_version": "9.9.0"}, "vp_bayes_version"),
        ({"format": "something/else"}, "format"),
        ({"wave_hash": None}, "wave_hash"),
        ({"model_config": json.dumps({"thresholds": "shared", "nope": 1})}, "nope"),
    ],
)
def test_load_refuses_bad_files(tiny, tmp_path, attrs, field):
    _, model = tiny
    path = save_model(model, tmp_path / "m.nc", card=False)
    with pytest.raises(InputError, match=f"field '{field}'"):
        load_model(_rewrite_attrs(path, **attrs))


def test_load_reads_the_earlier_spelling_of_the_parameterization(tiny, tmp_path):
    _, model = tiny
    path = save_model(model, tmp_path / "m.nc", card=False)
    old = dict(model.model_config.to_dict(), loading_parameterization="noncentred")
    loaded = load_model(_rewrite_attrs(path, model_config=json.dumps(old)))
    assert loaded.model_config.loading_parameterization == "noncentered"
    assert loaded.model_config == replace(model.model_config,
                                          loading_parameterization="noncentered")


def test_load_reads_a_config_saved_before_the_value_prior_setting(tiny, tmp_path):
    """Fits saved before ``value_prior`` existed sampled the LKJ prior: their config loads
    as ``"lkj"``, not as today's default ``"auto"`` (which resolves to inverse-Wishart for
    raw answers); a fit saves the resolved prior."""
    _, model = tiny
    assert model.model_config.value_prior == "inverse_wishart"
    path = save_model(model, tmp_path / "m.nc", card=False)
    old = model.model_config.to_dict()
    del old["value_prior"]
    loaded = load_model(_rewrite_attrs(path, model_config=json.dumps(old)))
    assert loaded.model_config.value_prior == "lkj"


def test_load_reads_a_config_saved_before_the_integrate_scales_setting(tiny, tmp_path):
    """Fits saved before ``integrate_scales`` existed sampled the blocks' scales: their config
    loads as ``False``, not as today's ``None`` (which resolves to true for raw answers)."""
    _, model = tiny
    assert model.model_config.integrate_scales is True  # raw answers: saved as resolved
    path = save_model(model, tmp_path / "m.nc", card=False)
    old = model.model_config.to_dict()
    del old["integrate_scales"]
    loaded = load_model(_rewrite_attrs(path, model_config=json.dumps(old)))
    assert loaded.model_config.integrate_scales is False


def test_load_reads_a_config_saved_before_the_loading_scale_family(tiny, tmp_path):
    """Fits saved before ``loading_scale_family`` existed put a half-normal prior on the
    loadings' spreads: their config loads as ``"half_normal"``, not as today's ``"auto"``
    (the gamma for calibrated values, as the shipped real-wave model's are, and for raw
    answers), and so does the shipped model; a fit saves the family it resolved."""
    _, model = tiny
    assert model.model_config.loading_scale_family == "gamma"  # raw answers
    path = save_model(model, tmp_path / "m.nc", card=False)
    half = dict(model.model_config.to_dict(), loading_scale_family="half_normal")
    assert load_model(_rewrite_attrs(path, model_config=json.dumps(half))
                      ).model_config.loading_scale_family == "half_normal"
    old = model.model_config.to_dict()
    del old["loading_scale_family"], old["loading_scale_rate"]
    loaded = load_model(_rewrite_attrs(path, model_config=json.dumps(old)))
    assert loaded.model_config.loading_scale_family == "half_normal"
    shipped = Path(__file__).resolve().parents[1] / "models" / "valueportrait.nc"
    assert load_model(shipped).model_config.loading_scale_family == "half_normal"


def test_load_reads_a_config_saved_before_anchored_styles(tiny, tmp_path):
    """Fits saved before ``style_parameterization`` existed sampled non-centred response
    styles, the default: their config loads as ``"noncentered"``, and so does the shipped
    model."""
    _, model = tiny
    assert model.model_config.style_parameterization == "noncentered"  # raw answers
    path = save_model(model, tmp_path / "m.nc", card=False)
    old = model.model_config.to_dict()
    del old["style_parameterization"]
    loaded = load_model(_rewrite_attrs(path, model_config=json.dumps(old)))
    assert loaded.model_config.style_parameterization == "noncentered"
    shipped = Path(__file__).resolve().parents[1] / "models" / "valueportrait.nc"
    assert load_model(shipped).model_config.style_parameterization == "noncentered"


def test_load_refuses_non_models(tmp_path):
    with pytest.raises(InputError, match="model file not found"):
        load_model(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not netcdf")
    with pytest.raises(InputError, match="junk.nc"):
        load_model(junk)


def test_cli_fit_strict_exits_nonzero_and_bad_wave_exits_2(tiny, tmp_path):
    sim, _ = tiny
    wave_dir = write_wave(replace(sim.wave), tmp_path / "wave")
    out = tmp_path / "m.nc"
    cmd = [sys.executable, "-m", "vp_bayes", "fit", str(wave_dir), "--out", str(out),
           "--draws", "60", "--tune", "60", "--strict", "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert res.returncode == 1, res.stderr[-2000:]
    assert "strict: convergence bar not met" in res.stderr
    assert out.exists() and out.with_suffix(".md").exists()
    (wave_dir / "wave.json").write_text("{")
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "wave.json" in res.stderr
    res = subprocess.run([*cmd[:7], "--draws", "0"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip() == ("error: command line, field 'draws': "
                                  "must be a positive whole number")


def test_rating_log_likelihood_matches_direct_category_probabilities(tiny):
    """Pointwise log-likelihood = log(sigmoid(c_k - eta) - sigmoid(c_{k-1} - eta)) per rating."""
    from scipy.special import expit

    from vp_bayes.model.diagnostics import (
        loo,
        loo_comparison,
        rating_log_likelihood,
        rating_log_likelihood_total,
    )

    _, model = tiny
    ll = rating_log_likelihood(model)
    # the per-draw sum prior sensitivity power-scales, computed in chunks without the array
    np.testing.assert_allclose(rating_log_likelihood_total(model, chunk=7).values,
                               ll.sum("rating").values, rtol=1e-12)
    post = model.idata["posterior"].to_dataset()
    assert ll.shape[:2] == (post.sizes["chain"], post.sizes["draw"])
    const = model.idata["constant_data"].to_dataset()
    i, j, y = (const[k].values for k in ("rating_participant", "rating_item", "rating_y"))
    for chain, draw in [(0, 0), (1, 17)]:
        p = post.isel(chain=chain, draw=draw)
        eta = (p["beta"].values[j] * p["theta"].values[i]).sum(-1) + p["alpha"].values[i] \
            + p["b"].values[j]
        cdf = expit(np.r_[-np.inf, p["kappa"].values, np.inf][None, :] - eta[:, None])
        expected = np.log(np.diff(cdf, axis=1)[np.arange(y.size), y])
        np.testing.assert_allclose(ll.isel(chain=chain, draw=draw).values, expected, rtol=1e-6)
    res = loo(model)
    assert np.isfinite(res.elpd) and res.elpd < 0
    table = loo_comparison({"a": model, "b": model})
    assert len(table) == 2 and "elpd" in table.columns


def test_draw_rows_of_a_view_of_the_first_draws_are_those_of_a_copy():
    """A fit that stops early keeps a view of its run's first draws (not contiguous across
    chains); the rows the log-likelihood reads at flat, chain-major draw indices are those of
    a contiguous copy, whatever the variable's dimension order."""
    from vp_bayes.model.diagnostics import _draw_rows

    rng = np.random.default_rng(0)
    full = xr.Dataset({"beta": (("chain", "draw", "item", "value"), rng.normal(size=(3, 9, 4, 2))),
                       "alpha": (("participant", "draw", "chain"), rng.normal(size=(5, 9, 3)))})
    view = full.isel(draw=slice(0, 6))
    assert not view["beta"].values.flags.c_contiguous
    idx = np.array([0, 5, 6, 11, 17, 2])
    for name in ("beta", "alpha"):
        copy = np.ascontiguousarray(view[name].transpose("chain", "draw", ...).values)
        np.testing.assert_array_equal(_draw_rows(view, name, idx),
                                      copy.reshape(18, *copy.shape[2:])[idx])


def test_draw_rows_of_a_view_copy_only_the_rows_asked_for():
    """Reading 25 draws of a view (a stopped fit's posterior) allocates about those 25 rows,
    not the whole variable, which a flat reshape of the view copies (numpy reports its
    allocations to tracemalloc)."""
    import tracemalloc

    from vp_bayes.model.diagnostics import _draw_rows

    full = xr.Dataset({"theta": (("chain", "draw", "participant", "value"),
                                 np.zeros((4, 700, 50, 10)))})
    view = full.isel(draw=slice(0, 600))  # 9.6 MB; 25 rows are 0.1 MB
    tracemalloc.start()
    try:
        rows = _draw_rows(view, "theta", np.arange(100, 125))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows.shape == (25, 50, 10)
    assert peak < 1_000_000, f"{peak} bytes allocated for 25 rows of 100,000 bytes"


def test_card_command_compares_fits_by_loo_and_adds_prior_sensitivity(tiny, tmp_path,
                                                                      monkeypatch, capsys):
    """``vp-bayes card MODEL --wave W --compare OTHER``: the card gets both sections."""
    from vp_bayes.cli import main
    from vp_bayes.model.diagnostics import loo, loo_comparison

    sim, model = tiny
    other = fit_wave(sim.wave, ModelConfig(loading_prior="normal"),
                     SamplerConfig(draws=60, tune=60, seed=6), progress=False, ppc_draws=30)
    write_wave(sim.wave, tmp_path / "wave")
    first = save_model(model, tmp_path / "student.nc")
    second = save_model(other, tmp_path / "normal.nc")
    table = loo_comparison({"student": model, "normal": other})
    assert list(table["fit"]) == sorted(table["fit"], key=lambda f: -table.set_index("fit")
                                        .loc[f, "elpd"])  # best first
    by_fit = table.set_index("fit")
    assert by_fit.loc["student", "settings"] == "(reference)"
    assert by_fit.loc["normal", "settings"] == "loading_prior=normal"
    # "auto" is named by what it resolved to when fitted (it has meant different inputs)
    tree = model.idata.copy()
    tree.attrs = {**tree.attrs, "value_input": "exact"}
    relabelled = loo_comparison({"now": model, "then": replace(model, idata=tree)})
    assert relabelled.set_index("fit").loc["then", "settings"] == "value_input=exact"
    own = loo(model)
    assert by_fit.loc["student", "elpd"] == pytest.approx(own.elpd)
    assert by_fit["elpd_diff"].max() == 0.0 and (by_fit["elpd_diff"] <= 0).all()
    assert by_fit.loc["student", "bad_k"] == int((own.pareto_k.values > own.good_k).sum())
    cfg = other.sampler_config
    assert by_fit.loc["normal", "budget"] == f"{cfg.chains} x ({cfg.tune} + {cfg.draws})"
    assert by_fit.loc["normal", "saved"] == f"{cfg.chains} x {cfg.draws}"
    assert by_fit.loc["normal", "r_hat_max"] == other.diagnostics["r_hat_max"].max()

    monkeypatch.setattr(sys, "argv", ["vp-bayes", "card", str(first), "--wave",
                                      str(tmp_path / "wave"), "--compare", str(second)])
    try:
        main()
    except SystemExit as exit_:
        assert not exit_.code, capsys.readouterr().err
    card = first.with_suffix(".md").read_text()
    assert "## Model comparison" in card and "| normal | loading_prior=normal |" in card
    assert f"{by_fit.loc['normal', 'elpd']:.1f}" in card
    sensitivity = card.split("## Prior sensitivity")[1].split("##")[0]
    assert "Not computed" not in sensitivity and "| beta_sd |" in sensitivity
    with pytest.raises(ValueError, match="different waves"):
        loo_comparison({"a": model, "b": replace(other, wave_hash="0" * 64)})


@pytest.mark.parametrize("init", ["jitter", "advi"])
def test_draws_do_not_depend_on_how_many_chains_run_at_once(tiny, monkeypatch, init):
    """Chains run on every usable CPU (``fit.usable_cores``) on both sampling paths
    (``pm.sample`` from the prior's centre, nutpie from ADVI draws); a fit's draws are the
    same when they run one at a time, so the tests' fixed fits do not depend on the machine.

    The spy samples the compiled model a second time with ``cores=1`` (one compilation, not
    two fits)."""
    import nutpie

    import vp_bayes.model.fit as fit_module

    if fit_module.usable_cores() < 2:
        pytest.skip("one usable CPU: nothing to compare")
    sim, _ = tiny
    runs: list[tuple[int, object, object]] = []
    real_sample = nutpie.sample

    def spy(*args, **kwargs):
        trace = real_sample(*args, **kwargs)
        alone = real_sample(*args, **{**kwargs, "cores": 1})
        runs.append((kwargs["cores"], trace, alone))
        return trace

    monkeypatch.setattr(nutpie, "sample", spy)  # both paths call it (nutpie_path)
    config = SamplerConfig(draws=60, tune=60, seed=5, init=init, advi_iterations=500)
    fit_wave(sim.wave, ModelConfig(), config, progress=False, ppc_draws=10)
    assert len(runs) == 1
    cores, trace, alone = runs[0]
    assert cores == fit_module.usable_cores() >= 2
    together, one_at_a_time = (t.posterior.to_dataset() for t in (trace, alone))  # DataTrees
    assert set(together.data_vars) == set(one_at_a_time.data_vars) and "beta" in together
    for name in together.data_vars:
        np.testing.assert_array_equal(together[name].values, one_at_a_time[name].values)


_FIT_TINY = """
import sys
import numpy as np
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.fit import fit_wave
from vp_bayes.wave.simulate import simulate_wave
sim = simulate_wave(n_participants=50, n_items=10, items_per_participant=8, seed=5, n_llm=1,
                    personas=False, prescored=True)
fit = fit_wave(sim.wave, ModelConfig(value_input="exact"), SamplerConfig(draws=20, tune=20, seed=5),
               progress=False, ppc_draws=5)
assert fit.sampler_config.fused_likelihood  # the default: the fused ops' kernels compiled too
np.save(sys.argv[1], fit.posterior["beta"].values)
"""


@pytest.mark.slow
def test_draws_do_not_depend_on_the_compile_cache(tmp_path, cold_compile_env):
    """One seed gives the same draws in a process that compiles the model fresh (a cold
    PyTensor/Numba cache, as on a new machine or in CI) and in one that loads it from the
    cache: fast-math flags, which made them differ, are off while sampling
    (``compiling.REPRODUCIBLE_FLAGS``). With them on (``REPRODUCIBLE_FLAGS = {}``) the same two
    processes gave draws of ``beta`` up to 1.9 apart (this test's exact-values model, which
    compiles in about a third of the latent model's time; the latent model: up to 3.0).
    Numba's own cache starts empty too (``NUMBA_CACHE_DIR``), as on a fresh clone."""
    draws = []
    for run in ("cold", "warm"):
        out = tmp_path / f"{run}.npy"
        done = subprocess.run([sys.executable, "-c", _FIT_TINY, str(out)], env=cold_compile_env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        draws.append(np.load(out))
        # the first run compiled into the empty cache: the second loads from it
        assert any(p.is_file() for p in (tmp_path / "cache").rglob("*.nbi")), run
    np.testing.assert_array_equal(draws[0], draws[1])


def test_stuck_correlation_chain_is_named():
    from vp_bayes import dims
    from vp_bayes.model.diagnostics import stuck_correlations

    values = ["self_direction", "stimulation", "hedonism"]
    healthy = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    stuck = healthy.copy()
    stuck[0, 1] = stuck[1, 0] = 0.999
    draws = np.stack([np.broadcast_to(stuck, (20, 3, 3)), np.broadcast_to(healthy, (20, 3, 3))])
    post = xr.Dataset({"corr": (("chain", "draw", dims.VALUE, f"{dims.VALUE}_b"), draws)},
                      coords={dims.VALUE: values, f"{dims.VALUE}_b": values,
                              "chain": [0, 1]})
    problems = stuck_correlations(post)
    assert len(problems) == 1
    assert problems[0].startswith("chain 0: correlation of self_direction and stimulation")
    assert stuck_correlations(post.isel(chain=[1])) == []
    assert stuck_correlations(post.drop_vars("corr")) == []


class _Stop(Exception):
    """Raised by the spy once nutpie's settings are seen (no sampling needed)."""


def test_every_compilation_of_a_fit_runs_without_fast_math(monkeypatch):
    """nutpie from PyMC's initial points, nutpie from ADVI starts (alone, and in a fit, where
    ADVI reads nutpie's compiled density), ADVI's gradient and its draws all compile with
    ``compiling.REPRODUCIBLE_FLAGS`` when PyTensor's flags say otherwise (the tests' conftest
    turns fast-math off for the whole session; here it is on, as for a user)."""
    import pymc as pm
    import pytensor

    from vp_bayes.model import nutpie_path
    from vp_bayes.model.build import build_model
    from vp_bayes.model.variational import MeanField, fit_meanfield, meanfield_posterior
    from vp_bayes.model.warmstart import sample_nutpie_from

    sim = simulate_wave(n_participants=20, n_items=6, items_per_participant=4, seed=3,
                        n_llm=1, personas=False)
    model = build_model(sim.wave, ModelConfig())
    seen: list[tuple[str, bool]] = []

    def spy(name):
        def call(*args, **kwargs):
            seen.append((name, pytensor.config.numba__fastmath))
            raise _Stop
        return call

    monkeypatch.setattr(pm.Model, "logp_dlogp_function", spy("advi gradient"))
    monkeypatch.setattr(nutpie_path, "compile_nutpie", spy("nutpie"))
    size = sum(int(np.prod(np.shape(v))) for v in model.initial_point().values())
    approx = MeanField(np.zeros(size), np.ones(size), np.zeros(1), 0.0, 0.0)
    jitter = SamplerConfig(draws=5, tune=5, init="jitter")  # chains from PyMC's initial points
    advi = SamplerConfig(draws=5, tune=5, init="advi")  # ADVI on nutpie's compiled density
    with pytensor.config.change_flags(numba__fastmath=True):
        for run in (lambda: fit_meanfield(model),
                    lambda: sample_nutpie_from(model, approx, draws=5, tune=5, chains=1, seed=1,
                                               progress=False),
                    lambda: fit_wave(sim.wave, ModelConfig(), jitter, progress=False),
                    lambda: fit_wave(sim.wave, ModelConfig(), advi, progress=False)):
            with pytest.raises(_Stop):
                run()
        monkeypatch.setattr(pytensor, "function", spy("advi draws"))
        with pytest.raises(_Stop):
            meanfield_posterior(model, approx, draws=2, seed=1)
        assert pytensor.config.numba__fastmath  # the contexts restored the session's flag
    assert [name for name, _ in seen] == ["advi gradient", "nutpie", "nutpie", "nutpie",
                                          "advi draws"]
    assert seen == [(name, False) for name, _ in seen]


@pytest.mark.parametrize("init", ["jitter", "advi"])
def test_sampler_settings_reach_nutpie_on_both_paths(tiny, monkeypatch, init):
    """``target_accept`` and the low-rank mass matrix reach ``nutpie.sample`` whether PyMC
    starts the chains (jitter) or they start from ADVI draws; ``target_accept`` once did not."""
    import nutpie

    sim, _ = tiny
    seen: list[dict] = []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        raise _Stop

    monkeypatch.setattr(nutpie, "sample", spy)
    config = SamplerConfig(draws=60, tune=60, seed=5, init=init, advi_iterations=500,
                           target_accept=0.93, low_rank_modified_mass_matrix=True)
    with pytest.raises(_Stop):
        fit_wave(sim.wave, ModelConfig(), config, progress=False, ppc_draws=10)
    assert len(seen) == 1
    assert seen[0]["target_accept"] == 0.93 and seen[0]["adaptation"] == "low_rank"
    seen.clear()  # left unset: the raw answers' own setting (0.65, diagonal mass matrix)
    unset = SamplerConfig(draws=60, tune=60, seed=5, init=init, advi_iterations=500)
    with pytest.raises(_Stop):
        fit_wave(sim.wave, ModelConfig(), unset, progress=False, ppc_draws=10)
    assert seen[0]["target_accept"] == 0.65 and "adaptation" not in seen[0]
