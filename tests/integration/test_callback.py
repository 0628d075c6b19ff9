"""The OAuth callback end to end: the real use case against moto and the Zoho emulator over HTTP.

Every refusal is checked for the same three promises: a clear page, no token request where the
input was already bad, no secret write and no event.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from local.emulators.base import Fault
from tests.support.aws_faults import AwsFault, AwsFaults, no_backoff
from tests.support.callback import CallbackHarness
from tests.support.constants import CLIENT_ID, CLIENT_SECRET, EU_SECRET, STATE_KEY
from tests.support.fakes import FakeClock
from tests.support.refresh_world import edited
from zoho_aep.domain.datacenters import DataCenterTable
from zoho_aep.domain.events import CONNECTION_AUTHORIZED
from zoho_aep.domain.links import pkce_challenge, verify_state

ALL_DCS = tuple(DataCenterTable.builtin())


@pytest.fixture
def cb(zoho: Any, sm: Any, app_secrets_seeded: dict[str, Any], clock: FakeClock) -> Iterator[CallbackHarness]:
    harness = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    yield harness
    harness.close()


def _query(query: str) -> dict[str, str]:
    return dict(parse_qsl(query, keep_blank_values=True))


def _with(query: str, **changes: str | None) -> str:
    params = _query(query)
    for key, value in changes.items():
        key = key.replace("_", "-")
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return urlencode(params)


def assert_refused_cleanly(
    cb: CallbackHarness, answer: dict[str, Any], before: dict[str, Any], status: int | None = None
) -> None:
    assert 400 <= answer["statusCode"] < 500 if status is None else answer["statusCode"] == status
    assert answer["headers"]["Content-Type"].startswith("text/html")
    assert cb.snapshot() == before, "a refused callback must not write any secret"
    assert cb.events.events == [], "a refused callback must not publish an event"


# ---- the happy path ---------------------------------------------------------------------------
def test_connects_a_us_org_and_stores_every_contract_field(cb: CallbackHarness) -> None:
    answer = cb.connect("acme")
    assert answer["statusCode"] == 200
    assert "acme" in answer["body"] and "Acme US" in answer["body"] and "700001" in answer["body"]
    secret = cb.secret()
    assert set(secret) >= {
        "schema", "connection", "data_center", "accounts_url", "api_domain", "client_id", "access_token",
        "refresh_token", "expires_at", "scope", "zoho_org_id", "adobe_sandbox",
    }  # fmt: skip
    assert secret["schema"] == 1 and secret["connection"] == "acme" and secret["data_center"] == "us"
    assert secret["accounts_url"] == cb.zoho.accounts_url("us")
    assert secret["api_domain"] == cb.zoho.api_domain("us")
    assert secret["zoho_org_id"] == "700001" and isinstance(secret["zoho_org_id"], str)
    assert secret["adobe_sandbox"] == "prod"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", secret["expires_at"])
    assert cb.zoho.refresh_token_info(secret["refresh_token"])["revoked"] is False
    tags = cb.tags()
    assert tags["zoho-aep:status"] == "active"
    assert tags["zoho-aep:data-center"] == "us"
    assert tags["zoho-aep:zoho-org-name"] == "Acme US"
    assert tags["zoho-aep:zoho-user-id"] == secret["zoho_user_id"] == cb.zoho.user_id("admin@acme.example")
    assert int(tags["zoho-aep:expires-at"]) == int(cb.clock()) + 3600
    assert cb.events.events == [
        (
            CONNECTION_AUTHORIZED,
            {
                "connection": "acme",
                "data_center": "us",
                "zoho_org_id": "700001",
                "zoho_org_name": "Acme US",
                "reauthorized": False,
                "zoho_user_id": cb.zoho.user_id("admin@acme.example"),
                "zoho_user_connections": 1,
            },
        )
    ]
    assert cb.outcomes == ["connected"]


def test_code_is_exchanged_in_a_form_body_at_the_data_centers_own_accounts_server(cb: CallbackHarness) -> None:
    cb.connect("acme-eu", user="admin@acme-eu.example")
    (request,) = cb.token_requests()
    assert request.server == cb.zoho.accounts_url("eu")
    assert request.query_string == ""  # nothing secret in the URL
    assert request.form["client_secret"] == EU_SECRET  # the per-data-center secret
    assert request.form["grant_type"] == "authorization_code"
    assert cb.secret("acme-eu")["data_center"] == "eu"


def test_the_exchange_sends_the_pkce_verifier_of_the_link_that_asked_for_the_code(cb: CallbackHarness) -> None:
    link = cb.link("acme")
    challenge = _query(link.split("?", 1)[1])["code_challenge"]

    assert cb.call(cb.consent(link))["statusCode"] == 200

    (request,) = cb.token_requests()
    state = verify_state(STATE_KEY, _query(link.split("?", 1)[1])["state"], cb.clock())
    assert request.form["code_verifier"] == state.code_verifier(STATE_KEY)
    assert pkce_challenge(request.form["code_verifier"]) == challenge


def test_a_link_without_pkce_sends_no_verifier(cb: CallbackHarness) -> None:
    assert cb.call(cb.consent(cb.link("acme", pkce=False)))["statusCode"] == 200
    (request,) = cb.token_requests()
    assert "code_verifier" not in request.form


def test_a_link_for_one_data_center_refuses_a_consent_from_another_before_any_token_request(
    cb: CallbackHarness,
) -> None:
    query = cb.consent(cb.link("acme", data_center="us"), user="admin@acme-eu.example")
    before = cb.snapshot()

    answer = cb.call(query)

    assert_refused_cleanly(cb, answer, before, 409)
    assert cb.outcomes == ["link-data-center-mismatch"] and cb.token_requests() == []


def test_a_link_for_one_org_refuses_another_after_the_lookup_and_revokes_its_token(cb: CallbackHarness) -> None:
    query = cb.consent(cb.link("acme", zoho_org_id="700001"), user="admin@acme-eu.example")
    before = cb.snapshot()

    answer = cb.call(query)

    assert_refused_cleanly(cb, answer, before, 409)
    assert cb.outcomes == ["link-org-mismatch"]
    assert cb.zoho.live_refresh_tokens(CLIENT_ID) == [], "the new refresh token is revoked"


def test_a_link_for_its_own_org_and_data_center_connects(cb: CallbackHarness) -> None:
    link = cb.link("acme-eu", zoho_org_id="700002", data_center="eu")
    assert cb.call(cb.consent(link, user="admin@acme-eu.example"))["statusCode"] == 200
    assert cb.secret("acme-eu")["zoho_org_id"] == "700002"


@pytest.mark.parametrize("dc", ALL_DCS)
def test_happy_path_in_every_data_center(cb: CallbackHarness, dc: str) -> None:
    cb.zoho.add_org(dc, f"9{ALL_DCS.index(dc)}", f"Org {dc}", user=f"admin@{dc}.example")
    answer = cb.connect(f"org-{dc}", user=f"admin@{dc}.example")
    assert answer["statusCode"] == 200, answer["body"]
    secret = cb.secret(f"org-{dc}")
    assert (secret["data_center"], secret["accounts_url"]) == (dc, cb.zoho.accounts_url(dc))
    (request,) = cb.token_requests()
    assert request.server == cb.zoho.accounts_url(dc)
    assert request.form["client_secret"] == (EU_SECRET if dc == "eu" else CLIENT_SECRET)


def test_every_answer_carries_the_security_headers(cb: CallbackHarness) -> None:
    answers = [cb.connect("acme"), cb.call(""), cb.call("", method="POST"), cb.app.handle({"rawPath": "/x"})]
    for answer in answers:
        headers = answer["headers"]
        assert headers["Content-Type"].startswith("text/html")
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_health_answers_ok_without_reading_any_secret(cb: CallbackHarness) -> None:
    calls: list[str] = []
    cb.sm.meta.events.register("before-call.secrets-manager", lambda model, **kw: calls.append(model.name))
    answer = cb.app.handle({"routeKey": "GET /health", "rawPath": "/health"})
    assert answer["statusCode"] == 200 and answer["body"] == '{"status":"ok"}'
    assert calls == []


# ---- re-authorization -------------------------------------------------------------------------
def test_reauthorization_by_the_same_org_keeps_aep_state_and_the_replaced_token(cb: CallbackHarness) -> None:
    cb.connect("acme")
    first = cb.secret()
    cb.store.set_tags(
        "acme",
        {
            "aep:base-connection-id": "bc-1",
            "aep:etag": "etag-1",
            "zoho-aep:status": "needs-reauth",
            "zoho-aep:last-error": "zoho-consent-revoked",
        },
    )
    cb.store.write("acme", lambda v: edited("acme", v, aep_note="written by provisioning"))
    cb.events.events.clear()
    cb.clock.advance(300)

    answer = cb.connect("acme")

    assert answer["statusCode"] == 200 and "reconnected" in answer["body"]
    second = cb.secret()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["replaced_refresh_token"] == first["refresh_token"]
    assert second["aep_note"] == "written by provisioning"
    assert cb.zoho.refresh_token_info(first["refresh_token"])["revoked"] is False  # provisioning revokes it later
    tags = cb.tags()
    assert tags["aep:base-connection-id"] == "bc-1" and tags["aep:etag"] == "etag-1"
    assert tags["zoho-aep:status"] == "active" and "zoho-aep:last-error" not in tags
    assert cb.events.events[0][1]["reauthorized"] is True


def test_a_second_reauthorization_queues_the_older_replaced_token_for_revocation(cb: CallbackHarness) -> None:
    tokens = []
    for _ in range(3):
        cb.connect("acme")
        tokens.append(cb.secret()["refresh_token"])
    secret = cb.secret()
    assert secret["replaced_refresh_token"] == tokens[1]
    assert secret["revoke_pending"] == [tokens[0]]


def test_reauthorization_by_a_different_org_is_refused_revoked_and_changes_nothing(cb: CallbackHarness) -> None:
    cb.connect("acme")
    cb.events.events.clear()
    before = cb.snapshot()
    answer = cb.connect("acme", user="admin@acme-eu.example")
    assert answer["statusCode"] == 409 and "zoho-org-mismatch" in answer["body"]
    assert cb.snapshot() == before and cb.events.events == []
    (revoked,) = cb.zoho.calls("/oauth/v2/token/revoke")
    assert cb.zoho.refresh_token_info(revoked.form["token"])["revoked"] is True
    assert cb.secret()["zoho_org_id"] == "700001"


def test_a_write_that_may_have_landed_never_revokes_the_token_it_stored(cb: CallbackHarness) -> None:
    cb.connect("acme")
    first = cb.secret()["refresh_token"]
    cb.clock.advance(300)
    query = cb.consent(cb.link("acme"))
    faults = AwsFaults(cb.sm)
    # Secrets Manager moves AWSCURRENT but the answer is lost; every retry then times out.
    faults.add(AwsFault("UpdateSecretVersionStage", "lost", times=1))
    faults.add(AwsFault("UpdateSecretVersionStage", "timeout", skip=1))
    try:
        with no_backoff():
            answer = cb.call(query)
    finally:
        faults.close()

    assert (answer["statusCode"], cb.outcomes[-1]) == (500, "secret-store-error")
    stored = cb.secret()["refresh_token"]
    assert stored != first, "the move had landed: the new consent's token is the current one"
    assert cb.zoho.refresh_token_info(stored)["revoked"] is False
    assert cb.zoho.calls("/oauth/v2/token/revoke") == []


def test_two_callbacks_for_one_connection_at_once_end_with_one_consistent_secret(cb: CallbackHarness) -> None:
    queries = [cb.consent(cb.link("acme")) for _ in range(2)]
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def run(query: str) -> None:
        barrier.wait()
        answers.append(cb.call(query))

    threads = [threading.Thread(target=run, args=(q,)) for q in queries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["statusCode"] for a in answers) == [200, 200]
    secret = cb.secret()
    assert cb.zoho.calls("/oauth/v2/token/revoke") == []  # the replaced token waits for provisioning
    live = set(cb.zoho.live_refresh_tokens(cb.deps.app_secrets.zoho_client().client_id))
    assert {secret["refresh_token"], secret["replaced_refresh_token"]} == live
    versions = cb.sm.list_secret_version_ids(SecretId="zoho-aep/connections/acme")["Versions"]
    assert sum("AWSCURRENT" in v.get("VersionStages", []) for v in versions) == 1
    assert len(cb.events.events) == 2


# ---- refusals before any call to Zoho ---------------------------------------------------------
def _good_query(cb: CallbackHarness) -> str:
    return cb.consent(cb.link("acme"))


@pytest.mark.parametrize(
    ("mangle", "status", "reason"),
    [
        (lambda q: _with(q, state=None), 400, "state-missing"),
        (lambda q: _with(q, state="not-a-state"), 400, "state-invalid"),
        (lambda q: _with(q, state=_query(q)["state"][:-4] + "AAAA"), 400, "state-signature-invalid"),
        (lambda q: _with(q, code=None), 400, "code-missing"),
        (lambda q: _with(q, location="xx"), 400, "location-unknown"),
        (lambda q: _with(q, location=None), 400, "location-unknown"),
        (lambda q: _with(q, accounts_server="https://attacker.example"), 400, "accounts-server-mismatch"),
        (lambda q: q + "&code=second", 400, "query-parameter-repeated"),
        (lambda q: q + "&state=" + _query(q)["state"], 400, "query-parameter-repeated"),
        (lambda q: q + "&pad=" + "x" * 8200, 414, "query-too-large"),
    ],
    ids=[
        "no-state", "garbled-state", "forged-state", "missing-code", "unknown-location", "no-location",
        "attacker-accounts-server", "repeated-code", "repeated-state", "oversize-query",
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_token_request(
    cb: CallbackHarness, mangle: Any, status: int, reason: str
) -> None:
    query = mangle(_good_query(cb))
    before = cb.snapshot()
    answer = cb.call(query)
    assert_refused_cleanly(cb, answer, before, status)
    assert reason in answer["body"]
    assert cb.token_requests() == []
    assert cb.outcomes == [reason]


def test_state_from_another_stack_is_refused(cb: CallbackHarness) -> None:
    from zoho_aep.domain.links import LinkState

    query = _with(_good_query(cb), state=LinkState.new("acme", "prod", cb.clock()).sign("some-other-stacks-key-000000"))
    before = cb.snapshot()
    answer = cb.call(query)
    assert_refused_cleanly(cb, answer, before, 400)
    assert "state-signature-invalid" in answer["body"] and cb.token_requests() == []


def test_expired_state_is_refused_before_any_token_request(cb: CallbackHarness) -> None:
    query = _good_query(cb)
    cb.clock.advance(16 * 60)
    before = cb.snapshot()
    answer = cb.call(query)
    assert_refused_cleanly(cb, answer, before, 400)
    assert "state-expired" in answer["body"] and cb.token_requests() == []


def test_reused_state_is_refused_before_any_token_request(cb: CallbackHarness) -> None:
    query = _good_query(cb)
    assert cb.call(query)["statusCode"] == 200
    cb.events.events.clear()
    before, requests_before = cb.snapshot(), len(cb.token_requests())
    answer = cb.call(query)  # a reload of the callback page
    assert_refused_cleanly(cb, answer, before, 400)
    assert "state-reused" in answer["body"]
    assert len(cb.token_requests()) == requests_before


def test_declined_consent_shows_a_page_and_stores_nothing(cb: CallbackHarness) -> None:
    query = cb.consent(cb.link("acme"), accept=False)
    assert _query(query)["error"] == "access_denied"
    before = cb.snapshot()
    answer = cb.call(query)
    assert 200 <= answer["statusCode"] < 500 and "declined" in answer["body"].lower()
    assert cb.snapshot() == before and cb.events.events == [] and cb.token_requests() == []


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_methods_other_than_get_get_a_405_page(cb: CallbackHarness, method: str) -> None:
    query = _good_query(cb)
    before = cb.snapshot()
    answer = cb.call(query, method=method)
    assert_refused_cleanly(cb, answer, before, 405)
    assert answer["headers"]["Allow"] == "GET"
    assert cb.token_requests() == []


def test_a_sandbox_change_on_reauthorization_is_refused_before_zoho(cb: CallbackHarness) -> None:
    cb.connect("acme", sandbox="prod")
    cb.events.events.clear()
    query = cb.consent(cb.link("acme", sandbox="dev"))
    before, requests_before = cb.snapshot(), len(cb.token_requests())
    answer = cb.call(query)
    assert_refused_cleanly(cb, answer, before, 409)
    assert len(cb.token_requests()) == requests_before


# ---- Zoho's answers that cannot be used --------------------------------------------------------
def test_invalid_code_in_http_200_is_refused_and_changes_nothing(cb: CallbackHarness) -> None:
    query = _with(_good_query(cb), code="1000." + "0" * 32 + "." + "1" * 32)
    before = cb.snapshot()
    answer = cb.call(query)
    assert_refused_cleanly(cb, answer, before, 400)
    assert "zoho-code-invalid" in answer["body"]


def test_a_spent_code_is_refused(cb: CallbackHarness) -> None:
    query = _good_query(cb)
    code = _query(query)["code"]
    cb.zoho.inject(Fault("/oauth/v2/token", kind="status", status=200, body={"error": "invalid_code"}))
    before = cb.snapshot()
    answer = cb.call(query)
    assert_refused_cleanly(cb, answer, before)
    assert code not in answer["body"]


def test_token_answer_without_refresh_token_is_refused(cb: CallbackHarness) -> None:
    query = _good_query(cb)
    cb.zoho.override_next_token_response(refresh_token=None)
    before = cb.snapshot()
    answer = cb.call(query)
    assert 400 <= answer["statusCode"] < 600 and "zoho-refresh-token-missing" in answer["body"]
    assert cb.snapshot() == before and cb.events.events == []


def test_api_domain_outside_the_data_center_is_refused_and_the_token_revoked(cb: CallbackHarness) -> None:
    query = _good_query(cb)
    cb.zoho.override_next_token_response(api_domain="https://www.zohoapis.attacker.example")
    before = cb.snapshot()
    answer = cb.call(query)
    assert 400 <= answer["statusCode"] < 600 and "zoho-api-domain-invalid" in answer["body"]
    assert cb.snapshot() == before and cb.events.events == []
    (revoke,) = cb.zoho.calls("/oauth/v2/token/revoke")
    assert revoke.server == cb.zoho.accounts_url("us") and revoke.query_string == ""
    assert cb.zoho.refresh_token_info(revoke.form["token"])["revoked"] is True
    assert cb.zoho.calls("/crm/v8/org") == []  # the token never went to the foreign host


@pytest.mark.parametrize("fault", ["status-500", "status-503", "hang"])
def test_zoho_outage_is_retried_a_few_times_then_reported(cb: CallbackHarness, fault: str) -> None:
    query = _good_query(cb)
    if fault == "hang":
        cb.zoho.inject(Fault("/oauth/v2/token", kind="hang", seconds=1.0), times=5)
    else:
        cb.zoho.inject(Fault("/oauth/v2/token", kind="status", status=int(fault[-3:]), body={}), times=5)
    before = cb.snapshot()
    answer = cb.call(query)
    assert 500 <= answer["statusCode"] < 600 and "zoho-unavailable" in answer["body"]
    assert cb.snapshot() == before and cb.events.events == []
    assert 1 < len(cb.token_requests()) <= 3


def test_org_lookup_refused_for_scope_is_reported_and_the_token_revoked(cb: CallbackHarness) -> None:
    query = cb.consent(cb.link("acme", scopes="ZohoCRM.modules.READ"))
    before = cb.snapshot()
    answer = cb.call(query)
    assert 400 <= answer["statusCode"] < 600 and "zoho-scope-mismatch" in answer["body"]
    assert cb.snapshot() == before and cb.events.events == []
    (revoke,) = cb.zoho.calls("/oauth/v2/token/revoke")
    assert cb.zoho.refresh_token_info(revoke.form["token"])["revoked"] is True


def test_unconfigured_zoho_client_is_an_operator_error_page(cb: CallbackHarness) -> None:
    cb.sm.put_secret_value(SecretId="zoho-aep/zoho-client", SecretString="{}")
    query = _good_query(cb)
    before = cb.snapshot()
    answer = cb.call(query)
    assert answer["statusCode"] == 500 and "zoho-client-not-configured" in answer["body"]
    assert cb.snapshot() == before and cb.token_requests() == []


def test_an_unexpected_bug_still_ends_as_a_page_without_a_trace(
    cb: CallbackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cb.deps.store, "get", lambda name: 1 / 0)
    answer = cb.call(_good_query(cb))
    assert answer["statusCode"] == 500 and "Traceback" not in answer["body"] and "internal-error" in answer["body"]


def test_a_failing_tag_write_after_a_stored_reauthorization_still_succeeds_and_says_so(
    cb: CallbackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoho_aep.domain.errors import StoreError

    cb.connect("acme")
    cb.events.events.clear()

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise StoreError("tagging refused")

    monkeypatch.setattr(cb.store, "set_tags", refuse)
    answer = cb.connect("acme")
    assert answer["statusCode"] == 200
    assert cb.events.events and cb.events.events[0][1]["reauthorized"] is True
    assert any('"outcome":"tags-not-updated"' in line for line in cb.log.lines)
    assert cb.zoho.refresh_token_info(cb.secret()["refresh_token"])["revoked"] is False


def test_an_unexpected_failure_after_the_exchange_revokes_the_new_token(
    cb: CallbackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cb.store, "write", explode)
    answer = cb.connect("acme")
    assert answer["statusCode"] == 500
    (revoke,) = cb.zoho.calls("/oauth/v2/token/revoke")
    assert cb.zoho.refresh_token_info(revoke.form["token"])["revoked"] is True


# ---- Zoho's 20 refresh tokens per user and client ------------------------------------------------
US_ADMIN = "admin@acme.example"


def _connect_many(cb: CallbackHarness, names: list[str], user: str = US_ADMIN) -> list[str]:
    outcomes = []
    for name in names:
        cb.clock.advance(61)  # Zoho allows 10 grant codes per client per 10 minutes
        cb.connect(name, user=user)
        outcomes.append(cb.outcomes[-1])
    return outcomes


def test_the_consent_that_would_give_one_zoho_user_twenty_connections_is_refused_and_revoked(
    cb: CallbackHarness,
) -> None:
    names = [f"conn-{i:02d}" for i in range(19)]
    assert _connect_many(cb, names) == ["connected"] * 19
    before = cb.snapshot()
    cb.clock.advance(61)

    answer = cb.connect("conn-19", user=US_ADMIN)

    assert (answer["statusCode"], cb.outcomes[-1]) == (409, "zoho-user-token-limit")
    assert cb.snapshot() == before
    live = set(cb.zoho.live_refresh_tokens(CLIENT_ID, US_ADMIN))
    assert len(live) == 19 and {cb.secret(n)["refresh_token"] for n in names} == live, "no live token evicted"


def test_a_reconsent_of_a_connection_the_user_holds_is_not_another_connection(cb: CallbackHarness) -> None:
    names = [f"conn-{i:02d}" for i in range(19)]
    _connect_many(cb, names)
    cb.clock.advance(61)

    assert cb.connect("conn-00", user=US_ADMIN)["statusCode"] == 200
    assert cb.events.events[-1][1]["zoho_user_connections"] == 19


def test_connections_of_other_users_and_those_needing_reauth_do_not_count(cb: CallbackHarness) -> None:
    _connect_many(cb, [f"conn-{i:02d}" for i in range(18)])
    _connect_many(cb, ["eu-conn"], user="admin@acme-eu.example")
    cb.store.set_tags("conn-00", {"zoho-aep:status": "needs-reauth"})

    assert _connect_many(cb, ["conn-18", "conn-19"]) == ["connected", "connected"]
    assert cb.events.events[-1][1]["zoho_user_connections"] == 19


def test_consents_near_the_limit_say_so_in_the_log_and_the_event(cb: CallbackHarness) -> None:
    _connect_many(cb, [f"conn-{i:02d}" for i in range(15)])

    near = [json.loads(line) for line in cb.log.lines if '"zoho-user-token-limit-near"' in line]
    assert [(r["connection"], r["zoho_user_connections"], r["limit"]) for r in near] == [("conn-14", 15, 19)]
    assert [detail["zoho_user_connections"] for _, detail in cb.events.events] == list(range(1, 16))


def test_the_operator_may_allow_a_consent_past_the_limit_and_is_warned(cb: CallbackHarness) -> None:
    cb.deps.settings = replace(cb.deps.settings, allow_token_eviction=True)
    _connect_many(cb, [f"conn-{i:02d}" for i in range(19)])

    assert _connect_many(cb, ["conn-19"]) == ["connected"]
    (warning,) = [json.loads(line) for line in cb.log.lines if '"outcome":"zoho-user-token-limit"' in line]
    assert (warning["connection"], warning["zoho_user_connections"]) == ("conn-19", 20)


def test_a_consent_without_the_users_scope_is_refused_and_revoked(cb: CallbackHarness) -> None:
    query = cb.consent(cb.link("acme", scopes="ZohoCRM.modules.READ,ZohoCRM.org.READ"))
    before = cb.snapshot()

    answer = cb.call(query)

    assert_refused_cleanly(cb, answer, before, 403)
    assert cb.outcomes == ["zoho-scope-mismatch"] and cb.zoho.live_refresh_tokens(CLIENT_ID) == []


def test_a_requests_own_values_cannot_mask_words_in_later_log_lines(cb: CallbackHarness) -> None:
    """Found by make proof-full: an unsigned request's code was remembered as a secret, and masked
    wherever it appeared afterwards, outcome codes of other requests included."""
    import json

    cb.call(urlencode({"state": "not-signed", "code": "query-too-large", "location": "us"}))
    cb.call(urlencode({"pad": "A" * 9000}))

    outcomes = [json.loads(line)["outcome"] for line in cb.log.lines if "callback outcome" in line]
    assert outcomes[-1] == "query-too-large"
