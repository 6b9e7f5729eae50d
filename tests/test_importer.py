"""The Value Portrait importer: a hand-made mini release for error paths, the real one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vp_bayes.dims import BIG_FIVE, HIGHER_ORDER, VALUES_10
from vp_bayes.errors import InputError
from vp_bayes.wave.importers.valueportrait import (
    PHASE1,
    QUERY_DIR,
    SOURCES,
    SURVEY,
    VALUES,
    import_report,
    read_valueportrait,
)

PVQ = ["Self_Direction", "Stimulation", "Hedonism", "Achievement", "Power", "Security",
       "Conformity", "Tradition", "Benevolence", "Universalism"]
BFI = ["Extraversion", "Agreeableness", "Conscientiousness", "Neuroticism", "Openness"]
HIGHER = ["Openness_to_Change", "Self_Enhancement", "Conservation", "Self_Transcendence"]


def _scores(pid: int) -> dict:
    return {
        "pvq": {name: 0.1 * k - pid for k, name in enumerate(PVQ)},
        "bfi": {name: 1.0 + k for k, name in enumerate(BFI)},
        "higher_pvq": {name: 0.5 * k for k, name in enumerate(HIGHER)},
    }


def _write(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")


def make_release(root: Path, survey: list | None = None, values: dict | None = None) -> Path:
    """A release with two queries (1001 Reddit; 3901 only in Phase1_total), 2 options each."""
    if survey is None:
        survey = [
            {"1001": [{"option_id": 1, "data": [[4, "P1"], [5, "P2"]]},
                      {"option_id": 2, "data": [[1, "P1"], [6, "P2"]]}]},
            {"3901": [{"option_id": 1, "data": [[3, "P3"]]},
                      {"option_id": 2, "data": [[2, "P3"], [2, "P1"]]}]},
        ]
    if values is None:
        values = {f"P{k}": _scores(k) for k in (1, 2, 3, 4)}
    _write(root / SURVEY, survey)
    _write(root / VALUES, values)
    outputs = [{"content": "resp one", "id": 1}, {"content": "resp two", "id": 2}]
    for source in SOURCES:
        queries = []
        if source == "Reddit":
            queries = [{"content": {"title": "T", "text": "Q1001"}, "outputs": outputs,
                        "extra": {"portrait_id": 1001}}]
        _write(root / QUERY_DIR / f"{source}.json", queries)
    _write(root / PHASE1, [
        {"portrait_id": 1001, "content": {"title": "T", "text": "Q1001"}, "outputs": outputs},
        {"portrait_id": 3901, "content": {"title": None, "text": "Q3901"}, "outputs": outputs},
    ])
    return root


def test_small_release_is_read_exactly(tmp_path: Path) -> None:
    wave = read_valueportrait(make_release(tmp_path))
    assert list(wave.participants.index) == ["P1", "P2", "P3"]  # P4 has values, no ratings
    assert wave.participants.shape[1] == 0
    assert sorted(wave.items.index) == ["1001_1", "1001_2", "3901_1", "3901_2"]
    assert wave.items.loc["1001_2", "response"] == "resp two"
    assert wave.items.loc["1001_1", "source"] == "Reddit"
    assert wave.items.loc["1001_1", "source_inferred"] == "false"
    assert wave.items.loc["3901_1", "source"] == "ShareGPT"
    assert wave.items.loc["3901_1", "source_inferred"] == "true"
    assert wave.items.loc["3901_1", "query"] == "Q3901"
    assert list(wave.items["rater_group"]) == ["1", "1", "2", "2"]
    assert len(wave.ratings) == 7
    row = wave.ratings.query("participant_id == 'P1' and item_id == '3901_2'")
    assert row["rating"].tolist() == [2]
    assert list(wave.values.columns) == [*VALUES_10, *BIG_FIVE, *HIGHER_ORDER]
    assert wave.values.loc["P2", "stimulation"] == pytest.approx(0.1 - 2)
    assert wave.values.loc["P3", "openness"] == pytest.approx(5.0)
    assert wave.manifest.instrument is None and wave.manifest.values_centered
    rep = import_report(tmp_path)
    assert rep.n_value_entries_without_ratings == 1
    assert rep.inferred_source_items == ("3901_1", "3901_2")


def test_rater_without_values_names_file_and_field(tmp_path: Path) -> None:
    values = {f"P{k}": _scores(k) for k in (1, 3)}
    with pytest.raises(InputError) as err:
        read_valueportrait(make_release(tmp_path, values=values))
    assert err.value.file.endswith("value.json") and err.value.field == "P2"


def test_missing_trait_score_is_an_error(tmp_path: Path) -> None:
    values = {f"P{k}": _scores(k) for k in (1, 2, 3)}
    del values["P2"]["bfi"]["Openness"]
    with pytest.raises(InputError, match="openness") as err:
        read_valueportrait(make_release(tmp_path, values=values))
    assert err.value.field == "P2.bfi.openness"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([[4, "P1"], [5, "P1"]], "twice"),
        ([[7, "P1"]], "outside 1..6"),
        ([[4.5, "P1"]], "not an integer"),
        ([["4", "P1"]], "not an integer"),
        ([[4]], "expected"),
    ],
)
def test_bad_survey_entries(tmp_path: Path, data: list, message: str) -> None:
    survey = [{"1001": [{"option_id": 1, "data": data}]}]
    with pytest.raises(InputError, match=message) as err:
        read_valueportrait(make_release(tmp_path, survey=survey))
    assert err.value.file.endswith("survey.json")
    assert err.value.field == "[0]['1001'] option 1"


def test_item_without_text_is_an_error(tmp_path: Path) -> None:
    survey = [{"1001": [{"option_id": 9, "data": [[4, "P1"]]}]}]
    with pytest.raises(InputError, match="no text"):
        read_valueportrait(make_release(tmp_path, survey=survey))


def test_not_a_release(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Value Portrait release"):
        read_valueportrait(tmp_path)


# --- the real release -----------------------------------------------------------------
@pytest.fixture(scope="module")
def release_wave(release_dir: Path):
    return read_valueportrait(release_dir)


@pytest.mark.release
def test_release_counts(release_wave) -> None:
    assert len(release_wave.participants) == 559
    assert len(release_wave.items) == 520
    assert len(release_wave.ratings) == 24_320
    assert not release_wave.ratings.duplicated(["participant_id", "item_id"]).any()
    assert set(release_wave.ratings["rating"]) <= set(range(1, 7))


@pytest.mark.release
def test_release_every_rater_has_values(release_wave) -> None:
    values = release_wave.values
    assert values.index.equals(release_wave.participants.index)
    for col in (*VALUES_10, *BIG_FIVE, *HIGHER_ORDER):
        assert col in values.columns
    assert np.isfinite(values.to_numpy()).all()
    # PVQ-21 values are MRAT-centred: the 10 means scatter around zero, BFI is on 1..5
    assert values[list(BIG_FIVE)].min().min() >= 1 and values[list(BIG_FIVE)].max().max() <= 5
    assert abs(values[list(VALUES_10)].to_numpy().mean()) < 0.5


@pytest.mark.release
def test_release_item_texts_and_groups(release_wave) -> None:
    items = release_wave.items
    for col in ("query", "response", "source"):
        assert items[col].notna().all() and (items[col].str.strip() != "").all()
    assert set(items["rater_group"].astype(int)) == set(range(1, 13))
    assert (items["source_inferred"] == "true").sum() == 40  # 8 queries x 5 options
    inferred = items[items["source_inferred"] == "true"]
    assert set(inferred["portrait_id"]) == {"1901", "1902", "2901", "2902",
                                            "3901", "3902", "4901", "4902"}
    assert set(items["source"]) == set(SOURCES)
    assert set(release_wave.ratings["item_id"]) == set(items.index)


@pytest.mark.release
def test_release_import_report(release_dir: Path) -> None:
    rep = import_report(release_dir)
    assert rep.n_value_entries == 569
    assert rep.n_value_entries_without_ratings == 569 - 559


@pytest.mark.release
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_release_round_trip(release_wave, tmp_path: Path, fmt: str) -> None:
    io = pytest.importorskip("vp_bayes.wave.io")
    path = io.write_wave(release_wave, tmp_path / "wave", fmt=fmt)
    again = io.load_wave(path)
    assert again.data_hash() == release_wave.data_hash()


@pytest.mark.release
def test_cli_import(release_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vp_bayes.cli import app

    res = CliRunner().invoke(app, ["import", "valueportrait", str(release_dir),
                                   str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    assert "participants 559  items 520  ratings 24320" in res.output
    assert (tmp_path / "w" / "wave.json").is_file()
