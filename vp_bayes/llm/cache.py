"""Crash-safe SQLite cache of LLM answers.

One row per answer, written and committed as soon as it arrives (WAL mode), so a killed run
loses at most the requests in flight. The key is the sha256 of a canonical JSON of everything
that decides the answer (:func:`request_key`); an API key never enters it and is never stored:
the base URL enters without its userinfo and credential query parameters
(:func:`~vp_bayes.llm.redact.strip_url_credentials`), and every text stored (answer, metadata,
error, request record) passes :func:`~vp_bayes.llm.redact.redact` first. Failed requests go to
a separate ``failures`` table and are retried by the next run. The ``batches`` table records the
OpenAI Batch API jobs of :mod:`vp_bayes.llm.backends.openai_batch` (input file id, batch id,
the request keys it holds, last status) as soon as each is uploaded and created, so a killed run
polls them again instead of paying twice; it is created in caches written before it existed.

One process at a time: :class:`RatingCache` holds an exclusive lock on ``<cache>.lock`` (an
advisory ``flock``, released when the process ends, even when killed) from opening to closing.
A second process on the same cache waits up to ``wait`` seconds, then stops with an
:class:`~vp_bayes.errors.InputError` (one line, exit 2) instead of sending the same requests
again. Opening checks the file before anything is sent: an SQLite file that is corrupt,
truncated or not a database, a database of another program, and a cache that cannot be written
each give one :class:`~vp_bayes.errors.InputError` naming the file; a foreign file is never
modified.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from vp_bayes.errors import InputError
from vp_bayes.llm.redact import redact, redact_value, strip_url_credentials
from vp_bayes.output import check_writable

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
    import msvcrt

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
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    input_file_id TEXT PRIMARY KEY,
    batch_id TEXT,
    base_url TEXT,
    model TEXT,
    keys TEXT NOT NULL,
    status TEXT NOT NULL,
    output_file_id TEXT,
    error_file_id TEXT,
    error TEXT,
    collected INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""
#: the columns of each table of a rating cache (``meta`` is absent from caches before 0.2,
#: ``batches`` from caches written before the batch backend; opening one adds them).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "answers": ("key", "request", "raw_text", "rating", "p1", "p2", "p3", "p4", "p5", "p6",
                "p_valid", "reported_model", "system_fingerprint", "latency_s", "meta",
                "created_at"),
    "failures": ("key", "request", "error", "attempts", "updated_at"),
    "meta": ("key", "value"),
    "batches": ("input_file_id", "batch_id", "base_url", "model", "keys", "status",
                "output_file_id", "error_file_id", "error", "collected", "created_at",
                "updated_at"),
}
FORMAT = "vp_bayes rating cache"

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

    Only :data:`KEY_FIELDS` are used (missing ones count as ``None``) and the base URL enters
    without credentials, so credentials or other extra entries in ``spec`` can never change or
    enter the key.
    """
    return hashlib.sha256(canonical_json(key_spec(spec)).encode("utf-8")).hexdigest()


