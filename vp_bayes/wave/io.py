"""Read, validate, write and summarise a wave folder.

Layout (every table may be ``.csv`` or ``.parquet``, not both)::

    wave.json          {"name", "instrument": "pvq_rr"|"pvq21"|null, "scale": {"min", "max"},
                        "values_centered": bool, "value_level": "values"|"values19",
                        "description"}
    participants.csv   participant_id + demographic columns (strings, empty = missing)
    instrument.csv     participant_id + q1..qK raw answers (empty = missing)      } exactly
    values.csv         participant_id + trait columns (any spelling of a trait)   } one
    items.csv          item_id + text fields (title, query, response, source, ...)
    ratings.csv        participant_id,item_id,rating

Ids are always read as strings. CSV cells are missing only when empty (``NA`` is a string).
Every problem is a :class:`vp_bayes.errors.InputError` naming the file, the data row
(1-based; the header is row 0; a row is a CSV record) and the field: :func:`load_wave` raises
the first, :func:`validate_wave` lists them all (up to a limit). Nothing is dropped: a
participant needs a row in ``instrument.csv``/``values.csv`` (all cells empty declares the
answers missing); participants and items without ratings are allowed and reported by
:func:`summarize_wave`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from vp_bayes.dims import TRAIT_SETS, canonical_trait
from vp_bayes.errors import PROBLEM_LIMIT, InputError
from vp_bayes.instruments import get_instrument
from vp_bayes.output import write_csv
from vp_bayes.readers import read_json, read_table
from vp_bayes.wave.core import Manifest, Wave

MANIFEST_FILE = "wave.json"
FORMATS: tuple[str, ...] = ("csv", "parquet")
WAVE_INSTRUMENTS: tuple[str, ...] = ("pvq_rr", "pvq21")
VALUE_LEVELS: tuple[str, ...] = ("values", "values19")
RATING_COLUMNS: tuple[str, ...] = ("participant_id", "item_id", "rating")
_MANIFEST_KEYS = ("name", "instrument", "scale", "values_centered", "value_level", "description")
# wave.json keys as earlier versions spelled them -> today's (read, never written)
_OLD_MANIFEST_KEYS = {"values_centred": "values_centered"}
_TEXT = "str"  # pandas' string dtype (missing = NaN)


# --- where the checks report ---------------------------------------------------------------


class _Stop(Exception):
    """A problem after which the rest of a table cannot be checked (collecting mode)."""


class _Problems:
    """Where the checks of a wave report what they find.

    Strict (``limit=None``, :func:`load_wave`): the first problem is raised. Collecting
    (:func:`validate_wave`): every problem is counted and the first ``limit`` are kept; a
    problem that leaves a table unusable (:meth:`stop`) ends that table's checks only.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.collect = limit is not None
        self.limit = int(limit or 0)
        self.found: list[InputError] = []
        self.total = 0

    def add(self, err: InputError) -> None:
        """Report one problem (raised at once when strict)."""
        if not self.collect:
            raise err
        self.total += 1
        if len(self.found) < self.limit:
            self.found.append(err)

    def stop(self, err: InputError) -> NoReturn:
        """Report a problem that ends the checks of the current table."""
        self.add(err)
        raise _Stop

    def rows(self, mask: np.ndarray | pd.Series, make: Callable[[int], InputError]) -> bool:
        """One problem per True in ``mask``, built by ``make(0-based position)``.

        Returns
        -------
        bool
            Whether there was any.
        """
        positions = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(positions):
            return False
        if not self.collect:
            raise make(int(positions[0]))
        room = max(self.limit - len(self.found), 0)
        self.found.extend(make(int(pos)) for pos in positions[:room])
        self.total += len(positions)
        return True

    def guard(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)``, or None when it stopped (collecting mode)."""
        try:
            return func(*args)
        except _Stop:
            return None


def _strict(problems: _Problems | None) -> _Problems:
    return problems if problems is not None else _Problems()


# --- reading tables ----------------------------------------------------------------------


def _find(folder: Path, stem: str, problems: _Problems, required: bool) -> Path | None:
    found = [folder / f"{stem}.{ext}" for ext in FORMATS if (folder / f"{stem}.{ext}").is_file()]
    if len(found) > 1:
        problems.stop(InputError(f"both {stem}.csv and {stem}.parquet present; keep one",
                                 file=found[1]))
    if not found:
        if required:
            problems.stop(InputError("required file missing", file=folder / f"{stem}.csv"))
        return None
    return found[0]


def _read_table(path: Path, required_columns: tuple[str, ...],
                problems: _Problems) -> pd.DataFrame:
    try:
        frame = read_table(path, what="table")
    except InputError as err:
        problems.stop(err)
    missing = [col for col in required_columns if col not in frame.columns]
    for col in missing:
        problems.add(InputError("required column missing", file=path, row=0, field=col))
    if missing:
        raise _Stop
    if frame.empty:
        problems.stop(InputError("no data rows below the header", file=path, row=1))
    return frame


def _text(col: pd.Series) -> pd.Series:
    """Strings (integers from parquet written without a decimal point); '' = missing."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        col = col.map(
            lambda v: (
                np.nan if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(float(v)))
            )
        )
    out = col.astype(object).where(col.notna(), np.nan)
    out = out.map(lambda v: v if isinstance(v, str) or pd.isna(v) else str(v))
    return out.replace("", np.nan).astype(_TEXT)


