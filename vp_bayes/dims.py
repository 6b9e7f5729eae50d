"""The one vocabulary of vp_bayes: dimension names, trait names and defaults.

Every xarray object, DataTree group and tidy table in the package uses these names.
Import them from here; never spell a dimension or value name as a bare string elsewhere.
"""

from __future__ import annotations

from typing import Final

# --- dimension names -------------------------------------------------------
PARTICIPANT: Final = "participant"  # a human in a survey wave
ITEM: Final = "item"  # a Value Portrait statement item (query + response)
QUESTION: Final = "question"  # a questionnaire item of an instrument (PVQ-RR q1..q57)
VALUE: Final = "value"  # a latent trait (Schwartz value, or any trait set)
RESPONDENT: Final = "respondent"  # anything scored through the item posterior (LLM, persona)
VARIANT: Final = "variant"  # prompt variant / repeated sample of an LLM rating
CUTPOINT: Final = "cutpoint"  # ordinal threshold index (K - 1 of them)
CATEGORY: Final = "category"  # rating category (1..K)
AXIS: Final = "axis"  # a demographic axis (gender, age_band, ...)
GROUP: Final = "group"  # a level of a demographic axis
CHAIN: Final = "chain"
DRAW: Final = "draw"
SAMPLE: Final = "sample"  # stacked (chain, draw)

# --- canonical trait names (snake_case, one spelling everywhere) -----------
# The 10 basic Schwartz values in circular order (Schwartz 1992, 2012).
VALUES_10: Final[tuple[str, ...]] = (
    "self_direction",
    "stimulation",
    "hedonism",
    "achievement",
    "power",
    "security",
    "conformity",
    "tradition",
    "benevolence",
    "universalism",
)

# The 19 refined values of the PVQ-RR (Schwartz et al. 2012), circular order.
VALUES_19: Final[tuple[str, ...]] = (
    "self_direction_thought",
    "self_direction_action",
    "stimulation",
    "hedonism",
    "achievement",
    "power_dominance",
    "power_resources",
    "face",
    "security_personal",
    "security_societal",
    "tradition",
    "conformity_rules",
    "conformity_interpersonal",
    "humility",
    "benevolence_care",
    "benevolence_dependability",
    "universalism_concern",
    "universalism_nature",
    "universalism_tolerance",
)

HIGHER_ORDER: Final[tuple[str, ...]] = (
    "openness_to_change",
    "self_enhancement",
    "conservation",
    "self_transcendence",
)

BIG_FIVE: Final[tuple[str, ...]] = (
    "extraversion",
    "agreeableness",
    "conscientiousness",
    "neuroticism",
    "openness",
)

TRAIT_SETS: Final[dict[str, tuple[str, ...]]] = {
    "values": VALUES_10,
    "values19": VALUES_19,
    "higher": HIGHER_ORDER,
    "bigfive": BIG_FIVE,
}

# --- defaults --------------------------------------------------------------
INTERVAL_MASS: Final = 0.90  # every interval in vp_bayes is equal-tailed 90% unless asked
RATING_LABELS: Final[dict[int, str]] = {
    6: "very much like me",
    5: "like me",
    4: "somewhat like me",
    3: "a little like me",
    2: "not like me",
    1: "not like me at all",
}


def canonical_trait(name: str) -> str:
    """Map a spelling such as ``Self_Direction`` or ``Self-Direction`` to the canonical name.

    Parameters
    ----------
    name
        Any spelling of a trait name: case, spaces, hyphens and underscores are ignored.

    Returns
    -------
    str
        The canonical snake_case name.

    Raises
    ------
    KeyError
        If the name is not a known trait.
    """
    key = "".join(ch for ch in name.lower() if ch.isalnum())
    if key not in _LOOKUP:
        raise KeyError(f"unknown trait name {name!r}")
    return _LOOKUP[key]


_LOOKUP: dict[str, str] = {
    "".join(ch for ch in t if ch.isalnum()): t
    for traits in TRAIT_SETS.values()
    for t in traits
}
