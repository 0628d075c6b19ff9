"""Use case: keep every connection's Zoho access token fresh, and say when one needs a new consent.

A cycle
1. lists ``{prefix}/connections/`` (tags only) and picks the due connections: ``zoho-aep:expires-at``
   within the refresh-ahead window, not ``needs-reauth``, not inside a throttling back-off
   (``zoho-aep:retry-after``). A connection that is not due costs no read of its secret value;
2. refreshes the due ones in a bounded thread pool, at most ``concurrency`` calls to Zoho at once
   (the other threads read and write Secrets Manager meanwhile; values are read 20 to a call). Per
   connection: read ``AWSCURRENT``, check again that it is due (another writer may have refreshed
   it), enforce the mint budget, refresh at the connection's own accounts server with its data
   center's client secret, write back with compare-and-swap keeping the refresh token and every
   other field, then update the tags.

Zoho lets one refresh token mint 10 access tokens per 10 minutes, and AEP refreshes the same token on
its own. So a connection mints at most once per cycle and never more than :data:`MINT_BUDGET` times per
:data:`ZOHO_WINDOW_SECONDS`; the mint times are kept in the secret value (``token_mints``) so the budget
holds whatever triggers arrive.

The refresh call happens between the read and the write. If a re-authorization lands in between, the
write (which reads afresh, and again each time its compare-and-swap loses) sees another refresh token
and keeps the newer consent's tokens: the access token just minted belongs to the old refresh token
(its mint is still counted). Failures are recorded under the same rule.

Failures never stop other connections and map to statuses per ``design.md``:
- consent revoked (``invalid_code``) or client gone (``invalid_client``) -> ``needs-reauth``, an event,
  no more attempts until a new consent resets it;
- throttling -> back off until Zoho's 10-minute window has passed;
- 5xx, timeouts, malformed answers (retried with backoff inside the call) -> ``refresh-failing`` only if
  the token expires before the next attempt, so a passing failure never marks a healthy connection dead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import events as ev
from .connect import iso_utc
from .errors import (
    AccountsServerMismatch,
    ConnectionCorrupt,
    ConnectionNotFound,
    LocationUnknown,
    ZohoAepError,
    ZohoClientChanged,
    ZohoClientInvalid,
    ZohoConsentRevoked,
    ZohoResponseInvalid,
    ZohoThrottled,
)
from .events import EventPublisher
from .store import (
    MAX_BATCH_READ,
    STATUS_ACTIVE,
    STATUS_NEEDS_REAUTH,
    STATUS_PROVISIONING_FAILED,
    STATUS_REFRESH_FAILING,
    TAG_EXPIRES_AT,
    TAG_LAST_ERROR,
    TAG_RETRY_AFTER,
    TAG_STATUS,
    AppSecrets,
    ConnectionStore,
    ConnectionSummary,
    StoredConnection,
    ZohoClientCredentials,
)
from .zoho.datacenters import DataCenterTable, normalise_origin
from .zoho.oauth import TokenSet, ZohoOAuthClient

if TYPE_CHECKING:
    from .fanout import FanOut

ZOHO_WINDOW_SECONDS = 600  # Zoho's rate-limit window: 10 access tokens per refresh token per 10 minutes
MINT_BUDGET = 5  # ours per window: half of Zoho's limit, AEP refreshes the same refresh token too

# Bookkeeping kept in the connection secret's value. A new consent clears all of them
# (``connect._RESET_ON_CONSENT`` names the same fields; a unit test keeps the two in step).
FIELD_MINTS = "token_mints"  # epoch seconds of recent mints, pruned to the last window
FIELD_FAILURES = "refresh_failures"  # consecutive failed refreshes
FIELD_LAST_ERROR = "last_refresh_error"  # code of the last failure
FIELD_THROTTLED_UNTIL = "throttled_until"  # epoch seconds; no attempt before
BOOKKEEPING_FIELDS = (FIELD_FAILURES, FIELD_THROTTLED_UNTIL, FIELD_LAST_ERROR, FIELD_MINTS)

# Outcomes, one per connection looked at (log key ``outcome``, report key ``outcome``).
REFRESHED = "refreshed"
NOT_DUE = "not-due"  # not expiring within the window (by tag, or after the read: refreshed meanwhile)
SKIPPED = "skipped"  # reason: needs-reauth | backing-off | budget-exhausted | deferred
SUPERSEDED = "superseded"  # a re-authorization landed during the refresh; its tokens were kept
NEEDS_REAUTH = "needs-reauth"
THROTTLED = "throttled"
FAILED = "failed"  # a passing failure (5xx, timeout, malformed answer)
ERROR = "error"  # anything else (corrupt secret, store refused, unexpected bug)
NOT_FOUND = "not-found"

REASON_NEEDS_REAUTH = "needs-reauth"
REASON_BACKING_OFF = "backing-off"
REASON_BUDGET = "budget-exhausted"
REASON_DEFERRED = "deferred"  # too little invocation time left; the next cycle picks it up

# Threads per Zoho call in flight: while ``concurrency`` threads wait on Zoho, as many again read and
# write Secrets Manager for other connections, so Zoho's slots never wait on AWS round trips.
THREADS_PER_ZOHO_SLOT = 2

# RefreshFailed metric classes, by outcome.
FAILURE_CLASSES = {NEEDS_REAUTH: "needs-reauth", THROTTLED: "throttled", FAILED: "transient", ERROR: "error"}


@dataclass
class RefreshDeps:
    """What a cycle needs. Tests hand in moto-backed stores, the Zoho emulator and fakes."""

    store: ConnectionStore
    app_secrets: AppSecrets
    zoho: ZohoOAuthClient
    events: EventPublisher
    data_centers: DataCenterTable
    logger: Any = field(default_factory=lambda: logging.getLogger("zoho_aep.refresh"))
    clock: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    window_minutes: int = 20
    concurrency: int = 8
    schedule_minutes: int = 10
    # A connection is started only if this much invocation time is left: two refresh calls (30 s
    # deadline each under the refresh RetryPolicy, the second after an unreadable answer) and the writes.
    reserve_seconds: float = 75.0
    # Pause before the one extra attempt after an answer we could not read (e.g. a proxy's HTML page).
    invalid_answer_backoff: float = 1.0
    # When set, a cycle with more due connections than one invocation should take is sent out in
    # shards to worker invocations (see ``fanout``); None refreshes everything in this invocation.
    fanout: FanOut | None = None


@dataclass(frozen=True)
class ConnectionOutcome:
    """What happened to one connection in a cycle. Carries names, codes and times only."""

    connection: str
    outcome: str
    reason: str | None = None
    status: str | None = None  # the status tag after the cycle, when known
    expires_at: int | None = None  # epoch seconds, when known
    retry_after: int | None = None
    recovered: bool = False

    @property
    def failure_class(self) -> str | None:
        return FAILURE_CLASSES.get(self.outcome)

    def as_dict(self) -> dict[str, Any]:
        data = {
            "connection": self.connection,
            "outcome": self.outcome,
            "reason": self.reason,
            "status": self.status,
            "expires_at": self.expires_at,
            "retry_after": self.retry_after,
        }
        if self.recovered:
            data["recovered"] = True
        return {k: v for k, v in data.items() if v is not None}


@dataclass
class CycleReport:
    """A cycle's result: counts for metrics, one outcome per connection looked at."""

    forced: bool = False
    seen: int = 0
    due: int = 0
    not_due: int = 0
    outcomes: list[ConnectionOutcome] = field(default_factory=list)
    duration_ms: float = 0.0
    error: ZohoAepError | None = None  # a failure of the whole cycle (configuration, listing)
    shards: int = 0  # shards sent to worker invocations (0: the cycle ran in this invocation)
    shards_lost: int = 0  # shards whose result never came back (their connections are deferred)

    def count(self, outcome: str) -> int:
        """How many connections ended with ``outcome``."""
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def failures_by_class(self) -> dict[str, int]:
        """Failed connections per failure class (the ``RefreshFailed`` metric's ``class`` dimension)."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            if o.failure_class is not None:
                counts[o.failure_class] = counts.get(o.failure_class, 0) + 1
        return counts

    @property
    def needing_reauthorization(self) -> int:
        """Connections in ``needs-reauth`` after the cycle (already marked, or marked now)."""
        return sum(1 for o in self.outcomes if o.status == STATUS_NEEDS_REAUTH)

    def outcome_of(self, connection: str) -> ConnectionOutcome:
        """The outcome of ``connection`` (StopIteration when it was not looked at)."""
        return next(o for o in self.outcomes if o.connection == connection)

    def as_dict(self) -> dict[str, Any]:
        """The report the handler returns: no secret, codes only."""
        data: dict[str, Any] = {
            "status": "error" if self.error is not None else "ok",
            "forced": self.forced,
            "seen": self.seen,
            "due": self.due,
            "not_due": self.not_due,
            "refreshed": self.count(REFRESHED),
            "failed": sum(self.failures_by_class().values()),
            "needs_reauth": self.needing_reauthorization,
            "duration_ms": round(self.duration_ms, 1),
            "connections": [o.as_dict() for o in sorted(self.outcomes, key=lambda o: o.connection)],
        }
        if self.shards:
            data["shards"], data["shards_lost"] = self.shards, self.shards_lost
        if self.error is not None:
            data["error"] = {"reason": self.error.code, "message": self.error.message}
        return data


# ---- selection by tags ---------------------------------------------------------------------------
def _int_tag(tags: Mapping[str, str], key: str) -> int | None:
    try:
        return int(tags[key])
    except (KeyError, ValueError):
        return None


@dataclass
class Selection:
    """A cycle's choice: the due connections, the ones skipped (with why), how many were not due."""

    due: list[ConnectionSummary] = field(default_factory=list)
    skipped: list[ConnectionOutcome] = field(default_factory=list)
    not_due: int = 0
    seen: int = 0


