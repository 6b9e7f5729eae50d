"""CLI commands: ``fit`` (the item model) and ``select-bayes`` (posterior item selection)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import typer

from vp_bayes.cli.app import app
from vp_bayes.output import unescape_cells, write_csv


@app.command()
def fit(
    wave_dir: Path = typer.Argument(..., help="Wave folder to fit."),
    out: Path = typer.Option(..., "--out", help="Model file to write, e.g. models/NAME.nc."),
    sampler: str | None = typer.Option(None, help="nutpie|pymc|numpyro|advi|pathfinder"),
    draws: int | None = typer.Option(None, help="Posterior draws per chain."),
    tune: int | None = typer.Option(None, help="Warm-up draws per chain."),
    chains: int | None = typer.Option(None, help="Number of chains."),
    seed: int | None = typer.Option(None, help="Random seed."),
    init: str | None = typer.Option(
        None, help="Where NUTS chains start: auto (ADVI draws when values are latent), "
        "jitter (prior centre), advi."),
    config: Path | None = typer.Option(None, help="JSON file {'model': {...}, 'sampler': {...}}."),
    thresholds: str | None = typer.Option(None, help="shared (rating scale) or item (graded)."),
    value_input: str | None = typer.Option(None, help="auto|instrument|latent|exact"),
    keep_draws: int | None = typer.Option(None, help="Save only this many draws per chain."),
    strict: bool = typer.Option(False, help="Exit 1 when R-hat > 1.01 or divergences."),
    progress: bool = typer.Option(True, help="Show the sampler's progress."),
) -> None:
    """Fit the hierarchical item model to a wave and save it with its model card."""
    from vp_bayes.model.config import FitConfig, read_config
    from vp_bayes.model.diagnostics import convergence_problems, ppc_summary, sampler_summary
    from vp_bayes.model.fit import fit_wave, thin
    from vp_bayes.model.io import save_model
    from vp_bayes.wave.io import load_wave

    cfg = read_config(config) if config else FitConfig()
    model_cfg = cfg.model
    if thresholds is not None or value_input is not None:
        model_cfg = replace(model_cfg, thresholds=thresholds or model_cfg.thresholds,
                            value_input=value_input or model_cfg.value_input)
        model_cfg.validate(source="command line")
    overrides = {k: v for k, v in dict(sampler=sampler, draws=draws, tune=tune, chains=chains,
                                       seed=seed, init=init).items() if v is not None}
    sampler_cfg = replace(cfg.sampler, **overrides)
    sampler_cfg.validate(source="command line")
    wave = load_wave(wave_dir)
    typer.echo(f"fitting {wave.manifest.name}: {len(wave.participants)} participants, "
               f"{len(wave.items)} items, {len(wave.ratings)} ratings with {sampler_cfg.sampler} "
               f"({sampler_cfg.chains} chains x {sampler_cfg.tune}+{sampler_cfg.draws})")
    item_model = fit_wave(wave, model_cfg, sampler_cfg, progress=progress)
    if keep_draws:
        item_model = thin(item_model, keep_draws)
    path = save_model(item_model, out)
    pd.set_option("display.width", 160)
    typer.echo(f"\nsampling took {item_model.fit_seconds:.0f} s\n")
    typer.echo(item_model.diagnostics.round(3).to_string())
    stats = sampler_summary(item_model.idata)
    typer.echo(f"\ndivergences {stats['divergences']:.0f}  min E-BFMI {stats['bfmi_min']:.2f}  "
               f"mean tree depth {stats['mean_tree_depth']:.1f}")
    ppc = ppc_summary(item_model)
    n_out = int((ppc["share_outside"] > 0).sum())
    typer.echo(f"posterior predictive check (90% intervals): {n_out}"
               f" of {len(ppc)} items have a category outside; max |observed - predicted| "
               f"{ppc['max_abs_error'].max():.3f}")
    problems = convergence_problems(item_model)
    for p in problems:
        typer.echo(f"warning: {p}")
    typer.echo(f"\nwrote {path} and {path.with_suffix('.md')}")
    rhat = item_model.diagnostics["r_hat_max"]
    if strict and (rhat.isna().any() or rhat.max() > 1.01 or stats["divergences"] > 0):
        typer.echo("strict: convergence bar not met", err=True)
        raise typer.Exit(1)


@app.command("select-bayes")
def select_bayes(
    model_path: Path = typer.Argument(..., help="Fitted model file."),
    out: Path = typer.Option(..., "--out", help="Table to write (csv)."),
    tags: Path | None = typer.Option(None, help="Correlation tags (vp-bayes select) to compare."),
    practical: float = typer.Option(0.2, help="Practical loading size (logits per SD)."),
    probability: float = typer.Option(0.9, help="Posterior probability needed to tag."),
) -> None:
    """Posterior item selection: P(loading > practical size), compared with correlation tags."""
    from vp_bayes.errors import InputError
    from vp_bayes.model.io import load_model
    from vp_bayes.selection.bayes import agreement_counts, compare_selection, posterior_selection

    item_model = load_model(model_path)
    table = posterior_selection(item_model, practical=practical, probability=probability)
    if tags is not None:
        tag_table = unescape_cells(pd.read_csv(tags, dtype={"item_id": str}))
        for col in ("item_id", "trait", "r", "tagged"):
            if col not in tag_table.columns:
                raise InputError("tag table lacks a column (write it with vp-bayes select)",
                                 file=tags, row=0, field=col)
        table = compare_selection(table, tag_table)
        typer.echo(agreement_counts(table).to_string())
    else:
        typer.echo(table.groupby("value")["posterior_tagged"].sum().to_string())
    write_csv(table, out)
    typer.echo(f"wrote {out}")
