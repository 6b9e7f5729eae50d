"""The typer application object shared by the command modules, and small helpers for them.

Commands are listed in ``--help`` in pipeline order (:data:`PIPELINE`), not in the order their
modules happen to register them. A command's module (``vp_bayes.cli.<module>``, which registers
it on :data:`app` or :data:`import_app`) is imported only when the command is run or listed, so
``vp-bayes validate`` or ``vp-bayes --version`` does not load scipy, PyTensor or matplotlib,
which other commands' option choices come from. Options that take one of a fixed set of words
are enums built from the library's own constants (:func:`choices`), so ``--help`` shows the set
and a wrong word is a usage error.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import ClassVar

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_command_name

from vp_bayes import __version__

# The commands in the order a user runs them (the order of ``vp-bayes --help``), each with the
# module of vp_bayes.cli that registers it; ``import`` is a group (:data:`IMPORTERS`).
PIPELINE: dict[str, str | None] = {
    "simulate": "wave",
    "import": None,
    "validate": "wave",
    "select": "select",
    "fit": "fit",
    "card": "fit",
    "select-bayes": "fit",
    "dif": "fit",
    "rate": "rate",
    "score": "score",
    "compare": "compare",
    "classic-score": "select",
    "contrast": "contrast",
    "report": "report",
}
IMPORTERS: dict[str, str | None] = {"valueportrait": "select"}


class LazyGroup(TyperGroup):
    """A command group that lists :attr:`modules` in order and imports a command's module only
    when the command is asked for.

    Subclasses set :attr:`modules` and :meth:`typer_app` (the Typer the modules register on).
    """

    modules: ClassVar[dict[str, str | None]] = {}

    def typer_app(self) -> typer.Typer:
        """The Typer object whose registered commands this group holds."""
        raise NotImplementedError

    def list_commands(self, ctx: typer.Context) -> list[str]:
        """The command names: :attr:`modules` in order, then any others registered."""
        others = [name for name in super().list_commands(ctx) if name not in self.modules]
        return [*self.modules, *others]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> typer.core.TyperCommand | None:
        """The command ``cmd_name``, built from its module on first use (None if unknown)."""
        module = self.modules.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(f"vp_bayes.cli.{module}")
            owner = self.typer_app()
            for info in owner.registered_commands:
                if (info.name or get_command_name(info.callback.__name__)) == cmd_name:
                    self.add_command(get_command_from_info(
                        info, pretty_exceptions_short=owner.pretty_exceptions_short,
                        rich_markup_mode=owner.rich_markup_mode))
        return super().get_command(ctx, cmd_name)


class PipelineGroup(LazyGroup):
    """The ``vp-bayes`` group: :data:`PIPELINE`."""

    modules = PIPELINE

    def typer_app(self) -> typer.Typer:  # noqa: D102
        return app


class ImportGroup(LazyGroup):
    """The ``vp-bayes import`` group: :data:`IMPORTERS`."""

    modules = IMPORTERS

    def typer_app(self) -> typer.Typer:  # noqa: D102
        return import_app


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


def within(low: float | None = None, high: float | None = None, *, open_low: bool = False,
           open_high: bool = False) -> Callable[[float | None], float | None]:
    """An option callback refusing a number outside an interval (a one-line usage error).

    Parameters
    ----------
    low, high
        The bounds (None: unbounded on that side).
    open_low, open_high
        Whether a bound itself is excluded.

    Returns
    -------
    callable
        For ``typer.Option(callback=...)``: returns the value, or raises
        ``typer.BadParameter`` ("Invalid value for '--mass': 1.5 is not in (0, 1)").
    """
    text = (("(" if open_low else "[") + ("-inf" if low is None else f"{low:g}") + ", "
            + ("inf" if high is None else f"{high:g}")
            + (")" if open_high or high is None else "]"))

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        ok = math.isfinite(value)
        if ok and low is not None:
            ok = value > low if open_low else value >= low
        if ok and high is not None:
            ok = value < high if open_high else value <= high
        if not ok:
            raise typer.BadParameter(f"{value:g} is not in {text}")
        return value

    return check


#: the option callback of an interval mass or probability: (0, 1)
UNIT_OPEN = within(0.0, 1.0, open_low=True, open_high=True)
#: the option callback of a positive number: (0, inf)
POSITIVE = within(0.0, open_low=True)
#: the option callback of a number that may be zero: [0, inf)
NON_NEGATIVE = within(0.0)


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
    cls=ImportGroup,
    help="Convert external data layouts into a vp_bayes wave.",
    no_args_is_help=True,
    epilog=example("vp-bayes import valueportrait ValuePortrait vp_wave"),
)
app.add_typer(import_app, name="import")
