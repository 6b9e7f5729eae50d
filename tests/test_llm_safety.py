"""`vp-bayes rate` against a real local OpenAI-compatible server: secrets, the locked cache, bad
cache files, unwritable outputs, CSV injection in the written tables.

The server is ``tests/llm_server.py`` (stdlib HTTP on loopback); the CLI runs as a subprocess
where stdout/stderr matter, in-process (``vp_bayes.cli.main``) for the one-line errors.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from llm_server import ScriptedServer

from vp_bayes.llm.cache import RatingCache, key_spec, lock_path, request_key
from vp_bayes.llm.redact import MARK, redact, register_secret, strip_url_credentials
from vp_bayes.wave.ratings import read_llm_ratings

KEY = "sk-CANARY-91b2c3d4e5-never-store-me"
USERINFO_KEY = "USERINFO-KEY-5c6d7e8f"
QUERY_KEY = "QUERY-KEY-0a1b2c3d4e"


def _items(tmp_path: Path, ids: list[str] | None = None,
           responses: list[str] | None = None) -> Path:
    responses = responses or [f"plain response {i}" for i in range(4)]
    ids = ids or [f"{1001 + i}_1" for i in range(len(responses))]
    table = pd.DataFrame({"item_id": ids, "title": [""] * len(ids),
                          "query": [f"Query {i}" for i in range(len(ids))],
                          "response": responses, "source": [""] * len(ids)})
    path = tmp_path / "items.csv"
    table.to_csv(path, index=False)  # the test's own input, written raw on purpose
    return path


def _args(items: Path, out: Path, base_url: str, *extra: str) -> list[str]:
    return [str(items), "--backend", "openai", "--model", "m", "--out", str(out),
            "--base-url", base_url, "--variants", "v1", "--api-key-env", "VP_TEST_KEY",
            "--max-retries", "0", "--concurrency", "2", "--no-progress", *extra]


def _cli(args: list[str], key: str = KEY) -> subprocess.CompletedProcess:
    env = {**os.environ, "VP_TEST_KEY": key}
    return subprocess.run([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def _popen(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "VP_TEST_KEY": KEY}
    return subprocess.Popen([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _main(args: list[str], monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from vp_bayes.cli import main

    monkeypatch.setattr(sys, "argv", ["vp-bayes", "rate", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def _everything_written(folder: Path) -> bytes:
    """All bytes under ``folder`` (cache, WAL, lock, tables) plus the cache's SQL dump."""
    blobs = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
    for db in folder.rglob("*.sqlite"):
        con = sqlite3.connect(db)
        blobs.append("\n".join(con.iterdump()).encode())
        con.close()
    return b"\n".join(blobs)


# -- secrets ---------------------------------------------------------------------------------


def test_401_echoing_the_key_leaves_it_nowhere(tmp_path: Path) -> None:
    items = _items(tmp_path)
    out = tmp_path / "out" / "ratings.csv"
    with ScriptedServer(echo=401) as srv:
        run = _cli(_args(items, out, srv.base_url))
        assert set(srv.auth_headers) == {f"Bearer {KEY}"}  # the key did reach the server
    assert run.returncode == 1, run.stderr
    assert "4 requests failed" in run.stderr
    assert "HTTP 401" in run.stderr and MARK in run.stderr  # the echo was shown, redacted
    written = _everything_written(out.parent)
    for secret in (KEY, KEY[:16], KEY[-16:]):
        assert secret.encode() not in written
        assert secret not in run.stdout and secret not in run.stderr
    with RatingCache(out.with_name("ratings.cache.sqlite")) as cache:
        errors = [f["error"] for f in cache.failures().values()]
    assert len(errors) == 4 and all("HTTP 401" in e and MARK in e for e in errors)
    raw = pd.read_csv(out.with_name("ratings.raw.csv"))
    assert (raw["status"] == "failed").all() and raw["error"].str.contains("401").all()


