"""The local HTTP API used by `make local`: requests become payload 2.0 events like API Gateway's."""

from __future__ import annotations

from typing import Any

import requests

from local.api import LocalHttpApi


def test_routes_become_payload_v2_events_and_answers_come_back_verbatim() -> None:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 201, "headers": {"X-Test": "yes", "Content-Type": "text/html"}, "body": "<p>hi</p>"}

    api = LocalHttpApi(handler).start()
    try:
        answer = requests.get(f"{api.base_url}/oauth/callback?a=1&a=2&b=", timeout=5)
        health = requests.get(f"{api.base_url}/health", timeout=5)
        missing = requests.post(f"{api.base_url}/health", timeout=5)
        other = requests.get(f"{api.base_url}/elsewhere", timeout=5)
        posted = requests.post(f"{api.base_url}/oauth/callback", data=b"\x00\x01", timeout=5)
    finally:
        api.stop()
    assert (answer.status_code, answer.text, answer.headers["X-Test"]) == (201, "<p>hi</p>", "yes")
    first = seen[0]
    assert first["version"] == "2.0" and first["routeKey"] == "ANY /oauth/callback"
    assert first["rawQueryString"] == "a=1&a=2&b="
    assert first["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert first["requestContext"]["http"]["method"] == "GET"
    assert health.status_code == 201 and seen[1]["routeKey"] == "GET /health"
    assert missing.status_code == 404 and other.status_code == 404 and missing.json() == {"message": "Not Found"}
    assert posted.status_code == 201 and seen[2]["isBase64Encoded"] is True and seen[2]["body"] == "AAE="
