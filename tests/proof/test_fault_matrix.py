"""The fault matrix (``fault_matrix.py``): every fault kind of every dependency call of every function.

The curated tables of ``test_injected_faults.py`` state each row's exact outcome; here every cell of
the matrix is checked for what must hold whatever the fault: a clean outcome with a known code, its
log line, retries that stop, no refresh token lost or left behind, no duplicate base connection, a
failed attempt that changed nothing it should not have, and a next attempt that repairs everything.
``make test`` runs one fault kind per call; ``make proof-full`` all of them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.export_world import BUCKET, US_ORG, ExportWorld
from tests.support.fakes import FakeClock, http_event
from tests.support.leaks import LeakHunt
from tests.support.refresh_world import RefreshWorld
from zoho_aep.adapters.http import HttpClient
from zoho_aep.adapters.s3 import ExportBucket
from zoho_aep.adapters.secrets import AppSecrets
from zoho_aep.adapters.sqs import ExportQueue
from zoho_aep.adapters.zoho.crm import ZohoCrmClient
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.domain import events as ev
from zoho_aep.domain.callbacks import callback_url
from zoho_aep.domain.connection import TAG_PATH
from zoho_aep.domain.errors import all_codes
from zoho_aep.domain.export import ExportUnit
from zoho_aep.domain.times import epoch_of
from zoho_aep.edges.zoho_export import BulkCallbackApp, ExportApp, ExportWorkerApp
from zoho_aep.usecases.export.callback import BulkCallbackDeps
from zoho_aep.usecases.export.messages import UnitMessage
from zoho_aep.wiring import ADOBE_POLICY, CALLBACK_POLICY, EXPORT_POLICY, REFRESH_POLICY

ROOT = Path(__file__).resolve().parents[2]
TOKEN, REVOKE, ORG = "/oauth/v2/token", "/oauth/v2/token/revoke", "/crm/v8/org"
CONNECTIONS = FLOW_PREFIX + "/connections"
# Retries stop: no dependency is called more often than this in one invocation, whatever the fault.
MAX_HTTP_CALLS = 2 * ADOBE_POLICY.attempts
MAX_AWS_CALLS = 4 * AWS_ATTEMPTS
KNOWN = set(all_codes()) | {"connected", "provisioned", "refreshed", "queued"}


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
        sm("sm-describe", "DescribeSecret", setup="due"),
        sm("manual-sm-describe", "DescribeSecret", setup="manual"),
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


# ---- the export (functions/zoho_export) ----------------------------------------------------------------
# The export's acts: a worker's unit run (a backfill of two Bulk Read pages; "due": its token is
# refreshed first; "delta": after a first window, changes and deletions, in a cold process;
# "pending": a job still running), a direct invoke ("manual"), the schedule's tick, and Zoho's Bulk
# Read callback. After the act, whatever it left is healed by runs of the unit's worker
# until its window completes: every record once, the watermark moved once, nothing left behind.
LEADS = ExportUnit("acme", "Leads")
FIELDS, BULK = "/crm/v8/settings/fields", "/crm/bulk/v8/read"
DELETED = "/crm/v8/Leads/deleted"
CALLBACK_BASE = "http://127.0.0.1:9/zoho/bulk-callback"  # nothing listens: Zoho's callback goes nowhere
SEEDED = 12  # two Bulk Read pages of 10
# S3's writes that put an object in place (an object under zoho/ must be the target of exactly one).
UNLOGGED = ("in-progress", "deferred", "not-due")
EXPORT_OUTCOMES = {"completed", "pending", "continues", "deferred", "in-progress", "not-due", "skipped", "failed"}
# A unit's invocation reaches the same S3 or SQS operation a handful of times (the lease, its release,
# the org gate, the run's saves, the failure's record), each with botocore's attempts.
MAX_EXPORT_AWS_CALLS = 6 * AWS_ATTEMPTS


def s3(id_: str, operation: str, key: str | None = None, setup: str = "") -> DependencyCall:
    return DependencyCall(id_, AwsCall("s3", operation, key), setup)


def zoho_bulk(id_: str, method: str, setup: str = "") -> DependencyCall:
    return DependencyCall(id_, HttpCall("zoho", BULK + ("/" if method == "GET" else ""), method), setup)


register(
    "zoho_export",
    [
        DependencyCall("zoho-token", HttpCall("zoho", TOKEN), "due"),
        DependencyCall("zoho-fields", HttpCall("zoho", FIELDS)),
        zoho_bulk("zoho-bulk-create", "POST"),
        zoho_bulk("zoho-bulk-status", "GET"),  # the job's status (the first GET below it)
        DependencyCall("zoho-bulk-download", HttpCall("zoho", BULK + "/", "GET", suffix="/result")),
        DependencyCall("zoho-deleted", HttpCall("zoho", DELETED), "delta"),
        sm("sm-get-connection", "GetSecretValue", "/connections/"),
        sm("sm-describe", "DescribeSecret", setup="due"),
        sm("manual-sm-describe", "DescribeSecret", setup="manual"),
        sm("sm-get-zoho-client", "GetSecretValue", "/zoho-client", "due"),
        sm("sm-get-state-key", "GetSecretValue", "/state-key"),
        sm("sm-put", "PutSecretValue", setup="due"),
        sm("sm-stage-move", "UpdateSecretVersionStage", setup="due"),
        sm("sm-tag", "TagResource"),
        sm("sm-untag", "UntagResource"),
        sm("sm-list", "ListSecrets", setup="tick"),
        sm("callback-sm-get-state-key", "GetSecretValue", "/state-key", "callback"),
        s3("s3-get-state", "GetObject", "state/"),
        s3("s3-put-state", "PutObject", "state/acme/Leads.json"),
        s3("s3-put-gate", "PutObject", "state/acme/_org.json"),
        s3("s3-upload", "PutObject", "staging/"),
        s3("s3-head", "HeadObject", "zoho/"),
        s3("s3-copy", "CopyObject", "zoho/"),
        s3("s3-delete", "DeleteObject", "staging/"),
        s3("s3-delta-get-state", "GetObject", "state/", "delta"),
        s3("s3-delta-put-state", "PutObject", "state/acme/Leads.json", "delta"),
        DependencyCall("sqs-send", AwsCall("sqs", "SendMessageBatch"), "pending"),
        DependencyCall("tick-sqs-send", AwsCall("sqs", "SendMessageBatch"), "tick"),
        DependencyCall("callback-sqs-send", AwsCall("sqs", "SendMessageBatch"), "callback"),
        DependencyCall("events-put", AwsCall("events", "PutEvents")),
    ],
)


class ExportFaultWorld:
    """The export bench with the production pieces the matrix reaches: the unit queue on moto's SQS,
    EventBridge (moto), the callback URL signed with the state key, production's retry attempts."""

    def __init__(self, world: ExportWorld, injector: Injector, queue_url: str) -> None:
        self.world, self.injector = world, injector
        export, published = world.export, PublishedEvents()
        export.modules = ("Leads",)
        export.events = world.deps.events = published
        export.crm = ZohoCrmClient(HttpClient(shortened(EXPORT_POLICY), sleep=lambda _s: None))
        world.deps.zoho = ZohoOAuthClient(HttpClient(shortened(REFRESH_POLICY), sleep=lambda _s: None))
        world.deps.app_secrets = AppSecrets(PREFIX, world.sm)  # a cold process: the Zoho client not read yet
        export.queue = ExportQueue(queue_url)
        export.callback_url = lambda c, m, r: callback_url(
            CALLBACK_BASE, world.app_secrets.state_key(), ExportUnit(c, m), r, world.clock()
        )
        self.published = published
        self.queue_url = queue_url
        self.worker = ExportWorkerApp(lambda: export, logger=world.logger)
        self.schedule = ExportApp(lambda: export, logger=world.logger)
        # The callback is its own (cold) process: its state key is read when the call comes.
        callback_secrets = AppSecrets(PREFIX, world.sm)
        self.callback = BulkCallbackApp(
            lambda: BulkCallbackDeps(callback_secrets.state_key, lambda: export.queue, world.clock),  # type: ignore[arg-type, return-value]
            logger=world.logger,
        )

    def work(self) -> dict[str, Any]:
        return self.worker.handle({"Records": [{"body": UnitMessage(LEADS).to_message()}]})

    def callback_query(self) -> str:
        """The query of Zoho's callback to a URL this stack signed for one of the unit's runs."""
        return callback_url("", self.world.app_secrets.state_key(), LEADS, "run-1", self.world.clock())[1:]

    def bulk_callback(self, query: str) -> dict[str, Any]:
        return self.callback.handle(http_event(query, method="POST", path="/zoho/bulk-callback"))

    def s3_written(self) -> Counter[str]:
        """How often S3 wrote each key (the bucket is versioned, as the stack's is: one version per write,
        an answer lost after the write included; a conditional write S3 refused made none)."""
        pages = self.world.s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET)
        return Counter(v["Key"] for page in pages for v in page.get("Versions", []))

    def objects(self, prefix: str) -> dict[str, int]:
        return {o.key: o.size for o in self.world.bucket.objects(prefix)}

    def file_ids(self, keys: list[str]) -> list[str]:
        return sorted(row["id"] for key in keys for row in self.world.rows(key))


