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
from local.emulators.base import Fault
from tests.proof.fault_matrix import (
    CALLS,
    AwsCall,
    DependencyCall,
    HttpCall,
    MatrixCase,
    cases,
    register,
)
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
from tests.support.aws_faults import AwsFaults
from tests.support.constants import CLIENT_ID, PREFIX
from tests.support.export_world import BUCKET, US_ORG, ExportWorld
from tests.support.fakes import FakeClock, http_event
from tests.support.leaks import LeakHunt
from tests.support.reader_rotation import begin_rotation, patch_moto_for_rotation
from tests.support.refresh_world import RefreshWorld
from tests.support.s3_path_world import READER_USER as ROTATED_USER
from tests.support.s3_path_world import S3PathWorld
from zoho_aep.adapters.adobe.flow import FlowServiceClient
from zoho_aep.adapters.adobe.ims import ImsTokenProvider
from zoho_aep.adapters.aws import client as aws_clients_client
from zoho_aep.adapters.http import HttpClient
from zoho_aep.adapters.iam import ReaderUserKeys
from zoho_aep.adapters.s3 import ExportBucket
from zoho_aep.adapters.secrets import AppSecrets, RotatingSecret
from zoho_aep.adapters.sqs import ExportQueue
from zoho_aep.adapters.zoho.crm import ZohoCrmClient
from zoho_aep.adapters.zoho.oauth import ZohoOAuthClient
from zoho_aep.domain import events as ev
from zoho_aep.domain.aep import (
    S3_CONNECTION_SPEC,
    dataset_name,
    field_group_title,
    module_object_name,
    s3_base_connection_name,
)
from zoho_aep.domain.callbacks import callback_url
from zoho_aep.domain.connection import TAG_PATH
from zoho_aep.domain.errors import ZohoAepError, all_codes
from zoho_aep.domain.export import ExportUnit
from zoho_aep.domain.times import epoch_of
from zoho_aep.edges.aep_reader_rotation import ReaderRotationApp
from zoho_aep.edges.zoho_export import BulkCallbackApp, ExportApp, ExportWorkerApp
from zoho_aep.usecases.aep_path import PathDeps
from zoho_aep.usecases.export.callback import BulkCallbackDeps
from zoho_aep.usecases.export.messages import UnitMessage
from zoho_aep.usecases.reader_key import STEPS as ROTATION_STEPS
from zoho_aep.usecases.reader_key import RotationDeps
from zoho_aep.usecases.s3_source.watch import watch_runs
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


# ---- provisioning on the Amazon S3 path (functions/adobe_provisioning, Adobe's Zoho source retired) ------
# The acts: a first provisioning (everything created); "again": a re-run that reads every object by its
# recorded id; "evolve": a re-run after Zoho gained a field (the field group PATCHed, the mapping set
# PUT, the dataflow PATCHed onto it); "rotated": a re-run after the reader key changed (the base
# connection PATCHed); "profile": an identity namespace set (the identity descriptor); "due": the Zoho
# token refreshed first; "failed-before": a run after a failed one (its last-error untagged); and the
# run watch ("watch": a run that refused rows, judged). After the
# act the fault is cleared and the next run (past the 150 s claim) or look must heal everything.
# (A look that finds a recovered run, untagging last-error, is not a cell yet: the bench's second
# ingest did not give a newer good run.)
REGISTRY, CATALOG = "/data/foundation/schemaregistry", "/data/foundation/catalog"
MAPPINGS, FLOWS = "/data/foundation/conversion/mappingSets", FLOW_PREFIX + "/flows"
S3_MODULE = "Leads"  # one module keeps the tier fast; the calls are the same for each module
READER = "/aep-s3-reader"


def aep(id_: str, path: str, method: str | None = None, setup: str = "", suffix: str | None = None) -> DependencyCall:
    return DependencyCall(id_, HttpCall("adobe", path, method, suffix), setup)


def aep_objects(path: str, name: str) -> list[DependencyCall]:
    """An AEP object kind's list (by name), create, and read by id (a re-run)."""
    return [
        aep(f"{name}-list", path, "GET"),
        aep(f"{name}-create", path, "POST"),
        aep(f"{name}-read", path + "/", "GET", "again"),
    ]


