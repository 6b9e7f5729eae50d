"""Cost of one log density + gradient evaluation of the item model, per observation.

For each wave, in one run: the graph model (:func:`vp_bayes.model.build.build_model`, the
ordinal terms as observed variables) and the fused model (``fused=True``, the terms as one
compiled op each: :mod:`vp_bayes.model.fused`), both through PyMC's Numba
``logp_dlogp_function`` on the flat unconstrained vector, the way nutpie calls them; the
fused kernels alone (no graph around them) and, beside them, reference kernels written for
the benchmark (one scalar loop per term with libm's exp and log: session 24's kernels, which
the package's vectorised softplus pass replaced); and the graph model's log density turned into a
JAX function with its gradient from ``jax.grad`` (what ``sampler="numpyro"`` runs; only when
JAX is installed: the ``numpyro`` extra), jitted on the CPU. Prints milliseconds per evaluation and
nanoseconds per observation (ratings + questionnaire answers), and checks that both models
give the same value and gradient at the timed point. Last, how many vector instructions the
softplus pass compiled to on this machine.

    python benchmarks/gradient_cost.py                 # demo wave and the real wave
    python benchmarks/gradient_cost.py --waves demo --repeats 500
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numba
import numpy as np

from vp_bayes.model.fused import _gap_terms

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait" / "release"


# The reference kernels: session 24's fused terms, one scalar loop per term with libm's exp
# and log1p (two exponentials and one logarithm per observation while both softplus
# arguments are moderate, one pair each otherwise). Kept here to time the package's kernels
# (three loops, the softplus terms vectorised: vp_bayes.model.fused) against in the same run.
@numba.njit(inline="always")
def _ref_softplus_sigmoid(x):
    e = math.exp(-abs(x))
    inv = 1.0 / (1.0 + e)
    if x >= 0.0:
        return x + math.log1p(e), inv
    return math.log1p(e), e * inv


@numba.njit(inline="always")
def _ref_observation(padded, dpadded, counts, g, k, eta):
    x_hi, x_lo = eta - padded[g, k + 1], padded[g, k] - eta
    if abs(x_hi) < 30.0 and abs(x_lo) < 30.0:
        e_hi, e_lo = math.exp(x_hi), math.exp(x_lo)
        one_hi, one_lo = 1.0 + e_hi, 1.0 + e_lo
        sp, s_hi, s_lo = math.log(one_hi * one_lo), e_hi / one_hi, e_lo / one_lo
    else:
        sp_hi, s_hi = _ref_softplus_sigmoid(x_hi)
        sp_lo, s_lo = _ref_softplus_sigmoid(x_lo)
        sp = sp_hi + sp_lo
    dpadded[g, k + 1] += s_hi
    dpadded[g, k] -= s_lo
    counts[g, k] += 1
    return -sp, s_lo - s_hi


@numba.njit
def _ref_ratings(beta, theta, alpha, b, padded, item, participant, y, group):
    dbeta, dtheta = np.zeros_like(beta), np.zeros_like(theta)
    dalpha, db, dpadded = np.zeros_like(alpha), np.zeros_like(b), np.zeros_like(padded)
    counts = np.zeros((padded.shape[0], padded.shape[1] - 1), dtype=np.int64)
    total = 0.0
    for n in range(y.shape[0]):
        j, i = item[n], participant[n]
        eta = b[j] + alpha[i]
        for v in range(beta.shape[1]):
            eta += beta[j, v] * theta[i, v]
        logp, de = _ref_observation(padded, dpadded, counts, group[n], y[n], eta)
        total += logp
        db[j] += de
        dalpha[i] += de
        for v in range(beta.shape[1]):
            dbeta[j, v] += de * theta[i, v]
            dtheta[i, v] += de * beta[j, v]
    return total + _gap_terms(padded, counts, dpadded), dbeta, dtheta, dalpha, db, dpadded


@numba.njit
def _ref_questions(lam, theta, alpha, padded, question_value, participant, question, y):
    dlam, dtheta = np.zeros_like(lam), np.zeros_like(theta)
    dalpha, dpadded = np.zeros_like(alpha), np.zeros_like(padded)
    counts = np.zeros((padded.shape[0], padded.shape[1] - 1), dtype=np.int64)
    total = 0.0
    for n in range(y.shape[0]):
        i, q = participant[n], question[n]
        v = question_value[q]
        logp, de = _ref_observation(padded, dpadded, counts, q, y[n],
                                    lam[q] * theta[i, v] + alpha[i])
        total += logp
        dlam[q] += de * theta[i, v]
        dtheta[i, v] += de * lam[q]
        dalpha[i] += de
    return total + _gap_terms(padded, counts, dpadded), dlam, dtheta, dalpha, dpadded


def _packed_double_ops() -> str:
    """How many packed (vector) double-precision instructions the softplus pass compiled to,
    by register width: 0 everywhere means the loop runs scalar on this machine."""
    import re

    from vp_bayes.model.fused import _softplus_pass

    _softplus_pass(np.zeros(4), np.zeros(4))
    asm = "".join(_softplus_pass.inspect_asm().values())
    counts = {reg: len(re.findall(rf"\bv\w+pd\s[^\n]*%{reg}\d", asm))
              for reg in ("xmm", "ymm", "zmm")}
    return ", ".join(f"{reg} {n}" for reg, n in counts.items())


def _wave(name: str):
    if name == "real":
        from vp_bayes.wave.importers.valueportrait import read_valueportrait

        return read_valueportrait(RELEASE)
    if name == "sim2000":
        from vp_bayes.wave.simulate import simulate_wave

        return simulate_wave(n_participants=2000, n_items=300, items_per_participant=80,
                             seed=1, n_llm=1, personas=False).wave
    from vp_bayes.wave.io import load_wave

    return load_wave(REPO / "data" / "demo")


def _per_call(fn, x, repeats: int) -> float:
    fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - start) / repeats


def _kernels_alone(data, repeats: int, reference: bool = False) -> float:
    """Seconds per call of the fused kernels on the model's arrays (random parameters); the
    reference kernels (one scalar loop, libm) with ``reference``."""
    from vp_bayes.model.fused import questions_kernel, ratings_kernel
    from vp_bayes.model.likelihood import BIG

    if reference:
        ratings_kernel, questions_kernel = _ref_ratings, _ref_questions

    rng = np.random.default_rng(0)
    n_items, n_part, n_val = len(data.items), len(data.participants), len(data.values)
    beta, theta = rng.normal(0, 0.3, (n_items, n_val)), rng.normal(0, 1, (n_part, n_val))
    alpha, b = rng.normal(0, 0.3, n_part), rng.normal(0, 0.3, n_items)
    padded = np.array([[-BIG, *np.linspace(-2, 2, data.n_categories - 1), BIG]])
    group = np.zeros_like(data.rating_y)
    args = (beta, theta, alpha, b, padded, data.rating_item, data.rating_participant,
            data.rating_y, group)
    if not reference:  # values as data (exact, calibrated): no gradient, as the model does
        args = (*args, data.covariates is None)
    seconds = _per_call(lambda a: ratings_kernel(*a), args, repeats)
    ins = data.instrument
    if ins is not None:
        lam = rng.lognormal(0, 0.3, len(ins.questions))
        table = np.tile(np.array([[-BIG, *np.linspace(-2, 2, ins.n_categories - 1), BIG]]),
                        (len(ins.questions), 1))
        q_args = (lam, theta, alpha, table, ins.question_value, ins.participant, ins.question,
                  ins.y)
        seconds += _per_call(lambda a: questions_kernel(*a), q_args, repeats)
    return seconds


def _jax_function(model):
    """``flat -> (logp, dlogp)`` of the model through JAX, or None without JAX."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    from pymc.sampling.jax import get_jaxified_logp

    from vp_bayes.model.likelihood import use_stable_jax_softplus

    use_stable_jax_softplus()
    jax.config.update("jax_enable_x64", True)
    logp = get_jaxified_logp(model)
    point = model.initial_point()
    shapes = [np.shape(point[v.name]) for v in model.value_vars]
    ends = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]

    def flat_logp(flat):
        parts = jnp.split(flat, ends)
        return logp([p.reshape(s) for p, s in zip(parts, shapes, strict=True)])

    value_and_grad = jax.jit(jax.value_and_grad(flat_logp))

    def call(x):
        value, grad = value_and_grad(x)
        return float(value), np.asarray(jax.block_until_ready(grad))

    return call


