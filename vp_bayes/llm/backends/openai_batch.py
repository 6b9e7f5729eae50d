"""OpenAI Batch API backend: the same chat completions, as 24-hour batch jobs at a lower price.

The uncached requests are written as JSONL request files (``custom_id`` = the request's cache
key, ``url`` = ``/v1/chat/completions``, ``body`` = exactly what the online backend sends; at
most :data:`MAX_FILE_REQUESTS` lines and :data:`MAX_FILE_BYTES` bytes per file, split when
more), uploaded through the ``openai`` client (``files.create(purpose="batch")``) and submitted
as batches (``batches.create``, 24-hour window). The process then polls every batch
(``--poll-interval`` seconds, growing by half while nothing changes up to ten times that),
downloads the output and error files of each finished batch, and parses every answer into the
:class:`~vp_bayes.llm.backends.base.Answer` the online backend makes (the same
:meth:`~vp_bayes.llm.backends.openai.OpenAIBackend._to_answer`, logprob ratings included),
committed to the SQLite cache one by one.

Resume: each input file id is written to the cache's ``batches`` table as soon as it is
uploaded, and its batch id as soon as the batch is created. A run that finds open batches
holding some of its requests polls them instead of submitting those requests again (a file
uploaded whose batch was never recorded is looked up among the server's batches, else submitted
without a new upload). Only a process killed between the server creating a batch and the reply
arriving can cause a second one (a creation that timed out or got a 5xx is looked up the same
way before it is retried). An open batch is resumed by any run that needs one of its
requests; answers in it to requests that run does not ask for are not stored.

Partial failures: requests answered with an error (error file; except a 4xx other than 408,
409 and 429, which fails at once as it does online), or left unanswered by an expired, failed or
cancelled batch, are resubmitted in a new batch holding only them, at most ``batch_retries``
times per run; what is still missing then is recorded as failed (retried by
the next run). Transient HTTP errors of the file and batch calls (429, 5xx, timeouts,
connection errors) are retried with the online backend's backoff; anything else, or running out
of retries, stops the run with :class:`BatchError` (one line, exit 2; the batches already
created stay recorded and the next run resumes them).

The cache key is the online backend's (``backend = "openai"``): a batch answer is the same
model's answer to the same request, so either backend can finish what the other started. Every
text shown or stored passes :func:`~vp_bayes.llm.redact.redact`, including what the server
echoes in batch errors, error files and answers.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai
from openai.types.chat import ChatCompletion

from vp_bayes.errors import InputError
from vp_bayes.llm.backends.base import Answer, Request, RequestFailed
from vp_bayes.llm.backends.openai import DUMMY_KEY, OpenAIBackend
from vp_bayes.llm.redact import api_key_from_env, redact

if TYPE_CHECKING:
    from vp_bayes.llm.cache import RatingCache

#: the Batch API's limits per input file.
MAX_FILE_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024
ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
#: batch statuses after which nothing changes.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: seconds allowed for uploading a request file or downloading a result file (at least).
TRANSFER_TIMEOUT = 600.0
#: at most this many pages of ``batches.list`` are searched for a batch of an uploaded file.
LIST_PAGES = 10


class BatchError(InputError):
    """A batch call that failed for good (one line; the CLI exits 2).

    ``status`` is the HTTP status of the server's refusal, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class BatchStats:
    """What one run of the batch backend did (for :meth:`OpenAIBatchBackend.report_lines`)."""

    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    submitted: int = 0
    files: int = 0
    created: int = 0
    resumed: int = 0
    rounds: int = 0
    answered: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started


def parse_price(text: str | None) -> tuple[float, float] | None:
    """``"IN"`` or ``"IN,OUT"`` (US dollars per 1M prompt, completion tokens) -> (in, out).

    Raises
    ------
    InputError
        When it is not one or two non-negative numbers.
    """
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(not v >= 0 or v == float("inf") for v in values):
        raise InputError(f"expected a price per 1M tokens, PRICE or INPUT,OUTPUT (e.g. 0.075 or "
                         f"0.075,0.30), got {text!r}", field="--price")
    return values[0], values[-1]


