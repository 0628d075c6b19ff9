"""Injected faults: each dependency of each function fails in each way; nothing is lost, retries stop.

One table per function. A row names a dependency call and how it fails: Zoho or Adobe answering 5xx,
timing out, dropping the connection, answering slowly, with garbage or with a huge body (the
emulators' faults); Secrets Manager throttling, failing or timing out on a read, a write, the
stage move or a tag; EventBridge refusing an event (botocore's own hooks, so its retries run as in
production). For every row:

- the outcome is the row's (page and code, refresh outcome, provisioning reason and retryability);
- the faulted dependency was called exactly as often as the retry policy allows, never more;
- what happened is logged with that code;
- no refresh token is lost: the connection's token is still the one Zoho issued last and still live,
  and a token issued during a failed attempt is revoked rather than left behind;
- the next attempt, with the dependency healthy again, repairs everything (one base connection in
  AEP with the current tokens, every replaced token revoked, tags that match the secret).

Timeouts are production's retry policies with shorter waits: the attempts are the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from local.emulators.adobe import FLOW_PREFIX, IMS_TOKEN_PATH
from local.emulators.base import Emulator, Fault
from tests.proof.figures import FIGURES
from tests.support.aep import Bench, adobe_fixture, bench_fixture  # noqa: F401
from tests.support.aws_faults import AwsFault, AwsFaults, no_backoff
from tests.support.callback import CallbackHarness
from tests.support.constants import CLIENT_ID
from tests.support.fakes import FakeClock
from tests.support.leaks import LeakHunt
from tests.support.refresh_world import RefreshWorld
from zoho_aep.adapters import aws
from zoho_aep.adapters.events import EventBridgePublisher
from zoho_aep.adapters.http import HttpClient, RetryPolicy
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.domain import events as ev
from zoho_aep.domain.times import epoch_of as _epoch
from zoho_aep.wiring import ADOBE_POLICY, CALLBACK_POLICY, REFRESH_POLICY

TOKEN = "/oauth/v2/token"
REVOKE = "/oauth/v2/token/revoke"
ORG = "/crm/v8/org"
USERS = "/crm/v8/users"
SPEC = FLOW_PREFIX + "/connectionSpecs"
CONNECTIONS = FLOW_PREFIX + "/connections"
HANG = 0.6  # longer than the shortened read timeout below
SLOW = 0.05  # well within it, even on a busy machine
# The product's boto3 clients retry 4 times in standard mode (zoho_aep.aws): 5 attempts in all.
AWS_ATTEMPTS = 5
MINUTE = 60


def garbled_gzip(path: str) -> Fault:
    """A body that is not what its Content-Encoding says: requests raised ContentDecodingError, untyped."""
    return Fault(path, status=200, body=b"not gzip at all", headers={"Content-Encoding": "gzip"})


def header_breaking(path: str) -> Fault:
    """A token answer whose access token would break the header it goes into (InvalidHeader, untyped)."""
    return Fault(path, status=200, body={"access_token": "1000.a\r\nX-Injected: 1", "expires_in": 3600})


def shortened(policy: RetryPolicy) -> RetryPolicy:
    """``policy``'s attempts and retry rules, with waits short enough for a test suite."""
    return policy.with_(connect_timeout=0.5, read_timeout=0.4, deadline=5.0, backoff_base=0.0, backoff_cap=0.0)


# ---- injections -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Http:
    """An emulator fault for the next ``times`` matching requests."""

    service: str  # "zoho" | "adobe"
    fault: Fault
    times: int = 8


@dataclass(frozen=True)
class Aws:
    """Botocore-level faults on the product's shared client for ``service`` (calls are counted for
    the first one's target)."""

    service: str  # "secretsmanager" | "events" | "s3" | "sqs"
    fault: AwsFault
    more: tuple[AwsFault, ...] = ()


Injection = Http | Aws