def measure(name: str, repeats: int) -> list[dict]:
    """The rows of one wave."""
    from vp_bayes.model.build import build_model_from_data
    from vp_bayes.model.config import ModelConfig
    from vp_bayes.model.data import prepare_data

    wave = _wave(name)
    config = ModelConfig()
    data = prepare_data(wave, config)
    n_obs = len(data.rating_y) + (len(data.instrument.y) if data.instrument is not None else 0)
    rows, results = [], {}
    x = None
    for fused in (False, True):
        model = build_model_from_data(data, config, fused=fused)
        start = time.perf_counter()
        fn = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
        fn.set_extra_values({})
        if x is None:
            size = sum(int(np.prod(v.shape)) for v in model.initial_point().values())
            x = np.random.default_rng(1).normal(0.0, 0.3, size)
        fn(x)
        compile_s = time.perf_counter() - start
        seconds = _per_call(fn, x, repeats)
        results[fused] = fn(x)
        rows.append(dict(wave=name, likelihood="fused" if fused else "graph",
                         observations=n_obs, dim=x.size, compile_s=compile_s,
                         ms=seconds * 1e3, ns_per_obs=seconds * 1e9 / n_obs))
        if not fused:
            jax_fn = _jax_function(model)
            if jax_fn is not None:
                start = time.perf_counter()
                results["jax"] = jax_fn(x)
                compile_s = time.perf_counter() - start
                seconds = _per_call(jax_fn, x, repeats)
                rows.append(dict(wave=name, likelihood="graph, JAX (numpyro's)",
                                 observations=n_obs, dim=x.size, compile_s=compile_s,
                                 ms=seconds * 1e3, ns_per_obs=seconds * 1e9 / n_obs))
    for label, reference in (("fused kernels alone", False),
                             ("reference kernels (one scalar loop, libm)", True)):
        kern = _kernels_alone(data, repeats, reference)
        rows.append(dict(wave=name, likelihood=label, observations=n_obs, dim=np.nan,
                         compile_s=np.nan, ms=kern * 1e3, ns_per_obs=kern * 1e9 / n_obs))
    # Each row's value and gradient against the graph model's (Numba) at the same point.
    lg, gg = results[False]
    for row in rows:
        key = {"graph": False, "fused": True, "graph, JAX (numpyro's)": "jax"}.get(
            row["likelihood"])
        if key not in results:  # the kernels alone run on other (random) arguments
            continue
        lo, go = results[key]
        row["max_abs_diff_logp"] = abs(float(lg) - float(lo))
        row["max_abs_diff_grad"] = float(np.max(np.abs(gg - go)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waves", default="demo,real", help="comma list: demo, real, sim2000")
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    import pandas as pd

    rows = []
    for name in args.waves.split(","):
        if name == "real" and not RELEASE.is_dir():
            print("skipping the real wave: ../shared/valueportrait not found")
            continue
        rows += measure(name, args.repeats)
    table = pd.DataFrame(rows).set_index(["wave", "likelihood"])
    with pd.option_context("display.width", 200, "display.float_format", "{:.3g}".format):
        print(table.to_string())
    print(f"packed double instructions in the softplus pass: {_packed_double_ops()}")


if __name__ == "__main__":
    main()
