"""The small HTTP machinery every emulator shares.

Each emulator is a ``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port, started in a daemon
thread by the tests (or by ``make demo`` / ``make local``) and stopped by them. Handlers are plain
methods that take a :class:`Request` and return a :class:`Response`; the base records every request
so tests can count calls and check that no secret ever travelled in a URL, and it plays one-shot
faults (status codes, delays, dropped connections, garbage bodies) queued by the tests.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Emulator", "Fault", "Request", "Response"]


@dataclass
class Request:
    """One request as the emulator saw it."""

    method: str
    path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes
    server: str  # the base URL of the server instance that received it
    at: float = field(default_factory=time.time)

    @property
    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` (last value wins)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status, json.dumps(payload).encode(), merged)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Response:
        return cls(status, b"", {"Location": location})

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Fault:
    """A one-shot misbehaviour for the next matching request.

    ``kind`` is one of:
      - ``"status"``: answer ``status`` with ``body`` (JSON-encoded unless bytes/str);
      - ``"delay"``: sleep ``seconds`` and then answer normally;
      - ``"hang"``: sleep ``seconds`` and then drop the connection without answering;
      - ``"reset"``: drop the connection at once without answering;
      - ``"garbage"``: answer ``status`` (default 200) with a non-JSON body;
      - ``"huge"``: answer 200 with ``size`` bytes of JSON-ish padding.
    ``path`` is a prefix of the request path; ``method`` an optional method filter.
    """

    path: str
    kind: str = "status"
    status: int = 500
    body: Any = None
    seconds: float = 0.0
    size: int = 5_000_000
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return request.path.startswith(self.path)


class _Dropped(Exception):
    """Raised by a fault that closes the connection without an answer."""


Route = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default listen backlog of 5 drops concurrent connects (1 s SYN retry)


class Emulator:
    """Base class: owns one or more HTTP servers, a request log and a fault queue.

    Subclasses register routes with :meth:`route` in ``__init__``. Routes match on method and an
    exact path or a prefix ending in ``/``; the longest match wins.
    """

    def __init__(self, name: str, clock: Callable[[], float] | None = None) -> None:
        self.name = name
        self.clock: Callable[[], float] = clock or time.time
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self.delay_seconds = 0.0  # a fixed delay added to every answer (benchmarks, timeouts)
        self._routes: list[tuple[str, str, Route]] = []
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()

    # ---- wiring -------------------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Route) -> None:
        self._routes.append((method.upper(), path, handler))

    def _find_route(self, request: Request) -> Route | None:
        best: tuple[int, Route] | None = None
        for method, path, handler in self._routes:
            if method not in (request.method, "*"):
                continue
            exact = path == request.path
            prefix = path.endswith("/") and request.path.startswith(path)
            if exact or prefix:
                score = len(path) + (10_000 if exact else 0)
                if best is None or score > best[0]:
                    best = (score, handler)
        return best[1] if best else None

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Start one more server instance; returns its base URL (``http://127.0.0.1:PORT``)."""
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm on, each answer on a
            # kept-alive connection waited ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                return  # silence: tests capture our own logs, not the emulator's

            def _handle(self) -> None:
                address: Any = self.server.server_address
                base_url = f"http://{address[0]}:{address[1]}"
                emulator._dispatch(self, base_url)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle

        server = _Server((host, port), Handler)
        # A short poll interval: shutdown() waits for it, and the default 0.5 s made every stop() slow.
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.name}-emulator", daemon=True
        )
        thread.start()
        with self._lock:
            self._servers.append(server)
            self._threads.append(thread)
        return f"http://{host}:{server.server_address[1]}"

    def stop(self) -> None:
        with self._lock:
            servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test knobs ---------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` matching requests."""
        with self._lock:
            for _ in range(times):
                self.faults.append(fault)

    def calls(self, path: str | None = None, method: str | None = None) -> list[Request]:
        """The recorded requests, optionally filtered by path prefix and method."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (path is None or r.path.startswith(path)) and (method is None or r.method == method.upper())
            ]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # ---- dispatch -----------------------------------------------------------------------------
    def _take_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.matches(request):
                    self.faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler, base_url: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            query_string=parts.query,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            server=base_url,
        )
        with self._lock:
            self.requests.append(request)
        try:
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
            response = self._apply_fault(request)
            if response is None:
                route = self._find_route(request)
                response = route(request) if route else Response.json({"error": "not_found"}, 404)
        except _Dropped:
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = response.encoded()
        headers = {**response.headers, "Content-Length": str(len(payload))}
        try:
            handler.send_response(response.status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (a timeout test): nothing to answer

    def _apply_fault(self, request: Request) -> Response | None:
        fault = self._take_fault(request)
        if fault is None:
            return None
        if fault.kind == "delay":
            time.sleep(fault.seconds)
            return None
        if fault.kind == "hang":
            time.sleep(fault.seconds)
            raise _Dropped()
        if fault.kind == "reset":
            raise _Dropped()
        if fault.kind == "garbage":
            return Response(fault.status or 200, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
        if fault.kind == "huge":
            return Response(200, b'{"pad": "' + b"x" * fault.size + b'"}', {"Content-Type": "application/json"})
        body = fault.body
        if isinstance(body, (bytes, str)):
            return Response(fault.status, body, {"Content-Type": "text/plain", **fault.headers})
        return Response.json(body if body is not None else {}, fault.status, fault.headers)
