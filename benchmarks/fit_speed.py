"""Fit speed, memory and sampling efficiency of each inference engine.

Each (wave, sampler) runs in a fresh child process (peak RSS is that child's). Prints a table:
wall time (build + compile + sample), sampling time, peak memory, minimum bulk ESS over the
item parameters (beta, b, kappa), ESS per second of sampling, max R-hat, divergences, for
the approximate methods the error of the loadings' posterior means and SDs against a NUTS
reference, and on the simulated wave every engine's loadings against the truth (correlation
of the means, overall and over the non-zero loadings; coverage of the 90% intervals).

    python benchmarks/fit_speed.py              # the default plan: real wave + 2000 x 300 sim
    python benchmarks/fit_speed.py --runs real:nutpie:1000:1000,real:advi
    python benchmarks/fit_speed.py --plan chains  # demo wave: 2 x 2000 vs 4 x 1000 draws

A run is ``WAVE:SAMPLER[:DRAWS:TUNE[:CHAINS[:SPREAD]]]`` (draws/tune per chain; 2 chains
unless given; SPREAD is ``SamplerConfig.init_spread``, the factor on the ADVI SDs of the
chains' starts; for ``advi`` TUNE is the number of optimisation steps). WAVE is ``real``,
``sim2000`` or ``demo`` (``data/demo``). The NUTS reference of a wave for the approximations'
error is its nutpie run; an approximation's "ESS" is that of its independent draws. The
``chains`` plan also prints the worst R-hat and bulk ESS over every saved variable (the
values' correlations and the demographic effects included), the figures a 4-chain default
is for.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO.parent / "shared" / "valueportrait"


def _wave(name: str):
    """The wave and, for a simulated one, its truth (None for the real wave)."""
    if name == "demo":
        from vp_bayes.wave.io import load_wave

        return load_wave(REPO / "data" / "demo"), None
    if name == "real":
        from vp_bayes.wave.importers.valueportrait import read_valueportrait

        return read_valueportrait(RELEASE), None
    from vp_bayes.wave.simulate import simulate_wave

    sim = simulate_wave(n_participants=2000, n_items=300, items_per_participant=80, seed=1,
                        n_llm=1, personas=False)
    return sim.wave, sim.truth


def _vs_truth(post, truth) -> dict:
    """Loadings' posterior means against the simulated truth, and 90% interval coverage."""
    import numpy as np

    true = truth["beta"].transpose("item", "value").values
    beta = post["beta"]
    mean = beta.mean(("chain", "draw")).values
    lo = beta.quantile(0.05, ("chain", "draw")).values
    hi = beta.quantile(0.95, ("chain", "draw")).values
    covered = (true >= lo) & (true <= hi)
    nonzero = true != 0
    return dict(beta_corr_vs_truth=float(np.corrcoef(mean.ravel(), true.ravel())[0, 1]),
                beta_corr_vs_truth_nonzero=float(np.corrcoef(mean[nonzero], true[nonzero])[0, 1]),
                beta_cover90_vs_truth=float(covered.mean()))


DEFAULT_RUNS = ("real:nutpie:2000:400,real:pymc:300:300,real:advi:1000:2000,"
                "real:pathfinder:1000:0,sim2000:nutpie:300:300,sim2000:advi:1000:2000,"
                "sim2000:pathfinder:1000:0")
# The same 4,000 draws as 2 or 4 chains, and 4 chains started over-dispersed (ADVI SD x 2).
PLANS = {"default": DEFAULT_RUNS,
         "chains": "demo:nutpie:2000:400:2,demo:nutpie:1000:400:4,demo:nutpie:1000:400:4:2"}


def _tag(wave: str, sampler: str, chains: int | None, spread: float | None) -> str:
    """File stem of one run's results (``WAVE-SAMPLER[-cCHAINS][-sSPREAD]``)."""
    tag = f"{wave}-{sampler}"
    if chains is not None:
        tag += f"-c{chains}"
    if spread is not None:
        tag += f"-s{spread:g}"
    return tag


RUN_FIELDS = ("sampler", "draws", "tune", "chains", "advi_iterations", "init_spread")


