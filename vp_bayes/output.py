"""Output files: CSV tables safe to open in a spreadsheet, and output paths checked up front.

Every CSV vp_bayes writes goes through :func:`write_csv`, which neutralises CSV (formula)
injection the OWASP way: a text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading single quote, so a spreadsheet shows it as text instead of
running it (``=HYPERLINK(...)`` in an LLM's answer, a respondent or group name). Only text
cells are touched: numeric columns are written as numbers, and a text cell that reads as a
number (``-0.5``, ``+3``, ``-1e-3``, ``-inf``) is left alone. Column names follow the same
rule.

The escape is reversible: a text cell that already begins with quotes followed by one of those
characters (``'=x``) gets one more quote, and :func:`unescape_cells` (used by the package's
readers of its own tables) removes exactly one, so ``write_csv`` then reading back gives the
original text.

:func:`check_writable` is the up-front check of an output path: commands call it before the
expensive (or paid) work, not after.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pandas as pd

from vp_bayes.errors import InputError

N_SHOWN = 20  # respondents a command prints unless asked for every row (--full)

#: first characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_ESCAPE = re.compile(r"'*[=+\-@\t\r]")
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)",
                     re.IGNORECASE)


def escape_cell(value: Any) -> Any:
    """One cell, escaped for a spreadsheet (non-text and number-like text unchanged).

    Parameters
    ----------
    value
        A cell value.

    Returns
    -------
    object
        ``"'" + value`` for text beginning with (quotes and then) ``= + - @``, tab or carriage
        return that does not read as a number; ``value`` itself otherwise.
    """
    if not isinstance(value, str) or not _NEEDS_ESCAPE.match(value):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def unescape_cell(value: Any) -> Any:
    """The inverse of :func:`escape_cell` for cells read back from a file it wrote."""
    if isinstance(value, str) and _ESCAPED.match(value):
        return value[1:]
    return value


def _text_columns(frame: pd.DataFrame) -> list[Hashable]:
    return [c for c in frame.columns
            if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])
            or isinstance(frame[c].dtype, pd.CategoricalDtype)]


def _candidates(values: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    """Cells that start like ``pattern`` (vectorised where the column allows it)."""
    try:
        return values.str.match(pattern.pattern, na=False).astype(bool)
    except (AttributeError, TypeError):  # no .str accessor: no text in the column
        return values.map(lambda v: isinstance(v, str) and pattern.match(v) is not None)


def _apply(frame: pd.DataFrame, func: Any, pattern: re.Pattern[str]) -> pd.DataFrame:
    out = None
    for col in _text_columns(frame):
        values = frame[col]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        hits = _candidates(values, pattern).to_numpy()
        if not hits.any():
            continue
        old = values[hits]
        new_values = [func(v) for v in old]
        changed = [n is not o for n, o in zip(new_values, old, strict=True)]
        if not any(changed):
            continue
        if out is None:
            out = frame.copy()
        new = values.astype(object).copy()
        new[hits] = new_values
        out[col] = new
    names = [func(c) if isinstance(c, str) else c for c in frame.columns]
    if names != list(frame.columns):
        out = (frame.copy() if out is None else out).set_axis(names, axis=1)
    return frame if out is None else out


def escape_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text cells and column names escaped (:func:`escape_cell`).

    Returns the same object when nothing needs escaping, otherwise a copy; numeric columns are
    never touched.
    """
    return _apply(frame, escape_cell, _NEEDS_ESCAPE)


def unescape_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the escape of :func:`escape_cells` removed (text cells, column names)."""
    return _apply(frame, unescape_cell, _ESCAPED)


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs: Any) -> Path:
    """Write ``frame`` as CSV with formula injection neutralised (:func:`escape_cells`).

    Parameters
    ----------
    frame
        The table.
    path
        The CSV file; its folder is created.
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (``index=False`` unless given).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("index", False)
    escape_cells(frame).to_csv(path, **kwargs)
    return path


def check_writable(path: str | Path) -> Path:
    """Check that the file ``path`` can be written (and files beside it), before any work.

    Creates the missing parent folders and writes (and removes) a probe file beside ``path``;
    an existing ``path`` is left as it is.

    Parameters
    ----------
    path
        An output file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    InputError
        If ``path`` is a folder, its folder cannot be created, or nothing can be written there.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a file", file=path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"cannot write here: {parent} is a file, not a folder",
                                 file=path)
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the folder ({err.strerror or err})", file=path) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError("the file is not writable", file=path)
    try:
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(f"cannot write in the folder ({err.strerror or err})",
                         file=path) from None
    return path


__all__ = ["FORMULA_START", "escape_cell", "unescape_cell", "escape_cells", "unescape_cells",
           "write_csv", "check_writable"]
