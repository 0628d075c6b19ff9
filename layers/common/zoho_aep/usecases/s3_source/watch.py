"""Use case: look at the runs of every S3-path dataflow, and say so when AEP fails to ingest.

Each look (every ``AepWatchMinutes``) reads, per connection and module, the newest runs of the
module's dataflow (``GET /runs?property=flowId==...``) and judges the newest finished one: a failed
run, or one refusing more than ``AepRowErrorThreshold`` of its rows, is a failure. A failure not seen
before publishes ``AEP dataflow run failed`` and counts in the ``AepRunsFailed`` metric (an alarm
watches it); the connection's status becomes ``ingestion-failing`` with the code in
``zoho-aep:last-error``. AEP disables a dataflow that fails for 30 days: the status says so from the
first failed run, and each failure logs how many days are left. A good run clears the module; when
no module fails any more the connection is ``active`` again (``Zoho connection recovered``).

What was seen is recorded in the connection's AEP state (``last_run``, ``failing_since``), so
``zoho-aep status`` shows it and the next look does not report the same run twice. A connection the
watch cannot look at (AEP down, a state it cannot read) is logged and skipped; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...adapters.adobe.dataflows import Run
from ...adapters.events import publish_or_log
from ...domain import events as ev
from ...domain.aep import RUN_FAILED, RUN_RUNNING, AepState, ModuleObjects, RunSeen, judge_run
from ...domain.connection import (
    STATUS_ACTIVE,
    STATUS_INGESTION_FAILING,
    TAG_LAST_ERROR,
    TAG_PATH,
    TAG_STATUS,
)
from ...domain.errors import AepRowErrors, AepRunFailed, ZohoAepError
from ...domain.export import PATH_AMAZON_S3
from .deps import S3SourceDeps

AEP_DISABLES_AFTER_DAYS = 30  # AEP disables a dataflow whose runs fail this long
RUNS_PER_LOOK = 10  # the newest runs read per flow; the watch looks far more often than flows run
DAY = 86400


@dataclass
class WatchOutcome:
    """What one look found (counts and names; no AEP body)."""

    connections: int = 0
    flows: int = 0
    failed: list[str] = field(default_factory=list)  # "connection/Module" failing now
    new_failures: int = 0
    recovered: list[str] = field(default_factory=list)  # connections active again
    skipped: list[str] = field(default_factory=list)  # connections the watch could not look at
    error: str | None = None  # the code of a look that could not even list the AEP states

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.skipped and self.error is None,
            "reason_code": self.error,
            "connections": self.connections,
            "flows": self.flows,
            "failing": self.failed,
            "new_failures": self.new_failures,
            "recovered": self.recovered,
            "skipped": self.skipped,
        }


def watch_runs(deps: S3SourceDeps) -> WatchOutcome:
    """One look at every S3-path connection's dataflow runs."""
    outcome = WatchOutcome()
    try:
        states = deps.bucket.aep_states()
    except ZohoAepError as exc:  # S3 refused the listing or a read: the next look tries again
        outcome.error = exc.code
        deps.logger.error("the watch could not read the AEP states", extra={"outcome": exc.code})
        states = []
    for state in states:
        if not any(item.flow_id for item in state.modules.values()):
            continue
        try:
            _watch_connection(deps, state, outcome)
        except ZohoAepError as exc:
            outcome.skipped.append(state.connection)
            deps.logger.warning(
                "the watch could not look at a connection's dataflow runs",
                extra={"connection": state.connection, "reason_code": exc.code},
            )
    deps.logger.info("dataflow runs watched", extra={"outcome": "watched", **outcome.as_dict()})
    return outcome


