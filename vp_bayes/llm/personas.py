"""Personas: demographic profiles given to an LLM before it rates the items.

Built-in set (``personas.csv``, 25 personas). The 13 personas over gender, age, political
orientation and education use the groups and the ``**Your Profile**: ...`` wording of the
paper's persona experiment (the groups of ``ess_group_differences.csv``). The paper's published
tables do not list race, religion and income groups, so the 12 personas on those axes are this
package's choice, phrased in the same style: race (White, Black, Asian, Hispanic), religion
(Christian, Muslim, Buddhist, none) and household income (low, lower-middle, upper-middle,
high).

A persona id is ``axis=group``; several attributes join with ``;`` (``gender=male;age=20-39``)
and their sentences are concatenated after one ``**Your Profile**:`` prefix. A respondent
scored under a persona is named ``"{model}|{persona_id}"`` (:func:`vp_bayes.dims.respondent_name`,
the owner of that format).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vp_bayes import dims
from vp_bayes.errors import InputError
from vp_bayes.readers import read_table

BUILTIN_PATH = Path(__file__).resolve().parent / "personas.csv"
PROFILE_PREFIX = "**Your Profile**: "
AXES: tuple[str, ...] = ("gender", "age", "political", "education", "race", "religion", "income")
CUSTOM_ID = "custom"


@dataclass(frozen=True)
class Persona:
    """A persona: its id (``axis=group`` or user-chosen) and the exact text sent."""

    persona_id: str
    text: str


def builtin_table() -> pd.DataFrame:
    """The built-in personas as a table ``persona_id, axis, group, text``."""
    return pd.read_csv(BUILTIN_PATH, dtype=str, keep_default_na=False)


def builtin_personas(axes: list[str] | tuple[str, ...] | None = None) -> list[Persona]:
    """Return the built-in personas, optionally only those on some axes.

    Raises
    ------
    InputError
        If an axis is unknown.
    """
    table = builtin_table()
    if axes:
        unknown = [a for a in axes if a not in AXES]
        if unknown:
            raise InputError(f"unknown persona axis {unknown[0]!r}; known: {', '.join(AXES)}",
                             field="personas")
        table = table[table["axis"].isin(list(axes))]
    return [Persona(r.persona_id, r.text) for r in table.itertuples()]


def compose_persona(persona_id: str) -> Persona:
    """Build a persona from an id such as ``gender=male`` or ``gender=male;age=20-39``.

    Raises
    ------
    InputError
        If an attribute is not a built-in ``axis=group``.
    """
    table = builtin_table().set_index("persona_id")
    attrs = dims.parse_persona(persona_id)
    if not attrs:
        raise InputError("empty persona id", field="persona")
    sentences = []
    for axis, group in attrs.items():
        part = dims.persona_id({axis: group})
        if part not in table.index:
            raise InputError(f"unknown persona attribute {part!r}", field="persona")
        sentences.append(table.loc[part, "text"].removeprefix(PROFILE_PREFIX))
    return Persona(persona_id, PROFILE_PREFIX + " ".join(sentences))


def load_personas(path: str | Path) -> list[Persona]:
    """Read user personas from a CSV with columns ``persona_id,text``.

    The text is sent verbatim. Ids must be unique, non-empty and free of ``|``.

    Raises
    ------
    InputError
        Naming file, row and field for a missing column, empty or duplicate id or empty text.
    """
    path = Path(path)
    df = read_table(path, what="personas file").fillna("").astype(str)
    for col in ("persona_id", "text"):
        if col not in df.columns:
            raise InputError("missing column", file=path, row=0, field=col)
    if df.empty:
        raise InputError("no personas below the header", file=path, row=1)
    seen: set[str] = set()
    out = []
    for i, (pid, text) in enumerate(zip(df["persona_id"], df["text"], strict=True)):
        pid = pid.strip()
        if pid == "" or dims.PERSONA_SEP in pid:
            raise InputError("persona id must be non-empty and without '|'", file=path,
                             row=i + 1, field="persona_id")
        if pid in seen:
            raise InputError(f"duplicate persona id {pid!r}", file=path, row=i + 1,
                             field="persona_id")
        if text.strip() == "":
            raise InputError("empty persona text", file=path, row=i + 1, field="text")
        seen.add(pid)
        out.append(Persona(pid, text))
    return out


def resolve_personas(spec: str | None = None, text: str | None = None) -> list[Persona | None]:
    """Turn the CLI's ``--personas`` / ``--persona`` options into a list of personas.

    Parameters
    ----------
    spec
        ``builtin``, ``builtin:gender,age`` or a CSV path.
    text
        One ad-hoc persona text (id ``custom``).

    Returns
    -------
    list
        ``[None]`` (no persona) when neither is given; otherwise the personas.
    """
    if spec and text:
        raise InputError("give either --persona or --personas, not both", field="persona")
    if text:
        return [Persona(CUSTOM_ID, text)]
    if not spec:
        return [None]
    if spec == "builtin" or spec.startswith("builtin:"):
        axes = [a.strip() for a in spec.partition(":")[2].split(",") if a.strip()]
        return list(builtin_personas(axes or None))
    return list(load_personas(spec))
