"""The typer application object shared by the command modules, and small helpers for them.

Commands are listed in ``--help`` in pipeline order (:data:`PIPELINE`), not in the order their
modules happen to register them; options that take one of a fixed set of words are enums built
from the library's own constants (:func:`choices`), so ``--help`` shows the set and a wrong word
is a usage error.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import typer
from typer.core import TyperGroup

from vp_bayes import __version__

# The order of the commands in ``vp-bayes --help``: the order a user runs them in.
PIPELINE: tuple[str, ...] = (
    "simulate", "import", "validate", "select", "fit", "select-bayes", "rate", "score",
    "classic-score", "contrast", "report",
)


class PipelineGroup(TyperGroup):
    """A command group that lists its commands in :data:`PIPELINE` order (others last)."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        """The registered command names, in pipeline order."""
        rank = {name: i for i, name in enumerate(PIPELINE)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))


def choices(name: str, values: Iterable[str]) -> type[StrEnum]:
    """A string enum with one member per allowed word (typer shows it as a choice).

    Parameters
    ----------
    name
        Name of the enum class (shown nowhere; for reprs).
    values
        The allowed words, taken from the library's constant that owns them.

    Returns
    -------
    type[StrEnum]
        Members compare equal to their words, so they can be passed to the library as is.
    """
    return StrEnum(name, [(str(v), str(v)) for v in values])


def example(*lines: str) -> str:
    """A help epilog: ``Example:`` followed by the command lines, one per paragraph."""
    head = "Example:" if len(lines) == 1 else "Examples:"
    return "\n\n".join([head, *(f"  {line}" for line in lines)])


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vp-bayes {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="vp-bayes",
    cls=PipelineGroup,
    help="Bayesian psychometric measurement of LLM values against real humans.",
    epilog=example(
        "vp-bayes simulate mywave --participants 300 --items 80 --seed 1",
        "vp-bayes fit mywave --out models/my.nc",
        "vp-bayes score models/my.nc mywave/llm_ratings.csv --out portraits.csv",
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Bayesian psychometric measurement of LLM values against real humans."""


import_app = typer.Typer(
    help="Convert external data layouts into a vp_bayes wave.",
    no_args_is_help=True,
    epilog=example("vp-bayes import valueportrait ValuePortrait vp_wave"),
)
app.add_typer(import_app, name="import")
