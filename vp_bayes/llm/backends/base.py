"""What every backend shares: the request, the answer and the backend interface.

A backend is either *async* (``async answer(request) -> Answer``; the runner runs many at once
under a semaphore), *batched* (``answer_batch(requests) -> list[Answer | Exception]``; the
runner feeds it ``batch_size`` requests at a time) or *remote* (``run_remote(requests, cache,
finished)``: the backend gets every uncached request at once and the open cache, for jobs that
outlive the process such as the OpenAI Batch API, and calls ``finished`` per request).
Settings that decide an answer are listed by :meth:`Backend.identity` and enter the cache key;
credentials never do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from vp_bayes.dims import RATING_LABELS

if TYPE_CHECKING:
    from vp_bayes.llm.cache import RatingCache

#: the six answer phrases ordered by rating 1..6.
OPTION_PHRASES: tuple[str, ...] = tuple(RATING_LABELS[r] for r in range(1, 7))


@dataclass(frozen=True)
class Request:
    """One question to an LLM: an item under a variant, persona and sample index."""

    key: str
    respondent: str
    item_id: str
    variant: str
    sample: int
    messages: list[dict[str, str]]
    spec: dict[str, Any]  # the answer-deciding fields (see cache.KEY_FIELDS)

    @property
    def seed(self) -> int | None:
        """The seed sent with this request (``seed + sample`` when a seed is set)."""
        seed = self.spec.get("seed")
        return None if seed is None else int(seed) + int(self.sample)


@dataclass
class Answer:
    """A backend's answer to one request."""

    text: str | None
    probs: list[float] | None = None  # p1..p6 (rating 1..6), normalised over the six options
    p_valid: float | None = None  # total probability the model put on the six phrases
    reported_model: str | None = None
    system_fingerprint: str | None = None
    latency_s: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class RequestFailed(RuntimeError):
    """A request that failed for good (after the backend's retries)."""


class Backend:
    """Base class of the backends."""

    name: ClassVar[str] = "base"
    batched: ClassVar[bool] = False
    remote: ClassVar[bool] = False
    concurrency: int = 1
    batch_size: int = 1

    def identity(self) -> dict[str, Any]:
        """``backend``, ``base_url``, ``model``, ``revision``: the answer-deciding identity."""
        raise NotImplementedError

    async def answer(self, request: Request) -> Answer:  # pragma: no cover - interface
        """Answer one request (async backends)."""
        raise NotImplementedError

    def answer_batch(self, requests: list[Request]) -> list[Answer | Exception]:
        """Answer several requests (batched backends)."""
        raise NotImplementedError  # pragma: no cover - interface

    def run_remote(self, requests: Sequence[Request], cache: RatingCache,
                   finished: Callable[[Request, Answer | Exception], None]) -> None:
        """Answer the uncached requests through jobs recorded in ``cache`` (remote backends).

        ``finished(request, answer_or_error)`` is called once per request that is done for this
        run (an answer, or the error it failed with for good).
        """
        raise NotImplementedError  # pragma: no cover - interface

    async def aclose(self) -> None:
        """Release resources (async backends)."""
        return None
