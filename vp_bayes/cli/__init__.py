"""Command-line interface: a thin typer layer over the library.

Each module in this package registers its commands on :data:`vp_bayes.cli.app.app`.
:func:`main` turns :class:`vp_bayes.errors.InputError` into one line on stderr and exit 2.
"""

from __future__ import annotations

import sys

from vp_bayes.cli import (  # noqa: F401  (importing registers the commands)
    contrast,
    fit,
    rate,
    report,
    score,
    select,
    wave,
)
from vp_bayes.cli.app import app
from vp_bayes.errors import InputError


def main() -> None:
    """Entry point of the ``vp-bayes`` console script."""
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of exiting
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as err:  # click usage errors and aborts
        import click

        if isinstance(err, click.exceptions.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):
            print("aborted", file=sys.stderr)
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
