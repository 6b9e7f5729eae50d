"""LLM rating tables: validation of malformed input, unparsed ratings, the real 27-model table."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vp_bayes.errors import InputError
from vp_bayes.wave.ratings import item_ratings, read_llm_ratings, summarize_llm_ratings

HEADER = "respondent,item_id,variant,rating"
GOOD = [
    "m1,1003_1,v1,4",
    "m1,1003_1,v2,",
    "m1,1003_2,v1,6",
    "m1|gender=male,1003_1,v1,1",
]


def _csv(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_valid_table(tmp_path: Path) -> None:
    df = read_llm_ratings(_csv(tmp_path, [*GOOD, "007,0001_1,v1,3"]))
    assert list(df.columns) == ["respondent", "item_id", "variant", "rating"]
    assert df["rating"].isna().tolist() == [False, True, False, False, False]
    assert df.attrs["n_unparsed"] == 1
    assert df["respondent"].tolist()[3:] == ["m1|gender=male", "007"]  # ids kept as text
    assert df["item_id"].iloc[4] == "0001_1"


@pytest.mark.parametrize(
    ("header", "lines", "row", "field", "message"),
    [
        ("respondent,item_id,rating", ["m1,1003_1,4"], 0, "variant", "missing column"),
        (HEADER, ["m1,1003_1,v1,4", ",1003_1,v1,4"], 2, "respondent", "empty identifier"),
        (HEADER, ["m1,,v1,4"], 1, "item_id", "empty identifier"),
        (HEADER, ["m1,1003_1,v1,4", "m1,1003_2,v1,7"], 2, "rating", "outside 1..6"),
        (HEADER, ["m1,1003_1,v1,0"], 1, "rating", "outside 1..6"),
        (HEADER, ["m1,1003_1,v1,2.5"], 1, "rating", "not an integer"),
        (HEADER, ["m1,1003_1,v1,four"], 1, "rating", "not a number"),
        (HEADER, ["m1,1003_1,v1,4", "m1,1003_2,v1,5", "m1,1003_1,v1,3"], 3, "variant",
         "first seen in row 1"),
        (HEADER + ",sample", ["m1,1003_1,v1,4,0", "m1,1003_1,v1,4,0"], 2, "sample",
         "duplicate"),
        (HEADER + ",sample", ["m1,1003_1,v1,4,x"], 1, "sample", "not a number"),
        (HEADER + ",p1,p2,p3,p4,p5,p6", ["m1,1003_1,v1,4,0,0,0,1.2,0,0"], 1, "p4",
         "outside [0, 1]"),
        (HEADER + ",p1,p2,p3,p4,p5,p6", ["m1,1003_1,v1,4,0,0,0.5,0.6,0,0"], 1, "p6",
         "sum to 1.1"),
        (HEADER + ",p1,p2,p3,p4,p5,p6", ["m1,1003_1,v1,4,0.2,,0.2,0.2,0.2,0.2"], 1, "p2",
         "all given or all empty"),
        (HEADER + ",p1,p2,p3,p4,p5", ["m1,1003_1,v1,4,0.2,0.2,0.2,0.2,0.2"], 0, "p6",
         "exactly p1..p6"),
    ],
)
def test_malformed_tables(tmp_path: Path, header: str, lines: list[str], row: int,
                          field: str, message: str) -> None:
    path = _csv(tmp_path, lines, header)
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        read_llm_ratings(path)
    assert err.value.file == str(path)
    assert err.value.row == row
    assert err.value.field == field
    assert str(err.value).startswith(f"{path}, row {row}, field '{field}'")


def test_samples_distinguish_repeats_and_probabilities(tmp_path: Path) -> None:
    lines = ["m1,1003_1,v1,4,0,0,0,0.1,0.8,0.1,0",
             "m1,1003_1,v1,5,1,0,0,0,0.3,0.7,0",
             "m1,1003_1,v1,,2,,,,,,"]
    df = read_llm_ratings(_csv(tmp_path, lines, HEADER + ",sample,p1,p2,p3,p4,p5,p6"))
    assert df["sample"].tolist() == [0, 1, 2]
    assert df.loc[1, "p5"] == pytest.approx(0.7)
    assert df.loc[2, ["p1", "p6"]].isna().all() and df.attrs["n_unparsed"] == 1


def test_parquet_and_scale(tmp_path: Path) -> None:
    frame = pd.DataFrame({"respondent": ["a", "a"], "item_id": ["1", "2"],
                          "variant": ["v1", "v1"], "rating": [1.0, np.nan]})
    path = tmp_path / "r.parquet"
    frame.to_parquet(path)
    df = read_llm_ratings(path)
    assert df["item_id"].tolist() == ["1", "2"] and df.attrs["n_unparsed"] == 1
    frame.loc[1, "rating"] = 5
    frame.to_parquet(path)
    with pytest.raises(InputError, match="outside 1..4") as err:
        read_llm_ratings(path, scale=(1, 4))
    assert err.value.row == 2


def test_summary_by_hand(tmp_path: Path) -> None:
    lines = ["a,i1,v1,4", "a,i1,v2,", "a,i2,v1,", "a,i2,v2,", "b,i1,v1,2", "b,i1,v2,3"]
    df = read_llm_ratings(_csv(tmp_path, lines))
    per_item = item_ratings(df).set_index(["respondent", "item_id"])
    assert per_item.loc[("a", "i1"), "rating"] == 4
    assert np.isnan(per_item.loc[("a", "i2"), "rating"])
    assert per_item.loc[("b", "i1"), "rating"] == 2.5
    summary = summarize_llm_ratings(df).set_index("respondent")
    assert summary.loc["a", "n_unparsed"] == 3 and summary.loc["b", "n_unparsed"] == 0
    assert summary.loc["a", "n_items_no_valid"] == 1
    assert summary.loc["a", "unparsed_rate"] == pytest.approx(0.75)
    assert summary.loc["b", "mean_rating"] == pytest.approx(2.5)


@pytest.mark.release
def test_real_llm_ratings_27(release_dir: Path) -> None:
    path = release_dir / "llm_ratings_27.csv"
    df = read_llm_ratings(path)
    with path.open(newline="", encoding="utf-8") as fh:  # independent count of empty cells
        empty = sum(1 for rec in csv.DictReader(fh) if rec["rating"] == "")
    assert df.attrs["n_unparsed"] == empty > 0
    assert df["respondent"].nunique() == 27
    assert df["item_id"].nunique() == 520
    assert df["variant"].nunique() == 6
    assert len(df) == 27 * 520 * 6
    summary = summarize_llm_ratings(df)
    assert summary["n_unparsed"].sum() == empty
    assert (summary["n_items"] == 520).all() and (summary["n_variants"] == 6).all()
