"""A small threaded HTTP server on 127.0.0.1 that service emulators build on.

An emulator subclasses :class:`Emulator`, registers routes with :meth:`Emulator.route`, and
gets, for free, the fault switches every service test needs:

* ``latency`` — seconds to sleep before answering every request;
* ``before_answer`` — a callable run with each request before it is answered (e.g. a barrier
  that proves requests to several servers are in flight at the same time);
* :meth:`fail_next` — the next N matching requests answer with a fault instead of the route:
  ``"429"`` (with or without ``Retry-After``), ``"500"``, ``"503"``, ``"529"``, ``"malformed"``
  (broken JSON/XML), ``"truncated"`` (Content-Length larger than the body, connection closed),
  ``"html"`` (an HTML error page where JSON was expected), ``"non_utf8"`` (latin-1 bytes),
  ``"hang"`` (never answers until the server stops);
* ``requests`` — every request received (method, path, query, headers, body), for assertions.

Only loopback is ever bound.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULTS = ("429", "500", "503", "529", "malformed", "truncated", "html", "non_utf8", "hang")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, data, dict(headers or {}), "application/json")


@dataclass
class Fault:
    kind: str
    times: int = 1
    retry_after: str | None = None
    path_regex: str | None = None


Handler = Callable[[Request], Response]


class Emulator:
    """Base class: routes + fault switches + request log, served on 127.0.0.1:<random>."""

    name = "emulator"

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.latency = 0.0
        self.before_answer: Callable[[Request], None] | None = None
        self.requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ configuration
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Register ``handler(request)`` for ``method`` and a path regex (named groups → params)."""

        def deco(fn: Handler) -> Handler:
            self._routes.append((method.upper(), re.compile(f"^{pattern}$"), fn))
            return fn

        return deco

    def add_route(self, method: str, pattern: str, fn: Handler) -> None:
        self._routes.append((method.upper(), re.compile(f"^{pattern}$"), fn))

    def fail_next(
        self,
        kind: str,
        times: int = 1,
        *,
        retry_after: str | None = None,
        path_regex: str | None = None,
    ) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULTS}")
        with self._lock:
            self._faults.append(Fault(kind, times, retry_after, path_regex))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        emulator = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # silence
                return

            def _handle(self) -> None:
                emulator._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.path_regex and not re.search(f.path_regex, path):
                    continue
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
                return f
        return None

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(
            method=h.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(req)
        if self.before_answer is not None:
            self.before_answer(req)
        if self.latency:
            time.sleep(self.latency)
        fault = self._take_fault(parts.path)
        if fault is not None:
            self._send_fault(h, fault)
            return
        for method, pattern, fn in self._routes:
            m = pattern.match(parts.path)
            if m and (method == h.command or (method == "GET" and h.command == "HEAD")):
                req.params = {k: v for k, v in m.groupdict().items() if v is not None}
                try:
                    resp = fn(req)
                except Exception as exc:  # an emulator bug must be visible, not hang
                    resp = json_response({"message": f"emulator error: {exc!r}"}, 500)
                self._send(h, resp)
                return
        self._send(h, self.not_found(req))

    def not_found(self, req: Request) -> Response:
        return json_response({"message": "Not Found", "path": req.path}, 404)

    def _send(self, h: BaseHTTPRequestHandler, resp: Response) -> None:
        data = resp.encoded()
        h.send_response(resp.status)
        h.send_header("Content-Type", resp.content_type)
        for k, v in resp.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _send_fault(self, h: BaseHTTPRequestHandler, f: Fault) -> None:
        if f.kind == "hang":
            self._stop.wait()
            h.close_connection = True
            return
        if f.kind in ("429", "500", "503", "529"):
            headers = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
            self._send(h, json_response(self.error_body(int(f.kind)), int(f.kind), headers))
            return
        if f.kind == "malformed":
            self._send(h, Response(200, b'{"data": [{"id": "x", "title": ', {}, "application/json"))
            return
        if f.kind == "html":
            page = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(h, Response(502, page, {}, "text/html"))
            return
        if f.kind == "non_utf8":
            self._send(
                h, Response(200, '{"title": "caf\xe9 na\xefve"}'.encode("latin-1"), {}, "application/json")
            )
            return
        if f.kind == "truncated":
            data = b'{"results": [{"title": "half'
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data) + 500))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            h.close_connection = True
            return

    def error_body(self, status: int) -> Any:
        """The service's error body for ``status`` (override to match the real service)."""
        return {"message": f"HTTP {status}"}
