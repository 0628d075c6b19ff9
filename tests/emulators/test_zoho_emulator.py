"""The Zoho emulator's own tests: real HTTP against started servers, one behaviour per test.

The product's tests trust this emulator to behave like Zoho, quirks included, so each quirk the product
must survive is pinned here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from local.emulators.base import Fault
from local.emulators.zoho import ConsentError, ZohoEmulator

CLIENT_ID = "1000.TESTCLIENTID"
SECRET = "shared-secret-value"
REDIRECT = "https://app.example/callback"
SCOPE = "ZohoCRM.modules.READ,ZohoCRM.settings.READ,ZohoCRM.users.READ,ZohoCRM.org.READ"
US_USER = "alice@acme.example"
EU_USER = "bob@euro.example"
TIMEOUT = 5


class FakeClock:
    """A clock the tests move by hand, so windows and expiries need no sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def zoho(clock: FakeClock) -> Iterator[ZohoEmulator]:
    emulator = ZohoEmulator(data_centers=("us", "eu", "cn"), clock=clock)
    emulator.register_client(CLIENT_ID, SECRET, [REDIRECT, "https://app.example/cb?tenant=7"])
    emulator.add_org("us", "111", "Acme US", US_USER)
    emulator.add_org("eu", "222", "Euro GmbH", EU_USER)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


# ---- helpers ------------------------------------------------------------------------------------
def auth_url(zoho: ZohoEmulator, dc: str = "us", /, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "access_type": "offline",
        "prompt": "consent",
        "state": "st-123",
    }
    params.update(overrides)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{zoho.accounts_url(dc)}/oauth/v2/auth?{query}"


def callback_params(location: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(location).query, keep_blank_values=True)


def get_code(zoho: ZohoEmulator, user: str = US_USER, **overrides: str | None) -> tuple[str, str]:
    """Consent as ``user``; returns (code, location)."""
    zoho.set_user(user)
    params = dict(callback_params(zoho.consent(auth_url(zoho, **overrides))))
    return params["code"], params["location"]


def token_call(zoho: ZohoEmulator, dc: str, **form: str) -> requests.Response:
    return requests.post(f"{zoho.accounts_url(dc)}/oauth/v2/token", data=form, timeout=TIMEOUT)


def exchange(
    zoho: ZohoEmulator, code: str, dc: str = "us", secret: str = SECRET, redirect_uri: str | None = REDIRECT
) -> dict[str, Any]:
    form = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": secret, "code": code}
    if redirect_uri is not None:
        form["redirect_uri"] = redirect_uri
    answer: dict[str, Any] = token_call(zoho, dc, **form).json()
    return answer


def refresh(zoho: ZohoEmulator, refresh_token: str, dc: str = "us", secret: str = SECRET) -> dict[str, Any]:
    response = token_call(
        zoho, dc, grant_type="refresh_token", client_id=CLIENT_ID, client_secret=secret, refresh_token=refresh_token
    )
    answer: dict[str, Any] = response.json()
    return answer


def connect(zoho: ZohoEmulator, user: str = US_USER) -> dict[str, Any]:
    code, location = get_code(zoho, user)
    return exchange(zoho, code, location)


def self_client_tokens(zoho: ZohoEmulator, dc: str = "us", scope: str = SCOPE) -> dict[str, Any]:
    code = zoho.issue_self_client_code(CLIENT_ID, dc, scope)
    return exchange(zoho, code, dc, redirect_uri=None)