@pytest.fixture
def export_world(
    sm: Any, s3: Any, app_secrets_seeded: Any, zoho: Any, clock: FakeClock, tmp_path: Any, backoff: list[float]
) -> Iterator[ExportFaultWorld]:
    from zoho_aep.adapters import aws as aws_clients

    world = ExportWorld(sm, s3, zoho, clock, tmp_path)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})  # as the stack's
    queue_url = aws_clients.client("sqs").create_queue(QueueName="zoho-aep-export-units")["QueueUrl"]
    injector = Injector({"zoho": zoho}, ("secretsmanager", "events", "s3", "sqs"))
    try:
        world.consent("acme")
        zoho.crm.page_size = 10
        yield ExportFaultWorld(world, injector, queue_url)
    finally:
        injector.close()
        world.close()


def export_outcomes_known(answer: dict[str, Any], lines: list[str]) -> None:
    """Every unit's outcome is a known one with a known reason, and in the log."""
    logged = logged_codes(lines)
    if "error" in answer:
        assert answer["error"]["reason"] in KNOWN and answer["error"]["reason"] in logged, answer
    for export in answer.get("exports", []):
        assert export["outcome"] in EXPORT_OUTCOMES, export
        reason = export.get("reason")
        assert reason is None or (reason in KNOWN and reason != "internal-error"), export
        assert export["outcome"] == "failed" or reason in (None, "export-in-progress"), export
        # A unit that did not run (held elsewhere, its org busy, not due) is in the invocation's line only.
        assert export["outcome"] in logged or export["outcome"] in UNLOGGED, export
        assert reason is None or reason in logged or export["outcome"] == "in-progress", export


