"""OpenAI-compatible chat-completions backend (OpenAI, vLLM, llama.cpp server, ...).

Retries are this module's own loop (the client's ``max_retries`` is 0): on 429, 5xx, timeouts
and connection errors it waits ``Retry-After`` / ``retry-after-ms`` when the server sends one,
otherwise ``base_delay * 2**attempt`` plus jitter (capped at ``max_delay``), up to
``max_retries`` retries; other 4xx errors fail at once.

Logprob mode (``logprobs=True, top_logprobs=20``) approximates the six option probabilities from
what the API returns: the generated tokens with their top-20 alternatives. See
:func:`option_probs_from_top_logprobs`.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any

import openai

from vp_bayes.errors import InputError
from vp_bayes.llm.backends.base import OPTION_PHRASES, Answer, Backend, Request, RequestFailed
from vp_bayes.llm.parse import normalize
from vp_bayes.llm.redact import api_key_from_env, redact, strip_url_credentials

DUMMY_KEY = "sk-no-key-required"  # noqa: S105 - placeholder for local servers
_JUNK = set(" \t\n\r\"'`*_.,;:!?()[]")


def _norm_prefix(text: str) -> str:
    """Lower-case, strip leading and collapse inner whitespace; keep one trailing space."""
    body = " ".join(text.lower().split())
    return body + " " if body and text[-1:].isspace() else body


def _finished(prefix: str) -> int | None:
    """The rating whose phrase ``prefix`` completes, followed only by punctuation/space."""
    stripped = prefix.strip()
    for rating, phrase in enumerate(OPTION_PHRASES, start=1):
        if stripped.startswith(phrase) and set(stripped[len(phrase):]) <= _JUNK:
            return rating
    return None


def _candidates(prefix: str) -> list[int]:
    """Ratings an answer starting with ``prefix`` can still be (prefix of, or finished)."""
    out = {r for r, ph in enumerate(OPTION_PHRASES, start=1) if prefix and ph.startswith(prefix)}
    done = _finished(prefix)
    if done is not None:
        out.add(done)
    return sorted(out)


def option_probs_from_top_logprobs(
    positions: list[tuple[str, dict[str, float]]],
) -> tuple[list[float] | None, float, dict[str, float]]:
    """Approximate the probabilities of the six options from top-k logprobs.

    The answer is a walk down the token tree. At each generated position the API gives the
    chosen token and its top-k alternatives. Each alternative that leaves the generated path
    takes the mass ``P(path so far) * p(alternative)``; that mass goes to the options whose
    phrase is consistent with the alternative prefix (split evenly when several are, e.g. an
    alternative ``"not"`` is consistent with ``not like me`` and ``not like me at all``). When
    the path itself stops being consistent with any phrase, its remaining mass is invalid;
    when the answer ends, the path's mass goes to the phrase the answer completes (or is split
    over the phrases it is a prefix of, if it was cut off). Mass outside the top-k and the
    end-of-answer probability (not returned by the API) are unknown: ``p_valid`` is a lower
    bound of the true mass on the six phrases, and options never seen in the top-k get 0.

    Parameters
    ----------
    positions
        ``[(generated_token, {alternative_token: logprob, ...}), ...]``; the generated token's
        own logprob must be in its dict.

    Returns
    -------
    probs, p_valid, info
        ``probs`` = p1..p6 normalised over the six options (``None`` if ``p_valid`` is 0);
        ``p_valid`` = assigned mass; ``info["ambiguous_mass"]`` = mass split evenly.
    """
    mass = [0.0] * 6
    ambiguous = 0.0
    path_mass = 1.0
    text = ""

    def assign(m: float, ratings: list[int]) -> None:
        nonlocal ambiguous
        if not ratings or m <= 0:
            return
        if len(ratings) > 1:
            ambiguous += m
        for r in ratings:
            mass[r - 1] += m / len(ratings)

    alive = True
    for token, alternatives in positions:
        for alt, lp in alternatives.items():
            if alt == token:
                continue
            prefix = _norm_prefix(text + alt)
            if not prefix.strip():
                continue
            assign(path_mass * math.exp(lp), _candidates(prefix))
        lp_tok = alternatives.get(token)
        if lp_tok is None:
            alive = False
            break
        path_mass *= math.exp(lp_tok)
        text += token
        if text.strip() and not _candidates(_norm_prefix(text)):
            alive = False
            break
    if alive and text.strip():
        final = _norm_prefix(text)
        done = _finished(final)
        assign(path_mass, [done] if done is not None else _candidates(final))
    p_valid = float(sum(mass))
    probs = [m / p_valid for m in mass] if p_valid > 0 else None
    return probs, p_valid, {"ambiguous_mass": ambiguous}


class OpenAIBackend(Backend):
    """Chat completions through ``openai.AsyncOpenAI``.

    Parameters
    ----------
    model
        Model name sent to the server.
    base_url
        Server URL (``None``: the client's default, ``https://api.openai.com/v1``).
    api_key_env
        Name of the environment variable holding the API key (default ``OPENAI_API_KEY``). If
        unset, a dummy key is used (fine for local servers). The key is only given to the client
        and is registered for redaction (:mod:`vp_bayes.llm.redact`), as are credentials inside
        ``base_url``, which enters the cache key without them.
    concurrency
        Maximum requests in flight.
    timeout
        Per-attempt timeout in seconds.
    max_retries, base_delay, max_delay
        Retry policy (see module docstring).
    temperature, max_tokens, top_p
        Sent when not ``None``; the request's seed (``seed + sample``) is sent when set.
    logprobs
        Ask for ``logprobs=True, top_logprobs=20`` and compute option probabilities.
    """

    name = "openai"
    batched = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        temperature: float | None = 0.0,
        max_tokens: int | None = 64,
        top_p: float | None = None,
        logprobs: bool = False,
    ) -> None:
        if concurrency < 1:
            raise InputError("concurrency must be at least 1", field="concurrency")
        self.model = model
        self._url = base_url  # as given, credentials included: only for the client
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.logprobs = logprobs
        self._api_key_env = api_key_env
        api_key_from_env(api_key_env)  # registered for redaction now, before anything is sent
        self.base_url = strip_url_credentials(base_url)  # also registers its credentials
        self._client: openai.AsyncOpenAI | None = None  # made inside the running event loop

    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = openai.AsyncOpenAI(
                base_url=self._url,
                api_key=api_key_from_env(self._api_key_env) or DUMMY_KEY,
                max_retries=0,
                timeout=self.timeout,
            )
        return self._client

    def __repr__(self) -> str:  # never show the client (and its key)
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def identity(self) -> dict[str, Any]:
        """Backend, base URL without credentials and model (the revision is not knowable)."""
        return {"backend": self.name, "base_url": self.base_url, "model": self.model,
                "revision": None}

    def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": request.messages}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if request.seed is not None:
            params["seed"] = request.seed
        if self.logprobs:
            params["logprobs"] = True
            params["top_logprobs"] = 20
        return params

    def _delay(self, attempt: int, err: Exception) -> float:
        retry_after = _retry_after(err)
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        base = min(self.base_delay * 2**attempt, self.max_delay)
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    async def answer(self, request: Request) -> Answer:
        """Send one request with retries; raise :class:`RequestFailed` when out of retries."""
        params = self._params(request)
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            start = time.perf_counter()
            try:
                resp = await self._get_client().chat.completions.create(**params)
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                last = err
            except openai.APIStatusError as err:
                last = err
                if not (err.status_code == 429 or err.status_code >= 500):
                    raise RequestFailed(f"HTTP {err.status_code}: {_short(err)}") from None
            else:
                return self._to_answer(resp, time.perf_counter() - start, attempt)
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, last))
        raise RequestFailed(f"after {self.max_retries + 1} attempts: {_short(last)}")

    def _to_answer(self, resp: Any, latency: float, attempt: int) -> Answer:
        choice = resp.choices[0]
        text = choice.message.content
        probs = p_valid = None
        meta: dict[str, Any] = {"attempts": attempt + 1, "finish_reason": choice.finish_reason}
        if self.logprobs:
            positions = []
            for tok in (choice.logprobs.content or []) if choice.logprobs else []:
                alts = {t.token: t.logprob for t in (tok.top_logprobs or [])}
                alts.setdefault(tok.token, tok.logprob)
                positions.append((tok.token, alts))
            probs, p_valid, info = option_probs_from_top_logprobs(positions)
            meta.update(info)
        return Answer(text=text, probs=probs, p_valid=p_valid, reported_model=resp.model,
                      system_fingerprint=getattr(resp, "system_fingerprint", None),
                      latency_s=latency, meta=meta)

    async def aclose(self) -> None:
        """Close the HTTP client (a later run makes a new one)."""
        if self._client is not None:
            await self._client.close()
            self._client = None


def _retry_after(err: Exception) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def _short(err: Exception | None) -> str:
    """The error's type and message, redacted before it is cut to 200 characters."""
    if err is None:
        return "unknown error"
    return f"{type(err).__name__}: {(redact(str(err)) or '')[:200]}"


__all__ = ["OpenAIBackend", "option_probs_from_top_logprobs", "normalize"]
