"""Convergence per gradient of one demo-wave fit (issue 16): the demo job's fit under a config.

Fits ``data/demo`` (raw PVQ-RR answers, latent values) through ``fit_wave`` with the model and
sampler settings given as JSON (the sections of a ``vp-bayes fit --config`` file) and prints
the wall time and the sampler call's (ADVI, compile, sampling), leapfrog steps per draw,
divergences, the ten variables with the smallest bulk ESS (the fit's own diagnostics table)
and the smallest bulk ESS per 1,000 gradients of the saved draws (the efficiency the issue's
"10x" is about; it does not depend on what else shares the machine, the times do).

    python benchmarks/demo_convergence.py '{"sampler": {"draws": 400, "tune": 400, "chains": 2}}'
    python benchmarks/demo_convergence.py '{"sampler": {"draws": 400, "tune": 400, "chains": 2,
        "fused_likelihood": true}, "model": {"loading_parameterization": "mixture"}}'
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from vp_bayes.model.config import ModelConfig, SamplerConfig
from vp_bayes.model.fit import fit_wave
from vp_bayes.wave.io import load_wave

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Fit the demo wave under the JSON config in ``sys.argv[1]`` and print the figures."""
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    wave = load_wave(REPO / "data" / "demo")
    start = time.perf_counter()
    model = fit_wave(wave, ModelConfig.from_dict(cfg.get("model", {})),
                     SamplerConfig.from_dict(cfg.get("sampler", {})), progress=False,
                     ppc_draws=20)
    wall = time.perf_counter() - start
    stats = model.idata["sample_stats"].to_dataset()
    gradients = int(stats["n_steps"].sum())
    diag = model.diagnostics
    print(f"config {json.dumps(cfg)}")
    print(f"wall {wall:.0f} s, sampler call (ADVI, compile, sampling) {model.fit_seconds:.0f} s, "
          f"{float(stats['n_steps'].mean()):.1f} steps per draw, "
          f"{int(stats['diverging'].sum())} divergences, {gradients} gradients (saved draws)")
    print(diag.sort_values("ess_bulk_min").head(10)[
        ["r_hat_max", "ess_bulk_min", "ess_tail_min"]].to_string(float_format="%.3f"))
    worst = float(diag["ess_bulk_min"].min())
    print(f"min bulk ESS {worst:.0f}, max R-hat {diag['r_hat_max'].max():.3f}, "
          f"bulk ESS per 1,000 gradients {1000 * worst / gradients:.2f}")


if __name__ == "__main__":
    main()
