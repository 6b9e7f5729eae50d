"""Fit speed, memory and sampling efficiency of each inference engine.

Each (wave, sampler) runs in a fresh child process (peak RSS is that child's). Prints a table:
wall time (build + compile + sample), sampling time, peak memory, minimum bulk ESS over the
item parameters (beta, b, kappa), ESS per second of sampling, max R-hat, divergences, and for
the approximate methods the error of the loadings' posterior means against a NUTS reference.

    python benchmarks/fit_speed.py                               # real wave + 2000 x 300 sim
    python benchmarks/fit_speed.py --waves real --samplers nutpie --draws 1000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"


def _wave(name: str):
    if name == "real":
        from vp_bayes.wave.importers.valueportrait import read_valueportrait

        return read_valueportrait(RELEASE)
    from vp_bayes.wave.simulate import simulate_wave

    return simulate_wave(n_participants=2000, n_items=300, items_per_participant=80, seed=1,
                         n_llm=1, personas=False).wave


def run_one(wave_name: str, sampler: str, draws: int, tune: int, out: Path) -> dict:
    """Fit once and return the measurements (called in a child process)."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.diagnostics import sampler_summary
    from vp_bayes.model.fit import fit_wave

    wave = _wave(wave_name)
    start = time.perf_counter()
    model = fit_wave(wave, ModelConfig(), SamplerConfig(sampler=sampler, draws=draws, tune=tune),
                     progress=False, ppc_draws=20)
    wall = time.perf_counter() - start
    diag = model.diagnostics
    items = diag[diag["item_parameter"]]
    ess = float(items["ess_bulk_min"].min())
    beta = model.posterior["beta"].mean(("chain", "draw")).values
    out.with_suffix(".beta.json").write_text(json.dumps(beta.tolist()))
    stats = sampler_summary(model.idata)
    return dict(wave=wave_name, sampler=sampler, wall_s=wall, sampling_s=model.fit_seconds,
                peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                ess_bulk_min_items=ess, ess_per_s=ess / model.fit_seconds,
                r_hat_max_items=float(items["r_hat_max"].max()),
                divergences=stats["divergences"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waves", default="real,sim2000")
    parser.add_argument("--samplers", default="nutpie,pymc,advi,pathfinder")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    parser.add_argument("--one", nargs=2, metavar=("WAVE", "SAMPLER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        wave, sampler = args.one
        res = run_one(wave, sampler, args.draws, args.tune, args.out / f"{wave}-{sampler}")
        (args.out / f"{wave}-{sampler}.json").write_text(json.dumps(res))
        return
    rows = []
    for wave in args.waves.split(","):
        if wave == "real" and not (RELEASE / "release").is_dir():
            print("skipping the real wave: ../shared/valueportrait not found")
            continue
        for sampler in args.samplers.split(","):
            cmd = [sys.executable, __file__, "--one", wave, sampler, "--draws", str(args.draws),
                   "--tune", str(args.tune), "--out", str(args.out)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            res_file = args.out / f"{wave}-{sampler}.json"
            if proc.returncode != 0 or not res_file.exists():
                print(f"{wave}/{sampler} failed:\n{proc.stderr[-1500:]}")
                continue
            rows.append(json.loads(res_file.read_text()))
    _add_errors(rows, args.out)
    _print(rows)


def _add_errors(rows: list[dict], out: Path) -> None:
    import numpy as np

    for row in rows:
        ref = out / f"{row['wave']}-nutpie.beta.json"
        mine = out / f"{row['wave']}-{row['sampler']}.beta.json"
        if row["sampler"] in ("advi", "pathfinder") and ref.exists():
            a, b = np.array(json.loads(mine.read_text())), np.array(json.loads(ref.read_text()))
            row["beta_rmse_vs_nuts"] = float(np.sqrt(np.mean((a - b) ** 2)))
            row["beta_corr_vs_nuts"] = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _print(rows: list[dict]) -> None:
    import pandas as pd

    if not rows:
        print("no results")
        return
    table = pd.DataFrame(rows).set_index(["wave", "sampler"])
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string())


if __name__ == "__main__":
    main()