register(
    "adobe_provisioning_s3",
    [
        aep("ims-token", IMS_TOKEN_PATH),
        aep("flow-spec", FLOW_PREFIX + "/connectionSpecs"),  # is the native source served? (auto)
        aep("registry-stats", REGISTRY + "/stats"),
        *aep_objects(REGISTRY + "/tenant/classes", "registry-class"),
        *aep_objects(REGISTRY + "/tenant/fieldgroups", "registry-fieldgroup"),
        aep("registry-fieldgroup-patch", REGISTRY + "/tenant/fieldgroups/", "PATCH", "evolve"),
        *aep_objects(REGISTRY + "/tenant/schemas", "registry-schema"),
        aep("registry-descriptor", REGISTRY + "/tenant/descriptors", "POST", "profile"),
        *aep_objects(CATALOG + "/dataSets", "catalog-dataset"),
        aep("dataprep-mapping-create", MAPPINGS, "POST"),
        aep("dataprep-mapping-read", MAPPINGS + "/", "GET", "again"),
        aep("dataprep-mapping-update", MAPPINGS + "/", "PUT", "evolve"),
        *aep_objects(CONNECTIONS, "flow-connection"),
        aep("flow-connection-patch", CONNECTIONS + "/", "PATCH", "rotated"),
        aep("flow-explore", CONNECTIONS + "/", "GET", suffix="/explore"),
        *aep_objects(FLOW_PREFIX + "/sourceConnections", "flow-source"),
        *aep_objects(FLOW_PREFIX + "/targetConnections", "flow-target"),
        *aep_objects(FLOWS, "flow-dataflow"),
        aep("flow-dataflow-patch", FLOWS + "/", "PATCH", "evolve"),
        DependencyCall("zoho-fields", HttpCall("zoho", FIELDS)),
        DependencyCall("zoho-token", HttpCall("zoho", TOKEN), "due"),
        sm("sm-get-reader", "GetSecretValue", READER),
        sm("sm-get-adobe", "GetSecretValue", "/adobe"),
        sm("sm-get-connection", "GetSecretValue", "/connections/"),
        sm("sm-describe", "DescribeSecret"),
        sm("sm-put", "PutSecretValue"),  # the provisioning claim (and a due token)
        sm("sm-stage-move", "UpdateSecretVersionStage"),
        sm("sm-tag", "TagResource"),
        sm("sm-untag", "UntagResource", setup="failed-before"),
        s3("s3-get-export-state", "GetObject", f"state/acme/{S3_MODULE}.json"),
        s3("s3-get-aep", "GetObject", "state/acme/_aep.json"),
        s3("s3-put-aep", "PutObject", "state/acme/_aep.json"),
        s3("s3-put-aep-again", "PutObject", "state/acme/_aep.json", "rotated"),  # If-Match on a stored state
        s3("s3-list-states", "ListObjectsV2", "state/"),
        DependencyCall("events-put", AwsCall("events", "PutEvents")),
        # the run watch ({"watch": "dataflow-runs"})
        aep("watch-ims-token", IMS_TOKEN_PATH, setup="watch"),
        aep("watch-flow-runs", FLOW_PREFIX + "/runs", "GET", "watch"),
        sm("watch-sm-get-adobe", "GetSecretValue", "/adobe", "watch"),
        sm("watch-sm-describe", "DescribeSecret", setup="watch"),
        sm("watch-sm-tag", "TagResource", setup="watch"),
        s3("watch-s3-list-states", "ListObjectsV2", "state/", "watch"),
        s3("watch-s3-get-aep", "GetObject", "state/acme/_aep.json", "watch"),
        s3("watch-s3-put-aep", "PutObject", "state/acme/_aep.json", "watch"),
        DependencyCall("watch-events-put", AwsCall("events", "PutEvents"), "watch"),
    ],
)


