"""What an export run reports: one outcome per unit, and a tick's counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...domain.export import ExportUnit, iso

# A unit's outcome (log key ``outcome``).
COMPLETED = "completed"  # the window's files are in place and the watermark moved
PENDING = "pending"  # a Bulk Read job is running, or a download must wait: picked up later, nobody waits
CONTINUES = "continues"  # out of invocation time: the next invocation goes on from the last page done
DEFERRED = "deferred"  # the org already runs as many units as it may: later
IN_PROGRESS = "in-progress"  # another invocation holds the unit
NOT_DUE = "not-due"  # the last window ended a moment ago
SKIPPED = "skipped"  # not exported (needs a new consent, not on the S3 path)
FAILED = "failed"

# ExportFailed metric classes, by whether a retry can help.
WAITING = frozenset({PENDING, CONTINUES, DEFERRED})


@dataclass(frozen=True)
class UnitOutcome:
    """How one unit's run ended. Names, counts, times and codes only."""

    unit: ExportUnit
    outcome: str
    reason: str | None = None
    retryable: bool = False
    records: int = 0
    deleted: int = 0
    files: int = 0
    window_start: int | None = None
    window_end: int | None = None
    retry_in: int | None = None  # seconds until it is worth looking again (pending, deferred, passing failures)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "connection": self.unit.connection,
            "module": self.unit.module,
            "outcome": self.outcome,
            "reason": self.reason,
            "records": self.records,
            "deleted": self.deleted,
            "files": self.files,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "retry_in": self.retry_in,
        }
        if self.outcome == FAILED:
            data["retryable"] = self.retryable
        return {k: v for k, v in data.items() if v is not None}


@dataclass
class ExportReport:
    """An invocation's result: one outcome per unit it looked at, units sent to the queue."""

    trigger: str = "schedule"
    outcomes: list[UnitOutcome] = field(default_factory=list)
    enqueued: int = 0
    error: str | None = None  # a failure of the whole invocation (its code)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trigger": self.trigger,
            "status": "error" if self.error else "ok",
            "units": len(self.outcomes),
            "completed": self.count(COMPLETED),
            "failed": self.count(FAILED),
            "records": sum(o.records for o in self.outcomes),
            "deleted": sum(o.deleted for o in self.outcomes),
            "files": sum(o.files for o in self.outcomes),
            "enqueued": self.enqueued,
            "exports": [o.as_dict() for o in sorted(self.outcomes, key=lambda o: o.unit)],
        }
        if self.error:
            data["error"] = {"reason": self.error}
        return data
