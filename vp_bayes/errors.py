"""Errors that name the file, row and field of bad input.

The CLI catches :class:`InputError`, prints ``str(err)`` as one line and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path

#: how many problems a check that collects them (``vp-bayes validate``) lists; the rest are
#: counted
PROBLEM_LIMIT = 50


class InputError(ValueError):
    """Bad user input, located as precisely as possible.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The offending file, if any.
    row
        1-based data row number in that file (the header is row 0), if known.
    field
        The column / key at fault, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message
