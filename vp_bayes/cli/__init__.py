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


def _click_kind(err: BaseException) -> str | None:
    """``"ClickException"``, ``"NoArgsIsHelpError"`` or ``"Abort"`` for click's errors, else None.

    Typer >= 0.29 raises its own bundled copy of click's exceptions, which are not subclasses of
    the standalone ``click`` ones; both are recognised by class name along the MRO.
    """
    names = [cls.__name__ for cls in type(err).__mro__]
    for kind in ("NoArgsIsHelpError", "ClickException", "Abort"):
        if kind in names:
            return kind
    return None


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
        kind = _click_kind(err)
        if kind == "NoArgsIsHelpError":
            err.show()  # the help text
            sys.exit(2)
        if kind == "ClickException":
            message = " ".join(err.format_message().split())
            ctx = getattr(err, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            print(f"error: {message}{hint}", file=sys.stderr)
            sys.exit(err.exit_code)
        if kind == "Abort":
            print("aborted", file=sys.stderr)
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
