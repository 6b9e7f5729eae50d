"""A real OpenAI Batch API server for tests: ``/v1/files`` and ``/v1/batches`` on loopback.

Extends :class:`llm_server.ScriptedServer` (which keeps answering ``/v1/chat/completions``
online), so the same scripted answers (``[[say:...]]``, ``[[500:N]]``, ``[[garbage]]``, ...)
come back online and in batches: each line of a batch is answered by
:meth:`ScriptedServer.reply` with the per-key attempt counter shared with the online path, a
200 going to the output file and anything else to the error file, in the Batch API's format
(``{"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error"}``).

Endpoints: ``POST /v1/files`` (multipart upload, ``purpose=batch``; at most ``max_lines``
lines), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``, ``POST /v1/batches``,
``GET /v1/batches`` (list, newest first), ``GET /v1/batches/{id}``,
``POST /v1/batches/{id}/cancel``.

``plans`` scripts the batches in creation order (later ones: ``completed``):

- ``completed``: ``validating`` -> ``in_progress`` (first poll) -> ``completed`` (second);
- ``slow:S``: ``in_progress`` until S seconds after creation, then ``completed``;
- ``expired``: the first half of the lines answered, the rest in the error file with code
  ``batch_expired``, status ``expired``;
- ``failed``: ``failed`` with a batch-level error and no files (nothing answered);
- ``cancelled``: the first half answered, the rest absent from both files, ``cancelled``.

A batch whose input file is malformed (a line without a unique ``custom_id``, a ``url`` other
than the batch's endpoint, a body without ``model``) fails validation, as the real API does.

``echo_key=True`` plays a careless server: answers, reported model and fingerprint, error
lines and batch errors all carry the bearer token it was sent. ``reject=STATUS`` answers every
files/batches call with that status, echoing the token. ``lose_creates=N``: the first N batch
creations create the batch but answer HTTP 502, as a reply lost on the way would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llm_server import ScriptedServer, body_key

ENDPOINT = "/v1/chat/completions"
TERMINAL = {"completed", "failed", "expired", "cancelled"}


class BatchServer(ScriptedServer):
    """``with BatchServer(plans=["expired"]) as srv: srv.base_url``."""

    def __init__(self, *, plans: list[str] | None = None, echo_key: bool = False,
                 reject: int | None = None, max_lines: int = 50_000, lose_creates: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plans = list(plans or [])
        self.echo_key = echo_key
        self.reject = reject
        self.max_lines = max_lines
        self.lose_creates = lose_creates
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []  # batch ids in creation order
        self.uploads: list[str] = []  # input file ids in upload order
        self.batch_lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------
    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        """The parsed request lines of a batch's input file."""
        data = self.files[self.batches[batch_id]["input_file_id"]]["data"]
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]

    def _new_file(self, data: bytes, purpose: str, filename: str) -> dict[str, Any]:
        fid = f"file-{uuid.uuid4().hex[:20]}"
        self.files[fid] = {"data": data, "purpose": purpose, "filename": filename,
                           "created_at": int(time.time())}
        return self._file_obj(fid)

    def _file_obj(self, fid: str) -> dict[str, Any]:
        f = self.files[fid]
        return {"id": fid, "object": "file", "bytes": len(f["data"]),
                "created_at": f["created_at"], "filename": f["filename"],
                "purpose": f["purpose"], "status": "processed"}

    def _batch_obj(self, b: dict[str, Any]) -> dict[str, Any]:
        out = {k: b[k] for k in ("id", "object", "endpoint", "errors", "input_file_id",
                                 "completion_window", "status", "output_file_id",
                                 "error_file_id", "created_at", "metadata", "request_counts")}
        for stamp in ("in_progress_at", "completed_at", "failed_at", "expired_at",
                      "cancelled_at"):
            out[stamp] = b.get(stamp)
        return out

    def _validate(self, lines: list[dict[str, Any]], endpoint: str) -> str | None:
        ids = [ln.get("custom_id") for ln in lines]
        if not lines:
            return "the input file is empty"
        if any(not isinstance(i, str) or not i for i in ids) or len(set(ids)) != len(ids):
            return "every line needs a unique custom_id"
        for ln in lines:
            if ln.get("method") != "POST" or ln.get("url") != endpoint:
                return f"line url must be {endpoint} with method POST"
            if not isinstance(ln.get("body"), dict) or not ln["body"].get("model"):
                return "every body needs a model"
        return None

    def _answer_line(self, line: dict[str, Any], token: str) -> tuple[bool, dict[str, Any]]:
        body = line["body"]
        key = body_key(body.get("model"), body.get("messages", []), body.get("seed"))
        with self.lock:
            self.attempts[key] += 1
            attempt = self.attempts[key]
            self.bodies.append(body)
        status, _, payload = self.reply(body, attempt)
        rid = f"req_{uuid.uuid4().hex[:12]}"
        if status == 200:
            with self.lock:
                self.answered[key] += 1
            if self.echo_key:
                payload["choices"][0]["message"]["content"] += \
                    f" Incorrect API key provided: {token}."
                payload["model"] = payload["system_fingerprint"] = token
        elif self.echo_key:
            payload = {"error": {"message": f"boom for key {token}", "type": "server_error"}}
        return status == 200, {"id": f"batch_req_{uuid.uuid4().hex[:12]}",
                               "custom_id": line["custom_id"],
                               "response": {"status_code": status, "request_id": rid,
                                            "body": payload},
                               "error": None}

    def _finish(self, b: dict[str, Any], status: str, token: str) -> None:
        """Run a batch to its end under its plan: answer lines, write the files."""
        lines = self.input_lines(b["id"])
        out: list[dict[str, Any]] = []
        err: list[dict[str, Any]] = []
        if status == "completed":
            todo, rest = lines, []
        elif status in ("expired", "cancelled"):
            half = (len(lines) + 1) // 2
            todo, rest = lines[:half], lines[half:]
        else:
            todo, rest = [], []
        for line in todo:
            ok, record = self._answer_line(line, token)
            (out if ok else err).append(record)
        if status == "expired":
            for line in rest:
                err.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}",
                            "custom_id": line["custom_id"], "response": None,
                            "error": {"code": "batch_expired",
                                      "message": "This request could not be executed before "
                                                 "the completion window expired."}})
        for records, field in ((out, "output_file_id"), (err, "error_file_id")):
            if records:
                data = "".join(json.dumps(r) + "\n" for r in records).encode()
                b[field] = self._new_file(data, f"batch_{field[:-8]}", "out.jsonl")["id"]
        b["request_counts"] = {"total": len(lines), "completed": len(out), "failed": len(err)}
        b["status"] = status
        b[f"{status}_at"] = int(time.time())

    def _advance(self, b: dict[str, Any], token: str) -> None:
        """One poll of batch ``b``: move it along its plan."""
        plan, _, arg = b["plan"].partition(":")
        if b["status"] in TERMINAL:
            return
        if b["status"] == "cancelling":
            self._finish(b, "cancelled", token)
            return
        if plan == "failed":
            b["status"] = "failed"
            b["failed_at"] = int(time.time())
            b["errors"] = {"object": "list", "data": [
                {"code": "model_not_found", "line": None, "param": None,
                 "message": "The model is not available for batches"
                            + (f" (key {token})" if self.echo_key else "")}]}
            return
        if b["status"] == "validating":
            b["status"] = "in_progress"
            b["in_progress_at"] = int(time.time())
            if plan != "slow":
                return
        if plan == "slow" and time.time() - b["created_ts"] < float(arg):
            return
        self._finish(b, {"expired": "expired", "cancelled": "cancelled"}.get(plan, "completed"),
                     token)

    # -- HTTP ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler()
        server = self

        class Handler(base):  # type: ignore[valid-type, misc]
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                server._route(self, "GET", b"")

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                if urlsplit(self.path).path.startswith(("/v1/files", "/v1/batches")):
                    length = int(self.headers.get("Content-Length", 0))
                    server._route(self, "POST", self.rfile.read(length))
                else:
                    super().do_POST()

            def send_raw(self, status: int, data: bytes, ctype: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def _route(self, h: Any, method: str, raw: bytes) -> None:
        auth = h.headers.get("Authorization", "")
        token = auth.split(" ", 1)[-1]
        parts = urlsplit(h.path)
        path = [p for p in parts.path.split("/") if p][1:]  # drop "v1"
        with self.lock:
            self.paths.append(h.path)
            self.auth_headers.append(auth)
        if self.reject is not None:
            h._send(self.reject, {}, {"error": {
                "message": f"Incorrect API key provided: {token}. You sent Authorization: {auth}",
                "type": "invalid_request_error", "code": "invalid_api_key"}})
            return
        with self.batch_lock:
            status, payload = self._dispatch(method, path, parts.query, raw, h, token)
        if isinstance(payload, bytes):
            h.send_raw(status, payload, "application/octet-stream")
        else:
            h._send(status, {}, payload)

    def _dispatch(self, method: str, path: list[str], query: str, raw: bytes, h: Any,
                  token: str) -> tuple[int, Any]:
        not_found = 404, {"error": {"message": "No such object", "type": "invalid_request_error"}}
        if path[:1] == ["files"]:
            if method == "POST" and len(path) == 1:
                fields = _multipart(h.headers.get("Content-Type", ""), raw)
                purpose = fields.get("purpose", (None, b""))[1].decode()
                filename, data = fields.get("file", (None, None))
                if purpose != "batch" or data is None:
                    return 400, {"error": {"message": "purpose must be batch, with a file"}}
                n = sum(1 for line in data.decode().splitlines() if line.strip())
                if n > self.max_lines:
                    return 400, {"error": {"message": f"{n} lines, at most {self.max_lines}"}}
                obj = self._new_file(data, purpose, filename or "upload.jsonl")
                self.uploads.append(obj["id"])
                return 200, obj
            if method == "GET" and len(path) in (2, 3) and path[1] in self.files:
                if len(path) == 3 and path[2] == "content":
                    return 200, self.files[path[1]]["data"]
                if len(path) == 2:
                    return 200, self._file_obj(path[1])
            return not_found
        if path[:1] == ["batches"]:
            if method == "POST" and len(path) == 1:
                req = json.loads(raw or b"{}")
                fid = req.get("input_file_id")
                if fid not in self.files:
                    return 400, {"error": {"message": f"unknown input file {fid}"}}
                bid = f"batch_{uuid.uuid4().hex[:20]}"
                plan = self.plans.pop(0) if self.plans else "completed"
                b = {"id": bid, "object": "batch", "endpoint": req.get("endpoint"),
                     "errors": None, "input_file_id": fid,
                     "completion_window": req.get("completion_window"),
                     "status": "validating", "output_file_id": None, "error_file_id": None,
                     "created_at": int(time.time()), "created_ts": time.time(),
                     "metadata": req.get("metadata"), "plan": plan,
                     "request_counts": {"total": 0, "completed": 0, "failed": 0}}
                lines = [json.loads(x) for x in self.files[fid]["data"].decode().splitlines()
                         if x.strip()]
                problem = self._validate(lines, req.get("endpoint"))
                if problem or req.get("completion_window") != "24h":
                    b["plan"] = "invalid"
                    b["status"] = "failed"
                    b["errors"] = {"object": "list", "data": [
                        {"code": "invalid_request", "message": problem or "bad window"}]}
                b["request_counts"]["total"] = len(lines)
                self.batches[bid] = b
                self.created.append(bid)
                if self.lose_creates > 0:  # created, but the reply is lost
                    self.lose_creates -= 1
                    return 502, {"error": {"message": "bad gateway"}}
                return 200, self._batch_obj(b)
            if method == "GET" and len(path) == 1:
                limit = int(parse_qs(query).get("limit", ["20"])[0])
                data = [self._batch_obj(self.batches[i]) for i in reversed(self.created)]
                return 200, {"object": "list", "data": data[:limit], "has_more": False,
                             "first_id": data[0]["id"] if data else None,
                             "last_id": data[-1]["id"] if data else None}
            if len(path) >= 2 and path[1] in self.batches:
                b = self.batches[path[1]]
                if method == "GET" and len(path) == 2:
                    self._advance(b, token)
                    return 200, self._batch_obj(b)
                if method == "POST" and path[2:] == ["cancel"]:
                    if b["status"] not in TERMINAL:
                        b["status"] = "cancelling"
                    return 200, self._batch_obj(b)
            return not_found
        return not_found


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return out
