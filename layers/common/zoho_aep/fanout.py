"""A refresh cycle too large for one invocation, fanned out over SQS to worker invocations.

The scheduled token refresh function is the **planner**. It lists and selects from tags as always;
when more connections are due than ``REFRESH_SHARD_SIZE``, it sends them in shards to the shard
queue. Worker invocations (the queue's event source, at most ``RefreshShardWorkers`` at once)
refresh each shard with the per-connection code a single invocation runs, and answer on the result
queue. The planner waits for every shard's result and reports the cycle as one (report, metrics).

Why every guarantee of a single invocation holds:

- **No secret read for a connection that is not due.** Shards carry only the due connections, with
  the tags the listing showed; workers never list.
- **Mint budget, compare-and-swap, isolation** live in the per-connection refresh, shared as is.
- **Cycles never overlap.** Each shard carries the planner's deadline (``not_after``: the planner's
  own end minus a margin). A worker starts a connection only while the refresh reserve still fits
  before it, so all of a cycle's work ends before the planner returns, and the planner keeps reserved
  concurrency 1: the next cycle, or a manual invoke, cannot start before. A shard that arrives late
  (a throttled worker, a redelivery) finds its deadline passed and defers everything without reading
  a secret; the next cycle takes those connections from their tags.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import aws
from .errors import BadRequest, ZohoAepError
from .names import check_connection_name
from .refresh import (
    ERROR,
    REASON_DEFERRED,
    SKIPPED,
    ConnectionOutcome,
    CycleReport,
    RefreshDeps,
)
from .store import TAG_EXPIRES_AT, TAG_LAST_ERROR, TAG_RETRY_AFTER, TAG_STATUS, ConnectionSummary

SHARD_KIND = "zoho-aep/refresh-shard"
RESULT_KIND = "zoho-aep/refresh-shard-result"
# SQS takes messages up to 256 KiB; a shard is cut before this many bytes of JSON.
MAX_MESSAGE_BYTES = 200_000
# The tags a worker needs from the listing: the prior status, and which failure tags exist.
SHARD_TAGS = (TAG_STATUS, TAG_EXPIRES_AT, TAG_LAST_ERROR, TAG_RETRY_AFTER)
RECEIVE_WAIT_SECONDS = 5  # long polling, well under the SQS client's read timeout


class RefreshShardInvalid(BadRequest):
    code = "refresh-shard-invalid"


class RefreshQueueError(ZohoAepError):
    code = "refresh-queue-error"
    retryable = True


# ---- the messages ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shard:
    """Part of one cycle's due connections, and the time by which its work must be done."""

    cycle: str
    index: int
    count: int
    not_after: float  # epoch seconds: the planner's end minus its margin
    force: bool
    connections: tuple[ConnectionSummary, ...]

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": SHARD_KIND,
                "cycle": self.cycle,
                "index": self.index,
                "count": self.count,
                "not_after": self.not_after,
                "force": self.force,
                "connections": [_item(summary) for summary in self.connections],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: object, prefix: str) -> Shard:
        """Parse and check a shard message; anything unexpected raises RefreshShardInvalid."""
        data = _json_object(body, SHARD_KIND)
        cycle, index, count = data.get("cycle"), data.get("index"), data.get("count")
        not_after, force, items = data.get("not_after"), data.get("force"), data.get("connections")
        if not isinstance(cycle, str) or not 0 < len(cycle) <= 64:
            raise RefreshShardInvalid("A refresh shard names no cycle.")
        if not isinstance(index, int) or not isinstance(count, int) or not 0 <= index < count:
            raise RefreshShardInvalid("A refresh shard has no valid position in its cycle.")
        if isinstance(not_after, bool) or not isinstance(not_after, (int, float)) or not isinstance(force, bool):
            raise RefreshShardInvalid("A refresh shard has no deadline.")
        if not isinstance(items, list) or not items:
            raise RefreshShardInvalid("A refresh shard lists no connections.")
        return cls(cycle, index, count, float(not_after), force, tuple(_summary(item, prefix) for item in items))


def _item(summary: ConnectionSummary) -> dict[str, Any]:
    return {"name": summary.name, "tags": {k: summary.tags[k] for k in SHARD_TAGS if k in summary.tags}}


def _summary(item: object, prefix: str) -> ConnectionSummary:
    if not isinstance(item, Mapping):
        raise RefreshShardInvalid("A refresh shard's connection is not an object.")
    tags = item.get("tags")
    if not isinstance(tags, Mapping) or not all(k in SHARD_TAGS and isinstance(v, str) for k, v in tags.items()):
        raise RefreshShardInvalid("A refresh shard's connection carries unexpected tags.")
    try:
        name = check_connection_name(item.get("name"))
    except BadRequest as exc:
        raise RefreshShardInvalid("A refresh shard names an invalid connection.") from exc
    return ConnectionSummary(name=name, secret_name=f"{prefix}/connections/{name}", tags=dict(tags))


def _json_object(body: object, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise RefreshShardInvalid(f"Not a {kind} message.")
    return data


@dataclass(frozen=True)
class ShardResult:
    """A worker's answer: one outcome per connection of the shard (names, codes and times only)."""

    cycle: str
    index: int
    outcomes: tuple[ConnectionOutcome, ...]

    @classmethod
    def of(cls, shard: Shard, report: CycleReport) -> ShardResult:
        outcomes = list(report.outcomes)
        if report.error is not None:
            # The whole shard failed (e.g. the Zoho client secret vanished): every connection says why.
            done = {o.connection for o in outcomes}
            outcomes += [
                ConnectionOutcome(s.name, ERROR, report.error.code, s.tags.get(TAG_STATUS))
                for s in shard.connections
                if s.name not in done
            ]
        return cls(shard.cycle, shard.index, tuple(outcomes))

    def to_message(self) -> str:
        return json.dumps(
            {
                "kind": RESULT_KIND,
                "cycle": self.cycle,
                "index": self.index,
                "outcomes": [o.as_dict() for o in self.outcomes],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, body: object) -> ShardResult:
        data = _json_object(body, RESULT_KIND)
        cycle, index, outcomes = data.get("cycle"), data.get("index"), data.get("outcomes")
        if not isinstance(cycle, str) or not isinstance(index, int) or not isinstance(outcomes, list):
            raise RefreshShardInvalid("A refresh shard result is incomplete.")
        return cls(cycle, index, tuple(_outcome(o) for o in outcomes))


_OUTCOME_TEXT = ("reason", "status")
_OUTCOME_INT = ("expires_at", "retry_after")


def _outcome(data: object) -> ConnectionOutcome:
    if not isinstance(data, Mapping) or not isinstance(data.get("connection"), str):
        raise RefreshShardInvalid("A refresh shard result holds an unreadable outcome.")
    if not isinstance(data.get("outcome"), str):
        raise RefreshShardInvalid("A refresh shard result holds an outcome without a name.")
    text = {k: data[k] for k in _OUTCOME_TEXT if isinstance(data.get(k), str)}
    ints = {k: data[k] for k in _OUTCOME_INT if isinstance(data.get(k), int) and not isinstance(data.get(k), bool)}
    return ConnectionOutcome(
        connection=data["connection"],
        outcome=data["outcome"],
        reason=text.get("reason"),
        status=text.get("status"),
        expires_at=ints.get("expires_at"),
        retry_after=ints.get("retry_after"),
        recovered=data.get("recovered") is True,
    )


def make_shards(
    cycle: str,
    due: Sequence[ConnectionSummary],
    *,
    force: bool,
    not_after: float,
    size: int,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> list[Shard]:
    """Cut ``due`` into shards of at most ``size`` connections and ``max_bytes`` of message each."""
    groups: list[list[ConnectionSummary]] = []
    current: list[ConnectionSummary] = []
    used = 0
    for summary in due:
        cost = len(json.dumps(_item(summary), separators=(",", ":"))) + 1
        if current and (len(current) >= size or used + cost > max_bytes):
            groups.append(current)
            current, used = [], 0
        current.append(summary)
        used += cost
    if current:
        groups.append(current)
    return [Shard(cycle, i, len(groups), not_after, force, tuple(group)) for i, group in enumerate(groups)]


# ---- the queues -----------------------------------------------------------------------------------
class ShardQueues(Protocol):
    """Where shards go and results come back (SQS in AWS; tests hand in an in-memory double)."""

    def send_shard(self, body: str, key: str) -> None: ...

    def send_result(self, body: str) -> None: ...

    def receive_results(self, wait_seconds: int) -> list[tuple[str, str]]: ...

    def delete_result(self, receipt: str) -> None: ...


class SqsShardQueues:
    """The shard queue (read by the workers' event source) and the result queue (read by the planner).

    The shard queue is FIFO: each shard is its own message group with its own deduplication id, so
    shards run in parallel but none is handed to two workers at once (a standard queue may deliver a
    message twice, and two workers would then refresh the same connections together). Results may
    arrive twice: the planner counts each shard once.
    """

    def __init__(self, shard_queue_url: str | None, result_queue_url: str, client: Any = None) -> None:
        self.shard_queue_url = shard_queue_url
        self.result_queue_url = result_queue_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("sqs")
        return self._client

    def _call(self, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise RefreshQueueError(f"SQS refused to {what} ({aws.error_code(exc) or 'error'}).") from exc

    def send_shard(self, body: str, key: str) -> None:
        """Send one shard; ``key`` (unique per cycle and shard) is its message group and deduplication id."""
        if not self.shard_queue_url:
            raise RefreshQueueError("No shard queue is configured (REFRESH_SHARD_QUEUE_URL).")
        fifo = {"MessageGroupId": key, "MessageDeduplicationId": key} if self.shard_queue_url.endswith(".fifo") else {}
        self._call(
            "send a refresh shard", self.client.send_message, QueueUrl=self.shard_queue_url, MessageBody=body, **fifo
        )

    def send_result(self, body: str) -> None:
        self._call("send a shard result", self.client.send_message, QueueUrl=self.result_queue_url, MessageBody=body)

    def receive_results(self, wait_seconds: int) -> list[tuple[str, str]]:
        answer = self._call(
            "receive shard results",
            self.client.receive_message,
            QueueUrl=self.result_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=max(0, min(RECEIVE_WAIT_SECONDS, wait_seconds)),
        )
        return [(m.get("Body", ""), m["ReceiptHandle"]) for m in answer.get("Messages", [])]

    def delete_result(self, receipt: str) -> None:
        self._call(
            "delete a shard result", self.client.delete_message, QueueUrl=self.result_queue_url, ReceiptHandle=receipt
        )


@dataclass
class FanOut:
    """How a planner fans out: where to, how big a shard, how much time to keep for itself."""

    queues: ShardQueues
    shard_size: int = 1000
    can_plan: bool = True  # False for workers: they answer results but never send shards
    margin_seconds: float = 10.0  # between the workers' deadline and the planner's own end
    budget_seconds: float = 240.0  # the planner's time when no invocation deadline is known
    new_cycle_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)

    def takes(self, due: int) -> bool:
        """Whether a cycle with ``due`` connections is sent out in shards."""
        return self.can_plan and due > self.shard_size


# ---- the planner ----------------------------------------------------------------------------------
def run_in_shards(
    deps: RefreshDeps,
    report: CycleReport,
    due: list[ConnectionSummary],
    *,
    force: bool,
    time_left: Callable[[], float] | None,
) -> None:
    """Send ``due`` out in shards, wait for every result, and put their outcomes in ``report``.

    Outcomes were logged by the workers (one line per connection, in the same log group), so they
    are not logged again here. A shard without a result by the deadline is reported lost and its
    connections deferred: the next cycle takes them from their tags.
    """
    fan = deps.fanout
    if fan is None:  # callers fan out only when it is configured
        raise RuntimeError("refresh fan-out is not configured")
    started = deps.monotonic()
    budget = time_left() if time_left is not None else fan.budget_seconds

    def remaining() -> float:
        return budget - (deps.monotonic() - started)

    cycle = fan.new_cycle_id()
    shards = make_shards(
        cycle, due, force=force, not_after=deps.clock() + budget - fan.margin_seconds, size=fan.shard_size
    )
    report.shards = len(shards)
    pending: dict[int, Shard] = {}
    for shard in shards:
        try:
            fan.queues.send_shard(shard.to_message(), f"{cycle}-{shard.index}")
        except ZohoAepError as exc:
            deps.logger.error("refresh shard not sent", extra={"outcome": "shard-lost", "reason": exc.code})
            _lose(report, shard)
            continue
        pending[shard.index] = shard
    # Bounded by the invocation's time: each receive waits at most RECEIVE_WAIT_SECONDS.
    while pending and remaining() > 2.0:
        try:
            messages = fan.queues.receive_results(int(min(RECEIVE_WAIT_SECONDS, remaining() - 2.0)))
        except ZohoAepError as exc:
            deps.logger.warning("shard results not received", extra={"reason": exc.code})
            deps.sleep(1.0)
            continue
        for body, receipt in messages:
            _take_result(deps, report, pending, cycle, body, receipt)
    for shard in pending.values():
        deps.logger.error(
            "refresh shard lost",
            extra={"outcome": "shard-lost", "shard": shard.index, "connections": len(shard.connections)},
        )
        _lose(report, shard)


def _take_result(
    deps: RefreshDeps, report: CycleReport, pending: dict[int, Shard], cycle: str, body: str, receipt: str
) -> None:
    fan = deps.fanout
    if fan is None:  # callers fan out only when it is configured
        raise RuntimeError("refresh fan-out is not configured")
    try:
        result: ShardResult | None = ShardResult.from_message(body)
    except RefreshShardInvalid as exc:
        deps.logger.warning("shard result dropped", extra={"reason": exc.code})
        result = None
    try:
        fan.queues.delete_result(receipt)
    except RefreshQueueError as exc:
        # It comes back after its visibility timeout and is then ignored as already accounted for.
        deps.logger.warning("shard result not deleted", extra={"reason": exc.code})
    shard = pending.get(result.index) if result is not None and result.cycle == cycle else None
    if shard is None or result is None:
        return  # a late answer from an earlier cycle, or a duplicate: already accounted for
    del pending[result.index]
    answered = {o.connection: o for o in result.outcomes}
    for summary in shard.connections:
        report.outcomes.append(
            answered.get(summary.name)
            or ConnectionOutcome(summary.name, SKIPPED, REASON_DEFERRED, summary.tags.get(TAG_STATUS))
        )


def _lose(report: CycleReport, shard: Shard) -> None:
    report.shards_lost += 1
    report.outcomes += [
        ConnectionOutcome(s.name, SKIPPED, REASON_DEFERRED, s.tags.get(TAG_STATUS)) for s in shard.connections
    ]
