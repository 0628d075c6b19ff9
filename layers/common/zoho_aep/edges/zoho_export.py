"""The ``zoho_export`` function's edges: the schedule and direct invokes, the unit queue's worker, Zoho's callback.

Accepted events (anything else is refused before any AWS or Zoho call):
- ``lambda_handler``: EventBridge Scheduler's payload (``schedule_arn``, ``scheduled_time``,
  ``execution_id``, ``attempt``), the classic ``Scheduled Event``, or ``{}``: one tick of the schedule;
  a direct invoke ``{"connection": "acme", "modules": ["Leads"], "full": false}`` (only
  ``connection`` is required): that connection's export now.
- ``unit_handler``: SQS records, one export unit each (``usecases.export.messages``).
- ``callback_handler``: Zoho's Bulk Read callback, ``POST /zoho/bulk-callback?unit=<signed token>``
  through the HTTP API (payload 2.0): the unit is queued for a look at once; 202, or 403 for a token
  this stack did not sign. The body is not trusted (the export reads the job from Zoho anyway).
A unit's failure is in the answer, the metrics and the log, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ..adapters.metrics import count_with_dimension
from ..config.settings import parse_modules
from ..domain.errors import BadRequest, ConfigError, ExportRequestInvalid, ZohoAepError
from ..domain.names import check_connection_name
from ..usecases.export.callback import BulkCallbackDeps, accept_bulk_callback
from ..usecases.export.deps import ExportDeps
from ..usecases.export.messages import UnitMessage
from ..usecases.export.outcomes import FAILED, ExportReport
from ..usecases.export.tick import export_connection, run_messages, scheduled_export
from .lazy import Lazy

SCHEDULED_EVENT = "Scheduled Event"
SCHEDULER_KEYS = frozenset({"schedule_arn", "scheduled_time", "execution_id", "attempt"})
MANUAL_KEYS = frozenset({"connection", "modules", "full"})
MAX_RECORDS = 10


@dataclass(frozen=True)
class ExportRequest:
    """What one invocation asks for: a scheduled tick, or one connection now."""

    trigger: str  # "schedule" | "manual"
    connection: str | None = None
    modules: tuple[str, ...] | None = None
    full: bool = False


def parse_export_event(event: object) -> ExportRequest:
    """An invocation's event as an :class:`ExportRequest`, or a typed BadRequest."""
    if not isinstance(event, Mapping):
        raise ExportRequestInvalid('The export function expects a JSON object, e.g. {} or {"connection": "acme"}.')
    if event.get("detail-type") == SCHEDULED_EVENT:
        return ExportRequest("schedule")
    unknown = sorted(str(k)[:40] for k in event if k not in SCHEDULER_KEYS | MANUAL_KEYS)
    if unknown:
        # A typo such as "connections" must not silently export every connection.
        raise ExportRequestInvalid(
            f"Unknown field(s) {', '.join(unknown[:3])}; a direct invoke takes 'connection', 'modules' and 'full'."
        )
    if not MANUAL_KEYS & set(event):
        return ExportRequest("schedule")
    if "connection" not in event:
        raise ExportRequestInvalid("A direct invoke names the 'connection' to export.")
    full = event.get("full", False)
    if not isinstance(full, bool):
        raise ExportRequestInvalid("'full' must be true or false.")
    modules: tuple[str, ...] | None = None
    if "modules" in event:
        raw = event["modules"]
        if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
            raise ExportRequestInvalid("'modules' must list Zoho module API names, e.g. [\"Leads\"].")
        try:
            modules = parse_modules(",".join(raw), "modules")
        except ConfigError as exc:
            raise ExportRequestInvalid(exc.message) from exc
    return ExportRequest("manual", check_connection_name(event["connection"]), modules, full)