# Cells that found a product bug (the layer's owner fixes it; strict: a fix turns the cell green).
EXPORT_BUGS: dict[str, str] = {}  # none known; a found bug is listed here (strict xfail) until fixed


def with_known_bugs(rows: list[MatrixCase], bugs: dict[str, str]) -> list[Any]:
    return [
        pytest.param(row, id=row.id, marks=pytest.mark.xfail(strict=True, reason=bugs[row.id]))
        if row.id in bugs
        else pytest.param(row, id=row.id)
        for row in rows
    ]


@pytest.mark.parametrize("case", with_known_bugs(cases("zoho_export"), EXPORT_BUGS))
def test_every_fault_of_every_export_call(export_world: ExportFaultWorld, case: MatrixCase, hunt: LeakHunt) -> None:
    w, world = export_world, export_world.world
    crm = world.zoho.crm
    expected = crm.add_many(US_ORG, "Leads", SEEDED, modified_at=world.clock() - 3600)
    world.clock.advance(5)
    if case.setup == "delta":  # a first window, then a record changed, one added, one deleted
        assert w.work()["completed"] == 1
        world.clock.advance(world.export.min_interval_seconds + 60)
        changed, deleted = expected[3], expected[7]
        crm.put(US_ORG, "Leads", {"Last_Name": "Changed"}, record_id=changed)
        added = crm.put(US_ORG, "Leads", {"Last_Name": "New"})
        crm.delete(US_ORG, "Leads", deleted)
        expected = [changed, added, deleted]  # the delta's rows: two records and a tombstone
        world.export.bucket = ExportBucket(BUCKET, world.s3, sleep=lambda _s: None)  # a cold process: reads first
        world.clock.advance(5)
    if case.setup == "due":
        world.clock.advance(45 * MINUTE)  # 15 minutes left: the export refreshes the token first
    if case.setup == "pending":
        crm.job_seconds = 120  # the job runs on: the unit is sent back to the queue for a look later
    if case.setup == "tick":
        world.store.set_tags("acme", {TAG_PATH: "amazon-s3"})
    query = w.callback_query() if case.setup == "callback" else ""
    before = w.objects("zoho/")
    watermark = world.bucket.read_state(LEADS)
    watermark_before = watermark.watermark if watermark else None
    hunt.secret(world.value("acme")["refresh_token"])
    w.injector.apply(injection(case))

    if case.setup == "tick":
        answer = w.schedule.handle({})
    elif case.setup == "manual":
        answer = w.schedule.handle({"connection": "acme", "modules": ["Leads"]})
    elif case.setup == "callback":
        answer = w.bulk_callback(query)
    else:
        answer = w.work()

    assert w.injector.faulted() > 0, "the act never made the call: fix the cell's set-up"
    calls = settle("export", w.injector)
    hunt.look_in("answer", answer)
    hunt.look_in("log line", *world.log.lines)
    hunt.look_in("event", *w.published.events)
    if case.setup == "callback":
        assert answer["statusCode"] in (202, 503), answer
        code = json.loads(answer["body"]).get("code", "queued")
        assert code == "queued" or code in KNOWN
        assert code in logged_codes(world.log.lines)
    else:
        export_outcomes_known(answer, world.log.lines)
    limit = MAX_HTTP_CALLS if isinstance(case.call.call, HttpCall) else MAX_EXPORT_AWS_CALLS
    assert calls <= limit, f"{calls} calls: retries must stop"
    world.bucket.read_state(LEADS)  # readable, whatever the failed attempt left
    world.bucket.update_gate("acme", lambda gate: None)

    crm.job_seconds = 0.0
    for _ in range(8):  # the next runs, the dependency healthy again, until the window is out
        state = world.bucket.read_state(LEADS)
        if state is not None and state.run is None and state.watermark not in (None, watermark_before):
            break
        world.clock.advance(world.export.lease_seconds + 1)  # past a lease, a back-off, a throttle
        answer = w.work()
        export_outcomes_known(answer, world.log.lines)
    else:
        raise AssertionError(f"the window never completed: {answer}")

    hunt.look_in("answer", answer)
    hunt.look_in("event", *w.published.events)
    objects = w.objects("")
    hunt.look_in("state", *[world.raw_state()])
    files = w.objects("zoho/")
    new = sorted(set(files) - set(before))
    assert w.file_ids(new) == sorted(expected), "every record exported once"
    assert all(size > 0 for size in files.values()), "never an empty file"
    written = w.s3_written()
    assert [k for k in files if written[k] != 1] == [], f"a file under zoho/ written twice: {written}"
    state = world.state()
    assert state.lease is None and state.last is not None and state.last.outcome == "completed"
    start = None if watermark_before is None else watermark_before - world.export.overlap_seconds
    assert (state.last.window_start, state.watermark) == (start, state.last.window_end), "the watermark moved once"
    undeleted = {k for op, k in w.injector.aws["s3"].sent if op == "DeleteObject" and case.call.id == "s3-delete"}
    leftovers = {k for k in objects if k.startswith("staging/")}
    # A staging delete that failed is left to the bucket's lifecycle rule (unit.py _publish).
    assert leftovers <= undeleted, f"staging left behind: {leftovers}"
