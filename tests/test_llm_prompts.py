"""Prompt templates, messages, personas and the items reader."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vp_bayes.dims import respondent_name
from vp_bayes.errors import InputError
from vp_bayes.llm.personas import (
    AXES,
    builtin_personas,
    compose_persona,
    load_personas,
    resolve_personas,
)
from vp_bayes.llm.prompts import (
    VARIANTS,
    build_messages,
    load_templates,
    read_items,
    render_prompt,
    template_form,
)

ITEM_R = {"item_id": "1021_3", "title": "My {title}", "query": "Q {text} here",
          "response": "R {content} 100%", "source": "Reddit"}
ITEM_S = {"item_id": "3010_1", "title": "", "query": "How do I?", "response": "Like so.",
          "source": "ShareGPT"}


def test_builtin_templates_are_the_release_files(release_dir: Path) -> None:
    templates = load_templates()
    assert set(VARIANTS) <= set(templates)
    src = release_dir / "release" / "lm_evaluation" / "prompts"
    for variant in VARIANTS:
        for form in ("reddit", "sharegpt"):
            expected = (src / variant / f"{form}_prompt.txt").read_text(encoding="utf-8")
            assert templates[variant][form] == expected


def test_template_form_rule() -> None:
    assert template_form({"item_id": "1021_3"}) == "reddit"
    assert template_form({"item_id": "2901_1"}) == "reddit"
    assert template_form({"item_id": "3010_1"}) == "sharegpt"
    assert template_form({"item_id": "4902_5"}) == "sharegpt"
    assert template_form({"item_id": "x1", "source": "LMSYS"}) == "sharegpt"
    assert template_form({"item_id": "x1", "source": "", "title": "T"}) == "reddit"


def test_render_fills_placeholders_literally() -> None:
    text = render_prompt(ITEM_R, "v1")
    assert "Title: My {title}\n" in text
    assert "Scenario: Q {text} here\n" in text
    assert "Response: R {content} 100%\n" in text
    text = render_prompt(ITEM_S, "v2_reversed")
    assert "Message: How do I?" in text and "Title:" not in text
    assert text.index("not like me at all") < text.index("very much like me")


def test_build_messages_persona_modes() -> None:
    persona = "**Your Profile**: Your gender is male."
    plain = build_messages(ITEM_S, "v3")
    assert [m["role"] for m in plain] == ["user"]
    system = build_messages(ITEM_S, "v3", persona, "system")
    assert system == [{"role": "system", "content": persona}, plain[0]]
    user = build_messages(ITEM_S, "v3", persona, "user")
    assert user == [{"role": "user", "content": persona + "\n\n" + plain[0]["content"]}]
    with pytest.raises(InputError):
        build_messages(ITEM_S, "v9")


def test_user_templates_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "reddit_prompt.txt").write_text("T={title} S={text} R={content}")
    (tmp_path / "mine" / "sharegpt_prompt.txt").write_text("S={text} R={content}")
    templates = load_templates(tmp_path)
    assert render_prompt(ITEM_S, "mine", templates) == "S=How do I? R=Like so."
    assert "v1" in templates
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "reddit_prompt.txt").write_text("{text}{content}")
    with pytest.raises(InputError, match="sharegpt_prompt.txt"):
        load_templates(tmp_path)


def test_builtin_personas() -> None:
    people = builtin_personas()
    assert len(people) == 25
    assert len({p.persona_id for p in people}) == 25
    assert {p.persona_id.split("=")[0] for p in people} == set(AXES)
    by_id = {p.persona_id: p.text for p in people}
    assert by_id["gender=male"] == "**Your Profile**: Your gender is male."
    assert by_id["age=20-39"] == "**Your Profile**: You are 20-39 years old."
    assert by_id["political=left-wing"] == (
        "**Your Profile**: Generally speaking, you consider yourself politically left-wing.")
    assert by_id["education=master's"] == ("**Your Profile**: The highest degree or level of "
                                           "school that you have completed is master's degree.")
    assert [p.persona_id for p in builtin_personas(["gender"])] == ["gender=male",
                                                                     "gender=female"]


def test_persona_ids_cover_the_ess_groups(release_dir: Path) -> None:
    ess = pd.read_csv(release_dir / "ess_group_differences.csv")
    ids = {p.persona_id for p in builtin_personas()}
    for axis, group in ess[["axis", "group"]].drop_duplicates().itertuples(index=False):
        assert f"{axis}={group}" in ids


def test_compose_and_resolve(tmp_path: Path) -> None:
    both = compose_persona("gender=female;age=80+")
    assert both.text == "**Your Profile**: Your gender is female. You are 80+ years old."
    with pytest.raises(InputError):
        compose_persona("gender=robot")
    assert resolve_personas() == [None]
    assert [p.persona_id for p in resolve_personas("builtin:political")] == [
        "political=left-wing", "political=centre", "political=right-wing"]
    custom = resolve_personas(text="You are a pirate.")
    assert custom[0].persona_id == "custom"
    assert respondent_name("gpt-4o", custom[0].persona_id) == "gpt-4o|custom"
    assert respondent_name("gpt-4o") == "gpt-4o"
    with pytest.raises(InputError):
        resolve_personas("builtin:planet")


def test_load_personas_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.csv"
    good.write_text("persona_id,text\nnurse,You are a nurse.\nchef,\"You cook, a lot.\"\n")
    assert [p.text for p in load_personas(good)] == ["You are a nurse.", "You cook, a lot."]
    dup = tmp_path / "dup.csv"
    dup.write_text("persona_id,text\na,x\nb,y\na,z\n")
    with pytest.raises(InputError) as err:
        load_personas(dup)
    assert (err.value.row, err.value.field) == (3, "persona_id")
    missing = tmp_path / "missing.csv"
    missing.write_text("id,text\na,x\n")
    with pytest.raises(InputError) as err:
        load_personas(missing)
    assert err.value.field == "persona_id"
    empty = tmp_path / "empty.csv"
    empty.write_text("persona_id,text\na,x\nb,\n")
    with pytest.raises(InputError) as err:
        load_personas(empty)
    assert (err.value.row, err.value.field) == (2, "text")


def test_read_items(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    pd.DataFrame([ITEM_R, ITEM_S]).to_csv(path, index=False)
    for where in (path, tmp_path):
        items = read_items(where)
        assert list(items["item_id"]) == ["1021_3", "3010_1"]
        assert items.loc[1, "title"] == ""
    pq = tmp_path / "x.parquet"
    pd.DataFrame([ITEM_R]).to_parquet(pq)
    assert read_items(pq)["query"].iloc[0] == "Q {text} here"


def test_read_items_errors(tmp_path: Path) -> None:
    dup = tmp_path / "dup.csv"
    pd.DataFrame([ITEM_R, ITEM_S, ITEM_R]).to_csv(dup, index=False)
    with pytest.raises(InputError) as err:
        read_items(dup)
    assert (err.value.row, err.value.field, err.value.file) == (3, "item_id", str(dup))
    nocol = tmp_path / "nocol.csv"
    pd.DataFrame([ITEM_R]).drop(columns="response").to_csv(nocol, index=False)
    with pytest.raises(InputError) as err:
        read_items(nocol)
    assert err.value.field == "response"
    with pytest.raises(InputError):
        read_items(tmp_path / "nowhere")
