"""Small fakes and helpers shared by the suites."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any


class FakeClock:
    """A wall clock tests move by hand."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class ListHandler(logging.Handler):
    """Collects formatted log lines (through the product's own formatter, if it has one)."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def http_event(
    query: str = "",
    method: str = "GET",
    path: str = "/oauth/callback",
    route_key: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    body: str | None = None,
    base64_body: bool = False,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as `sam local generate-event` shapes it.

    ``headers`` are added to the usual ones; ``body`` and ``cookies`` appear only when given, as
    API Gateway sends them.
    """
    route = route_key or ("GET /health" if path == "/health" else "ANY /oauth/callback")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", "user-agent": "pytest", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9"},
            "requestId": "req-1",
            "routeKey": route,
            "stage": "$default",
        },
        "isBase64Encoded": base64_body,
    }
    if body is not None:
        event["body"] = body
    if cookies:
        event["cookies"] = cookies
    return event


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
