"""Read, validate, write and summarise a wave folder.

Layout (every table may be ``.csv`` or ``.parquet``, not both)::

    wave.json          {"name", "instrument": "pvq_rr"|"pvq21"|null, "scale": {"min", "max"},
                        "values_centred": bool, "value_level": "values"|"values19",
                        "description"}
    participants.csv   participant_id + demographic columns (strings, empty = missing)
    instrument.csv     participant_id + q1..qK raw answers (empty = missing)      } exactly
    values.csv         participant_id + trait columns (any spelling of a trait)   } one
    items.csv          item_id + text fields (title, query, response, source, ...)
    ratings.csv        participant_id,item_id,rating

Ids are always read as strings. CSV cells are missing only when empty (``NA`` is a string).
Every problem raises :class:`vp_bayes.errors.InputError` naming the file, the data row
(1-based; the header is row 0; a row is a CSV record) and the field. Nothing is dropped:
a participant needs a row in ``instrument.csv``/``values.csv`` (all cells empty declares
the answers missing); participants and items without ratings are allowed and reported by
:func:`summarize_wave`.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vp_bayes.dims import TRAIT_SETS, canonical_trait
from vp_bayes.errors import InputError
from vp_bayes.instruments import get_instrument
from vp_bayes.output import unescape_cells, write_csv
from vp_bayes.wave.core import Manifest, Wave

MANIFEST_FILE = "wave.json"
FORMATS: tuple[str, ...] = ("csv", "parquet")
WAVE_INSTRUMENTS: tuple[str, ...] = ("pvq_rr", "pvq21")
VALUE_LEVELS: tuple[str, ...] = ("values", "values19")
RATING_COLUMNS: tuple[str, ...] = ("participant_id", "item_id", "rating")
_MANIFEST_KEYS = ("name", "instrument", "scale", "values_centred", "value_level", "description")
_TEXT = "str"  # pandas' string dtype (missing = NaN)


# --- reading tables ----------------------------------------------------------------------


def _find(folder: Path, stem: str, *, required: bool) -> Path | None:
    found = [folder / f"{stem}.{ext}" for ext in FORMATS if (folder / f"{stem}.{ext}").is_file()]
    if len(found) > 1:
        raise InputError(f"both {stem}.csv and {stem}.parquet present; keep one", file=found[1])
    if not found:
        if required:
            raise InputError("required file missing", file=folder / f"{stem}.csv")
        return None
    return found[0]


def _check_header(path: Path, columns: list[str]) -> None:
    seen: set[str] = set()
    for col in columns:
        if not col.strip() or col.startswith("Unnamed:"):
            raise InputError("empty column name in the header", file=path, row=0, field=col)
        if col in seen:
            raise InputError("duplicate column name", file=path, row=0, field=col)
        seen.add(col)


def _read_csv(path: Path) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise InputError("file is empty", file=path, row=0)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
        _check_header(path, header)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                            encoding="utf-8")
        return unescape_cells(frame)  # the escape of write_csv (formula injection)
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text ({err.reason})", file=path) from err
    except pd.errors.EmptyDataError as err:
        raise InputError("file is empty", file=path, row=0) from err
    except pd.errors.ParserError as err:
        line = re.search(r"line (\d+)", str(err))
        row = int(line.group(1)) - 1 if line else None
        raise InputError(f"malformed CSV ({str(err).strip()})", file=path, row=row) from err


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises many types for a bad file
        raise InputError(f"cannot read parquet ({err})", file=path) from err
    frame = frame.reset_index(drop=True)
    _check_header(path, [str(c) for c in frame.columns])
    return frame


def _read_table(path: Path, required_columns: tuple[str, ...]) -> pd.DataFrame:
    frame = _read_csv(path) if path.suffix == ".csv" else _read_parquet(path)
    for col in required_columns:
        if col not in frame.columns:
            raise InputError("required column missing", file=path, row=0, field=col)
    if frame.empty:
        raise InputError("no data rows below the header", file=path, row=1)
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


def _numbers(col: pd.Series, path: Path, field: str) -> pd.Series:
    """Floats; empty = NaN; a non-number raises naming its row."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype(float)
    text = _text(col)
    out = np.full(len(text), np.nan)
    for pos, cell in enumerate(text):
        if pd.isna(cell):
            continue
        try:
            out[pos] = float(cell)
        except ValueError:
            raise InputError(
                f"{cell!r} is not a number", file=path, row=pos + 1, field=field
            ) from None
        if not np.isfinite(out[pos]):
            raise InputError(
                f"{cell!r} is not a finite number", file=path, row=pos + 1, field=field
            )
    return pd.Series(out, index=col.index)


def _ids(frame: pd.DataFrame, path: Path, field: str) -> pd.Index:
    ids = _text(frame[field])
    empty = ids.isna().to_numpy()
    if empty.any():
        raise InputError(
            "id is empty", file=path, row=int(np.flatnonzero(empty)[0]) + 1, field=field
        )
    dup = ids.duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        raise InputError(f"duplicate id {ids.iloc[pos]!r}", file=path, row=pos + 1, field=field)
    return pd.Index(ids.to_numpy(), name=field, dtype=_TEXT)


