"""Pre-scored values with measurement error: exact covariates vs regression calibration (issue 18).

Simulates waves in the real design whose scores measure Student-t latent values with error
(``tests/measurement_sim.py``), fits each with ``value_input="exact"`` and
``value_input="calibrated"`` (reliability 0.6 configured), scores simulated LLMs
(``tests/realwave_sim.py``) at 1x and 2x the human spread and prints, per true reliability,
mode and spread: coverage of the 90% intervals of the LLMs' true latent values, the slope
of the posterior means on the truth, the median interval width, and the percentiles'
mean absolute error and interval coverage against the share of the participants' true values
below each LLM's true value. The item loadings' coverage and slope against the truth are
printed per fit. A true reliability other than 0.6 checks the cost of a wrong one.

Run (about 8 minutes per true reliability on 2 cores)::

    vp-bayes import valueportrait ../shared/valueportrait/release /tmp/vp_wave
    python benchmarks/value_measurement_sim.py /tmp/vp_wave [--reliabilities 0.6 0.45 0.75]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
MASS = 0.90


def _loading_check(fit, truth) -> dict[str, float]:
    draws = fit.idata["posterior"].to_dataset()["beta"].stack(s=("chain", "draw")).transpose(
        "s", ...).values
    true = truth.beta[0]
    lo, hi = np.quantile(draws, [(1 - MASS) / 2, (1 + MASS) / 2], axis=0)
    return {"beta_cover": float(((true >= lo) & (true <= hi)).mean()),
            "beta_slope": float(np.polyfit(true.ravel(), draws.mean(0).ravel(), 1)[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wave", type=Path)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "valueportrait.nc")
    parser.add_argument("--reliabilities", type=float, nargs="+", default=[0.6])
    parser.add_argument("--n", type=int, default=20, help="LLMs per spread")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    from measurement_sim import percentile_check, simulate_measured_wave
    from realwave_sim import calibration, simulate_llms

    import vp_bayes as vb
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.diagnostics import convergence_table
    from vp_bayes.model.fit import fit_wave

    wave = vb.load_wave(args.wave)
    shipped = vb.load_model(args.model)
    sampler = SamplerConfig(chains=args.chains, draws=args.draws, tune=args.tune,
                            seed=args.seed)
    rows, fits = [], []
    for rel in args.reliabilities:
        sim, truth = simulate_measured_wave(wave, shipped, rel, seed=args.seed)
        llms = {s: simulate_llms(truth, args.n, s, seed=int(10 * s) + args.seed)
                for s in (1.0, 2.0)}
        for mode in ("exact", "calibrated"):
            start = time.perf_counter()
            fit = fit_wave(sim, ModelConfig(value_input=mode), sampler, progress=False,
                           ppc_draws=20)
            fits.append({"rel_true": rel, "mode": mode,
                         "r_hat_max": float(convergence_table(fit.idata)["r_hat_max"].max()),
                         **_loading_check(fit, truth),
                         "fit_s": round(time.perf_counter() - start)})
            print(fits[-1], flush=True)
            for spread, (theta, ratings) in llms.items():
                res = vb.score(fit, ratings, progress=False, seed=4)
                names = sorted(ratings["respondent"].unique())
                rows.append({"rel_true": rel, "mode": mode, "spread": spread,
                             **calibration(res.table, theta, names, truth.values),
                             **percentile_check(res.table, theta, names, truth.reference[0],
                                                truth.values)})
                print(rows[-1], flush=True)
    pd.set_option("display.width", 200)
    print(pd.DataFrame(fits).round(3).to_string(index=False))
    print()
    cols = ["rel_true", "mode", "spread", "coverage", "slope", "r", "median_width", "pct_mae",
            "pct_cover"]
    print(pd.DataFrame(rows)[cols].round(3).to_string(index=False))


if __name__ == "__main__":
    main()
