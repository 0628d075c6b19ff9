"""The one HTTP client: timeouts, bounded retries on passing failures only, no redirects, size cap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.emulators.base import Emulator, Fault, Response
from zoho_aep.adapters.http import HttpClient, HttpResponse, RetryPolicy, parse_retry_after
from zoho_aep.domain.errors import HostNotAllowed, OutboundRequestInvalid, UpstreamUnavailable


@pytest.fixture
def server() -> Iterator[Emulator]:
    emulator = Emulator("http-test")
    emulator.route("GET", "/ok", lambda r: Response.json({"ok": True}))
    emulator.route("POST", "/ok", lambda r: Response.json({"ok": True}))
    emulator.route("GET", "/redirect", lambda r: Response.redirect("https://evil.example/steal"))
    emulator.route("GET", "/bad-request", lambda r: Response.json({"error": "x"}, 400))
    emulator.base_url = emulator.serve()  # type: ignore[attr-defined]
    yield emulator
    emulator.stop()


def _client(**policy: object) -> tuple[HttpClient, list[float]]:
    sleeps: list[float] = []
    pol = RetryPolicy(attempts=3, connect_timeout=1, read_timeout=0.5, deadline=5, **policy)  # type: ignore[arg-type]
    return HttpClient(pol, sleep=sleeps.append, rng=lambda: 1.0), sleeps


def test_plain_success(server: Emulator) -> None:
    client, _ = _client()
    assert client.request("GET", f"{server.base_url}/ok").json() == {"ok": True}  # type: ignore[attr-defined]


def test_5xx_is_retried_then_succeeds(server: Emulator) -> None:
    server.inject(Fault("/ok", status=503), times=2)
    client, sleeps = _client()
    assert client.request("GET", f"{server.base_url}/ok").status == 200  # type: ignore[attr-defined]
    assert len(server.calls("/ok")) == 3
    assert sleeps == [0.25, 0.5]  # capped exponential backoff (jitter pinned to its maximum)


def test_retries_are_bounded_and_the_last_answer_is_returned(server: Emulator) -> None:
    server.inject(Fault("/ok", status=500), times=10)
    client, _ = _client()
    assert client.request("GET", f"{server.base_url}/ok").status == 500  # type: ignore[attr-defined]
    assert len(server.calls("/ok")) == 3


def test_4xx_is_not_retried(server: Emulator) -> None:
    client, _ = _client()
    assert client.request("GET", f"{server.base_url}/bad-request").status == 400  # type: ignore[attr-defined]
    assert len(server.calls("/bad-request")) == 1


def test_timeout_is_retried_then_raises_unavailable(server: Emulator) -> None:
    server.inject(Fault("/ok", kind="delay", seconds=1.0), times=3)
    client, _ = _client()
    with pytest.raises(UpstreamUnavailable) as info:
        client.request("GET", f"{server.base_url}/ok")  # type: ignore[attr-defined]
    assert info.value.kind == "timeout"
    assert len(server.calls("/ok")) == 3


def test_dropped_connection_is_retried(server: Emulator) -> None:
    server.inject(Fault("/ok", kind="reset"))
    client, _ = _client()
    assert client.request("POST", f"{server.base_url}/ok", data={"a": "b"}).status == 200  # type: ignore[attr-defined]


def test_redirects_are_never_followed(server: Emulator) -> None:
    client, _ = _client()
    response = client.request("GET", f"{server.base_url}/redirect")  # type: ignore[attr-defined]
    assert response.status == 302
    assert response.header("location") == "https://evil.example/steal"


def test_huge_answers_are_refused(server: Emulator) -> None:
    server.inject(Fault("/ok", kind="huge", size=2_000_000))
    client, _ = _client()
    with pytest.raises(UpstreamUnavailable) as info:
        client.request("GET", f"{server.base_url}/ok")  # type: ignore[attr-defined]
    assert info.value.kind == "too-large"


def test_retry_after_is_honoured_when_asked(server: Emulator) -> None:
    server.inject(Fault("/ok", status=503, headers={"Retry-After": "3"}))
    client, sleeps = _client(honour_retry_after=True)
    assert client.request("GET", f"{server.base_url}/ok").status == 200  # type: ignore[attr-defined]
    assert sleeps == [3.0]


@pytest.mark.parametrize("url", ["http://example.com/x", "ftp://127.0.0.1/x", "file:///etc/passwd", "https:///x"])
def test_non_https_urls_are_refused_except_loopback(url: str) -> None:
    client, _ = _client()
    with pytest.raises(HostNotAllowed):
        client.request("GET", url)


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7", 0) == 7.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 4.0) == 6.0
    assert parse_retry_after("soon", 0) is None


def test_a_garbled_gzip_body_is_a_passing_failure_retried_within_the_policy(server: Emulator) -> None:
    garbled = Fault("/ok", status=200, body=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    server.inject(garbled, times=3)
    client, _ = _client()
    with pytest.raises(UpstreamUnavailable) as info:
        client.request("GET", f"{server.base_url}/ok")  # type: ignore[attr-defined]
    assert info.value.kind == "garbled"
    assert len(server.calls("/ok")) == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Zoho-oauthtoken 1000.a\r\nX-Injected: 1"},
        {"X\nBad": "1"},
        {"Authorization": "caf\u00e9\u2603"},
    ],
)
def test_a_header_that_cannot_be_sent_is_a_typed_refusal_and_nothing_goes_out(
    server: Emulator, headers: dict[str, str]
) -> None:
    client, _ = _client()
    with pytest.raises(OutboundRequestInvalid):
        client.request("GET", f"{server.base_url}/ok", headers=headers)  # type: ignore[attr-defined]
    assert server.calls("/ok") == []


def test_a_json_body_that_is_not_json_is_a_typed_refusal(server: Emulator) -> None:
    client, _ = _client()
    with pytest.raises(OutboundRequestInvalid):
        client.request("POST", f"{server.base_url}/ok", json_body={"x": float("nan")})  # type: ignore[attr-defined]


def test_a_retry_after_in_other_digits_is_ignored_not_raised() -> None:
    assert parse_retry_after("\u00b2", 0) is None
    assert parse_retry_after("Fri, 31 Dec 99999 00:00:00 GMT", 0) is None


def test_an_answer_nested_too_deeply_reads_as_no_json() -> None:
    assert HttpResponse(200, {}, b"[" * 100_000, "http://127.0.0.1/x").json_or_none() is None
