"""nutpie's C callbacks compiled once per model structure and loaded from the disk cache.

Every fit pays nutpie's compile again, about 14 s for the log density's ``numba.cfunc`` and 3 s
for the deterministics' ``cfunc`` on a 50 x 10 wave, even when PyTensor's Numba functions
inside them come from the disk cache. nutpie's wrappers close over runtime objects (so they
cannot be cached), and linking the cached code into a new module makes LLVM optimise it again.
This probe writes the two wrappers as generated source instead. The wrappers read the shared
data from nutpie's own ``user_data`` record and are keyed by their source and the PyTensor
function's cache key. They are registered with PyTensor's Numba cache (so their compiled code
is stored beside PyTensor's). The probe swaps them into the compiled model and checks that
nutpie samples the same draws bit for bit.

    python benchmarks/compile_cache_probe.py            # 50 x 10 simulated wave
    python benchmarks/compile_cache_probe.py data/demo  # the demo wave

Run it twice: the first run compiles the wrappers into the cache, the second loads them. This
is a probe, not the package's sampling path: it reads nutpie's ``CompiledPyMCModel`` fields
and its ``user_data`` layout (nutpie 0.16).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import time
from pathlib import Path

import numba
import numpy as np
from nutpie.compile_pymc import address_as_void_pointer
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

from vp_bayes.model.build import build_model
from vp_bayes.model.compiling import reproducible
from vp_bayes.model.config import ModelConfig
from vp_bayes.wave.io import load_wave
from vp_bayes.wave.simulate import simulate_wave

_D = numba.types.CPointer(numba.types.double)
LOGP_SIG = numba.types.int64(numba.types.uint64, _D, _D, _D, numba.types.voidptr)
EXPAND_SIG = numba.types.int64(numba.types.uint64, numba.types.uint64, _D, _D,
                               numba.types.voidptr)
SALT = "vp_bayes compile_cache_probe 1"


def _shared_lines(compiled, fn_pt, env: dict) -> tuple[list[str], list[str]]:
    """Source lines rebuilding ``fn_pt``'s shared arrays from nutpie's user_data record,
    a packed struct of uint64: every array's address, then every size, then every shape."""
    keys = list(compiled.shared_var_keys.values())
    ndims = [compiled.shared_data[key].ndim for key in keys]
    k = len(keys)
    n_words = 2 * k + sum(ndims)
    lines = [f"    ud = numba.carray(ud_, ({n_words},), np.uint64)"]
    names = []
    for j, var in enumerate(fn_pt.get_shared()):
        i = keys.index(compiled.shared_var_keys[var])
        env[f"DT{j}"] = compiled.shared_data[keys[i]].dtype.type
        first = 2 * k + sum(ndims[:i])
        flat = f"numba.carray(VP(ud[{i}]), (ud[{k + i}],), DT{j})"
        if ndims[i] != 1:
            shape = "".join(f"ud[{first + d}], " for d in range(ndims[i]))
            flat += f".reshape(({shape}))"
        lines.append(f"    s{j} = {flat}")
        names.append(f"s{j}")
    return lines, names


def _cached_cfunc(name: str, body: list[str], header: str, fn_pt, env: dict, sig):
    """Compile ``header`` + ``body`` as a cfunc cached under PyTensor's Numba cache."""
    src = "\n".join([header, *body]) + "\n"
    inner = CACHED_SRC_FUNCTIONS.get(fn_pt.vm.jit_fn.py_func)
    if inner is None:
        raise RuntimeError("PyTensor's function has no cache key: nothing to key the wrapper by")
    dtypes = [str(env[k]) for k in sorted(env) if k.startswith("DT")]
    key = hashlib.sha256(f"{SALT}\n{src}\n{inner}\n{dtypes}".encode()).hexdigest()
    env.update(numba=numba, np=np, FN=fn_pt.vm.jit_fn, VP=address_as_void_pointer,
               __name__=__name__)
    py = compile_numba_function_src(src, name, env, cache_key=key)
    return numba.cfunc(sig, cache=True)(py)


def cached_logp(compiled):
    """The log density and gradient callback, as nutpie's ``_make_c_logp_func`` writes it."""
    env: dict = {}
    fn_pt = compiled.logp_func
    shared, names = _shared_lines(compiled, fn_pt, env)
    n = compiled.n_dim
    body = [f"    if dim != {n}:", "        return -1", "    try:",
            f"        x = numba.carray(x_, ({n},))", f"        out = numba.carray(out_, ({n},))",
            "        lp = numba.carray(logp_, ())",
            *("    " + line for line in shared),
            f"        logp_val, grad = FN(x, {', '.join(names)})",
            "        lp[()] = logp_val", "        out[...] = grad",
            "        if not np.all(np.isfinite(out)):", "            return 3",
            "        if not np.isfinite(logp_val):", "            return 4",
            "    except Exception:", "        return 1", "    return 0"]
    return _cached_cfunc("logp_cached", body, "def logp_cached(dim, x_, out_, logp_, ud_):",
                         fn_pt, env, LOGP_SIG)


def cached_expand(compiled):
    """The deterministics callback, as nutpie's ``_make_c_expand_func`` writes it."""
    env: dict = {}
    fn_pt = compiled.expand_func
    shared, names = _shared_lines(compiled, fn_pt, env)
    n, n_exp = compiled.n_dim, compiled.n_expanded
    body = [f"    if dim != {n}:", "        return -1", f"    if expanded != {n_exp}:",
            "        return -1", "    try:",
            f"        x = numba.carray(x_, ({n},))",
            f"        out = numba.carray(out_, ({n_exp},))",
            *("    " + line for line in shared),
            f"        (values,) = FN(x, {', '.join(names)})", "        out[...] = values",
            "    except Exception:", "        return -2", "    return 0"]
    return _cached_cfunc("expand_cached", body,
                         "def expand_cached(dim, expanded, x_, out_, ud_):", fn_pt, env,
                         EXPAND_SIG)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wave", nargs="?", type=Path, default=None,
                        help="a wave folder (default: a simulated 50 x 10 wave)")
    args = parser.parse_args()
    wave = load_wave(args.wave) if args.wave else simulate_wave(
        n_participants=50, n_items=10, items_per_participant=8, seed=5, n_llm=1,
        personas=False).wave
    import nutpie

    model = build_model(wave, ModelConfig())
    with reproducible():
        start = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model, backend="numba")
        t_nutpie = time.perf_counter() - start
        start = time.perf_counter()
        logp = cached_logp(compiled)
        t_logp = time.perf_counter() - start
        start = time.perf_counter()
        expand = cached_expand(compiled)
        t_expand = time.perf_counter() - start
    swapped = dataclasses.replace(compiled, compiled_logp_func=logp,
                                  compiled_expand_func=expand)
    draws = [nutpie.sample(c, draws=50, tune=50, chains=2, seed=3, progress_bar=False)
             .posterior.to_dataset() for c in (compiled, swapped)]
    same = all(np.array_equal(draws[0][v].values, draws[1][v].values) for v in draws[0])
    print(f"nutpie's compile (graph and both callbacks) {t_nutpie:.1f} s; cached callbacks: "
          f"log density {t_logp:.1f} s, deterministics {t_expand:.1f} s; "
          f"2 x (50 + 50) draws of all {len(draws[0])} variables identical: {same}")


if __name__ == "__main__":
    main()