def key_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The answer-deciding part of ``spec`` (what is stored as ``request`` in the cache).

    The base URL is given without userinfo and credential query parameters.
    """
    out = {f: spec.get(f) for f in KEY_FIELDS}
    if isinstance(out["base_url"], str):
        out["base_url"] = strip_url_credentials(out["base_url"])
    return out


def _request_record(spec: Mapping[str, Any]) -> str:
    return redact(canonical_json(key_spec(spec))) or ""


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def lock_path(path: str | Path) -> Path:
    """The lock file of the cache ``path``: ``<cache>.lock`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def _try_lock(handle: IO[str]) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        pid = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def acquire_lock(path: str | Path, wait: float = 0.0) -> IO[str]:
    """Take the exclusive lock of the cache ``path``; the returned handle holds it.

    Parameters
    ----------
    path
        The cache file (the lock is :func:`lock_path`).
    wait
        Seconds to wait for another process to release it (0: do not wait).

    Raises
    ------
    InputError
        If the lock file cannot be written, or another process still holds the lock after
        ``wait`` seconds.
    """
    cache = Path(path)
    lock = lock_path(cache)
    try:
        handle = lock.open("a+", encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot write the cache's lock file ({err.strerror or err})",
                         file=lock) from None
    deadline = time.monotonic() + max(0.0, wait)
    while not _try_lock(handle):
        if time.monotonic() >= deadline:
            handle.close()
            waited = f" after waiting {wait:g} s" if wait > 0 else ""
            raise InputError(
                f"the cache is in use by another vp-bayes process{_holder(lock)}{waited}; "
                "let it finish, pass --cache-wait SECONDS to wait for it, or use another --cache",
                file=cache)
        time.sleep(0.1)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
    except OSError as err:
        handle.close()
        raise InputError(f"cannot write the cache's lock file ({err.strerror or err})",
                         file=lock) from None
    return handle


def _tables(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {n: tuple(r[0] for r in conn.execute("SELECT name FROM pragma_table_info(?)", (n,)))
            for n in names}


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that is not a rating cache (before anything is written to it)."""
    problem = conn.execute("PRAGMA quick_check").fetchone()[0]
    if problem != "ok":
        raise sqlite3.DatabaseError(f"database disk image is malformed ({problem})")
    tables = _tables(conn)
    if not tables:
        return  # an empty database: a new cache
    foreign = sorted(set(tables) - set(TABLE_COLUMNS))
    wrong = sorted(n for n, cols in tables.items()
                   if n in TABLE_COLUMNS and cols != TABLE_COLUMNS[n])
    if foreign or wrong or "answers" not in tables:
        shown = ", ".join(sorted(tables))
        raise InputError(f"an SQLite database of another program (tables: {shown}), not a "
                         "vp-bayes rating cache; it was left unchanged; use another --cache",
                         file=path)
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is not None and row[0] != FORMAT:
            raise InputError(f"not a vp-bayes rating cache (format {row[0]!r}); it was left "
                             "unchanged; use another --cache", file=path)


def _sqlite_problem(err: sqlite3.Error) -> str:
    text = str(err)
    low = text.lower()
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return (f"not a readable SQLite rating cache: corrupt, truncated or another kind of file "
                f"({text}); move it away or use another --cache")
    if "readonly" in low or "read-only" in low or "unable to open" in low or "disk i/o" in low:
        return f"cannot write the cache ({text})"
    return f"cannot use the cache ({text})"


class RatingCache:
    """SQLite answer cache, locked for this process while open.

    Parameters
    ----------
    path
        The database file (created with its parent folder if absent).
    wait
        Seconds to wait when another process holds the cache (0: stop at once).

    Raises
    ------
    InputError
        If another process holds the cache, or the file is corrupt, truncated, not a database,
        a database of another program, or cannot be written (one line naming the file).
    """

    def __init__(self, path: str | Path, *, wait: float = 0.0) -> None:
        # the folder must take the lock, WAL and shared-memory files too
        self.path = check_writable(path)
        self._lock: IO[str] | None = acquire_lock(self.path, wait)
        try:
            self.conn = self._open()
        except BaseException:
            self._release()
            raise

    def _open(self) -> sqlite3.Connection:
        existed = self.path.is_file() and self.path.stat().st_size > 0
        try:
            conn = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as err:
            raise InputError(_sqlite_problem(err), file=self.path) from None
        try:
            if existed:
                _check_ours(conn, self.path)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            # a real write, so a read-only file or folder shows now, not after a paid answer
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,))
            conn.commit()
        except sqlite3.Error as err:
            conn.close()
            raise InputError(_sqlite_problem(err), file=self.path) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def close(self) -> None:
        """Close the connection and release the lock."""
        try:
            self.conn.close()
        finally:
            self._release()

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
        """Store one answer and commit at once; clears a failure recorded for the key.

        The texts are stored redacted (:func:`~vp_bayes.llm.redact.redact`).
        """
        p = list(probs) if probs is not None else [None] * 6
        row = (
            key,
            _request_record(spec),
            redact(raw_text),
            rating,
            *[_num(v) for v in p],
            _num(p_valid),
            redact(reported_model),
            redact(system_fingerprint),
            _num(latency_s),
            canonical_json(redact_value(dict(meta or {}))),
            time.time(),
        )
        with self._writing("an answer"):
            self.conn.execute(
                "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            self.conn.execute("DELETE FROM failures WHERE key = ?", (key,))
            self.conn.commit()

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A write that fails mid-run (disk full, file removed or made read-only) stops the
        run with one line; every answer committed before it stays in the cache."""
        try:
            yield
        except sqlite3.Error as err:
            try:
                self.conn.rollback()
            except sqlite3.Error:
                pass
            raise InputError(f"could not store {what} ({_sqlite_problem(err)}); the answers "
                             "stored before it are kept: free the disk or fix the file, then "
                             "rerun the same command to continue", file=self.path) from None

    def record_failure(self, key: str, spec: Mapping[str, Any], error: str) -> None:
        """Record (or count again) a failed request; it is not an answer and is retried.

        The error text is stored redacted (:func:`~vp_bayes.llm.redact.redact`).
        """
        with self._writing("a failed request"):
            self.conn.execute(
                "INSERT INTO failures VALUES (?,?,?,1,?) ON CONFLICT(key) DO UPDATE SET "
                "error = excluded.error, attempts = attempts + 1, "
                "updated_at = excluded.updated_at",
                (key, _request_record(spec), redact(error) or "", time.time()),
            )
            self.conn.commit()

    def failures(self) -> dict[str, dict[str, Any]]:
        """Recorded failures by key: ``error`` and ``attempts``."""
        cur = self.conn.execute("SELECT key, error, attempts FROM failures")
        return {k: {"error": e, "attempts": a} for k, e, a in cur}

    # -- OpenAI Batch API jobs (vp_bayes.llm.backends.openai_batch) ----------------------------

    def add_batch_file(self, input_file_id: str, keys: Iterable[str], *,
                       base_url: str | None, model: str | None) -> None:
        """Record an uploaded batch input file (before its batch is created) and commit."""
        now = time.time()
        self.conn.execute(
            "INSERT OR REPLACE INTO batches VALUES (?,NULL,?,?,?,'uploaded',NULL,NULL,NULL,0,?,?)",
            (input_file_id, strip_url_credentials(base_url), redact(model),
             json.dumps(list(keys)), now, now))
        self.conn.commit()

    def update_batch(self, input_file_id: str, **fields: Any) -> None:
        """Update a batch row's ``batch_id``, ``status``, file ids, ``error`` or ``collected``.

        Texts are stored redacted; the change is committed at once.
        """
        allowed = {"batch_id", "status", "output_file_id", "error_file_id", "error", "collected"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown batch field {sorted(unknown)[0]!r}")
        names = sorted(fields)
        values = [int(fields[n]) if n == "collected" else redact(fields[n]) for n in names]
        sets = ", ".join(f"{n} = ?" for n in names)
        self.conn.execute(f"UPDATE batches SET {sets}, updated_at = ? WHERE input_file_id = ?",
                          (*values, time.time(), input_file_id))
        self.conn.commit()

    def batches(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Recorded batch jobs, oldest first; ``keys`` parsed into a list.

        Parameters
        ----------
        open_only
            Only jobs whose results were not yet collected.
        """
        where = " WHERE collected = 0" if open_only else ""
        cur = self.conn.execute(f"SELECT * FROM batches{where} ORDER BY created_at, rowid")
        names = [d[0] for d in cur.description]
        out = []
        for row in cur:
            rec = dict(zip(names, row, strict=True))
            rec["keys"] = json.loads(rec["keys"])
            out.append(rec)
        return out
