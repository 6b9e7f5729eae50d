"""CLI command: ``compare`` (respondents against each other: leaderboard, ranks, P(a > b))."""

from __future__ import annotations

from pathlib import Path

import typer

from vp_bayes.cli.app import UNIT_OPEN, app, choices, example
from vp_bayes.contrasts.models import COMPARE_SEED, N_PRINTED
from vp_bayes.dims import INTERVAL_MASS, LATENT, SCALES
from vp_bayes.output import check_writable, write_csv

ScaleName = choices("ScaleName", SCALES)


@app.command("compare", epilog=example(
    "vp-bayes compare portraits.nc --value benevolence --out pairs.csv",
    "vp-bayes compare portraits.nc --model gpt-4o --model llama-3-70b --scale centered"))
def compare_command(
    portraits_path: Path = typer.Argument(..., metavar="PORTRAITS.nc",
                                          help="Portrait draws (netCDF from `vp-bayes score`)."),
    model: list[str] | None = typer.Option(
        None, "--model", help="Respondent to compare (repeatable; `model` or `model|persona`); "
        "default every model scored without a persona."),
    value: list[str] | None = typer.Option(None, "--value",
                                           help="Value to compare (repeatable); default all."),
    scale: ScaleName = typer.Option(ScaleName(LATENT), help="latent (the human scale) or "
                                    "centered (minus the respondent's mean over values, draw "
                                    "by draw: relative priorities)."),
    mass: float = typer.Option(INTERVAL_MASS, callback=UNIT_OPEN,
                               help="Mass of the equal-tailed intervals."),
    seed: int = typer.Option(COMPARE_SEED, help="Seed of the random order that matches "
                             "independently scored respondents' draws."),
    out: Path | None = typer.Option(None, "--out",
                                    help="Pair table to write (CSV): one row per value and pair."),
    ranks_out: Path | None = typer.Option(
        None, help="Leaderboard with posterior ranks to write (CSV): one row per value and "
        "respondent."),
    full: bool = typer.Option(False, "--full", help=f"Print every respondent and every pair, "
                              f"not the first {N_PRINTED} respondents per value and each "
                              "one against the next."),
) -> None:
    """Compare scored respondents value by value: leaderboard, posterior ranks, P(a > b)."""
    from vp_bayes.contrasts.models import compare_models, comparison_lines
    from vp_bayes.errors import InputError
    from vp_bayes.scoring import load_portraits

    for path in (out, ranks_out):  # before any work
        if path is not None:
            check_writable(path)
    portraits = load_portraits(portraits_path)
    try:
        comparison = compare_models(portraits, model or None, values=value or None,
                                    scale=scale.value, mass=mass, seed=seed)
    except InputError as err:  # an unknown model or value: name the portraits file
        raise InputError(err.message, file=err.file or portraits_path, row=err.row,
                         field=err.field) from None
    for line in comparison_lines(comparison, full=full, max_rows=N_PRINTED, table_path=out,
                                 ranks_path=ranks_out):
        typer.echo(line)
    if out is not None:
        write_csv(comparison.pairs, out, lineterminator="\n")
        typer.echo(f"wrote {out} ({len(comparison.pairs)} pairs x values)")
    if ranks_out is not None:
        write_csv(comparison.summary(), ranks_out, lineterminator="\n")
        typer.echo(f"wrote {ranks_out} ({len(comparison.leaderboard)} rows)")
