"""nutpie's compiled model with both C callbacks cached on disk, and the sampling call.

nutpie compiles a model's log density (with its gradient) and its deterministics into two
``numba.cfunc`` callbacks. Its own wrappers close over runtime objects, so Numba cannot cache
them, and every fit paid about 14 + 3 s to compile them again even when PyTensor's functions
inside came from the disk cache: LLVM optimises the linked code anew each time
(docs/benchmarks.md, "Where the test suite's time goes"). :func:`compile_nutpie` builds the same
``CompiledPyMCModel`` with the two wrappers written as source instead. They read the shared data
from nutpie's ``user_data`` record, pass it to PyTensor's function read-only (as nutpie does, so
that function is compiled for one signature only) and are stored in PyTensor's Numba cache,
keyed by their source and PyTensor's own key of the function they call. A second fit of the
same model on a wave of the same sizes loads both in a fraction of a second. A forked child
process on the second CPU compiles the deterministics' callback while this process compiles
the log density (:func:`_compile_aside`), and this process then loads it from the cache the
child filled: on a new machine or a new wave's sizes the two compiles run at once.

It uses nutpie 0.16's internals (``_make_functions``, the ``user_data`` layout), so any other
nutpie version, or nutpie without them, gets ``nutpie.compile_pymc_model`` instead; the tests
check that both give the same draws bit for bit. :func:`sample_nutpie` is the one place that
calls ``nutpie.sample`` for a fit (chains from PyMC's initial points or from ADVI draws).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import numba
import numba.core.imputils
import numpy as np
import pymc as pm
import xarray as xr

SUPPORTED_NUTPIE = "0.16."
_SALT = "vp_bayes nutpie callbacks 1"  # change when the generated source's meaning changes
_DOUBLE_PTR = numba.types.CPointer(numba.types.double)
LOGP_SIGNATURE = numba.types.int64(numba.types.uint64, _DOUBLE_PTR, _DOUBLE_PTR, _DOUBLE_PTR,
                                   numba.types.voidptr)
EXPAND_SIGNATURE = numba.types.int64(numba.types.uint64, numba.types.uint64, _DOUBLE_PTR,
                                     _DOUBLE_PTR, numba.types.voidptr)


@numba.extending.intrinsic
def _readonly(typingctx, array):
    """``array`` typed read-only (the same data, no copy): the type nutpie's wrappers give the
    shared arrays, so PyTensor's function is called with the signature nutpie compiles."""
    if not isinstance(array, numba.types.Array):
        return None
    result = array.copy(readonly=True)

    def codegen(context, builder, signature, args):
        return numba.core.imputils.impl_ret_borrowed(context, builder, result, args[0])

    return result(array), codegen


def _nutpie_internals():
    """nutpie's ``compile_pymc`` module when it is the version this module was written for,
    else None."""
    import nutpie

    if not nutpie.__version__.startswith(SUPPORTED_NUTPIE):
        return None
    try:
        from nutpie import compile_pymc
    except ImportError:
        return None
    needed = ("_make_functions", "_prepare_dims_and_coords", "_wrap_with_lock",
              "make_user_data", "address_as_void_pointer", "CompiledPyMCModel")
    return compile_pymc if all(hasattr(compile_pymc, n) for n in needed) else None


