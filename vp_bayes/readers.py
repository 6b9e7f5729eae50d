"""Input files read with one-line errors: CSV/Parquet tables and JSON documents.

Every reader of a user's file goes through :func:`read_table` or :func:`read_json`, so a
missing file, a folder given for a file, an empty file, text that is not UTF-8 (Latin-1,
UTF-16), a malformed CSV record or a corrupt Parquet/JSON file is an
:class:`~vp_bayes.errors.InputError` naming the file (and, where known, the row) instead of a
traceback from pandas, pyarrow or json. What the rows must contain is checked by each reader.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from vp_bayes.errors import InputError
from vp_bayes.output import unescape_cells

__all__ = ["check_file", "check_header", "read_json", "read_table"]


def check_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a Path when it is an existing file; otherwise an :class:`InputError`.

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for the message (``"tag file"`` -> ``tag file not found``).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"is a folder, not a {what}", file=path)
    if not path.is_file():
        raise InputError(f"{what} not found", file=path)
    return path


def check_header(path: str | Path, columns: Sequence[str]) -> None:
    """Refuse an empty or repeated column name in a table's header (row 0)."""
    seen: set[str] = set()
    for col in columns:
        if not str(col).strip() or str(col).startswith("Unnamed:"):
            raise InputError("empty column name in the header", file=path, row=0,
                             field=str(col))
        if col in seen:
            raise InputError("duplicate column name", file=path, row=0, field=str(col))
        seen.add(col)


def _not_utf8(path: Path, err: UnicodeDecodeError) -> InputError:
    return InputError(f"not UTF-8 text ({err.reason} at byte {err.start}); save the file as "
                      "UTF-8", file=path)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file (a template, say), with the shared message when it is not UTF-8."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror or err})", file=path) from None


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise InputError("file is empty", file=path, row=0)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        check_header(path, header)
        return pd.read_csv(path, encoding="utf-8-sig", **kwargs)
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", file=path, row=0) from None
    except (pd.errors.ParserError, csv.Error) as err:
        line = re.search(r"line (\d+)", str(err))
        row = int(line.group(1)) - 1 if line else None
        message = " ".join(str(err).split())
        raise InputError(f"malformed CSV ({message})", file=path, row=row) from None


def read_table(path: str | Path, what: str = "table", *, text: bool = True,
               unescape: bool = True) -> pd.DataFrame:
    """Read a CSV or Parquet table (by suffix; anything but ``.parquet`` is read as CSV).

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for the messages.
    text
        CSV cells as strings, missing only when empty (``NA`` stays the text ``NA``);
        ``False``: pandas' own type inference and missing values.
    unescape
        Undo :func:`vp_bayes.output.write_csv`'s formula-injection escape (CSV only).

    Returns
    -------
    pandas.DataFrame
        Rows in file order, a fresh 0-based index.

    Raises
    ------
    InputError
        A missing file, a folder, an empty file, a header with an empty or repeated column
        name, text that is not UTF-8, a malformed CSV record (with its row) or an unreadable
        Parquet file.
    """
    path = check_file(path, what)
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises many types for a bad file
            message = " ".join(str(err).split())
            raise InputError(f"cannot read parquet ({message})", file=path) from None
        check_header(path, [str(c) for c in frame.columns])
        return frame.reset_index(drop=True)
    kwargs: dict[str, Any] = (dict(dtype=str, keep_default_na=False, na_values=[""])
                              if text else {})
    frame = _read_csv(path, **kwargs)
    if unescape:
        frame = unescape_cells(frame)
    return frame.reset_index(drop=True)


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """Parse a UTF-8 JSON file.

    Raises
    ------
    InputError
        A missing file, a folder, an empty file, text that is not UTF-8 or invalid JSON
        (with its line and column).
    """
    path = check_file(path, what)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, err) from None
    except OSError as err:
        raise InputError(f"cannot read ({err.strerror or err})", file=path) from None
    if not raw.strip():
        raise InputError("file is empty", file=path)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg}, line {err.lineno} column {err.colno})",
                         file=path) from None
