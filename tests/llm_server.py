"""A real OpenAI-compatible HTTP server for tests (stdlib ``http.server`` in a thread).

``POST /v1/chat/completions`` answers from a script: the last user message may hold a
directive ``[[...]]``:

- ``[[say:TEXT]]``: answer TEXT;
- ``[[429:N]]``: the first N attempts get HTTP 429 with ``Retry-After`` (``retry_after`` s);
- ``[[500:N]]``: the first N attempts get HTTP 500;
- ``[[slow:N:S]]``: the first N attempts sleep S seconds before answering;
- ``[[fail]]``: always HTTP 500; ``[[400]]``: always HTTP 400;
- ``[[garbage]]``: answer random-looking text with no phrase; ``[[refuse]]``: a refusal.

Without a directive the answer is one of the six phrases chosen from a hash of the messages
(deterministic). ``delay`` adds a sleep to every request. With ``logprobs`` the reply carries
token logprobs: the answer split on spaces, each token with probability ``0.9`` and one
alternative (the first word of another phrase) with ``0.05``.

The server counts requests per key (sha256 of model + messages + seed; see :func:`body_key`):
``attempts[key]`` every request, ``answered[key]`` every 200 reply, so tests can assert that
no finished request was repeated. It records the ``Authorization`` headers and request paths
(query included) it saw.

Two switches for the safety tests: ``echo=401`` answers every POST (any path) with HTTP 401 whose
body echoes the ``Authorization`` header, the bare token and the request path, as careless
servers do; ``echo=200`` answers ``like me`` followed by the same echo, with the token as the
reported model and fingerprint. ``gate`` (a ``threading.Event``) holds every request until it
is set (at most 60 s), so a test can keep a client busy.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PHRASES = ["not like me at all", "not like me", "a little like me", "somewhat like me",
           "like me", "very much like me"]
_DIRECTIVE = re.compile(r"\[\[([^\]]+)\]\]")


def body_key(model: str, messages: list[dict[str, str]], seed: int | None = None) -> str:
    """The server's request key: sha256 of the canonical JSON of model, messages and seed."""
    payload = json.dumps({"model": model, "messages": messages, "seed": seed}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def default_answer(messages: list[dict[str, str]]) -> str:
    """The phrase a directive-free request gets (deterministic in the messages)."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    return PHRASES[digest[0] % 6]


class ScriptedServer:
    """Start with ``with ScriptedServer() as srv: srv.base_url``."""

    def __init__(self, *, delay: float = 0.0, retry_after: float = 1.0,
                 fingerprint: str = "fp_test_123", echo: int | None = None,
                 gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.echo = echo
        self.gate = gate
        self.paths: list[str] = []
        self.retry_after = retry_after
        self.fingerprint = fingerprint
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- the script ------------------------------------------------------------------------
    def reply(self, body: dict[str, Any], attempt: int) -> tuple[int, dict[str, str], Any]:
        """Decide (status, headers, payload) for a request on its ``attempt``-th try (1-based)."""
        messages = body.get("messages", [])
        user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        match = _DIRECTIVE.search(user)
        directive = match.group(1) if match else ""
        kind, _, arg = directive.partition(":")
        if kind == "429" and attempt <= int(arg):
            return 429, {"Retry-After": f"{self.retry_after:g}"}, {"error": {"message": "slow"}}
        if kind == "500" and attempt <= int(arg):
            return 500, {}, {"error": {"message": "boom"}}
        if kind == "400":
            return 400, {}, {"error": {"message": "bad request"}}
        if kind == "fail":
            return 500, {}, {"error": {"message": "always failing"}}
        if kind == "slow":
            n, _, secs = arg.partition(":")
            if attempt <= int(n):
                time.sleep(float(secs))
        if kind == "say":
            text = arg
        elif kind == "garbage":
            text = "xq7 zzv blorp"
        elif kind == "refuse":
            text = "I'm sorry, but as an AI I don't have personal thoughts or opinions."
        else:
            text = default_answer(messages)
        return 200, {}, self._completion(body, text)

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text},
                                  "logprobs": None}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": token_logprobs(text), "refusal": None}
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": f"{body.get('model')}-served", "system_fingerprint": self.fingerprint,
                "choices": [choice],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.paths.append(self.path)
                if server.echo is not None:
                    self._echo(body)
                    return
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {}, {"error": {"message": "not found"}})
                    return
                key = body_key(body.get("model"), body.get("messages", []), body.get("seed"))
                with server.lock:
                    server.attempts[key] += 1
                    attempt = server.attempts[key]
                    server.auth_headers.append(self.headers.get("Authorization", ""))
                    server.bodies.append(body)
                if server.gate is not None:
                    server.gate.wait(60)
                if server.delay:
                    time.sleep(server.delay)
                status, headers, payload = server.reply(body, attempt)
                if status == 200:
                    with server.lock:
                        server.answered[key] += 1
                self._send(status, headers, payload)

            def _echo(self, body: dict[str, Any]) -> None:
                auth = self.headers.get("Authorization", "")
                token = auth.split(" ", 1)[-1]
                key = body_key(body.get("model"), body.get("messages", []), body.get("seed"))
                with server.lock:
                    server.attempts[key] += 1
                    server.auth_headers.append(auth)
                    server.bodies.append(body)
                echo = f"Incorrect API key provided: {token}. You sent Authorization: {auth} " \
                       f"to {self.path}"
                if server.echo == 200:
                    reply = server._completion(body, f"Like me. {echo}")
                    reply["model"] = reply["system_fingerprint"] = token
                    with server.lock:
                        server.answered[key] += 1
                    self._send(200, {}, reply)
                    return
                self._send(server.echo, {}, {"error": {
                    "message": echo, "type": "invalid_request_error", "code": "invalid_api_key",
                    "request": {"headers": {"Authorization": auth}, "path": self.path}}})

            def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def token_logprobs(text: str) -> list[dict[str, Any]]:
    """Scripted logprobs: words as tokens (with their leading space), p = 0.9 each, and one
    alternative token per position (the first word of the first phrase not starting with the
    chosen word) with p = 0.05."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        tok = word if i == 0 else " " + word
        firsts = [p.split(" ")[0] for p in PHRASES]
        alt_word = next(f for f in firsts if f != word) if i == 0 else "banana"
        alt = alt_word if i == 0 else " " + alt_word
        top = [{"token": tok, "logprob": math.log(0.9), "bytes": None},
               {"token": alt, "logprob": math.log(0.05), "bytes": None}]
        out.append({"token": tok, "logprob": math.log(0.9), "bytes": None, "top_logprobs": top})
    return out


if __name__ == "__main__":  # manual use: python tests/llm_server.py [delay]
    import sys

    with ScriptedServer(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as srv:
        print(srv.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
