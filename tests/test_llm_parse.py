"""The paper's answer parsing: phrase table, option orders, normalisation, near-misses."""

from __future__ import annotations

import pytest

from vp_bayes.dims import RATING_LABELS
from vp_bayes.llm.parse import parse_rating
from vp_bayes.llm.prompts import load_templates

CASES = [
    # the six phrases, exactly
    ("very much like me", 6),
    ("like me", 5),
    ("somewhat like me", 4),
    ("a little like me", 3),
    ("not like me", 2),
    ("not like me at all", 1),
    # case, whitespace, punctuation, quotes, markdown
    ("Very much like me", 6),
    ("  LIKE ME.  ", 5),
    ('"Somewhat like me"', 4),
    ("**A little like me**", 3),
    ("Not like me!", 2),
    ("Not  like\nme   at all.", 1),
    ("\u201cnot like me\u201d", 2),
    # contained phrases: the longest wins
    ("My answer: not like me at all", 1),
    ("I would say this is not like me.", 2),
    ("Answer: very much like me", 6),
    ("It is somewhat like me, I think", 4),
    ("like me or not like me at all?", 1),
    # the release's spelling variants
    ("not at all like me", 1),
    ("little like me", 3),
    ("doesn't like me", 2),
    # near misses and refusals: None, never a guess
    ("unlike me", None),
    ("like", None),
    ("likely me", None),
    ("me", None),
    ("I cannot answer that as an AI.", None),
    ("I'm sorry, I don't have personal thoughts.", None),
    ("", None),
    ("   ", None),
    (None, None),
    ("5", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_parse_rating_table(text: str | None, expected: int | None) -> None:
    assert parse_rating(text) == expected


def test_phrases_match_rating_labels() -> None:
    for rating, label in RATING_LABELS.items():
        assert parse_rating(label) == rating
        assert parse_rating(label.upper() + ".") == rating


@pytest.mark.parametrize("variant", ["v1", "v2", "v3"])
def test_reversed_option_order_does_not_change_the_map(variant: str) -> None:
    templates = load_templates()
    for form in ("reddit", "sharegpt"):
        forward = _options(templates[variant][form])
        backward = _options(templates[f"{variant}_reversed"][form])
        assert backward == forward[::-1]
        # each listed option, in either order, parses to the rating of its label
        assert [parse_rating(o) for o in forward] == [6, 5, 4, 3, 2, 1]
        assert [parse_rating(o) for o in backward] == [1, 2, 3, 4, 5, 6]


def _options(template: str) -> list[str]:
    lines = template.splitlines()
    start = next(i for i, line in enumerate(lines) if "exact phrases" in line) + 1
    return lines[start : start + 6]
