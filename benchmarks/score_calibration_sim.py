"""Scoring coverage over several simulated waves (the calibration test's wave, other seeds).

``tests/test_scoring_calibration.py`` fits one simulated wave (250 x 60, seed 21) and scores
100 LLM-like respondents through the fitted posterior; its 90% coverage sits at the band's upper
edge (0.950-0.951). This repeats it for other wave seeds and acceptance targets, so that a
coverage figure is a spread over waves, not one realisation. Prints one row per run: coverage
through the fitted posterior, through the true item parameters, corr(mean, truth), the fit's
max R-hat and min bulk ESS.

    python benchmarks/score_calibration_sim.py 22 0.8
    python benchmarks/score_calibration_sim.py 22 0.65
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test's own simulator and coverage helpers


def main() -> None:
    """Fit wave seed ``argv[1]`` at acceptance target ``argv[2]`` and print its coverage."""
    from test_scoring import _fake_model
    from test_scoring_calibration import (
        N_RESPONDENTS,
        _coverage,
        _simulate_respondents,
        fit_calibration_wave,
    )

    seed, target = int(sys.argv[1]), float(sys.argv[2])
    sim, model = fit_calibration_wave(seed, target)
    theta, ratings = _simulate_respondents(sim.truth, N_RESPONDENTS, seed=5)
    exact, _, _ = _coverage(_fake_model(sim.truth, 200, jitter=0.0), ratings, theta)
    covered, r, _ = _coverage(model, ratings, theta)
    diag = model.diagnostics
    print(f"| {seed} | {target} | {covered:.3f} | {exact:.3f} | {r:.3f} | "
          f"{diag['r_hat_max'].max():.3f} | {diag['ess_bulk_min'].min():.0f} |")


if __name__ == "__main__":
    main()