def select_due(
    summaries: Iterable[ConnectionSummary],
    *,
    now: float,
    window_seconds: float,
    force: bool = False,
    names: Iterable[str] | None = None,
) -> Selection:
    """Pick the connections to refresh from their tags alone (no secret value is read).

    Due: expiring within ``window_seconds`` (or no expiry tag), or ``force``. Never due:
    ``needs-reauth`` (unless forced *and* named: an operator retrying after fixing a client secret),
    and connections inside a throttling back-off (forced or not: Zoho would refuse anyway).
    Named connections that do not exist are reported ``not-found``.
    """
    wanted = list(dict.fromkeys(names)) if names is not None else None
    wanted_set = set(wanted or ())
    selection = Selection()
    found: set[str] = set()
    for summary in summaries:
        if wanted is not None and summary.name not in wanted_set:
            continue
        found.add(summary.name)
        selection.seen += 1
        tags = summary.tags
        retry_after = _int_tag(tags, TAG_RETRY_AFTER)
        expires = _int_tag(tags, TAG_EXPIRES_AT)
        status = tags.get(TAG_STATUS)
        if status == STATUS_NEEDS_REAUTH and not (force and wanted is not None):
            selection.skipped.append(
                ConnectionOutcome(summary.name, SKIPPED, REASON_NEEDS_REAUTH, status, expires_at=expires)
            )
        elif retry_after is not None and now < retry_after:
            selection.skipped.append(
                ConnectionOutcome(summary.name, SKIPPED, REASON_BACKING_OFF, status, expires, retry_after)
            )
        elif force or expires is None or expires - now <= window_seconds:
            selection.due.append(summary)
        else:
            selection.not_due += 1
            if wanted is not None:
                selection.skipped.append(ConnectionOutcome(summary.name, NOT_DUE, None, status, expires))
    for name in wanted or ():
        if name not in found:
            selection.skipped.append(ConnectionOutcome(name, NOT_FOUND))
    return selection


