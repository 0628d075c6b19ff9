"""A cycle too large for one invocation, fanned out in shards to worker invocations (``fanout``).

The planner and the workers run the product's code against moto and the Zoho emulator; the queues
between them are an in-memory double that delivers shards to the worker app when the planner waits
(and, in one test, real SQS in moto with a worker thread polling it like Lambda's event source).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import PREFIX
from tests.support.fakes import FakeClock
from tests.support.refresh_world import RefreshWorld
from zoho_aep.adapters.sqs import SqsShardQueues
from zoho_aep.config.settings import load_settings
from zoho_aep.domain import events as ev
from zoho_aep.domain.connection import TAG_LAST_ERROR, TAG_STATUS, ConnectionSummary
from zoho_aep.domain.errors import ConfigError, RefreshShardInvalid
from zoho_aep.edges.token_refresh import RefreshShardApp, record_cycle_metrics
from zoho_aep.usecases.refresh.messages import MAX_MESSAGE_BYTES, Shard, ShardResult, make_shards
from zoho_aep.usecases.refresh.planner import FanOut
from zoho_aep.wiring import refresh_fanout

MINUTE = 60
DUE = 41 * MINUTE


class InlineQueues:
    """Shards go to the worker app when the planner next waits for results; each wait moves time on."""

    def __init__(self, world: RefreshWorld, monotonic: FakeClock, *, drop: frozenset[int] = frozenset()) -> None:
        self.world = world
        self.monotonic = monotonic
        self.drop = drop  # shard indexes whose worker never answers
        self.shards: list[str] = []
        self.results: list[str] = []
        self.deleted = 0
        self.worker = RefreshShardApp(lambda: world.deps, logger=world.logger)

    def send_shard(self, body: str, key: str) -> None:
        self.shards.append(body)

    def send_result(self, body: str) -> None:
        self.results.append(body)

    def receive_results(self, wait_seconds: int) -> list[tuple[str, str]]:
        while self.shards:
            body = self.shards.pop(0)
            if json.loads(body)["index"] not in self.drop:
                self.worker.handle({"Records": [{"body": body}]}, time_left=lambda: 300.0)
        self.monotonic.advance(max(1, wait_seconds))
        answered, self.results = self.results, []
        return [(body, f"receipt-{i}") for i, body in enumerate(answered)]

    def delete_result(self, receipt: str) -> None:
        self.deleted += 1


@pytest.fixture
def world(sm: Any, app_secrets_seeded: dict[str, Any], zoho: Any, clock: FakeClock) -> Iterator[RefreshWorld]:
    bench = RefreshWorld(sm, zoho, clock)
    bench.deps.monotonic = FakeClock(0.0)
    yield bench
    bench.close()


def fan_out(world: RefreshWorld, size: int = 2, **kwargs: Any) -> InlineQueues:
    monotonic = world.deps.monotonic
    assert isinstance(monotonic, FakeClock)
    queues = InlineQueues(world, monotonic, **kwargs)
    world.deps.fanout = FanOut(queues, shard_size=size)
    return queues


def consent_all(world: RefreshWorld, count: int) -> list[str]:
    names = [f"conn-{i}" for i in range(count)]
    for name in names:
        world.consent(name)
    return names


# ---- when and how a cycle fans out ---------------------------------------------------------------
def test_a_cycle_within_the_shard_size_runs_in_this_invocation(world: RefreshWorld) -> None:
    queues = fan_out(world, size=2)
    consent_all(world, 2)
    world.clock.advance(DUE)

    report = world.cycle(time_left=lambda: 300.0)

    assert report.count("refreshed") == 2 and report.shards == 0
    assert queues.shards == [] and queues.results == []


def test_a_large_cycle_is_refreshed_in_shards_each_connection_exactly_once(world: RefreshWorld) -> None:
    fan_out(world, size=2)
    names = consent_all(world, 5)
    world.clock.advance(DUE)

    report = world.cycle(time_left=lambda: 300.0)

    assert (report.shards, report.shards_lost) == (3, 0)
    assert sorted(o.connection for o in report.outcomes) == names
    assert report.count("refreshed") == 5
    assert len(world.refresh_calls()) == 5
    assert report.as_dict()["shards"] == 3


def test_fanning_out_reads_no_secret_of_a_connection_that_is_not_due(world: RefreshWorld) -> None:
    fan_out(world, size=2)
    consent_all(world, 3)
    world.clock.advance(30 * MINUTE)
    world.consent("late")
    world.clock.advance(11 * MINUTE)
    world.secret_reads.clear()

    report = world.cycle(time_left=lambda: 300.0)

    assert report.shards == 2 and report.not_due == 1
    assert world.secret_reads[f"{PREFIX}/connections/late"] == 0


def test_workers_record_failures_exactly_as_one_invocation_does(world: RefreshWorld) -> None:
    fan_out(world, size=2)
    consent_all(world, 2)
    revoked = world.consent("revoked", dc="eu")  # another Zoho user: revoking touches only this one
    world.zoho.revoke_consent(revoked.refresh_token)
    world.clock.advance(DUE)

    report = world.cycle(time_left=lambda: 300.0)

    outcome = report.outcome_of("revoked")
    assert (outcome.outcome, outcome.reason) == ("needs-reauth", "zoho-consent-revoked")
    assert world.tags("revoked")[TAG_STATUS] == "needs-reauth"
    assert world.events_of(ev.NEEDS_REAUTHORIZATION) == [
        {"connection": "revoked", "reason_code": "zoho-consent-revoked"}
    ]
    assert report.count("refreshed") == 2


def test_a_missing_zoho_client_stops_the_cycle_before_any_shard_is_sent(world: RefreshWorld, sm: Any) -> None:
    queues = fan_out(world, size=2)
    consent_all(world, 3)
    world.clock.advance(DUE)
    sm.put_secret_value(SecretId=f"{PREFIX}/zoho-client", SecretString="{}")

    report = world.cycle(time_left=lambda: 300.0)

    assert report.error is not None and report.error.code == "zoho-client-not-configured"
    assert queues.shards == [] and report.shards == 0


# ---- what cannot go wrong ------------------------------------------------------------------------
def test_a_shard_that_never_answers_is_reported_lost_and_its_connections_deferred(world: RefreshWorld) -> None:
    fan_out(world, size=2, drop=frozenset({1}))
    consent_all(world, 4)
    world.clock.advance(DUE)

    report = world.cycle(time_left=lambda: 300.0)

    assert (report.shards, report.shards_lost) == (2, 1)
    assert report.count("refreshed") == 2
    deferred = [o for o in report.outcomes if o.reason == "deferred"]
    assert len(deferred) == 2 and len(world.refresh_calls()) == 2


def test_a_shard_past_its_deadline_touches_nothing(world: RefreshWorld) -> None:
    queues = fan_out(world)
    consent_all(world, 2)
    world.clock.advance(DUE)
    summaries = world.store.list()
    late = make_shards("cycle-1", summaries, force=False, not_after=world.clock() - 1, size=10)[0]
    world.secret_reads.clear()

    answer = queues.worker.handle({"Records": [{"body": late.to_message()}]}, time_left=lambda: 300.0)

    assert answer["shards"][0]["deferred"] == 2
    assert sum(world.secret_reads.values()) == 0 and world.refresh_calls() == []
    result = ShardResult.from_message(queues.results[0])
    assert {o.reason for o in result.outcomes} == {"deferred"}


def test_the_sample_shard_event_is_read_and_being_late_touches_nothing(world: RefreshWorld) -> None:
    queues = fan_out(world)
    event = json.loads((Path(__file__).resolve().parents[2] / "events" / "token_refresh_shard.json").read_text())
    world.secret_reads.clear()

    answer = queues.worker.handle(event, time_left=lambda: 300.0)

    assert answer["shards"][0]["status"] == "ok" and answer["shards"][0]["deferred"] == 1
    assert sum(world.secret_reads.values()) == 0


def test_no_connection_is_started_within_the_reserve_of_the_planners_deadline(world: RefreshWorld) -> None:
    queues = fan_out(world)
    world.consent("acme")
    world.clock.advance(DUE)
    # 60 s before the planner's deadline: less than the 75 s a refresh may take.
    shard = make_shards("cycle-1", world.store.list(), force=False, not_after=world.clock() + 60, size=10)[0]

    queues.worker.handle({"Records": [{"body": shard.to_message()}]}, time_left=lambda: 300.0)

    assert world.refresh_calls() == []
    assert ShardResult.from_message(queues.results[0]).outcomes[0].reason == "deferred"


def test_a_result_of_an_earlier_cycle_is_deleted_and_ignored(world: RefreshWorld) -> None:
    queues = fan_out(world, size=1)
    consent_all(world, 2)
    world.clock.advance(DUE)
    old = ShardResult("an-earlier-cycle", 0, ())
    queues.results.append(old.to_message())

    report = world.cycle(time_left=lambda: 300.0)

    assert report.count("refreshed") == 2 and report.shards_lost == 0
    assert queues.deleted == 3


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"kind": "something-else"}),
        json.dumps({"kind": "zoho-aep/refresh-shard", "cycle": "c", "index": 0, "count": 1, "not_after": 1e12,
                    "force": False, "connections": [{"name": "../../zoho-client", "tags": {}}]}),
    ],
    ids=["not-json", "other-kind", "bad-connection-name"],
)  # fmt: skip
def test_an_unreadable_shard_is_refused_without_reading_anything(world: RefreshWorld, body: str) -> None:
    queues = fan_out(world)
    world.secret_reads.clear()

    answer = queues.worker.handle({"Records": [{"body": body}]}, time_left=lambda: 300.0)

    assert answer["shards"] == [{"status": "refused", "reason": "refresh-shard-invalid"}]
    assert sum(world.secret_reads.values()) == 0 and queues.results == []


def test_a_shard_carries_every_tag_the_listing_showed_so_workers_decide_as_one_invocation() -> None:
    tags = {TAG_STATUS: "active", "zoho-aep:a-tag-added-later": "kept", "aep:path": "amazon-s3"}
    (shard,) = make_shards(
        "c", [ConnectionSummary("acme", "p/connections/acme", tags)], force=False, not_after=0.0, size=10
    )

    (received,) = Shard.from_message(shard.to_message(), "p").connections

    assert received.tags == tags


def test_a_shard_whose_tags_are_not_aws_tags_is_refused() -> None:
    body = json.dumps(
        {"kind": "zoho-aep/refresh-shard", "cycle": "c", "index": 0, "count": 1, "not_after": 1e12, "force": False,
         "connections": [{"name": "acme", "tags": {"zoho-aep:status": "x" * 257}}]}
    )  # fmt: skip
    with pytest.raises(RefreshShardInvalid):
        Shard.from_message(body, "p")


def test_shards_stay_under_the_sqs_message_size() -> None:
    tags = {TAG_STATUS: "refresh-failing", TAG_LAST_ERROR: "x" * 64}
    due = [ConnectionSummary(f"{i:064d}", f"p/connections/{i:064d}", tags) for i in range(3000)]

    shards = make_shards("c", due, force=False, not_after=0.0, size=5000)

    assert len(shards) > 1 and sum(len(s.connections) for s in shards) == 3000
    assert all(len(s.to_message().encode()) <= MAX_MESSAGE_BYTES + 1024 for s in shards)
    assert Shard.from_message(shards[0].to_message(), "p").connections == shards[0].connections


def test_sharded_cycles_report_their_shards_as_metrics(world: RefreshWorld) -> None:
    fan_out(world, size=1)
    consent_all(world, 2)
    world.clock.advance(DUE)
    report = world.cycle(time_left=lambda: 300.0)
    metrics = _RecordingMetrics()

    record_cycle_metrics(metrics, report)

    assert metrics.values["RefreshShards"] == 2 and metrics.values["RefreshShardsLost"] == 0


class _RecordingMetrics:
    default_dimensions: dict[str, str] = {}

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        self.values[name] = value


# ---- the real queues -----------------------------------------------------------------------------
def test_a_cycle_fans_out_over_sqs_to_a_polling_worker(world: RefreshWorld) -> None:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1")
    shard_url = sqs.create_queue(QueueName="shards.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    result_url = sqs.create_queue(QueueName="results")["QueueUrl"]
    world.deps.monotonic = __import__("time").monotonic
    world.deps.fanout = FanOut(SqsShardQueues(shard_url, result_url, sqs), shard_size=2, budget_seconds=120.0)
    worker = RefreshShardApp(lambda: world.deps, logger=world.logger)
    stop = threading.Event()

    def poll() -> None:  # what Lambda's SQS event source does, one message per invocation
        for _ in range(600):
            if stop.is_set():
                return
            for message in sqs.receive_message(QueueUrl=shard_url, WaitTimeSeconds=1).get("Messages", []):
                worker.handle({"Records": [{"body": message["Body"]}]}, time_left=lambda: 300.0)
                sqs.delete_message(QueueUrl=shard_url, ReceiptHandle=message["ReceiptHandle"])

    names = consent_all(world, 4)
    world.clock.advance(DUE)
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        report = world.cycle()
    finally:
        stop.set()
        thread.join(timeout=10)

    assert (report.shards, report.shards_lost) == (2, 0)
    assert sorted(o.connection for o in report.outcomes if o.outcome == "refreshed") == names


# ---- configuration -------------------------------------------------------------------------------
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/zoho-aep-shards"
RESULTS = "https://sqs.us-east-1.amazonaws.com/123456789012/zoho-aep-results"


def test_the_planner_needs_both_queues_and_a_worker_only_the_result_queue() -> None:
    planner = refresh_fanout(load_settings({"REFRESH_SHARD_QUEUE_URL": QUEUE, "REFRESH_RESULT_QUEUE_URL": RESULTS}))
    worker = refresh_fanout(load_settings({"REFRESH_RESULT_QUEUE_URL": RESULTS}))

    assert planner is not None and planner.takes(1001) and not planner.takes(1000)
    assert worker is not None and not worker.takes(10**6)
    assert refresh_fanout(load_settings({})) is None


@pytest.mark.parametrize(
    "env",
    [
        {"REFRESH_SHARD_QUEUE_URL": QUEUE},
        {"REFRESH_SHARD_QUEUE_URL": "http://sqs.example.com/1/q", "REFRESH_RESULT_QUEUE_URL": RESULTS},
        {"REFRESH_RESULT_QUEUE_URL": "not a url"},
        {"REFRESH_SHARD_QUEUE_URL": QUEUE, "REFRESH_RESULT_QUEUE_URL": RESULTS, "REFRESH_SHARD_SIZE": "10"},
    ],
    ids=["results-missing", "plain-http", "not-a-url", "shard-too-small"],
)
def test_fan_out_configuration_is_checked_at_cold_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(env)
