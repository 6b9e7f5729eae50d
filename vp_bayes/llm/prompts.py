"""The paper's six prompt templates and the chat messages built from them.

Templates live as package data in ``vp_bayes/llm/prompts/{variant}/{form}_prompt.txt``
(copied unchanged from the Value Portrait release, see ``prompts/PROVENANCE.md``). A user
folder with the same layout can replace or add variants (``--templates DIR``).

The ``reddit`` form (with a title) is used for items whose query id starts with 1 or 2, the
``sharegpt`` form for 3 or 4, as in the release's code. Placeholders are substituted with
``str.replace`` (not ``str.format``), so braces inside item texts are harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from vp_bayes.errors import InputError
from vp_bayes.readers import read_table, read_text

VARIANTS: tuple[str, ...] = ("v1", "v1_reversed", "v2", "v2_reversed", "v3", "v3_reversed")
FORMS: tuple[str, ...] = ("reddit", "sharegpt")
PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "title", "query", "response", "source")

Templates = dict[str, dict[str, str]]


def load_templates(directory: str | Path | None = None) -> Templates:
    """Load prompt templates: the built-in six, updated by those found in ``directory``.

    Parameters
    ----------
    directory
        Optional folder laid out as ``{variant}/{reddit,sharegpt}_prompt.txt``. Its variants
        are added to (or replace) the built-in ones.

    Returns
    -------
    dict
        ``{variant: {"reddit": text, "sharegpt": text}}``.

    Raises
    ------
    InputError
        If a user variant folder lacks one of the two forms or a template lacks ``{content}``.
    """
    templates = _read_template_dir(PROMPT_DIR)
    if directory is not None:
        directory = Path(directory)
        if not directory.is_dir():
            raise InputError("template folder not found", file=directory)
        templates.update(_read_template_dir(directory))
    return templates


def _read_template_dir(directory: Path) -> Templates:
    out: Templates = {}
    for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
        forms = {}
        for form in FORMS:
            path = sub / f"{form}_prompt.txt"
            if not path.is_file():
                raise InputError(f"missing template {form}_prompt.txt", file=sub)
            text = read_text(path)
            if "{content}" not in text or "{text}" not in text:
                raise InputError("template lacks {text} or {content} placeholder", file=path)
            forms[form] = text
        out[sub.name] = forms
    return out


def template_form(item: Mapping[str, Any]) -> Literal["reddit", "sharegpt"]:
    """Choose the template form of an item.

    The query id is the part of ``item_id`` before ``_``. Ids starting with 1 or 2 use the
    ``reddit`` form, 3 or 4 the ``sharegpt`` form (the release's rule). Other ids fall back to
    the ``source`` column (Reddit/DearAbby -> reddit, ShareGPT/LMSYS -> sharegpt), and
    finally to whether the item has a non-empty title.
    """
    first = str(item["item_id"]).strip()[:1]
    if first in ("1", "2"):
        return "reddit"
    if first in ("3", "4"):
        return "sharegpt"
    source = str(item.get("source") or "").strip().lower()
    if source in ("reddit", "dearabby"):
        return "reddit"
    if source in ("sharegpt", "lmsys"):
        return "sharegpt"
    return "reddit" if _text(item.get("title")) else "sharegpt"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and pd.isna(value):
        return ""
    return str(value)


def render_prompt(item: Mapping[str, Any], variant: str, templates: Templates | None = None) -> str:
    """Fill the variant's template with the item's title, query and response.

    Raises
    ------
    InputError
        If ``variant`` is unknown.
    """
    templates = templates if templates is not None else load_templates()
    if variant not in templates:
        raise InputError(
            f"unknown prompt variant {variant!r}; known: {', '.join(sorted(templates))}",
            field="variant",
        )
    template = templates[variant][template_form(item)]
    return (
        template.replace("{title}", _text(item.get("title")))
        .replace("{text}", _text(item.get("query")))
        .replace("{content}", _text(item.get("response")))
    )


def build_messages(
    item: Mapping[str, Any],
    variant: str,
    persona: str | None = None,
    persona_mode: Literal["system", "user"] = "system",
    templates: Templates | None = None,
) -> list[dict[str, str]]:
    """Build the chat messages for one item under one prompt variant.

    Parameters
    ----------
    item
        A mapping with ``item_id``, ``title``, ``query``, ``response`` (and optionally
        ``source``).
    variant
        A template variant (``v1`` ... ``v3_reversed`` or a user one).
    persona
        Persona text (e.g. ``**Your Profile**: Your gender is male.``) or ``None``.
    persona_mode
        ``"system"``: the persona is a system message; ``"user"``: it is prepended to the user
        turn, separated by a blank line.

    Returns
    -------
    list of dict
        OpenAI-style ``[{"role": ..., "content": ...}]`` messages.
    """
    prompt = render_prompt(item, variant, templates)
    if persona is None or persona == "":
        return [{"role": "user", "content": prompt}]
    if persona_mode == "system":
        return [{"role": "system", "content": persona}, {"role": "user", "content": prompt}]
    if persona_mode == "user":
        return [{"role": "user", "content": f"{persona}\n\n{prompt}"}]
    raise InputError(f"persona mode must be 'system' or 'user', not {persona_mode!r}",
                     field="persona_mode")


def read_items(path: str | Path) -> pd.DataFrame:
    """Read an items table from a wave folder or a csv/parquet file.

    Parameters
    ----------
    path
        A wave folder holding ``items.csv`` or ``items.parquet``, or such a file directly.

    Returns
    -------
    pandas.DataFrame
        Columns ``item_id`` (str), ``title``, ``query``, ``response``, ``source`` (str, ``""``
        where empty), in file order.

    Raises
    ------
    InputError
        On a missing file or column, an empty or duplicate ``item_id`` or an empty response.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("items.csv", "items.parquet"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise InputError("no items.csv or items.parquet in this folder", file=path)
    df = read_table(path, what="items file")
    if df.empty:
        raise InputError("no items below the header", file=path, row=1)
    for col in ("item_id", "query", "response"):
        if col not in df.columns:
            raise InputError("missing column", file=path, row=0, field=col)
    df = df.copy()
    for col in ITEM_COLUMNS:
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].map(_text)
    df["item_id"] = df["item_id"].str.strip()
    for i, (item_id, response) in enumerate(zip(df["item_id"], df["response"], strict=True)):
        if item_id == "":
            raise InputError("empty item id", file=path, row=i + 1, field="item_id")
        if response.strip() == "":
            raise InputError("empty response text", file=path, row=i + 1, field="response")
    dup = df["item_id"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise InputError(f"duplicate item id {df['item_id'].iloc[i]!r}", file=path, row=i + 1,
                         field="item_id")
    return df[list(ITEM_COLUMNS)].reset_index(drop=True)
