"""Which units an export invocation runs, and how: in this invocation, or sent out over the unit queue.

- **The schedule** lists connections by their tags (no token is read), picks those on the S3 path
  (tag ``aep:path`` is ``amazon-s3``, or ``AEP_SOURCE_PATH`` is ``amazon-s3``) that do not need a new
  consent, and makes one unit per connection and module. With a unit queue each unit is sent out as
  one message, and worker invocations run them (at most ``ExportWorkers`` at once, at most
  ``ExportOrgConcurrency`` of one org); without one they run here, one after the other.
- **A direct invoke** names a connection (and optionally modules): its units run here, at once.
- **A worker** runs the units its messages name.
A unit that is not over (its Bulk Read job still running, a download to wait for, out of time) is
sent back to the queue with a delay, so nothing sits waiting for Zoho; a passing failure likewise,
with a growing delay. The next schedule picks up anything left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ...domain.connection import (
    STATUS_NEEDS_REAUTH,
    TAG_EXPORT_STATUS,
    TAG_PATH,
    TAG_STATUS,
    ConnectionSummary,
)
from ...domain.errors import ConnectionNotFound, ZohoAepError
from ...domain.export import EXPORT_NEEDS_CONSENT, PATH_AMAZON_S3, ExportUnit
from .deps import ExportDeps
from .messages import MAX_ATTEMPTS, UnitMessage
from .outcomes import CONTINUES, DEFERRED, FAILED, PENDING, SKIPPED, ExportReport, UnitOutcome
from .unit import run_unit

FOLLOW_UP = frozenset({PENDING, CONTINUES, DEFERRED})


def on_s3_path(deps: ExportDeps, summary: ConnectionSummary) -> bool:
    """Whether a connection's records go to AEP through the export."""
    return summary.tags.get(TAG_PATH) == PATH_AMAZON_S3 or deps.aep_source_path == PATH_AMAZON_S3


def select_units(
    deps: ExportDeps, summaries: Iterable[ConnectionSummary]
) -> tuple[list[ExportUnit], list[UnitOutcome]]:
    """The scheduled units, from tags alone; connections left out are reported with why."""
    units: list[ExportUnit] = []
    skipped: list[UnitOutcome] = []
    for summary in sorted(summaries, key=lambda s: s.name):
        if not on_s3_path(deps, summary):
            continue
        reason = None
        if summary.tags.get(TAG_STATUS) == STATUS_NEEDS_REAUTH:
            reason = "connection-needs-reauth"
        elif summary.tags.get(TAG_EXPORT_STATUS) == EXPORT_NEEDS_CONSENT:
            reason = "zoho-scope-missing"  # until a new consent clears the tag
        for module in deps.modules:
            unit = ExportUnit(summary.name, module)
            if reason:
                skipped.append(UnitOutcome(unit, SKIPPED, reason))
            else:
                units.append(unit)
    return units, skipped


def scheduled_export(deps: ExportDeps, *, time_left: Callable[[], float] | None = None) -> ExportReport:
    """One tick of the export schedule."""
    report = ExportReport(trigger="schedule")
    try:
        units, skipped = select_units(deps, deps.store.list())
    except ZohoAepError as exc:
        report.error = exc.code
        deps.logger.error("export tick failed", extra={"outcome": "tick-failed", "reason": exc.code})
        return report
    report.outcomes += skipped
    if deps.queue is not None:
        try:
            deps.queue.send([UnitMessage(u).to_message() for u in units])
        except ZohoAepError as exc:
            report.error = exc.code
            deps.logger.error("export units not sent", extra={"outcome": "tick-failed", "reason": exc.code})
            return report
        report.enqueued = len(units)
        return report
    _run_here(deps, report, [UnitMessage(u) for u in units], time_left)
    return report


def export_connection(
    deps: ExportDeps,
    connection: str,
    *,
    modules: Sequence[str] | None = None,
    full: bool = False,
    time_left: Callable[[], float] | None = None,
) -> ExportReport:
    """A direct invoke: export one connection's modules now (a needs-consent mark does not stop it)."""
    report = ExportReport(trigger="manual")
    try:
        deps.store.get_tags(connection)  # ConnectionNotFound before anything is written
    except ConnectionNotFound:
        raise
    except ZohoAepError as exc:  # Secrets Manager unavailable: an answer with its code, nothing written
        deps.logger.error("export invocation failed", extra={"outcome": exc.code, "connection": connection})
        report.error = exc.code
        return report
    messages = [UnitMessage(ExportUnit(connection, m), full=full) for m in (modules or deps.modules)]
    _run_here(deps, report, messages, time_left, force=True)
    return report


def run_messages(
    deps: ExportDeps, messages: Sequence[UnitMessage], *, time_left: Callable[[], float] | None = None
) -> ExportReport:
    """A worker invocation: the units its queue messages name."""
    report = ExportReport(trigger="queue")
    _run_here(deps, report, list(messages), time_left)
    return report


def _run_here(
    deps: ExportDeps,
    report: ExportReport,
    messages: list[UnitMessage],
    time_left: Callable[[], float] | None,
    *,
    force: bool = False,
) -> None:
    for message in messages:
        if time_left is not None and time_left() < deps.reserve_seconds:
            outcome = UnitOutcome(message.unit, CONTINUES, retry_in=0)  # no time for it here
        else:
            outcome = run_unit(deps, message.unit, full=message.full, force=force, time_left=time_left)
        report.outcomes.append(outcome)
        report.enqueued += _follow_up(deps, message, outcome)


def _follow_up(deps: ExportDeps, message: UnitMessage, outcome: UnitOutcome) -> int:
    """Send a unit that is not over back to the queue, to be looked at when it is worth it."""
    if deps.queue is None:
        return 0  # the next schedule (or invoke) takes it
    if outcome.outcome in FOLLOW_UP:
        again = UnitMessage(message.unit, message.full and outcome.outcome == DEFERRED, message.attempt)
    elif outcome.outcome == FAILED and outcome.retryable and message.attempt + 1 < MAX_ATTEMPTS:
        again = UnitMessage(message.unit, False, message.attempt + 1)
    else:
        return 0
    try:
        deps.queue.send([again.to_message()], delay_seconds=outcome.retry_in or 0)
    except ZohoAepError as exc:
        # The next schedule picks the unit up; its state says where it stands.
        deps.logger.warning("export unit not sent back", extra={"unit": str(message.unit), "reason": exc.code})
        return 0
    return 1