class S3PathFaultWorld:
    """The S3-path bench (one module) with the production pieces the matrix reaches: EventBridge
    (moto), production's retry attempts with short waits, a cold process's secrets cache per act."""

    def __init__(self, world: S3PathWorld, injector: Injector) -> None:
        self.world, self.injector = world, injector
        self.published = PublishedEvents()
        world.deps.zoho = ZohoOAuthClient(HttpClient(shortened(REFRESH_POLICY), sleep=lambda _s: None))
        world.export.crm = ZohoCrmClient(HttpClient(shortened(EXPORT_POLICY), sleep=lambda _s: None))
        world.export.events = world.deps.events = self.published
        self.cold()

    def cold(self, env: dict[str, str] | None = None) -> None:
        """A new process: the secrets read afresh (production's cache), the deps wired as wiring does."""
        w = self.world
        w.aep_settings = w.settings_with({"EXPORT_MODULES": S3_MODULE, **(env or {})})
        w.aep_secrets = AppSecrets(PREFIX, w.sm)
        w.source = w.s3_deps(w.aep_settings)
        w.source.crm, w.source.events = w.export.crm, self.published
        native = w.native_deps(w.aep_settings)
        native.events = self.published
        w.path = PathDeps(native, lambda: w.source)
        w.export.modules = w.aep_settings.export_modules

    def objects(self) -> dict[str, int]:
        """How many of each AEP object the product's names find in the sandbox."""
        apis = self.world.apis("prod")
        name = module_object_name(PREFIX, "acme", S3_MODULE)
        title = dataset_name("acme", S3_MODULE)
        return {
            "base connection": len(
                apis.flows.find_connections(S3_CONNECTION_SPEC, s3_base_connection_name(PREFIX, "acme"))
            ),
            "flow": len(apis.flows.find("flows", name)),
            "source": len(apis.flows.find("sourceConnections", name)),
            "target": len(apis.flows.find("targetConnections", name)),
            "dataset": len(apis.catalog.find_datasets(title)),
            "schema": len(apis.registry.find("schemas", title)),
            "field group": len(apis.registry.find("fieldgroups", field_group_title("acme", S3_MODULE))),
        }

    def tags(self) -> dict[str, str]:
        return self.world.store.get_tags("acme")

    def aep_value(self) -> dict[str, Any] | None:
        state = self.world.bucket.read_aep_state("acme")
        return None if state is None else state.to_value()


@pytest.fixture
def s3_path_world(
    sm: Any,
    s3: Any,
    app_secrets_seeded: Any,
    zoho: Any,
    adobe: Any,
    clock: FakeClock,
    tmp_path: Any,
    backoff: list[float],
) -> Iterator[S3PathFaultWorld]:
    world = S3PathWorld(sm, s3, zoho, adobe, clock, tmp_path, adobe_policy=shortened(ADOBE_POLICY))
    injector = Injector({"zoho": zoho, "adobe": adobe}, ("secretsmanager", "events", "s3"))
    try:
        world.consent("acme")
        zoho.crm.page_size = 50
        zoho.crm.add_many(US_ORG, S3_MODULE, 4, modified_at=clock() - 3600)
        adobe.zoho_spec_state = "gone"  # Adobe retired its Zoho CRM source
        yield S3PathFaultWorld(world, injector)
    finally:
        injector.close()
        world.close()


def _s3_provisioning_setup(w: S3PathFaultWorld, setup: str) -> None:
    world = w.world
    if setup in ("again", "evolve", "rotated") or setup.startswith("watch"):
        assert world.provision().ok
        world.clock.advance(151)
        w.cold()
    if setup == "evolve":
        world.zoho.crm.add_field(US_ORG, S3_MODULE, "Lead_Score", "integer")
    if setup == "rotated":
        world.reader_key = world.new_reader_key()
    if setup == "profile":
        w.cold({"AEP_IDENTITY_NAMESPACE": "Email"})
    if setup == "due":
        world.clock.advance(45 * MINUTE)  # 15 minutes left: the token is refreshed before the fields' read
    if setup == "failed-before":
        w.cold({"EXPORT_SCHEDULE_MINUTES": "15"})  # past the batch budget: a lasting failure, marked
        assert not world.provision().ok and "zoho-aep:last-error" in w.tags()
        world.clock.advance(151)
        w.cold()


# Cells that found a product bug (the layer's owner fixes it; strict: a fix turns the cell green).
S3_PATH_BUGS: dict[str, str] = {}  # none known