def compile_nutpie(model: pm.Model, var_names: Collection[str] | None = None) -> Any:
    """nutpie's ``CompiledPyMCModel`` of ``model`` (Numba backend), its callbacks cached.

    The same object ``nutpie.compile_pymc_model(model, backend="numba")`` returns (same
    variables, starts, shared data and log density), which it falls back to when nutpie is not
    the version whose internals this reads.

    ``var_names``: the variables the trace keeps (free variables on their own scale and
    deterministics; None: all of them, and every unconstrained coordinate, as nutpie stores
    them). Given, the trace holds those alone (:func:`_trace_function`), so a fit's
    checkpoints, its conversion and its memory handle only what it saves. The chains are the
    same; the deterministics agree to rounding (PyTensor may fuse a graph with fewer outputs
    differently). nutpie's own compile (the fallback) keeps every free variable's coordinates
    besides those named.
    """
    import nutpie

    internals = _nutpie_internals()
    if internals is None:
        return nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)
    from pymc.initial_point import make_initial_point_fn

    starts = internals._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs), return_transformed=True))
    (n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info,
     reparameterized) = internals._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=starts, var_names=var_names)
    dims, coords = internals._prepare_dims_and_coords(model, shape_info, reparameterized)
    if var_names is not None:
        expand_fn, shape_info = _trace_function(model, n_dim, shape_info, set(var_names),
                                                set(reparameterized))
        n_expanded, reparameterized = sum(math.prod(s) for s in shape_info[2]), []
    shared_data: dict[str, np.ndarray] = {}
    shared_keys: dict[Any, str] = {}
    for var in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if var not in shared_keys:
            key = uuid4().hex
            shared_data[key] = np.array(var.get_value(), order="C", copy=True)
            shared_data[key].flags.writeable = False
            shared_keys[var] = key
    layout = _Layout(shared_data, shared_keys)

    def expand() -> Any:
        return _expand_callback(expand_fn, layout, n_dim, n_expanded, internals)

    with _locked_cache_saves():
        aside = (_compile_aside(expand) if _cacheable(logp_fn) and _cacheable(expand_fn)
                 else None)
        try:
            logp = _logp_callback(logp_fn, layout, n_dim, internals)
        except BaseException:
            _await(aside, 0.0)
            raise
        _await(aside)
        trace_callback = expand()
    return internals.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp, compiled_expand_func=trace_callback,
        initial_point_func=initial_point_fn, shared_data=shared_data,
        shared_var_keys=shared_keys,
        user_data=internals.make_user_data(shared_keys, shared_data),
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp_fn,
        expand_func=expand_fn, reparameterized_names=reparameterized)


def _trace_function(model: pm.Model, n_dim: int, shape_info: tuple, keep: set[str],
                    unconstrained: set[str]) -> tuple[Any, tuple]:
    """The function from nutpie's flat unconstrained point (``n_dim`` coordinates) to the
    ``keep`` variables alone (raveled and joined, in ``shape_info``'s order), and their
    ``(names, slices, shapes)``.

    ``shape_info`` is nutpie's layout of its own trace: the free variables' unconstrained
    coordinates first (in ``model.free_RVs`` order, the point's), then the other variables.
    The point is split as nutpie splits it, and each kept variable is the model's own
    expression of it; the ``unconstrained`` coordinates are not kept. A name the trace does
    not have, or none kept, is a ``ValueError``.
    """
    import pytensor.tensor as pt
    from pymc.pytensorf import compile as compile_pymc

    names, slices, shapes = shape_info
    unknown = sorted(keep - set(names))
    if unknown:
        raise ValueError(f"the model's trace has no variable {', '.join(unknown)}")
    n_free = len(model.free_RVs)
    point = pt.TensorType("float64", shape=(n_dim,))(name="_unconstrained_point")
    givens = [(model.rvs_to_values[rv], point[sl].reshape(shape).astype(rv.dtype))
              for rv, sl, shape in zip(model.free_RVs, slices[:n_free], shapes[:n_free],
                                       strict=True)]
    by_name = {var.name: var for var in model.unobserved_value_vars}
    kept = [(name, shape) for name, shape in zip(names, shapes, strict=True)
            if name in keep and name not in unconstrained]
    if not kept:
        raise ValueError("a trimmed trace needs at least one variable on its own scale")
    outputs = [pt.as_tensor(by_name[name], allow_xtensor_conversion=True).ravel()
               for name, _ in kept]
    with model:
        fn = compile_pymc((point,), [pt.concatenate(outputs)], givens=givens, mode="NUMBA",
                          on_unused_input="ignore")
    starts = np.cumsum([0, *(math.prod(shape) for _, shape in kept)])
    layout = ([name for name, _ in kept],
              [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:], strict=True)],
              [shape for _, shape in kept])
    return fn, layout


