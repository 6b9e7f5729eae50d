"""The wave folder format: validation of malformed input, round trips, summary, CLI exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vp_bayes.errors import InputError
from vp_bayes.wave import load_wave, summarize_wave, write_wave
from vp_bayes.wave.io import validate_wave

REPO = Path(__file__).resolve().parents[1]
MANIFEST = {
    "name": "tiny",
    "instrument": "pvq21",
    "scale": {"min": 1, "max": 6},
    "values_centered": True,
    "value_level": "values",
    "description": "hand-made test wave",
}
QUESTIONS = [f"q{k}" for k in range(1, 22)]
TRAITS = [
    "Self_Direction", "Stimulation", "Hedonism", "Achievement", "Power",
    "Security", "Conformity", "Tradition", "Benevolence", "Universalism",
]  # fmt: skip


def _instrument_csv() -> str:
    rows = ["participant_id," + ",".join(QUESTIONS)]
    rows.append("p1," + ",".join(str(1 + k % 6) for k in range(21)))
    rows.append("p2," + ",".join(str(6 - k % 6) for k in range(21)))
    rows.append("p3," + ",".join("" if k == 4 else "3" for k in range(21)))  # q5 missing
    return "\n".join(rows) + "\n"


def _values_csv() -> str:
    rows = ["participant_id," + ",".join(TRAITS)]
    for p, base in (("p1", 0.5), ("p2", -0.25), ("p3", 0.0)):
        rows.append(p + "," + ",".join(f"{base + k / 10:.2f}" for k in range(10)))
    return "\n".join(rows) + "\n"


FILES = {
    "participants.csv": "participant_id,gender,age\np1,female,20-39\np2,male,40-59\np3,female,\n",
    "items.csv": (
        "item_id,title,query,response,source\n"
        'i1,T1,"How, exactly?",Answer one,Reddit\n'
        "i2,,Query two,Answer two,LMSYS\n"
        "i3,,Query three,Answer three,LMSYS\n"
    ),
    "ratings.csv": "participant_id,item_id,rating\np1,i1,5\np1,i2,3\np2,i1,6\np3,i2,1\n",
    "instrument.csv": _instrument_csv(),
}


def _write_good(folder: Path, *, values: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = dict(MANIFEST, instrument=None) if values else MANIFEST
    (folder / "wave.json").write_text(json.dumps(manifest))
    for name, text in FILES.items():
        if values and name == "instrument.csv":
            name, text = "values.csv", _values_csv()
        (folder / name).write_text(text)
    return folder


def _replace(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        text = (folder / name).read_text()
        assert old in text, f"corruption {old!r} does not apply to {name}"
        (folder / name).write_text(text.replace(old, new, 1))

    return edit


def _append(name: str, line: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        with (folder / name).open("a") as fh:
            fh.write(line + "\n")

    return edit


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text)


def _delete(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def _manifest(**changes: object) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        data = json.loads((folder / "wave.json").read_text())
        for key, value in changes.items():
            if value is _DROP:
                del data[key]
            else:
                data[key] = value
        (folder / "wave.json").write_text(json.dumps(data))

    return edit


_DROP = object()

# (id, use the values.csv variant, corruption, file, row, field, message fragment)
CASES = [
    ("no participants", False, _delete("participants.csv"), "participants.csv", None, None,
     "required file missing"),
    ("no ratings", False, _delete("ratings.csv"), "ratings.csv", None, None, "missing"),
    ("empty ratings", False, _write("ratings.csv", ""), "ratings.csv", 0, None, "empty"),
    ("header only items", False, _write("items.csv", "item_id,title\n"), "items.csv", 1, None,
     "no data rows"),
    ("ratings lack rating", False, _write("ratings.csv", "participant_id,item_id\np1,i1\n"),
     "ratings.csv", 0, "rating", "required column"),
    ("ratings extra column", False,
     _replace("ratings.csv", "rating\np1,i1,5", "rating,weight\np1,i1,5,1"), "ratings.csv", 0,
     "weight", "unknown column"),
    ("duplicate participant", False, _replace("participants.csv", "p3,female", "p2,female"),
     "participants.csv", 3, "participant_id", "duplicate id"),
    ("empty participant id", False, _replace("participants.csv", "p2,male", ",male"),
     "participants.csv", 2, "participant_id", "empty"),
    ("duplicate item", False, _replace("items.csv", "i3,", "i2,"), "items.csv", 3, "item_id",
     "duplicate id"),
    ("duplicate rating pair", False, _append("ratings.csv", "p1,i1,4"), "ratings.csv", 5,
     "item_id", "second rating"),
    ("unknown rater", False, _replace("ratings.csv", "p3,i2,1", "p9,i2,1"), "ratings.csv", 4,
     "participant_id", "not in participants"),
    ("unknown item", False, _replace("ratings.csv", "p2,i1,6", "p2,i7,6"), "ratings.csv", 3,
     "item_id", "not in items"),
    ("rating not integer", False, _replace("ratings.csv", "p1,i2,3", "p1,i2,3.5"), "ratings.csv",
     2, "rating", "not an integer"),
    ("rating off scale", False, _replace("ratings.csv", "p2,i1,6", "p2,i1,7"), "ratings.csv", 3,
     "rating", "1..6"),
    ("rating zero", False, _replace("ratings.csv", "p2,i1,6", "p2,i1,0"), "ratings.csv", 3,
     "rating", "1..6"),
    ("rating empty", False, _replace("ratings.csv", "p3,i2,1", "p3,i2,"), "ratings.csv", 4,
     "rating", "empty"),
    ("rating word", False, _replace("ratings.csv", "p1,i1,5", "p1,i1,five"), "ratings.csv", 1,
     "rating", "not a number"),
    ("ragged row", False, _replace("ratings.csv", "p1,i2,3", "p1,i2,3,9"), "ratings.csv", 2, None,
     "malformed"),
    ("answer word", False, _replace("instrument.csv", "p2,6,", "p2,six,"), "instrument.csv", 2,
     "q1", "not a number"),
    ("answer off scale", False, _replace("instrument.csv", "p1,1,2,", "p1,1,9,"),
     "instrument.csv", 1, "q2", "1..6"),
    ("answer fractional", False, _replace("instrument.csv", "p1,1,2,", "p1,1,2.5,"),
     "instrument.csv", 1, "q2", "whole number"),
    ("question column missing", False, _replace("instrument.csv", ",q21\n", ",q22\n"),
     "instrument.csv", 0, "q21", "question column missing"),
    ("answers of unknown participant", False, _replace("instrument.csv", "p3,", "p4,"),
     "instrument.csv", 3, "participant_id", "not in participants"),
    ("duplicate answers row", False, _replace("instrument.csv", "p2,", "p1,"),
     "instrument.csv", 2, "participant_id", "duplicate id"),
    ("participant lacks instrument row", False,
     lambda f: (f / "instrument.csv").write_text(
         "\n".join((f / "instrument.csv").read_text().splitlines()[:3]) + "\n"),
     "participants.csv", 3, "participant_id", "no row in instrument.csv"),
    ("unknown instrument", False, _manifest(instrument="pvq40"), "wave.json", None, "instrument",
     "unknown instrument"),
    ("instrument file without instrument", False, _manifest(instrument=None), "wave.json", None,
     "instrument", "no instrument declared"),
    ("invalid json", False, _write("wave.json", '{"name": "x",'), "wave.json", None, None,
     "invalid JSON"),
    ("manifest without name", False, _manifest(name=_DROP), "wave.json", None, "name",
     "non-empty string"),
    ("scale reversed", False, _manifest(scale={"min": 6, "max": 1}), "wave.json", None, "scale",
     "below max"),
    ("scale not integer", False, _manifest(scale={"min": 1.5, "max": 6}), "wave.json", None,
     "scale.min", "not an integer"),
    ("manifest unknown key", False, _manifest(instrumnet="pvq21"), "wave.json", None,
     "instrumnet", "unknown key"),
    ("unknown trait column", True, _replace("values.csv", "Hedonism", "Hedonsim"), "values.csv", 0,
     "Hedonsim", "unknown trait"),
    ("trait column missing", True, _replace("values.csv", ",Universalism", ",Openness"),
     "values.csv", 0, "universalism", "trait column missing"),
    ("value not numeric", True, _replace("values.csv", "p2,-0.25", "p2,high"), "values.csv", 2,
     "Self_Direction", "not a number"),
    ("both person tables", True, _write("instrument.csv", _instrument_csv()), "values.csv", None,
     None, "not both"),
    ("neither person table", True, _delete("values.csv"), "instrument.csv", None, None,
     "need instrument.csv"),
    ("values with instrument declared", True, _manifest(instrument="pvq21"), "wave.json", None,
     "instrument", "values.csv"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "corrupt", "file", "row", "field", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_malformed_wave_names_file_row_field(
    tmp_path: Path, values, corrupt, file, row, field, fragment
) -> None:
    folder = _write_good(tmp_path / "wave", values=values)
    load_wave(folder)  # the uncorrupted wave is valid
    corrupt(folder)
    with pytest.raises(InputError) as info:
        load_wave(folder)
    err = info.value
    assert Path(err.file).name == file
    assert err.row == row
    assert err.field == field
    text = str(err)
    assert "\n" not in text and fragment in text
    assert file in text
    if row is not None:
        assert f"row {row}" in text
    if field is not None:
        assert f"field '{field}'" in text


@pytest.mark.parametrize(("values", "corrupt"), [case[1:3] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_validate_wave_lists_the_first_problem_first(tmp_path: Path, values, corrupt) -> None:
    """The collecting validator finds what load_wave raises, first, plus its consequences."""
    folder = _write_good(tmp_path / "wave", values=values)
    assert validate_wave(folder).total == 0
    corrupt(folder)
    with pytest.raises(InputError) as info:
        load_wave(folder)
    found = validate_wave(folder)
    assert found.wave is None and found.total == len(found.problems) >= 1
    assert str(found.problems[0]) == str(info.value)


def test_validate_wave_lists_every_problem_up_to_the_limit(tmp_path: Path) -> None:
    folder = _write_good(tmp_path / "wave")
    _replace("ratings.csv", "p1,i2,3", "p1,i2,3.5")(folder)  # row 2
    _replace("ratings.csv", "p2,i1,6", "p2,i9,6")(folder)  # row 3
    _replace("participants.csv", "p2,male", ",male")(folder)
    _manifest(instrumnet="pvq21")(folder)
    found = validate_wave(folder)
    text = [str(p) for p in found.problems]
    assert any("wave.json, field 'instrumnet'" in t for t in text)
    assert any("participants.csv, row 2, field 'participant_id': id is empty" in t for t in text)
    assert any("ratings.csv, row 2, field 'rating'" in t for t in text)
    assert any("ratings.csv, row 3, field 'item_id': 'i9' is not in items" in t for t in text)
    assert found.total == len(text) and found.n_more == 0
    few = validate_wave(folder, limit=2)
    assert len(few.problems) == 2 and few.total == found.total
    assert few.lines()[-1] == f"... and {found.total - 2} more problems"


def test_at_least_eighteen_table_cases() -> None:
    assert sum(1 for c in CASES if c[4] is not None) >= 18


def test_good_wave_loads_everything(tmp_path: Path) -> None:
    wave = load_wave(_write_good(tmp_path / "wave"))
    assert list(wave.participants.index) == ["p1", "p2", "p3"]
    assert list(wave.participants.columns) == ["gender", "age"]
    assert pd.isna(wave.participants.loc["p3", "age"])
    assert wave.items.loc["i1", "query"] == "How, exactly?"
    assert len(wave.ratings) == 4 and wave.ratings["rating"].dtype == np.int64
    assert wave.answers.shape == (3, 21)
    assert np.isnan(wave.answers.loc["p3", "q5"]) and wave.answers.loc["p3", "q6"] == 3
    assert wave.answers.loc["p2", "q1"] == 6
    assert wave.values is None


def test_ids_stay_strings(tmp_path: Path) -> None:
    folder = _write_good(tmp_path / "wave")
    for name in ("participants.csv", "instrument.csv", "ratings.csv"):
        _replace(name, "p1,", "007,")(folder)
    _replace("ratings.csv", "p1,", "007,")(folder)
    wave = load_wave(folder)
    assert "007" in wave.participants.index
    assert set(wave.ratings["participant_id"]) == {"007", "p2", "p3"}


def test_values_spellings_are_canonical(tmp_path: Path) -> None:
    wave = load_wave(_write_good(tmp_path / "wave", values=True))
    assert wave.answers is None
    assert "self_direction" in wave.values.columns
    assert wave.values.loc["p2", "stimulation"] == pytest.approx(-0.15)


def _set_manifest(folder: Path, **changes) -> None:
    raw = json.loads((folder / "wave.json").read_text())
    raw.update(changes)
    (folder / "wave.json").write_text(json.dumps(raw))


def test_earlier_spelling_of_the_centering_flag_is_read(tmp_path: Path) -> None:
    new = load_wave(_write_good(tmp_path / "new", values=True))
    old = _write_good(tmp_path / "old", values=True)
    raw = json.loads((old / "wave.json").read_text())
    raw["values_centred"] = raw.pop("values_centered")
    (old / "wave.json").write_text(json.dumps(raw))
    assert load_wave(old).manifest == new.manifest
    # models fitted before the rename keep matching their wave
    assert load_wave(old).data_hash() == new.data_hash()
    _set_manifest(old, values_centered=False)  # both spellings, disagreeing: named, exit 2
    with pytest.raises(InputError, match="field 'values_centred'.*contradicts"):
        load_wave(old)


def test_hash_sees_the_centering_flag(tmp_path: Path) -> None:
    folder = _write_good(tmp_path / "wave", values=True)
    before = load_wave(folder).data_hash()
    _set_manifest(folder, values_centered=False)
    assert load_wave(folder).data_hash() != before


@pytest.mark.parametrize("values", [False, True])
def test_round_trip_csv_and_parquet(tmp_path: Path, values: bool) -> None:
    wave = load_wave(_write_good(tmp_path / "orig", values=values))
    as_csv = load_wave(write_wave(wave, tmp_path / "csv", fmt="csv"))
    as_parquet = load_wave(write_wave(wave, tmp_path / "pq", fmt="parquet"))
    assert (tmp_path / "pq" / "ratings.parquet").is_file()
    assert not (tmp_path / "pq" / "ratings.csv").exists()
    assert wave.data_hash() == as_csv.data_hash() == as_parquet.data_hash()
    pd.testing.assert_frame_equal(wave.ratings, as_parquet.ratings)
    # the hash sees content changes
    changed = load_wave(_write_good(tmp_path / "changed", values=values))
    _replace("ratings.csv", "p1,i1,5", "p1,i1,4")(tmp_path / "changed")
    assert load_wave(tmp_path / "changed").data_hash() != changed.data_hash()


def test_write_refuses_ambiguous_folder(tmp_path: Path) -> None:
    wave = load_wave(_write_good(tmp_path / "orig"))
    write_wave(wave, tmp_path / "out", fmt="csv")
    with pytest.raises(InputError, match="ambiguous"):
        write_wave(wave, tmp_path / "out", fmt="parquet")
    with pytest.raises(InputError, match="both ratings.csv and ratings.parquet"):
        shutil.copy(tmp_path / "out" / "ratings.csv", tmp_path / "orig" / "ratings.csv")
        wave.ratings.to_parquet(tmp_path / "orig" / "ratings.parquet")
        load_wave(tmp_path / "orig")


def test_summary_counts(tmp_path: Path) -> None:
    summary = summarize_wave(load_wave(_write_good(tmp_path / "wave")))
    counts = summary["counts"].set_index("table")["rows"]
    assert counts.to_dict() == {"participants": 3, "items": 3, "ratings": 4, "instrument": 3}
    dist = summary["rating_distribution"].set_index("rating")["n"]
    assert dist.to_dict() == {1: 1, 2: 0, 3: 1, 4: 0, 5: 1, 6: 1}
    assert summary["items_without_ratings"] == ["i3"]
    assert summary["participants_without_ratings"] == []
    assert summary["ratings_per_item"] == {"min": 0, "median": 2.0, "max": 2}
    assert summary["missing_cells"] == 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vp_bayes", *args], capture_output=True, text=True, cwd=REPO
    )


def test_cli_validate_bad_wave_exits_2(tmp_path: Path) -> None:
    folder = _write_good(tmp_path / "wave")
    _replace("ratings.csv", "p2,i1,6", "p2,i1,7")(folder)
    result = _cli("validate", str(folder))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ratings.csv, row 3, field 'rating'" in lines[0]


def test_console_script_exits_2(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "vp-bayes"
    if not script.is_file():
        pytest.skip("vp-bayes console script not installed beside this Python")
    folder = _write_good(tmp_path / "wave")
    _delete("items.csv")(folder)
    result = subprocess.run([str(script), "validate", str(folder)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("items.csv: required file missing")


def test_cli_validate_good_wave(tmp_path: Path) -> None:
    result = _cli("validate", str(_write_good(tmp_path / "wave")))
    assert result.returncode == 0, result.stderr
    assert "participants" in result.stdout and "i3" in result.stdout