@pytest.mark.parametrize("case", with_known_bugs(cases("adobe_provisioning_s3"), S3_PATH_BUGS))
def test_every_fault_of_every_s3_path_provisioning_call(
    s3_path_world: S3PathFaultWorld, case: MatrixCase, hunt: LeakHunt
) -> None:
    if case.setup.startswith("watch"):
        _watch_cell(s3_path_world, case, hunt)
        return
    w, world = s3_path_world, s3_path_world.world
    _s3_provisioning_setup(w, case.setup)
    hunt.secret(world.reader_key["secret_access_key"])
    before, events_before = world.value("acme"), len(w.published.events)
    w.injector.apply(injection(case))

    result = world.provision()

    assert w.injector.faulted() > 0, "the act never made the call: fix the cell's set-up"
    calls = settle("provisioning-s3", w.injector)
    hunt.look_in("answer", result.as_dict())
    hunt.look_in("log line", *world.log.lines)
    hunt.look_in("event", *w.published.events)
    assert result.ok or (result.reason_code in KNOWN and result.reason_code != "internal-error"), result
    assert (result.reason_code or "provisioned") in logged_codes(world.log.lines)
    bounded(case, calls)
    assert max(w.objects().values()) <= 1, f"an AEP object made twice: {w.objects()}"
    after = world.value("acme")
    assert after["refresh_token"] == before["refresh_token"]
    assert lost_tokens(after, set(world.zoho.live_refresh_tokens(CLIENT_ID))) == []
    failed = [d for t, d in w.published.events[events_before:] if t == ev.PROVISIONING_FAILED]
    assert len(failed) <= (0 if result.ok else 1)

    world.clock.advance(151)  # past any provisioning claim a failed run left
    w.cold()
    healed = world.provision()

    assert healed.ok and healed.path == "amazon-s3", healed
    assert set(w.objects().values()) == {1}, w.objects()
    state = world.aep_state()
    assert state.module(S3_MODULE).complete, state.to_value()
    assert state.reader_key_id == world.reader_key["access_key_id"]
    tags = w.tags()
    assert (tags[TAG_PATH], tags["zoho-aep:status"]) == ("amazon-s3", "active"), tags
    assert tags["aep:base-connection-id"] == state.base_connection_id
    (connection,) = [c for c in world.adobe.connections_in("prod") if c["id"] == state.base_connection_id]
    assert connection["auth"]["params"]["s3AccessKey"] == world.reader_key["access_key_id"]
    hunt.look_in("answer", healed.as_dict())
    hunt.look_in("state", state.to_value())
    hunt.look_in("event", *w.published.events)


def _watch_cell(w: S3PathFaultWorld, case: MatrixCase, hunt: LeakHunt) -> None:
    """The run watch under the fault: no raise; the AEP state and the tags unchanged or rightly
    updated; the next look (healthy) judges the run as a clean look would have."""
    world = w.world
    _s3_provisioning_setup(w, case.setup)
    for _ in range(3):  # a run that refuses rows: the look judges it failed
        world.zoho.crm.put(US_ORG, S3_MODULE, {"Last_Name": "Undated", "Created_Time": "31/13/2026 25:61"})
    world.clock.advance(600)
    world.export_all()
    world.ingest()
    wanted = {"zoho-aep:status": "ingestion-failing", "zoho-aep:last-error": "aep-row-errors"}
    hunt.secret(world.reader_key["secret_access_key"])
    w.cold()
    tags_before, state_before = w.tags(), w.aep_value()
    events_before = len(w.published.events)
    w.injector.apply(injection(case))

    outcome = watch_runs(world.source)  # never raises

    assert w.injector.faulted() > 0, "the look never made the call: fix the cell's set-up"
    calls = settle("watch", w.injector)
    hunt.look_in("answer", outcome.as_dict())
    hunt.look_in("log line", *world.log.lines)
    bounded(case, calls)
    assert outcome.skipped in ([], ["acme"]), outcome
    assert "watched" in logged_codes(world.log.lines)
    tags = w.tags()
    picked = {k: tags.get(k) for k in wanted}
    assert picked in ({k: tags_before.get(k) for k in wanted}, wanted), f"tags half-updated: {picked}"
    state = w.aep_value()
    assert state is not None and state_before is not None
    last = state["modules"][S3_MODULE].get("last_run")
    if state != state_before:  # rightly updated: the newest run judged
        assert last is not None and last["verdict"] == "failed", last

    w.cold()
    again = watch_runs(world.source)  # the next look, healthy

    assert again.skipped == [], again
    assert again.failed == [f"acme/{S3_MODULE}"], again
    tags = w.tags()
    assert {k: tags.get(k) for k in wanted} == wanted, tags
    seen = world.aep_state().module(S3_MODULE)
    assert seen.last_run is not None and seen.failing_since is not None
    kind = ev.AEP_RUN_FAILED
    published = [t for t, _ in w.published.events[events_before:] if t == kind]
    lost = case.call.call == AwsCall("events", "PutEvents")
    assert len(published) == (0 if lost and case.kind != "lost" else 1) or (lost and len(published) <= 1), published
    hunt.look_in("event", *w.published.events)


