"""Command-line interface: the typer layer over the library (ARCHITECTURE.md says what it does).

Each module in this package registers its commands on :data:`vp_bayes.cli.app.app` and is
imported when one of its commands is used (:data:`vp_bayes.cli.app.PIPELINE`).
:func:`main` turns :class:`vp_bayes.errors.InputError` and click's usage errors (missing
argument, unknown option or command, a value of the wrong type, no command at all) into one
line on stderr starting ``error:`` and exit 2, and silences the few library warnings a user
cannot act on (:func:`quiet_library_warnings`).
"""

from __future__ import annotations

import logging
import sys
import warnings

from vp_bayes.cli.app import app
from vp_bayes.errors import InputError

__all__ = ["app", "main", "quiet_library_warnings"]

PROG_NAME = "vp-bayes"

# Library warnings a user of the CLI cannot act on, as (message regex, category, module regex);
# each is matched by all three, so anything else these libraries say still prints.
UNACTIONABLE_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    # PyTensor's C backend without a BLAS library: the item model samples through nutpie
    # (Numba) and scoring is Numba/NumPy, so the C BLAS is never used.
    (r"PyTensor could not link to a BLAS installation", UserWarning, r"pytensor\."),
    # ArviZ's R-hat/ESS of constant quantities (e.g. a sum-to-zero element): 0/0 -> NaN,
    # which the diagnostics table already shows.
    (r"(invalid value|divide by zero) encountered", RuntimeWarning, r"arviz(_base|_stats)?\."),
)
# PyTensor's logged notice of the same missing BLAS, per logger.
UNACTIONABLE_LOG_MESSAGES: dict[str, str] = {
    "pytensor.tensor.blas": "Using NumPy C-API based implementation for BLAS functions",
}


class _DropMessages(logging.Filter):
    """Drop log records whose message starts with a given text."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def quiet_library_warnings() -> None:
    """Ignore :data:`UNACTIONABLE_WARNINGS` and :data:`UNACTIONABLE_LOG_MESSAGES`, nothing else."""
    for message, category, module in UNACTIONABLE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name, prefix in UNACTIONABLE_LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) and f.prefix == prefix for f in logger.filters):
            logger.addFilter(_DropMessages(prefix))


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


def _usage_line(err: BaseException) -> str:
    """One line for a click usage error: the message, and where to read the help."""
    # typer >= 0.29 words a bad choice "Value error, 'x' is not one of ..."
    message = " ".join(err.format_message().replace("Value error, ", "").split())
    ctx = getattr(err, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"error: {message}{hint}"


def _missing_command_line(err: BaseException) -> str:
    """One line for a group called without a command: the commands it offers."""
    ctx = err.ctx
    names = ctx.command.list_commands(ctx)
    return f"error: missing command for '{ctx.command_path}' (one of: {', '.join(names)})"


def main() -> None:
    """Entry point of the ``vp-bayes`` console script."""
    quiet_library_warnings()
    try:
        # standalone_mode=False: returns typer.Exit's code instead of exiting, raises usage errors
        code = app(standalone_mode=False, prog_name=PROG_NAME)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as err:  # click usage errors and aborts
        kind = _click_kind(err)
        if kind == "NoArgsIsHelpError":
            help_text = err.ctx.get_help()  # rich prints the help itself and returns ""
            if help_text:
                print(help_text)  # the help on stdout, the error line on stderr
            print(_missing_command_line(err), file=sys.stderr)
            sys.exit(2)
        if kind == "ClickException":
            print(_usage_line(err), file=sys.stderr)
            sys.exit(err.exit_code)
        if kind == "Abort":
            print("aborted", file=sys.stderr)
            sys.exit(130)
        raise
    sys.exit(code if isinstance(code, int) else 0)
