"""Lifecycle events on EventBridge, behind a small port tests can observe (the detail-types: ``domain.events``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from ..domain.errors import EventPublishFailed, ZohoAepError
from ..domain.events import DETAIL_TYPES, SOURCE
from .aws import AwsAdapter, client_errors


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...


class EventBridgePublisher(AwsAdapter):
    """Puts one event per call on the configured bus; a failed entry raises EventPublishFailed."""

    service = "events"

    def __init__(self, bus_name: str, client: Any = None) -> None:
        super().__init__(client)
        self.bus_name = bus_name

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if detail_type not in DETAIL_TYPES:
            raise ValueError(f"unknown detail-type {detail_type!r}")
        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail), separators=(",", ":"), sort_keys=True),
            "EventBusName": self.bus_name,
        }
        try:
            answer = self.client.put_events(Entries=[entry])
        except client_errors() as exc:
            raise EventPublishFailed(f"EventBridge refused the event '{detail_type}'.") from exc
        if answer.get("FailedEntryCount"):
            code = (answer.get("Entries") or [{}])[0].get("ErrorCode", "unknown")
            raise EventPublishFailed(f"EventBridge did not accept the event '{detail_type}' ({code}).")


class RecordingPublisher:
    """An in-memory publisher for tests and the local sandbox: remembers every event it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if detail_type not in DETAIL_TYPES:
            raise ValueError(f"unknown detail-type {detail_type!r}")
        self.events.append((detail_type, dict(detail)))

    def of_type(self, detail_type: str) -> list[dict[str, Any]]:
        return [d for t, d in self.events if t == detail_type]


def publish_or_log(events: EventPublisher, logger: Any, detail_type: str, detail: Mapping[str, Any]) -> bool:
    """Publish; a refused event is logged (with its reason code) and reported as False, never raised.

    Callers publish after the state is written: the event is the notification, and a lost one must
    not undo or hide what was done.
    """
    try:
        events.publish(detail_type, detail)
    except ZohoAepError as exc:
        logger.error(
            "event not published",
            extra={
                "connection": detail.get("connection"),
                "detail_type": detail_type,
                "outcome": "event-publish-failed",
                "reason": exc.code,
            },
        )
        return False
    return True
