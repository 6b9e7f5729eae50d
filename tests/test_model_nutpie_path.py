"""nutpie's compiled model with cached callbacks (``model/nutpie_path.py``): the same model and
the same draws as nutpie's own compile, loaded from the cache the second time, and fits through
it keep the draws ``pm.sample`` gave."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from vp_bayes.model import nutpie_path
from vp_bayes.model.build import build_model
from vp_bayes.model.compiling import reproducible
from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.data import prepare_data
from vp_bayes.model.fit import _sample, fit_wave, nutpie_settings, traced_names
from vp_bayes.wave.simulate import simulate_wave


@pytest.fixture(scope="module")
def wave():
    return simulate_wave(n_participants=30, n_items=6, items_per_participant=5, seed=8,
                         n_llm=1, personas=False).wave


@pytest.fixture(scope="module")
def model(wave) -> pm.Model:
    return build_model(wave, ModelConfig())


def _draws(compiled) -> dict[str, np.ndarray]:
    import nutpie

    post = nutpie.sample(compiled, draws=30, tune=30, chains=2, seed=4, progress_bar=False)
    return {name: var.values for name, var in post.posterior.to_dataset().items()}


def test_cached_callbacks_are_nutpies_model_with_its_draws(model):
    """Same variables, shapes, coordinates and shared data, read-only as nutpie leaves them;
    every variable's draws equal bit for bit."""
    import nutpie

    with reproducible():
        ours = nutpie_path.compile_nutpie(model)
        theirs = nutpie.compile_pymc_model(model, backend="numba")
    assert ours.compiled_logp_func is not theirs.compiled_logp_func
    assert (ours.n_dim, ours.n_expanded, ours.shapes) == (theirs.n_dim, theirs.n_expanded,
                                                          theirs.shapes)
    assert ours.dims == theirs.dims and ours.coords.keys() == theirs.coords.keys()
    ours_data = sorted((a.shape, a.tobytes()) for a in ours.shared_data.values())
    assert ours_data == sorted((a.shape, a.tobytes()) for a in theirs.shared_data.values())
    assert not any(a.flags.writeable for a in ours.shared_data.values())
    mine, nutpies = _draws(ours), _draws(theirs)
    assert mine.keys() == nutpies.keys() and {"beta", "theta", "value_scale"} <= mine.keys()
    for name in nutpies:
        np.testing.assert_array_equal(mine[name], nutpies[name], err_msg=name)


def test_second_compile_loads_both_callbacks_from_the_cache(model):
    with reproducible():
        nutpie_path.compile_nutpie(model)
        again = nutpie_path.compile_nutpie(model)
    assert again.compiled_logp_func.cache_hits == 1
    assert again.compiled_expand_func.cache_hits == 1


def test_fit_keeps_the_draws_pm_sample_gave(wave, model):
    """The jitter path once went through ``pm.sample(nuts_sampler="nutpie")``; with the same
    seed it now gives the same draws (the tests' fixed fits keep their realisations), for
    the variables a fit's trace keeps: those it saves, without the sampler's helpers."""
    cfg = SamplerConfig(draws=30, tune=30, chains=2, seed=11, init="jitter")
    trace = traced_names(model, prepare_data(wave, ModelConfig()), ModelConfig())
    assert {"effect_gender_block", "effect_age_block"} <= set(trace)  # the integrated blocks
    ours = _sample(model, cfg, progress=False, trace=trace).posterior.to_dataset()
    with reproducible():
        pymcs = pm.sample(draws=30, tune=30, chains=2, cores=2, random_seed=11, model=model,
                          nuts_sampler="nutpie", progressbar=False,
                          compute_convergence_checks=False,
                          nuts=nutpie_settings(cfg)).posterior.to_dataset()
    assert set(ours.data_vars) == set(trace) < set(pymcs.data_vars)
    assert {"beta", "theta", "value_scale", "value_scatter"} <= set(ours.data_vars)
    assert not any(name.endswith(("_z", "_raw")) for name in ours.data_vars)
    free = {rv.name for rv in model.free_RVs}
    for name in ours.data_vars:  # the chains bit for bit; deterministics to rounding
        if name in free:
            np.testing.assert_array_equal(ours[name].values, pymcs[name].values, err_msg=name)
        np.testing.assert_allclose(ours[name].values, pymcs[name].values, rtol=1e-13,
                                   atol=1e-15, err_msg=name)