def test_200_echoing_the_key_in_the_answer_is_redacted(tmp_path: Path) -> None:
    items = _items(tmp_path)
    out = tmp_path / "out" / "ratings.csv"
    with ScriptedServer(echo=200) as srv:
        run = _cli(_args(items, out, srv.base_url))
    assert run.returncode == 0, run.stderr
    assert KEY.encode() not in _everything_written(out.parent)
    assert KEY not in run.stdout + run.stderr
    ratings = pd.read_csv(out)
    assert (ratings["rating"] == 5).all()  # parsed from the answer before redaction
    raw = pd.read_csv(out.with_name("ratings.raw.csv"))
    assert raw["raw_text"].str.contains(MARK, regex=False).all()
    assert (raw["reported_model"] == MARK).all() and (raw["system_fingerprint"] == MARK).all()


def test_base_url_userinfo_never_stored(tmp_path: Path) -> None:
    items = _items(tmp_path)
    out = tmp_path / "out" / "ratings.csv"
    with ScriptedServer() as srv:
        host = srv.base_url.split("//", 1)[1]
        run = _cli(_args(items, out, f"http://user:{USERINFO_KEY}@{host}"))
        basic = base64.b64encode(f"user:{USERINFO_KEY}".encode()).decode()
        assert set(srv.auth_headers) == {f"Basic {basic}"}  # the URL's credentials were used
    assert run.returncode == 0, run.stderr
    written = _everything_written(out.parent)
    assert USERINFO_KEY.encode() not in written and basic.encode() not in written
    assert USERINFO_KEY not in run.stdout + run.stderr
    con = sqlite3.connect(out.with_name("ratings.cache.sqlite"))
    stored = [r[0] for r in con.execute("SELECT request FROM answers")]
    con.close()
    assert len(stored) == 4 and all(f'"base_url":"{srv.base_url}"' in s for s in stored)


def test_base_url_query_key_never_stored_even_when_echoed(tmp_path: Path) -> None:
    items = _items(tmp_path)
    out = tmp_path / "out" / "ratings.csv"
    with ScriptedServer(echo=401) as srv:
        run = _cli(_args(items, out, f"{srv.base_url}?api_key={QUERY_KEY}&api-version=7"))
        assert any(QUERY_KEY in p for p in srv.paths)  # the key went out in the URL
    assert run.returncode == 1
    written = _everything_written(out.parent)
    assert QUERY_KEY.encode() not in written and KEY.encode() not in written
    assert QUERY_KEY not in run.stdout + run.stderr and KEY not in run.stdout + run.stderr
    con = sqlite3.connect(out.with_name("ratings.cache.sqlite"))
    stored = [r[0] for r in con.execute("SELECT request FROM failures")]
    con.close()
    # stripped, not refused: the answer-deciding parameter stays
    assert stored and all(f'"base_url":"{srv.base_url}?api-version=7"' in s for s in stored)


def test_cache_key_ignores_url_credentials() -> None:
    spec = {"backend": "openai", "base_url": "https://host/v1?api-version=2", "model": "m",
            "messages": [{"role": "user", "content": "x"}], "sample": 0}
    with_user = {**spec, "base_url": "https://u:SECRET-123456@host/v1?api-version=2"}
    with_query = {**spec, "base_url": "https://host/v1?api_key=SECRET-123456&api-version=2"}
    assert request_key(spec) == request_key(with_user) == request_key(with_query)
    assert key_spec(with_user)["base_url"] == "https://host/v1?api-version=2"
    other = {**spec, "base_url": "https://host/v1?api-version=3"}
    assert request_key(other) != request_key(spec)  # a non-credential parameter still counts


def test_redact_shapes_and_registered_values() -> None:
    register_secret("tok-7a8b9c0d1e2f")
    text = ("Authorization: Bearer abc123def456\n"
            '{"headers": {"authorization": "Token zz9"}} '
            "got tok-7a8b9c0d1e2f / tok-7a8b9c0d1e2f%21 sk-proj-ABCDEFGHIJKLMNOPQRSTUV "
            "https://me:pw@host/x?key=K1&q=1 x-api-key: abc9")
    out = redact(text)
    for secret in ("abc123def456", "zz9", "tok-7a8b9c0d1e2f", "ABCDEFGHIJKLMNOPQRSTUV",
                   "me:pw", "K1", "abc9"):
        assert secret not in out
    assert "q=1" in out
    assert redact("the bearer of good news, like me") == "the bearer of good news, like me"
    assert strip_url_credentials("http://127.0.0.1:9/v1") == "http://127.0.0.1:9/v1"


