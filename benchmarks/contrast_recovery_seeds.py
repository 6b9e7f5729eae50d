"""Coverage of group, persona and bias contrasts over seeds (the contrast-recovery test).

``tests/test_contrasts_recovery.py`` checks one fixed realisation (wave seed 11, fit seed
11). This script refits its setting (``WAVE``: 300 participants x 80 items, 30 ratings each,
effect and distortion SD 0.5; nutpie 2 x (300 + 300); personas scored jointly with the
"marginal" and "cut" methods, 100 item draws x 10) for each ``WAVE:FIT`` seed pair and
prints, per realisation, the test's four summaries of the 40 cells of the human group
contrasts, the persona contrasts and the persona bias (``recovery``: coverage of the 90%
intervals; ``z2``, the mean squared error standardised by each interval's SD; the
calibration slope of the truth on the means; r of the means with the truth), whether the
test's bars pass, and the same for broken copies of the same tables:

- ``sign``: every contrast with the wrong sign (a pair-order error);
- ``narrow``: intervals half as wide about the same mean (an interval ignoring most of the
  uncertainty);
- ``x2``: means and intervals twice the truth's scale (a wrong unit);
- ``w/o human`` (bias only): the bias interval without the human posterior's uncertainty (the
  persona contrast's draws minus the human contrast's posterior mean).

The test's bars must pass the calibrated realisations and fail the broken ones::

    python benchmarks/contrast_recovery_seeds.py 11:11 12:11 13:11 14:11 15:15 16:16 17:17 18:18
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from test_contrasts_recovery import KEYS  # noqa: E402  (the test module is on the path now)


def _broken(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The broken copies of one contrast table (see the module docstring)."""
    mean, lower, upper = (table[c].to_numpy() for c in ("mean", "lower", "upper"))
    return {
        "sign": table.assign(mean=-mean, lower=-upper, upper=-lower),
        "narrow": table.assign(lower=mean - (mean - lower) / 2, upper=mean + (upper - mean) / 2),
        "x2": table.assign(mean=2 * mean, lower=2 * lower, upper=2 * upper),
    }


def _without_human(persona: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
    """Persona contrast minus the human contrast's posterior mean (no human uncertainty)."""
    both = persona.merge(human[KEYS + ["mean"]], on=KEYS, suffixes=("", "_h"), validate="1:1")
    shift = both.pop("mean_h")
    return both.assign(mean=both["mean"] - shift, lower=both["lower"] - shift,
                       upper=both["upper"] - shift)


def _one(spec: str) -> list[dict[str, object]]:
    """One realisation: a row per (table, variant) with the test's summaries and verdict."""
    from test_contrasts_recovery import (
        MIN_R,
        MIN_R_BIAS,
        WAVE,
        _persona_truth,
        _truth_pairs,
        failures,
        recovery,
        slope_on_truth,
    )

    from vp_bayes.contrasts import bias_contrasts, human_contrasts, persona_contrasts
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import fit_wave
    from vp_bayes.scoring import score
    from vp_bayes.wave.simulate import simulate_wave

    wave_seed, fit_seed = (int(x) for x in spec.split(":"))
    start = time.perf_counter()
    sim = simulate_wave(seed=wave_seed, **WAVE)
    model = fit_wave(sim.wave, ModelConfig(),
                     SamplerConfig(draws=300, tune=300, chains=2, seed=fit_seed),
                     progress=False, ppc_draws=20)
    truths = {"human": _truth_pairs(sim.truth, "effect"), "persona": _persona_truth(sim.truth),
              "bias": _truth_pairs(sim.truth, "persona_distortion")}
    tables = {"human": human_contrasts(model)}
    for method in ("marginal", "cut"):
        portraits = score(model, sim.llm_ratings, n_item_draws=100, n_per_draw=10,
                          seed=fit_seed, progress=False, method=method)
        tag = "" if method == "marginal" else " (cut)"
        tables["persona" + tag] = persona_contrasts(portraits).drop(columns="model")
        tables["bias" + tag] = bias_contrasts(model, portraits).drop(columns="model")
    variants = {(name, "calibrated"): table for name, table in tables.items()}
    for name in ("human", "persona", "bias"):
        variants.update({(name, kind): t for kind, t in _broken(tables[name]).items()})
    variants[("bias", "w/o human")] = _without_human(tables["persona"], tables["human"])
    rhat = float(model.diagnostics["r_hat_max"].max())
    rows = []
    for (name, kind), table in variants.items():
        truth = truths[name.split(" ")[0]]
        stats = recovery(table, truth)
        min_r = MIN_R_BIAS if name.startswith("bias") else MIN_R
        rows.append({"seeds": spec, "table": name, "variant": kind, **stats,
                     "slope on truth": slope_on_truth(table, truth),
                     "passes": not failures(stats, min_r), "R-hat max": rhat})
    print(f"{spec}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", nargs="+", help="WAVE:FIT seed pairs, e.g. 11:11")
    args = parser.parse_args()
    table = pd.DataFrame([row for spec in args.seeds for row in _one(spec)])
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print("\nPer realisation:")
        print(table.round(3).to_string(index=False))
        print("\nOver realisations (min / max of each summary; passes: how many of them):")
        summary = table.groupby(["table", "variant"], sort=False).agg(
            coverage_min=("coverage", "min"), coverage_max=("coverage", "max"),
            z2_min=("z2", "min"), z2_max=("z2", "max"), slope_min=("slope", "min"),
            slope_max=("slope", "max"), r_min=("r", "min"), passes=("passes", "sum"),
            runs=("passes", "size"))
        print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
