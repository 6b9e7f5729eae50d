"""Fits that stop when converged (``SamplerConfig.check_every``, ``nutpie_path.StopRule``):
the draws kept are the first ``n`` of the full run, the checkpoints are asked in order, and the
bar is the fit warnings' bar (``diagnostics.unconverged``)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr

from vp_bayes.errors import InputError
from vp_bayes.model import nutpie_path
from vp_bayes.model.build import build_model
from vp_bayes.model.compiling import reproducible
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.diagnostics import (
    ESS_MIN,
    R_HAT_MAX,
    convergence_table,
    fit_warnings,
    unconverged,
)
from vp_bayes.model.fit import fit_wave, thin
from vp_bayes.model.io import write_model_card
from vp_bayes.model.nutpie_path import StopRule, checkpoints
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def model() -> pm.Model:
    sim = simulate_wave(n_participants=30, n_items=6, items_per_participant=5, seed=8,
                        n_llm=1, personas=False)
    return build_model(sim.wave, ModelConfig())


@pytest.fixture(scope="module")
def compiled(model):
    with reproducible():
        return nutpie_path.compile_nutpie(model)


def _run(model, compiled, stop: StopRule | None, draws: int = 400) -> xr.DataTree:
    return nutpie_path.sample_nutpie(model, compiled, draws=draws, tune=100, chains=4, seed=3,
                                     cores=2, progress=False, stop=stop)


@pytest.fixture(scope="module")
def full(model, compiled) -> xr.DataTree:
    return _run(model, compiled, None)


def _assert_first_draws(cut: xr.DataTree, full: xr.DataTree, n: int) -> None:
    for group in ("posterior", "sample_stats"):
        ds, whole = cut[group].to_dataset(), full[group].to_dataset()
        assert ds.sizes["draw"] == n and ds.sizes["chain"] == 4
        for name in whole.data_vars:
            if "draw" in whole[name].dims:
                np.testing.assert_array_equal(ds[name].values,
                                              whole[name].isel(draw=slice(0, n)).values,
                                              err_msg=f"{group}.{name}")


def test_checkpoints_are_the_multiples_below_the_last_draw():
    assert checkpoints(1000, 250) == [250, 500, 750]
    assert checkpoints(1001, 250) == [250, 500, 750, 1000]
    assert checkpoints(100, 250) == []


def test_a_stopped_run_is_the_first_draws_of_the_full_run(model, compiled, full):
    asked = []

    def done(post: xr.Dataset) -> bool:
        asked.append(post.sizes["draw"])
        assert not np.isnan(post["beta"].values).any()  # every chain has its n draws
        return post.sizes["draw"] >= 200

    cut = _run(model, compiled, StopRule(100, done))
    assert asked == [100, 200]
    _assert_first_draws(cut, full, 200)


def test_a_rule_never_met_gives_the_full_run(model, compiled, full):
    asked = []
    whole = _run(model, compiled, StopRule(100, lambda post: asked.append(post.sizes["draw"])))
    assert asked == [100, 200, 300]
    _assert_first_draws(whole, full, 400)


def test_checkpoints_passed_while_the_screen_thinks_are_asked_in_order(model, compiled, full):
    """The chains end while the first screen is computed (the chains run on meanwhile): the
    later checkpoints are still asked, in order, from the ended run, so the draws kept do not
    depend on the machine's speed."""
    asked = []

    def screen(post: xr.Dataset) -> bool:
        asked.append(post.sizes["draw"])
        if len(asked) == 1:
            time.sleep(3.0)  # the 4 x 500 draws of this small model take well under a second
        return post.sizes["draw"] >= 300

    cut = _run(model, compiled, StopRule(100, lambda post: True, screen=screen,
                                         screened=lambda name, shape: True))
    assert asked == [100, 200, 300]
    _assert_first_draws(cut, full, 300)


def test_chains_ended_before_a_checkpoint_are_cut_at_the_same_draw(model, compiled, full,
                                                                   monkeypatch):
    """Where nutpie reports the chains ended before the counts reached a checkpoint, the
    ended run is screened and asked from that checkpoint on: the same answer as live."""
    monkeypatch.setattr(nutpie_path, "_reached", lambda *args: False)
    asked = []

    def screen(post: xr.Dataset) -> bool:
        asked.append((post.sizes["draw"], sorted(post.data_vars)))
        return post.sizes["draw"] >= 200

    def small(name: str, shape: tuple[int, ...]) -> bool:
        return int(np.prod(shape)) <= 6

    cut = _run(model, compiled, StopRule(100, lambda post: True, screen=screen, screened=small))
    names = nutpie_path._screened_names(compiled, StopRule(100, bool, screened=small))
    assert [n for n, _ in asked] == [100, 200] and asked[0][1] == sorted(names)
    # the item locations (zero-sum transformed; their scale integrated out) by their own name
    assert "b" in names and not any(name.endswith("__") for name in names)
    _assert_first_draws(cut, full, 200)


