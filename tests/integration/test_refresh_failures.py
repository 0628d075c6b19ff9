"""How a refresh fails: each failure class ends in the right status, tags and event, and no other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.emulators.base import Fault
from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.fakes import FakeClock
from tests.support.refresh_world import TOKEN_PATH, RefreshWorld
from zoho_aep.domain import events as ev
from zoho_aep.domain.connection import STATUS_ACTIVE, STATUS_NEEDS_REAUTH, STATUS_REFRESH_FAILING
from zoho_aep.usecases.refresh.policy import ZOHO_WINDOW_SECONDS

MINUTE = 60
DUE = 41 * MINUTE  # 19 minutes left: due, and outlives the next cycle (10 minutes)
DYING = 52 * MINUTE  # 8 minutes left: expires before the next cycle
LOCALIZED_THROTTLING = "您的请求过于频繁，请稍后再试。"  # noqa: RUF001 - Zoho's own punctuation


@pytest.fixture
def world(sm: Any, app_secrets_seeded: dict[str, Any], zoho: Any, clock: FakeClock) -> Iterator[RefreshWorld]:
    bench = RefreshWorld(sm, zoho, clock)
    yield bench
    bench.close()


def _status(world: RefreshWorld, name: str = "acme") -> str:
    return world.tags(name)["zoho-aep:status"]


# ---- refused for good: needs-reauth --------------------------------------------------------------
def test_revoked_consent_marks_needs_reauth_with_an_event(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.clock.advance(DUE)
    access_before = world.value("acme")["access_token"]
    world.zoho.revoke_consent(tokens.refresh_token)

    report = world.cycle()

    outcome = report.outcome_of("acme")
    assert (outcome.outcome, outcome.reason) == ("needs-reauth", "zoho-consent-revoked")
    tags = world.tags("acme")
    assert tags["zoho-aep:status"] == STATUS_NEEDS_REAUTH
    assert tags["zoho-aep:last-error"] == "zoho-consent-revoked"
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == [{"connection": "acme", "reason_code": "zoho-consent-revoked"}]
    value = world.value("acme")
    assert value["last_refresh_error"] == "zoho-consent-revoked"
    assert value["access_token"] == access_before and value["refresh_token"] == tokens.refresh_token


def test_a_deleted_client_marks_needs_reauth_with_an_event(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.delete_client(CLIENT_ID)

    world.cycle()

    assert _status(world) == STATUS_NEEDS_REAUTH
    assert world.tags("acme")["zoho-aep:last-error"] == "zoho-client-invalid"
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == [{"connection": "acme", "reason_code": "zoho-client-invalid"}]


def test_a_connection_authorized_for_another_client_needs_reauth_without_asking_zoho(world: RefreshWorld) -> None:
    world.consent("acme")
    world.edit("acme", client_id="1000.AN-OLD-CLIENT")
    world.clock.advance(DUE)

    world.cycle()

    assert _status(world) == STATUS_NEEDS_REAUTH
    assert world.tags("acme")["zoho-aep:last-error"] == "zoho-client-changed"
    assert world.refresh_calls() == []


def test_needs_reauth_is_skipped_by_later_cycles_without_calling_zoho(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.revoke_consent(tokens.refresh_token)
    world.cycle()
    calls = len(world.refresh_calls())

    world.clock.advance(30 * MINUTE)
    later = world.cycle()
    forced = world.cycle(force=True)

    assert later.outcome_of("acme").reason == forced.outcome_of("acme").reason == "needs-reauth"
    assert len(world.refresh_calls()) == calls
    assert len(world.events_of(ev.NEEDS_REAUTHORIZATION)) == 1
    assert later.needing_reauthorization == 1


def test_a_new_consent_resets_needs_reauth_and_refreshing_resumes(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.revoke_consent(tokens.refresh_token)
    world.cycle()

    fresh = world.consent("acme")
    assert _status(world) == STATUS_ACTIVE
    assert "last_refresh_error" not in world.value("acme") and "zoho-aep:last-error" not in world.tags("acme")
    world.clock.advance(DUE)
    report = world.cycle()

    assert report.outcome_of("acme").outcome == "refreshed"
    assert world.value("acme")["refresh_token"] == fresh.refresh_token


def test_a_forced_named_retry_after_fixing_the_client_recovers_a_needs_reauth_connection(
    world: RefreshWorld, sm: Any
) -> None:
    world.consent("eu-org", dc="eu")
    world.clock.advance(DUE)
    # The operator pasted the wrong EU secret: Zoho answers invalid_client_secret.
    broken = {"client_id": CLIENT_ID, "client_secret": "x-shared", "client_secrets": {"eu": "wrong-eu-secret"}}
    good = sm.get_secret_value(SecretId=f"{PREFIX}/zoho-client")["SecretString"]
    sm.put_secret_value(SecretId=f"{PREFIX}/zoho-client", SecretString=json.dumps(broken))
    world.cycle()
    assert _status(world, "eu-org") == STATUS_NEEDS_REAUTH

    sm.put_secret_value(SecretId=f"{PREFIX}/zoho-client", SecretString=good)
    report = world.cycle(force=True, names=["eu-org"])

    assert report.outcome_of("eu-org").outcome == "refreshed"
    assert _status(world, "eu-org") == STATUS_ACTIVE
    assert world.events_of(ev.CONNECTION_RECOVERED) == [{"connection": "eu-org"}]


def test_a_consent_landing_while_needs_reauth_is_tagged_wins(world: RefreshWorld, sm: Any) -> None:
    tokens = world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.revoke_consent(tokens.refresh_token)
    raced: dict[str, Any] = {}

    def consent_first(params: dict[str, Any], **kwargs: Any) -> None:
        # The callback stores a new consent and tags it active just before our needs-reauth tags land.
        marks = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        if marks.get("zoho-aep:status") == STATUS_NEEDS_REAUTH and "tokens" not in raced:
            raced["tokens"] = None
            raced["tokens"] = world.consent("acme")

    sm.meta.events.register("before-parameter-build.secrets-manager.TagResource", consent_first)
    try:
        report = world.cycle()
    finally:
        sm.meta.events.unregister("before-parameter-build.secrets-manager.TagResource", consent_first)

    assert raced["tokens"] is not None
    assert report.outcome_of("acme").outcome == "superseded"
    assert _status(world) == STATUS_ACTIVE and "zoho-aep:last-error" not in world.tags("acme")
    assert world.value("acme")["refresh_token"] == raced["tokens"].refresh_token
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == []


# ---- throttling: back off for Zoho's window ------------------------------------------------------
@pytest.mark.parametrize("http_status", [200, 400])
def test_throttling_backs_off_for_zohos_window_at_any_http_status(world: RefreshWorld, http_status: int) -> None:
    world.consent("acme")
    world.zoho.error_status = http_status
    world.zoho.throttle_next()

    report = world.cycle(force=True)

    outcome = report.outcome_of("acme")
    retry_after = int(world.clock()) + ZOHO_WINDOW_SECONDS
    assert (outcome.outcome, outcome.reason, outcome.retry_after) == ("throttled", "zoho-throttled", retry_after)
    tags = world.tags("acme")
    assert tags["zoho-aep:retry-after"] == str(retry_after)
    assert tags["zoho-aep:last-error"] == "zoho-throttled"
    assert tags["zoho-aep:status"] == STATUS_ACTIVE  # 60 minutes left: a passing failure kills nothing
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"error": "Access Denied", "error_description": LOCALIZED_THROTTLING},
        {"error": "访问被拒绝", "error_description": LOCALIZED_THROTTLING},
    ],
    ids=["localized-description", "localized-error"],
)
def test_localized_throttling_text_is_recognised(world: RefreshWorld, answer: dict[str, str]) -> None:
    world.consent("acme")
    world.zoho.inject(Fault(TOKEN_PATH, status=200, body=answer))

    report = world.cycle(force=True)

    assert report.outcome_of("acme").outcome == "throttled"
    assert "zoho-aep:retry-after" in world.tags("acme")


def test_an_immediate_second_cycle_after_throttling_sends_nothing_to_zoho(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.throttle_next()
    world.cycle()
    calls = len(world.zoho.calls(TOKEN_PATH))
    world.secret_reads.clear()

    again = world.cycle()
    forced = world.cycle(force=True, names=["acme"])

    assert again.outcome_of("acme").reason == forced.outcome_of("acme").reason == "backing-off"
    assert len(world.zoho.calls(TOKEN_PATH)) == calls
    assert world.secret_reads[f"{PREFIX}/connections/acme"] == 0  # the retry-after tag alone decides


def test_after_the_back_off_the_connection_refreshes_and_recovers(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.throttle_next()
    world.cycle()

    world.clock.advance(ZOHO_WINDOW_SECONDS)
    report = world.cycle()

    assert report.outcome_of("acme").outcome == "refreshed"
    tags = world.tags("acme")
    assert "zoho-aep:retry-after" not in tags and "zoho-aep:last-error" not in tags
    assert "throttled_until" not in world.value("acme")
    assert world.events_of(ev.CONNECTION_RECOVERED) == [{"connection": "acme"}]


def test_throttling_of_a_token_that_dies_before_the_next_attempt_marks_refresh_failing(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)  # 19 minutes left; the next attempt is 10 minutes of back-off plus a cycle away
    world.zoho.throttle_next()

    world.cycle()

    assert _status(world) == STATUS_REFRESH_FAILING


# ---- passing failures: 5xx, timeouts, malformed answers ------------------------------------------
def test_a_5xx_is_retried_within_the_cycle_and_then_succeeds(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.inject(Fault(TOKEN_PATH, status=503, body={"message": "busy"}))

    report = world.cycle()

    assert report.outcome_of("acme").outcome == "refreshed"
    assert len(world.refresh_calls()) == 2
    assert _status(world) == STATUS_ACTIVE


def test_a_timeout_is_retried_within_the_cycle_and_then_succeeds(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.inject(Fault(TOKEN_PATH, kind="hang", seconds=0.6))

    report = world.cycle()

    assert report.outcome_of("acme").outcome == "refreshed"


def test_a_non_json_answer_is_retried_once_and_then_succeeds(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.inject(Fault(TOKEN_PATH, kind="garbage", status=200))

    report = world.cycle()

    assert report.outcome_of("acme").outcome == "refreshed"
    assert len(world.refresh_calls()) == 2


@pytest.mark.parametrize(
    ("fault", "times", "reason"),
    [
        (Fault(TOKEN_PATH, status=502, body={"message": "bad gateway"}), 3, "zoho-unavailable"),
        (Fault(TOKEN_PATH, kind="hang", seconds=0.6), 3, "zoho-unavailable"),
        (Fault(TOKEN_PATH, kind="garbage", status=200), 2, "zoho-response-invalid"),
    ],
    ids=["5xx", "timeout", "non-json"],
)
def test_a_passing_failure_never_marks_a_healthy_connection_dead(
    world: RefreshWorld, fault: Fault, times: int, reason: str
) -> None:
    world.consent("acme")
    world.clock.advance(DUE)  # 19 minutes left: the next cycle can still refresh it
    access_before = world.value("acme")["access_token"]
    world.zoho.inject(fault, times=times)

    report = world.cycle()

    outcome = report.outcome_of("acme")
    assert (outcome.outcome, outcome.reason) == ("failed", reason)
    tags = world.tags("acme")
    assert tags["zoho-aep:status"] == STATUS_ACTIVE
    assert tags["zoho-aep:last-error"] == reason
    assert "zoho-aep:retry-after" not in tags
    assert world.value("acme")["access_token"] == access_before
    assert world.value("acme")["refresh_failures"] == 1
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == []


def test_a_passing_failure_marks_refresh_failing_only_when_the_token_dies_before_the_next_cycle(
    world: RefreshWorld,
) -> None:
    world.consent("acme")
    world.clock.advance(DYING)
    world.zoho.inject(Fault(TOKEN_PATH, status=500, body={}), times=3)

    world.cycle()

    assert _status(world) == STATUS_REFRESH_FAILING
    assert world.tags("acme")["zoho-aep:last-error"] == "zoho-unavailable"
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == []


def test_a_success_after_refresh_failing_is_active_again_with_a_recovery_event(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DYING)
    world.zoho.inject(Fault(TOKEN_PATH, status=500, body={}), times=3)
    world.cycle()

    world.clock.advance(5 * MINUTE)
    report = world.cycle()

    assert report.outcome_of("acme").recovered
    tags = world.tags("acme")
    assert tags["zoho-aep:status"] == STATUS_ACTIVE and "zoho-aep:last-error" not in tags
    assert "refresh_failures" not in world.value("acme")
    assert world.events_of(ev.CONNECTION_RECOVERED) == [{"connection": "acme"}]


# ---- isolation and cycle-wide failures -----------------------------------------------------------
def test_one_connections_failure_never_stops_the_others(world: RefreshWorld, sm: Any) -> None:
    world.zoho.add_org("us", "700003", "Beta", user="admin@beta.example")
    revoked = world.consent("revoked")
    world.consent("corrupt")
    world.consent("tampered")
    world.consent("healthy", user="admin@beta.example")
    world.clock.advance(DUE)
    world.zoho.revoke_consent(revoked.refresh_token)
    sm.put_secret_value(SecretId=f"{PREFIX}/connections/corrupt", SecretString="not json")
    world.edit("tampered", accounts_url="https://evil.example")

    report = world.cycle()

    outcomes = {o.connection: (o.outcome, o.reason) for o in report.outcomes}
    assert outcomes == {
        "revoked": ("needs-reauth", "zoho-consent-revoked"),
        "corrupt": ("error", "connection-secret-invalid"),
        "tampered": ("error", "accounts-server-mismatch"),
        "healthy": ("refreshed", None),
    }
    assert world.tags("corrupt")["zoho-aep:last-error"] == "connection-secret-invalid"


def test_a_tampered_accounts_server_never_receives_the_client_secret(world: RefreshWorld) -> None:
    world.consent("acme")
    world.edit("acme", accounts_url=world.zoho.accounts_url("eu"))  # a real server, but not acme's
    world.clock.advance(DUE)

    world.cycle()

    assert world.refresh_calls() == []
    assert world.tags("acme")["zoho-aep:last-error"] == "accounts-server-mismatch"


@pytest.mark.parametrize(
    ("client_secret", "reason"),
    [(None, "app-secret-missing"), ("{}", "zoho-client-not-configured")],
    ids=["missing", "unconfigured"],
)
def test_a_missing_zoho_client_secret_is_one_clear_error_for_the_cycle(
    world: RefreshWorld, sm: Any, client_secret: str | None, reason: str
) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    tags_before = world.tags("acme")
    if client_secret is None:
        sm.delete_secret(SecretId=f"{PREFIX}/zoho-client", ForceDeleteWithoutRecovery=True)
    else:
        sm.put_secret_value(SecretId=f"{PREFIX}/zoho-client", SecretString=client_secret)

    report = world.cycle()

    assert report.error is not None and report.error.code == reason
    assert report.as_dict()["status"] == "error"
    assert report.outcomes == []
    assert world.refresh_calls() == []
    assert world.tags("acme") == tags_before
    assert [r["reason"] for r in world.log_records() if r.get("outcome") == "cycle-failed"] == [reason]


def test_a_failure_that_repeats_every_cycle_adds_no_secret_version(world: RefreshWorld, sm: Any) -> None:
    world.consent("acme")
    world.edit("acme", accounts_url="https://evil.example")  # refused every cycle, without calling Zoho
    name = f"{PREFIX}/connections/acme"
    world.cycle(force=True)
    versions = len(sm.list_secret_version_ids(SecretId=name)["Versions"])

    for _ in range(12):
        world.clock.advance(600)
        world.cycle(force=True)

    assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == versions
    assert world.tags("acme")["zoho-aep:last-error"] == "accounts-server-mismatch"
