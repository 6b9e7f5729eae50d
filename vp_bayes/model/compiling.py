"""How vp_bayes compiles a model's code: the flags every compilation of a fit runs under.

PyTensor's Numba backend compiles with fast-math flags by default. With them, LLVM may round a
sum differently when a function is compiled fresh (inlined into the sampler's module) than when
it is loaded from the on-disk cache, and NUTS turns that last bit into other draws: one seed
gave different fits on a machine whose compile cache was cold (a fresh CI machine) and on one
where it was warm, and the statistical tests' results depended on which test compiled first.
Without them the draws are bitwise equal either way, at the same speed (demo wave, 2 x 200
steps: 35.9 s against 39.2 s with fast-math; one demo-wave gradient 2.77 ms against 3.09 ms,
session 16).

Every compilation a fit makes (nutpie through PyMC, nutpie from ADVI starts, ADVI itself and its
draws, the initial points they start from) runs inside :func:`reproducible`; the functions that
make them are wrapped with :func:`reproducibly`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytensor

REPRODUCIBLE_FLAGS = {"numba__fastmath": False}


def reproducible() -> AbstractContextManager:
    """A context in which PyTensor compiles with :data:`REPRODUCIBLE_FLAGS`."""
    return pytensor.config.change_flags(**REPRODUCIBLE_FLAGS)


def reproducibly[**P, R](fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` run inside :func:`reproducible` (the flags are read at each call)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with reproducible():
            return fn(*args, **kwargs)

    return wrapper
