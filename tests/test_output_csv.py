"""CSV injection: every CSV vp_bayes writes escapes formula-like text cells, numbers stay numbers,
and the package's readers get the original text back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vp_bayes.errors import InputError
from vp_bayes.output import (
    check_writable,
    escape_cell,
    escape_cells,
    unescape_cell,
    unescape_cells,
    write_csv,
)
from vp_bayes.wave import load_wave, write_wave

PACKAGE = Path(__file__).resolve().parents[1] / "vp_bayes"
HOSTILE = ["=1+1", "+cmd", "-x", "@SUM(A1)", "\t=tab", "\r=cr", "'=quoted", "''-twice",
           "=HYPERLINK(\"http://evil\",\"click\")", "-", "@"]
HARMLESS = ["plain", "", " =space first", "'quote only", "a=b", "1-2", "x@y"]
NUMBERS = ["-1", "+2", "-0.5", "-1e-3", "+.5", "-inf", "-NaN", "3"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gets_one_leading_quote_and_comes_back(text: str) -> None:
    escaped = escape_cell(text)
    assert escaped == "'" + text
    assert unescape_cell(escaped) == text


@pytest.mark.parametrize("text", HARMLESS + NUMBERS)
def test_harmless_text_and_numbers_in_text_are_left_alone(text: str) -> None:
    assert escape_cell(text) == text
    assert unescape_cell(escape_cell(text)) == text


def test_frame_escape_touches_text_columns_only() -> None:
    frame = pd.DataFrame({
        "name": ["=a", "b", None],
        "mixed": ["-x", 2.5, "-3"],
        "number": [-1.5, 2.0, np.nan],
        "count": pd.array([-1, None, 3], dtype="Int64"),
        "flag": [True, False, True],
        "group": pd.Categorical(["@g", "h", "@g"]),
    })
    escaped = escape_cells(frame)
    assert list(escaped["name"][:2]) == ["'=a", "b"] and pd.isna(escaped["name"][2])
    assert list(escaped["mixed"]) == ["'-x", 2.5, "-3"]
    assert list(escaped["group"]) == ["'@g", "h", "'@g"]
    for col in ("number", "count", "flag"):
        pd.testing.assert_series_equal(escaped[col], frame[col])
    assert list(frame["name"][:2]) == ["=a", "b"]  # the input is not modified
    plain = pd.DataFrame({"a": ["x", "y"], "b": [-1, 2]})
    assert escape_cells(plain) is plain  # nothing to do, no copy


def test_written_file_keeps_numbers_numeric(tmp_path: Path) -> None:
    frame = pd.DataFrame({"respondent": ["=evil|gender=male", "-m", "ok"],
                          "value": ["power", "+x", "@y"],
                          "mean": [-0.25, 1.5, -3.0], "n": [-2, 0, 7],
                          "=col": ["a", "b", "c"]})
    path = write_csv(frame, tmp_path / "sub" / "t.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "respondent,value,mean,n,'=col"
    assert lines[1] == "'=evil|gender=male,power,-0.25,-2,a"
    assert lines[2] == "'-m,'+x,1.5,0,b"
    for line in lines:
        for cell in line.split(","):
            assert cell[:1] not in ("=", "+", "@", "\t", "\r") and not re.match(r"-[^\d]", cell)
    back = pd.read_csv(path)
    assert back["mean"].dtype == np.float64 and back["n"].dtype == np.int64
    pd.testing.assert_frame_equal(unescape_cells(back), frame, check_dtype=False)


def test_wave_round_trip_with_hostile_text(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "wave.json").write_text(json.dumps({
        "name": "hostile", "instrument": "pvq21", "scale": {"min": 1, "max": 6},
        "values_centered": True, "value_level": "values", "description": "=evil()"}))
    pd.DataFrame({"participant_id": ["-p1", "p2", "@p3"],
                  "gender": ["=cmd|' /C calc'!A0", "male", "+female"],
                  "age": ["-", "20-39", "40-59"]}).to_csv(src / "participants.csv", index=False)
    pd.DataFrame({"item_id": ["=i1", "i2"], "title": ["@t", ""],
                  "query": ['=HYPERLINK("http://evil","x")', "q"],
                  "response": ["- a bullet", "\t=tabbed"], "source": ["+s", ""]}
                 ).to_csv(src / "items.csv", index=False)
    pd.DataFrame({"participant_id": ["-p1", "p2", "@p3", "-p1"],
                  "item_id": ["=i1", "=i1", "i2", "i2"], "rating": [5, 3, 6, 1]}
                 ).to_csv(src / "ratings.csv", index=False)
    answers = pd.DataFrame(np.arange(63).reshape(3, 21) % 6 + 1,
                           columns=[f"q{k}" for k in range(1, 22)])
    answers.insert(0, "participant_id", ["-p1", "p2", "@p3"])
    answers.to_csv(src / "instrument.csv", index=False)

    wave = load_wave(src)
    assert wave.items.loc["=i1", "response"] == "- a bullet"
    out = write_wave(wave, tmp_path / "out")
    text = (out / "items.csv").read_text()
    assert "'=i1" in text and "'- a bullet" in text and "'@t" in text and "'+s" in text
    assert "'-p1" in (out / "ratings.csv").read_text()
    assert ",5\n" in (out / "ratings.csv").read_text()  # ratings stay plain numbers
    again = load_wave(out)
    assert again.data_hash() == wave.data_hash()
    assert again.participants.loc["-p1", "gender"] == "=cmd|' /C calc'!A0"


def test_every_csv_writer_goes_through_write_csv() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "output.py" and path.parent == PACKAGE:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if ".to_csv(" in line or "csv.writer(" in line or "DictWriter(" in line:
                offenders.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert offenders == []


def test_check_writable_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_writable(blocker / "deeper" / "out.csv")
    with pytest.raises(InputError, match="is a folder"):
        check_writable(tmp_path)
    target = tmp_path / "new" / "out.csv"
    assert check_writable(target) == target and target.parent.is_dir()
    assert list(target.parent.iterdir()) == []  # the probe is gone
