"""A refresh cycle against moto and the Zoho emulator: what is due, what a success writes, races, budget."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.constants import CLIENT_SECRET, EU_SECRET, PREFIX
from tests.support.fakes import FakeClock
from tests.support.refresh_world import RefreshWorld
from zoho_aep.domain import events as ev
from zoho_aep.domain.connection import STATUS_ACTIVE, STATUS_PROVISIONING_FAILED
from zoho_aep.domain.times import iso_utc
from zoho_aep.usecases.refresh.policy import MINT_BUDGET, ZOHO_WINDOW_SECONDS

MINUTE = 60
DUE = 41 * MINUTE  # after a consent (a 60-minute token), this long until it is inside the 20-minute window


@pytest.fixture
def world(sm: Any, app_secrets_seeded: dict[str, Any], zoho: Any, clock: FakeClock) -> Iterator[RefreshWorld]:
    bench = RefreshWorld(sm, zoho, clock)
    yield bench
    bench.close()


# ---- what is due ---------------------------------------------------------------------------------
def test_only_connections_expiring_within_the_window_are_refreshed(world: RefreshWorld) -> None:
    world.consent("early")
    world.clock.advance(30 * MINUTE)
    world.consent("late", user=None)
    world.clock.advance(11 * MINUTE)  # early expires in 19 minutes, late in 49

    report = world.cycle()

    assert (report.seen, report.due, report.not_due) == (2, 1, 1)
    assert report.outcome_of("early").outcome == "refreshed"
    assert [o.connection for o in report.outcomes] == ["early"]
    assert len(world.refresh_calls()) == 1


def test_a_connection_that_is_not_due_costs_no_secret_read(world: RefreshWorld) -> None:
    world.consent("early")
    world.clock.advance(30 * MINUTE)
    world.consent("late")
    world.clock.advance(11 * MINUTE)
    world.secret_reads.clear()

    world.cycle()

    assert world.secret_reads[f"{PREFIX}/connections/late"] == 0
    assert world.secret_reads[f"{PREFIX}/connections/early"] >= 1
    assert world.secret_reads[f"{PREFIX}/zoho-client"] == 1


def test_a_cycle_with_nothing_due_reads_no_secret_at_all(world: RefreshWorld) -> None:
    world.consent("acme")
    world.secret_reads.clear()

    report = world.cycle()

    assert report.due == 0 and report.not_due == 1
    assert sum(world.secret_reads.values()) == 0
    assert world.refresh_calls() == []


def test_a_connection_refreshed_since_the_listing_is_not_refreshed_again(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    # Someone refreshed the token, but the tags still say it is about to expire (tags are written after
    # the value, so a reader can see the old tag).
    world.edit("acme", expires_at=iso_utc(world.clock() + 3600))

    report = world.cycle()

    assert report.due == 1
    assert report.outcome_of("acme").outcome == "not-due"
    assert world.refresh_calls() == []
    assert world.tags("acme")["zoho-aep:expires-at"] == str(int(world.clock() + 3600))  # the tag caught up


# ---- what a success writes -----------------------------------------------------------------------
def test_success_updates_access_token_expiry_and_tags_and_keeps_the_refresh_token(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.clock.advance(DUE)
    before = world.value("acme")

    report = world.cycle()

    after = world.value("acme")
    assert report.outcome_of("acme").outcome == "refreshed"
    assert after["access_token"] != before["access_token"]
    assert world.zoho.access_token_valid(after["access_token"])
    assert after["refresh_token"] == tokens.refresh_token
    assert after["expires_at"] == iso_utc(world.clock() + 3600)
    tags = world.tags("acme")
    assert tags["zoho-aep:expires-at"] == str(int(world.clock() + 3600))
    assert tags["zoho-aep:status"] == STATUS_ACTIVE
    assert after["token_mints"] == [int(world.clock())]


def test_success_keeps_every_field_the_callback_and_provisioning_wrote(world: RefreshWorld) -> None:
    world.consent("acme")
    provisioning = {
        "replaced_refresh_token": "1000.old-refresh-token-kept-for-revocation",
        "revoke_pending": ["1000.older-refresh-token"],
        "aep_base_connection_id": "bc-123",
        "aep_etag": '"7"',
    }
    world.edit("acme", **provisioning)
    world.clock.advance(DUE)
    before = world.value("acme")

    world.cycle()

    after = world.value("acme")
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"access_token", "expires_at", "token_mints"}
    assert {k: after[k] for k in provisioning} == provisioning


def test_success_leaves_a_provisioning_failure_for_provisioning_to_clear(world: RefreshWorld) -> None:
    world.consent("acme")
    world.store.set_tags(
        "acme", {"zoho-aep:status": STATUS_PROVISIONING_FAILED, "zoho-aep:last-error": "aep-zoho-source-retired"}
    )
    world.clock.advance(DUE)

    world.cycle()

    tags = world.tags("acme")
    assert tags["zoho-aep:status"] == STATUS_PROVISIONING_FAILED
    assert tags["zoho-aep:last-error"] == "aep-zoho-source-retired"
    assert tags["zoho-aep:expires-at"] == str(int(world.clock() + 3600))


def test_the_legacy_expires_in_sec_answer_is_read_in_seconds(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    world.zoho.legacy_expiry = True  # expires_in_sec: 3600 beside expires_in: 3600000 (ms)

    world.cycle()

    assert world.value("acme")["expires_at"] == iso_utc(world.clock() + 3600)
    assert world.tags("acme")["zoho-aep:expires-at"] == str(int(world.clock() + 3600))


def test_each_data_center_is_refreshed_at_its_own_server_with_its_own_client_secret(world: RefreshWorld) -> None:
    world.consent("us-org", dc="us")
    world.consent("eu-org", dc="eu")
    world.clock.advance(DUE)

    report = world.cycle()

    assert {o.outcome for o in report.outcomes} == {"refreshed"}
    sent = {world.zoho.dc_of(r.server): r.form["client_secret"] for r in world.refresh_calls()}
    assert sent == {"us": CLIENT_SECRET, "eu": EU_SECRET}


def test_one_structured_log_line_per_connection_outcome_without_any_secret(world: RefreshWorld) -> None:
    tokens = world.consent("acme")
    world.clock.advance(DUE)

    world.cycle()

    lines = world.outcome_lines("acme")
    assert len(lines) == 1
    assert lines[0]["outcome"] == "refreshed" and lines[0]["status"] == STATUS_ACTIVE
    new_access = world.value("acme")["access_token"]
    secrets = (tokens.refresh_token, tokens.access_token, new_access, CLIENT_SECRET, EU_SECRET)
    assert all(secret not in line for line in world.log.lines for secret in secrets if secret)


# ---- a re-authorization during the refresh -------------------------------------------------------
class _ConsentDuringRefresh:
    """Wraps the Zoho client: right after Zoho answers the refresh, a re-authorization is stored."""

    def __init__(self, world: RefreshWorld, connection: str) -> None:
        self.world = world
        self.connection = connection
        self.inner = world.oauth
        self.new_tokens: Any = None

    def refresh(self, *args: Any) -> Any:
        minted = self.inner.refresh(*args)
        self.new_tokens = self.world.consent(self.connection)  # between the refresh's read and its write
        return minted


def test_a_reauthorization_between_the_refresh_read_and_write_is_not_lost(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    racer = _ConsentDuringRefresh(world, "acme")
    world.deps.zoho = racer  # type: ignore[assignment]

    report = world.cycle()

    value = world.value("acme")
    assert report.outcome_of("acme").outcome == "superseded"
    assert value["refresh_token"] == racer.new_tokens.refresh_token
    assert value["access_token"] == racer.new_tokens.access_token
    assert value["expires_at"] == iso_utc(world.clock() + 3600)
    assert value["token_mints"] == [int(world.clock())]  # the old token's mint still counts
    assert world.tags("acme")["zoho-aep:status"] == STATUS_ACTIVE


def test_a_reauthorization_that_wins_the_compare_and_swap_is_not_lost(world: RefreshWorld, sm: Any) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    raced: dict[str, Any] = {}

    def consent_first(params: dict[str, Any], **kwargs: Any) -> None:
        # Just before the refresh puts its new version, the callback stores a new consent; the
        # refresh's move of AWSCURRENT then fails and it must start again from a fresh read.
        if "tokens" not in raced and params["SecretId"].endswith("/acme"):
            raced["tokens"] = None
            raced["tokens"] = world.consent("acme")

    sm.meta.events.register("before-parameter-build.secrets-manager.PutSecretValue", consent_first)
    try:
        report = world.cycle()
    finally:
        sm.meta.events.unregister("before-parameter-build.secrets-manager.PutSecretValue", consent_first)

    value = world.value("acme")
    assert report.outcome_of("acme").outcome == "superseded"
    assert value["refresh_token"] == raced["tokens"].refresh_token
    assert value["access_token"] == raced["tokens"].access_token


# ---- the mint budget -----------------------------------------------------------------------------
def test_forcing_twice_in_a_row_mints_once_per_cycle(world: RefreshWorld) -> None:
    world.consent("acme")

    first = world.cycle(force=True, names=["acme", "acme"])
    second = world.cycle(force=True, names=["acme"])

    assert first.outcome_of("acme").outcome == second.outcome_of("acme").outcome == "refreshed"
    assert len(world.refresh_calls()) == 2
    assert len(world.value("acme")["token_mints"]) == 2


def test_no_more_than_five_mints_per_connection_per_ten_minutes(world: RefreshWorld) -> None:
    world.consent("acme")

    reports = [world.cycle(force=True) for _ in range(MINT_BUDGET + 2)]

    outcomes = [r.outcome_of("acme") for r in reports]
    assert [o.outcome for o in outcomes] == ["refreshed"] * MINT_BUDGET + ["skipped"] * 2
    assert outcomes[-1].reason == "budget-exhausted"
    assert len(world.refresh_calls()) == MINT_BUDGET
    world.clock.advance(ZOHO_WINDOW_SECONDS)
    assert world.cycle(force=True).outcome_of("acme").outcome == "refreshed"


def test_a_connection_at_rest_mints_about_one_token_per_token_lifetime(world: RefreshWorld) -> None:
    world.consent("acme")
    hours = 6

    for _ in range(hours * 6):  # a cycle every 10 minutes
        world.clock.advance(10 * MINUTE)
        world.cycle()

    # Refreshed when 20 minutes or less are left of 60: every 40 to 50 minutes.
    assert hours * 60 // 50 <= len(world.refresh_calls()) <= hours * 60 // 40
    assert world.tags("acme")["zoho-aep:status"] == STATUS_ACTIVE


# ---- the events of a success ---------------------------------------------------------------------
def test_a_plain_success_emits_no_recovery_event(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)

    world.cycle()

    assert world.events_of(ev.CONNECTION_RECOVERED) == []


def test_a_connection_is_not_started_when_the_invocation_is_about_to_time_out(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)

    report = world.cycle(time_left=lambda: 10.0)

    outcome = report.outcome_of("acme")
    assert (outcome.outcome, outcome.reason) == ("skipped", "deferred")
    assert world.refresh_calls() == []


# ---- cost and parallelism ------------------------------------------------------------------------
def _count_calls(sm: Any) -> tuple[Counter[str], Any]:
    """Calls on connection secrets (the listing and the Zoho client read aside), by operation."""
    calls: Counter[str] = Counter()

    def count(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if model.name != "ListSecrets" and not str(params.get("SecretId", "")).endswith("/zoho-client"):
            calls[model.name] += 1

    sm.meta.events.register("before-parameter-build.secrets-manager", count)
    return calls, count


def test_healthy_refreshes_cost_three_calls_each_and_one_batched_read(world: RefreshWorld, sm: Any) -> None:
    for name in ("acme", "beta", "gamma"):
        world.consent(name)
    world.clock.advance(DUE)
    calls, count = _count_calls(sm)
    try:
        report = world.cycle()
    finally:
        sm.meta.events.unregister("before-parameter-build.secrets-manager", count)

    assert report.count("refreshed") == 3
    assert calls == {"BatchGetSecretValue": 1, "PutSecretValue": 3, "UpdateSecretVersionStage": 3, "TagResource": 3}


def test_when_the_batched_read_is_refused_each_connection_is_read_on_its_own(world: RefreshWorld, sm: Any) -> None:
    from botocore.exceptions import ClientError

    world.consent("acme")
    world.consent("beta")
    world.clock.advance(DUE)

    def refuse(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "BatchGetSecretValue")

    calls, count = _count_calls(sm)
    sm.meta.events.register("before-call.secrets-manager.BatchGetSecretValue", refuse)
    try:
        report = world.cycle()
    finally:
        sm.meta.events.unregister("before-call.secrets-manager.BatchGetSecretValue", refuse)
        sm.meta.events.unregister("before-parameter-build.secrets-manager", count)

    assert report.count("refreshed") == 2
    assert calls["GetSecretValue"] == 2


class _SlowZoho:
    """Counts the refresh calls in flight at once (each takes a little while)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.in_flight = 0
        self.most = 0
        self._lock = threading.Lock()

    def refresh(self, *args: Any) -> Any:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(0.05)
            return self.inner.refresh(*args)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_no_more_than_the_configured_concurrency_of_calls_reach_zoho_at_once(world: RefreshWorld) -> None:
    for index in range(6):
        world.consent(f"conn-{index}")
    world.clock.advance(DUE)
    slow = _SlowZoho(world.deps.zoho)
    world.deps.zoho = slow  # type: ignore[assignment]
    world.deps.concurrency = 2

    report = world.cycle()

    assert report.count("refreshed") == 6
    assert slow.most == 2


def test_a_connection_that_waited_for_zoho_until_time_ran_out_is_deferred_unminted(world: RefreshWorld) -> None:
    world.consent("acme")
    world.clock.advance(DUE)
    answers = iter([120.0, 10.0])  # enough time when it starts, too little once Zoho is free

    report = world.cycle(time_left=lambda: next(answers, 10.0))

    outcome = report.outcome_of("acme")
    assert (outcome.outcome, outcome.reason) == ("skipped", "deferred")
    assert world.refresh_calls() == []
    assert world.value("acme").get("token_mints") is None