def _first(mask: np.ndarray | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


# --- manifest ------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_manifest(path: Path) -> Manifest:
    """Read and check ``wave.json``.

    Parameters
    ----------
    path
        The ``wave.json`` file.
    """
    if not path.is_file():
        raise InputError("required file missing", file=path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON ({err.msg}, line {err.lineno})", file=path) from err
    if not isinstance(raw, dict):
        raise InputError("the manifest must be a JSON object", file=path)
    for key in raw:
        if key not in _MANIFEST_KEYS:
            raise InputError(
                f"unknown key; known: {', '.join(_MANIFEST_KEYS)}", file=path, field=key
            )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError("a non-empty string is required", file=path, field="name")
    instrument = raw.get("instrument")
    if instrument is not None and instrument not in WAVE_INSTRUMENTS:
        raise InputError(
            f"unknown instrument {instrument!r}; use one of {', '.join(WAVE_INSTRUMENTS)} or null",
            file=path,
            field="instrument",
        )
    scale = raw.get("scale", {"min": 1, "max": 6})
    if not isinstance(scale, dict) or set(scale) != {"min", "max"}:
        raise InputError('must be {"min": int, "max": int}', file=path, field="scale")
    for key in ("min", "max"):
        if not _is_int(scale[key]):
            raise InputError(f"{scale[key]!r} is not an integer", file=path, field=f"scale.{key}")
    if scale["min"] >= scale["max"]:
        raise InputError("scale min must be below max", file=path, field="scale")
    centred = raw.get("values_centred", True)
    if not isinstance(centred, bool):
        raise InputError("must be true or false", file=path, field="values_centred")
    level = raw.get("value_level", "values")
    if level not in VALUE_LEVELS:
        raise InputError(
            f"must be one of {', '.join(VALUE_LEVELS)}", file=path, field="value_level"
        )
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise InputError("must be a string", file=path, field="description")
    return Manifest(
        name=name,
        instrument=instrument,
        scale_min=scale["min"],
        scale_max=scale["max"],
        values_centred=centred,
        value_level=level,
        description=description,
    )


def manifest_dict(manifest: Manifest) -> dict[str, Any]:
    """The JSON form of a manifest (what ``wave.json`` holds)."""
    return {
        "name": manifest.name,
        "instrument": manifest.instrument,
        "scale": {"min": manifest.scale_min, "max": manifest.scale_max},
        "values_centred": manifest.values_centred,
        "value_level": manifest.value_level,
        "description": manifest.description,
    }


# --- the tables ----------------------------------------------------------------------------


def _participants(path: Path) -> pd.DataFrame:
    frame = _read_table(path, ("participant_id",))
    index = _ids(frame, path, "participant_id")
    out = pd.DataFrame({c: _text(frame[c]).to_numpy() for c in frame if c != "participant_id"})
    out.index = index
    return out


def _items(path: Path) -> pd.DataFrame:
    frame = _read_table(path, ("item_id",))
    index = _ids(frame, path, "item_id")
    out = pd.DataFrame({c: _text(frame[c]).to_numpy() for c in frame if c != "item_id"})
    out.index = index
    return out


def _person_table(path: Path, participants: pd.Index) -> tuple[pd.DataFrame, pd.Index]:
    frame = _read_table(path, ("participant_id",))
    index = _ids(frame, path, "participant_id")
    unknown = ~index.isin(participants)
    if unknown.any():
        pos = _first(unknown)
        raise InputError(
            f"participant {index[pos]!r} is not in participants",
            file=path,
            row=pos + 1,
            field="participant_id",
        )
    return frame, index


def _check_coverage(participants_path: Path, participants: pd.Index, table: Path, ids: pd.Index):
    absent = ~participants.isin(ids)
    if absent.any():
        pos = _first(absent)
        raise InputError(
            f"participant {participants[pos]!r} has no row in {table.name} "
            "(a row with empty cells declares the answers missing)",
            file=participants_path,
            row=pos + 1,
            field="participant_id",
        )


def _answers(path: Path, instrument: str, participants: pd.Index) -> pd.DataFrame:
    inst = get_instrument(instrument)
    frame, index = _person_table(path, participants)
    questions = list(inst.questions)
    for q in questions:
        if q not in frame.columns:
            raise InputError(f"question column missing for {instrument}", file=path, row=0, field=q)
    for col in frame.columns:
        if col not in questions and col != "participant_id":
            raise InputError(f"not a question of {instrument}", file=path, row=0, field=col)
    out = {}
    for q in questions:
        x = _numbers(frame[q], path, q)
        bad = x.notna() & ((x < inst.scale_min) | (x > inst.scale_max) | (x % 1 != 0))
        if bad.any():
            pos = _first(bad)
            raise InputError(
                f"answer {x.iloc[pos]:g} is not a whole number in "
                f"{inst.scale_min}..{inst.scale_max}",
                file=path,
                row=pos + 1,
                field=q,
            )
        out[q] = x.to_numpy()
    return pd.DataFrame(out, index=index)


def _values(path: Path, level: str, participants: pd.Index) -> pd.DataFrame:
    frame, index = _person_table(path, participants)
    names: dict[str, str] = {}
    for col in frame.columns:
        if col == "participant_id":
            continue
        try:
            trait = canonical_trait(col)
        except KeyError:
            raise InputError("unknown trait column", file=path, row=0, field=col) from None
        if trait in names.values():
            raise InputError(f"second column for trait {trait!r}", file=path, row=0, field=col)
        names[col] = trait
    for trait in TRAIT_SETS[level]:
        if trait not in names.values():
            raise InputError(
                f"trait column missing for level {level!r}", file=path, row=0, field=trait
            )
    out = pd.DataFrame({t: _numbers(frame[c], path, c).to_numpy() for c, t in names.items()})
    out.index = index
    return out


def _ratings(path: Path, manifest: Manifest, participants: pd.Index, items: pd.Index):
    frame = _read_table(path, RATING_COLUMNS)
    for col in frame.columns:
        if col not in RATING_COLUMNS:
            raise InputError("unknown column in ratings", file=path, row=0, field=col)
    pid, iid = _text(frame["participant_id"]), _text(frame["item_id"])
    for ids, known, field in ((pid, participants, "participant_id"), (iid, items, "item_id")):
        if ids.isna().any():
            raise InputError("id is empty", file=path, row=_first(ids.isna()) + 1, field=field)
        unknown = ~ids.isin(known)
        if unknown.any():
            pos = _first(unknown)
            what = "participants" if field == "participant_id" else "items"
            raise InputError(
                f"{ids.iloc[pos]!r} is not in {what}", file=path, row=pos + 1, field=field
            )
    rating = _numbers(frame["rating"], path, "rating")
    if rating.isna().any():
        raise InputError(
            "rating is empty", file=path, row=_first(rating.isna()) + 1, field="rating"
        )
    lo, hi = manifest.scale_min, manifest.scale_max
    bad = (rating % 1 != 0) | (rating < lo) | (rating > hi)
    if bad.any():
        pos = _first(bad)
        raise InputError(
            f"rating {rating.iloc[pos]:g} is not an integer in {lo}..{hi}",
            file=path,
            row=pos + 1,
            field="rating",
        )
    dup = pd.DataFrame({"p": pid, "i": iid}).duplicated().to_numpy()
    if dup.any():
        pos = _first(dup)
        raise InputError(
            f"second rating of item {iid.iloc[pos]!r} by {pid.iloc[pos]!r}",
            file=path,
            row=pos + 1,
            field="item_id",
        )
    return pd.DataFrame(
        {
            "participant_id": pid.to_numpy(),
            "item_id": iid.to_numpy(),
            "rating": rating.astype("int64"),
        }
    ).astype({"participant_id": _TEXT, "item_id": _TEXT})


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
        On the first problem found, naming file, row and field.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError("wave folder not found", file=folder)
    manifest = read_manifest(folder / MANIFEST_FILE)
    p_path = _find(folder, "participants", required=True)
    participants = _participants(p_path)
    i_path = _find(folder, "items", required=True)
    items = _items(i_path)
    inst_path = _find(folder, "instrument", required=False)
    val_path = _find(folder, "values", required=False)
    if inst_path and val_path:
        raise InputError("give instrument.csv or values.csv, not both", file=val_path)
    answers = values = None
    if inst_path:
        if manifest.instrument is None:
            raise InputError(
                "instrument.csv present but no instrument declared",
                file=folder / MANIFEST_FILE,
                field="instrument",
            )
        if manifest.value_level == "values19" and manifest.instrument != "pvq_rr":
            raise InputError(
                "values19 needs the pvq_rr instrument",
                file=folder / MANIFEST_FILE,
                field="value_level",
            )
        answers = _answers(inst_path, manifest.instrument, participants.index)
        _check_coverage(p_path, participants.index, inst_path, answers.index)
    elif val_path:
        if manifest.instrument is not None:
            raise InputError(
                f"instrument {manifest.instrument!r} declared but the wave has values.csv, "
                "not instrument.csv (use null for pre-scored values)",
                file=folder / MANIFEST_FILE,
                field="instrument",
            )
        values = _values(val_path, manifest.value_level, participants.index)
        _check_coverage(p_path, participants.index, val_path, values.index)
    else:
        raise InputError(
            "need instrument.csv (raw answers) or values.csv (scores)",
            file=folder / "instrument.csv",
        )
    r_path = _find(folder, "ratings", required=True)
    ratings = _ratings(r_path, manifest, participants.index, items.index)
    return Wave(manifest, participants, items, ratings, answers, values, source=folder)


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
        source = f"values.csv ({m.value_level}, {'centred' if m.values_centred else 'raw'})"
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
    "load_wave",
    "manifest_dict",
    "read_manifest",
    "summarize_wave",
    "write_wave",
]