def crm_get(zoho: ZohoEmulator, dc: str, path: str, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Zoho-oauthtoken {token}"} if token is not None else {}
    return requests.get(f"{zoho.api_domain(dc)}{path}", headers=headers, timeout=TIMEOUT)


# ---- addresses ----------------------------------------------------------------------------------
def test_each_data_center_has_its_own_server_and_json_entry(zoho: ZohoEmulator) -> None:
    table = json.loads(zoho.data_centers_json())
    assert set(table) == {"us", "eu", "cn"}
    assert len({entry["accounts_url"] for entry in table.values()}) == 3
    for dc, entry in table.items():
        assert entry == {"accounts_url": zoho.accounts_url(dc), "api_domains": [zoho.api_domain(dc)]}
        assert zoho.dc_of(entry["accounts_url"]) == dc
        assert zoho.dc_of(entry["accounts_url"] + "/") == dc


# ---- consent ------------------------------------------------------------------------------------
def test_consent_page_has_accept_and_reject_buttons(zoho: ZohoEmulator) -> None:
    page = requests.get(auth_url(zoho), timeout=TIMEOUT)
    assert page.status_code == 200
    assert ">Accept</button>" in page.text
    assert ">Reject</button>" in page.text
    assert page.text.count('<form method="post" action="/oauth/v2/auth/decision">') == 2
    assert CLIENT_ID in page.text
    assert "ZohoCRM.org.READ" in page.text
    assert US_USER in page.text


def test_consent_redirect_carries_exact_params_and_users_dc(zoho: ZohoEmulator) -> None:
    zoho.set_user(EU_USER)
    state = "a b&c=d/é+%"
    location = zoho.consent(auth_url(zoho, "us", state=state))  # started on the US server
    assert location.startswith(REDIRECT + "?")
    params = callback_params(location)
    assert [name for name, _ in params] == ["state", "code", "location", "accounts-server"]
    values = dict(params)
    assert values["state"] == state
    assert values["location"] == "eu"
    assert values["accounts-server"] == zoho.accounts_url("eu")
    assert "accounts-server=http%3A%2F%2F127.0.0.1%3A" in location
    assert values["code"].startswith("1000.")


def test_redirect_uri_with_query_gets_params_appended(zoho: ZohoEmulator) -> None:
    location = zoho.consent(auth_url(zoho, redirect_uri="https://app.example/cb?tenant=7"))
    assert location.startswith("https://app.example/cb?tenant=7&state=st-123&code=")


def test_reject_redirects_with_access_denied(zoho: ZohoEmulator) -> None:
    location = zoho.consent(auth_url(zoho), accept=False)
    assert location.startswith(REDIRECT + "?")
    assert callback_params(location) == [("error", "access_denied"), ("state", "st-123")]


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": REDIRECT + "/"},
        {"redirect_uri": "https://evil.example/callback"},
        {"client_id": "1000.UNKNOWN"},
        {"response_type": "token"},
        {"scope": None},
    ],
)
def test_bad_authorization_request_shows_error_page_without_redirect(
    zoho: ZohoEmulator, overrides: dict[str, str | None]
) -> None:
    page = requests.get(auth_url(zoho, **overrides), allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert "text/html" in page.headers["Content-Type"]
    with pytest.raises(ConsentError):
        zoho.consent(auth_url(zoho, **overrides))


def test_grant_code_limit_is_ten_per_ten_minutes(zoho: ZohoEmulator, clock: FakeClock) -> None:
    for _ in range(10):
        get_code(zoho)
    with pytest.raises(ConsentError) as failure:
        zoho.consent(auth_url(zoho))
    assert failure.value.status == 400
    assert "too_many_codes" in failure.value.body
    clock.advance(601)
    get_code(zoho)


# ---- code exchange ------------------------------------------------------------------------------
def test_code_exchange_answers_zoho_shape(zoho: ZohoEmulator) -> None:
    answer = connect(zoho)
    assert set(answer) == {"access_token", "refresh_token", "api_domain", "token_type", "expires_in", "scope"}
    assert answer["api_domain"] == zoho.api_domain("us")
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 3600
    assert answer["scope"] == SCOPE
    for token in (answer["access_token"], answer["refresh_token"]):
        prefix, first, second = token.split(".")
        assert prefix == "1000" and len(first) == len(second) == 32
        int(first + second, 16)


def test_code_is_single_use(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho)
    assert "access_token" in exchange(zoho, code)
    assert exchange(zoho, code) == {"error": "invalid_code"}


def test_code_is_spent_by_a_failed_exchange(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho)
    assert exchange(zoho, code, redirect_uri="https://app.example/other") == {"error": "invalid_redirect_uri"}
    assert exchange(zoho, code) == {"error": "invalid_code"}


def test_code_expires_after_three_minutes_as_zohos_v8_page_says(zoho: ZohoEmulator, clock: FakeClock) -> None:
    code, _ = get_code(zoho)
    clock.advance(180)
    assert exchange(zoho, code) == {"error": "invalid_code"}


def test_code_exchanged_just_in_time_works(zoho: ZohoEmulator, clock: FakeClock) -> None:
    code, _ = get_code(zoho)
    clock.advance(179)
    assert "access_token" in exchange(zoho, code)


VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636's example
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_code_asked_for_with_a_pkce_challenge_is_exchanged_only_with_its_verifier(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho, code_challenge=CHALLENGE, code_challenge_method="S256")
    form = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": SECRET, "code": code}
    assert token_call(zoho, "us", **form, redirect_uri=REDIRECT, code_verifier=VERIFIER).json()["access_token"]


@pytest.mark.parametrize("verifier", [None, "", "another-links-verifier-0000000000000000000000", CHALLENGE])
def test_a_pkce_code_without_its_verifier_is_invalid_and_spent(zoho: ZohoEmulator, verifier: str | None) -> None:
    code, _ = get_code(zoho, code_challenge=CHALLENGE, code_challenge_method="S256")
    form = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": SECRET, "code": code}
    if verifier is not None:
        form["code_verifier"] = verifier
    assert token_call(zoho, "us", **form, redirect_uri=REDIRECT).json() == {"error": "invalid_code"}
    form["code_verifier"] = VERIFIER  # spent: the right verifier comes too late
    assert token_call(zoho, "us", **form, redirect_uri=REDIRECT).json() == {"error": "invalid_code"}


def test_a_code_asked_for_without_a_challenge_ignores_a_verifier(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho)
    form = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "client_secret": SECRET, "code": code}
    assert "access_token" in token_call(zoho, "us", **form, redirect_uri=REDIRECT, code_verifier=VERIFIER).json()