# ---- the reader key's rotation (functions/aep_reader_rotation) ---------------------------------------
# The act: Secrets Manager's four steps for one version, through the function's edge, against the
# Adobe emulator (a provisioned S3 base connection holding the key, AEP's explore reading the bucket
# with it). A failed step raises; then Secrets Manager's retry runs the rotation again from its start.
def iam(id_: str, operation: str, setup: str = "") -> DependencyCall:
    return DependencyCall(id_, AwsCall("iam", operation), setup)


register(
    "aep_reader_rotation",
    [
        iam("iam-list-keys", "ListAccessKeys"),
        iam("iam-create-key", "CreateAccessKey"),
        iam("iam-delete-key", "DeleteAccessKey"),
        sm("sm-describe", "DescribeSecret", READER),
        sm("sm-get-reader", "GetSecretValue", READER),
        sm("sm-put-pending", "PutSecretValue", READER),
        sm("sm-stage-move", "UpdateSecretVersionStage", READER),
        sm("sm-get-adobe", "GetSecretValue", "/adobe"),
        s3("s3-list-states", "ListObjectsV2", "state/"),
        s3("s3-get-aep", "GetObject", "state/acme/_aep.json"),
        s3("s3-put-aep", "PutObject", "state/acme/_aep.json"),
        aep("ims-token", IMS_TOKEN_PATH),
        aep("flow-connection-read", CONNECTIONS + "/", "GET"),
        aep("flow-connection-patch", CONNECTIONS + "/", "PATCH"),
        aep("flow-explore", CONNECTIONS + "/", "GET", suffix="/explore"),
        DependencyCall("events-put", AwsCall("events", "PutEvents")),
    ],
)


class RotationFaultWorld:
    """A provisioned S3-path connection and the rotation's production deps (the product's IAM,
    Secrets Manager and S3 clients, Flow Service over HTTP to the emulator, EventBridge on moto)."""

    def __init__(self, paths: S3PathFaultWorld) -> None:
        from zoho_aep.adapters import aws as aws_clients

        world = paths.world
        self.paths, self.world = paths, world
        self.failures: list[tuple[str, str]] = []
        self.secret_name = f"{PREFIX}{READER}"
        self.app = ReaderRotationApp(self.deps, self.secret_name, logger=world.logger)
        self.arn = world.sm.describe_secret(SecretId=self.secret_name)["ARN"]
        self.iam = aws_clients.client("iam")

    def deps(self) -> RotationDeps:
        world = self.world
        http = HttpClient(shortened(ADOBE_POLICY), sleep=lambda _s: None, rng=lambda: 1.0)
        secrets = AppSecrets(PREFIX, world.sm)
        ims = ImsTokenProvider(http, world.aep_settings.adobe_ims_url, secrets.adobe, clock=world.clock)

        def flows(sandbox: str) -> FlowServiceClient:
            return FlowServiceClient(http, world.aep_settings.adobe_platform_url, ims, secrets.adobe, sandbox)

        return RotationDeps(
            secret=RotatingSecret(),
            user=ReaderUserKeys(ROTATED_USER),
            states=ExportBucket(BUCKET),
            flows=flows,
            bucket=BUCKET,
            service_url=world.source.s3_service_url,
            events=self.paths.published,
            logger=world.logger,
            on_failure=lambda step, code: self.failures.append((step, code)),
            sleep=lambda _s: None,
        )

    def rotate(self, token: str) -> ZohoAepError | None:
        """Every step in order, as Secrets Manager calls them; the error a step raised, if one did."""
        app = ReaderRotationApp(self.deps, self.secret_name, logger=self.world.logger)  # a cold process
        for step in ROTATION_STEPS:
            try:
                app.handle({"SecretId": self.arn, "ClientRequestToken": token, "Step": step})
            except ZohoAepError as exc:
                return exc
        return None

    def current(self) -> tuple[str, dict[str, str]]:
        sm = self.world.sm
        stages = sm.describe_secret(SecretId=self.secret_name)["VersionIdsToStages"]
        version = next(v for v, labels in stages.items() if "AWSCURRENT" in labels)
        return version, json.loads(sm.get_secret_value(SecretId=self.secret_name)["SecretString"])

    def active_keys(self) -> set[str]:
        keys = self.iam.list_access_keys(UserName=ROTATED_USER)["AccessKeyMetadata"]
        return {k["AccessKeyId"] for k in keys if k["Status"] == "Active"}

    def held_keys(self) -> set[str]:
        """The key every S3 base connection in AEP (the emulator) holds."""
        return {
            c["auth"]["params"]["s3AccessKey"]
            for c in self.world.adobe.connections_in("prod")
            if c["connectionSpec"]["id"] == S3_CONNECTION_SPEC
        }

    def secrets(self) -> set[str]:
        found = set()
        sm = self.world.sm
        for version in sm.list_secret_version_ids(SecretId=self.secret_name, IncludeDeprecated=True)["Versions"]:
            try:
                text = sm.get_secret_value(SecretId=self.secret_name, VersionId=version["VersionId"])["SecretString"]
            except sm.exceptions.ClientError:
                continue
            found.add(json.loads(text or "{}").get("secret_access_key", ""))
        return {s for s in found if s}