def _numbers(col: pd.Series, path: Path, field: str, problems: _Problems) -> pd.Series:
    """Floats; empty = NaN; a cell that is not a finite number is a problem (then NaN)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        out = col.astype(float).to_numpy(copy=True)
        bad = np.isinf(out)
        problems.rows(bad, lambda pos: InputError(
            f"{out[pos]!r} is not a finite number", file=path, row=pos + 1, field=field))
        out[bad] = np.nan
        return pd.Series(out, index=col.index)
    text = _text(col)
    out = np.full(len(text), np.nan)
    kind = np.zeros(len(text), dtype=np.int8)  # 1: not a number, 2: not finite
    for pos, cell in enumerate(text):
        if pd.isna(cell):
            continue
        try:
            x = float(cell)
        except ValueError:
            kind[pos] = 1
            continue
        if np.isfinite(x):
            out[pos] = x
        else:
            kind[pos] = 2
    problems.rows(kind > 0, lambda pos: InputError(
        f"{text.iloc[pos]!r} is not {'a' if kind[pos] == 1 else 'a finite'} number",
        file=path, row=pos + 1, field=field))
    return pd.Series(out, index=col.index)


def _ids(frame: pd.DataFrame, path: Path, field: str, problems: _Problems) -> pd.Index:
    ids = _text(frame[field])
    empty = ids.isna().to_numpy()
    problems.rows(empty, lambda pos: InputError("id is empty", file=path, row=pos + 1,
                                                field=field))
    dup = (ids.duplicated() & ids.notna()).to_numpy()
    problems.rows(dup, lambda pos: InputError(f"duplicate id {ids.iloc[pos]!r}", file=path,
                                              row=pos + 1, field=field))
    return pd.Index(ids.to_numpy(), name=field, dtype=_TEXT)


# --- manifest ------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _current_keys(raw: dict[str, Any], path: Path, problems: _Problems) -> dict[str, Any]:
    """``raw`` with the keys of earlier versions (:data:`_OLD_MANIFEST_KEYS`) renamed."""
    out = dict(raw)
    for old, new in _OLD_MANIFEST_KEYS.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out and out[new] != value:
            problems.add(InputError(f"contradicts {new!r} (an earlier version's spelling of "
                                    "it); keep one", file=path, field=old))
        out.setdefault(new, value)
    return out


def read_manifest(path: Path, problems: _Problems | None = None) -> Manifest:
    """Read and check ``wave.json``.

    Parameters
    ----------
    path
        The ``wave.json`` file.
    problems
        Where problems go (default: the first is raised).

    Raises
    ------
    InputError
        The first problem (strict mode).
    """
    problems = _strict(problems)
    if not path.is_file():
        problems.stop(InputError("required file missing", file=path))
    try:
        raw = read_json(path, what="manifest")
    except InputError as err:
        problems.stop(err)
    if not isinstance(raw, dict):
        problems.stop(InputError("the manifest must be a JSON object", file=path))
    unusable = False  # a key the other checks need is bad (collecting mode)
    raw = _current_keys(raw, path, problems)
    for key in raw:
        if key not in _MANIFEST_KEYS:
            problems.add(InputError(
                f"unknown key; known: {', '.join(_MANIFEST_KEYS)}", file=path, field=key))
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(InputError("a non-empty string is required", file=path, field="name"))
    instrument = raw.get("instrument")
    if instrument is not None and instrument not in WAVE_INSTRUMENTS:
        unusable = True
        problems.add(InputError(
            f"unknown instrument {instrument!r}; use one of {', '.join(WAVE_INSTRUMENTS)} or null",
            file=path,
            field="instrument",
        ))
    scale = raw.get("scale", {"min": 1, "max": 6})
    if not isinstance(scale, dict) or set(scale) != {"min", "max"}:
        unusable = True
        problems.add(InputError('must be {"min": int, "max": int}', file=path, field="scale"))
    else:
        ints = True
        for key in ("min", "max"):
            if not _is_int(scale[key]):
                ints = False
                problems.add(InputError(f"{scale[key]!r} is not an integer", file=path,
                                        field=f"scale.{key}"))
        unusable = unusable or not ints
        if ints and scale["min"] >= scale["max"]:
            unusable = True
            problems.add(InputError("scale min must be below max", file=path, field="scale"))
    centered = raw.get("values_centered", True)
    if not isinstance(centered, bool):
        problems.add(InputError("must be true or false", file=path, field="values_centered"))
    level = raw.get("value_level", "values")
    if level not in VALUE_LEVELS:
        unusable = True
        problems.add(InputError(
            f"must be one of {', '.join(VALUE_LEVELS)}", file=path, field="value_level"))
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add(InputError("must be a string", file=path, field="description"))
    if unusable:
        raise _Stop  # collecting mode: the checks that need the manifest are skipped
    return Manifest(  # in collecting mode a bad name, flag or description is reported above
        name=name if isinstance(name, str) else "",
        instrument=instrument,
        scale_min=scale["min"],
        scale_max=scale["max"],
        values_centered=centered if isinstance(centered, bool) else True,
        value_level=level,
        description=description if isinstance(description, str) else "",
    )


def manifest_dict(manifest: Manifest) -> dict[str, Any]:
    """The JSON form of a manifest (what ``wave.json`` holds)."""
    return {
        "name": manifest.name,
        "instrument": manifest.instrument,
        "scale": {"min": manifest.scale_min, "max": manifest.scale_max},
        "values_centered": manifest.values_centered,
        "value_level": manifest.value_level,
        "description": manifest.description,
    }


# --- the tables ----------------------------------------------------------------------------


def _participants(path: Path, problems: _Problems) -> pd.DataFrame:
    frame = _read_table(path, ("participant_id",), problems)
    index = _ids(frame, path, "participant_id", problems)
    out = pd.DataFrame({c: _text(frame[c]).to_numpy() for c in frame if c != "participant_id"})
    out.index = index
    return out


def _items(path: Path, problems: _Problems) -> pd.DataFrame:
    frame = _read_table(path, ("item_id",), problems)
    index = _ids(frame, path, "item_id", problems)
    out = pd.DataFrame({c: _text(frame[c]).to_numpy() for c in frame if c != "item_id"})
    out.index = index
    return out


def _person_table(path: Path, participants: pd.Index | None,
                  problems: _Problems) -> tuple[pd.DataFrame, pd.Index]:
    frame = _read_table(path, ("participant_id",), problems)
    index = _ids(frame, path, "participant_id", problems)
    if participants is not None:
        unknown = ~index.isin(participants) & ~index.isna()
        problems.rows(unknown, lambda pos: InputError(
            f"participant {index[pos]!r} is not in participants", file=path, row=pos + 1,
            field="participant_id"))
    return frame, index


def _check_coverage(participants_path: Path, participants: pd.Index, table: Path,
                    ids: pd.Index, problems: _Problems) -> None:
    absent = ~participants.isin(ids) & ~participants.isna()
    problems.rows(absent, lambda pos: InputError(
        f"participant {participants[pos]!r} has no row in {table.name} "
        "(a row with empty cells declares the answers missing)",
        file=participants_path, row=pos + 1, field="participant_id"))


def _answers(path: Path, instrument: str, participants: pd.Index | None,
             problems: _Problems) -> pd.DataFrame:
    inst = get_instrument(instrument)
    frame, index = _person_table(path, participants, problems)
    questions = list(inst.questions)
    for q in questions:
        if q not in frame.columns:
            problems.add(InputError(f"question column missing for {instrument}", file=path,
                                    row=0, field=q))
    for col in frame.columns:
        if col not in questions and col != "participant_id":
            problems.add(InputError(f"not a question of {instrument}", file=path, row=0,
                                    field=col))
    out = {}
    for q in questions:
        if q not in frame.columns:
            continue
        x = _numbers(frame[q], path, q, problems)
        bad = x.notna() & ((x < inst.scale_min) | (x > inst.scale_max) | (x % 1 != 0))
        problems.rows(bad, lambda pos, x=x, q=q: InputError(
            f"answer {x.iloc[pos]:g} is not a whole number in "
            f"{inst.scale_min}..{inst.scale_max}", file=path, row=pos + 1, field=q))
        out[q] = x.to_numpy()
    return pd.DataFrame(out, index=index)


def _values(path: Path, level: str, participants: pd.Index | None,
            problems: _Problems) -> pd.DataFrame:
    frame, index = _person_table(path, participants, problems)
    names: dict[str, str] = {}
    for col in frame.columns:
        if col == "participant_id":
            continue
        try:
            trait = canonical_trait(col)
        except KeyError:
            problems.add(InputError("unknown trait column", file=path, row=0, field=col))
            continue
        if trait in names.values():
            problems.add(InputError(f"second column for trait {trait!r}", file=path, row=0,
                                    field=col))
            continue
        names[col] = trait
    for trait in TRAIT_SETS[level]:
        if trait not in names.values():
            problems.add(InputError(f"trait column missing for level {level!r}", file=path,
                                    row=0, field=trait))
    out = pd.DataFrame({t: _numbers(frame[c], path, c, problems).to_numpy()
                        for c, t in names.items()})
    out.index = index
    return out


def _ratings(path: Path, manifest: Manifest | None, participants: pd.Index | None,
             items: pd.Index | None, problems: _Problems) -> pd.DataFrame:
    frame = _read_table(path, RATING_COLUMNS, problems)
    for col in frame.columns:
        if col not in RATING_COLUMNS:
            problems.add(InputError("unknown column in ratings", file=path, row=0, field=col))
    pid, iid = _text(frame["participant_id"]), _text(frame["item_id"])
    for ids, known, field in ((pid, participants, "participant_id"), (iid, items, "item_id")):
        problems.rows(ids.isna(), lambda pos, field=field: InputError(
            "id is empty", file=path, row=pos + 1, field=field))
        if known is None:  # that table could not be read: reported there
            continue
        what = "participants" if field == "participant_id" else "items"
        problems.rows(~ids.isin(known) & ids.notna(), lambda pos, ids=ids, what=what,
                      field=field: InputError(f"{ids.iloc[pos]!r} is not in {what}",
                                              file=path, row=pos + 1, field=field))
    rating = _numbers(frame["rating"], path, "rating", problems)
    empty = rating.isna() & frame["rating"].map(lambda v: pd.isna(v) or str(v).strip() == "")
    problems.rows(empty, lambda pos: InputError("rating is empty", file=path, row=pos + 1,
                                                field="rating"))
    if manifest is not None:
        lo, hi = manifest.scale_min, manifest.scale_max
        bad = rating.notna() & ((rating % 1 != 0) | (rating < lo) | (rating > hi))
        problems.rows(bad, lambda pos: InputError(
            f"rating {rating.iloc[pos]:g} is not an integer in {lo}..{hi}", file=path,
            row=pos + 1, field="rating"))
    pairs = pd.DataFrame({"p": pid, "i": iid})
    dup = (pairs.duplicated() & pid.notna() & iid.notna()).to_numpy()
    problems.rows(dup, lambda pos: InputError(
        f"second rating of item {iid.iloc[pos]!r} by {pid.iloc[pos]!r}", file=path,
        row=pos + 1, field="item_id"))
    values = rating.to_numpy()
    return pd.DataFrame(
        {
            "participant_id": pid.to_numpy(),
            "item_id": iid.to_numpy(),
            "rating": values.astype("int64") if not np.isnan(values).any() else values,
        }
    ).astype({"participant_id": _TEXT, "item_id": _TEXT})


def _load(folder: Path, problems: _Problems) -> Wave | None:
    """Read and check a wave folder, reporting to ``problems``; None when any was found."""
    if not folder.is_dir():
        problems.stop(InputError("wave folder not found", file=folder))
    guard = problems.guard
    manifest_path = folder / MANIFEST_FILE
    manifest = guard(read_manifest, manifest_path, problems)
    p_path = guard(_find, folder, "participants", problems, True)
    participants = guard(_participants, p_path, problems) if p_path else None
    p_index = participants.index if participants is not None else None
    i_path = guard(_find, folder, "items", problems, True)
    items = guard(_items, i_path, problems) if i_path else None
    n_before = problems.total
    inst_path = guard(_find, folder, "instrument", problems, False)
    val_path = guard(_find, folder, "values", problems, False)
    ambiguous = problems.total > n_before  # both formats of one of them: reported
    answers = values = None
    if inst_path and val_path:
        problems.add(InputError("give instrument.csv or values.csv, not both", file=val_path))
    elif inst_path:
        if manifest is not None and manifest.instrument is None:
            problems.add(InputError("instrument.csv present but no instrument declared",
                                    file=manifest_path, field="instrument"))
        elif manifest is not None:
            if manifest.value_level == "values19" and manifest.instrument != "pvq_rr":
                problems.add(InputError("values19 needs the pvq_rr instrument",
                                        file=manifest_path, field="value_level"))
            answers = guard(_answers, inst_path, manifest.instrument, p_index, problems)
            if answers is not None and p_index is not None:
                _check_coverage(p_path, p_index, inst_path, answers.index, problems)
    elif val_path:
        if manifest is not None and manifest.instrument is not None:
            problems.add(InputError(
                f"instrument {manifest.instrument!r} declared but the wave has values.csv, "
                "not instrument.csv (use null for pre-scored values)",
                file=manifest_path, field="instrument"))
        elif manifest is not None:
            values = guard(_values, val_path, manifest.value_level, p_index, problems)
            if values is not None and p_index is not None:
                _check_coverage(p_path, p_index, val_path, values.index, problems)
    elif not ambiguous:
        problems.add(InputError("need instrument.csv (raw answers) or values.csv (scores)",
                                file=folder / "instrument.csv"))
    r_path = guard(_find, folder, "ratings", problems, True)
    i_index = items.index if items is not None else None
    ratings = guard(_ratings, r_path, manifest, p_index, i_index, problems) if r_path else None
    if problems.total:
        return None
    return Wave(manifest, participants, items, ratings, answers, values, source=folder)


def load_wave(path: str | Path) -> Wave:
    """Load and validate a wave folder.

    Parameters
    ----------
    path
        The wave folder.

    Returns
    -------
    Wave
        The validated wave (``source`` = the folder).

    Raises
    ------
    InputError
        On the first problem found, naming file, row and field (:func:`validate_wave` lists
        them all).
    """
    wave = _load(Path(path), _Problems())
    assert wave is not None  # strict mode raises instead
    return wave


@dataclass(frozen=True)
class WaveProblems:
    """What :func:`validate_wave` found.

    Attributes
    ----------
    problems
        The first ``limit`` problems, in the order the checks ran (manifest, participants,
        items, instrument/values, ratings; rows in file order within a check).
    total
        How many problems were found in all.
    wave
        The loaded wave when there were none, else None.
    """

    problems: tuple[InputError, ...]
    total: int
    wave: Wave | None = None

    @property
    def n_more(self) -> int:
        """Problems found beyond those listed."""
        return self.total - len(self.problems)

    def lines(self) -> list[str]:
        """``error: <problem>`` per listed problem, then ``... and N more problems`` when some
        were left out (what ``vp-bayes validate`` prints)."""
        out = [f"error: {p}" for p in self.problems]
        if self.n_more:
            out.append(f"... and {self.n_more} more problem{'s' if self.n_more > 1 else ''}")
        return out


def validate_wave(path: str | Path, limit: int = PROBLEM_LIMIT) -> WaveProblems:
    """Check a wave folder and list every problem (up to ``limit``), not only the first.

    After a problem that makes a table unreadable (a missing file or required column, an
    unreadable file) the checks that need that table are skipped; every other check runs.

    Parameters
    ----------
    path
        The wave folder.
    limit
        At most this many problems are kept (all are counted).

    Returns
    -------
    WaveProblems
        ``total == 0`` and the wave when the folder is valid.
    """
    if limit < 1:
        raise InputError("must be at least 1", field="limit")
    problems = _Problems(limit)
    wave = problems.guard(_load, Path(path), problems)
    return WaveProblems(tuple(problems.found), problems.total, wave)


# --- writing -------------------------------------------------------------------------------


def _tables(wave: Wave) -> dict[str, pd.DataFrame]:
    tables = {
        "participants": wave.participants.rename_axis("participant_id").reset_index(),
        "items": wave.items.rename_axis("item_id").reset_index(),
        "ratings": wave.ratings[list(RATING_COLUMNS)].reset_index(drop=True),
    }
    if wave.answers is not None:
        answers = wave.answers
        if bool(((answers % 1 == 0) | answers.isna()).all(axis=None)):
            answers = answers.astype("Int64")
        tables["instrument"] = answers.rename_axis("participant_id").reset_index()
    if wave.values is not None:
        tables["values"] = wave.values.rename_axis("participant_id").reset_index()
    return tables


def write_wave(wave: Wave, path: str | Path, fmt: str = "csv") -> Path:
    """Write a wave folder (``wave.json`` + tables) that :func:`load_wave` reads back.

    Parameters
    ----------
    wave
        The wave.
    path
        Destination folder (created if needed; files of the same names are overwritten).
    fmt
        ``"csv"`` or ``"parquet"`` for the tables.

    Returns
    -------
    pathlib.Path
        The folder.

    Raises
    ------
    InputError
        If ``fmt`` is unknown, or the folder holds a table file that would make the wave
        ambiguous (the other format, or values.csv beside instrument.csv).
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use csv or parquet", field="fmt")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tables = _tables(wave)
    for stem in ("participants", "items", "ratings", "instrument", "values"):
        for ext in FORMATS:
            stale = folder / f"{stem}.{ext}"
            if stale.exists() and not (stem in tables and ext == fmt):
                raise InputError("would make the wave ambiguous; remove it first", file=stale)
    text = json.dumps(manifest_dict(wave.manifest), indent=2, ensure_ascii=False) + "\n"
    (folder / MANIFEST_FILE).write_text(text, encoding="utf-8")
    for stem, frame in tables.items():
        if fmt == "csv":
            write_csv(frame, folder / f"{stem}.csv", lineterminator="\n")
        else:
            frame.to_parquet(folder / f"{stem}.parquet", index=False)
    return folder


