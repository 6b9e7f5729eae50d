"""Parsing an LLM's answer into a 1..6 rating, as the Value Portrait release does.

The answer is normalised (lower case, whitespace collapsed, surrounding quotes, markdown
asterisks and trailing punctuation removed). An exact match with a phrase wins; otherwise the
LONGEST phrase contained in the answer as whole words wins, so ``not like me at all`` beats
``like me``. The release's spelling variants (``not at all like me``, ``like me very much``,
...) are accepted too. Matching is on whole words, so ``unlike me`` is not ``like me`` (the
release matched raw substrings; this is the one deliberate difference). No match gives
``None``: the raw text is kept by the caller and nothing is guessed.
"""

from __future__ import annotations

import re

from vp_bayes.dims import RATING_LABELS

#: phrase -> rating; the canonical six phrases plus the release's spelling variants.
PHRASES: dict[str, int] = {
    "very much like me": 6,
    "likes me very much": 6,
    "like me very much": 6,
    "like me": 5,
    "likes me": 5,
    "somewhat like me": 4,
    "somewhat likes me": 4,
    "some what like me": 4,
    "some what likes me": 4,
    "a little like me": 3,
    "little like me": 3,
    "not like me": 2,
    "does not like me": 2,
    "doesn't like me": 2,
    "is not like me": 2,
    "not like me at all": 1,
    "not at all like me": 1,
    "does not like me at all": 1,
    "isn't like me at all": 1,
}
assert all(PHRASES[label] == r for r, label in RATING_LABELS.items())

_STRIP = " \t\n\r\"'`*_.,;:!?()[]{}\u201c\u201d\u2018\u2019"


def normalize(text: str) -> str:
    """Lower-case, collapse whitespace, unify apostrophes and strip quotes/punctuation."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return " ".join(text.lower().split()).strip(_STRIP)


def _contains_words(haystack: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w']){re.escape(phrase)}(?![\w'])", haystack) is not None


def parse_rating(text: str | None) -> int | None:
    """Parse an answer such as ``"Not like me at all."`` into a rating 1..6.

    Parameters
    ----------
    text
        The model's raw answer.

    Returns
    -------
    int or None
        The rating (6 = very much like me ... 1 = not like me at all), or ``None`` when no
        phrase is found.
    """
    if not text:
        return None
    norm = normalize(text)
    if norm in PHRASES:
        return PHRASES[norm]
    found = [p for p in PHRASES if _contains_words(norm, p)]
    if not found:
        return None
    return PHRASES[max(found, key=len)]
