"""Convergence per gradient of one wave's fit (issue 16): the fit under a config.

Fits ``data/demo`` (raw PVQ-RR answers, latent values), or with ``--wave real`` the Value
Portrait release beside the checkout (``../shared/valueportrait``; from holi-lab/ValuePortrait),
through ``fit_wave`` with the model and sampler settings given as JSON (the sections of a
``vp-bayes fit --config`` file) and prints the wall time and the sampler call's (ADVI, compile,
sampling), leapfrog steps per draw, divergences, the ten variables with the smallest bulk ESS
(the fit's own diagnostics table) and the smallest bulk ESS per 1,000 gradients of the saved
draws (the efficiency the issue's "10x" is about; it does not depend on what else shares the
machine, the times do). With ``check_every`` it prints where the fit stopped and, after the
table, the three largest R-hats. ``--spreads`` adds one row per value for the loadings' spread
``beta_sd``: posterior mean and 90% interval, bulk ESS and R-hat (where the slowest variable's
posterior sits). ``--against CONFIG2`` fits the wave a second time under another config, prints
the same figures for it and then both fits' PSIS-LOO of the ratings (``vb.loo_comparison``,
paired over the same ratings: the model-choice check for a change of prior).

    python benchmarks/demo_convergence.py '{"sampler": {"draws": 400, "tune": 400, "chains": 2}}'
    python benchmarks/demo_convergence.py '{"sampler": {"draws": 400, "tune": 400, "chains": 2,
        "fused_likelihood": true}, "model": {"loading_parameterization": "mixture"}}'
    python benchmarks/demo_convergence.py --wave real --spreads '{"model": {"value_input":
        "exact", "loading_parameterization": "noncentered"}, "sampler": {"draws": 1000,
        "tune": 400, "chains": 2, "seed": 2026}}'
    python benchmarks/demo_convergence.py --wave real --spreads '{"sampler": {"draws": 1000,
        "tune": 400, "chains": 2, "seed": 7}}' --against '{"model": {"loading_scale_family":
        "half_normal"}, "sampler": {"draws": 1000, "tune": 400, "chains": 2, "seed": 7}}'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vp_bayes.model.fit import ItemModel
    from vp_bayes.wave.core import Wave

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"


def _load(name: str):
    """The demo wave, or the real release (exit 2 with a line when it is absent)."""
    if name == "demo":
        from vp_bayes.wave.io import load_wave

        return load_wave(REPO / "data" / "demo")
    if not RELEASE.is_dir():
        print(f"{RELEASE}: the Value Portrait release is not there (get it from the public "
              "repository holi-lab/ValuePortrait and put it beside the checkout)",
              file=sys.stderr)
        sys.exit(2)
    from vp_bayes.wave.importers.valueportrait import read_valueportrait

    return read_valueportrait(RELEASE)


def _spreads(post) -> str:
    """One row per value: ``beta_sd``'s posterior mean, 90% interval, bulk ESS and R-hat (the
    ESS and R-hat calls of the fit's own ``convergence_table``, per element)."""
    import arviz as az
    import pandas as pd

    ds = post[["beta_sd"]]
    sd = ds["beta_sd"]
    q = sd.quantile([0.05, 0.95], ("chain", "draw"))
    return pd.DataFrame({
        "mean": sd.mean(("chain", "draw")).to_series(),
        "q05": q.sel(quantile=0.05).to_series(), "q95": q.sel(quantile=0.95).to_series(),
        "ess_bulk": az.ess(ds, method="bulk")["beta_sd"].to_series(),
        "r_hat": az.rhat(ds)["beta_sd"].to_series(),
    }).to_string(float_format="%.3f")


def main() -> None:
    """Fit the wave under the JSON config and print the figures (and, with ``--against``,
    fit it under the second config too and compare the two by PSIS-LOO)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="{}", help="model/sampler JSON")
    parser.add_argument("--wave", choices=("demo", "real"), default="demo")
    parser.add_argument("--spreads", action="store_true",
                        help="print the loadings' spread per value")
    parser.add_argument("--against", default=None,
                        help="a second model/sampler JSON: fit it too and compare PSIS-LOO")
    args = parser.parse_args()
    wave = _load(args.wave)
    fits = [_fit_and_report(wave, args.config, args)]
    if args.against is not None:
        import pandas as pd

        from vp_bayes.model.diagnostics import loo_comparison

        print()
        fits.append(_fit_and_report(wave, args.against, args))
        table = loo_comparison({f"fit {i + 1}": m for i, m in enumerate(fits)})
        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(table.drop(columns=["budget", "saved"]).to_string(
                formatters={"r_hat_max": "{:.3f}".format}, float_format="%.1f"))


def _fit_and_report(wave: Wave, config: str, args: argparse.Namespace) -> ItemModel:
    """Fit ``wave`` under the JSON ``config``, print its figures and return the fit."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import fit_wave, stopped_at

    cfg = json.loads(config)
    start = time.perf_counter()
    model = fit_wave(wave, ModelConfig.from_dict(cfg.get("model", {})),
                     SamplerConfig.from_dict(cfg.get("sampler", {})), progress=False,
                     ppc_draws=20)
    wall = time.perf_counter() - start
    stats = model.idata["sample_stats"].to_dataset()
    gradients = int(stats["n_steps"].sum())
    diag = model.diagnostics
    print(f"wave {args.wave}, config {json.dumps(cfg)}")
    if model.sampler_config.check_every is not None:
        sampled = model.idata.attrs.get("draws_sampled")
        print(f"draws per chain sampled: {sampled} (cap {model.sampler_config.draws}, checked "
              f"every {model.sampler_config.check_every}; stopped at the convergence bar: "
              f"{'yes' if stopped_at(model) else 'no'})")
    print(f"wall {wall:.0f} s, sampler call (ADVI, compile, sampling) {model.fit_seconds:.0f} s, "
          f"{float(stats['n_steps'].mean()):.1f} steps per draw, "
          f"{int(stats['diverging'].sum())} divergences, {gradients} gradients (saved draws)")
    print(diag.sort_values("ess_bulk_min").head(10)[
        ["r_hat_max", "ess_bulk_min", "ess_tail_min"]].to_string(float_format="%.3f"))
    print("largest R-hat:", ", ".join(f"{name} {r:.4f}" for name, r in
                                      diag["r_hat_max"].nlargest(3).items()))
    if args.spreads:
        print(_spreads(model.idata["posterior"].to_dataset()))
    worst = float(diag["ess_bulk_min"].min())
    print(f"min bulk ESS {worst:.0f}, max R-hat {diag['r_hat_max'].max():.3f}, "
          f"bulk ESS per 1,000 gradients {1000 * worst / gradients:.2f}")
    return model


if __name__ == "__main__":
    main()
