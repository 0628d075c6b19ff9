"""The fault matrix (``fault_matrix.py``): every fault kind of every dependency call of every function.

The curated tables of ``test_injected_faults.py`` state each row's exact outcome; here every cell of
the matrix is checked for what must hold whatever the fault: a clean outcome with a known code, its
log line, retries that stop, no refresh token lost or left behind, no duplicate base connection, a
failed attempt that changed nothing it should not have, and a next attempt that repairs everything.
``make test`` runs one fault kind per call; ``make proof-full`` all of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local.emulators.adobe import FLOW_PREFIX, IMS_TOKEN_PATH
from tests.proof.fault_matrix import CALLS, AwsCall, DependencyCall, HttpCall, MatrixCase, cases, register
from tests.proof.sizes import SIZE
from tests.proof.test_injected_faults import (  # noqa: F401 - fixtures
    AWS_ATTEMPTS,
    MINUTE,
    Aws,
    CallbackWorld,
    Http,
    Injector,
    PublishedEvents,
    backoff,
    callback_world,
    logged_codes,
    lost_tokens,
    refresh_world,
    settle,
    shortened,
)
from tests.support.aep import Bench, adobe_fixture, bench_fixture  # noqa: F401
from tests.support.constants import CLIENT_ID
from tests.support.leaks import LeakHunt
from tests.support.refresh_world import RefreshWorld
from zoho_aep.domain import events as ev
from zoho_aep.domain.errors import all_codes
from zoho_aep.domain.times import epoch_of
from zoho_aep.wiring import ADOBE_POLICY, CALLBACK_POLICY

ROOT = Path(__file__).resolve().parents[2]
TOKEN, REVOKE, ORG = "/oauth/v2/token", "/oauth/v2/token/revoke", "/crm/v8/org"
CONNECTIONS = FLOW_PREFIX + "/connections"
# Retries stop: no dependency is called more often than this in one invocation, whatever the fault.
MAX_HTTP_CALLS = 2 * ADOBE_POLICY.attempts
MAX_AWS_CALLS = 4 * AWS_ATTEMPTS
KNOWN = set(all_codes()) | {"connected", "provisioned", "refreshed"}


def sm(id_: str, operation: str, secret: str | None = None, setup: str = "") -> DependencyCall:
    return DependencyCall(id_, AwsCall("secretsmanager", operation, secret), setup)


register(
    "oauth_callback",
    [
        DependencyCall("zoho-token", HttpCall("zoho", TOKEN)),
        DependencyCall("zoho-org", HttpCall("zoho", ORG)),
        sm("sm-get-state-key", "GetSecretValue", "/state-key"),
        sm("sm-get-zoho-client", "GetSecretValue", "/zoho-client"),
        sm("sm-get-connection", "GetSecretValue", "/connections/", "reauth"),
        sm("sm-create", "CreateSecret"),
        sm("sm-put", "PutSecretValue", setup="reauth"),
        sm("sm-stage-move", "UpdateSecretVersionStage", setup="reauth"),
        sm("sm-tag", "TagResource", setup="reauth"),
        sm("sm-untag", "UntagResource", setup="reauth"),
        DependencyCall("events-put", AwsCall("events", "PutEvents")),
    ],
)
register(
    "token_refresh",
    [
        DependencyCall("zoho-token", HttpCall("zoho", TOKEN)),
        sm("sm-list", "ListSecrets"),
        sm("sm-batch-get", "BatchGetSecretValue", "/connections/"),
        sm("sm-get-zoho-client", "GetSecretValue", "/zoho-client"),
        sm("sm-get-connection", "GetSecretValue", "/connections/"),
        sm("sm-put", "PutSecretValue"),
        sm("sm-stage-move", "UpdateSecretVersionStage"),
        sm("sm-tag", "TagResource"),
        sm("sm-untag", "UntagResource", setup="failed-before"),
        DependencyCall("events-put", AwsCall("events", "PutEvents"), "failed-before"),
    ],
)
register(
    "adobe_provisioning",
    [
        DependencyCall("ims-token", HttpCall("adobe", IMS_TOKEN_PATH)),
        DependencyCall("flow-spec", HttpCall("adobe", FLOW_PREFIX + "/connectionSpecs")),
        DependencyCall("flow-list", HttpCall("adobe", CONNECTIONS, "GET")),
        DependencyCall("flow-create", HttpCall("adobe", CONNECTIONS, "POST")),
        DependencyCall("flow-read", HttpCall("adobe", CONNECTIONS + "/", "GET"), "reauth"),
        DependencyCall("flow-patch", HttpCall("adobe", CONNECTIONS + "/", "PATCH"), "reauth"),
        DependencyCall("zoho-revoke", HttpCall("zoho", REVOKE), "reauth"),
        sm("sm-describe", "DescribeSecret"),
        sm("sm-get-adobe", "GetSecretValue", "/adobe"),
        sm("sm-get-zoho-client", "GetSecretValue", "/zoho-client"),
        sm("sm-get-connection", "GetSecretValue", "/connections/"),
        sm("sm-put", "PutSecretValue"),
        sm("sm-stage-move", "UpdateSecretVersionStage"),
        sm("sm-tag", "TagResource"),
        sm("sm-untag", "UntagResource", setup="reauth"),
        DependencyCall("events-put", AwsCall("events", "PutEvents")),
    ],
)


def injection(case: MatrixCase) -> Http | Aws:
    service, fault = case.injection()
    if isinstance(case.call.call, HttpCall):
        return Http(service, fault)  # type: ignore[arg-type]
    return Aws(service, fault)  # type: ignore[arg-type]


def bounded(case: MatrixCase, calls: int) -> None:
    limit = MAX_HTTP_CALLS if isinstance(case.call.call, HttpCall) else MAX_AWS_CALLS
    assert calls <= limit, f"{calls} calls: retries must stop"


@pytest.mark.skipif(not SIZE.every_fault, reason="checked by make proof-full (PROOF_SIZE=full)")
def test_every_function_has_its_dependency_calls_in_the_matrix() -> None:
    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists())
    assert [f for f in functions if not CALLS.get(f)] == [], "register its calls in tests/proof/fault_matrix.py"


# ---- the runners, one per function ----------------------------------------------------------------------
@pytest.mark.parametrize("case", cases("oauth_callback"), ids=lambda c: c.id)
def test_every_fault_of_every_callback_call(callback_world: CallbackWorld, case: MatrixCase, hunt: LeakHunt) -> None:
    w, cb = callback_world, callback_world.cb
    if case.setup == "reauth":
        assert cb.connect("acme")["statusCode"] == 200
        cb.clock.advance(5 * MINUTE)
    query = cb.consent(cb.link("acme"))
    before, live_before, events_before = w.stored(), w.live_tokens(), len(w.published.events)
    w.injector.apply(injection(case))

    answer = cb.call(query)

    calls = settle("callback", w.injector)
    hunt.look_in("page", answer)
    hunt.look_in("log line", *cb.log.lines)
    code = cb.outcomes[-1]
    assert code in KNOWN and code != "internal-error", code
    assert answer["statusCode"] < 500 or code.startswith(("zoho-", "secret-")), (answer["statusCode"], code)
    assert code in logged_codes(cb.log.lines)
    bounded(case, calls)
    after, live_after = w.stored(), w.live_tokens()
    new_live = live_after - live_before
    if after is not None and after != before:  # the new tokens are stored
        assert new_live == {after["refresh_token"]}
    else:
        assert new_live == set(), "a refresh token issued during a failed callback must be revoked"
    assert lost_tokens(after, live_after) == []
    published = w.published.events[events_before:]
    hunt.look_in("event", *published)
    assert [t for t, _ in published] in ([], [ev.CONNECTION_AUTHORIZED])

    cb.clock.advance(5 * MINUTE)
    assert cb.connect("acme")["statusCode"] == 200, "the next link must work again"
    healed = w.stored()
    assert healed is not None and healed["refresh_token"] in w.live_tokens()
    assert int(cb.tags()["zoho-aep:expires-at"]) == epoch_of(healed["expires_at"])


@pytest.mark.parametrize("case", cases("token_refresh"), ids=lambda c: c.id)
def test_every_fault_of_every_refresh_call(
    refresh_world: tuple[RefreshWorld, Injector], case: MatrixCase, hunt: LeakHunt
) -> None:
    from local.emulators.base import Fault

    world, injector = refresh_world
    tokens = world.consent("acme")
    world.clock.advance(41 * MINUTE)
    if case.setup == "failed-before":
        world.zoho.inject(Fault(TOKEN, status=500), times=3)
        assert world.cycle().outcome_of("acme").outcome == "failed"
    before = world.value("acme")
    injector.apply(injection(case))

    report = world.cycle()

    calls = settle("refresh", injector)
    hunt.look_in("report", report.as_dict())
    hunt.look_in("log line", *world.log.lines)
    if report.error is not None:
        assert report.error.code in KNOWN and report.outcomes == []
    else:
        outcome = report.outcome_of("acme")
        assert outcome.outcome in {"refreshed", "failed", "throttled", "error", "not-due", "superseded"}, outcome
        assert outcome.outcome == "refreshed" or outcome.reason in KNOWN
    bounded(case, calls)
    after = world.value("acme")
    assert after["refresh_token"] == tokens.refresh_token, "a refresh never changes the refresh token"
    assert lost_tokens(after, set(world.zoho.live_refresh_tokens(CLIENT_ID))) == []
    assert world.tags("acme")["zoho-aep:status"] in {"active", "refresh-failing"}, "never marked dead"
    if after["access_token"] != before["access_token"]:
        assert world.zoho.access_token_valid(after["access_token"])

    world.clock.advance(11 * MINUTE)
    healed = world.cycle(force=True).outcome_of("acme")
    assert healed.outcome == "refreshed"
    value, tags = world.value("acme"), world.tags("acme")
    assert tags["zoho-aep:status"] == "active" and "zoho-aep:last-error" not in tags
    assert int(tags["zoho-aep:expires-at"]) == epoch_of(value["expires_at"])


@pytest.mark.parametrize("case", cases("adobe_provisioning"), ids=lambda c: c.id)
def test_every_fault_of_every_provisioning_call(
    bench: Bench, backoff: list[float], case: MatrixCase, hunt: LeakHunt
) -> None:
    bench.use_policies(shortened(ADOBE_POLICY), shortened(CALLBACK_POLICY))
    published = PublishedEvents()
    bench.deps.events = published
    injector = Injector({"zoho": bench.zoho, "adobe": bench.adobe})
    try:
        bench.authorize()
        if case.setup == "reauth":
            assert bench.provision().ok
            bench.clock.advance(5 * MINUTE)
            bench.authorize()
        before = bench.secret()
        injector.apply(injection(case))

        result = bench.provision()

        calls = settle("provisioning", injector)
        hunt.look_in("answer", result.as_dict())
        hunt.look_in("log line", *bench.logs.lines)
        hunt.look_in("event", *published.events)
        assert result.ok or result.reason_code in KNOWN, result
        assert (result.reason_code or "provisioned") in logged_codes(bench.logs.lines)
        bounded(case, calls)
        assert len(bench.adobe.connections_in("prod")) <= 1, "never a duplicate base connection"
        after = bench.secret()
        assert after["refresh_token"] == before["refresh_token"]
        assert lost_tokens(after, set(bench.zoho.live_refresh_tokens(CLIENT_ID))) == []
        failed = [d for t, d in published.events if t == ev.PROVISIONING_FAILED]
        assert len(failed) <= (0 if result.ok else 1)

        bench.clock.advance(151)  # past any provisioning claim a failed run left
        healed = bench.provision()
        assert healed.ok, healed
        (connection,) = bench.adobe.connections_in("prod")
        current = bench.secret()["refresh_token"]
        assert connection["auth"]["params"]["refreshToken"] == current
        assert bench.zoho.live_refresh_tokens(CLIENT_ID) == [current], "every replaced token revoked"
        assert bench.tags()["aep:base-connection-id"] == connection["id"]
    finally:
        injector.close()