def test_trimmed_trace_keeps_its_variables_and_the_chains(model):
    """``var_names``: the trace holds those variables alone (no unconstrained coordinates),
    with a smaller expansion per draw. The chains are the same: the free variables' draws
    equal bit for bit; deterministics to rounding (PyTensor fuses a graph with fewer outputs
    differently: ``theta`` differed in the last bit)."""
    keep = ["beta", "theta", "beta_sd", "beta_mean", "kappa"]
    with reproducible():
        whole = nutpie_path.compile_nutpie(model)
        trimmed = nutpie_path.compile_nutpie(model, var_names=keep)
    assert set(trimmed.shapes) == set(keep)
    assert trimmed.n_dim == whole.n_dim
    assert trimmed.n_expanded == sum(int(np.prod(whole.shapes[n])) for n in keep)
    assert trimmed.n_expanded < whole.n_expanded
    mine, all_draws = _draws(trimmed), _draws(whole)
    assert mine.keys() == set(keep)
    for name in keep:
        assert mine[name].shape == all_draws[name].shape
        if name in ("beta_sd", "beta_mean"):  # free variables
            np.testing.assert_array_equal(mine[name], all_draws[name], err_msg=name)
        np.testing.assert_allclose(mine[name], all_draws[name], rtol=1e-13, atol=1e-15,
                                   err_msg=name)


def test_trimmed_trace_refuses_names_it_does_not_have(model):
    with pytest.raises(ValueError, match="no variable nonesuch"):
        nutpie_path.compile_nutpie(model, var_names=["beta", "nonesuch"])
    with pytest.raises(ValueError, match="at least one variable"):
        nutpie_path.compile_nutpie(model, var_names=[])


class _Stop(Exception):
    """Raised by the spy once the trace's variables are seen (no compile, no sampling)."""


def test_fit_traces_what_it_saves_and_draws_from(wave, monkeypatch):
    """``fit_wave`` asks nutpie for the saved variables and those ``_saved_posterior`` draws
    from (the values' scatter, the integrated scales' blocks), not the sampler's helpers."""
    seen = []

    def spy(model, var_names=None):
        seen.append(var_names)
        raise _Stop

    monkeypatch.setattr(nutpie_path, "compile_nutpie", spy)
    cfg = SamplerConfig(draws=5, tune=5, chains=1, init="jitter")
    config = ModelConfig(integrate_scales=True)
    with pytest.raises(_Stop):
        fit_wave(wave, config, cfg, progress=False)
    (names,) = seen
    blocks = {f"effect_{axis.name}_block" for axis in prepare_data(wave, config).axes}
    assert blocks and blocks <= set(names)
    assert {"beta", "theta", "value_scale", "value_scatter", "b", "alpha"} <= set(names)
    assert not [n for n in names if n.endswith(("_z", "_raw", "_log__", "_log_gaps"))]


def test_other_nutpie_versions_get_nutpies_own_compile(model, monkeypatch):
    import nutpie

    calls = []
    monkeypatch.setattr(nutpie, "__version__", "0.17.0")
    monkeypatch.setattr(nutpie, "compile_pymc_model",
                        lambda m, **kwargs: calls.append(kwargs) or "nutpie's")
    assert nutpie_path.compile_nutpie(model) == "nutpie's"
    assert nutpie_path.compile_nutpie(model, var_names=["beta"]) == "nutpie's"
    assert calls == [{"backend": "numba", "var_names": None},
                     {"backend": "numba", "var_names": ["beta"]}]


def test_logp_dlogp_is_pymcs_density_and_gradient_bitwise(model):
    """ADVI reads nutpie's compiled callback (one compile per fit): at the initial point and
    away from it, the same log density and gradient as PyMC's ``logp_dlogp_function``, bit
    for bit, so ADVI's starts (and the fits' draws) are what they were."""
    from vp_bayes.model.variational import _logp_dlogp

    with reproducible():
        pymcs, x0 = _logp_dlogp(model)
        ours = nutpie_path.logp_dlogp(nutpie_path.compile_nutpie(model))
    rng = np.random.default_rng(0)
    for x in (x0, x0 + 0.3 * rng.standard_normal(x0.size), np.full(x0.size, 2.0)):
        (lp_a, g_a), (lp_b, g_b) = ours(x), pymcs(x)
        assert lp_a == lp_b
        np.testing.assert_array_equal(g_a, g_b)
    far = x0.copy()
    far[0] = 1e300  # a non-finite density comes back as the number, as PyMC's does
    assert not np.isfinite(ours(far)[0]) and not np.isfinite(pymcs(far)[0])
    with pytest.raises(ValueError, match="coordinates"):
        ours(x0[:-1])


