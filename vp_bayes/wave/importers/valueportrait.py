"""Import the public Value Portrait release (Han et al., ACL 2025) as a :class:`Wave`.

The release layout (repository holi-lab/ValuePortrait)::

    data/prolific/survey/main/survey.json        12 rater groups of item ratings
    data/prolific/value/main/value.json          per participant: pvq, bfi, higher_pvq
    data/query-response/{Reddit,...}.json        query and response texts (96 queries)
    lm_evaluation/data/Phase1_total.json         all 104 queries (only source of 8 of them)

Only raters present in ``survey.json`` become participants; every one of them must have
value scores. The eight queries missing from ``data/query-response`` (ids 1901, 1902,
2901, 2902, 3901, 3902, 4901, 4902) take their texts from ``Phase1_total.json``; their
``source`` is inferred from the first digit of the query id (1 Reddit, 2 DearAbby,
3 ShareGPT, 4 LMSYS, otherwise ``"unknown"``) and flagged by ``source_inferred``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from vp_bayes.dims import BIG_FIVE, HIGHER_ORDER, VALUES_10, canonical_trait
from vp_bayes.errors import InputError
from vp_bayes.readers import read_json
from vp_bayes.wave.core import Manifest, Wave

SURVEY = Path("data/prolific/survey/main/survey.json")
VALUES = Path("data/prolific/value/main/value.json")
QUERY_DIR = Path("data/query-response")
PHASE1 = Path("lm_evaluation/data/Phase1_total.json")
CORRELATIONS = Path("data/correlation_results/pvq_correlation_results.json")
SOURCES: tuple[str, ...] = ("Reddit", "DearAbby", "ShareGPT", "LMSYS")
SOURCE_BY_DIGIT: dict[str, str] = {"1": "Reddit", "2": "DearAbby", "3": "ShareGPT", "4": "LMSYS"}
SCALE = (1, 6)
# value.json key -> the trait set it holds, in the order of the columns of ``values``
VALUE_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pvq", VALUES_10),
    ("bfi", BIG_FIVE),
    ("higher_pvq", HIGHER_ORDER),
)


@dataclass(frozen=True)
class ImportReport:
    """Counts of what the importer found (returned by :func:`import_report`)."""

    n_participants: int
    n_items: int
    n_ratings: int
    n_value_entries: int
    n_value_entries_without_ratings: int
    n_duplicate_ratings: int
    inferred_source_items: tuple[str, ...]


def _load_json(path: Path) -> Any:
    if not path.exists():
        raise InputError("file of the Value Portrait release not found", file=path)
    return read_json(path, what="file of the Value Portrait release")


def _field(container: Any, key: str, path: Path, where: str, kind: type | tuple[type, ...],
           what: str) -> Any:
    """``container[key]`` when ``container`` is a mapping holding a ``kind`` there."""
    if not isinstance(container, dict):
        raise InputError(f"expected a JSON object, got {_short(container)}", file=path,
                         field=where)
    if key not in container:
        raise InputError(f"missing key '{key}'", file=path, field=where)
    value = container[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InputError(f"'{key}' must be {what}, got {_short(value)}", file=path,
                         field=f"{where}.{key}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _records(value: Any, path: Path, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"expected a JSON list, got {_short(value)}", file=path, field=where)
    return value


def read_survey(path: Path) -> pd.DataFrame:
    """Read ``survey.json`` into a long table.

    Parameters
    ----------
    path
        The ``survey.json`` file.

    Returns
    -------
    pandas.DataFrame
        Columns ``participant_id, item_id, rating, rater_group`` (group 1..12), one row
        per rating, in file order.

    Raises
    ------
    InputError
        On a malformed entry, a rating outside 1..6 or a duplicate (participant, item).
    """
    groups = _load_json(path)
    if not isinstance(groups, list):
        raise InputError("expected a list of rater groups", file=path)
    rows: list[tuple[str, str, int, int]] = []
    seen: dict[tuple[str, str], str] = {}
    for g, group in enumerate(groups, start=1):
        if not isinstance(group, dict):
            raise InputError("rater group is not a mapping", file=path, field=f"[{g - 1}]")
        for query_id, options in group.items():
            for k, option in enumerate(_records(options, path, f"[{g - 1}]['{query_id}']")):
                at = f"[{g - 1}]['{query_id}'][{k}]"
                option_id = _field(option, "option_id", path, at, int | str, "an id")
                item_id = f"{query_id}_{option_id}"
                where = f"[{g - 1}]['{query_id}'] option {option_id}"
                for entry in _field(option, "data", path, where, list, "a list"):
                    rating, pid = _parse_entry(entry, path, where)
                    key = (pid, item_id)
                    if key in seen:
                        raise InputError(
                            f"participant {pid} rated item {item_id} twice",
                            file=path,
                            field=where,
                        )
                    seen[key] = where
                    rows.append((pid, item_id, rating, g))
    return pd.DataFrame(rows, columns=["participant_id", "item_id", "rating", "rater_group"])


def _parse_entry(entry: Any, path: Path, where: str) -> tuple[int, str]:
    if not (isinstance(entry, list | tuple) and len(entry) == 2):
        raise InputError(f"expected [rating, participant_id], got {entry!r}", file=path,
                         field=where)
    rating, pid = entry
    if isinstance(rating, bool) or not isinstance(rating, int | float) or rating != int(rating):
        raise InputError(f"rating {rating!r} is not an integer", file=path, field=where)
    if not SCALE[0] <= int(rating) <= SCALE[1]:
        raise InputError(f"rating {rating} outside {SCALE[0]}..{SCALE[1]}", file=path,
                         field=where)
    return int(rating), str(pid)


def read_values(path: Path) -> pd.DataFrame:
    """Read ``value.json``: PVQ-21 values (centred), BFI-10 Big Five and higher-order values.

    Parameters
    ----------
    path
        The ``value.json`` file.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``participant_id``; columns :data:`VALUES_10`, :data:`BIG_FIVE`,
        :data:`HIGHER_ORDER` (canonical names), all participants of the file.

    Raises
    ------
    InputError
        When a participant lacks a block or a trait, or a score is not a finite number.
    """
    raw = _load_json(path)
    if not isinstance(raw, dict):
        raise InputError("expected a mapping participant_id -> scores", file=path)
    records: dict[str, dict[str, float]] = {}
    for pid, blocks in raw.items():
        rec: dict[str, float] = {}
        for key, traits in VALUE_BLOCKS:
            block = blocks.get(key) if isinstance(blocks, dict) else None
            if not isinstance(block, dict):
                raise InputError(f"participant {pid} has no '{key}' scores", file=path,
                                 field=f"{pid}.{key}")
            named = {_canonical(name, path, f"{pid}.{key}.{name}"): v for name, v in block.items()}
            for trait in traits:
                score = named.get(trait)
                if (
                    score is None
                    or isinstance(score, bool)
                    or not isinstance(score, int | float)
                    or not math.isfinite(score)
                ):
                    raise InputError(f"participant {pid}: missing or invalid {trait} score "
                                     f"({score!r})", file=path, field=f"{pid}.{key}.{trait}")
                rec[trait] = float(score)
        records[str(pid)] = rec
    columns = [t for _, traits in VALUE_BLOCKS for t in traits]
    frame = pd.DataFrame.from_dict(records, orient="index", columns=columns)
    frame.index.name = "participant_id"
    return frame


def _canonical(name: str, path: Path, field: str) -> str:
    try:
        return canonical_trait(name)
    except KeyError as err:
        raise InputError(f"unknown trait name {name!r}", file=path, field=field) from err


def read_item_texts(release_dir: Path) -> pd.DataFrame:
    """Texts of all 520 items: query (title, text) and response, with their source.

    Parameters
    ----------
    release_dir
        The release root.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``item_id``; columns ``portrait_id, option_id, title, query, response,
        source, source_inferred, text_file`` (the release file the texts were read from).
    """
    rows: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        rel = QUERY_DIR / f"{source}.json"
        path = release_dir / rel
        for k, query in enumerate(_records(_load_json(path), path, "(top level)")):
            extra = _field(query, "extra", path, f"[{k}]", dict, "an object")
            qid = str(_field(extra, "portrait_id", path, f"[{k}].extra", int | str, "an id"))
            _add_query(rows, qid, query, source, False, rel, path, f"[{k}]")
    path = release_dir / PHASE1
    for k, query in enumerate(_records(_load_json(path), path, "(top level)")):
        qid = str(_field(query, "portrait_id", path, f"[{k}]", int | str, "an id"))
        if f"{qid}_1" in rows:
            continue
        source = SOURCE_BY_DIGIT.get(qid[:1], "unknown")
        _add_query(rows, qid, query, source, True, PHASE1, path, f"[{k}]")
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "item_id"
    return frame


def _add_query(rows: dict[str, dict[str, Any]], qid: str, query: Any, source: str,
               inferred: bool, rel: Path, path: Path, where: str) -> None:
    content = _field(query, "content", path, where, dict, "an object")
    outputs = _field(query, "outputs", path, where, list, "a list")
    for k, out in enumerate(outputs):
        at = f"{where}.outputs[{k}]"
        option = _field(out, "id", path, at, int | str, "an id")
        try:
            option_id = int(option)
        except ValueError:
            raise InputError(f"'id' must be a whole number, got {option!r}", file=path,
                             field=f"{at}.id") from None
        response = _field(out, "content", path, at, str, "a text")
        item_id = f"{qid}_{option}"
        rows[item_id] = {
            "portrait_id": qid,
            "option_id": option_id,
            "title": content.get("title"),
            "query": content.get("text"),
            "response": response,
            "source": source,
            "source_inferred": inferred,
            "text_file": rel.as_posix(),
        }


def read_valueportrait(release_dir: str | Path, name: str = "valueportrait") -> Wave:
    """Read the Value Portrait release into a :class:`Wave`.

    Parameters
    ----------
    release_dir
        The release root (the folder holding ``data/`` and ``lm_evaluation/``). The
        parent folder ``shared/valueportrait`` (holding ``release/``) is accepted too.
    name
        The wave's name.

    Returns
    -------
    Wave
        559 participants (raters in ``survey.json``; no demographic columns), 520 items
        (text columns ``title, query, response``, ``source``, ``source_inferred``,
        ``text_file``, ``portrait_id``, ``option_id``, ``rater_group`` "1".."12"; all
        item columns are strings, as a wave folder reads them), 24,320 ratings, and
        ``values`` with the 10 MRAT-centred PVQ-21 values, the Big Five and the 4
        higher-order values.

    Raises
    ------
    InputError
        When a file is missing or malformed, a rater has no values, or an item has no text.
    """
    root = _release_root(Path(release_dir))
    survey = read_survey(root / SURVEY)
    values = read_values(root / VALUES)
    texts = read_item_texts(root)

    raters = pd.Index(pd.unique(survey["participant_id"]), name="participant_id")
    missing = raters.difference(values.index)
    if len(missing):
        raise InputError(f"{len(missing)} raters have no value scores (first: {missing[0]})",
                         file=root / VALUES, field=str(missing[0]))
    groups = survey.groupby("item_id", sort=False)["rater_group"].agg(["min", "max"])
    if (groups["min"] != groups["max"]).any():
        bad = groups.index[groups["min"] != groups["max"]][0]
        raise InputError(f"item {bad} appears in two rater groups", file=root / SURVEY,
                         field=bad)
    no_text = groups.index.difference(texts.index)
    if len(no_text):
        raise InputError(f"{len(no_text)} rated items have no text (first: {no_text[0]})",
                         file=root / PHASE1, field=str(no_text[0]))
    items = texts.loc[groups.index].copy()
    items["rater_group"] = groups["min"].astype(int)
    items = _as_text(items.sort_index())

    participants = pd.DataFrame(index=raters.sort_values())
    ratings = survey[["participant_id", "item_id", "rating"]].reset_index(drop=True)
    manifest = Manifest(
        name=name,
        instrument=None,
        scale_min=SCALE[0],
        scale_max=SCALE[1],
        values_centered=True,
        value_level="values",
        description=(
            "Value Portrait release (Han et al., ACL 2025; holi-lab/ValuePortrait, MIT). "
            "Values: PVQ-21 MRAT-centred (10 values), BFI-10 Big Five, 4 higher-order values. "
            f"{len(values.index.difference(raters))} of {len(values)} value entries have no "
            "ratings and are not participants. Items 1901..4902 (8 queries) take texts from "
            "Phase1_total.json; their source is inferred from the query id."
        ),
    )
    return Wave(
        manifest=manifest,
        participants=participants,
        items=items,
        ratings=ratings,
        answers=None,
        values=values.loc[participants.index],
        source=root,
    )


def _as_text(items: pd.DataFrame) -> pd.DataFrame:
    """All item columns as strings (missing stays NaN), as a wave folder reads them back."""
    out = items.copy()
    for col in out.columns:
        col_values = out[col]
        if pd.api.types.is_bool_dtype(col_values):
            col_values = col_values.map({True: "true", False: "false"})
        out[col] = col_values.astype("str").where(col_values.notna())
    return out


def import_report(release_dir: str | Path) -> ImportReport:
    """Counts describing the release (for the CLI and the docs)."""
    root = _release_root(Path(release_dir))
    wave = read_valueportrait(root)
    values = read_values(root / VALUES)
    inferred = wave.items.index[wave.items["source_inferred"] == "true"]
    return ImportReport(
        n_participants=len(wave.participants),
        n_items=len(wave.items),
        n_ratings=len(wave.ratings),
        n_value_entries=len(values),
        n_value_entries_without_ratings=len(values.index.difference(wave.participants.index)),
        n_duplicate_ratings=0,  # read_survey raises on any duplicate
        inferred_source_items=tuple(inferred),
    )


def _release_root(path: Path) -> Path:
    if (path / SURVEY).exists():
        return path
    if (path / "release" / SURVEY).exists():
        return path / "release"
    raise InputError("not a Value Portrait release (no data/prolific/survey/main/survey.json)",
                     file=path)
