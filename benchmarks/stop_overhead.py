"""What stopping when converged costs (``SamplerConfig.check_every``, issue 16 session 34).

Two tables on one wave (default: the demo), in one process so the compile is paid once:

1. chains two at a time (one per CPU, the default) against all at once (what the stopping
   rule needs), the same compiled model and ADVI starts, alternated ``--reps`` times;
2. a fit that stops when converged (``--draws`` at most, checked every ``--check-every``)
   against a fit of exactly the draws it stopped at, without the rule, timed to the end of
   ``fit_wave`` (each includes its convergence table).

Run: ``python benchmarks/stop_overhead.py [WAVE] [--draws 4000] [--check-every 250]
[--alternate-draws 1500] [--reps 2]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from vp_bayes.model import fit
from vp_bayes.model.config import SamplerConfig
from vp_bayes.wave.io import load_wave

REPO = Path(__file__).resolve().parents[1]


def alternate(wave, draws: int, reps: int) -> pd.DataFrame:
    """Seconds of ``fit._sample`` with the chains two at a time and all at once."""
    prepared = fit.prepare_fit(wave, sampler_config=SamplerConfig(draws=draws, tune=400,
                                                                  chains=4))
    model, cfg = prepared.model, prepared.sampler_config
    trace = fit.traced_names(model, prepared.data, prepared.model_config)  # as fits trace
    fit._sample(model, SamplerConfig(draws=10, tune=10, chains=2), False,
                trace=trace)  # compile once
    rows = []
    real_cores = fit.usable_cores
    try:
        for rep in range(reps):
            for cores in (2, cfg.chains):
                fit.usable_cores = lambda c=cores: c
                start = time.perf_counter()
                fit._sample(model, cfg, False, trace=trace)
                rows.append(dict(rep=rep, chains_at_once=cores,
                                 seconds=round(time.perf_counter() - start, 1)))
    finally:
        fit.usable_cores = real_cores
    return pd.DataFrame(rows)


def stop_against_fixed(wave, draws: int, every: int) -> pd.DataFrame:
    """A stopped fit against a fixed fit of the draws it stopped at (seconds to the end of
    ``fit_wave``), and the largest difference of their tables."""
    rows = []
    start = time.perf_counter()
    stopped = fit.fit_wave(wave, sampler_config=SamplerConfig(draws=draws, tune=400, chains=4,
                                                              check_every=every),
                           progress=False)
    rows.append(dict(fit=f"at most {draws}, checked every {every}",
                     draws=stopped.posterior.sizes["draw"],
                     seconds=round(time.perf_counter() - start, 1)))
    start = time.perf_counter()
    fixed = fit.fit_wave(wave, sampler_config=SamplerConfig(
        draws=int(stopped.posterior.sizes["draw"]), tune=400, chains=4), progress=False)
    rows.append(dict(fit="the same draws, no rule", draws=fixed.posterior.sizes["draw"],
                     seconds=round(time.perf_counter() - start, 1)))
    cols = ["r_hat_max", "ess_bulk_min", "ess_tail_min"]
    diff = np.abs(stopped.diagnostics[cols] - fixed.diagnostics[cols]).to_numpy().max()
    out = pd.DataFrame(rows)
    out["table_max_abs_difference"] = [diff, 0.0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wave", nargs="?", type=Path, default=REPO / "data" / "demo")
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--check-every", type=int, default=250)
    parser.add_argument("--alternate-draws", type=int, default=1500)
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    wave = load_wave(args.wave)
    print(alternate(wave, args.alternate_draws, args.reps).to_string(index=False))
    print()
    print(stop_against_fixed(wave, args.draws, args.check_every).to_string(index=False))


if __name__ == "__main__":
    main()
