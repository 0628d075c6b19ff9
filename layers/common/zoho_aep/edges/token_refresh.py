"""The ``token_refresh`` function's edge: read the trigger, run one cycle, emit metrics, shape the report.

Accepted events (anything else is refused before any AWS or Zoho call):
- the classic EventBridge "Scheduled Event" (``detail-type``), and ``{}``: a scheduled cycle;
- EventBridge Scheduler's payload, as the template's schedule sends it: ``schedule_arn``,
  ``scheduled_time``, ``execution_id``, ``attempt`` (Scheduler's context attributes);
- a direct invoke ``{"connections": ["acme"], "force": true}`` (either key may be left out).
A connection's failure is reported, never raised; a failure of the whole cycle is the report's
``error``. The worker's entry (``shard_handler``) takes one shard per SQS record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters.metrics import count_with_dimension
from ..domain.errors import BadRequest, ConfigError, RefreshRequestInvalid, RefreshShardInvalid, ZohoAepError
from ..domain.names import check_connection_name
from ..usecases.refresh.cycle import refresh_connections, refresh_due_connections
from ..usecases.refresh.deps import RefreshDeps
from ..usecases.refresh.messages import Shard, ShardResult
from ..usecases.refresh.outcomes import REASON_DEFERRED, REFRESHED, CycleReport
from .lazy import Lazy

SCHEDULED_EVENT = "Scheduled Event"
MAX_SHARD_RECORDS = 10  # SQS hands a Lambda at most 10 messages per batch
SCHEDULER_KEYS = frozenset({"schedule_arn", "scheduled_time", "execution_id", "attempt"})
MANUAL_KEYS = frozenset({"connections", "force"})
MAX_NAMED_CONNECTIONS = 100


@dataclass(frozen=True)
class RefreshRequest:
    """What one invocation asks for."""

    trigger: str  # "schedule" | "manual"
    force: bool = False
    names: tuple[str, ...] | None = None


def parse_refresh_event(event: object) -> RefreshRequest:
    """Turn an invocation's event into a :class:`RefreshRequest`, or raise a typed BadRequest."""
    if not isinstance(event, Mapping):
        raise RefreshRequestInvalid('The refresh function expects a JSON object, e.g. {} or {"connections": [...]}.')
    if event.get("detail-type") == SCHEDULED_EVENT:
        return RefreshRequest("schedule")
    unknown = sorted(str(k)[:40] for k in event if k not in SCHEDULER_KEYS | MANUAL_KEYS)
    if unknown:
        # A typo such as "connection" must not silently run a cycle over every connection.
        raise RefreshRequestInvalid(
            f"Unknown field(s) {', '.join(unknown[:3])}; a direct invoke takes 'connections' and 'force'."
        )
    force = event.get("force", False)
    if not isinstance(force, bool):
        raise RefreshRequestInvalid("'force' must be true or false.")
    names: tuple[str, ...] | None = None
    if "connections" in event:
        raw = event["connections"]
        if not isinstance(raw, list) or not raw or len(raw) > MAX_NAMED_CONNECTIONS:
            raise RefreshRequestInvalid(f"'connections' must list 1 to {MAX_NAMED_CONNECTIONS} connection names.")
        names = tuple(dict.fromkeys(check_connection_name(name) for name in raw))
    manual = names is not None or "force" in event
    return RefreshRequest("manual" if manual else "schedule", force=force, names=names)


def record_cycle_metrics(metrics: Any, report: CycleReport) -> None:
    """The cycle's EMF metrics on a Powertools ``Metrics`` (flushed by its ``log_metrics``).

    ``RefreshFailed`` also goes out once per failure class (``class`` dimension: needs-reauth,
    throttled, transient, error) so each can be alarmed on; ``CycleFailed`` counts cycles that could
    not run at all (e.g. the Zoho client secret is missing).
    """
    from aws_lambda_powertools.metrics import MetricUnit

    failures = report.failures_by_class()
    metrics.add_metric(name="ConnectionsSeen", unit=MetricUnit.Count, value=report.seen)
    metrics.add_metric(name="ConnectionsDue", unit=MetricUnit.Count, value=report.due)
    metrics.add_metric(name="Refreshed", unit=MetricUnit.Count, value=report.count("refreshed"))
    metrics.add_metric(name="RefreshFailed", unit=MetricUnit.Count, value=sum(failures.values()))
    metrics.add_metric(name="NeedsReauthorization", unit=MetricUnit.Count, value=report.needing_reauthorization)
    metrics.add_metric(name="CycleDurationMs", unit=MetricUnit.Milliseconds, value=round(report.duration_ms, 1))
    if report.shards:
        metrics.add_metric(name="RefreshShards", unit=MetricUnit.Count, value=report.shards)
        metrics.add_metric(name="RefreshShardsLost", unit=MetricUnit.Count, value=report.shards_lost)
    for failure_class, count in sorted(failures.items()):
        count_with_dimension(metrics, "RefreshFailed", "class", failure_class, count)
    if report.error is not None:
        count_with_dimension(metrics, "CycleFailed", "reason", report.error.code)


class RefreshApp:
    """Turns invocations into cycles. ``deps`` is built lazily: a refused event touches nothing."""

    def __init__(self, deps: Callable[[], RefreshDeps], *, logger: Any, metrics: Any = None) -> None:
        self._deps = Lazy(deps)
        self.logger = logger
        self.metrics = metrics

    @property
    def deps(self) -> RefreshDeps:
        return self._deps.get()

    def handle(self, event: object, *, time_left: Callable[[], float] | None = None) -> dict[str, Any]:
        """Run the cycle the event asks for and return its report (raises only for a refused event)."""
        try:
            request = parse_refresh_event(event)
        except BadRequest as exc:
            self.logger.warning("refresh request refused", extra={"outcome": "refused", "reason": exc.code})
            raise
        report = refresh_due_connections(self.deps, force=request.force, names=request.names, time_left=time_left)
        if self.metrics is not None:
            record_cycle_metrics(self.metrics, report)
        answer = {"trigger": request.trigger, **report.as_dict()}
        summary = {k: v for k, v in answer.items() if k not in ("connections", "error")}
        if report.error is not None:
            summary["reason"] = report.error.code
        self.logger.info("refresh cycle", extra={"outcome": "cycle-done", **summary})
        return answer


class RefreshShardApp:
    """The worker side of a fanned-out cycle: each SQS record is one shard (see ``usecases.refresh.planner``).

    A connection's failure is in the shard's result, never raised. A shard that cannot be read is
    logged and dropped: the planner reports it lost and the next cycle takes its connections.
    """

    def __init__(self, deps: Callable[[], RefreshDeps], *, logger: Any) -> None:
        self._deps_factory = deps
        self.logger = logger

    def handle(self, event: object, *, time_left: Callable[[], float]) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list) or not records:
            self.logger.warning(
                "refresh shard refused", extra={"outcome": "refused", "reason": RefreshShardInvalid.code}
            )
            return {"shards": []}
        return {"shards": [self._one(record, time_left) for record in records[:MAX_SHARD_RECORDS]]}

    def _one(self, record: object, time_left: Callable[[], float]) -> dict[str, Any]:
        deps = self._deps_factory()
        try:
            body = record.get("body") if isinstance(record, Mapping) else None
            shard = Shard.from_message(body, deps.store.prefix)
        except RefreshShardInvalid as exc:
            self.logger.warning("refresh shard refused", extra={"outcome": "refused", "reason": exc.code})
            return {"status": "refused", "reason": exc.code}

        def left() -> float:
            # The planner's deadline: past it, the next cycle may already be running.
            return min(time_left(), shard.not_after - deps.clock())

        report = refresh_connections(deps, list(shard.connections), force=shard.force, time_left=left)
        summary = {
            "cycle": shard.cycle,
            "shard": shard.index,
            "connections": len(shard.connections),
            "refreshed": report.count(REFRESHED),
            "deferred": sum(1 for o in report.outcomes if o.reason == REASON_DEFERRED),
            "duration_ms": round(report.duration_ms, 1),
        }
        try:
            if deps.fanout is None:
                raise ConfigError("No result queue is configured (REFRESH_RESULT_QUEUE_URL).")
            deps.fanout.queues.send_result(ShardResult.of(shard, report).to_message())
        except ZohoAepError as exc:
            self.logger.error("refresh shard result not sent", extra={"outcome": "shard-lost", "reason": exc.code})
            return {"status": "result-not-sent", **summary}
        self.logger.info("refresh shard", extra={"outcome": "shard-done", **summary})
        return {"status": "ok", **summary}