def request_files(lines: Iterable[tuple[str, bytes]], *, max_requests: int = MAX_FILE_REQUESTS,
                  max_bytes: int = MAX_FILE_BYTES) -> Iterator[tuple[list[str], bytes]]:
    """Split ``(key, jsonl_line)`` pairs into files of at most ``max_requests`` lines and
    ``max_bytes`` bytes; yields ``(keys, content)`` per file.

    Raises
    ------
    BatchError
        When one line alone is larger than ``max_bytes``.
    """
    keys: list[str] = []
    chunks: list[bytes] = []
    size = 0
    for key, line in lines:
        if len(line) > max_bytes:
            raise BatchError(f"one request is {len(line)} bytes, more than a batch file may hold "
                             f"({max_bytes} bytes)")
        if keys and (len(keys) >= max_requests or size + len(line) > max_bytes):
            yield keys, b"".join(chunks)
            keys, chunks, size = [], [], 0
        keys.append(key)
        chunks.append(line)
        size += len(line)
    if keys:
        yield keys, b"".join(chunks)


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {sec:02d}s" if hours else f"{minutes}m {sec:02d}s"


def _one_line(text: str | None, limit: int = 300) -> str:
    """Redacted, on one line, cut to ``limit`` characters (redacted before cutting)."""
    return " ".join((redact(text) or "").split())[:limit]