def test_backend_shows_and_keys_no_url_credentials() -> None:
    from vp_bayes.llm.backends.openai import OpenAIBackend

    backend = OpenAIBackend("m", base_url=f"https://u:{USERINFO_KEY}@host/v1?token={QUERY_KEY}")
    shown = repr(backend) + repr(backend.identity())
    assert USERINFO_KEY not in shown and QUERY_KEY not in shown
    assert backend.identity()["base_url"] == "https://host/v1"
    assert redact(f"GET https://host/v1?x=1&y={QUERY_KEY}") == f"GET https://host/v1?x=1&y={MARK}"


def test_tables_from_a_cache_written_before_redaction_are_redacted(tmp_path: Path) -> None:
    from vp_bayes.llm.runner import build_requests, collect_tables

    register_secret(KEY)
    items = pd.read_csv(_items(tmp_path), dtype=str, keep_default_na=False)
    reqs = build_requests(items, identity={"backend": "openai", "base_url": None, "model": "m",
                                           "revision": None}, respondent_model="m",
                          variants=["v1"])
    with RatingCache(tmp_path / "old.sqlite") as cache:  # rows as an old version stored them
        cache.conn.execute("INSERT INTO answers (key, request, raw_text, rating, meta, "
                           "created_at) VALUES (?, '{}', ?, 5, '{}', 0)",
                           (reqs[0].key, f"like me {KEY}"))
        cache.conn.execute("INSERT INTO failures VALUES (?, '{}', ?, 1, 0)",
                           (reqs[1].key, f"HTTP 401: Bearer {KEY}"))
        cache.conn.commit()
        _, raw = collect_tables(reqs, cache)
    assert KEY not in raw.to_csv()
    assert raw["raw_text"].iloc[0] == f"like me {MARK}"


# -- the locked cache ------------------------------------------------------------------------


