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
) -> None:
    """Write a self-contained HTML report: portraits, comparisons, selection, contrasts, fit."""
    from vp_bayes.errors import InputError
    from vp_bayes.report.html import write_report
    from vp_bayes.report.tables import read_contrasts, read_portraits, read_selection

    if all(x is None for x in (model, portraits, contrasts, selection)):
        raise InputError("nothing to report: give MODEL.nc and/or --portraits, --contrasts, "
                         "--selection", field="model")
    check_writable(out / "index.html")  # the folder, before anything is read
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
        ("selection", selection)) if path is not None}
    index = write_report(
        out,
        item_model=item_model,
        portraits=None if portraits is None else read_portraits(portraits),
        contrasts=None if contrasts is None else read_contrasts(contrasts),
        selection=None if selection is None else read_selection(selection),
        title=title, scale=scale.value, max_portraits=max_portraits, sources=sources,
    )
    n_figs = len(list((out / "figures").glob("*.png")))
    typer.echo(f"wrote {index} ({n_figs} figures in {out / 'figures'})")