def test_an_unknown_challenge_method_is_an_error_page(zoho: ZohoEmulator) -> None:
    with pytest.raises(ConsentError):
        zoho.consent(auth_url(zoho, code_challenge=CHALLENGE, code_challenge_method="S512"))


def test_wrong_secret_is_invalid_client_secret_and_keeps_the_code(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho)
    assert exchange(zoho, code, secret="nope") == {"error": "invalid_client_secret"}
    assert "access_token" in exchange(zoho, code)


def test_unknown_client_is_invalid_client(zoho: ZohoEmulator) -> None:
    answer = token_call(zoho, "us", grant_type="authorization_code", client_id="1000.NOPE", client_secret=SECRET)
    assert answer.json() == {"error": "invalid_client"}
    assert answer.status_code == 200  # Zoho's default: errors with HTTP 200


def test_per_dc_secret_is_the_only_one_valid_in_that_dc(zoho: ZohoEmulator) -> None:
    zoho.register_client(CLIENT_ID, SECRET, [REDIRECT], secrets_by_dc={"eu": "eu-only-secret"})
    code, location = get_code(zoho, EU_USER)
    assert location == "eu"
    assert exchange(zoho, code, "eu") == {"error": "invalid_client_secret"}
    assert "access_token" in exchange(zoho, code, "eu", secret="eu-only-secret")
    us_code, _ = get_code(zoho, US_USER)
    assert exchange(zoho, us_code, "us", secret="eu-only-secret") == {"error": "invalid_client_secret"}
    assert "access_token" in exchange(zoho, us_code, "us")


def test_code_exchanged_at_wrong_dc_is_invalid_code(zoho: ZohoEmulator) -> None:
    code, location = get_code(zoho, EU_USER)
    assert location == "eu"
    assert exchange(zoho, code, "us") == {"error": "invalid_code"}
    assert "access_token" in exchange(zoho, code, "eu")  # unknown at US, so not spent there