def logp_dlogp(compiled: Any) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """``x -> (log density, gradient)`` of a :func:`compile_nutpie` model, from Python.

    It calls nutpie's own compiled callback (flat unconstrained vector in ``model.value_vars``
    order; the model's data through its ``user_data`` record), so ADVI needs no compile of
    its own: PyMC's ``logp_dlogp_function`` gives the same values bitwise, but compiling it
    too made a short demo fit on a new machine 176 s instead of 140 s (``docs/benchmarks.md``).
    """
    n_dim = int(compiled.n_dim)
    c_logp = compiled.compiled_logp_func.ctypes
    pointer = ctypes.POINTER(ctypes.c_double)

    def call(x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (n_dim,):
            raise ValueError(f"the model has {n_dim} coordinates, not {x.shape}")
        grad, logp = np.empty(n_dim), np.empty(())
        status = c_logp(n_dim, x.ctypes.data_as(pointer), grad.ctypes.data_as(pointer),
                        logp.ctypes.data_as(pointer), compiled.user_data.ctypes.data)
        if status not in (0, 3, 4):  # 3, 4: a non-finite gradient or density, returned
            raise RuntimeError(f"the model's log density failed (nutpie callback status "
                               f"{status})")
        return float(logp), grad

    return call


class _Layout:
    """Where each shared array sits in nutpie's ``user_data`` record: a packed struct of
    machine words, every array's address, then every size, then every array's shape."""

    def __init__(self, shared_data: dict[str, np.ndarray], shared_keys: dict[Any, str]):
        self.keys = list(shared_keys.values())
        self.arrays = [shared_data[key] for key in self.keys]
        self.by_var = shared_keys

    def source(self, fn_pt, env: dict) -> tuple[list[str], list[str]]:
        """Lines rebuilding ``fn_pt``'s shared arguments (read-only) from the record ``ud_``,
        and their names in the order ``fn_pt`` takes them."""
        ndims = [a.ndim for a in self.arrays]
        k = len(self.keys)
        lines = [f"ud = numba.carray(ud_, ({2 * k + sum(ndims)},), np.uint64)"]
        names = []
        for j, var in enumerate(fn_pt.get_shared()):
            i = self.keys.index(self.by_var[var])
            env[f"DT{j}"] = self.arrays[i].dtype.type
            first = 2 * k + sum(ndims[:i])
            flat = f"numba.carray(VP(ud[{i}]), (ud[{k + i}],), DT{j})"
            if ndims[i] != 1:
                flat += ".reshape((" + "".join(f"ud[{first + d}], " for d in range(ndims[i])) + "))"
            lines.append(f"s{j} = RO({flat})")
            names.append(f"s{j}")
        return lines, names


def _logp_callback(fn_pt, layout: _Layout, n_dim: int, internals) -> Any:
    """The log density callback, as nutpie 0.16's ``_make_c_logp_func`` writes it."""
    env: dict = {}
    shared, names = layout.source(fn_pt, env)
    body = ["if dim != N_DIM:", "    return -1", "try:",
            "    x = numba.carray(x_, (N_DIM,))", "    out = numba.carray(out_, (N_DIM,))",
            "    lp = numba.carray(logp_, ())",
            *("    " + line for line in shared),
            f"    logp_val, grad = FN(x, {', '.join(names)})",
            "    lp[()] = logp_val", "    out[...] = grad",
            "    if not np.all(np.isfinite(out)):", "        return 3",
            "    if not np.isfinite(logp_val):", "        return 4",
            "except Exception:", "    return 1", "return 0"]
    return _cached_cfunc("vp_logp", "dim, x_, out_, logp_, ud_", body, fn_pt, env,
                         LOGP_SIGNATURE, {"N_DIM": n_dim}, internals)


def _expand_callback(fn_pt, layout: _Layout, n_dim: int, n_expanded: int,
                     internals) -> Any:
    """The deterministics callback, as nutpie 0.16's ``_make_c_expand_func`` writes it."""
    env: dict = {}
    shared, names = layout.source(fn_pt, env)
    body = ["if dim != N_DIM:", "    return -1", "if expanded != N_EXPANDED:", "    return -1",
            "try:", "    x = numba.carray(x_, (N_DIM,))",
            "    out = numba.carray(out_, (N_EXPANDED,))",
            *("    " + line for line in shared),
            f"    (values,) = FN(x, {', '.join(names)})", "    out[...] = values",
            "except Exception:", "    return -2", "return 0"]
    sizes = {"N_DIM": n_dim, "N_EXPANDED": n_expanded}
    return _cached_cfunc("vp_expand", "dim, expanded, x_, out_, ud_", body, fn_pt, env,
                         EXPAND_SIGNATURE, sizes, internals)


def _cacheable(fn_pt) -> bool:
    """Whether :func:`_cached_cfunc` stores a callback of ``fn_pt`` in the on-disk cache."""
    from pytensor.configdefaults import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    return (CACHED_SRC_FUNCTIONS.get(fn_pt.vm.jit_fn.py_func) is not None
            and bool(config.numba__cache))


ASIDE_WAIT_S = 120.0  # how long the parent, its own compile done, waits for the child's


def _compile_aside(compile_: Callable[[], Any]) -> Any:
    """``compile_`` run in a forked child process on a spare CPU, so that the callback it
    compiles is in the on-disk cache when this process asks for it; the child (for
    :func:`_await`), or None where that cannot be done safely: no spare CPU, no ``fork``
    (not Linux), a Numba whose function ids a fork would duplicate (PyTensor's
    ``_RandomUidIter`` draws them at random: numba#10486), or a process that cannot fork
    (a daemonic worker).

    A cold compile of the demo's model spent 54-77 s on the log density and 12-19 s on the
    trace's function, one CPU each, one after the other; this runs them at once
    (docs/benchmarks.md, "The trace's compile beside the log density's"). The child is
    started whenever both callbacks are cacheable (on a warm cache it only loads one). Its
    success is not relied on: the parent compiles the callback itself afterwards, loading
    what the child stored or compiling it anew where the child failed or was stopped.
    Warnings raised while compiling that callback are then the child's, not the caller's.
    Both processes save to Numba's cache under :func:`_locked_cache_saves`."""
    import itertools
    import multiprocessing
    import sys
    import warnings

    from numba.core.bytecode import FunctionIdentity

    from vp_bayes.model.fit import usable_cores

    if (not sys.platform.startswith("linux") or usable_cores() < 2
            or isinstance(FunctionIdentity._unique_ids, itertools.count)):
        return None
    child = multiprocessing.get_context("fork").Process(target=_compile_quietly,
                                                        args=(compile_,), daemon=True)
    try:
        for stream in (sys.stdout, sys.stderr):  # else the child would write them again
            if stream is not None:
                stream.flush()
        with warnings.catch_warnings():  # Python 3.12+ warns of fork beside threads (BLAS)
            warnings.simplefilter("ignore", DeprecationWarning)
            child.start()
    except (OSError, ValueError, AssertionError):  # no fork here: compile in turn
        return None
    return child


@contextlib.contextmanager
def _locked_cache_saves():
    """Numba's cache entries saved under a file lock beside each index, in this process and
    in the children it forks meanwhile. Numba reads an index, picks a free data file and
    writes both back unlocked, so two processes saving two signatures of one function at
    once could leave the index naming the other's machine code (numba#4807)."""
    import fcntl

    from numba.core.caching import IndexDataCacheFile

    unlocked = IndexDataCacheFile.save

    def save(self, key, data) -> None:
        with open(self._index_path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            unlocked(self, key, data)

    IndexDataCacheFile.save = save
    try:
        yield
    finally:
        IndexDataCacheFile.save = unlocked


def _compile_quietly(compile_: Callable[[], Any]) -> None:
    """The child's work: compile, then leave at once (no exit handlers, no flushing of what
    the parent wrote); a failure is left to the parent's own compile, which reports it."""
    import os

    try:
        compile_()
    except BaseException:  # noqa: BLE001
        os._exit(1)
    os._exit(0)


def _await(child: Any, timeout: float = ASIDE_WAIT_S) -> None:
    """Wait for :func:`_compile_aside`'s child, at most ``timeout`` seconds from now; one
    still running then is stopped (the parent then compiles the callback itself)."""
    if child is None:
        return
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()


def _cached_cfunc(name: str, params: str, body: list[str], fn_pt, env: dict, signature,
                  sizes: dict[str, int], internals) -> Any:
    """``def name(params): body`` compiled as a ``numba.cfunc``, stored in PyTensor's Numba
    cache when PyTensor can key the function it calls (else compiled as nutpie would)."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    src = "\n".join([f"def {name}({params}):", *("    " + line for line in body)]) + "\n"
    inner = CACHED_SRC_FUNCTIONS.get(fn_pt.vm.jit_fn.py_func)
    dtypes = [str(env[k]) for k in sorted(env)]
    env.update(sizes, numba=numba, np=np, FN=fn_pt.vm.jit_fn, RO=_readonly,
               VP=internals.address_as_void_pointer, __name__=__name__)
    cache = _cacheable(fn_pt)
    key = hashlib.sha256(f"{_SALT}\n{src}\n{inner}\n{dtypes}\n{sorted(sizes.items())}"
                         .encode()).hexdigest() if cache else None
    py = compile_numba_function_src(src, name, env, cache_key=key)
    return numba.cfunc(signature, cache=cache)(py)


def pymc_chain_seed(seed: int, chains: int) -> int:
    """The seed ``pm.sample(nuts_sampler="nutpie", random_seed=seed)`` hands nutpie (the
    first of the per-chain seeds it spawns), so fits keep the draws they had through PyMC."""
    from pymc.util import get_random_generator

    first = get_random_generator(seed).spawn(chains)[0]  # the chain seeds are independent
    return int(first.integers(2**30))


def sample_nutpie(model: pm.Model, compiled: Any, *, draws: int, tune: int, chains: int,
                  seed: int, cores: int | None, progress: bool, nuts: dict | None = None,
                  starts: Callable[..., np.ndarray] | None = None,
                  stop: StopRule | None = None) -> xr.DataTree:
    """Sample ``compiled`` (from :func:`compile_nutpie`) and return the ``DataTree``
    ``pm.sample(nuts_sampler="nutpie")`` returns.

    ``starts`` replaces the chains' start function (seed -> flat unconstrained vector);
    ``cores`` chains run at once, with BLAS limited to as many threads, as PyMC does (None:
    nutpie's default, every CPU, BLAS unlimited). ``stop``: end at its first checkpoint that
    says so (:func:`_sample_until`); ``draws`` is then the most each chain draws.
    """
    import dataclasses

    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from threadpoolctl import threadpool_limits

    if starts is not None:
        compiled = dataclasses.replace(compiled, initial_point_func=starts)
    limiter = threadpool_limits(limits=cores) if cores else contextlib.nullcontext()
    settings = dict(draws=draws, tune=max(tune, 1), chains=chains, seed=seed,
                    save_warmup=False, progress_bar=progress, **(nuts or {}))
    start = time.perf_counter()
    with limiter:
        if stop is None:
            idata = nutpie.sample(compiled, cores=cores, **settings)
        else:
            idata = _sample_until(compiled, settings, stop)
    patch_nutpie_idata(idata, model, sampling_time=time.perf_counter() - start)
    return idata


@dataclass(frozen=True)
class StopRule:
    """When a fit may end before its last draw: at the first multiple of ``every`` draws per
    chain at which ``done`` (given every chain's first draws, as ``posterior``) is true.

    ``screen``, when given, is asked first with only the variables ``screened`` picks (by
    name and shape per draw), read without converting the whole trace: a cheap necessary
    condition, so that ``done`` (which may need every variable) runs only where it can pass.
    """

    every: int
    done: Callable[[xr.Dataset], bool]
    screen: Callable[[xr.Dataset], bool] | None = None
    screened: Callable[[str, tuple[int, ...]], bool] = lambda name, shape: False


def checkpoints(draws: int, every: int) -> list[int]:
    """The draws per chain at which a :class:`StopRule` is asked: ``every``, ``2 every``, ...
    below ``draws`` (at ``draws`` the chains end anyway)."""
    return list(range(every, draws, every))


def _sample_until(compiled: Any, settings: dict, stop: StopRule) -> xr.DataTree:
    """nutpie with every chain running at once (the OS shares the CPUs among them, so they
    reach each checkpoint together), asked ``stop`` at each of :func:`checkpoints`.

    Each chain's draws depend on its seed only, not on when it runs, and every checkpoint is
    asked in order even when the chains have already ended, so the result is the first ``n``
    draws of the run without a stop, for the same ``n`` whatever the timing. The chains pause
    while ``done`` runs. Interrupted, the background chains are cancelled.
    """
    import nutpie

    finished = np.zeros(settings["chains"], dtype=np.int64)

    def track(progress) -> None:  # nutpie's thread; the counts include the warm-up
        finished[:] = [p.finished_draws for p in progress]

    sampler = nutpie.sample(compiled, cores=settings["chains"], blocking=False,
                            progress_callback=track, progress_rate=200, **settings)
    try:
        names = _screened_names(compiled, stop)
        marks = checkpoints(settings["draws"], stop.every)
        for k, n in enumerate(marks):
            if not _reached(sampler, finished, settings["tune"] + n):  # all chains ended
                return _first_stop(sampler.wait(), marks[k:], stop, names)

            def whole(n: int = n) -> xr.Dataset:
                sampler.pause()
                return sampler.inspect()["posterior"].to_dataset().isel(draw=slice(0, n))

            if _says_stop(stop, lambda n=n: _screened_draws(sampler, names,
                                                            settings["tune"], n), whole):
                return _first_draws(sampler.abort(), n)
            sampler.resume()
        return sampler.wait()
    except BaseException:
        sampler.cancel()
        raise


def _screened_names(compiled: Any, stop: StopRule) -> list[str]:
    """The variables ``stop.screened`` picks among those nutpie puts in the posterior (not its
    unconstrained reparameterisations, ``reparameterized_names``, which it drops)."""
    dropped = set(getattr(compiled, "reparameterized_names", None) or ())
    return [name for name, shape in (compiled.shapes or {}).items()
            if name not in dropped and stop.screened(name, tuple(int(d) for d in shape))]


def _says_stop(stop: StopRule, screened: Callable[[], xr.Dataset],
               whole: Callable[[], xr.Dataset]) -> bool:
    """``stop``'s answer at one checkpoint: its screen of the ``screened`` draws first, then
    ``done`` of the ``whole`` posterior (both callables give that checkpoint's first draws)."""
    if stop.screen is not None and not stop.screen(screened()):
        return False
    return bool(stop.done(whole()))


def _screened_draws(sampler: Any, names: list[str], tune: int, n: int) -> xr.Dataset:
    """Draws ``tune`` to ``tune + n`` of the variables ``names`` of every chain, read from
    nutpie's raw trace (its arrow record batches, one per chain, warm-up rows first; the
    columns' ``shape`` and ``dims`` metadata as nutpie's own conversion reads them), or from
    nutpie's whole-trace conversion where that raw trace is not there (other versions)."""
    import nutpie
    import pyarrow

    if not (hasattr(sampler, "_sampler") and nutpie.__version__.startswith(SUPPORTED_NUTPIE)):
        return sampler.inspect()["posterior"].to_dataset()[names].isel(draw=slice(0, n))

    batches, _ = sampler._sampler.inspect().get_arrow_trace()
    out = {}
    for name in names:
        chains = []
        for batch in batches:
            column = batch.slice(tune, n).column(name)
            meta = column.field.metadata
            shape = [int(d) for d in meta.get(b"shape", b"").decode().split(",") if d]
            dims = [d for d in meta.get(b"dims", b"").decode().split(",") if d]
            values = pyarrow.array(column)
            values = values.flatten() if hasattr(values, "flatten") else values
            chains.append(values.to_numpy(zero_copy_only=False).reshape((n, *shape)))
        dims = dims or [f"{name}_dim_{i}" for i in range(len(shape))]
        out[name] = (("chain", "draw", *dims), np.stack(chains))
    return xr.Dataset(out)


def _reached(sampler: Any, finished: np.ndarray, target: int) -> bool:
    """Wait until every chain has ``target`` draws (True) or all have ended (False): the
    counts come from nutpie's progress callback; whether the chains have ended (a chain
    that fails stops counting) is asked about once a second."""
    polls = 0
    while finished.min() < target:
        polls += 1
        if polls % 5 == 0:
            try:
                if sampler.is_finished:
                    return False
            except TimeoutError:  # nutpie 0.16's answer while chains run
                pass
        time.sleep(0.2)
    return True


def _first_stop(tree: xr.DataTree, marks: list[int], stop: StopRule,
                names: list[str]) -> xr.DataTree:
    """The ended run ``tree`` cut at the first of ``marks`` where ``stop`` says so (its
    screen of ``names`` first, then ``done``), else whole."""
    post = tree["posterior"].to_dataset()
    for n in marks:
        first = post.isel(draw=slice(0, n))
        if _says_stop(stop, lambda first=first: first[names], lambda first=first: first):
            return _first_draws(tree, n)
    return tree


def _first_draws(tree: xr.DataTree, n: int) -> xr.DataTree:
    """``tree`` with each group that has draws cut to its first ``n``."""
    return tree.map_over_datasets(
        lambda ds: ds.isel(draw=slice(0, n)) if "draw" in ds.dims else ds)
