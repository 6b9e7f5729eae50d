"""Coverage of group, persona and bias contrasts over seeds (the contrast-recovery test).

``tests/test_contrasts_recovery.py`` checks one fixed realisation (wave seed 11, fit seed
11) against bars of 0.85 for 40 cells; a new rounding of the compiled model (another
PyTensor cache state, other compiled code) gives another realisation. This script refits
the same setting (300 participants x 80 items, 30 ratings each, effect and distortion SD 0.5,
nutpie 2 x (300 + 300), default "marginal" scoring with 100 item draws x 10) for each
``WAVE:FIT`` seed pair and prints the coverage of the 90% intervals of the human group
contrasts, the persona contrasts and the persona bias, with the correlation of means::

    python benchmarks/contrast_recovery_seeds.py 11:11 11:12 11:13 12:11 13:11
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", nargs="+", help="WAVE:FIT seed pairs, e.g. 11:11")
    args = parser.parse_args()

    from test_contrasts_recovery import WAVE, _persona_truth, _recovery, _truth_pairs

    from vp_bayes.contrasts import bias_contrasts, human_contrasts, persona_contrasts
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.fit import fit_wave
    from vp_bayes.scoring import score
    from vp_bayes.wave.simulate import simulate_wave

    rows = []
    for spec in args.seeds:
        wave_seed, fit_seed = (int(x) for x in spec.split(":"))
        start = time.perf_counter()
        sim = simulate_wave(seed=wave_seed, **WAVE)
        model = fit_wave(sim.wave, ModelConfig(),
                         SamplerConfig(draws=300, tune=300, chains=2, seed=fit_seed),
                         progress=False, ppc_draws=20)
        portraits = score(model, sim.llm_ratings, n_item_draws=100, n_per_draw=10,
                          seed=fit_seed, progress=False, method="marginal")
        human, _ = _recovery(human_contrasts(model), _truth_pairs(sim.truth, "effect"), "human")
        persona, r_persona = _recovery(persona_contrasts(portraits).drop(columns="model"),
                                       _persona_truth(sim.truth), "persona")
        bias, r_bias = _recovery(bias_contrasts(model, portraits).drop(columns="model"),
                                 _truth_pairs(sim.truth, "persona_distortion"), "bias")
        rows.append((spec, human, persona, r_persona, bias, r_bias,
                      float(model.diagnostics["r_hat_max"].max()), time.perf_counter() - start))
    print("\n| wave:fit seeds | human | persona (r) | bias (r) | R-hat max | seconds |")
    print("|---|---|---|---|---|---|")
    for spec, h, p, rp, b, rb, rhat, sec in rows:
        print(f"| {spec} | {h:.3f} | {p:.3f} ({rp:.2f}) | {b:.3f} ({rb:.2f}) | {rhat:.3f} "
              f"| {sec:.0f} |")


if __name__ == "__main__":
    main()
