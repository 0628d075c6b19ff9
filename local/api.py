"""A local stand-in for the stack's HTTP API: real requests in, payload 2.0 events to the real handler.

It serves the template's routes (``ANY /oauth/callback``, ``GET /oauth/connect``, ``GET /health``) on
127.0.0.1 and answers anything else the way API Gateway does (``404 {"message":"Not Found"}``), so a
browser can walk the whole flow without Docker or ``sam local``.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from local.emulators.base import Emulator, Request, Response

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

ROUTES = (
    ("*", "/oauth/callback", "ANY /oauth/callback"),
    ("GET", "/oauth/connect", "GET /oauth/connect"),
    ("GET", "/health", "GET /health"),
)


class _Context:
    """The bits of a Lambda context that Powertools reads."""

    def __init__(self, name: str, timeout_seconds: float = 300.0) -> None:
        self.function_name = name
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def to_event(request: Request, route_key: str, host: str) -> dict[str, Any]:
    """The API Gateway HTTP API payload 2.0 event for ``request`` (query strings comma-joined, as AWS does)."""
    joined: dict[str, str] = {}
    for key, value in parse_qsl(request.query_string, keep_blank_values=True):
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string,
        "headers": dict(request.headers),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": request.headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": bool(request.body),
    }
    if joined:
        event["queryStringParameters"] = joined
    if request.body:
        event["body"] = base64.b64encode(request.body).decode()
    return event


class LocalHttpApi(Emulator):
    """Routes HTTP requests to a Lambda handler the way the stack's HTTP API does."""

    def __init__(self, handler: Handler, function_name: str = "local-oauth-callback") -> None:
        super().__init__("local-http-api")
        self.handler = handler
        self.function_name = function_name
        self.base_url = ""
        for method, path, route_key in ROUTES:
            self.route(method, path, self._invoke(route_key))
        self.route("*", "/", lambda r: Response.json({"message": "Not Found"}, 404))

    def start(self, port: int = 0) -> LocalHttpApi:
        self.base_url = self.serve(port)
        return self

    def _invoke(self, route_key: str) -> Callable[[Request], Response]:
        def call(request: Request) -> Response:
            host = self.base_url.split("://", 1)[-1]
            answer = self.handler(to_event(request, route_key, host), _Context(self.function_name))
            body = answer.get("body") or ""
            raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
            return Response(int(answer.get("statusCode", 200)), raw, dict(answer.get("headers") or {}))

        return call
