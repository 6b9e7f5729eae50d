"""CLI command: ``contrast`` (human group, persona and bias contrasts)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import typer

from vp_bayes.cli.app import app, import_app  # noqa: F401
from vp_bayes.dims import INTERVAL_MASS
from vp_bayes.errors import InputError
from vp_bayes.output import write_csv

_SHOW = ["source", "model", "axis", "group_a", "group_b", "value", "mean", "lower", "upper",
         "prob_positive"]


def _print_table(title: str, frame: pd.DataFrame, columns: list[str]) -> None:
    typer.echo(f"\n{title}")
    if frame.empty:
        typer.echo("  (none)")
        return
    typer.echo(frame[columns].to_string(index=False, float_format=lambda x: f"{x:+.3f}"))


@app.command("contrast")
def contrast(
    model_path: Path = typer.Argument(..., metavar="MODEL.nc", help="Fitted item model."),
    portraits_path: Path | None = typer.Argument(
        None, metavar="[PORTRAITS.nc]", help="Portrait draws of LLMs/personas (vp-bayes score)."),
    axis: list[str] = typer.Option(None, "--axis", help="Demographic axis (repeatable); "
                                   "default every axis."),
    reference: Path | None = typer.Option(
        None, help="External human reference (axis,group,value,mean[,se] or the ESS format "
        "axis,group,value,difference[,se]); replaces the model's group effects."),
    ess_se: float | None = typer.Option(
        None, "--ess-se", help="One standard error for a reference without an se column."),
    reference_scale: float | None = typer.Option(
        None, help="Reference units per population SD (default 1, with a warning)."),
    mass: float = typer.Option(INTERVAL_MASS, help="Equal-tailed interval mass."),
    scale: str = typer.Option("raw", help="raw (human scale) or centred (minus the mean "
                              "over values, draw by draw)."),
    draws: int | None = typer.Option(
        None, help="Common number of draws for biases (default: the smaller posterior)."),
    seed: int = typer.Option(2026, help="Seed of the resampling / reference draws."),
    out: Path = typer.Option(..., "--out", help="Contrast table to write (CSV)."),
    distance_out: Path | None = typer.Option(
        None, help="Persona-to-group distance table (CSV); default beside --out."),
    plot: Path | None = typer.Option(None, help="Forest plot of the pair contrasts (PNG)."),
) -> None:
    """Posterior contrasts between demographic groups: humans, LLM personas, and their bias."""
    from vp_bayes.contrasts import (
        ContrastWarning,
        ReferenceWarning,
        compare,
        describe_credible,
        read_reference,
    )
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import load_portraits

    if scale not in ("raw", "centred"):
        raise InputError("must be 'raw' or 'centred'", field="scale")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        item_model = load_model(model_path)
        human: object = item_model
        if reference is not None:
            human = read_reference(reference, se=ess_se, scale=reference_scale)
            typer.echo(f"human side: reference {reference} (scale {human.scale:g} units/SD)")
        else:
            typer.echo(f"human side: group effects of {model_path}")
        portraits = load_portraits(portraits_path) if portraits_path is not None else None
        report = compare(human, portraits, axes=axis or None, mass=mass, scale=scale,
                         n_draws=draws, seed=seed)
    for w in caught:
        if issubclass(w.category, (ReferenceWarning, ContrastWarning)):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(report.table, out, lineterminator="\n")
    pct = f"{100 * mass:g}%"
    table = report.table
    pairs = table[~table["group_b"].isin(("population", "unprompted"))]
    _print_table(f"Pair contrasts ({pct} intervals, {scale} scale)", pairs, _SHOW)
    if portraits is not None:
        dist_path = distance_out or out.with_name(out.stem + "_distance.csv")
        write_csv(report.distance, dist_path, lineterminator="\n")
        _print_table(f"Persona distance to its human group ({pct})", report.distance,
                     ["model", "axis", "group", "quantity", "mean", "lower", "upper",
                      "prob_positive"])
        typer.echo("\n" + describe_credible(report.credible, mass))
        typer.echo(f"wrote {dist_path}")
    if plot is not None:
        from vp_bayes.report.contrast_plots import plot_contrasts

        plot_contrasts(table, plot)
        typer.echo(f"wrote {plot}")
    typer.echo(f"wrote {out} ({len(table)} rows)")