def test_self_client_code_needs_no_redirect_uri(zoho: ZohoEmulator) -> None:
    answer = self_client_tokens(zoho, "eu")
    assert "refresh_token" in answer
    assert answer["api_domain"] == zoho.api_domain("eu")
    assert zoho.refresh_token_info(answer["refresh_token"])["user"] == EU_USER


def test_no_refresh_token_without_offline_access(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho, access_type=None)
    answer = exchange(zoho, code)
    assert "access_token" in answer
    assert "refresh_token" not in answer


def test_reconsent_without_prompt_consent_gets_no_refresh_token(zoho: ZohoEmulator) -> None:
    first = connect(zoho)
    assert "refresh_token" in first
    code, _ = get_code(zoho, prompt=None)
    assert "refresh_token" not in exchange(zoho, code)
    code, _ = get_code(zoho, prompt="consent")
    assert "refresh_token" in exchange(zoho, code)


def test_first_consent_without_prompt_consent_still_gets_refresh_token(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho, prompt=None)
    assert "refresh_token" in exchange(zoho, code)


def test_params_in_query_string_are_accepted_and_logged(zoho: ZohoEmulator) -> None:
    code, _ = get_code(zoho)
    query = urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "code": code,
            "redirect_uri": REDIRECT,
        }
    )
    answer = requests.post(f"{zoho.accounts_url('us')}/oauth/v2/token?{query}", timeout=TIMEOUT).json()
    assert "access_token" in answer
    assert "client_secret=" in zoho.calls("/oauth/v2/token", "POST")[-1].query_string


def test_unsupported_grant_type(zoho: ZohoEmulator) -> None:
    answer = token_call(zoho, "us", grant_type="password", client_id=CLIENT_ID, client_secret=SECRET)
    assert answer.json() == {"error": "unsupported_grant_type"}


# ---- refresh ------------------------------------------------------------------------------------
def test_refresh_answer_has_no_refresh_token(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho)
    answer = refresh(zoho, tokens["refresh_token"])
    assert "access_token" in answer
    assert "refresh_token" not in answer
    assert answer["api_domain"] == zoho.api_domain("us")
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 3600
    assert zoho.refresh_token_info(tokens["refresh_token"])["minted"] == 1


def test_refresh_at_wrong_dc_is_invalid_code(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho, EU_USER)
    assert refresh(zoho, tokens["refresh_token"], "us") == {"error": "invalid_code"}
    assert "access_token" in refresh(zoho, tokens["refresh_token"], "eu")


def test_refresh_throttled_after_ten_per_window_then_recovers(zoho: ZohoEmulator, clock: FakeClock) -> None:
    token = connect(zoho)["refresh_token"]
    for _ in range(10):
        assert "access_token" in refresh(zoho, token)
        clock.advance(1)
    throttled = refresh(zoho, token)
    assert throttled["error"] == "Access Denied"
    assert throttled["error_description"].startswith("You have made too many requests continuously")
    clock.advance(595)  # the oldest mint has left the rolling window, but the block holds
    assert refresh(zoho, token)["error"] == "Access Denied"
    clock.advance(10)
    assert "access_token" in refresh(zoho, token)
    assert zoho.refresh_token_info(token)["minted"] == 11


def test_throttle_knobs_localized_text_and_status(zoho: ZohoEmulator) -> None:
    zoho.error_status = 400
    zoho.throttle_description = "您连续发出了太多请求。请稍后再试。"
    token = connect(zoho)["refresh_token"]
    zoho.throttle_next(2)
    for _ in range(2):
        response = token_call(
            zoho, "us", grant_type="refresh_token", client_id=CLIENT_ID, client_secret=SECRET, refresh_token=token
        )
        assert response.status_code == 400
        assert response.json() == {"error": "Access Denied", "error_description": "您连续发出了太多请求。请稍后再试。"}
    assert "access_token" in refresh(zoho, token)


