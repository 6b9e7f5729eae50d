"""CLI command: ``report`` (the HTML page with plots)."""

from __future__ import annotations

from pathlib import Path

import typer

from vp_bayes.cli.app import app, choices, example
from vp_bayes.dims import LATENT, SCALES
from vp_bayes.output import check_writable

ScaleName = choices("ScaleName", SCALES)


@app.command("report", epilog=example(
    "vp-bayes report models/vp.nc --portraits portraits.csv --contrasts contrasts.csv "
    "--out report/"))
def report(
    model: Path | None = typer.Argument(
        None, metavar="MODEL", help="Fitted item model (MODEL.nc from `vp-bayes fit`): "
        "diagnostics and the predictive check."),
    portraits: Path | None = typer.Option(None, "--portraits",
                                          help="PORTRAITS.csv / .parquet / .nc."),
    contrasts: Path | None = typer.Option(None, "--contrasts", help="CONTRASTS.csv / .parquet."),
    selection: Path | None = typer.Option(
        None, "--selection", help="Bayesian vs correlation item selection table."),
    out: Path = typer.Option(..., "--out", help="Report folder to write (index.html, figures/)."),
    title: str = typer.Option("vp_bayes report", help="Page title."),
    scale: ScaleName = typer.Option(ScaleName(LATENT), help="Portrait scale: latent (the human "
                                    "scale) or centered (minus the respondent's mean value)."),
    max_portraits: int = typer.Option(30, min=0,
                                      help="Respondents drawn one by one (all are tabled)."),
    compare: list[str] | None = typer.Option(
        None, "--compare", metavar="RESPONDENT", help="Respondent to rank and compare (repeat; "
        "default: every model scored without a persona)."),
    groups: Path | None = typer.Option(
        None, "--groups", help="Metadata table: respondent + group columns (e.g. weights: "
        "open/closed); their differences join the findings."),
) -> None:
    """Write a self-contained HTML report: summary, leaderboard, ranks, P(a > b), LLMs against
    the human population, the paper's findings retested, contrasts, selection, fit."""
    from vp_bayes.errors import InputError
    from vp_bayes.report.html import write_report
    from vp_bayes.report.tables import (
        read_contrasts,
        read_groups,
        read_portrait_draws,
        read_portraits,
        read_selection,
    )

    if all(x is None for x in (model, portraits, contrasts, selection)):
        raise InputError("nothing to report: give MODEL.nc and/or --portraits, --contrasts, "
                         "--selection", field="model")
    check_writable(out / "index.html")  # the folder, before anything is read
    group_table = None if groups is None else read_groups(groups)
    item_model = None
    if model is not None:
        from vp_bayes.model.io import load_model

        item_model = load_model(model)
    if item_model is not None and portraits is not None:
        from vp_bayes.scoring.portraits import check_scored_through, draws_attrs

        attrs = draws_attrs(portraits)
        checked = attrs is not None and check_scored_through(
            attrs, item_model, portraits if portraits.suffix.lower() == ".nc"
            else portraits.with_suffix(".nc"))
        if not checked:
            typer.echo(f"warning: cannot check that {portraits} was scored through {model} "
                       "(no portrait draws with the model's wave hash beside it)", err=True)
    sources = {name: str(path) for name, path in (
        ("model", model), ("portraits", portraits), ("contrasts", contrasts),
        ("selection", selection), ("groups", groups)) if path is not None}
    draws = None if portraits is None else read_portrait_draws(portraits)
    if portraits is not None and draws is None:
        typer.echo(f"warning: no portrait draws beside {portraits} (PORTRAITS.nc): the report "
                   "has no ranks, P(a > b) or findings", err=True)
    index = write_report(
        out,
        item_model=item_model,
        portraits=None if portraits is None else read_portraits(portraits),
        contrasts=None if contrasts is None else read_contrasts(contrasts),
        selection=None if selection is None else read_selection(selection),
        title=title, scale=scale.value, max_portraits=max_portraits, sources=sources,
        draws=draws, compare=compare or None,
        groups=group_table,
    )
    n_figs = len(list((out / "figures").glob("*.png")))
    size = index.stat().st_size / 1e6
    typer.echo(f"wrote {index} ({size:.2f} MB; {n_figs} raster figures in {out / 'figures'})")
