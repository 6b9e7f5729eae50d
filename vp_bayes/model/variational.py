"""Mean-field ADVI for the item model: warm-started, fast per step, scheduled to converge.

PyMC's ``pm.fit(method="advi")`` costs 3-4x a gradient per step on this model and starts from
the prior's centre with unit scales; on a 2,000-participant wave it needed minutes and was
still far from converged (``docs/benchmarks.md``). This is the same approximation (a Gaussian
with diagonal covariance in PyMC's unconstrained space, fitted by stochastic gradient ascent on
the ELBO with the reparameterisation trick, one Monte Carlo draw per step) with three
differences, each measured in ``benchmarks/fit_speed.py``:

1. the gradient is PyMC's own ``logp_dlogp_function`` (Numba), nothing else per step;
2. the means start at a posterior mode found by L-BFGS (``map_iterations`` gradient steps;
   the mode of the log density *with* the Jacobian of the transforms, so scale parameters do
   not collapse to zero) and the scales start small (``init_sd``);
3. Adam's learning rate decays linearly to 1% over the second half of the run, so the final
   means are not jittered by the last noisy steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from scipy import optimize

from vp_bayes.model.compiling import reproducibly


@dataclass(frozen=True)
class AdviSettings:
    """Budget and schedule of :func:`fit_meanfield`."""

    steps: int = 2000
    learning_rate: float = 0.02
    map_iterations: int = 100
    init_sd: float = 0.05
    seed: int = 2026


@dataclass(frozen=True)
class MeanField:
    """A fitted mean-field Gaussian over the model's unconstrained (value) variables."""

    mean: np.ndarray
    sd: np.ndarray
    elbo_trace: np.ndarray  # running mean of the one-draw ELBO estimate, one entry per 100 steps
    map_seconds: float
    advi_seconds: float


def _logp_dlogp(model: pm.Model) -> tuple[Callable, np.ndarray]:
    """The log density and its gradient over the flat vector of the free variables, and the
    model's initial point as that vector."""
    free, start = _free_vars(model)
    fn = model.logp_dlogp_function(free, ravel_inputs=True, mode="NUMBA")
    fn.set_extra_values({})
    return fn, _flat(free, start)


def _start(model: pm.Model) -> np.ndarray:
    """The model's initial point as the flat vector of its free variables."""
    return _flat(*_free_vars(model))


def _flat(free: list, start: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(start[v.name]) for v in free]).astype(float)


def _free_vars(model: pm.Model) -> tuple[list, dict[str, np.ndarray]]:
    """The model's free (value) variables in flat-vector order, and its initial point."""
    if len(model.continuous_value_vars) != len(model.value_vars):
        raise ValueError("ADVI needs a model whose free variables are all continuous")
    return list(model.value_vars), model.initial_point()


def _adam_fit(fn: Callable, mean: np.ndarray, settings: AdviSettings,
              progress: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(settings.seed)
    log_sd = np.full_like(mean, np.log(settings.init_sd))
    params = np.concatenate([mean, log_sd])
    m1 = np.zeros_like(params)
    m2 = np.zeros_like(params)
    b1, b2, eps_adam = 0.9, 0.999, 1e-8
    n = mean.size
    trace, running = [], []
    half = settings.steps // 2
    report = max(1, settings.steps // 10)
    for t in range(1, settings.steps + 1):
        mu, ls = params[:n], params[n:]
        sd = np.exp(ls)
        eps = rng.standard_normal(n)
        logp, grad = fn(mu + sd * eps)
        running.append(logp + ls.sum())
        g = np.concatenate([grad, grad * eps * sd + 1.0])  # ELBO gradient (ascent)
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b2 * m2 + (1 - b2) * g * g
        lr = settings.learning_rate
        if t > half:
            lr *= 1.0 - 0.99 * (t - half) / max(1, settings.steps - half)
        step = lr * (m1 / (1 - b1**t)) / (np.sqrt(m2 / (1 - b2**t)) + eps_adam)
        params = params + step
        if t % 100 == 0:
            trace.append(float(np.mean(running)))
            running = []
        if progress and t % report == 0:
            print(f"ADVI step {t}/{settings.steps}: ELBO ~ {trace[-1]:.1f}", flush=True)
    return params[:n], np.exp(params[n:]), np.array(trace)


@reproducibly
def fit_meanfield(model: pm.Model, settings: AdviSettings | None = None, *,
                  progress: bool = False,
                  logp_dlogp: Callable[[np.ndarray], tuple] | None = None) -> MeanField:
    """Fit a mean-field Gaussian to ``model``'s posterior (warm-started ADVI).

    Parameters
    ----------
    model
        A built model (never modified).
    settings
        Budget and schedule; defaults to :class:`AdviSettings()`.
    progress
        Print the ELBO ten times during the run.
    logp_dlogp
        The model's log density and gradient over its flat free-variable vector (the order
        of ``model.value_vars``), already compiled: nutpie's, so a fit compiles the model
        once (:func:`vp_bayes.model.nutpie_path.logp_dlogp`). None compiles PyMC's.

    Returns
    -------
    MeanField
    """
    settings = settings or AdviSettings()
    if logp_dlogp is None:
        fn, x0 = _logp_dlogp(model)
    else:
        fn, x0 = logp_dlogp, _start(model)

    def neg(x):
        logp, grad = fn(x)
        return -logp, -grad

    start = time.perf_counter()
    x = x0
    if settings.map_iterations > 0:
        res = optimize.minimize(neg, x0, jac=True, method="L-BFGS-B",
                                options={"maxiter": settings.map_iterations})
        if np.all(np.isfinite(res.x)):
            x = res.x
    map_seconds = time.perf_counter() - start
    start = time.perf_counter()
    mean, sd, trace = _adam_fit(fn, x, settings, progress)
    return MeanField(mean, sd, trace, map_seconds, time.perf_counter() - start)


@reproducibly
def meanfield_posterior(model: pm.Model, approx: MeanField, draws: int,
                        seed: int) -> xr.Dataset:
    """Draws of every free and deterministic variable (constrained space), dims as the model.

    Returns a Dataset with dims ``chain`` (1), ``draw`` and the model's own dims.
    """
    grad_vars, start = _free_vars(model)
    shapes = [tuple(np.shape(start[v.name])) for v in grad_vars]
    outs = [v for v in model.unobserved_value_vars if not v.name.endswith("__")]
    names = [v.name for v in outs]
    compiled = pytensor.function(grad_vars, outs, on_unused_input="ignore")
    sizes = [int(np.prod(s)) for s in shapes]
    rng = np.random.default_rng(seed)
    collected: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _ in range(draws):
        flat = approx.mean + approx.sd * rng.standard_normal(approx.mean.size)
        parts = np.split(flat, np.cumsum(sizes)[:-1])
        for name, value in zip(names, compiled(*[p.reshape(s) for p, s in
                                                  zip(parts, shapes, strict=True)]),
                               strict=True):
            collected[name].append(np.asarray(value))
    data = {}
    for name, values in collected.items():
        arr = np.stack(values)[None]  # (chain, draw, ...)
        var_dims = model.named_vars_to_dims.get(name, ())
        if len(var_dims) != arr.ndim - 2:
            var_dims = tuple(f"{name}_dim_{k}" for k in range(arr.ndim - 2))
        data[name] = (("chain", "draw", *var_dims), arr)
    coords = {k: list(v) for k, v in model.coords.items() if v is not None}
    ds = xr.Dataset(data)
    return ds.assign_coords({k: v for k, v in coords.items() if k in ds.dims})