def test_error_status_knob_applies_to_oauth_errors(zoho: ZohoEmulator) -> None:
    zoho.error_status = 400
    response = token_call(zoho, "us", grant_type="refresh_token", client_id=CLIENT_ID, client_secret=SECRET)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_code"}


def test_twenty_first_refresh_token_evicts_the_first(zoho: ZohoEmulator) -> None:
    issued = [self_client_tokens(zoho) for _ in range(21)]
    first = issued[0]
    assert zoho.refresh_token_info(first["refresh_token"])["revoked"] is True
    assert not zoho.access_token_valid(first["access_token"])
    assert refresh(zoho, first["refresh_token"]) == {"error": "invalid_code"}
    live = zoho.live_refresh_tokens(CLIENT_ID, US_USER)
    assert live == [t["refresh_token"] for t in issued[1:]]
    assert "access_token" in refresh(zoho, issued[1]["refresh_token"])


def test_sixteenth_access_token_kills_the_oldest(zoho: ZohoEmulator, clock: FakeClock) -> None:
    tokens = connect(zoho)
    refresh_token = tokens["refresh_token"]
    access = [tokens["access_token"]]
    for _ in range(10):
        access.append(refresh(zoho, refresh_token)["access_token"])
    clock.advance(601)
    for _ in range(4):
        access.append(refresh(zoho, refresh_token)["access_token"])
    assert len(access) == 15 and all(zoho.access_token_valid(t) for t in access)
    access.append(refresh(zoho, refresh_token)["access_token"])  # the 16th
    assert not zoho.access_token_valid(access[0])
    assert all(zoho.access_token_valid(t) for t in access[1:])
    assert crm_get(zoho, "us", "/crm/v8/org", access[0]).json()["code"] == "INVALID_TOKEN"


def test_legacy_expiry_shape(zoho: ZohoEmulator) -> None:
    zoho.legacy_expiry = True
    tokens = connect(zoho)
    assert tokens["expires_in_sec"] == 3600
    assert tokens["expires_in"] == 3_600_000
    answer = refresh(zoho, tokens["refresh_token"])
    assert (answer["expires_in_sec"], answer["expires_in"]) == (3600, 3_600_000)


def test_override_next_token_response_removes_and_replaces_once(zoho: ZohoEmulator) -> None:
    zoho.override_next_token_response(refresh_token=None, api_domain="https://evil.example")
    answer = connect(zoho)
    assert "refresh_token" not in answer
    assert answer["api_domain"] == "https://evil.example"
    assert "access_token" in answer
    again = connect(zoho)
    assert "refresh_token" in again
    assert again["api_domain"] == zoho.api_domain("us")


# ---- revocation ---------------------------------------------------------------------------------
def test_revoke_endpoint_kills_refresh_and_access_tokens(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho)
    url = f"{zoho.accounts_url('us')}/oauth/v2/token/revoke"
    response = requests.post(url, data={"token": tokens["refresh_token"]}, timeout=TIMEOUT)
    assert (response.status_code, response.json()) == (200, {"status": "success"})
    assert zoho.refresh_token_info(tokens["refresh_token"])["revoked"] is True
    assert not zoho.access_token_valid(tokens["access_token"])
    assert refresh(zoho, tokens["refresh_token"]) == {"error": "invalid_code"}
    unknown = requests.post(url, data={"token": "1000.nope"}, timeout=TIMEOUT)
    assert (unknown.status_code, unknown.json()) == (200, {"status": "failure"})


def test_revoke_consent_makes_refresh_answer_invalid_code(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho)
    zoho.revoke_consent(tokens["refresh_token"])
    assert refresh(zoho, tokens["refresh_token"]) == {"error": "invalid_code"}
    assert not zoho.access_token_valid(tokens["access_token"])
    assert zoho.live_refresh_tokens(CLIENT_ID) == []


