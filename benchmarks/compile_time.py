"""Compile time of the item model: what a fit pays before its first draw.

For each wave in the order given, in one process: build the default model, time the compile
of nutpie's model (``--compiler vp_bayes``: ``model.nutpie_path.compile_nutpie``, what
``fit_wave`` samples, its callbacks cached on disk; ``--compiler nutpie``: nutpie's own
``compile_pymc_model``) and PyMC's Numba ``logp_dlogp_function`` (what the ADVI starts use) up
to the first evaluation, then the median of one log density + gradient evaluation. The order
matters: PyTensor caches compiled code on disk, so run it with an empty cache to see a new
machine's first fits, and compare the compilers in separate runs::

    PYTENSOR_FLAGS=base_compiledir=$(mktemp -d) python benchmarks/compile_time.py \\
        demo recovery contrasts recovery

Waves: ``demo`` (data/demo), ``recovery`` (400 x 60 simulated, demographic groups: the
recovery tests' wave), ``contrasts`` (300 x 80 simulated with groups: the same configuration
as ``recovery``, other data), ``real`` (the imported Value Portrait release, exact values),
``real-calibrated``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait" / "release"
sys.path.insert(0, str(REPO / "tests"))  # the recovery tests' wave settings


def _case(name: str):
    from vp_bayes.model.config import ModelConfig
    from vp_bayes.wave.simulate import simulate_wave

    if name == "demo":
        from vp_bayes.wave.io import load_wave

        return load_wave(REPO / "data" / "demo"), ModelConfig()
    if name == "recovery":
        from test_model_recovery import SETTINGS

        return simulate_wave(**SETTINGS).wave, ModelConfig()
    if name == "contrasts":
        from test_contrasts_recovery import WAVE

        return simulate_wave(seed=11, **WAVE).wave, ModelConfig()
    if name in ("real", "real-calibrated"):
        from vp_bayes.wave.importers.valueportrait import read_valueportrait

        value_input = "calibrated" if name == "real-calibrated" else "auto"
        return read_valueportrait(RELEASE), ModelConfig(value_input=value_input)
    raise SystemExit(f"unknown wave {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("waves", nargs="+", help="demo, recovery, contrasts, real, "
                        "real-calibrated (in this order; repeats allowed)")
    parser.add_argument("--repeats", type=int, default=100, help="gradient calls timed")
    parser.add_argument("--compiler", choices=["vp_bayes", "nutpie"], default="vp_bayes",
                        help="what compiles nutpie's model (default: the package's, cached)")
    args = parser.parse_args()

    import nutpie

    from vp_bayes.model.build import build_model_from_data
    from vp_bayes.model.compiling import reproducible
    from vp_bayes.model.data import prepare_data
    from vp_bayes.model.nutpie_path import compile_nutpie
    from vp_bayes.model.variational import _logp_dlogp

    def compile_model(model):
        if args.compiler == "nutpie":
            return nutpie.compile_pymc_model(model, backend="numba")
        return compile_nutpie(model)

    rows = []
    for name in args.waves:
        wave, config = _case(name)
        model = build_model_from_data(prepare_data(wave, config), config)
        start = time.perf_counter()
        with reproducible():  # the flags fit_wave compiles under
            compile_model(model)
        nutpie_s = time.perf_counter() - start
        start = time.perf_counter()
        fn, x0 = _logp_dlogp(model)
        fn(x0)
        advi_s = time.perf_counter() - start
        calls = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn(x0)
            calls.append(time.perf_counter() - start)
        rows.append((name, nutpie_s, advi_s, 1e3 * float(np.median(calls))))
        print(f"{name}: nutpie model ({args.compiler}) {nutpie_s:.1f} s, "
              f"ADVI function {advi_s:.1f} s, gradient {rows[-1][3]:.2f} ms", flush=True)
    print(f"\n| wave | nutpie model, {args.compiler} (s) | ADVI function (s) | gradient (ms) |")
    print("|---|---|---|---|")
    for name, a, b, g in rows:
        print(f"| {name} | {a:.1f} | {b:.1f} | {g:.2f} |")


if __name__ == "__main__":
    main()
