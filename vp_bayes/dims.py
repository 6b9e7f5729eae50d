"""The one vocabulary of vp_bayes: dimension names, trait names and defaults.

Every xarray object, DataTree group and tidy table in the package uses these names.
Import them from here; never spell a dimension or value name as a bare string elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal

from vp_bayes.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

# --- dimension names -------------------------------------------------------
PARTICIPANT: Final = "participant"  # a human in a survey wave
ITEM: Final = "item"  # a Value Portrait statement item (query + response)
QUESTION: Final = "question"  # a questionnaire item of an instrument (PVQ-RR q1..q57)
VALUE: Final = "value"  # a latent trait (Schwartz value, or any trait set)
RESPONDENT: Final = "respondent"  # anything scored through the item posterior (LLM, persona)
VARIANT: Final = "variant"  # prompt variant / repeated sample of an LLM rating
CUTPOINT: Final = "cutpoint"  # ordinal threshold index (K - 1 of them)
CATEGORY: Final = "category"  # rating category (1..K)
VALUE_BASIS: Final = "value_basis"  # coordinates of the subspace ipsative values span (V - r)
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

# --- scales of portraits and contrasts --------------------------------------
# One pair for scoring, contrasts, the report and the CLI. Identifiers spell "centered"
# (the portrait table's ``centered_*`` columns); prose may say "centred".
LATENT: Final = "latent"  # the fitted humans' scale: 0 = their centre, 1 = one SD (docs/model.md)
CENTERED: Final = "centered"  # minus the respondent's mean over values, draw by draw
Scale = Literal["latent", "centered"]
SCALES: Final[tuple[str, ...]] = (LATENT, CENTERED)

# --- columns of the tables the package writes --------------------------------
# A trait is ``value`` in every table (tags, selection, portraits, contrasts, classic scores).
ITEM_ID: Final = "item_id"
# Tag table (``vp-bayes select``): one row per (item, value) pair of the correlation rule.
TAG_COLUMNS: Final[tuple[str, ...]] = (ITEM_ID, VALUE, "r", "p", "p_adjusted", "n", "tagged")
# Column names in files written by earlier versions -> today's (readers accept both).
OLD_COLUMNS: Final[dict[str, str]] = {"trait": VALUE}

# --- variables of the portrait draws file (``portraits.nc``) -------------------
THETA: Final = "theta"  # (respondent, sample, value) on the latent scale
THETA_CENTERED: Final = "theta_centered"  # minus the respondent's mean over values
PERCENTILE: Final = "percentile"
# Variable names in files written by earlier versions -> today's (loaders rename).
OLD_VARIABLES: Final[dict[str, str]] = {"theta_centred": THETA_CENTERED}


def current_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the column names of earlier versions (:data:`OLD_COLUMNS`) renamed."""
    return frame.rename(columns={old: new for old, new in OLD_COLUMNS.items()
                                 if new not in frame.columns})


def current_variables(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the variable names of earlier versions (:data:`OLD_VARIABLES`) renamed."""
    return ds.rename({old: new for old, new in OLD_VARIABLES.items()
                      if old in ds and new not in ds})


# --- defaults --------------------------------------------------------------
# The paper's tagging rule: an item is tagged for a value when its human ratings correlate
# with the raters' value scores with Spearman rho > TAG_THRESHOLD and p < TAG_ALPHA.
TAG_THRESHOLD: Final = 0.3
TAG_ALPHA: Final = 0.05
INTERVAL_MASS: Final = 0.90  # every interval in vp_bayes is equal-tailed 90% unless asked
RATING_LABELS: Final[dict[int, str]] = {
    6: "very much like me",
    5: "like me",
    4: "somewhat like me",
    3: "a little like me",
    2: "not like me",
    1: "not like me at all",
}


# --- respondent names --------------------------------------------------------
# A respondent is a model (``gpt-4o``) or a model under a persona (``gpt-4o|gender=male``); a
# persona id is one or more ``axis=group`` attributes joined by ``;`` (``gender=male;age=20-39``)
# or any user-chosen id without ``|`` (``custom``). Only the functions below write or read
# that format.
PERSONA_SEP: Final = "|"
ATTRIBUTE_SEP: Final = ";"
ATTRIBUTE_EQ: Final = "="


def respondent_name(model: str, persona: str = "") -> str:
    """``("gpt-4o", "gender=male")`` -> ``"gpt-4o|gender=male"``; no persona -> ``"gpt-4o"``."""
    return f"{model}{PERSONA_SEP}{persona}" if persona else model


def split_respondent(name: str) -> tuple[str, str]:
    """``"gpt-4o|gender=male"`` -> ``("gpt-4o", "gender=male")``; no persona -> ``(name, "")``."""
    model, _, persona = name.partition(PERSONA_SEP)
    return model, persona


def persona_id(attributes: Mapping[str, str]) -> str:
    """``{"gender": "male", "age": "20-39"}`` -> ``"gender=male;age=20-39"``."""
    return ATTRIBUTE_SEP.join(f"{axis}{ATTRIBUTE_EQ}{group}" for axis, group in attributes.items())


def parse_persona(persona: str, *, name: str | None = None,
                  field: str = "persona") -> dict[str, str]:
    """``"gender=male;age=20-39"`` -> ``{"gender": "male", "age": "20-39"}``; ``""`` -> ``{}``.

    Parameters
    ----------
    persona
        A persona id.
    name
        The respondent name it came from, for the error message.
    field
        The field named by the error.

    Raises
    ------
    InputError
        If an attribute is not ``axis=group``.
    """
    attrs: dict[str, str] = {}
    if not persona:
        return attrs
    for part in persona.split(ATTRIBUTE_SEP):
        axis, eq, group = part.strip().partition(ATTRIBUTE_EQ)
        if not eq or not axis.strip() or not group.strip():
            where = f"respondent {name!r}" if name is not None else f"persona {persona!r}"
            raise InputError(f"{where}: persona attribute {part!r} is not axis=group",
                             field=field)
        attrs[axis.strip()] = group.strip()
    return attrs


def parse_respondent(name: str) -> tuple[str, dict[str, str]]:
    """``"gpt-4o|gender=male;age=20-39"`` -> ``("gpt-4o", {"gender": "male", "age": "20-39"})``.

    Raises
    ------
    InputError
        If a persona attribute is not ``axis=group``.
    """
    model, persona = split_respondent(name)
    return model, parse_persona(persona, name=name, field=RESPONDENT)


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