def test_delete_client_makes_every_call_invalid_client(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho)
    code, _ = get_code(zoho)
    zoho.delete_client(CLIENT_ID)
    assert refresh(zoho, tokens["refresh_token"]) == {"error": "invalid_client"}
    assert exchange(zoho, code) == {"error": "invalid_client"}
    assert not zoho.access_token_valid(tokens["access_token"])
    assert requests.get(auth_url(zoho), timeout=TIMEOUT).status_code == 400


# ---- CRM ----------------------------------------------------------------------------------------
def test_org_lookup_returns_the_users_org(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho, EU_USER)
    response = crm_get(zoho, "eu", "/crm/v8/org", tokens["access_token"])
    assert response.status_code == 200
    org = response.json()["org"][0]
    assert org["id"] == "222"
    assert org["company_name"] == "Euro GmbH"
    assert org["primary_email"] == EU_USER
    assert org["domain_name"]


def test_org_lookup_with_scope_lacking_org_is_scope_mismatch(zoho: ZohoEmulator) -> None:
    tokens = self_client_tokens(zoho, scope="ZohoCRM.modules.READ")
    response = crm_get(zoho, "us", "/crm/v8/org", tokens["access_token"])
    assert response.status_code == 401
    assert response.json() == {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "invalid oauth scope to access this URL",
        "status": "error",
    }


def test_org_lookup_with_invalid_token(zoho: ZohoEmulator) -> None:
    response = crm_get(zoho, "us", "/crm/v8/org", "1000.deadbeef")
    assert response.status_code == 401
    assert response.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }


def test_org_lookup_with_token_from_other_dc_is_invalid(zoho: ZohoEmulator) -> None:
    tokens = connect(zoho, EU_USER)
    assert crm_get(zoho, "us", "/crm/v8/org", tokens["access_token"]).json()["code"] == "INVALID_TOKEN"


def test_access_token_expires_after_an_hour(zoho: ZohoEmulator, clock: FakeClock) -> None:
    tokens = connect(zoho)
    clock.advance(3600)
    assert not zoho.access_token_valid(tokens["access_token"])
    assert crm_get(zoho, "us", "/crm/v8/org", tokens["access_token"]).json()["code"] == "INVALID_TOKEN"
    fresh = refresh(zoho, tokens["refresh_token"])["access_token"]
    assert crm_get(zoho, "us", "/crm/v8/org", fresh).status_code == 200


def test_missing_authorization_header_is_authentication_failure(zoho: ZohoEmulator) -> None:
    response = crm_get(zoho, "us", "/crm/v8/org", None)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_FAILURE"


def test_current_user_and_modules(zoho: ZohoEmulator) -> None:
    token = connect(zoho)["access_token"]
    users = crm_get(zoho, "us", "/crm/v8/users?type=CurrentUser", token).json()["users"]
    assert [u["email"] for u in users] == [US_USER]
    assert users[0]["id"] and users[0]["full_name"]
    modules = crm_get(zoho, "us", "/crm/v8/settings/modules", token).json()["modules"]
    assert {"api_name": "Leads", "module_name": "Leads"} in modules


# ---- base-class features ------------------------------------------------------------------------
def test_injected_fault_and_call_log_still_work(zoho: ZohoEmulator) -> None:
    zoho.inject(Fault(path="/oauth/v2/token", kind="status", status=503, body={"oops": True}))
    response = token_call(zoho, "us", grant_type="refresh_token", client_id=CLIENT_ID, client_secret=SECRET)
    assert (response.status_code, response.json()) == (503, {"oops": True})
    assert len(zoho.calls("/oauth/v2/token", "POST")) == 1
    follow_up = token_call(zoho, "us", grant_type="refresh_token", client_id=CLIENT_ID, client_secret=SECRET)
    assert follow_up.json() == {"error": "invalid_code"}


def test_concurrent_refreshes_respect_the_window_limit(zoho: ZohoEmulator) -> None:
    token = connect(zoho)["refresh_token"]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: refresh(zoho, token), range(16)))
    assert sum("access_token" in a for a in answers) == 10
    assert sum(a.get("error") == "Access Denied" for a in answers) == 6
    assert zoho.refresh_token_info(token)["minted"] == 10
