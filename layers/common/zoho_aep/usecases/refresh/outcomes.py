"""What a refresh cycle reports: one outcome per connection looked at, and the cycle's counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...domain.connection import STATUS_NEEDS_REAUTH
from ...domain.errors import ZohoAepError

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
REASON_SUPERSEDED = "reauthorized-during-refresh"

# RefreshFailed metric classes, by outcome.
FAILURE_CLASSES = {NEEDS_REAUTH: "needs-reauth", THROTTLED: "throttled", FAILED: "transient", ERROR: "error"}


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


def deferred(connection: str, status: str | None) -> ConnectionOutcome:
    """A connection left for the next cycle (no time left, a shard lost or late)."""
    return ConnectionOutcome(connection, SKIPPED, REASON_DEFERRED, status)


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
