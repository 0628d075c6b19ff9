"""Zoho's token answers, quirks included: errors in HTTP 200, localized throttling, legacy expiry."""

from __future__ import annotations

import json

import pytest

from zoho_aep.adapters.http import HttpResponse
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.domain import errors


def _answer(body: object, status: int = 200) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status=status, headers={}, body=raw, url="https://accounts.zoho.com/oauth/v2/token")


def parse(body: object, status: int = 200, refreshing: bool = False):  # type: ignore[no-untyped-def]
    return ZohoOAuthClient.parse_token_response(_answer(body, status), refreshing=refreshing)


def test_success_is_an_access_token_in_the_body() -> None:
    tokens = parse(
        {
            "access_token": "a" * 10,
            "refresh_token": "r" * 10,
            "api_domain": "https://www.zohoapis.com",
            "expires_in": 3600,
        }
    )
    assert tokens.expires_in == 3600 and tokens.refresh_token == "r" * 10


def test_legacy_expiry_is_read_from_expires_in_sec_not_milliseconds() -> None:
    assert parse({"access_token": "a" * 10, "expires_in": 3600000, "expires_in_sec": 3600}).expires_in == 3600


def test_milliseconds_alone_are_recognised() -> None:
    assert parse({"access_token": "a" * 10, "expires_in": 3600000}).expires_in == 3600


@pytest.mark.parametrize("status", [200, 400])
def test_invalid_code_on_exchange_means_code_spent(status: int) -> None:
    with pytest.raises(errors.ZohoCodeInvalid):
        parse({"error": "invalid_code"}, status)


def test_invalid_code_on_refresh_means_consent_revoked() -> None:
    with pytest.raises(errors.ZohoConsentRevoked):
        parse({"error": "invalid_code"}, refreshing=True)


@pytest.mark.parametrize("error", ["invalid_client", "invalid_client_secret"])
def test_client_errors(error: str) -> None:
    with pytest.raises(errors.ZohoClientInvalid):
        parse({"error": error})


@pytest.mark.parametrize(
    "body",
    [
        {"error": "Access Denied", "error_description": "You have made too many requests continuously."},
        {"error": "Access Denied", "error_description": "您在短时间内发出了太多请求。请稍后再试。"},
        {"error": "访问被拒绝", "error_description": "请求过多"},
    ],
)
@pytest.mark.parametrize("status", [200, 400])
def test_throttling_in_any_language_and_status(body: dict[str, str], status: int) -> None:
    with pytest.raises(errors.ZohoThrottled):
        parse(body, status)


def test_non_json_answer_is_invalid_and_retryable() -> None:
    with pytest.raises(errors.ZohoResponseInvalid) as info:
        parse(b"<html>oops</html>")
    assert info.value.retryable


def test_server_error_without_body_is_unavailable() -> None:
    with pytest.raises(errors.ZohoUnavailable):
        parse(b"", 503)


def test_unknown_error_code_is_reported_without_echoing_the_body() -> None:
    with pytest.raises(errors.ZohoResponseInvalid) as info:
        parse({"error": "general_error", "secret_echo": "s3cr3t"})
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "1000.a\r\nX-Injected: 1", "refresh_token": "1000.r"},
        {"access_token": "1000.a", "refresh_token": "1000.r\n"},
        {"access_token": "1000.a b"},
        {"access_token": "1000.\u00e9"},
    ],
)
def test_a_token_that_could_not_go_back_into_a_header_is_an_unusable_answer(body: dict[str, str]) -> None:
    with pytest.raises(errors.ZohoResponseInvalid):
        parse(body)
