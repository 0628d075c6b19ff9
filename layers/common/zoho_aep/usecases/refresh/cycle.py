"""A refresh cycle: list, select the due connections from tags, refresh them in a bounded pool, report.

1. List ``{prefix}/connections/`` (tags only) and pick the due connections with the ``policy``; a
   connection that is not due costs no read of its secret value.
2. Refresh the due ones with ``connection.refresh_one``, at most ``concurrency`` calls to Zoho at
   once (the other threads read and write Secrets Manager meanwhile; values are read 20 to a call),
   or, when the cycle is too large for one invocation, send them out in shards (``planner``).

A connection's failure never stops the others; it is its outcome in the report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from ...adapters.secrets import MAX_BATCH_READ, ConnectionStore, StoredConnection
from ...domain.connection import TAG_STATUS, ConnectionSummary
from ...domain.credentials import ZohoClientCredentials
from ...domain.errors import ZohoAepError
from .connection import RefreshRun, refresh_one
from .deps import THREADS_PER_ZOHO_SLOT, RefreshDeps
from .outcomes import (
    ERROR,
    FAILED,
    NEEDS_REAUTH,
    NOT_FOUND,
    REASON_BUDGET,
    SUPERSEDED,
    THROTTLED,
    ConnectionOutcome,
    CycleReport,
    deferred,
)
from .planner import run_in_shards


def refresh_due_connections(
    deps: RefreshDeps,
    *,
    force: bool = False,
    names: Iterable[str] | None = None,
    time_left: Callable[[], float] | None = None,
) -> CycleReport:
    """Run one refresh cycle; never raises for a connection's failure, reports it.

    ``force`` refreshes connections that are not due yet (still within the mint budget and outside a
    back-off); ``names`` limits the cycle to those connections. ``time_left`` gives the invocation's
    remaining seconds, so no connection is started that could not finish.
    A failure of the whole cycle (the Zoho client secret missing, the listing refused) is the
    report's ``error``, logged once.
    """
    report = CycleReport(forced=force)
    with _whole_run(deps, report, "refresh cycle failed"):
        _run_cycle(deps, report, force=force, names=names, time_left=time_left)
    return report


@contextmanager
def _whole_run(deps: RefreshDeps, report: CycleReport, failed: str) -> Iterator[None]:
    """Time the run into ``report``; a failure of the whole run becomes its ``error``, logged once."""
    started = deps.monotonic()
    try:
        yield
    except ZohoAepError as exc:
        report.error = exc
        deps.logger.error(failed, extra={"outcome": "cycle-failed", "reason": exc.code, "error": exc.message})
    finally:
        report.duration_ms = (deps.monotonic() - started) * 1000


def _run_cycle(
    deps: RefreshDeps,
    report: CycleReport,
    *,
    force: bool,
    names: Iterable[str] | None,
    time_left: Callable[[], float] | None,
) -> None:
    selection = deps.policy.select(deps.store.list(), now=deps.clock(), force=force, names=names)
    report.seen, report.due, report.not_due = selection.seen, len(selection.due), selection.not_due
    for outcome in selection.skipped:
        _record(deps, report, outcome)
    if not selection.due:
        return
    # Read fresh each cycle (not the 5-minute cache): an operator's fix must count at the next cycle.
    creds = deps.app_secrets.zoho_client(force=True)
    if deps.fanout is not None and deps.fanout.takes(len(selection.due)):
        run = run_in_shards(
            deps.fanout,
            selection.due,
            force=force,
            time_left=time_left,
            clock=deps.clock,
            monotonic=deps.monotonic,
            sleep=deps.sleep,
            logger=deps.logger,
        )
        report.shards, report.shards_lost = run.shards, run.lost
        report.outcomes += run.outcomes  # the workers logged them
        return
    _refresh_all(deps, report, selection.due, creds, force, time_left)


def refresh_connections(
    deps: RefreshDeps,
    summaries: list[ConnectionSummary],
    *,
    force: bool = False,
    time_left: Callable[[], float] | None = None,
) -> CycleReport:
    """Refresh connections a planner already selected from their tags: one shard of a fanned-out cycle.

    Exactly what a cycle does per due connection (read, check again, budget, refresh, compare-and-swap,
    tags), without listing. Never raises for a connection; a failure of the whole shard (the Zoho client
    secret missing) is the report's ``error``.
    """
    report = CycleReport(forced=force, seen=len(summaries), due=len(summaries))
    if time_left is not None and time_left() < deps.reserve_seconds:
        # A shard that arrives after its deadline (late, or redelivered) touches nothing at all.
        for summary in summaries:
            _record(deps, report, deferred(summary.name, summary.tags.get(TAG_STATUS)))
        return report
    with _whole_run(deps, report, "refresh shard failed"):
        creds = deps.app_secrets.zoho_client(force=True)
        _refresh_all(deps, report, summaries, creds, force, time_left)
    return report


def _refresh_all(
    deps: RefreshDeps,
    report: CycleReport,
    due: list[ConnectionSummary],
    creds: ZohoClientCredentials,
    force: bool,
    time_left: Callable[[], float] | None,
) -> None:
    # At most ``concurrency`` calls to Zoho at once; the other threads read and write meanwhile.
    run = RefreshRun(
        creds,
        force=force,
        time_left=time_left,
        zoho_slots=threading.BoundedSemaphore(deps.concurrency),
        reads=BatchReads(deps.store, [summary.name for summary in due]),
    )
    workers = max(1, min(deps.concurrency * THREADS_PER_ZOHO_SLOT, len(due)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        futures = [pool.submit(refresh_one, deps, summary, run) for summary in due]
        for future in futures:
            _record(deps, report, future.result())


class BatchReads:
    """Reads the due connections' values 20 at a time (one ``BatchGetSecretValue``), when first needed.

    Connections are taken in order, so the first thread to need a batch reads it and the threads
    taking its neighbours a moment later find their values there: one call instead of twenty, and a
    value a fraction of a second old. A connection the batch did not return is read on its own.
    """

    def __init__(self, store: ConnectionStore, names: list[str]) -> None:
        self._store = store
        self._names = names
        self._position = {name: i for i, name in enumerate(names)}
        self._batches: dict[int, Future[dict[str, StoredConnection]]] = {}
        self._lock = threading.Lock()

    def take(self, name: str) -> StoredConnection | None:
        """``name``'s value from its batch, or None when the batch did not return it."""
        index = self._position[name] // MAX_BATCH_READ
        with self._lock:
            batch = self._batches.get(index)
            reader = batch is None
            if batch is None:
                batch = self._batches[index] = Future()
        if reader:
            try:
                batch.set_result(self._store.get_many(self._names[index * MAX_BATCH_READ :][:MAX_BATCH_READ]))
            except BaseException as exc:  # every thread waiting on this batch sees the failure
                batch.set_exception(exc)
                raise
        return batch.result().pop(name, None)  # each connection is taken once: keep no value longer


def _record(deps: RefreshDeps, report: CycleReport, outcome: ConnectionOutcome) -> None:
    report.outcomes.append(outcome)
    fields = {k: v for k, v in outcome.as_dict().items() if k != "connection"}
    extra = {"connection": outcome.connection, **fields}
    if outcome.outcome in (NEEDS_REAUTH, ERROR):
        deps.logger.error("refresh outcome", extra=extra)
    elif outcome.outcome in (THROTTLED, FAILED, SUPERSEDED, NOT_FOUND) or outcome.reason == REASON_BUDGET:
        deps.logger.warning("refresh outcome", extra=extra)
    else:
        deps.logger.info("refresh outcome", extra=extra)