# ---- the cycle -----------------------------------------------------------------------------------
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
    started = deps.monotonic()
    report = CycleReport(forced=force)
    try:
        _run_cycle(deps, report, force=force, names=names, time_left=time_left)
    except ZohoAepError as exc:
        report.error = exc
        deps.logger.error(
            "refresh cycle failed", extra={"outcome": "cycle-failed", "reason": exc.code, "error": exc.message}
        )
    report.duration_ms = (deps.monotonic() - started) * 1000
    return report


def _run_cycle(
    deps: RefreshDeps,
    report: CycleReport,
    *,
    force: bool,
    names: Iterable[str] | None,
    time_left: Callable[[], float] | None,
) -> None:
    now = deps.clock()
    selection = select_due(
        deps.store.list(), now=now, window_seconds=deps.window_minutes * 60, force=force, names=names
    )
    report.seen, report.due, report.not_due = selection.seen, len(selection.due), selection.not_due
    for outcome in selection.skipped:
        _record(deps, report, outcome)
    if not selection.due:
        return
    # Read fresh each cycle (not the 5-minute cache): an operator's fix must count at the next cycle.
    creds = deps.app_secrets.zoho_client(force=True)
    if deps.fanout is not None and deps.fanout.takes(len(selection.due)):
        from .fanout import run_in_shards

        run_in_shards(deps, report, selection.due, force=force, time_left=time_left)
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
    started = deps.monotonic()
    report = CycleReport(forced=force, seen=len(summaries), due=len(summaries))
    if time_left is not None and time_left() < deps.reserve_seconds:
        # A shard that arrives after its deadline (late, or redelivered) touches nothing at all.
        for summary in summaries:
            _record(
                deps, report, ConnectionOutcome(summary.name, SKIPPED, REASON_DEFERRED, summary.tags.get(TAG_STATUS))
            )
        return report
    try:
        creds = deps.app_secrets.zoho_client(force=True)
        _refresh_all(deps, report, summaries, creds, force, time_left)
    except ZohoAepError as exc:
        report.error = exc
        deps.logger.error(
            "refresh shard failed", extra={"outcome": "cycle-failed", "reason": exc.code, "error": exc.message}
        )
    report.duration_ms = (deps.monotonic() - started) * 1000
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
    zoho_slots = threading.BoundedSemaphore(deps.concurrency)
    reads = _BatchReads(deps.store, [summary.name for summary in due])
    workers = max(1, min(deps.concurrency * THREADS_PER_ZOHO_SLOT, len(due)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="refresh") as pool:
        futures = [
            pool.submit(_refresh_guarded, deps, summary, creds, force, time_left, zoho_slots, reads) for summary in due
        ]
        for future in futures:
            _record(deps, report, future.result())


class _BatchReads:
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


def _refresh_guarded(
    deps: RefreshDeps,
    summary: ConnectionSummary,
    creds: ZohoClientCredentials,
    force: bool,
    time_left: Callable[[], float] | None,
    zoho_slots: threading.BoundedSemaphore | None = None,
    reads: _BatchReads | None = None,
) -> ConnectionOutcome:
    """One connection, isolated: whatever happens here must not stop the others."""
    status = summary.tags.get(TAG_STATUS)
    if time_left is not None and time_left() < deps.reserve_seconds:
        return ConnectionOutcome(summary.name, SKIPPED, REASON_DEFERRED, status)
    try:
        return _ConnectionRefresh(deps, summary, creds, force, time_left, zoho_slots, reads).run()
    except ConnectionCorrupt as exc:
        # Its value cannot be read, so there is no bookkeeping to write: the tag is what an operator sees.
        with contextlib.suppress(ZohoAepError):  # the outcome below is logged and reported either way
            deps.store.set_tags(summary.name, {TAG_LAST_ERROR: exc.code})
        return ConnectionOutcome(summary.name, ERROR, exc.code, status)
    except ZohoAepError as exc:
        return ConnectionOutcome(summary.name, ERROR, exc.code, status)
    except Exception:  # the isolation boundary: a bug on one connection is reported, the cycle goes on
        deps.logger.exception("refresh of one connection failed unexpectedly", extra={"connection": summary.name})
        return ConnectionOutcome(summary.name, ERROR, "internal-error", status)


def _epoch(iso: object) -> int | None:
    if not isinstance(iso, str):
        return None
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def recent_mints(value: Mapping[str, Any], now: float) -> list[int]:
    """The mint times in ``value`` that still count against the budget (inside Zoho's window)."""
    mints = value.get(FIELD_MINTS)
    if not isinstance(mints, list):
        return []
    return [int(t) for t in mints if isinstance(t, (int, float)) and now - t < ZOHO_WINDOW_SECONDS]


class _Deferred(Exception):
    """Too little invocation time was left once a Zoho slot was free: the next cycle takes it."""


class _ConnectionRefresh:
    """The refresh of one due connection (a small object so each step can be read on its own)."""

    def __init__(
        self,
        deps: RefreshDeps,
        summary: ConnectionSummary,
        creds: ZohoClientCredentials,
        force: bool,
        time_left: Callable[[], float] | None = None,
        zoho_slots: threading.BoundedSemaphore | None = None,
        reads: _BatchReads | None = None,
    ) -> None:
        self.deps = deps
        self.time_left = time_left
        self.zoho_slots = zoho_slots
        self.reads = reads
        self.name = summary.name
        self.listed_tags = summary.tags
        self.prior_status = summary.tags.get(TAG_STATUS)
        self.creds = creds
        self.force = force
        self.now = deps.clock()

    def run(self) -> ConnectionOutcome:
        stored = (self.reads.take(self.name) if self.reads else None) or self.deps.store.get(self.name)
        if stored is None:  # deleted since the listing
            return ConnectionOutcome(self.name, NOT_FOUND)
        value = stored.value
        expires = _epoch(value.get("expires_at"))
        skip = self._why_not_now(value, expires)
        if skip is not None:
            if skip.outcome == NOT_DUE and expires is not None:
                # The tag lagged behind the value: correct it, so the next cycle need not read the value.
                self.deps.store.set_tags(self.name, {TAG_EXPIRES_AT: str(expires)})
            return skip
        # The refresh token identifies the consent: if it changes while we work, a re-authorization
        # landed, and whatever we learnt belongs to the consent it replaced.
        refresh_token = value.get("refresh_token")
        try:
            if not isinstance(refresh_token, str) or not refresh_token:
                raise ConnectionCorrupt(f"Connection {self.name} has no refresh token.")
            accounts_url = self._accounts_url(value)
            client_id = self._client_id(value)
            tokens = self._mint(accounts_url, client_id, str(value.get("data_center")), refresh_token)
        except _Deferred:
            return ConnectionOutcome(self.name, SKIPPED, REASON_DEFERRED, self.prior_status, expires)
        except (ZohoConsentRevoked, ZohoClientInvalid) as exc:
            return self._needs_reauth(exc, refresh_token, expires)
        except ZohoThrottled as exc:
            return self._failed(exc, refresh_token, expires, retry_after=int(self.now) + ZOHO_WINDOW_SECONDS)
        except ZohoAepError as exc:
            return self._failed(exc, refresh_token, expires, retry_after=None)
        return self._store(tokens, refresh_token, stored)

    # ---- before the call ----------------------------------------------------------------------
    def _why_not_now(self, value: Mapping[str, Any], expires: int | None) -> ConnectionOutcome | None:
        window = self.deps.window_minutes * 60
        if not self.force and expires is not None and expires - self.now > window:
            # Another writer (a re-authorization, an overlapping run) refreshed it since the listing.
            return ConnectionOutcome(self.name, NOT_DUE, None, self.prior_status, expires)
        throttled_until = value.get(FIELD_THROTTLED_UNTIL)
        if isinstance(throttled_until, (int, float)) and self.now < throttled_until:
            return ConnectionOutcome(
                self.name, SKIPPED, REASON_BACKING_OFF, self.prior_status, expires, int(throttled_until)
            )
        if len(recent_mints(value, self.now)) >= MINT_BUDGET:
            return ConnectionOutcome(self.name, SKIPPED, REASON_BUDGET, self.prior_status, expires)
        return None

    def _accounts_url(self, value: Mapping[str, Any]) -> str:
        """The stored accounts server, only if it is the one the data-center table maps its location to.

        The client secret goes nowhere else, even if someone edited the connection secret.
        """
        location = value.get("data_center")
        if not isinstance(location, str) or location not in self.deps.data_centers:
            raise LocationUnknown(f"Connection {self.name} names no known Zoho data center.")
        expected = self.deps.data_centers[location].accounts_url
        stored = value.get("accounts_url")
        if not isinstance(stored, str) or normalise_origin(stored) != expected:
            raise AccountsServerMismatch(f"Connection {self.name}'s accounts server is not its data center's.")
        return expected

    def _client_id(self, value: Mapping[str, Any]) -> str:
        stored = value.get("client_id")
        if isinstance(stored, str) and stored and stored != self.creds.client_id:
            # Its refresh token belongs to another client: only a consent to the configured one helps.
            raise ZohoClientChanged(f"Connection {self.name} was authorized for another Zoho client.")
        return self.creds.client_id

    def _mint(self, accounts_url: str, client_id: str, location: str, refresh_token: str) -> TokenSet:
        with self.zoho_slots or contextlib.nullcontext():
            # Waiting for a slot took time: check again that the call and the writes still fit.
            if self.time_left is not None and self.time_left() < self.deps.reserve_seconds:
                raise _Deferred()
            return self._call_zoho(accounts_url, client_id, location, refresh_token)

    def _call_zoho(self, accounts_url: str, client_id: str, location: str, refresh_token: str) -> TokenSet:
        secret = self.creds.secret_for(location)
        try:
            return self.deps.zoho.refresh(accounts_url, client_id, secret, refresh_token)
        except ZohoResponseInvalid:
            # The HTTP client already retried 5xx and timeouts; an unreadable answer gets one more try.
            self.deps.sleep(self.deps.invalid_answer_backoff)
            return self.deps.zoho.refresh(accounts_url, client_id, secret, refresh_token)

    # ---- after the call -----------------------------------------------------------------------
    def _store(self, tokens: TokenSet, used_refresh_token: str, stored: StoredConnection) -> ConnectionOutcome:
        expires_at = int(self.now + tokens.expires_in)
        seen: dict[str, bool] = {}

        def mutate(current: dict[str, Any] | None) -> dict[str, Any]:
            if current is None:
                raise ConnectionNotFound(f"Connection {self.name} was deleted during its refresh.")
            # Zoho counted this mint against the refresh token we used, whatever happens next.
            current[FIELD_MINTS] = [*recent_mints(current, self.now), int(self.now)]
            seen["superseded"] = current.get("refresh_token") != used_refresh_token
            if seen["superseded"]:
                # A re-authorization landed after our read: its tokens are newer; keep them.
                return current
            seen["had_failures"] = bool(current.get(FIELD_LAST_ERROR) or current.get(FIELD_FAILURES))
            current["access_token"] = tokens.access_token
            current["expires_at"] = iso_utc(expires_at)
            for key in (FIELD_FAILURES, FIELD_LAST_ERROR, FIELD_THROTTLED_UNTIL):
                current.pop(key, None)
            return current

        # The swap names the version read before the call: if anything was written since, it is
        # refused and ``mutate`` runs again on a fresh read. Starting from that read saves a call.
        self.deps.store.write(self.name, mutate, read=stored)
        if seen["superseded"]:
            return ConnectionOutcome(self.name, SUPERSEDED, "reauthorized-during-refresh")

        tags = {TAG_EXPIRES_AT: str(expires_at)}
        remove: tuple[str, ...] = (TAG_RETRY_AFTER,)
        status = self.prior_status
        if self.prior_status != STATUS_PROVISIONING_FAILED:
            # provisioning-failed and its last-error are provisioning's to clear, not ours.
            tags[TAG_STATUS] = status = STATUS_ACTIVE
            remove += (TAG_LAST_ERROR,)
        # Untag only what the listing showed: a healthy connection then costs no UntagResource call.
        # A tag another writer adds after the listing is the race tags always had: they are not
        # compare-and-swapped, the last writer wins (see ``_reauthorized_since``).
        self.deps.store.set_tags(self.name, tags, remove=tuple(k for k in remove if k in self.listed_tags))
        recovered = seen["had_failures"] or self.prior_status in (STATUS_REFRESH_FAILING, STATUS_NEEDS_REAUTH)
        if recovered:
            self._publish(ev.CONNECTION_RECOVERED, {"connection": self.name})
        return ConnectionOutcome(self.name, REFRESHED, None, status, expires_at, recovered=recovered)

    def _bookkeep_failure(self, error: ZohoAepError, used_refresh_token: object, retry_after: int | None) -> bool:
        """Record the failure in the value; False when a re-authorization superseded the attempt."""
        seen: dict[str, bool] = {}

        def mutate(current: dict[str, Any] | None) -> dict[str, Any] | None:
            if current is None:
                raise ConnectionNotFound(f"Connection {self.name} was deleted during its refresh.")
            seen["superseded"] = current.get("refresh_token") != used_refresh_token
            if seen["superseded"]:
                return None  # the failure belongs to a refresh token the connection no longer uses
            failures = current.get(FIELD_FAILURES)
            failures = failures if isinstance(failures, int) else 0
            repeat = failures > 0 and current.get(FIELD_LAST_ERROR) == error.code
            if repeat and (retry_after is None or current.get(FIELD_THROTTLED_UNTIL) == retry_after):
                # The same failure again: nothing new to record. Writing anyway would add a secret
                # version every cycle, and Secrets Manager caps how many versions a secret may keep.
                return None
            current[FIELD_FAILURES] = failures + 1
            current[FIELD_LAST_ERROR] = error.code
            if retry_after is not None:
                current[FIELD_THROTTLED_UNTIL] = retry_after
            return current

        self.deps.store.write(self.name, mutate)
        return not seen["superseded"]

    def _needs_reauth(self, error: ZohoAepError, used_refresh_token: object, expires: int | None) -> ConnectionOutcome:
        if not self._bookkeep_failure(error, used_refresh_token, None):
            return ConnectionOutcome(self.name, SUPERSEDED, "reauthorized-during-refresh")
        self.deps.store.set_tags(
            self.name, {TAG_STATUS: STATUS_NEEDS_REAUTH, TAG_LAST_ERROR: error.code}, remove=(TAG_RETRY_AFTER,)
        )
        if self._reauthorized_since(used_refresh_token):
            return ConnectionOutcome(self.name, SUPERSEDED, "reauthorized-during-refresh")
        if self.prior_status != STATUS_NEEDS_REAUTH:
            self._publish(ev.NEEDS_REAUTHORIZATION, {"connection": self.name, "reason_code": error.code})
        return ConnectionOutcome(self.name, NEEDS_REAUTH, error.code, STATUS_NEEDS_REAUTH, expires)

    def _failed(
        self, error: ZohoAepError, used_refresh_token: object, expires: int | None, *, retry_after: int | None
    ) -> ConnectionOutcome:
        """A failure that a later attempt may fix: never marks a healthy connection dead."""
        outcome = THROTTLED if retry_after is not None else (FAILED if error.retryable else ERROR)
        if not self._bookkeep_failure(error, used_refresh_token, retry_after):
            return ConnectionOutcome(self.name, SUPERSEDED, "reauthorized-during-refresh")
        next_attempt = self.now + self.deps.schedule_minutes * 60
        if retry_after is not None:
            next_attempt = max(next_attempt, retry_after + self.deps.schedule_minutes * 60)
        dies_first = expires is None or expires <= next_attempt
        tags: dict[str, str] = {}
        status = self.prior_status
        if retry_after is not None:
            tags[TAG_RETRY_AFTER] = str(retry_after)
        if status == STATUS_NEEDS_REAUTH:
            pass  # a forced retry of a needs-reauth connection changes nothing until it succeeds
        elif dies_first:
            tags[TAG_STATUS] = status = STATUS_REFRESH_FAILING
            tags[TAG_LAST_ERROR] = error.code
        elif status != STATUS_PROVISIONING_FAILED:
            tags[TAG_LAST_ERROR] = error.code  # the status stays: the token outlives the next attempt
        if tags:
            self.deps.store.set_tags(self.name, tags)
        if status == STATUS_REFRESH_FAILING and self._reauthorized_since(used_refresh_token):
            return ConnectionOutcome(self.name, SUPERSEDED, "reauthorized-during-refresh")
        return ConnectionOutcome(self.name, outcome, error.code, status, expires, retry_after)

    def _reauthorized_since(self, used_refresh_token: object) -> bool:
        """After tagging a connection as broken: did a new consent land meanwhile? Then undo our tags.

        Tags are not compare-and-swapped. The callback writes the value, then the tags; checking the
        value after our tags means either we see its new refresh token here, or its tags come after
        ours. Either way the connection ends up tagged for the newer consent.
        """
        current = self.deps.store.get(self.name)
        if current is None or current.value.get("refresh_token") == used_refresh_token:
            return False
        tags = {TAG_STATUS: STATUS_ACTIVE}
        expires = _epoch(current.value.get("expires_at"))
        if expires is not None:
            tags[TAG_EXPIRES_AT] = str(expires)
        self.deps.store.set_tags(self.name, tags, remove=(TAG_LAST_ERROR, TAG_RETRY_AFTER))
        return True

    def _publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        try:
            self.deps.events.publish(detail_type, detail)
        except ZohoAepError as exc:
            # The status and tags are written; the event is the notification. Say so, go on.
            self.deps.logger.error(
                "event not published",
                extra={"connection": self.name, "outcome": "event-publish-failed", "reason": exc.code},
            )