class Injector:
    """Plays one injection into a world; says how often the dependency was called and faulted."""

    def __init__(
        self, emulators: dict[str, Emulator], services: tuple[str, ...] = ("secretsmanager", "events")
    ) -> None:
        self.emulators = emulators
        self.aws = {name: AwsFaults(aws.client(name)) for name in services}
        self.injection: Injection | None = None
        self._before = 0

    def close(self) -> None:
        for faults in self.aws.values():
            faults.close()

    def apply(self, injection: Injection) -> None:
        self.injection = injection
        if isinstance(injection, Http):
            emulator = self.emulators[injection.service]
            self._before = self._matching(emulator, injection.fault)
            emulator.inject(injection.fault, times=injection.times)
        else:
            self._before = self.aws[injection.service].calls_for(injection.fault)
            for fault in (injection.fault, *injection.more):
                self.aws[injection.service].add(fault)

    def calls(self) -> int:
        """Calls the faulted dependency got since the injection (retries included)."""
        injection = self.injection
        assert injection is not None
        if isinstance(injection, Http):
            return self._matching(self.emulators[injection.service], injection.fault) - self._before
        return self.aws[injection.service].calls_for(injection.fault) - self._before

    def faulted(self) -> int:
        injection = self.injection
        assert injection is not None
        if isinstance(injection, Http):
            left = sum(1 for f in self.emulators[injection.service].faults if f is injection.fault)
            return injection.times - left
        return self.aws[injection.service].injected

    def clear(self) -> None:
        for emulator in self.emulators.values():
            emulator.faults.clear()
        for faults in self.aws.values():
            faults.clear()

    @staticmethod
    def _matching(emulator: Emulator, fault: Fault) -> int:
        return sum(1 for request in emulator.calls() if fault.matches(request))


class PublishedEvents(EventBridgePublisher):
    """The production publisher (moto's EventBridge behind it), remembering what got out."""

    def __init__(self) -> None:
        super().__init__("default")
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: Any) -> None:
        super().publish(detail_type, detail)
        self.events.append((detail_type, dict(detail)))


def logged_codes(lines: list[str]) -> set[str]:
    """Every code a log line carries as its outcome or reason."""
    codes: set[str] = set()
    for line in lines:
        record = json.loads(line)
        codes.update(str(record[k]) for k in ("outcome", "reason") if record.get(k))
    return codes


def lost_tokens(value: dict[str, Any] | None, live: set[str]) -> list[str]:
    """Refresh tokens the connection holds (current, replaced, queued for revocation) that Zoho no
    longer honours: a token lost. Each one found is counted in the figures."""
    if value is None:
        return []
    pending = value.get("revoke_pending") or []
    held = [value.get("refresh_token"), value.get("replaced_refresh_token"), *pending]
    lost = [t for t in held if isinstance(t, str) and t not in live]
    FIGURES.add(tokens_lost=len(lost))
    return lost


def settle(function: str, injector: Injector) -> int:
    """After the act: count the case, heal the dependency (so looking does not meet the fault), and
    return how often the faulted dependency was called."""
    calls = injector.calls()
    FIGURES.add(fault_cases=1, faulted_calls=injector.faulted())
    FIGURES.faults_by_function[function] += 1
    injector.clear()
    return calls


@pytest.fixture
def backoff() -> Iterator[list[float]]:
    with no_backoff() as delays:
        yield delays


# ---- the OAuth callback -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallbackCase:
    id: str
    injection: Injection
    code: str
    status: int
    calls: int
    completed: bool = False  # the new tokens are stored
    published: bool = False  # the authorized event got out
    reauth: bool = False  # the connection exists already (a re-authorization)
    logged: str | None = None  # the code in the log, when it is not the page's


def _sm(operation: str, kind: str = "throttle", **more: Any) -> Aws:
    return Aws("secretsmanager", AwsFault(operation, kind, **more))


def _sm_lost(operation: str, then: str | None = None) -> Aws:
    """AWS carries ``operation`` out but its answer is lost; the retries then meet ``then``, if given."""
    lost = AwsFault(operation, "lost", times=1)
    return Aws("secretsmanager", lost, (AwsFault(operation, then, skip=1),) if then else ())


