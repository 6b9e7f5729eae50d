"""The OpenAI Batch API backend end to end against a real loopback Batch API server.

The server is ``tests/batch_server.py`` (``/v1/files``, ``/v1/batches`` and the online
``/v1/chat/completions`` of ``tests/llm_server.py``, stdlib HTTP); the client is the real
``openai`` package. The CLI runs as a subprocess where its output or a kill matters.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import openai
import pandas as pd
import pytest
from batch_server import BatchServer
from llm_server import ScriptedServer, body_key

from vp_bayes.llm.backends.openai_batch import (
    BatchError,
    OpenAIBatchBackend,
    parse_price,
    request_files,
)
from vp_bayes.llm.cache import RatingCache
from vp_bayes.llm.redact import MARK
from vp_bayes.llm.runner import build_requests, run_requests

KEY = "sk-CANARY-batch-5e6f7a8b9c-never-store-me"


def _items(responses: list[str]) -> pd.DataFrame:
    n = len(responses)
    return pd.DataFrame({"item_id": [f"{1001 + i}_1" for i in range(n)],
                         "title": [f"Title {i}" for i in range(n)],
                         "query": [f"Query number {i}" for i in range(n)],
                         "response": responses, "source": [""] * n})


def _write_items(tmp_path: Path, responses: list[str]) -> Path:
    path = tmp_path / "items.csv"
    _items(responses).to_csv(path, index=False)
    return path


def _cli(args: list[str], key: str = KEY) -> subprocess.CompletedProcess:
    env = {**os.environ, "VP_TEST_KEY": key}
    return subprocess.run([sys.executable, "-m", "vp_bayes", "rate", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def _batch_args(items: Path, out: Path, base_url: str, *extra: str) -> list[str]:
    return [str(items), "--backend", "openai-batch", "--model", "m", "--out", str(out),
            "--base-url", base_url, "--api-key-env", "VP_TEST_KEY", "--poll-interval", "0.05",
            "--retry-delay", "0.05", "--no-progress", *extra]


def _everything_written(folder: Path) -> bytes:
    blobs = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]
    for db in folder.rglob("*.sqlite"):
        con = sqlite3.connect(db)
        blobs.append("\n".join(con.iterdump()).encode())
        con.close()
    return b"\n".join(blobs)


def _run(srv: BatchServer, items: pd.DataFrame, cache_path: Path, variants: list[str],
         **kw: object) -> tuple[object, list, OpenAIBatchBackend]:
    backend = OpenAIBatchBackend("m", base_url=srv.base_url, poll_interval=0.02,
                                 base_delay=0.02, **kw)
    reqs = build_requests(items, identity=backend.identity(), respondent_model="m",
                          variants=variants)
    with RatingCache(cache_path) as cache:
        summary = run_requests(reqs, backend, cache, progress=False)
    return summary, reqs, backend


# -- the same table as the online backend ----------------------------------------------------


def test_cli_batch_gives_the_online_table(tmp_path: Path) -> None:
    responses = ["plain one", "plain two", "[[say:Not like me at all.]]", "[[garbage]]",
                 "[[refuse]]", "[[500:1]] a server error first", "[[say:Very much like me]]"]
    items = _write_items(tmp_path, responses)
    common = ["--variants", "v1,v2_reversed", "--seed", "42", "--logprobs"]
    online_out = tmp_path / "online" / "ratings.csv"
    with ScriptedServer() as online:
        first = _cli([str(items), "--backend", "openai", "--model", "m", "--out",
                      str(online_out), "--base-url", online.base_url, "--api-key-env",
                      "VP_TEST_KEY", "--max-retries", "3", "--retry-delay", "0.05",
                      "--no-progress", *common])
        online_bodies = {json.dumps(b, sort_keys=True) for b in online.bodies}
    assert first.returncode == 0, first.stderr
    batch_out = tmp_path / "batch" / "ratings.csv"
    with BatchServer(max_lines=5) as srv:
        run = _cli(_batch_args(items, batch_out, srv.base_url, "--batch-max-requests", "5",
                               "--price", "0.15,0.60", *common))
        assert run.returncode == 0, run.stderr
        assert set(srv.auth_headers) == {f"Bearer {KEY}"}
        # 14 requests in files of at most 5 lines; then one resubmission of the [[500:1]] pair
        sizes = [len(srv.input_lines(b)) for b in srv.created]
        assert sizes == [5, 5, 4, 2]
        first_round = [ln for b in srv.created[:3] for ln in srv.input_lines(b)]
        assert {ln["url"] for ln in first_round} == {"/v1/chat/completions"}
        assert len({ln["custom_id"] for ln in first_round}) == 14
        # the batch bodies are exactly the online request bodies
        assert {json.dumps(ln["body"], sort_keys=True) for ln in first_round} == online_bodies
        retried = {ln["custom_id"] for ln in srv.input_lines(srv.created[3])}
        assert all(srv.batches[b]["completion_window"] == "24h" for b in srv.created)
        # a rerun sends nothing: everything is cached, no batch is created
        n_paths = len(srv.paths)
        again = _cli(_batch_args(items, batch_out, srv.base_url, *common))
        assert len(srv.paths) == n_paths
    assert again.returncode == 0 and "14 cached, 0 answered now" in again.stdout
    online_table = pd.read_csv(online_out, dtype={"item_id": str})
    batch_table = pd.read_csv(batch_out, dtype={"item_id": str})
    pd.testing.assert_frame_equal(online_table, batch_table)
    assert len(batch_table) == 14 and batch_table[["p1", "p6"]].notna().sum().sum() > 0
    raw = pd.read_csv(batch_out.with_name("ratings.raw.csv"), dtype={"item_id": str})
    assert (raw["status"] == "ok").all()
    assert (raw["reported_model"] == "m-served").all()
    assert raw["meta"].str.contains('"batch_id":"batch_').all()
    assert set(raw.loc[raw["item_id"] == "1006_1", "request_hash"]) == retried
    # the summary: requests, tokens from usage (1 + 1 per answer here), elapsed, price
    assert "14 requests: 0 cached, 14 answered now, 0 failed" in run.stdout
    assert "4 created, 0 resumed, ended: 4 completed" in run.stdout
    assert "16 requests submitted in 4 files (1 resubmission rounds)" in run.stdout
    assert "tokens: 14 prompt + 14 completion = 28; cost $0.0000 at $0.15 / $0.6" in run.stdout
    assert "elapsed" in run.stdout


def test_the_two_backends_share_the_cache(tmp_path: Path) -> None:
    items = _items(["plain a", "plain b", "[[fail]] always 500"])
    cache = tmp_path / "c.sqlite"
    with BatchServer() as srv:
        summary, reqs, _ = _run(srv, items, cache, ["v1"], batch_retries=0)
        assert summary.done == 2 and summary.failed == 1
        from vp_bayes.llm.backends.openai import OpenAIBackend

        online = OpenAIBackend("m", base_url=srv.base_url, max_retries=0)
        assert online.identity() == OpenAIBatchBackend("m", base_url=srv.base_url).identity()
        n_before = sum(srv.attempts.values())
        with RatingCache(cache) as c:
            again = run_requests(reqs, online, c, progress=False)
        assert again.cached == 2 and again.failed == 1  # only the failed one went online
        assert sum(srv.attempts.values()) - n_before == 1


# -- kill and resume -------------------------------------------------------------------------


def _batch_rows(cache_path: Path) -> list[tuple]:
    if not cache_path.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{cache_path}?mode=ro", uri=True)
        try:
            return con.execute("SELECT batch_id, status FROM batches").fetchall()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return []


def test_killed_while_polling_resumes_the_batch(tmp_path: Path) -> None:
    items = _write_items(tmp_path, [f"response {i}" for i in range(6)])
    out = tmp_path / "ratings.csv"
    cache_path = tmp_path / "ratings.cache.sqlite"
    with BatchServer(plans=["slow:4"]) as srv:
        args = _batch_args(items, out, srv.base_url, "--variants", "v1,v3")
        proc = subprocess.Popen([sys.executable, "-m", "vp_bayes", "rate", *args],
                                env={**os.environ, "VP_TEST_KEY": KEY},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and not any(b for b, _ in _batch_rows(cache_path)):
            time.sleep(0.05)
        time.sleep(0.3)  # polling now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()
        assert len(srv.created) == 1 and len(srv.uploads) == 1
        rows = _batch_rows(cache_path)
        assert rows == [(srv.created[0], rows[0][1])] and rows[0][1] != "completed"
        assert sum(srv.answered.values()) == 0  # still in progress when killed

        done = _cli(args)
        assert done.returncode == 0, done.stderr
        assert len(srv.created) == 1 and len(srv.uploads) == 1  # nothing submitted again
        assert f"resuming batch {srv.created[0]}" in done.stderr
        assert "0 created, 1 resumed, ended: 1 completed" in done.stdout
        assert max(srv.answered.values()) == 1 and sum(srv.answered.values()) == 12
    ratings = pd.read_csv(out, dtype={"item_id": str})
    assert len(ratings) == 12 and ratings["rating"].notna().all()
    assert _batch_rows(cache_path) == [(srv.created[0], "completed")]


def test_resume_after_a_kill_between_upload_and_recording_the_batch(tmp_path: Path) -> None:
    items = _items(["one", "two", "three"])
    with BatchServer() as srv:
        backend = OpenAIBatchBackend("m", base_url=srv.base_url, poll_interval=0.02)
        reqs = build_requests(items, identity=backend.identity(), respondent_model="m",
                              variants=["v1"])
        client = openai.OpenAI(base_url=srv.base_url, api_key="x")
        content = b"".join(backend._line(r) for r in reqs)
        # case 1: uploaded, batch never created; case 2: created but its id never recorded
        for case, cache_path in ((1, tmp_path / "a.sqlite"), (2, tmp_path / "b.sqlite")):
            fid = client.files.create(file=("x.jsonl", content), purpose="batch").id
            if case == 2:
                client.batches.create(input_file_id=fid, endpoint="/v1/chat/completions",
                                      completion_window="24h")
            with RatingCache(cache_path) as cache:
                cache.add_batch_file(fid, [r.key for r in reqs], base_url=backend.base_url,
                                     model="m")
            n_created, n_uploads = len(srv.created), len(srv.uploads)
            with RatingCache(cache_path) as cache:
                summary = run_requests(reqs, backend, cache, progress=False)
                rows = cache.batches()
            assert summary.done == 3
            assert len(srv.uploads) == n_uploads  # the uploaded file was used, not re-sent
            assert len(srv.created) == n_created + (1 if case == 1 else 0)
            assert [r["batch_id"] for r in rows] == [srv.created[-1]]
            assert backend.stats.resumed == 1
        client.close()


def test_killed_while_storing_the_results_resumes_without_a_new_batch(tmp_path: Path) -> None:
    items = _items([f"plain {i}" for i in range(4)])
    cache_path = tmp_path / "c.sqlite"
    with BatchServer() as srv:
        summary, reqs, _ = _run(srv, items, cache_path, ["v1", "v3"])
        assert summary.done == 8 and len(srv.created) == 1
        # as if killed after storing 3 of 8 answers: the batch not yet marked collected
        with RatingCache(cache_path) as cache:
            kept = {r.key for r in reqs[:3]}
            cache.conn.execute(f"DELETE FROM answers WHERE key NOT IN "
                               f"({','.join('?' * len(kept))})", sorted(kept))
            cache.conn.commit()
            cache.update_batch(cache.batches()[0]["input_file_id"], collected=False)
        summary, _, backend = _run(srv, items, cache_path, ["v1", "v3"])
        assert summary.cached == 3 and summary.done == 5 and summary.failed == 0
        assert len(srv.created) == 1 and len(srv.uploads) == 1  # the finished batch, read again
        assert backend.stats.resumed == 1 and backend.stats.created == 0
        assert sum(srv.answered.values()) == 8


def test_a_lost_create_reply_does_not_create_a_second_batch(tmp_path: Path) -> None:
    items = _items(["a", "b"])
    with BatchServer(lose_creates=1) as srv:
        summary, _, backend = _run(srv, items, tmp_path / "c.sqlite", ["v1"])
        assert summary.done == 2
        assert len(srv.created) == 1  # found by listing the batches, not created again
        assert any(p.startswith("/v1/batches?") for p in srv.paths)
        with RatingCache(tmp_path / "c.sqlite") as cache:
            assert [r["batch_id"] for r in cache.batches()] == srv.created


# -- partial failures ------------------------------------------------------------------------


def test_expired_failed_and_cancelled_batches_resubmit_only_the_missing(tmp_path: Path) -> None:
    items = _items([f"plain {i}" for i in range(6)])
    with BatchServer(plans=["failed", "expired", "cancelled"]) as srv:
        summary, reqs, backend = _run(srv, items, tmp_path / "c.sqlite", ["v1"],
                                      batch_retries=3)
        assert summary.done == 6 and summary.failed == 0
        sizes = [len(srv.input_lines(b)) for b in srv.created]
        assert sizes == [6, 6, 3, 1]  # failed: all again; expired: half; cancelled: half
        assert [srv.batches[b]["status"] for b in srv.created] == [
            "failed", "expired", "cancelled", "completed"]
        # nothing answered twice, and each resubmission held only unanswered requests
        assert set(srv.answered.values()) == {1}
        for earlier, later in zip(srv.created[1:], srv.created[2:], strict=False):
            answered_before = {ln["custom_id"] for ln in srv.input_lines(earlier)} - \
                {ln["custom_id"] for ln in srv.input_lines(later)}
            assert answered_before.isdisjoint(ln["custom_id"] for ln in srv.input_lines(later))
        with RatingCache(tmp_path / "c.sqlite") as cache:
            rows = cache.batches()
            assert [(r["status"], r["collected"]) for r in rows] == [
                ("failed", 1), ("expired", 1), ("cancelled", 1), ("completed", 1)]
            assert "model_not_found" in rows[0]["error"]
            assert len(cache.cached_keys()) == 6
    assert backend.stats.statuses == {"failed": 1, "expired": 1, "cancelled": 1, "completed": 1}


def test_a_batch_cancelled_by_someone_else_is_collected_and_the_rest_resubmitted(
        tmp_path: Path) -> None:
    import threading

    items = _items([f"plain {i}" for i in range(4)])
    result: dict[str, object] = {}
    with BatchServer(plans=["slow:30"]) as srv:
        def work() -> None:
            result["summary"], _, _ = _run(srv, items, tmp_path / "c.sqlite", ["v1"])

        worker = threading.Thread(target=work)
        worker.start()
        deadline = time.time() + 60
        while not srv.created and time.time() < deadline:
            time.sleep(0.02)
        with openai.OpenAI(base_url=srv.base_url, api_key="x") as client:  # e.g. the dashboard
            assert client.batches.cancel(srv.created[0]).status == "cancelling"
        worker.join(60)
        assert not worker.is_alive()
        assert result["summary"].done == 4
        assert [srv.batches[b]["status"] for b in srv.created] == ["cancelled", "completed"]
        assert [len(srv.input_lines(b)) for b in srv.created] == [4, 2]
        assert set(srv.answered.values()) == {1} and len(srv.answered) == 4


def test_per_request_errors_retried_up_to_the_limit_then_failed(tmp_path: Path) -> None:
    items = _items(["plain", "[[500:2]] twice", "[[fail]] always", "[[400]] bad"])
    cache_path = tmp_path / "c.sqlite"
    with BatchServer() as srv:
        summary, reqs, _ = _run(srv, items, cache_path, ["v1"], batch_retries=2)
        assert summary.done == 2 and summary.failed == 2
        # the 400 is not resubmitted (as online, a 4xx fails at once); 500s are
        assert [len(srv.input_lines(b)) for b in srv.created] == [4, 2, 2]
        assert "HTTP 500: always failing" in summary.failures[reqs[2].key]
        assert "HTTP 400: bad request" in summary.failures[reqs[3].key]
        keys = [body_key("m", r.messages) for r in reqs]
        assert [srv.attempts[k] for k in keys] == [1, 3, 3, 1]
        with RatingCache(cache_path) as cache:
            assert set(cache.failures()) == {reqs[2].key, reqs[3].key}
        # the next run retries the failed ones only, and a limit of 0 means one submission
        summary, _, _ = _run(srv, items, cache_path, ["v1"], batch_retries=0)
        assert summary.cached == 2 and summary.failed == 2
        assert len(srv.input_lines(srv.created[-1])) == 2 and len(srv.created) == 4
        assert [srv.attempts[k] for k in keys] == [1, 3, 4, 2]


def test_failed_batches_beyond_the_limit_are_failures_and_the_next_run_finishes(
        tmp_path: Path) -> None:
    items = _items(["a", "b"])
    cache_path = tmp_path / "c.sqlite"
    with BatchServer(plans=["failed", "failed"]) as srv:
        summary, reqs, _ = _run(srv, items, cache_path, ["v1"], batch_retries=1)
        assert summary.failed == 2 and len(srv.created) == 2
        assert all("batch failed: model_not_found" in m for m in summary.failures.values())
        summary, _, _ = _run(srv, items, cache_path, ["v1"], batch_retries=1)
        assert summary.done == 2 and len(srv.created) == 3


def test_polling_backs_off_while_nothing_changes(tmp_path: Path) -> None:
    items = _items(["a"])
    with BatchServer(plans=["slow:1.5"]) as srv:
        _run(srv, items, tmp_path / "c.sqlite", ["v1"])  # poll interval 0.02 s
        polls = [p for p in srv.paths if p.startswith("/v1/batches/batch_")]
    # without backoff about 75 polls; growing by half up to 10x: about 12
    assert 4 <= len(polls) <= 20


# -- secrets and bad inputs ------------------------------------------------------------------


def test_a_server_echoing_the_key_leaves_it_nowhere(tmp_path: Path) -> None:
    items = _write_items(tmp_path, ["[[say:Like me.]] one", "[[say:Like me.]] two",
                                    "[[fail]] always"])
    out = tmp_path / "out" / "ratings.csv"
    with BatchServer(echo_key=True, plans=["failed", "expired"]) as srv:
        run = _cli(_batch_args(items, out, srv.base_url, "--variants", "v1,v3"))
        assert set(srv.auth_headers) == {f"Bearer {KEY}"}  # the key did reach the server
    assert run.returncode == 1, run.stderr
    assert "2 requests failed" in run.stderr and MARK in run.stderr
    assert "model_not_found" in run.stderr  # the failed batch's echo was shown, redacted
    written = _everything_written(out.parent)
    for secret in (KEY, KEY[:16], KEY[-16:]):
        assert secret.encode() not in written
        assert secret not in run.stdout and secret not in run.stderr
    raw = pd.read_csv(out.with_name("ratings.raw.csv"))
    ok = raw[raw["status"] == "ok"]
    assert len(ok) == 4 and (ok["reported_model"] == MARK).all()
    assert ok["raw_text"].str.contains(MARK, regex=False).all()
    assert (pd.read_csv(out)["rating"] == 5).all()  # "like me", parsed before redaction
    con = sqlite3.connect(out.with_name("ratings.cache.sqlite"))
    errors = [r[0] for r in con.execute("SELECT error FROM batches WHERE error IS NOT NULL")]
    con.close()
    assert errors and all(MARK in e for e in errors)


def test_a_refused_upload_is_one_line_exit_2_without_the_key(tmp_path: Path) -> None:
    items = _write_items(tmp_path, ["plain"])
    out = tmp_path / "out" / "ratings.csv"
    with BatchServer(reject=401) as srv:
        run = _cli(_batch_args(items, out, srv.base_url))
        assert srv.paths == ["/v1/files"]  # a 401 is not retried
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: OpenAI Batch API: uploading"), lines
    assert "HTTP 401" in lines[0] and MARK in lines[0] and "Traceback" not in run.stderr
    assert KEY not in run.stdout + run.stderr
    assert KEY.encode() not in _everything_written(out.parent)


def test_a_server_that_keeps_failing_stops_the_run_with_one_line(tmp_path: Path) -> None:
    items = _write_items(tmp_path, ["plain"])
    with BatchServer(reject=503) as srv:
        run = _cli(_batch_args(items, tmp_path / "r.csv", srv.base_url, "--max-retries", "2"))
        assert srv.paths == ["/v1/files"] * 3
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "failed after 3 attempts" in lines[0], lines


@pytest.mark.parametrize(("extra", "message"), [
    (["--price", "cheap"], "--price"),
    (["--price", "-1"], "--price"),
    (["--price", "1,2,3"], "--price"),
    (["--poll-interval", "0"], "--poll-interval"),
    (["--batch-max-requests", "50001"], "--batch-max-requests"),
    (["--batch-retries", "-1"], "--batch-retries"),
])
def test_bad_batch_options_one_line_exit_2_nothing_sent(
        extra: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from vp_bayes.cli import main

    items = _write_items(tmp_path, ["plain"])
    with BatchServer() as srv:
        monkeypatch.setattr(sys, "argv", ["vp-bayes", "rate", *_batch_args(
            items, tmp_path / "r.csv", srv.base_url, *extra)])
        with pytest.raises(SystemExit) as exc:
            main()
        assert srv.paths == []
    err = capsys.readouterr().err
    assert exc.value.code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "r.cache.sqlite").exists()


# -- units -----------------------------------------------------------------------------------


def test_request_files_split_by_count_and_bytes() -> None:
    lines = [(f"k{i}", b"x" * 9 + b"\n") for i in range(7)]  # 10 bytes each
    by_count = list(request_files(lines, max_requests=3, max_bytes=10_000))
    assert [k for k, _ in by_count] == [["k0", "k1", "k2"], ["k3", "k4", "k5"], ["k6"]]
    by_bytes = list(request_files(lines, max_requests=100, max_bytes=25))
    assert [len(k) for k, _ in by_bytes] == [2, 2, 2, 1]
    assert all(len(c) <= 25 for _, c in by_bytes)
    assert b"".join(c for _, c in by_bytes) == b"".join(line for _, line in lines)
    with pytest.raises(BatchError, match="more than a batch file may hold"):
        list(request_files([("k", b"x" * 30)], max_bytes=25))


def test_parse_price() -> None:
    assert parse_price(None) is None
    assert parse_price("0.5") == (0.5, 0.5)
    assert parse_price("0.075, 0.3") == (0.075, 0.3)
    for bad in ("", "x", "1,2,3", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="price per 1M tokens"):
            parse_price(bad)


def test_a_cache_from_before_the_batches_table_is_read_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)  # the schema as written before the batch backend
    con.executescript("""
        CREATE TABLE answers (key TEXT PRIMARY KEY, request TEXT NOT NULL, raw_text TEXT,
            rating INTEGER, p1 REAL, p2 REAL, p3 REAL, p4 REAL, p5 REAL, p6 REAL,
            p_valid REAL, reported_model TEXT, system_fingerprint TEXT, latency_s REAL,
            meta TEXT, created_at REAL NOT NULL);
        CREATE TABLE failures (key TEXT PRIMARY KEY, request TEXT NOT NULL, error TEXT NOT NULL,
            attempts INTEGER NOT NULL, updated_at REAL NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('format', 'vp_bayes rating cache');
        INSERT INTO answers (key, request, raw_text, rating, meta, created_at)
            VALUES ('k1', '{}', 'like me', 5, '{}', 0);
    """)
    con.close()
    with RatingCache(path) as cache:
        assert cache.cached_keys() == {"k1"} and cache.batches() == []
        cache.add_batch_file("file-1", ["k2"], base_url="http://u:SECRET-PASS-9@h/v1",
                             model="m")
        cache.update_batch("file-1", batch_id="batch_1", status="in_progress")
        rows = cache.batches(open_only=True)
    assert [(r["batch_id"], r["keys"], r["base_url"]) for r in rows] == [
        ("batch_1", ["k2"], "http://h/v1")]
    with RatingCache(path) as cache:  # reopened: the new table is ours, not foreign
        cache.update_batch("file-1", collected=True)
        assert cache.batches(open_only=True) == [] and len(cache.batches()) == 1
