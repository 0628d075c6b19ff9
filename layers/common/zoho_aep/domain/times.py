"""Times as the connection secret keeps them: ISO 8601 UTC seconds (``2026-11-22T15:04:05Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (whole seconds, UTC)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(iso: object) -> int | None:
    """Epoch seconds of an ISO 8601 time (a trailing ``Z`` allowed), or None when it is not one."""
    if not isinstance(iso, str):
        return None
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