CALLBACK_CASES = [
    CallbackCase("zoho-token-5xx", Http("zoho", Fault(TOKEN, status=500)), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-token-5xx-once", Http("zoho", Fault(TOKEN, status=503), 1), "connected", 200, 2, True, True),
    CallbackCase("zoho-token-timeout", Http("zoho", Fault(TOKEN, "hang", seconds=HANG)), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-token-reset", Http("zoho", Fault(TOKEN, "reset")), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-token-slow", Http("zoho", Fault(TOKEN, "delay", seconds=SLOW)), "connected", 200, 1, True, True),
    CallbackCase(
        "zoho-token-garbage", Http("zoho", Fault(TOKEN, "garbage", status=200)), "zoho-response-invalid", 502, 1
    ),
    CallbackCase("zoho-token-huge", Http("zoho", Fault(TOKEN, "huge")), "zoho-unavailable", 503, 1),
    CallbackCase("zoho-token-garbled-gzip", Http("zoho", garbled_gzip(TOKEN)), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-token-breaks-a-header", Http("zoho", header_breaking(TOKEN)), "zoho-response-invalid", 502, 1),
    CallbackCase("zoho-org-5xx", Http("zoho", Fault(ORG, status=500)), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-org-timeout", Http("zoho", Fault(ORG, "hang", seconds=HANG)), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-org-reset", Http("zoho", Fault(ORG, "reset")), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-org-garbage", Http("zoho", Fault(ORG, "garbage", status=200)), "zoho-response-invalid", 502, 1),
    CallbackCase("zoho-org-huge", Http("zoho", Fault(ORG, "huge")), "zoho-unavailable", 503, 1),
    CallbackCase("zoho-org-garbled-gzip", Http("zoho", garbled_gzip(ORG)), "zoho-unavailable", 503, 3),
    CallbackCase("zoho-user-5xx", Http("zoho", Fault(USERS, status=500)), "zoho-unavailable", 503, 3),
    CallbackCase(
        "zoho-user-garbage", Http("zoho", Fault(USERS, "garbage", status=200)), "zoho-response-invalid", 502, 1
    ),
    # Counting the user's connections (tags only) must work, or the consent is refused and revoked.
    CallbackCase("sm-list-user-connections-throttled", _sm("ListSecrets"), "secret-store-error", 500, AWS_ATTEMPTS),
    CallbackCase(
        "sm-get-state-key-throttled",
        _sm("GetSecretValue", secret="/state-key"),
        "secret-store-error",
        500,
        AWS_ATTEMPTS,
    ),
    CallbackCase(
        "sm-get-zoho-client-error",
        _sm("GetSecretValue", "error", secret="/zoho-client"),
        "secret-store-error",
        500,
        AWS_ATTEMPTS,
    ),
    CallbackCase(
        "sm-get-connection-timeout",
        _sm("GetSecretValue", "timeout", secret="/connections/"),
        "secret-store-error",
        500,
        AWS_ATTEMPTS,
    ),
    CallbackCase(
        "sm-get-connection-throttled-twice",
        _sm("GetSecretValue", secret="/connections/", times=2),
        "connected",
        200,
        4,  # the refusal checks' read (2 retries), then the write's own read
        True,
        True,
    ),
    CallbackCase("sm-create-throttled", _sm("CreateSecret"), "secret-store-error", 500, AWS_ATTEMPTS),
    CallbackCase("sm-create-denied", _sm("CreateSecret", "denied"), "secret-store-error", 500, 1),
    CallbackCase("sm-put-error", _sm("PutSecretValue", "error"), "secret-store-error", 500, AWS_ATTEMPTS, reauth=True),
    CallbackCase(
        "sm-stage-move-timeout",
        _sm("UpdateSecretVersionStage", "timeout"),
        "secret-store-error",
        500,
        AWS_ATTEMPTS,
        reauth=True,
    ),
    # Writes whose answer is lost after AWS carried them out: botocore retries with the same request.
    CallbackCase("sm-create-answer-lost", _sm_lost("CreateSecret"), "connected", 200, 2, True, True),
    CallbackCase("sm-put-answer-lost", _sm_lost("PutSecretValue"), "connected", 200, 2, True, True, reauth=True),
    CallbackCase(
        "sm-stage-move-answer-lost", _sm_lost("UpdateSecretVersionStage"), "connected", 200, 2, True, True, reauth=True
    ),
    # The stage move happened, then every retry timed out: the store cannot tell, so the new tokens
    # (which are stored) must not be revoked.
    CallbackCase(
        "sm-stage-move-answer-lost-then-timeouts",
        _sm_lost("UpdateSecretVersionStage", then="timeout"),
        "secret-store-error",
        500,
        AWS_ATTEMPTS,
        True,
        reauth=True,
    ),
    # Tags come after the value: the new tokens are stored, so the page says connected and the event
    # goes out; the tag write is tried twice and the failure is logged for the operator.
    CallbackCase(
        "sm-tag-throttled",
        _sm("TagResource"),
        "connected",
        200,
        2 * AWS_ATTEMPTS,
        True,
        True,
        True,
        logged="tags-not-updated",
    ),
    CallbackCase(
        "sm-untag-error",
        _sm("UntagResource", "error"),
        "connected",
        200,
        2 * AWS_ATTEMPTS,
        True,
        True,
        True,
        logged="tags-not-updated",
    ),
    CallbackCase(
        "events-put-throttled",
        Aws("events", AwsFault("PutEvents")),
        "connected",
        200,
        AWS_ATTEMPTS,
        True,
        logged="event-publish-failed",
    ),
    CallbackCase(
        "events-entry-failed",
        Aws("events", AwsFault("PutEvents", failed_entries=True)),
        "connected",
        200,
        1,
        True,
        logged="event-publish-failed",
    ),
]


@dataclass
class CallbackWorld:
    cb: CallbackHarness
    injector: Injector
    published: PublishedEvents = field(default_factory=PublishedEvents)

    def __post_init__(self) -> None:
        self.cb.deps.zoho = ZohoOAuthClient(HttpClient(shortened(CALLBACK_POLICY), sleep=lambda _s: None))
        self.cb.deps.events = self.published

    def live_tokens(self) -> set[str]:
        return set(self.cb.zoho.live_refresh_tokens(CLIENT_ID))

    def stored(self) -> dict[str, Any] | None:
        found = self.cb.store.get("acme")
        return found.connection.to_value() if found else None


@pytest.fixture
def callback_world(
    zoho: Any, sm: Any, app_secrets_seeded: Any, clock: FakeClock, backoff: list[float]
) -> Iterator[CallbackWorld]:
    harness = CallbackHarness(zoho=zoho, sm=sm, clock=clock)
    injector = Injector({"zoho": zoho})
    yield CallbackWorld(harness, injector)
    injector.close()
    harness.close()


@pytest.mark.parametrize("case", CALLBACK_CASES, ids=lambda c: c.id)
def test_the_callback_under_a_fault_loses_nothing_and_says_why(
    callback_world: CallbackWorld, case: CallbackCase, hunt: LeakHunt
) -> None:
    w, cb = callback_world, callback_world.cb
    if case.reauth:
        assert cb.connect("acme")["statusCode"] == 200
        cb.clock.advance(5 * MINUTE)
    query = cb.consent(cb.link("acme"))
    before, live_before, events_before = w.stored(), w.live_tokens(), len(w.published.events)
    w.injector.apply(case.injection)

    answer = cb.call(query)

    calls = settle("callback", w.injector)
    hunt.look_in("page", answer)
    hunt.look_in("log line", *cb.log.lines)
    assert (answer["statusCode"], cb.outcomes[-1]) == (case.status, case.code)
    assert calls == case.calls
    assert (case.logged or case.code) in logged_codes(cb.log.lines)
    after, live_after = w.stored(), w.live_tokens()
    new_live = live_after - live_before
    if case.completed:
        assert after is not None and new_live == {after["refresh_token"]}
        if before is not None:
            assert after["replaced_refresh_token"] == before["refresh_token"]
    else:
        assert after == before, "a failed callback must leave the connection as it was"
        assert new_live == set(), "a refresh token issued during a failed callback must be revoked"
    assert lost_tokens(after, live_after) == []
    published = w.published.events[events_before:]
    hunt.look_in("event", *published)
    assert [t for t, _ in published] == ([ev.CONNECTION_AUTHORIZED] if case.published else [])

    cb.clock.advance(5 * MINUTE)
    assert cb.connect("acme")["statusCode"] == 200, "the next link must work again"
    healed = w.stored()
    assert healed is not None and healed["refresh_token"] in w.live_tokens()
    assert cb.tags()["zoho-aep:status"] == "active"
    assert int(cb.tags()["zoho-aep:expires-at"]) == _epoch(healed["expires_at"])


# ---- the token refresh -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefreshCase:
    id: str
    injection: Injection
    outcome: str  # the connection's outcome, or "cycle-failed"
    reason: str | None
    calls: int
    refreshed: bool = False  # the new access token is in the secret
    setup: str = ""  # "failed-before": a failed cycle first; "revoked": consent revoked at Zoho
    logged: str | None = None
    # A passing failure never marks the connection dead; refresh-failing only when the token dies
    # before the next attempt (after a throttling back-off, 20 minutes away: it does).
    status: str = "active"


REFRESH_CASES = [
    RefreshCase("zoho-token-5xx", Http("zoho", Fault(TOKEN, status=500)), "failed", "zoho-unavailable", 3),
    RefreshCase("zoho-token-5xx-once", Http("zoho", Fault(TOKEN, status=503), 1), "refreshed", None, 2, True),
    RefreshCase(
        "zoho-token-timeout", Http("zoho", Fault(TOKEN, "hang", seconds=HANG)), "failed", "zoho-unavailable", 3
    ),
    RefreshCase("zoho-token-reset", Http("zoho", Fault(TOKEN, "reset")), "failed", "zoho-unavailable", 3),
    RefreshCase("zoho-token-slow", Http("zoho", Fault(TOKEN, "delay", seconds=SLOW)), "refreshed", None, 1, True),
    # An unreadable answer gets one more try (refresh.py), beyond the HTTP client's retries.
    RefreshCase(
        "zoho-token-garbage", Http("zoho", Fault(TOKEN, "garbage", status=200)), "failed", "zoho-response-invalid", 2
    ),
    RefreshCase("zoho-token-huge", Http("zoho", Fault(TOKEN, "huge")), "failed", "zoho-unavailable", 1),
    RefreshCase("zoho-token-garbled-gzip", Http("zoho", garbled_gzip(TOKEN)), "failed", "zoho-unavailable", 3),
    RefreshCase(  # an unusable answer gets one more try, like garbage
        "zoho-token-breaks-a-header",
        Http("zoho", header_breaking(TOKEN)),
        "failed",
        "zoho-response-invalid",
        2,
    ),
    RefreshCase(
        "zoho-token-throttled",
        Http("zoho", Fault(TOKEN, status=200, body={"error": "Access Denied"})),
        "throttled",
        "zoho-throttled",
        1,
        status="refresh-failing",
    ),
    RefreshCase("sm-list-throttled", _sm("ListSecrets"), "cycle-failed", "secret-store-error", AWS_ATTEMPTS),
    RefreshCase(
        "sm-get-zoho-client-error",
        _sm("GetSecretValue", "error", secret="/zoho-client"),
        "cycle-failed",
        "secret-store-error",
        AWS_ATTEMPTS,
    ),
    RefreshCase(  # the batched read of 20 fails, then the connection's own read times out too
        "sm-get-connection-timeout",
        Aws(
            "secretsmanager",
            AwsFault("GetSecretValue", "timeout", secret="/connections/"),
            (AwsFault("BatchGetSecretValue", "timeout", secret="/connections/"),),
        ),
        "error",
        "secret-store-error",
        AWS_ATTEMPTS,
    ),
    RefreshCase("sm-put-throttled", _sm("PutSecretValue"), "error", "secret-store-error", AWS_ATTEMPTS),
    RefreshCase(
        "sm-stage-move-error",
        _sm("UpdateSecretVersionStage", "error"),
        "error",
        "secret-store-error",
        AWS_ATTEMPTS,
    ),
    RefreshCase("sm-stage-move-answer-lost", _sm_lost("UpdateSecretVersionStage"), "refreshed", None, 2, True),
    RefreshCase("sm-tag-throttled", _sm("TagResource"), "error", "secret-store-error", AWS_ATTEMPTS, True),
    # Only a connection with something to untag (a failure before) calls UntagResource on success.
    RefreshCase(
        "sm-untag-timeout",
        _sm("UntagResource", "timeout"),
        "error",
        "secret-store-error",
        AWS_ATTEMPTS,
        True,
        setup="failed-before",
    ),
    RefreshCase(
        "events-put-recovered",
        Aws("events", AwsFault("PutEvents", "error")),
        "refreshed",
        None,
        AWS_ATTEMPTS,
        True,
        setup="failed-before",
        logged="event-publish-failed",
    ),
    RefreshCase(
        "events-put-needs-reauth",
        Aws("events", AwsFault("PutEvents", failed_entries=True)),
        "needs-reauth",
        "zoho-consent-revoked",
        1,
        setup="revoked",
        logged="event-publish-failed",
    ),
]


@pytest.fixture
def refresh_world(
    sm: Any, app_secrets_seeded: Any, zoho: Any, clock: FakeClock, backoff: list[float]
) -> Iterator[tuple[RefreshWorld, Injector]]:
    world = RefreshWorld(sm, zoho, clock)
    world.deps.zoho = ZohoOAuthClient(HttpClient(shortened(REFRESH_POLICY), sleep=lambda _s: None))
    world.deps.events = PublishedEvents()
    injector = Injector({"zoho": zoho})
    yield world, injector
    injector.close()
    world.close()


@pytest.mark.parametrize("case", REFRESH_CASES, ids=lambda c: c.id)
def test_the_refresh_under_a_fault_loses_nothing_and_says_why(
    refresh_world: tuple[RefreshWorld, Injector], case: RefreshCase, hunt: LeakHunt
) -> None:
    world, injector = refresh_world
    tokens = world.consent("acme")
    world.clock.advance(41 * MINUTE)  # due, with 19 minutes left: outlives the next cycle
    if case.setup == "failed-before":
        world.zoho.inject(Fault(TOKEN, status=500), times=3)
        assert world.cycle().outcome_of("acme").outcome == "failed"
    if case.setup == "revoked":
        world.zoho.revoke_consent(tokens.refresh_token)
    before = world.value("acme")
    injector.apply(case.injection)

    report = world.cycle()

    calls = settle("refresh", injector)
    hunt.look_in("report", report.as_dict())
    hunt.look_in("log line", *world.log.lines)
    if case.outcome == "cycle-failed":
        assert report.error is not None and report.error.code == case.reason
        assert report.outcomes == []
    else:
        outcome = report.outcome_of("acme")
        assert (outcome.outcome, outcome.reason) == (case.outcome, case.reason)
    assert calls == case.calls
    assert (case.logged or case.reason or "refreshed") in logged_codes(world.log.lines)
    after = world.value("acme")
    assert after["refresh_token"] == tokens.refresh_token, "a refresh never changes the refresh token"
    if case.setup != "revoked":  # else the row had Zoho revoke it
        assert lost_tokens(after, set(world.zoho.live_refresh_tokens(CLIENT_ID))) == []
    if case.refreshed:
        assert after["access_token"] != before["access_token"]
        assert world.zoho.access_token_valid(after["access_token"])
    else:
        assert after["access_token"] == before["access_token"]
    expected_status = "needs-reauth" if case.setup == "revoked" else case.status
    assert world.tags("acme")["zoho-aep:status"] == expected_status

    world.clock.advance(11 * MINUTE)  # past a throttling back-off
    if case.setup == "revoked":
        world.consent("acme")
    healed = world.cycle(force=True).outcome_of("acme")
    assert healed.outcome == "refreshed"
    value, tags = world.value("acme"), world.tags("acme")
    assert tags["zoho-aep:status"] == "active" and "zoho-aep:last-error" not in tags
    assert int(tags["zoho-aep:expires-at"]) == _epoch(value["expires_at"])
    assert world.zoho.access_token_valid(value["access_token"])


# ---- Adobe provisioning ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProvisionCase:
    id: str
    injection: Injection
    reason: str | None  # None: provisioned
    calls: int
    retryable: bool = True
    reauth: bool = False  # provisioned once, then re-authorized: an update with a token to revoke
    logged: str | None = None


ADOBE_UNAVAILABLE = "aep-unavailable"
PROVISION_CASES = [
    ProvisionCase("ims-5xx", Http("adobe", Fault(IMS_TOKEN_PATH, status=500)), ADOBE_UNAVAILABLE, 4),
    ProvisionCase("ims-timeout", Http("adobe", Fault(IMS_TOKEN_PATH, "hang", seconds=HANG)), ADOBE_UNAVAILABLE, 4),
    ProvisionCase("ims-reset", Http("adobe", Fault(IMS_TOKEN_PATH, "reset")), ADOBE_UNAVAILABLE, 4),
    ProvisionCase(
        "ims-garbage", Http("adobe", Fault(IMS_TOKEN_PATH, "garbage", status=200)), "aep-response-invalid", 1
    ),
    ProvisionCase("ims-huge", Http("adobe", Fault(IMS_TOKEN_PATH, "huge")), ADOBE_UNAVAILABLE, 1),
    ProvisionCase("ims-garbled-gzip", Http("adobe", garbled_gzip(IMS_TOKEN_PATH)), ADOBE_UNAVAILABLE, 4),
    ProvisionCase("spec-garbled-gzip", Http("adobe", garbled_gzip(SPEC)), ADOBE_UNAVAILABLE, 4),
    ProvisionCase("spec-5xx", Http("adobe", Fault(SPEC, status=503)), ADOBE_UNAVAILABLE, 4),
    ProvisionCase("spec-5xx-once", Http("adobe", Fault(SPEC, status=502), 1), None, 2),
    ProvisionCase("spec-slow", Http("adobe", Fault(SPEC, "delay", seconds=SLOW)), None, 1),
    ProvisionCase(
        "list-garbage",
        Http("adobe", Fault(CONNECTIONS, "garbage", status=200, method="GET"), 1),
        "aep-response-invalid",
        1,
    ),
    # A create is sent once, never again: Flow Service has no idempotency key.
    ProvisionCase("create-5xx", Http("adobe", Fault(CONNECTIONS, status=500, method="POST")), ADOBE_UNAVAILABLE, 1),
    ProvisionCase("create-reset", Http("adobe", Fault(CONNECTIONS, "reset", method="POST")), ADOBE_UNAVAILABLE, 1),
    ProvisionCase("explore-huge", Http("adobe", Fault(CONNECTIONS + "/", "huge", method="GET")), ADOBE_UNAVAILABLE, 1),
    ProvisionCase(
        "patch-5xx",
        Http("adobe", Fault(CONNECTIONS + "/", status=500, method="PATCH")),
        ADOBE_UNAVAILABLE,
        4,
        reauth=True,
    ),
    ProvisionCase(
        "zoho-revoke-5xx", Http("zoho", Fault(REVOKE, status=500)), None, 3, reauth=True, logged="zoho-unavailable"
    ),
    # Found by the fault matrix: an unreadable answer to a revoke said nothing, yet the token was
    # forgotten while still live at Zoho. It is kept now, and revoked by the next run.
    ProvisionCase(
        "zoho-revoke-garbage",
        Http("zoho", Fault(REVOKE, "garbage", status=200)),
        None,
        1,
        reauth=True,
        logged="zoho-response-invalid",
    ),
    ProvisionCase("sm-describe-throttled", _sm("DescribeSecret"), "secret-store-error", AWS_ATTEMPTS),
    ProvisionCase(
        "sm-get-adobe-error", _sm("GetSecretValue", "error", secret="/adobe"), "secret-store-error", AWS_ATTEMPTS
    ),
    ProvisionCase("sm-claim-put-throttled", _sm("PutSecretValue"), "secret-store-error", AWS_ATTEMPTS),
    # The claim's stage move goes through; the release's fails: the claim then expires by itself.
    ProvisionCase(
        "sm-release-stage-move-error",
        _sm("UpdateSecretVersionStage", "error", skip=1),
        None,
        1 + AWS_ATTEMPTS,
        logged="secret-store-error",
    ),
    # The claim's stage move landed but its answer was lost: the run must still own its claim.
    ProvisionCase("sm-claim-stage-move-answer-lost", _sm_lost("UpdateSecretVersionStage"), None, 2 + 1),
    ProvisionCase("sm-record-tag-throttled", _sm("TagResource"), "secret-store-error", AWS_ATTEMPTS),
    ProvisionCase(
        "events-put-error",
        Aws("events", AwsFault("PutEvents", "error")),
        None,
        AWS_ATTEMPTS,
        logged="event-publish-failed",
    ),
]


@pytest.mark.parametrize("case", PROVISION_CASES, ids=lambda c: c.id)
def test_provisioning_under_a_fault_loses_nothing_and_says_why(
    bench: Bench, backoff: list[float], case: ProvisionCase, hunt: LeakHunt
) -> None:
    bench.use_policies(shortened(ADOBE_POLICY), shortened(CALLBACK_POLICY))
    published = PublishedEvents()
    bench.deps.events = published
    injector = Injector({"zoho": bench.zoho, "adobe": bench.adobe})
    try:
        bench.authorize()
        if case.reauth:
            assert bench.provision().ok
            bench.clock.advance(5 * MINUTE)
            bench.authorize()
        before, tags_before = bench.secret(), bench.tags()
        injector.apply(case.injection)

        result = bench.provision()

        calls = settle("provisioning", injector)
        hunt.look_in("answer", result.as_dict())
        hunt.look_in("log line", *bench.logs.lines)
        hunt.look_in("event", *published.events)
        assert (result.ok, result.reason_code) == (case.reason is None, case.reason)
        assert result.ok or result.retryable == case.retryable
        assert calls == case.calls
        assert (case.logged or case.reason or "provisioned") in logged_codes(bench.logs.lines)
        assert len(bench.adobe.connections_in("prod")) <= 1, "never a duplicate base connection"
        after = bench.secret()
        assert after["refresh_token"] == before["refresh_token"]
        if not result.ok:  # Adobe may still use a replaced token: it goes once Adobe holds the new one
            assert after.get("replaced_refresh_token") == before.get("replaced_refresh_token")
        assert lost_tokens(after, set(bench.zoho.live_refresh_tokens(CLIENT_ID))) == []
        if not result.ok:
            assert bench.tags().get("zoho-aep:status") == tags_before.get("zoho-aep:status")
        failed = [d for t, d in published.events if t == ev.PROVISIONING_FAILED]
        assert failed == ([] if result.ok else [{"connection": "acme", "reason_code": case.reason, "retryable": True}])

        bench.clock.advance(151)  # past any provisioning claim a failed run left
        healed = bench.provision()
        assert healed.ok, healed
        (connection,) = bench.adobe.connections_in("prod")
        current = bench.secret()["refresh_token"]
        assert connection["auth"]["params"]["refreshToken"] == current
        assert bench.zoho.live_refresh_tokens(CLIENT_ID) == [current], "every replaced token revoked"
        assert bench.tags()["aep:base-connection-id"] == connection["id"]
        assert "aep_provisioning_claim" not in bench.secret()
    finally:
        injector.close()


def test_the_tables_cover_every_function_and_fault_kind() -> None:
    """The tables above, read as a checklist: each kind of fault reaches each function."""
    http_kinds = {
        fn: {c.injection.fault.kind for c in cases if isinstance(c.injection, Http)}
        for fn, cases in (("callback", CALLBACK_CASES), ("refresh", REFRESH_CASES), ("provision", PROVISION_CASES))
    }
    for fn, kinds in http_kinds.items():
        assert {"status", "hang", "reset", "garbage", "huge"} <= kinds, fn
    assert {"delay"} <= http_kinds["callback"] & http_kinds["refresh"] & http_kinds["provision"]
    every_case: list[Any] = [*CALLBACK_CASES, *REFRESH_CASES, *PROVISION_CASES]
    aws_operations = {c.injection.fault.operation for c in every_case if isinstance(c.injection, Aws)}
    assert {
        "GetSecretValue",
        "PutSecretValue",
        "UpdateSecretVersionStage",
        "TagResource",
        "UntagResource",
        "CreateSecret",
        "DescribeSecret",
        "ListSecrets",
        "PutEvents",
    } <= aws_operations