def test_the_screen_reads_the_draws_the_trace_holds(compiled):
    """The screen's reader of nutpie's raw trace gives each variable's draws after the
    warm-up, with the dimensions and values of nutpie's own conversion."""
    import nutpie

    sampler = nutpie.sample(compiled, draws=300, tune=100, chains=4, cores=2, seed=3,
                            progress_bar=False, save_warmup=False, blocking=False)
    try:
        assert nutpie_path._reached(sampler, np.zeros(4, dtype=np.int64), 1) is False
        every = StopRule(100, bool, screened=lambda name, shape: True)
        got = nutpie_path._screened_draws(
            sampler, nutpie_path._screened_names(compiled, every), 100, 250)
        whole = sampler.inspect()["posterior"].to_dataset().isel(draw=slice(0, 250))
    finally:
        sampler.cancel()
    assert set(got.data_vars) <= set(whole.data_vars)  # nutpie's reparameterisations left out
    assert {"beta", "theta", "kappa"} <= set(got.data_vars)
    for name in got.data_vars:
        assert got[name].dims == whole[name].dims, name
        np.testing.assert_array_equal(got[name].values, whole[name].values, err_msg=name)


def test_first_stop_cuts_an_ended_run_at_the_first_mark_met(full):
    asked = []

    def done(post: xr.Dataset) -> bool:
        asked.append(post.sizes["draw"])
        return post.sizes["draw"] >= 200

    cut = nutpie_path._first_stop(full, [100, 200, 300], StopRule(100, done), [])
    assert asked == [100, 200]
    _assert_first_draws(cut, full, 200)
    assert nutpie_path._first_stop(full, [100], StopRule(100, lambda p: False), []) is full


def test_an_error_in_the_rule_reaches_the_caller(model, compiled):
    def done(post: xr.Dataset) -> bool:
        raise RuntimeError("rule failed")

    with pytest.raises(RuntimeError, match="rule failed"):
        _run(model, compiled, StopRule(100, done), draws=20_000)


def _posterior(rng: np.random.Generator, draws: int, shift: float = 0.0) -> xr.Dataset:
    """iid draws of a scalar ``a`` and a vector ``b``; chain 0 of ``b`` moved by ``shift``."""
    a = rng.normal(size=(4, draws))
    b = rng.normal(size=(4, draws, 3))
    b[0] += shift
    return xr.Dataset({"a": (("chain", "draw"), a), "b": (("chain", "draw", "k"), b)})


def test_unconverged_names_the_first_variable_off_the_bar():
    rng = np.random.default_rng(5)
    mixed = _posterior(rng, 1000)
    assert unconverged(mixed) is None
    table = convergence_table(xr.DataTree.from_dict({"posterior": mixed}))
    assert (table["r_hat_max"] <= R_HAT_MAX).all() and (table["ess_bulk_min"] >= ESS_MIN).all()
    assert fit_warnings(table, {"divergences": 0.0, "bfmi_min": 1.0}) == []
    stuck = _posterior(rng, 1000, shift=1.0)  # chain 0 of b elsewhere: R-hat far above 1.01
    assert unconverged(stuck) == "b"
    assert any("R-hat above" in w for w in
               fit_warnings(convergence_table(xr.DataTree.from_dict({"posterior": stuck})),
                            {"divergences": 0.0, "bfmi_min": 1.0}))
    short = _posterior(rng, 60)  # mixed, but 4 x 60 draws cannot give an ESS of 400
    assert unconverged(short) == "a"  # the smallest variable is checked first
    assert unconverged(_posterior(rng, 3)) == "a"  # too few draws to diagnose: not converged


def test_a_fit_stops_at_a_checkpoint_that_meets_the_bar(tmp_path):
    """A small wave with exact values converges within the cap: the fit ends at a multiple of
    ``check_every`` below ``draws``, and its convergence table meets the bar."""
    sim = simulate_wave(n_participants=60, n_items=8, items_per_participant=6, seed=3,
                        n_llm=1, personas=False, prescored=True)
    cfg = SamplerConfig(draws=3000, tune=300, chains=4, seed=5, check_every=250)
    fitted = fit_wave(sim.wave, ModelConfig(value_input="exact"), cfg, progress=False,
                      ppc_draws=20)
    n = fitted.posterior.sizes["draw"]
    assert n < 3000 and n % 250 == 0
    table = fitted.diagnostics
    assert (table["r_hat_max"] <= R_HAT_MAX).all()
    assert (table[["ess_bulk_min", "ess_tail_min"]] >= ESS_MIN).all().all()
    assert fitted.sampler_config.check_every == 250
    assert fitted.idata.attrs["draws_sampled"] == n
    # the table the stopping rule computed is the one the saved draws give
    pd.testing.assert_frame_equal(table, convergence_table(fitted.idata))
    write_model_card(thin(fitted, 100), tmp_path / "m.md")
    assert (f"4 chains x 100 saved draws (of {n} drawn per chain; stopped at the convergence "
            "bar, checked every 250 draws of at most 3000)") in (tmp_path / "m.md").read_text()


@pytest.mark.parametrize("settings, message", [
    ({"check_every": 0}, "positive whole number"),
    ({"check_every": 2.5}, "null or a whole number"),
    ({"check_every": 100, "sampler": "advi"}, "only the nutpie sampler"),
    ({"check_every": 1000, "draws": 1000}, "must be below draws"),
])
def test_bad_check_every_is_refused_by_name(settings, message):
    with pytest.raises(InputError, match=message) as err:
        SamplerConfig(**settings).validate(source="cfg.json")
    assert err.value.field == "check_every"


def test_saved_settings_without_check_every_still_load():
    old = {k: v for k, v in SamplerConfig().to_dict().items() if k != "check_every"}
    assert SamplerConfig.from_dict(old).check_every is None