@pytest.fixture
def rotation_world(s3_path_world: S3PathFaultWorld) -> Iterator[RotationFaultWorld]:
    patch_moto_for_rotation()
    s3_path_world.injector.aws["iam"] = AwsFaults(aws_clients_client("iam"))
    assert s3_path_world.world.provision().ok
    yield RotationFaultWorld(s3_path_world)


@pytest.mark.parametrize("case", with_known_bugs(cases("aep_reader_rotation"), {}))
def test_every_fault_of_every_rotation_call(
    rotation_world: RotationFaultWorld, case: MatrixCase, hunt: LeakHunt
) -> None:
    r, world = rotation_world, rotation_world.world
    injector = r.paths.injector
    old_version, old = r.current()
    token = begin_rotation(r.secret_name)
    events_before = len(r.paths.published.events)
    injector.apply(injection(case))

    raised = r.rotate(token)

    assert injector.faulted() > 0, "the rotation never made the call: fix the cell's set-up"
    calls = settle("rotation", injector)
    hunt.secret(*r.secrets())
    hunt.look_in("log line", *world.log.lines)
    hunt.look_in("event", *r.paths.published.events)
    bounded(case, calls)
    version, current = r.current()
    if raised is not None:
        hunt.look_in("error", str(raised), raised.message)
        assert raised.code in KNOWN and raised.code != "internal-error", raised
        assert raised.code in logged_codes(world.log.lines)
        assert r.failures[-1][1] == raised.code, r.failures  # the ReaderKeyRotationFailed metric
        if version != old_version:  # AWSCURRENT moved: only finishing can fail after that
            assert r.failures[-1][0] == "finishSecret", r.failures
        else:
            assert current == old, "AWSCURRENT must not change"
        assert current["access_key_id"] in r.active_keys(), "the current key must still work"
        assert r.held_keys() <= r.active_keys(), "AEP must hold a key that works"
        if version == old_version and r.failures[-1][0] != "finishSecret":
            assert r.held_keys() == {old["access_key_id"]}, "AEP must be back on the current key"
        # A finishSecret that could not move AWSCURRENT leaves AEP on the pending key, active in IAM
        # (reader_key.py's design, as tests/integration/test_reader_rotation.py states it): it works,
        # and the retry (below) or the next rotation's createSecret settles it.
    else:
        assert version == token and r.held_keys() == {current["access_key_id"]}

    raised = r.rotate(token)  # Secrets Manager's retry, the fault cleared: from the start

    assert raised is None, raised
    version, current = r.current()
    assert version == token and current["access_key_id"] != old["access_key_id"]
    assert r.active_keys() == {current["access_key_id"]}, "the old key deleted"
    assert r.held_keys() == {current["access_key_id"]}
    assert world.aep_state().reader_key_id == current["access_key_id"]
    rotated = [d for t, d in r.paths.published.events[events_before:] if t == ev.READER_KEY_ROTATED]
    assert len(rotated) <= 1 + (case.call.call.service == "events"), rotated
    hunt.secret(*r.secrets())
    hunt.look_in("event", *r.paths.published.events)
    hunt.look_in("log line", *world.log.lines)