_COMPILE_COLD = """
from vp_bayes.model import nutpie_path
from vp_bayes.model.build import build_model
from vp_bayes.model.compiling import reproducible
from vp_bayes.model.config import ModelConfig
from vp_bayes.wave.simulate import simulate_wave
wave = simulate_wave(n_participants=30, n_items=6, items_per_participant=5, seed=8, n_llm=1,
                     personas=False, prescored=True).wave
with reproducible():
    compiled = nutpie_path.compile_nutpie(build_model(wave, ModelConfig(value_input="exact")))
print(compiled.compiled_logp_func.cache_hits, compiled.compiled_expand_func.cache_hits)
"""


@pytest.mark.slow
def test_trace_callback_is_compiled_beside_the_log_density(cold_compile_env):
    """On a new machine (empty PyTensor and Numba caches) the trace's callback is compiled by
    a child process while this one compiles the log density, and is loaded from the cache the
    child filled; a second process loads both. (The draws do not depend on it:
    ``test_model_io.test_draws_do_not_depend_on_the_compile_cache`` compiles cold the same way.)"""
    import subprocess
    import sys

    probe = nutpie_path._compile_aside(lambda: None)
    if probe is None:
        pytest.skip("one CPU or no fork: the trace's callback is compiled after the density")
    nutpie_path._await(probe)
    hits = []
    for _ in ("cold", "warm"):
        done = subprocess.run([sys.executable, "-c", _COMPILE_COLD], env=cold_compile_env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        hits.append(done.stdout.split())
    assert hits == [["0", "1"], ["1", "1"]]


def test_compile_aside_leaves_a_failed_or_hung_child_to_the_parent():
    """The child only fills the cache: one that fails exits non-zero, one that hangs is
    stopped, and neither holds the parent up past its wait."""
    import time

    failed = nutpie_path._compile_aside(lambda: 1 / 0)
    if failed is None:
        pytest.skip("one CPU or no fork: nothing is compiled aside")
    nutpie_path._await(failed)
    assert failed.exitcode == 1
    done = nutpie_path._compile_aside(lambda: None)
    nutpie_path._await(done)
    assert done.exitcode == 0
    hung = nutpie_path._compile_aside(lambda: time.sleep(120))
    start = time.perf_counter()
    nutpie_path._await(hung, timeout=0.5)
    assert not hung.is_alive() and time.perf_counter() - start < 30
    nutpie_path._await(None)  # nothing started: nothing to wait for


def test_compile_aside_needs_fork_safe_function_ids(monkeypatch):
    """Forked siblings that number Numba's functions from one counter give different bodies
    the same symbol (numba#10486); with such a counter nothing is compiled aside."""
    import itertools

    from numba.core.bytecode import FunctionIdentity

    monkeypatch.setattr(FunctionIdentity, "_unique_ids", itertools.count(1))
    assert nutpie_path._compile_aside(lambda: None) is None


def test_cache_saves_are_locked_while_compiling_aside(tmp_path):
    """Inside the context a Numba cache entry is saved under a lock file beside its index
    and reads back; outside it, Numba's own ``save`` is back."""
    from numba.core.caching import IndexDataCacheFile

    unlocked = IndexDataCacheFile.save
    cache = IndexDataCacheFile(str(tmp_path), "fn", source_stamp=(0.0, 0))
    with nutpie_path._locked_cache_saves():
        assert IndexDataCacheFile.save is not unlocked
        cache.save(("sig", "target"), {"code": 1})
        cache.save(("other", "target"), {"code": 2})
    assert IndexDataCacheFile.save is unlocked
    assert (tmp_path / "fn.nbi.lock").is_file()
    assert cache.load(("sig", "target")) == {"code": 1}
    assert cache.load(("other", "target")) == {"code": 2}
