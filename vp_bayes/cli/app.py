"""The typer application object shared by the command modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vp-bayes",
    help="Bayesian psychometric measurement of LLM values against real humans.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Convert external data layouts into a vp_bayes wave.",
                         no_args_is_help=True)
app.add_typer(import_app, name="import")
