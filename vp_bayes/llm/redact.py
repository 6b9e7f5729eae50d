"""Secrets out of every text the LLM layer stores or prints (the one owner of redaction).

Whatever reaches the SQLite cache (answers, failures, stored request records), ``<out>.raw.csv``
or the terminal passes through :func:`redact` first, so a server that echoes the
``Authorization`` header or the API key in an error body cannot get the key written anywhere.
It removes

- every secret value registered with :func:`register_secret`: the API key read from the
  environment variable named by ``--api-key-env`` (:func:`api_key_from_env`), and credentials
  found in a base URL (:func:`strip_url_credentials`), also in their percent-encoded,
  JSON-escaped and HTTP Basic (base64 of ``user:password``) forms;
- obvious credentials by their shape: the value of an ``Authorization`` header, ``Bearer`` /
  ``Basic`` tokens (with a digit, at least 8 characters), ``sk-...`` keys, ``api-key: ...``
  pairs, URL userinfo (``https://user:KEY@host``) and credential query parameters
  (``?api_key=KEY``, ``token=``, ``key=``, ...).

Values shorter than :data:`MIN_SECRET_LENGTH` characters are not registered (a key such as
``EMPTY`` for a local server would otherwise blank out ordinary words in answers); the shape
rules still apply to them. Redact *before* truncating a message: a cut key is no longer the
registered value.

A base URL's credentials never decide an answer, so the cache keys and stored request records
use :func:`strip_url_credentials` (userinfo and credential query parameters removed; the request
itself still goes to the URL as given): a rotated key keeps its cache, and no key is stored.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

#: what a removed secret is replaced with.
MARK = "[REDACTED]"
#: registered secrets shorter than this are ignored (only the shape rules apply to them).
MIN_SECRET_LENGTH = 8
#: query parameter names whose values are credentials (compared in lower case, ``-`` as ``_``).
CREDENTIAL_PARAMS: frozenset[str] = frozenset({
    "api_key", "apikey", "key", "token", "access_token", "auth", "password", "passwd",
    "secret", "client_secret", "sig", "signature",
})

_SECRETS: set[str] = set()

_PARAM_NAMES = r"api[_-]?key|apikey|key|token|access[_-]?token|auth|password|passwd|secret|" \
               r"client[_-]?secret|sig|signature"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # the value of an Authorization header, in HTTP, JSON or Python-repr form
    (re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)[^\"',;}\r\n]+"), rf"\1{MARK}"),
    # Bearer / Basic tokens anywhere (a digit required, so "the bearer of" stays)
    (re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}"),
     rf"\1\2{MARK}"),
    # OpenAI-style keys
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), f"sk-{MARK}"),
    # api-key / x-api-key header or field
    (re.compile(r"(?i)(\b(?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}&]+"), rf"\1{MARK}"),
    # URL userinfo
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#\"'<>]+@"), rf"\1{MARK}@"),
    # credential query parameters
    (re.compile(rf"(?i)([?&](?:{_PARAM_NAMES})=)[^&\s#\"'<>]+"), rf"\1{MARK}"),
)


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret: :func:`redact` removes it from every text from now on.

    Parameters
    ----------
    value
        The secret; ``None``, empty or shorter than :data:`MIN_SECRET_LENGTH` is ignored.
    """
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), json.dumps(value)[1:-1]}
    _SECRETS.update(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


def _register_basic(user: str, password: str) -> None:
    pair = f"{user}:{password}".encode()
    register_secret(base64.b64encode(pair).decode("ascii"))


def api_key_from_env(name: str) -> str | None:
    """The API key in the environment variable ``name`` (``None`` if unset or empty).

    The value is registered as a secret before it is returned.

    Parameters
    ----------
    name
        The variable's name (``--api-key-env``).
    """
    value = os.environ.get(name) or None
    register_secret(value)
    return value


def redact(text: str | None) -> str | None:
    """``text`` with every registered secret and every obvious credential replaced.

    Parameters
    ----------
    text
        Any text (an error message, a server's body, an answer, a URL); ``None`` passes.

    Returns
    -------
    str or None
        The text with :data:`MARK` in place of each secret.
    """
    if not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MARK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_value(obj: Any) -> Any:
    """:func:`redact` applied to every string inside nested dicts, lists and tuples."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_value(k): redact_value(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact_value(v) for v in obj)
    return obj


def _is_credential_param(name: str) -> bool:
    return unquote(name).strip().lower().replace("-", "_") in CREDENTIAL_PARAMS


def strip_url_credentials(url: str | None) -> str | None:
    """``url`` without userinfo and credential query parameters (their values are registered).

    ``https://user:KEY@host/v1?api_key=KEY&api-version=2`` becomes
    ``https://host/v1?api-version=2``: parameters that may decide the answer stay, in their
    original spelling and order. A parameter whose value is a registered secret is dropped
    too. Text that is not a URL with a scheme and host is returned as it is.

    Parameters
    ----------
    url
        A base URL, or ``None``.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return redact(url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        for value in (user, password):
            register_secret(unquote(value) if value else None)
            register_secret(value)
        if user is not None or password is not None:
            _register_basic(unquote(user or ""), unquote(password or ""))
        netloc = netloc.rpartition("@")[2]
    kept = []
    for piece in parts.query.split("&") if parts.query else []:
        name, eq, value = piece.partition("=")
        if _is_credential_param(name):
            register_secret(unquote(value))
            register_secret(value)
            continue
        if eq and (unquote(value) in _SECRETS or value in _SECRETS):
            continue
        kept.append(piece)
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment))


__all__ = ["MARK", "MIN_SECRET_LENGTH", "register_secret", "api_key_from_env", "redact",
           "redact_value", "strip_url_credentials"]
