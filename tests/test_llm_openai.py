"""The openai backend end to end against a real local OpenAI-compatible HTTP server."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from llm_server import ScriptedServer, body_key, default_answer

from vp_bayes.llm.backends.openai import OpenAIBackend, option_probs_from_top_logprobs
from vp_bayes.llm.cache import RatingCache
from vp_bayes.llm.parse import parse_rating
from vp_bayes.llm.runner import build_requests, run_requests

CANARY = "sk-CANARY-7f3a9c1e-never-store-me"


def _items(responses: list[str]) -> pd.DataFrame:
    n = len(responses)
    ids = [f"{1001 + i}_1" if i % 2 == 0 else f"{3001 + i}_2" for i in range(n)]
    return pd.DataFrame({"item_id": ids, "title": [f"Title {i}" for i in range(n)],
                         "query": [f"Query number {i}" for i in range(n)],
                         "response": responses, "source": [""] * n})


def _cli(args: list[str], env_extra: dict[str, str] | None = None,
         **kw: object) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                          capture_output=True, text=True, timeout=120, **kw)


def test_cli_end_to_end_scripted_answers_and_no_key_leak(tmp_path: Path) -> None:
    responses = ["plain one", "plain two", "[[429:2]] rate limited", "[[500:1]] server error",
                 "[[garbage]]", "[[refuse]]", "[[say:Not like me at all.]]", "[[fail]]"]
    items = _items(responses)
    items.to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / "out" / "ratings.csv"
    with ScriptedServer(retry_after=0.3) as srv:
        args = [str(tmp_path / "items.csv"), "--backend", "openai", "--model", "test-model",
                "--out", str(out), "--base-url", srv.base_url, "--variants", "v1,v2_reversed",
                "--api-key-env", "VP_TEST_KEY", "--seed", "42", "--max-retries", "3",
                "--retry-delay", "0.05",
                "--concurrency", "4", "--no-progress", "--logprobs"]
        t0 = time.perf_counter()
        first = _cli(args, {"VP_TEST_KEY": CANARY})
        elapsed = time.perf_counter() - t0
        assert first.returncode == 1, first.stderr  # the [[fail]] item failed for good
        assert "2 requests failed" in first.stderr
        assert elapsed > 0.6  # two Retry-After waits of 0.3 s were honoured
        assert set(srv.auth_headers) == {f"Bearer {CANARY}"}  # the key did reach the server
        bodies = srv.bodies
        assert all(b["seed"] == 42 and b["temperature"] == 0.0 and b["max_tokens"] == 64
                   and b["logprobs"] is True and b["top_logprobs"] == 20 for b in bodies)
        ratings = pd.read_csv(out, dtype={"item_id": str})
        raw = pd.read_csv(out.with_name("ratings.raw.csv"), dtype={"item_id": str})
        assert len(ratings) == 14 and len(raw) == 16
        assert set(raw.loc[raw.status == "failed", "item_id"]) == {items.item_id[7]}
        by_item = ratings.groupby("item_id")["rating"].apply(list)
        assert by_item[items.item_id[6]] == [1, 1]
        for garbage_or_refusal in (4, 5):  # kept as rows with an empty rating
            got = by_item[items.item_id[garbage_or_refusal]]
            assert len(got) == 2 and all(pd.isna(got))
        ok = raw[raw.status == "ok"]
        assert (ok.reported_model == "test-model-served").all()
        assert (ok.system_fingerprint == "fp_test_123").all()
        assert ok.loc[ok.item_id == items.item_id[5], "raw_text"].str.contains("sorry").all()
        # directive-free items got the server's deterministic phrase, parsed exactly
        for i in (0, 1):
            sent = [b["messages"] for b in bodies
                    if f"Query number {i}\n" in b["messages"][-1]["content"]]
            expected = sorted(parse_rating(default_answer(m)) for m in sent)
            assert sorted(by_item[items.item_id[i]]) == expected
        probs = ratings[[f"p{k}" for k in range(1, 7)]].dropna()
        assert len(probs) >= 10 and ((probs.sum(axis=1) - 1).abs() < 1e-9).all()
        assert ratings["p_valid"].dropna().between(0, 1).all()
        # every finished request was answered exactly once; 429/500 ones took extra attempts
        assert max(srv.answered.values()) == 1
        assert sum(srv.answered.values()) == 14
        n_before = sum(srv.attempts.values())

        second = _cli(args, {"VP_TEST_KEY": CANARY})
        assert second.returncode == 1
        assert "14 cached, 0 answered now, 2 failed" in second.stdout
        assert sum(srv.attempts.values()) - n_before == 2 * 4  # only the failed ones, retried
        assert max(srv.answered.values()) == 1
        with RatingCache(out.with_name("ratings.cache.sqlite")) as cache:
            assert all(f["attempts"] == 2 for f in cache.failures().values())

    for path in out.parent.iterdir():
        assert CANARY.encode() not in path.read_bytes(), path
    for stream in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert CANARY not in stream
    con = sqlite3.connect(out.with_name("ratings.cache.sqlite"))
    dump = "\n".join(con.iterdump())
    assert CANARY not in dump and "VP_TEST_KEY" not in dump


def test_retries_honour_retry_after_and_timeouts(tmp_path: Path) -> None:
    items = _items(["[[429:1]] a", "[[slow:1:3]] b", "[[500:2]] c", "d"])
    with ScriptedServer(retry_after=1.0) as srv:
        backend = OpenAIBackend("m", base_url=srv.base_url, concurrency=4, timeout=0.8,
                                max_retries=3, base_delay=0.05, max_delay=5.0)
        reqs = build_requests(items, identity=backend.identity(), respondent_model="m",
                              variants=["v1"])
        t0 = time.perf_counter()
        with RatingCache(tmp_path / "c.sqlite") as cache:
            summary = run_requests(reqs, backend, cache, progress=False)
            recs = cache.get_many(r.key for r in reqs)
        elapsed = time.perf_counter() - t0
        assert summary.done == 4 and summary.failed == 0
        attempts = [json.loads(recs[r.key]["meta"])["attempts"] for r in reqs]
        assert attempts == [2, 2, 3, 1]
        assert elapsed >= 1.0  # the 1 s Retry-After was waited for
        keys = [body_key("m", r.messages) for r in reqs]
        assert [srv.attempts[k] for k in keys] == [2, 2, 3, 1]
        # each answered once (the timed-out first reply of item 2 may still be sleeping)
        assert [srv.answered[k] for k in keys] == [1, 1, 1, 1]


def test_permanent_4xx_fails_without_retry(tmp_path: Path) -> None:
    items = _items(["[[400]] x"])
    with ScriptedServer() as srv:
        backend = OpenAIBackend("m", base_url=srv.base_url, max_retries=3, base_delay=0.01)
        reqs = build_requests(items, identity=backend.identity(), respondent_model="m",
                              variants=["v1"])
        with RatingCache(tmp_path / "c.sqlite") as cache:
            summary = run_requests(reqs, backend, cache, progress=False)
            assert summary.failed == 1 and "HTTP 400" in next(iter(summary.failures.values()))
            assert cache.cached_keys() == set()
        assert sum(srv.attempts.values()) == 1  # a 400 is not retried


def test_option_probs_from_top_logprobs_hand_computed() -> None:
    ln = math.log
    # generated "Not like me" ; first position alternatives "Like" (0.2), "Very" (0.05)
    positions = [("Not", {"Not": ln(0.6), "Like": ln(0.2), "Very": ln(0.05)}),
                 (" like", {" like": ln(0.9), " at": ln(0.1)}),
                 (" me", {" me": ln(1.0)})]
    probs, p_valid, info = option_probs_from_top_logprobs(positions)
    # "Like" -> could be "like me" only; "Very" -> 6; " at" after "not" -> invalid;
    # the finished path "not like me" gets 0.6 * 0.9 * 1.0
    assert p_valid == pytest.approx(0.2 + 0.05 + 0.54)
    expected = [0, 0.54, 0, 0, 0.2, 0.05]
    assert probs == pytest.approx([e / p_valid for e in expected])
    assert info["ambiguous_mass"] == 0
    # an off-path "not" at the first token is ambiguous between ratings 1 and 2: split evenly
    probs, p_valid, info = option_probs_from_top_logprobs(
        [("like", {"like": ln(0.5), "not": ln(0.4)}), (" me", {" me": ln(0.8), ".": ln(0.1)})])
    assert p_valid == pytest.approx(0.4 + 0.5 * 0.8)
    assert info["ambiguous_mass"] == pytest.approx(0.4)
    assert probs == pytest.approx([0.2 / p_valid, 0.2 / p_valid, 0, 0, 0.4 / p_valid, 0])
    # garbage answer: nothing valid
    probs, p_valid, _ = option_probs_from_top_logprobs([("xq", {"xq": ln(0.9)})])
    assert probs is None and p_valid == 0


def test_sigkill_and_resume(tmp_path: Path) -> None:
    items = _items([f"response {i}" for i in range(10)])
    items.to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / "ratings.csv"
    cache_path = tmp_path / "ratings.cache.sqlite"
    with ScriptedServer(delay=0.25) as srv:
        args = [str(tmp_path / "items.csv"), "--backend", "openai", "--model", "m",
                "--out", str(out), "--base-url", srv.base_url, "--variants", "v1,v3",
                "--concurrency", "2", "--no-progress"]
        proc = subprocess.Popen([sys.executable, "-m", "vp_bayes", "rate", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        n_cached = 0
        while time.time() < deadline:
            if cache_path.exists():
                try:
                    con = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
                    n_cached = con.execute("SELECT count(*) FROM answers").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    n_cached = 0
            if n_cached >= 6:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()  # killed before writing the table
        with RatingCache(cache_path) as cache:
            cached_before = {r["key"] for r in cache.get_many(cache.cached_keys()).values()}
            requests_before = {k: cache.get(k)["request"] for k in cached_before}
        assert 6 <= len(cached_before) < 20
        answered_before = sum(srv.answered.values())

        done = _cli(args)
        assert done.returncode == 0, done.stderr
        assert f"{len(cached_before)} cached" in done.stdout
    ratings = pd.read_csv(out, dtype={"item_id": str})
    assert len(ratings) == 20 and ratings["rating"].notna().all()
    assert set(ratings["item_id"]) == set(items["item_id"])
    # requests cached before the kill were answered exactly once by the server
    for req_json in requests_before.values():
        spec = json.loads(req_json)
        assert srv.answered[body_key("m", spec["messages"], spec["seed"])] == 1
    # at most the 2 in-flight requests were answered twice
    assert 20 <= sum(srv.answered.values()) <= 22
    assert answered_before - len(cached_before) <= 2


def test_a_cache_write_failing_mid_run_stops_with_one_line_and_keeps_the_answers(
        tmp_path: Path) -> None:
    """The cache refuses writes after two answers (an SQLite trigger standing in for a full
    disk): one line naming the cache, exit 2; the two answers stay and a rerun asks only the
    rest."""
    items = _items([f"answer {i}" for i in range(6)])
    items.to_csv(tmp_path / "items.csv", index=False)
    out = tmp_path / "ratings.csv"
    cache_path = tmp_path / "ratings.cache.sqlite"
    with RatingCache(cache_path):
        pass  # a new, empty cache
    con = sqlite3.connect(cache_path)
    con.execute("CREATE TRIGGER full BEFORE INSERT ON answers "
                "WHEN (SELECT count(*) FROM answers) >= 2 "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    con.commit()
    con.close()
    with ScriptedServer() as srv:
        args = [str(tmp_path / "items.csv"), "--backend", "openai", "--model", "m",
                "--out", str(out), "--base-url", srv.base_url, "--variants", "v1",
                "--api-key-env", "VP_TEST_KEY", "--concurrency", "1", "--no-progress"]
        first = _cli(args, {"VP_TEST_KEY": CANARY})
        assert first.returncode == 2, first.stderr
        lines = first.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in first.stderr, first.stderr
        assert str(cache_path) in lines[0] and "could not store an answer" in lines[0]
        assert "rerun the same command" in lines[0]
        with RatingCache(cache_path) as cache:
            assert len(cache.cached_keys()) == 2
        con = sqlite3.connect(cache_path)
        con.execute("DROP TRIGGER full")
        con.commit()
        con.close()
        asked = sum(srv.answered.values())
        second = _cli(args, {"VP_TEST_KEY": CANARY})
        assert second.returncode == 0, second.stderr
        assert "2 cached, 4 answered now" in second.stdout
        assert sum(srv.answered.values()) - asked == 4
    assert len(pd.read_csv(out)) == 6
