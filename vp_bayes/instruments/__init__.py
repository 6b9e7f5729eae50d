"""Value and personality questionnaires: scoring keys as data, raw means and MRAT centring.

The keys live once, as package data, in ``vp_bayes/instruments/{pvq_rr,pvq21,bfi10}.csv``
(one row per question, one column per scoring level, sources in the files' ``#`` header):

- ``pvq_rr``: PVQ-RR, 57 questions, 1..6; Schwartz et al. (2012), scoring key Schwartz (2017).
  Levels ``values19`` (19 refined values, 3 questions each), ``values`` (10 basic values:
  refined values merged, humility joins tradition, face joins none) and ``higher``.
- ``pvq21``: PVQ-21 in ESS order, 21 questions, 1..6. Levels ``values`` and ``higher``.
- ``bfi10``: BFI-10, Rammstedt & John (2007), 10 questions, 1..5, five reverse-keyed
  (scored ``scale_min + scale_max - x``). Level ``bigfive``.

Higher-order values: openness_to_change = self_direction + stimulation, self_enhancement =
achievement + power, conservation = security + conformity + tradition, self_transcendence =
benevolence + universalism. Hedonism shares openness to change and self-enhancement
(Schwartz 2012); this package assigns it to *neither*, which is what the Value Portrait
release's ``higher_pvq`` scores do (checked against ``value.json`` in the tests).

MRAT centring (Schwartz): a trait's centred score is its mean minus the person's mean
over *all* questions of the instrument, which removes individual scale use.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from vp_bayes.dims import TRAIT_SETS, VALUE
from vp_bayes.errors import InputError

INSTRUMENTS: tuple[str, ...] = ("pvq_rr", "pvq21", "bfi10")
_SCALES: dict[str, tuple[int, int]] = {"pvq_rr": (1, 6), "pvq21": (1, 6), "bfi10": (1, 5)}
_TITLES: dict[str, str] = {
    "pvq_rr": "Portrait Values Questionnaire, revised (PVQ-RR, 57 items)",
    "pvq21": "Portrait Values Questionnaire, 21 items (PVQ-21, ESS)",
    "bfi10": "Big Five Inventory, 10 items (BFI-10)",
}


@dataclass(frozen=True)
class Instrument:
    """A questionnaire and its scoring key.

    Attributes
    ----------
    name
        Registry name (``"pvq_rr"``, ``"pvq21"``, ``"bfi10"``).
    title
        Human-readable name.
    n_questions
        Number of questions; they are named ``q1..qK``.
    scale_min, scale_max
        The answer scale.
    keys
        Level name -> the trait of each question (index 0 is ``q1``), ``None`` where the
        question has no trait at that level.
    reverse
        Reverse-keyed questions (scored ``scale_min + scale_max - x``).
    source
        Citation of the questionnaire and key.
    """

    name: str
    title: str
    n_questions: int
    scale_min: int
    scale_max: int
    keys: Mapping[str, tuple[str | None, ...]] = field(hash=False)
    reverse: frozenset[str] = frozenset()
    source: str = ""

    @property
    def questions(self) -> tuple[str, ...]:
        """Question column names ``q1..qK``."""
        return tuple(f"q{k}" for k in range(1, self.n_questions + 1))

    @property
    def levels(self) -> tuple[str, ...]:
        """The scoring levels this instrument supports."""
        return tuple(self.keys)

    def traits(self, level: str) -> tuple[str, ...]:
        """Traits scored at ``level``, in the canonical order of ``TRAIT_SETS``."""
        present = set(self._key(level))
        return tuple(t for t in TRAIT_SETS[level] if t in present)

    def _key(self, level: str) -> tuple[str | None, ...]:
        if level not in self.keys:
            raise InputError(
                f"instrument {self.name!r} has no level {level!r}; levels: {', '.join(self.keys)}",
                field="level",
            )
        return self.keys[level]


def _read_key(name: str) -> tuple[dict[str, tuple[str | None, ...]], frozenset[str], str]:
    text = resources.files("vp_bayes.instruments").joinpath(f"{name}.csv").read_text("utf-8")
    lines = text.splitlines()
    source = " ".join(line.lstrip("# ").strip() for line in lines if line.startswith("#"))
    rows = list(csv.DictReader(line for line in lines if line and not line.startswith("#")))
    levels = [c for c in rows[0] if c not in ("question", "reverse")]
    keys: dict[str, tuple[str | None, ...]] = {}
    for level in levels:
        traits = tuple(row[level] or None for row in rows)
        unknown = {t for t in traits if t is not None} - set(TRAIT_SETS[level])
        if unknown:  # a corrupt key file is a packaging bug, not user input
            raise RuntimeError(f"{name}.csv: unknown traits {sorted(unknown)} at level {level}")
        keys[level] = traits
    if [row["question"] for row in rows] != [f"q{k}" for k in range(1, len(rows) + 1)]:
        raise RuntimeError(f"{name}.csv: questions must be q1..qK in order")
    reverse = frozenset(row["question"] for row in rows if row.get("reverse") == "yes")
    return keys, reverse, source


@cache
def get_instrument(name: str) -> Instrument:
    """Return a registered instrument.

    Parameters
    ----------
    name
        ``"pvq_rr"``, ``"pvq21"`` or ``"bfi10"``.

    Raises
    ------
    InputError
        If the name is unknown (field ``instrument``).
    """
    if name not in INSTRUMENTS:
        raise InputError(
            f"unknown instrument {name!r}; known: {', '.join(INSTRUMENTS)}", field="instrument"
        )
    keys, reverse, source = _read_key(name)
    lo, hi = _SCALES[name]
    n = len(next(iter(keys.values())))
    return Instrument(name, _TITLES[name], n, lo, hi, keys, reverse, source)


def question_values(instrument: Instrument, level: str) -> dict[str, str | None]:
    """Map each question to its trait at ``level`` (``None`` where it has none).

    Parameters
    ----------
    instrument
        The instrument.
    level
        ``"values"``, ``"values19"``, ``"higher"`` or ``"bigfive"`` (as supported).
    """
    return dict(zip(instrument.questions, instrument._key(level), strict=True))


def keyed_answers(answers: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Check raw answers and apply reverse keying.

    Parameters
    ----------
    answers
        One row per person, columns ``q1..qK`` (numbers on the scale, NaN = missing).

    Returns
    -------
    pandas.DataFrame
        Float answers in question order, reverse-keyed questions flipped.

    Raises
    ------
    InputError
        Missing or extra question columns, non-numeric or out-of-range answers
        (row = 1-based position of the person, field = the question).
    """
    questions = list(instrument.questions)
    missing = [q for q in questions if q not in answers.columns]
    if missing:
        raise InputError(f"answers lack question column(s) for {instrument.name}", field=missing[0])
    extra = [c for c in answers.columns if c not in questions]
    if extra:
        raise InputError(f"not a question of {instrument.name}", field=str(extra[0]))
    out = pd.DataFrame(index=answers.index)
    for q in questions:
        col = answers[q]
        values = pd.to_numeric(col, errors="coerce").astype(float)
        bad = values.isna() & col.notna()
        off = values.notna() & ((values < instrument.scale_min) | (values > instrument.scale_max))
        for mask, why in ((bad, "is not a number"), (off, "is off the scale")):
            if mask.any():
                pos = int(np.flatnonzero(mask.to_numpy())[0])
                raise InputError(
                    f"answer {col.iloc[pos]!r} {why} "
                    f"{instrument.scale_min}..{instrument.scale_max}",
                    row=pos + 1,
                    field=q,
                )
        if q in instrument.reverse:
            values = instrument.scale_min + instrument.scale_max - values
        out[q] = values
    return out