def _refuse(message: str) -> NoReturn:
    """One line on standard error, exit status 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _sampler_extras(text: str) -> dict:
    """``--sampler-config``: SamplerConfig fields as a JSON object, refused (exit 2) where it
    is not one or sets what the run spec sets (:data:`RUN_FIELDS`)."""
    try:
        extras = json.loads(text)
    except json.JSONDecodeError as err:
        _refuse(f"--sampler-config: not JSON ({err})")
    if not isinstance(extras, dict):
        _refuse("--sampler-config: a JSON object of SamplerConfig fields, please")
    clash = sorted(set(extras) & set(RUN_FIELDS))
    if clash:
        _refuse(f"--sampler-config: {', '.join(clash)} come(s) from the run spec "
                "(WAVE:SAMPLER:DRAWS:TUNE:CHAINS:SPREAD)")
    return extras


def run_one(wave_name: str, sampler: str, draws: int, tune: int, out: Path,
            model_config: dict | None = None, save: Path | None = None,
            chains: int | None = None, spread: float | None = None,
            sampler_config: dict | None = None) -> dict:
    """Fit once and return the measurements (called in a child process); ``sampler_config``
    adds SamplerConfig fields to the run's budget (:func:`_sampler_extras`; ``check_every``
    to nutpie runs only, the one sampler that stops early)."""
    from vp_bayes.model.config import ModelConfig, SamplerConfig
    from vp_bayes.model.diagnostics import sampler_summary
    from vp_bayes.model.fit import fit_wave

    wave, truth = _wave(wave_name)
    start = time.perf_counter()
    budget = dict(draws=draws, tune=tune, chains=chains or 2)
    if sampler == "advi":
        budget = dict(draws=draws, advi_iterations=tune, chains=chains or 2)
    if spread is not None:
        budget["init_spread"] = spread
    extras = dict(sampler_config or {})
    if sampler != "nutpie":
        extras.pop("check_every", None)
    budget.update(extras)
    model = fit_wave(wave, ModelConfig.from_dict(model_config or {}),
                     SamplerConfig(sampler=sampler, **budget), progress=False, ppc_draws=20)
    wall = time.perf_counter() - start
    if save is not None:
        from vp_bayes.model.io import save_model

        save_model(model, save / f"{_tag(wave_name, sampler, chains, spread)}.nc")
    diag = model.diagnostics
    items = diag[diag["item_parameter"]]
    ess = float(items["ess_bulk_min"].min())
    beta = model.posterior["beta"]
    out.with_suffix(".beta.json").write_text(json.dumps({
        "mean": beta.mean(("chain", "draw")).values.tolist(),
        "sd": beta.std(("chain", "draw")).values.tolist()}))
    stats = sampler_summary(model.idata)
    extra = _vs_truth(model.posterior, truth) if truth is not None else {}
    peak = max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    worst = diag["r_hat_max"].idxmax() if diag["r_hat_max"].notna().any() else ""
    return dict(wave=wave_name, sampler=sampler, chains=chains or 2, spread=spread or 1.0,
                draws=draws, draws_kept=int(model.posterior.sizes["draw"]), tune=tune,
                wall_s=wall,
                sampling_s=model.fit_seconds, peak_gib=peak / 2**20,
                ess_bulk_min_items=ess, ess_per_s=ess / model.fit_seconds,
                r_hat_max_items=float(items["r_hat_max"].max()),
                r_hat_max_all=float(diag["r_hat_max"].max()), r_hat_worst=str(worst),
                ess_bulk_min_all=float(diag["ess_bulk_min"].min()),
                divergences=stats["divergences"], tag=out.name, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default=None, help="Comma-separated runs (see above).")
    parser.add_argument("--plan", choices=sorted(PLANS), default="default",
                        help="A named list of runs, used when --runs is not given.")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench")
    parser.add_argument("--model-config", default="{}",
                        help="ModelConfig fields as JSON, e.g. '{\"loading_prior\": \"normal\"}'")
    parser.add_argument("--sampler-config", default="{}",
                        help="SamplerConfig fields as JSON for every run, e.g. "
                             "'{\"check_every\": 250}' (nutpie runs only; DRAWS is then the cap "
                             "and draws_kept says where the fit stopped)")
    parser.add_argument("--save-models", type=Path, default=None,
                        help="Also save each fitted model as DIR/WAVE-SAMPLER.nc.")
    parser.add_argument("--reference", action="append", default=[],
                        metavar="WAVE=MODEL.nc[@CHAINS]",
                        help="Use a saved nutpie fit (optionally only the listed chains, e.g. "
                             "@1) as the wave's NUTS reference instead of running it "
                             "(repeatable).")
    parser.add_argument("--one", nargs=4, metavar=("WAVE", "SAMPLER", "DRAWS", "TUNE"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--chains", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--spread", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    extras = _sampler_extras(args.sampler_config)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.one:
        wave, sampler, draws, tune = args.one
        tag = _tag(wave, sampler, args.chains, args.spread)
        res = run_one(wave, sampler, int(draws), int(tune), args.out / tag,
                      json.loads(args.model_config), args.save_models, args.chains,
                      args.spread, extras)
        (args.out / f"{tag}.json").write_text(json.dumps(res))
        return
    for ref in args.reference:
        _write_reference(ref, args.out)
    rows = []
    for run in (args.runs or PLANS[args.plan]).split(","):
        wave, sampler, *budget = run.split(":")
        draws, tune = (budget + ["1000", "1000"])[:2] if budget else ("1000", "1000")
        chains = int(budget[2]) if len(budget) > 2 else None
        spread = float(budget[3]) if len(budget) > 3 else None
        if wave == "real" and not (RELEASE / "release").is_dir():
            print("skipping the real wave: ../shared/valueportrait not found")
            continue
        cmd = [sys.executable, __file__, "--one", wave, sampler, draws, tune,
               "--out", str(args.out), "--model-config", args.model_config,
               "--sampler-config", args.sampler_config]
        if args.save_models is not None:
            cmd += ["--save-models", str(args.save_models)]
        if chains is not None:
            cmd += ["--chains", str(chains)]
        if spread is not None:
            cmd += ["--spread", str(spread)]
        print("running", run, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        res_file = args.out / f"{_tag(wave, sampler, chains, spread)}.json"
        if proc.returncode != 0 or not res_file.exists():
            print(f"{wave}/{sampler} failed:\n{proc.stderr[-1500:]}")
            continue
        rows.append(json.loads(res_file.read_text()))
    _add_errors(rows, args.out)
    _print(rows)


def _write_reference(spec: str, out: Path) -> None:
    """``WAVE=MODEL.nc[@C1,C2]``: the saved fit's loading means and SDs (of the listed chains,
    default all) as the wave's NUTS reference."""
    from vp_bayes.model.io import load_model

    wave, path = spec.split("=", 1)
    path, _, chains = path.partition("@")
    beta = load_model(path).posterior["beta"]
    if chains:
        beta = beta.isel(chain=[int(c) for c in chains.split(",")])
    (out / f"{wave}-nutpie.beta.json").write_text(json.dumps({
        "mean": beta.mean(("chain", "draw")).values.tolist(),
        "sd": beta.std(("chain", "draw")).values.tolist()}))


def _add_errors(rows: list[dict], out: Path) -> None:
    import numpy as np

    for row in rows:
        ref = out / f"{row['wave']}-nutpie.beta.json"
        mine = out / f"{row.get('tag', row['wave'] + '-' + row['sampler'])}.beta.json"
        if row["sampler"] in ("advi", "pathfinder") and ref.exists():
            a, b = json.loads(mine.read_text()), json.loads(ref.read_text())
            am, bm = np.array(a["mean"]), np.array(b["mean"])
            row["beta_rmse_vs_nuts"] = float(np.sqrt(np.mean((am - bm) ** 2)))
            row["beta_corr_vs_nuts"] = float(np.corrcoef(am.ravel(), bm.ravel())[0, 1])
            row["beta_sd_ratio_vs_nuts"] = float(np.median(np.array(a["sd"]) / np.array(b["sd"])))


def _print(rows: list[dict]) -> None:
    import pandas as pd

    if not rows:
        print("no results")
        return
    table = pd.DataFrame(rows).drop(columns="tag").set_index(["wave", "sampler", "chains"])
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string())


if __name__ == "__main__":
    main()
