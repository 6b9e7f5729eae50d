"""CLI command: ``contrast`` (human group, persona and bias contrasts)."""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from vp_bayes.cli.app import NON_NEGATIVE, POSITIVE, UNIT_OPEN, app, choices, example
from vp_bayes.contrasts.tables import N_PRINTED
from vp_bayes.dims import INTERVAL_MASS, LATENT, SCALES
from vp_bayes.output import check_writable, write_csv

ScaleName = choices("ScaleName", SCALES)


@app.command("contrast", epilog=example(
    "vp-bayes contrast models/vp.nc portraits.nc --axis gender --out contrasts.csv "
    "--plot contrasts.png",
    "vp-bayes contrast models/vp.nc --reference ess.csv --reference-scale 0.8 --out c.csv"))
def contrast(
    model_path: Path = typer.Argument(..., metavar="MODEL.nc", help="Fitted item model."),
    portraits_path: Path | None = typer.Argument(
        None, metavar="PORTRAITS.nc", help="Portrait draws of LLMs/personas (vp-bayes score)."),
    axis: list[str] = typer.Option(None, "--axis", help="Demographic axis (repeatable); "
                                   "default every axis."),
    reference: Path | None = typer.Option(
        None, help="External human reference (axis,group,value,mean[,se] or the ESS format "
        "axis,group,value,difference[,se]); replaces the model's group effects."),
    ess_se: float | None = typer.Option(
        None, "--ess-se", callback=NON_NEGATIVE,
        help="One standard error for a reference without an se column."),
    reference_scale: float | None = typer.Option(
        None, callback=POSITIVE,
        help="Reference units per population SD (default 1, with a warning)."),
    mass: float = typer.Option(INTERVAL_MASS, callback=UNIT_OPEN,
                               help="Equal-tailed interval mass."),
    scale: ScaleName = typer.Option(ScaleName(LATENT), help="latent (the human scale) or centered "
                                    "(minus the mean over values, draw by draw)."),
    draws: int | None = typer.Option(
        None, min=1, help="Common number of draws for biases (default: the smaller posterior)."),
    seed: int = typer.Option(2026, help="Seed of the resampling / reference draws."),
    out: Path = typer.Option(..., "--out", help="Contrast table to write (CSV)."),
    distance_out: Path | None = typer.Option(
        None, help="Persona-to-group distance table (CSV); default beside --out."),
    plot: Path | None = typer.Option(None, help="Forest plot of the pair contrasts (PNG)."),
    full: bool = typer.Option(
        False, "--full", help=f"Print every row, not the first {N_PRINTED} of each source (human, "
        "llm, bias) in each table."),
) -> None:
    """Posterior contrasts between demographic groups: humans, LLM personas, and their bias."""
    from vp_bayes.contrasts import (
        ContrastWarning,
        ReferenceWarning,
        compare,
        read_reference,
        report_lines,
    )
    from vp_bayes.model.io import load_model
    from vp_bayes.scoring import load_portraits
    from vp_bayes.scoring.portraits import check_scored_through

    scale = scale.value
    dist_path = None
    if portraits_path is not None:
        dist_path = distance_out or out.with_name(out.stem + "_distance.csv")
    for path in (out, dist_path, plot):  # before any work
        if path is not None:
            check_writable(path)
    with warnings.catch_warnings(record=True) as caught:
        for category in (ReferenceWarning, ContrastWarning):  # others keep their filters
            warnings.simplefilter("always", category)
        item_model = load_model(model_path)
        human: object = item_model
        if reference is not None:
            human = read_reference(reference, se=ess_se, scale=reference_scale)
            typer.echo(f"human side: reference {reference} (scale {human.scale:g} units/SD)")
        else:
            typer.echo(f"human side: group effects of {model_path}")
        portraits = load_portraits(portraits_path) if portraits_path is not None else None
        if portraits is not None and not check_scored_through(portraits.draws.attrs,
                                                              item_model, portraits_path):
            typer.echo(f"warning: {portraits_path} does not say which model scored it (no "
                       "wave_hash attribute): cannot check it matches the model", err=True)
        report = compare(human, portraits, axes=axis or None, mass=mass, scale=scale,
                         n_draws=draws, seed=seed)
    for w in caught:
        if issubclass(w.category, (ReferenceWarning, ContrastWarning)):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(report.table, out, lineterminator="\n")
    table = report.table
    if dist_path is not None:
        write_csv(report.distance, dist_path, lineterminator="\n")
    for line in report_lines(report, scale=scale, with_portraits=portraits is not None,
                             full=full, table_path=out, distance_path=dist_path):
        typer.echo(line)
    if dist_path is not None:
        typer.echo(f"wrote {dist_path}")
    if plot is not None:
        from vp_bayes.report.contrast_plots import plot_contrasts

        plot_contrasts(table, plot)
        typer.echo(f"wrote {plot}")
    typer.echo(f"wrote {out} ({len(table)} rows)")
