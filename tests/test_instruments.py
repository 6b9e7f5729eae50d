"""Instrument keys, raw scores, reverse keying and MRAT centring."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from vp_bayes.dims import BIG_FIVE, HIGHER_ORDER, VALUES_10, VALUES_19, canonical_trait
from vp_bayes.errors import InputError
from vp_bayes.instruments import (
    get_instrument,
    keyed_answers,
    mrat_centered,
    question_values,
    raw_scores,
)


def _answers(instrument, values: dict[int, float], default: float) -> pd.DataFrame:
    row = {q: float(default) for q in instrument.questions}
    row.update({f"q{k}": float(v) for k, v in values.items()})
    return pd.DataFrame([row], index=pd.Index(["p1"], name="participant_id"))


def test_registry_shapes() -> None:
    rr, p21, bfi = (get_instrument(n) for n in ("pvq_rr", "pvq21", "bfi10"))
    assert (rr.n_questions, p21.n_questions, bfi.n_questions) == (57, 21, 10)
    assert (rr.scale_min, rr.scale_max, bfi.scale_max) == (1, 6, 5)
    assert rr.traits("values19") == VALUES_19
    assert rr.traits("values") == VALUES_10
    assert p21.traits("values") == VALUES_10
    assert bfi.traits("bigfive") == BIG_FIVE
    assert rr.traits("higher") == HIGHER_ORDER
    assert set(Counter(rr.keys["values19"]).values()) == {3}
    assert bfi.reverse == {"q1", "q3", "q4", "q5", "q7"}
    assert "Schwartz" in rr.source and "Rammstedt" in bfi.source
    with pytest.raises(InputError, match="unknown instrument"):
        get_instrument("pvq40")
    with pytest.raises(InputError, match="no level"):
        question_values(p21, "values19")


def test_pvq_rr_key_spot_checks() -> None:
    rr = get_instrument("pvq_rr")
    k19, k10, hi = (question_values(rr, lv) for lv in ("values19", "values", "higher"))
    assert [q for q, t in k19.items() if t == "humility"] == ["q7", "q38", "q54"]
    assert [q for q, t in k19.items() if t == "universalism_nature"] == ["q8", "q21", "q45"]
    assert k10["q7"] == "tradition"  # humility joins tradition
    assert k10["q9"] is None and k10["q24"] is None  # face joins no basic value
    assert k10["q16"] == "self_direction" and k10["q12"] == "power"
    assert hi["q3"] is None  # hedonism: neither openness nor self-enhancement
    assert hi["q7"] == "conservation" and hi["q5"] == "self_transcendence"


def test_pvq21_hand_computed() -> None:
    p21 = get_instrument("pvq21")
    # all 3 except self_direction (q1, q11) = 6, 4 and universalism (q3, q8, q19) = 1, 2, 3
    ans = _answers(p21, {1: 6, 11: 4, 3: 1, 8: 2}, default=3)
    raw = raw_scores(ans, p21, "values")
    assert raw.loc["p1", "self_direction"] == pytest.approx(5.0)
    assert raw.loc["p1", "universalism"] == pytest.approx(2.0)
    assert raw.loc["p1", "power"] == pytest.approx(3.0)
    mrat = 64 / 21  # 63 + 3 + 1 - 2 - 1
    cen = mrat_centered(ans, p21, "values")
    assert cen.loc["p1", "self_direction"] == pytest.approx(5 - mrat)
    assert cen.loc["p1", "universalism"] == pytest.approx(2 - mrat)
    higher = raw_scores(ans, p21, "higher")
    assert higher.loc["p1", "openness_to_change"] == pytest.approx((6 + 4 + 3 + 3) / 4)
    assert higher.loc["p1", "self_transcendence"] == pytest.approx((1 + 2 + 3 + 3 + 3) / 5)


def test_pvq_rr_hand_computed() -> None:
    rr = get_instrument("pvq_rr")
    # tradition questions 18, 33, 40 = 6; humility 7, 38, 54 = 1; face 9, 24, 49 = 5
    ans = _answers(rr, {18: 6, 33: 6, 40: 6, 7: 1, 38: 1, 54: 1, 9: 5, 24: 5, 49: 5}, default=2)
    r19 = raw_scores(ans, rr, "values19")
    assert r19.loc["p1", "tradition"] == 6 and r19.loc["p1", "humility"] == 1
    assert r19.loc["p1", "face"] == 5
    r10 = raw_scores(ans, rr, "values")
    assert r10.loc["p1", "tradition"] == pytest.approx(3.5)  # (3*6 + 3*1) / 6
    assert "face" not in r10.columns
    # MRAT includes the face questions although face has no basic value
    mrat = (48 * 2 + 18 + 3 + 15) / 57
    cen = mrat_centered(ans, rr, "values")
    assert cen.loc["p1", "tradition"] == pytest.approx(3.5 - mrat)
    assert cen.loc["p1", "stimulation"] == pytest.approx(2 - mrat)


def test_bfi10_reverse_keying() -> None:
    bfi = get_instrument("bfi10")
    # q1 (extraversion, R) = 5 -> 1; q6 = 3 -> extraversion 2
    # q2 (agreeableness) = 4; q7 (R) = 2 -> 4 -> agreeableness 4
    ans = _answers(bfi, {1: 5, 6: 3, 2: 4, 7: 2}, default=3)
    raw = raw_scores(ans, bfi, "bigfive")
    assert raw.loc["p1", "extraversion"] == pytest.approx(2.0)
    assert raw.loc["p1", "agreeableness"] == pytest.approx(4.0)
    assert raw.loc["p1", "openness"] == pytest.approx(3.0)
    keyed = keyed_answers(ans, bfi)
    assert keyed.loc["p1", "q1"] == 1 and keyed.loc["p1", "q6"] == 3


@pytest.mark.parametrize(("name", "level"), [("pvq21", "values"), ("pvq_rr", "values19")])
def test_mrat_identity_on_partitions(name: str, level: str) -> None:
    inst = get_instrument(name)
    rng = np.random.default_rng(7)
    ans = pd.DataFrame(
        rng.integers(1, 7, size=(50, inst.n_questions)).astype(float), columns=inst.questions
    )
    cen = mrat_centered(ans, inst, level)
    counts = Counter(question_values(inst, level).values())
    weights = np.array([counts[t] for t in cen.columns], dtype=float)
    np.testing.assert_allclose(cen.to_numpy() @ weights, 0.0, atol=1e-10)


def test_mrat_identity_fails_when_face_is_left_out() -> None:
    rr = get_instrument("pvq_rr")
    rng = np.random.default_rng(8)
    ans = pd.DataFrame(rng.integers(1, 7, size=(30, 57)).astype(float), columns=rr.questions)
    cen = mrat_centered(ans, rr, "values")
    counts = Counter(question_values(rr, "values").values())
    total = cen.to_numpy() @ np.array([counts[t] for t in cen.columns], dtype=float)
    face = mrat_centered(ans, rr, "values19")["face"].to_numpy()
    np.testing.assert_allclose(total, -3 * face, atol=1e-10)
    assert np.abs(total).max() > 0.1


def test_missing_answers() -> None:
    p21 = get_instrument("pvq21")
    ans = _answers(p21, {1: 6, 11: np.nan}, default=3)
    raw = raw_scores(ans, p21, "values")
    assert raw.loc["p1", "self_direction"] == 6.0  # mean of the answered question only
    strict = raw_scores(ans, p21, "values", min_answered=2)
    assert np.isnan(strict.loc["p1", "self_direction"])
    assert strict.loc["p1", "power"] == 3.0
    cen = mrat_centered(ans, p21, "values")
    assert cen.loc["p1", "power"] == pytest.approx(3 - (6 + 19 * 3) / 20)
    nothing = _answers(p21, {}, default=np.nan)
    assert mrat_centered(nothing, p21, "values").isna().all(axis=None)


def test_bad_answers_raise() -> None:
    p21 = get_instrument("pvq21")
    ans = pd.concat([_answers(p21, {}, 3), _answers(p21, {5: 7}, 3)])
    with pytest.raises(InputError, match=r"row 2, field 'q5'.*off the scale"):
        raw_scores(ans, p21, "values")
    bad = _answers(p21, {}, 3).astype(object)
    bad.loc["p1", "q4"] = "often"
    with pytest.raises(InputError, match=r"row 1, field 'q4'.*not a number"):
        raw_scores(bad, p21, "values")
    with pytest.raises(InputError, match="field 'q21'"):
        raw_scores(_answers(p21, {}, 3).drop(columns="q21"), p21, "values")


@pytest.mark.release
def test_release_higher_order_matches_key(release_dir) -> None:
    """Release higher_pvq = question-weighted mean of its pvq values under our key."""
    path = release_dir / "release" / "data" / "prolific" / "value" / "main" / "value.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    p21 = get_instrument("pvq21")
    n_q = Counter(question_values(p21, "values").values())
    parent = dict(zip(p21.keys["values"], p21.keys["higher"], strict=True))
    worst = 0.0
    for entry in data.values():
        pvq = {canonical_trait(k): v for k, v in entry["pvq"].items()}
        for name, got in entry["higher_pvq"].items():
            members = [v for v, h in parent.items() if h == canonical_trait(name)]
            want = sum(n_q[v] * pvq[v] for v in members) / sum(n_q[v] for v in members)
            worst = max(worst, abs(want - got))
    assert worst < 1e-9