def raw_scores(
    answers: pd.DataFrame, instrument: Instrument, level: str, *, min_answered: int = 1
) -> pd.DataFrame:
    """Mean answer per trait (reverse keying applied), ignoring missing answers.

    Parameters
    ----------
    answers
        One row per person, columns ``q1..qK``; NaN = missing.
    instrument
        The instrument.
    level
        The scoring level.
    min_answered
        A trait score is NaN unless at least this many of its questions were answered.

    Returns
    -------
    pandas.DataFrame
        Same index as ``answers``; one column per trait, canonical order.
    """
    keyed = keyed_answers(answers, instrument)
    key = question_values(instrument, level)
    out = {}
    for trait in instrument.traits(level):
        block = keyed[[q for q, t in key.items() if t == trait]]
        n = block.notna().sum(axis=1)
        out[trait] = block.mean(axis=1, skipna=True).where(n >= min_answered)
    frame = pd.DataFrame(out, index=answers.index)
    frame.columns.name = VALUE
    return frame


def mrat_centered(
    answers: pd.DataFrame, instrument: Instrument, level: str, *, min_answered: int = 1
) -> pd.DataFrame:
    """MRAT-centred trait scores: trait mean minus the person's mean over all questions.

    The person's mean (MRAT) is taken over all answered questions of the instrument,
    including questions with no trait at ``level`` (e.g. PVQ-RR face at ``"values"``).
    A person who answered nothing gets NaN everywhere.

    Parameters
    ----------
    answers, instrument, level, min_answered
        As for :func:`raw_scores`.

    Returns
    -------
    pandas.DataFrame
        Same shape as :func:`raw_scores`.
    """
    raw = raw_scores(answers, instrument, level, min_answered=min_answered)
    mrat = keyed_answers(answers, instrument).mean(axis=1, skipna=True)
    return raw.sub(mrat, axis=0)


__all__ = [
    "INSTRUMENTS",
    "Instrument",
    "get_instrument",
    "keyed_answers",
    "mrat_centered",
    "question_values",
    "raw_scores",
]