class OpenAIBatchBackend(OpenAIBackend):
    """Chat completions through the OpenAI Batch API (``openai.OpenAI`` files and batches).

    Parameters
    ----------
    model, base_url, api_key_env, timeout, max_retries, base_delay, max_delay
        As :class:`~vp_bayes.llm.backends.openai.OpenAIBackend`; the retries apply to each file
        and batch call.
    temperature, max_tokens, top_p, logprobs
        Sent in every request body, as the online backend sends them.
    poll_interval
        Seconds between polls at first; while no batch changes, the wait grows by half up to
        ``10 * poll_interval``.
    batch_retries
        How many times per run the requests still missing after their batch ended (error
        lines, expired, failed or cancelled batches) are resubmitted.
    max_file_requests, max_file_bytes
        Limits of one input file (the API's: 50,000 requests, 200 MB).
    price
        US dollars per 1M tokens as ``(prompt, completion)``, for the cost line (``None``: no
        cost shown).
    log
        Called with one redacted line per batch event (upload, status change, resubmission).
    """

    name = "openai-batch"
    remote = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        temperature: float | None = 0.0,
        max_tokens: int | None = 64,
        top_p: float | None = None,
        logprobs: bool = False,
        poll_interval: float = 30.0,
        batch_retries: int = 2,
        max_file_requests: int = MAX_FILE_REQUESTS,
        max_file_bytes: int = MAX_FILE_BYTES,
        price: tuple[float, float] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(model, base_url=base_url, api_key_env=api_key_env, concurrency=1,
                         timeout=timeout, max_retries=max_retries, base_delay=base_delay,
                         max_delay=max_delay, temperature=temperature, max_tokens=max_tokens,
                         top_p=top_p, logprobs=logprobs)
        if not poll_interval > 0:
            raise InputError("the poll interval must be positive", field="poll_interval")
        if batch_retries < 0:
            raise InputError("batch retries must be at least 0", field="batch_retries")
        if not 1 <= max_file_requests <= MAX_FILE_REQUESTS:
            raise InputError(f"requests per batch file must be 1 to {MAX_FILE_REQUESTS}",
                             field="max_file_requests")
        self.poll_interval = float(poll_interval)
        self.batch_retries = batch_retries
        self.max_file_requests = max_file_requests
        self.max_file_bytes = max_file_bytes
        self.price = price
        self._log = log
        self._sync: openai.OpenAI | None = None
        self.stats = BatchStats()

    def __repr__(self) -> str:  # never show the client (and its key)
        return f"OpenAIBatchBackend(model={self.model!r}, base_url={self.base_url!r})"

    def identity(self) -> dict[str, Any]:
        """The online backend's identity: a batch answer shares its cache key."""
        return {"backend": OpenAIBackend.name, "base_url": self.base_url, "model": self.model,
                "revision": None}

    # -- the client and its calls ----------------------------------------------------------
    def _client_sync(self) -> openai.OpenAI:
        if self._sync is None:
            self._sync = openai.OpenAI(base_url=self._url,
                                       api_key=api_key_from_env(self._api_key_env) or DUMMY_KEY,
                                       max_retries=0, timeout=self.timeout)
        return self._sync

    def _say(self, text: str) -> None:
        if self._log is not None:
            self._log(_one_line(text, 500))

    def _call(self, what: str, fn: Callable[..., Any], *args: Any,
              recover: Callable[[], Any] | None = None, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` with retries of transient errors; :class:`BatchError` else.

        ``recover``, if given, runs before each retry; a result other than ``None`` is returned
        instead of retrying (a batch the server created although its reply was lost).
        """
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                return fn(*args, **kwargs)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                last = err
            except openai.APIStatusError as err:
                last = err
                if not (err.status_code == 429 or err.status_code >= 500):
                    raise BatchError(f"OpenAI Batch API: {what} failed: HTTP "
                                     f"{err.status_code}: {_one_line(_message(err), 200)}",
                                     status=err.status_code) from None
            except openai.OpenAIError as err:  # e.g. a reply that is not what the API sends
                raise BatchError(f"OpenAI Batch API: {what} failed: "
                                 f"{_one_line(str(err), 200)}") from None
            if attempt < self.max_retries:
                time.sleep(self._delay(attempt, last))
                found = recover() if recover is not None else None
                if found is not None:
                    return found
        raise BatchError(f"OpenAI Batch API: {what} failed after {self.max_retries + 1} "
                         f"attempts: {type(last).__name__}: {_one_line(_message(last), 200)}")

    # -- the run ---------------------------------------------------------------------------
    def run_remote(self, requests: Sequence[Request], cache: RatingCache,
                   finished: Callable[[Request, Answer | Exception], None]) -> None:
        """Submit (or resume), poll and collect batches until every request is done."""
        self.stats = stats = BatchStats(requests=len(requests))
        run = _Run(requests, finished)
        jobs: list[dict[str, Any]] = []
        for row in cache.batches(open_only=True):
            if any(k in run.pending for k in row["keys"]):
                jobs.append(row)
                stats.resumed += 1
                run.count_try(row["keys"])
                self._say(f"resuming batch {row['batch_id'] or '(not created yet)'} "
                          f"({row['status']}, {len(row['keys'])} requests)")
        covered = {k for row in jobs for k in row["keys"]}
        new = [r for r in requests if r.key not in covered]
        try:
            if new:
                jobs += self._submit(new, cache, run)
            while jobs:
                self._wait(jobs, cache, run)
                missing = [r for r in requests if r.key in run.pending]
                if not missing or stats.rounds >= self.batch_retries:
                    break
                stats.rounds += 1
                self._say(f"resubmitting {len(missing)} missing requests "
                          f"(retry {stats.rounds} of {self.batch_retries})")
                jobs = self._submit(missing, cache, run)
            for req in requests:
                if req.key in run.pending:
                    stats.failed += 1
                    run.done(req.key, RequestFailed(run.errors.get(req.key, "no answer")))
        finally:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    def _line(self, request: Request) -> bytes:
        record = {"custom_id": request.key, "method": "POST", "url": ENDPOINT,
                  "body": self._params(request)}
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    def _submit(self, requests: Sequence[Request], cache: RatingCache,
                run: _Run) -> list[dict[str, Any]]:
        rows = []
        lines = ((r.key, self._line(r)) for r in requests)
        client = self._client_sync()
        for keys, content in request_files(lines, max_requests=self.max_file_requests,
                                           max_bytes=self.max_file_bytes):
            self.stats.files += 1
            name = f"vp_bayes_batch_{int(time.time())}_{self.stats.files}.jsonl"
            fobj = self._call("uploading the request file", client.files.create,
                              file=(name, content, "application/jsonl"), purpose="batch",
                              timeout=max(self.timeout, TRANSFER_TIMEOUT))
            cache.add_batch_file(fobj.id, keys, base_url=self.base_url, model=self.model)
            row = {"input_file_id": fobj.id, "batch_id": None, "keys": keys,
                   "status": "uploaded"}
            self.stats.submitted += len(keys)
            run.count_try(keys)
            self._create(row, cache)
            rows.append(row)
        return rows

    def _create(self, row: dict[str, Any], cache: RatingCache) -> None:
        batch = self._call("creating the batch", self._client_sync().batches.create,
                           input_file_id=row["input_file_id"], endpoint=ENDPOINT,
                           completion_window=COMPLETION_WINDOW, metadata={"client": "vp_bayes"},
                           recover=lambda: self._find_batch(row["input_file_id"]))
        cache.update_batch(row["input_file_id"], batch_id=batch.id, status=batch.status)
        row.update(batch_id=batch.id, status=batch.status)
        self.stats.created += 1
        self._say(f"batch {batch.id} created: {len(row['keys'])} requests ({batch.status})")

    def _find_batch(self, input_file_id: str) -> Any | None:
        """The server's batch of an uploaded file whose batch id was never recorded."""
        page = self._call("listing batches", self._client_sync().batches.list, limit=100)
        for _ in range(LIST_PAGES):
            for batch in page.data:
                if batch.input_file_id == input_file_id:
                    return batch
            if not page.has_next_page():
                break
            page = self._call("listing batches", page.get_next_page)
        return None

    def _wait(self, jobs: list[dict[str, Any]], cache: RatingCache, run: _Run) -> None:
        """Poll until every job ended; collect each as it ends."""
        client = self._client_sync()
        for row in jobs:
            if row["batch_id"] is None:  # killed between upload and recording the batch
                found = self._find_batch(row["input_file_id"])
                if found is None:
                    self._create(row, cache)
                else:
                    cache.update_batch(row["input_file_id"], batch_id=found.id,
                                       status=found.status)
                    row.update(batch_id=found.id, status=found.status)
        open_jobs = list(jobs)
        seen: dict[str, tuple[Any, ...]] = {}
        interval = self.poll_interval
        while open_jobs:
            changed = False
            for row in list(open_jobs):
                try:
                    batch = self._call("polling the batch", client.batches.retrieve,
                                       row["batch_id"])
                except BatchError as err:
                    if err.status != 404:
                        raise
                    self._say(f"batch {row['batch_id']} is unknown to the server; its "
                              "requests count as missing")
                    run.fail_all(row["keys"], f"batch {row['batch_id']} not found")
                    cache.update_batch(row["input_file_id"], status="lost", collected=1)
                    open_jobs.remove(row)
                    changed = True
                    continue
                counts = batch.request_counts
                state = (batch.status, *((counts.completed, counts.failed) if counts else ()))
                if seen.get(row["batch_id"]) != state:
                    seen[row["batch_id"]] = state
                    changed = True
                    done = f", {counts.completed + counts.failed}/{counts.total} done" \
                        if counts else ""
                    self._say(f"batch {batch.id}: {batch.status}{done}")
                    if batch.status != row["status"]:
                        cache.update_batch(row["input_file_id"], status=batch.status)
                        row["status"] = batch.status
                if batch.status in TERMINAL:
                    self._collect(row, batch, cache, run)
                    open_jobs.remove(row)
            if open_jobs:
                interval = self.poll_interval if changed else min(interval * 1.5,
                                                                  10 * self.poll_interval)
                time.sleep(interval)

    def _collect(self, row: dict[str, Any], batch: Any, cache: RatingCache, run: _Run) -> None:
        """Store the answers of an ended batch; note why each missing request is missing."""
        self.stats.statuses[batch.status] += 1
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = self._call("downloading the results", self._client_sync().files.content,
                                 file_id, timeout=max(self.timeout, TRANSFER_TIMEOUT))
            for line in content.text.splitlines():
                if line.strip():
                    self._take(line, batch.id, run)
        why = _batch_errors(batch)
        reason = f"batch {batch.status}" + (f": {why}" if why else "")
        run.fail_all(row["keys"], reason, keep=True)
        if why:
            self._say(f"batch {batch.id} {batch.status}: {why}")
        cache.update_batch(row["input_file_id"], status=batch.status,
                           output_file_id=batch.output_file_id,
                           error_file_id=batch.error_file_id, error=why or None, collected=1)

    def _take(self, line: str, batch_id: str, run: _Run) -> None:
        """One line of an output or error file: an answer, or the reason of a failure."""
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        key = record.get("custom_id")
        if not isinstance(key, str) or key not in run.pending:
            return  # another run's request, or answered already
        response = record.get("response") if isinstance(record.get("response"), dict) else {}
        body = response.get("body")
        status = response.get("status_code")
        if status == 200 and isinstance(body, dict):
            try:
                completion = ChatCompletion.model_validate(body)
                answer = self._to_answer(completion, None, run.tries[key] - 1)
            except (ValueError, TypeError, AttributeError, IndexError) as err:
                run.errors[key] = _one_line(f"unreadable answer: {type(err).__name__}")
                return
            answer.latency_s = None
            answer.meta["batch_id"] = batch_id
            usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
            self.stats.prompt_tokens += _int(usage.get("prompt_tokens"))
            self.stats.completion_tokens += _int(usage.get("completion_tokens"))
            self.stats.answered += 1
            run.done(key, answer)
            return
        error = record.get("error") if isinstance(record.get("error"), dict) else None
        if error is None and isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
        message = (error or {}).get("message") or (error or {}).get("code") or "no answer"
        prefix = f"HTTP {status}: " if isinstance(status, int) else ""
        run.errors[key] = _one_line(f"{prefix}{message}")
        if isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429):
            # refused for good, as the online backend treats it: not resubmitted
            self.stats.failed += 1
            run.done(key, RequestFailed(run.errors[key]))

    def report_lines(self) -> list[str]:
        """The run's cost and time summary (price only when one was given)."""
        s = self.stats
        ended = ", ".join(f"{n} {k}" for k, n in sorted(s.statuses.items())) or "none"
        lines = [f"batch: {s.created} created, {s.resumed} resumed, ended: {ended}; "
                 f"{s.submitted} requests submitted in {s.files} files ({s.rounds} "
                 f"resubmission rounds); {s.answered} answered, {s.failed} failed; elapsed "
                 f"{_duration(s.elapsed)}"]
        total = s.prompt_tokens + s.completion_tokens
        tokens = (f"tokens: {s.prompt_tokens} prompt + {s.completion_tokens} completion = "
                  f"{total}")
        if self.price is not None:
            p_in, p_out = self.price
            cost = (s.prompt_tokens * p_in + s.completion_tokens * p_out) / 1e6
            tokens += f"; cost ${cost:.4f} at ${p_in:g} / ${p_out:g} per 1M prompt / " \
                      "completion tokens"
        lines.append(tokens)
        return lines


class _Run:
    """The requests of one run: which are still pending, tries and last error per request."""

    def __init__(self, requests: Sequence[Request],
                 finished: Callable[[Request, Answer | Exception], None]) -> None:
        self.by_key = {r.key: r for r in requests}
        self.pending = set(self.by_key)
        self.tries: Counter[str] = Counter()
        self.errors: dict[str, str] = {}
        self._finished = finished

    def count_try(self, keys: Sequence[str]) -> None:
        """The ``keys`` go out (again): count the try, forget the last try's error."""
        for k in keys:
            if k in self.pending:
                self.tries[k] += 1
                self.errors.pop(k, None)

    def done(self, key: str, result: Answer | Exception) -> None:
        if key in self.pending:
            self.pending.discard(key)
            self._finished(self.by_key[key], result)

    def fail_all(self, keys: Sequence[str], reason: str, keep: bool = False) -> None:
        """Note ``reason`` for the pending ``keys`` (``keep``: not over a line's own error)."""
        for k in keys:
            if k in self.pending and not (keep and k in self.errors):
                self.errors[k] = _one_line(reason)


def _batch_errors(batch: Any) -> str:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    parts = [" ".join(x for x in (getattr(e, "code", None), getattr(e, "message", None)) if x)
             for e in data[:3]]
    return _one_line("; ".join(p for p in parts if p), 300)


def _message(err: Exception | None) -> str:
    if err is None:
        return "unknown error"
    return str(err)


def _int(x: Any) -> int:
    return int(x) if isinstance(x, int | float) and x == x else 0


__all__ = ["OpenAIBatchBackend", "BatchError", "BatchStats", "parse_price", "request_files",
           "MAX_FILE_REQUESTS", "MAX_FILE_BYTES"]