# --- summary -------------------------------------------------------------------------------


def _spread(counts: pd.Series) -> dict[str, float]:
    if counts.empty:
        return {"min": 0, "median": 0.0, "max": 0}
    return {"min": int(counts.min()), "median": float(counts.median()), "max": int(counts.max())}


def summarize_wave(wave: Wave) -> dict[str, Any]:
    """Counts and distributions of a wave, for ``vp-bayes validate`` and reports.

    Returns
    -------
    dict
        ``name``, ``instrument``, ``value_source``; ``counts`` (DataFrame table, rows,
        columns); ``rating_distribution`` (DataFrame rating, n, share over the whole
        scale); ``ratings_per_item`` and ``ratings_per_participant`` (min, median, max
        over all items / participants, zeros included); ``participants_without_ratings``
        and ``items_without_ratings`` (lists of ids); ``missing_cells`` (empty answers or
        value cells).
    """
    m = wave.manifest
    tables = {"participants": wave.participants, "items": wave.items, "ratings": wave.ratings}
    person = wave.answers if wave.answers is not None else wave.values
    tables["instrument" if wave.answers is not None else "values"] = person
    counts = pd.DataFrame(
        [(k, len(v), v.shape[1]) for k, v in tables.items()], columns=["table", "rows", "columns"]
    )
    scale = range(m.scale_min, m.scale_max + 1)
    n = wave.ratings["rating"].value_counts().reindex(scale, fill_value=0)
    dist = pd.DataFrame({"rating": list(scale), "n": n.to_numpy()})
    dist["share"] = dist["n"] / max(int(dist["n"].sum()), 1)
    per_item = wave.ratings["item_id"].value_counts().reindex(wave.items.index, fill_value=0)
    per_person = (
        wave.ratings["participant_id"].value_counts().reindex(wave.participants.index, fill_value=0)
    )
    if wave.answers is not None:
        source = f"instrument.csv ({m.instrument})"
    else:
        source = f"values.csv ({m.value_level}, {'centred' if m.values_centered else 'raw'})"
    return {
        "name": m.name,
        "instrument": m.instrument,
        "value_source": source,
        "scale": (m.scale_min, m.scale_max),
        "counts": counts,
        "rating_distribution": dist,
        "ratings_per_item": _spread(per_item),
        "ratings_per_participant": _spread(per_person),
        "participants_without_ratings": [str(p) for p in per_person.index[per_person == 0]],
        "items_without_ratings": [str(i) for i in per_item.index[per_item == 0]],
        "missing_cells": int(person.isna().sum().sum()),
    }


__all__ = [
    "MANIFEST_FILE",
    "PROBLEM_LIMIT",
    "WaveProblems",
    "load_wave",
    "manifest_dict",
    "read_manifest",
    "summarize_wave",
    "validate_wave",
    "write_wave",
]