def _wait_for(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_second_process_on_one_cache_stops_with_one_line(tmp_path: Path) -> None:
    items = _items(tmp_path)
    out_a, out_b = tmp_path / "a" / "ratings.csv", tmp_path / "b" / "ratings.csv"
    cache = tmp_path / "shared.sqlite"
    gate = threading.Event()
    with ScriptedServer(gate=gate) as srv:
        first = _popen(_args(items, out_a, srv.base_url, "--cache", str(cache)))
        try:
            _wait_for(lambda: sum(srv.attempts.values()) >= 1)  # first holds the lock now
            second = _cli(_args(items, out_b, srv.base_url, "--cache", str(cache)))
        finally:
            gate.set()
            stdout, stderr = first.communicate(timeout=120)
        assert first.returncode == 0, stderr
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by another vp-bayes process" in lines[0]
        assert str(cache) in lines[0] and f"pid {first.pid}" in lines[0]
        assert not out_b.exists()
        assert len(srv.attempts) == 4 and set(srv.attempts.values()) == {1}  # no duplicates
    assert lock_path(cache).exists()
    with RatingCache(cache) as reopened:  # released when the first process ended
        assert len(reopened.cached_keys()) == 4


def test_second_process_can_wait_for_the_cache(tmp_path: Path) -> None:
    items = _items(tmp_path)
    out_a, out_b = tmp_path / "a" / "ratings.csv", tmp_path / "b" / "ratings.csv"
    cache = tmp_path / "shared.sqlite"
    gate = threading.Event()
    with ScriptedServer(gate=gate) as srv:
        first = _popen(_args(items, out_a, srv.base_url, "--cache", str(cache)))
        second = None
        try:
            _wait_for(lambda: sum(srv.attempts.values()) >= 1)
            second = _popen(_args(items, out_b, srv.base_url, "--cache", str(cache),
                                  "--cache-wait", "120"))
            time.sleep(3.0)  # the second one is started and waiting on the lock
            assert second.poll() is None
        finally:
            gate.set()
            first.communicate(timeout=120)
            out2, err2 = second.communicate(timeout=120) if second else ("", "")
        assert first.returncode == 0 and second.returncode == 0, err2
        assert "4 cached, 0 answered now" in out2
        assert len(srv.attempts) == 4 and set(srv.attempts.values()) == {1}
    pd.testing.assert_frame_equal(pd.read_csv(out_a), pd.read_csv(out_b))


# -- bad cache files, unwritable outputs: one line, exit 2, nothing sent ---------------------


def _truncated_cache(path: Path) -> None:
    with RatingCache(path) as cache:
        for i in range(200):
            spec = {"backend": "openai", "model": "m", "sample": 0,
                    "messages": [{"role": "user", "content": f"q{i} " + "x" * 400}]}
            cache.put(request_key(spec), spec, raw_text="like me", rating=5)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _foreign_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    con.execute("INSERT INTO users VALUES (1, 'ann')")
    con.commit()
    con.close()


BAD_CACHES = {
    "random bytes": lambda p: p.write_bytes(os.urandom(4096)),
    "text file": lambda p: p.write_text("respondent,item_id\nm,1\n"),
    "truncated cache": _truncated_cache,
    "foreign database": _foreign_db,
    "a folder": lambda p: p.mkdir(),
}


@pytest.mark.parametrize("kind", list(BAD_CACHES))
def test_bad_cache_file_one_line_exit_2(kind: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    items = _items(tmp_path)
    cache = tmp_path / "c.sqlite"
    BAD_CACHES[kind](cache)
    before = cache.read_bytes() if cache.is_file() else None
    with ScriptedServer() as srv:
        code, out, err = _main(_args(items, tmp_path / "r.csv", srv.base_url,
                                     "--cache", str(cache)), monkeypatch, capsys)
        assert srv.paths == []  # nothing was sent
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {cache}: "), err
    assert "Traceback" not in err
    if before is not None:
        assert cache.read_bytes() == before  # left unchanged
    assert not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize("which", ["out", "cache"])
def test_unwritable_path_stops_before_any_request(which: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    items = _items(tmp_path)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "r.csv" if which == "out" else tmp_path / "r.csv"
    cache = blocker / "c.sqlite" if which == "cache" else tmp_path / "c.sqlite"
    with ScriptedServer() as srv:
        code, _, err = _main(_args(items, out, srv.base_url, "--cache", str(cache)),
                             monkeypatch, capsys)
        assert srv.paths == []
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(blocker) in lines[0], err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes read-only files")
def test_read_only_cache_stops_before_any_request(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    items = _items(tmp_path)
    cache = tmp_path / "c.sqlite"
    RatingCache(cache).close()
    cache.chmod(0o444)
    with ScriptedServer() as srv:
        code, _, err = _main(_args(items, tmp_path / "r.csv", srv.base_url,
                                   "--cache", str(cache)), monkeypatch, capsys)
        assert srv.paths == []
    assert code == 2 and "not writable" in err and len(err.strip().splitlines()) == 1


# -- CSV injection in rate's tables ----------------------------------------------------------


def test_rate_tables_escape_formula_cells_and_keep_numbers(tmp_path: Path) -> None:
    items = _items(tmp_path, ids=["=2+3", "-7_1", "1001_1"],
                   responses=["[[say:=1+1 like me]]", "[[say:@SUM(A1) not like me]]",
                   "[[say:-Like me]]"])
    out = tmp_path / "out" / "ratings.csv"
    with ScriptedServer() as srv:
        run = _cli(_args(items, out, srv.base_url, "--respondent", "@evil"))
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "'=2+3" in text and "'-7_1" in text and "'@evil" in text
    for line in text.splitlines()[1:]:
        assert line[:1] not in "=+-@\t\r"
    ratings = pd.read_csv(out)
    assert pd.api.types.is_integer_dtype(ratings["rating"])
    assert pd.api.types.is_integer_dtype(ratings["sample"])
    assert sorted(ratings["rating"]) == [2, 5, 5]
    raw = pd.read_csv(out.with_name("ratings.raw.csv"))
    assert set(raw["raw_text"]) == {"'=1+1 like me", "'@SUM(A1) not like me", "'-Like me"}
    assert pd.api.types.is_float_dtype(raw["latency_s"])
    back = read_llm_ratings(out)  # the package's reader removes the escape again
    assert set(back["respondent"]) == {"@evil"}
    assert set(back["item_id"]) == {"=2+3", "-7_1", "1001_1"}
