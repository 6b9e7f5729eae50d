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
same model on a wave of the same sizes loads both in a fraction of a second.

It uses nutpie 0.16's internals (``_make_functions``, the ``user_data`` layout), so any other
nutpie version, or nutpie without them, gets ``nutpie.compile_pymc_model`` instead; the tests
check that both give the same draws bit for bit. :func:`sample_nutpie` is the one place that
calls ``nutpie.sample`` for a fit (chains from PyMC's initial points or from ADVI draws).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import time
from collections.abc import Callable
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


def compile_nutpie(model: pm.Model) -> Any:
    """nutpie's ``CompiledPyMCModel`` of ``model`` (Numba backend), its callbacks cached.

    The same object ``nutpie.compile_pymc_model(model, backend="numba")`` returns (same
    variables, starts, shared data and log density), which it falls back to when nutpie is not
    the version whose internals this reads.
    """
    import nutpie

    internals = _nutpie_internals()
    if internals is None:
        return nutpie.compile_pymc_model(model, backend="numba")
    from pymc.initial_point import make_initial_point_fn

    starts = internals._wrap_with_lock(make_initial_point_fn(
        model=model, overrides=None, default_strategy="support_point",
        jitter_rvs=set(model.free_RVs), return_transformed=True))
    (n_dim, n_expanded, logp_fn, expand_fn, initial_point_fn, shape_info,
     reparameterized) = internals._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True,
        pymc_initial_point_fn=starts, var_names=None)
    shared_data: dict[str, np.ndarray] = {}
    shared_keys: dict[Any, str] = {}
    for var in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if var not in shared_keys:
            key = uuid4().hex
            shared_data[key] = np.array(var.get_value(), order="C", copy=True)
            shared_data[key].flags.writeable = False
            shared_keys[var] = key
    layout = _Layout(shared_data, shared_keys)
    dims, coords = internals._prepare_dims_and_coords(model, shape_info, reparameterized)
    return internals.CompiledPyMCModel(
        _n_dim=n_dim, dims=dims, _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=_logp_callback(logp_fn, layout, n_dim, internals),
        compiled_expand_func=_expand_callback(expand_fn, layout, n_dim, n_expanded, internals),
        initial_point_func=initial_point_fn, shared_data=shared_data,
        shared_var_keys=shared_keys,
        user_data=internals.make_user_data(shared_keys, shared_data),
        n_expanded=n_expanded, shape_info=shape_info, logp_func=logp_fn,
        expand_func=expand_fn, reparameterized_names=reparameterized)


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


def _cached_cfunc(name: str, params: str, body: list[str], fn_pt, env: dict, signature,
                  sizes: dict[str, int], internals) -> Any:
    """``def name(params): body`` compiled as a ``numba.cfunc``, stored in PyTensor's Numba
    cache when PyTensor can key the function it calls (else compiled as nutpie would)."""
    from pytensor.configdefaults import config
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    src = "\n".join([f"def {name}({params}):", *("    " + line for line in body)]) + "\n"
    inner = CACHED_SRC_FUNCTIONS.get(fn_pt.vm.jit_fn.py_func)
    dtypes = [str(env[k]) for k in sorted(env)]
    env.update(sizes, numba=numba, np=np, FN=fn_pt.vm.jit_fn, RO=_readonly,
               VP=internals.address_as_void_pointer, __name__=__name__)
    cache = inner is not None and bool(config.numba__cache)
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
                  starts: Callable[..., np.ndarray] | None = None) -> xr.DataTree:
    """Sample ``compiled`` (from :func:`compile_nutpie`) and return the ``DataTree``
    ``pm.sample(nuts_sampler="nutpie")`` returns.

    ``starts`` replaces the chains' start function (seed -> flat unconstrained vector);
    ``cores`` chains run at once, with BLAS limited to as many threads, as PyMC does (None:
    nutpie's default, every CPU, BLAS unlimited).
    """
    import dataclasses

    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from threadpoolctl import threadpool_limits

    if starts is not None:
        compiled = dataclasses.replace(compiled, initial_point_func=starts)
    limiter = threadpool_limits(limits=cores) if cores else contextlib.nullcontext()
    start = time.perf_counter()
    with limiter:
        idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains,
                              cores=cores, seed=seed, save_warmup=False,
                              progress_bar=progress, **(nuts or {}))
    patch_nutpie_idata(idata, model, sampling_time=time.perf_counter() - start)
    return idata