def _watch_connection(deps: S3SourceDeps, state: AepState, outcome: WatchOutcome) -> None:
    connection = state.connection
    tags = deps.store.get_tags(connection)
    if not tags or tags.get(TAG_PATH) != PATH_AMAZON_S3:
        return  # disconnected or moved back: its flows are no longer this product's to watch
    outcome.connections += 1
    apis = deps.aep(state.sandbox)
    seen: dict[str, Run] = {}
    for module, item in sorted(state.modules.items()):
        if not item.flow_id:
            continue
        outcome.flows += 1
        finished = [r for r in apis.flows.runs(item.flow_id, RUNS_PER_LOOK) if _verdict(deps, r) != RUN_RUNNING]
        if finished:
            seen[module] = finished[0]  # newest first
    now = int(deps.clock())
    changes = {m: _judged(deps, run, now) for m, run in seen.items()}
    new_failures = [m for m, r in changes.items() if r.verdict == RUN_FAILED and _is_new(state.module(m), r)]

    def mutate(current: AepState | None) -> AepState | None:
        if current is None:
            return None
        for module, run in changes.items():
            item = current.module(module)
            if run.verdict == RUN_FAILED:
                item.failing_since = item.failing_since or run.at or now
            else:
                item.failing_since = None
            item.last_run = run
        return current

    saved = deps.bucket.update_aep_state(connection, mutate) if changes else state
    current = saved or state
    failing = {m: i for m, i in current.modules.items() if i.flow_id and i.failing_since}
    for module in sorted(failing):
        outcome.failed.append(f"{connection}/{module}")
    for run in changes.values():
        if deps.on_run is not None:
            deps.on_run(run.verdict if run.verdict != RUN_FAILED else str(run.reason_code), run.verdict == RUN_FAILED)
    for module in new_failures:
        outcome.new_failures += 1
        _report_failure(deps, current, module, now)
    _set_status(deps, connection, tags, failing, outcome)


def _verdict(deps: S3SourceDeps, run: Run) -> str:
    return judge_run(run.status, run.records_failed, run.records_in, deps.settings.aep_row_error_share)


def _judged(deps: S3SourceDeps, run: Run, now: int) -> RunSeen:
    verdict = _verdict(deps, run)
    reason = None
    if verdict == RUN_FAILED:
        status = str(run.status or "").lower()
        reason = AepRunFailed.code if "fail" in status or "cancel" in status else AepRowErrors.code
    return RunSeen(
        id=run.id,
        status=str(run.status or ""),
        verdict=verdict,
        records_in=run.records_in,
        records_out=run.records_out,
        records_failed=run.records_failed,
        files=run.files,
        at=run.created_at // 1000 if run.created_at else now,
        reason_code=reason,
    )


def _is_new(item: ModuleObjects, run: RunSeen) -> bool:
    return item.last_run is None or item.last_run.id != run.id or item.last_run.verdict != RUN_FAILED


def _report_failure(deps: S3SourceDeps, state: AepState, module: str, now: int) -> None:
    item = state.module(module)
    run = item.last_run
    assert run is not None  # nosec B101  # set by the judgement just recorded
    days = max(0, (now - (item.failing_since or now)) // DAY)
    left = max(0, AEP_DISABLES_AFTER_DAYS - days)
    deps.logger.error(
        "an AEP dataflow run failed",
        extra={
            "outcome": run.reason_code,
            "connection": state.connection,
            "zoho_module": module,
            "flow_id": item.flow_id,
            "run_id": run.id,
            "records_read": run.records_in,
            "records_failed": run.records_failed,
            "failing_days": days,
            "days_until_aep_disables_it": left,
        },
    )
    publish_or_log(
        deps.events,
        deps.logger,
        ev.AEP_RUN_FAILED,
        {
            "connection": state.connection,
            "module": module,
            "flow_id": item.flow_id,
            "run_id": run.id,
            "reason_code": run.reason_code,
            "records_read": run.records_in,
            "records_failed": run.records_failed,
            "failing_days": days,
        },
    )


def _set_status(
    deps: S3SourceDeps,
    connection: str,
    tags: dict[str, str],
    failing: dict[str, ModuleObjects],
    outcome: WatchOutcome,
) -> None:
    status = tags.get(TAG_STATUS)
    if failing:
        if status not in (None, "", STATUS_ACTIVE, STATUS_INGESTION_FAILING):
            return  # a refresh or provisioning verdict stands; it is the one a person must act on first
        first = failing[sorted(failing)[0]]
        code = (first.last_run.reason_code if first.last_run else None) or AepRunFailed.code
        if status != STATUS_INGESTION_FAILING or tags.get(TAG_LAST_ERROR) != code:
            deps.store.set_tags(connection, {TAG_STATUS: STATUS_INGESTION_FAILING, TAG_LAST_ERROR: code})
        return
    if status == STATUS_INGESTION_FAILING:
        deps.store.set_tags(connection, {TAG_STATUS: STATUS_ACTIVE}, remove=(TAG_LAST_ERROR,))
        outcome.recovered.append(connection)
        deps.logger.info("AEP ingests this connection's exports again", extra={"connection": connection})
        publish_or_log(deps.events, deps.logger, ev.CONNECTION_RECOVERED, {"connection": connection})