def record_export_metrics(metrics: Any, report: ExportReport) -> None:
    """The invocation's EMF metrics: outcomes by name, failures by class, what was exported."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics.add_metric(name="ExportRecords", unit=MetricUnit.Count, value=sum(o.records for o in report.outcomes))
    metrics.add_metric(name="ExportDeleted", unit=MetricUnit.Count, value=sum(o.deleted for o in report.outcomes))
    metrics.add_metric(name="ExportFiles", unit=MetricUnit.Count, value=sum(o.files for o in report.outcomes))
    failed = [o for o in report.outcomes if o.outcome == FAILED]
    metrics.add_metric(name="ExportFailed", unit=MetricUnit.Count, value=len(failed))
    counts: dict[str, int] = {}
    for outcome in report.outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    for name, count in sorted(counts.items()):
        count_with_dimension(metrics, "ExportOutcome", "outcome", name, count)
    for outcome in failed:
        count_with_dimension(metrics, "ExportFailed", "class", "transient" if outcome.retryable else "lasting")
    if report.error:
        count_with_dimension(metrics, "ExportTickFailed", "reason", report.error)


class ExportApp:
    """The schedule and direct invokes. ``deps`` is built lazily: a refused event touches nothing."""

    def __init__(self, deps: Callable[[], ExportDeps], *, logger: Any, metrics: Any = None) -> None:
        self._deps = Lazy(deps)
        self.logger = logger
        self.metrics = metrics

    @property
    def deps(self) -> ExportDeps:
        return self._deps.get()

    def handle(self, event: object, *, time_left: Callable[[], float] | None = None) -> dict[str, Any]:
        try:
            request = parse_export_event(event)
        except BadRequest as exc:
            self.logger.warning("export request refused", extra={"outcome": "refused", "reason": exc.code})
            raise
        if request.trigger == "schedule":
            report = scheduled_export(self.deps, time_left=time_left)
        else:
            assert request.connection is not None  # nosec B101  # parse_export_event names one
            report = export_connection(
                self.deps, request.connection, modules=request.modules, full=request.full, time_left=time_left
            )
        return self._finish(report)

    def _finish(self, report: ExportReport) -> dict[str, Any]:
        if self.metrics is not None:
            record_export_metrics(self.metrics, report)
        answer = report.as_dict()
        self.logger.info(
            "export invocation",
            extra={"outcome": "invocation-done", **{k: v for k, v in answer.items() if k != "exports"}},
        )
        return answer


class ExportWorkerApp(ExportApp):
    """The unit queue's worker: each SQS record is one unit. An unreadable record is logged and dropped."""

    def handle(self, event: object, *, time_left: Callable[[], float] | None = None) -> dict[str, Any]:
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list) or not records:
            self.logger.warning(
                "export units refused", extra={"outcome": "refused", "reason": ExportRequestInvalid.code}
            )
            return {"units": 0}
        messages: list[UnitMessage] = []
        for record in records[:MAX_RECORDS]:
            try:
                messages.append(UnitMessage.from_message(record.get("body") if isinstance(record, Mapping) else None))
            except ExportRequestInvalid as exc:
                self.logger.warning("export unit refused", extra={"outcome": "refused", "reason": exc.code})
        return self._finish(run_messages(self.deps, messages, time_left=time_left))


class BulkCallbackApp:
    """Zoho's Bulk Read callback: a signed URL's unit goes to the queue at once; nothing else is done."""

    def __init__(self, deps: Callable[[], BulkCallbackDeps], *, logger: Any) -> None:
        self._deps = Lazy(deps)
        self.logger = logger

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, dict) else None
        http = http if isinstance(http, dict) else {}
        method = str(http.get("method") or "").upper()
        if method != "POST":
            return _json(405, {"message": "Only POST is accepted here."}, {"Allow": "POST"})
        pairs = parse_qsl(str(event.get("rawQueryString") or "")[:2048], keep_blank_values=True)
        tokens = [v for k, v in pairs if k == "unit"]
        try:
            unit = accept_bulk_callback(self._deps.get(), tokens[0] if len(tokens) == 1 else None)
        except BadRequest as exc:
            self.logger.warning("bulk callback refused", extra={"outcome": "refused", "reason": exc.code})
            return _json(exc.http_status, {"message": "refused", "code": exc.code})
        except ZohoAepError as exc:
            self.logger.error("bulk callback not queued", extra={"outcome": "not-queued", "reason": exc.code})
            return _json(503, {"message": "try again", "code": exc.code})
        self.logger.info("bulk callback", extra={"outcome": "queued", "unit": str(unit)})
        return _json(202, {"message": "accepted"})


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }
