"""Crash-safe SQLite cache of LLM answers.

One row per answer, written and committed as soon as it arrives (WAL mode), so a killed run
loses at most the requests in flight. The key is the sha256 of a canonical JSON of everything
that decides the answer (:func:`request_key`); an API key never enters it and is never stored.
Failed requests go to a separate ``failures`` table and are retried by the next run.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PROB_COLUMNS: tuple[str, ...] = ("p1", "p2", "p3", "p4", "p5", "p6")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    raw_text TEXT,
    rating INTEGER,
    p1 REAL, p2 REAL, p3 REAL, p4 REAL, p5 REAL, p6 REAL,
    p_valid REAL,
    reported_model TEXT,
    system_fingerprint TEXT,
    latency_s REAL,
    meta TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
"""

#: the fields of a request specification that decide the answer (and nothing else).
KEY_FIELDS: tuple[str, ...] = (
    "backend",
    "base_url",
    "model",
    "revision",
    "messages",
    "temperature",
    "seed",
    "max_tokens",
    "top_p",
    "logprobs",
    "sample",
)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(spec: Mapping[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of the answer-deciding fields of ``spec``.

    Only :data:`KEY_FIELDS` are used (missing ones count as ``None``), so credentials or
    other extra entries in ``spec`` can never change or enter the key.
    """
    payload = {f: spec.get(f) for f in KEY_FIELDS}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def key_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The answer-deciding part of ``spec`` (what is stored as ``request`` in the cache)."""
    return {f: spec.get(f) for f in KEY_FIELDS}


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


class RatingCache:
    """SQLite answer cache.

    Parameters
    ----------
    path
        The database file (created with its parent folder if absent).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_SCHEMA)
        self.conn.commit()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> RatingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cached_keys(self, keys: Iterable[str] | None = None) -> set[str]:
        """Keys with a stored answer (restricted to ``keys`` if given)."""
        have = {r[0] for r in self.conn.execute("SELECT key FROM answers")}
        return have if keys is None else have & set(keys)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer row as a dict, or ``None``."""
        cur = self.conn.execute("SELECT * FROM answers WHERE key = ?", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Stored answers for ``keys`` (missing keys are absent from the result)."""
        out: dict[str, dict[str, Any]] = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            cur = self.conn.execute(
                f"SELECT * FROM answers WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            names = [d[0] for d in cur.description]
            for row in cur:
                rec = dict(zip(names, row, strict=True))
                out[rec["key"]] = rec
        return out

    def put(
        self,
        key: str,
        spec: Mapping[str, Any],
        *,
        raw_text: str | None,
        rating: int | None,
        probs: list[float] | None = None,
        p_valid: float | None = None,
        reported_model: str | None = None,
        system_fingerprint: str | None = None,
        latency_s: float | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        """Store one answer and commit at once; clears a failure recorded for the key."""
        p = list(probs) if probs is not None else [None] * 6
        self.conn.execute(
            "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                canonical_json(key_spec(spec)),
                raw_text,
                rating,
                *[_num(v) for v in p],
                _num(p_valid),
                reported_model,
                system_fingerprint,
                _num(latency_s),
                canonical_json(dict(meta or {})),
                time.time(),
            ),
        )
        self.conn.execute("DELETE FROM failures WHERE key = ?", (key,))
        self.conn.commit()

    def record_failure(self, key: str, spec: Mapping[str, Any], error: str) -> None:
        """Record (or count again) a failed request; it is not an answer and is retried."""
        self.conn.execute(
            "INSERT INTO failures VALUES (?,?,?,1,?) ON CONFLICT(key) DO UPDATE SET "
            "error = excluded.error, attempts = attempts + 1, updated_at = excluded.updated_at",
            (key, canonical_json(key_spec(spec)), error, time.time()),
        )
        self.conn.commit()

    def failures(self) -> dict[str, dict[str, Any]]:
        """Recorded failures by key: ``error`` and ``attempts``."""
        cur = self.conn.execute("SELECT key, error, attempts FROM failures")
        return {k: {"error": e, "attempts": a} for k, e, a in cur}
