"""The cache key and the SQLite cache: what decides an answer, and what never enters it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from vp_bayes.llm.cache import RatingCache, request_key
from vp_bayes.llm.personas import Persona
from vp_bayes.llm.runner import Settings, build_requests

ITEMS = pd.DataFrame({"item_id": ["1001_1", "3001_2"], "title": ["T", ""], "query": ["q", "m"],
                      "response": ["r1", "r2"], "source": ["", ""]})
IDENTITY = {"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m1",
            "revision": None}


def _keys(identity: dict | None = None, personas: tuple = (None,), samples: int = 1,
          **settings: object) -> list[str]:
    reqs = build_requests(ITEMS, identity=identity or IDENTITY, respondent_model="m1",
                          variants=["v1"], personas=personas, samples=samples,
                          settings=Settings(**settings))
    return [r.key for r in reqs]


def test_key_is_deterministic_and_distinct_per_item() -> None:
    a, b = _keys(), _keys()
    assert a == b and len(set(a)) == 2


def test_everything_that_decides_the_answer_changes_the_key() -> None:
    base = set(_keys())
    changed = [
        _keys({**IDENTITY, "model": "m2"}),
        _keys({**IDENTITY, "base_url": "http://127.0.0.1:2/v1"}),
        _keys({**IDENTITY, "backend": "transformers"}),
        _keys({**IDENTITY, "revision": "abc123"}),
        _keys(personas=(Persona("gender=male", "**Your Profile**: Your gender is male."),)),
        _keys(temperature=0.7),
        _keys(seed=1),
        _keys(max_tokens=10),
        _keys(top_p=0.9),
        _keys(logprobs=True),
    ]
    for keys in changed:
        assert not base & set(keys)
    two = _keys(samples=2)
    assert set(two[0::2]) == base and not base & set(two[1::2])  # sample index 1 is new


def test_persona_mode_changes_the_key_through_the_messages() -> None:
    p = (Persona("x", "You are X."),)
    sys_keys = [r.key for r in build_requests(ITEMS, identity=IDENTITY, respondent_model="m",
                                              variants=["v1"], personas=p,
                                              persona_mode="system")]
    usr_keys = [r.key for r in build_requests(ITEMS, identity=IDENTITY, respondent_model="m",
                                              variants=["v1"], personas=p, persona_mode="user")]
    assert not set(sys_keys) & set(usr_keys)


def test_extra_fields_such_as_credentials_never_enter_the_key() -> None:
    spec = {**IDENTITY, "messages": [{"role": "user", "content": "x"}], "sample": 0}
    assert request_key(spec) == request_key({**spec, "api_key": "sk-CANARY"})
    assert request_key(spec) == request_key({**spec, "respondent": "other-name"})


def test_cache_roundtrip_failures_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    spec = {**IDENTITY, "messages": [{"role": "user", "content": "x"}], "sample": 0}
    key = request_key(spec)
    with RatingCache(path) as cache:
        cache.record_failure(key, spec, "HTTP 500")
        cache.record_failure(key, spec, "HTTP 503")
        assert cache.failures()[key] == {"error": "HTTP 503", "attempts": 2}
        assert cache.cached_keys() == set()
        cache.put(key, spec, raw_text="Like me.", rating=5, probs=[0, 0, 0, 0, 1, 0],
                  p_valid=0.5, reported_model="m1-x", system_fingerprint="fp", latency_s=0.1)
        assert cache.failures() == {}
    with RatingCache(path) as cache:  # reopened: the answer persisted
        rec = cache.get(key)
        assert rec["raw_text"] == "Like me." and rec["rating"] == 5 and rec["p5"] == 1.0
        assert cache.cached_keys() == {key}
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
