"""Lifecycle events on EventBridge (source ``zoho-aep``), behind a small port tests can observe.

Details are built by the use cases from names, ids and codes only: no event ever carries a token.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from . import aws
from .errors import EventPublishFailed

SOURCE = "zoho-aep"
CONNECTION_AUTHORIZED = "Zoho connection authorized"
BASE_CONNECTION_PROVISIONED = "AEP base connection provisioned"
PROVISIONING_FAILED = "AEP provisioning failed"
NEEDS_REAUTHORIZATION = "Zoho connection needs reauthorization"
CONNECTION_RECOVERED = "Zoho connection recovered"

DETAIL_TYPES = (
    CONNECTION_AUTHORIZED,
    BASE_CONNECTION_PROVISIONED,
    PROVISIONING_FAILED,
    NEEDS_REAUTHORIZATION,
    CONNECTION_RECOVERED,
)


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None: ...


class EventBridgePublisher:
    """Puts one event per call on the configured bus; a failed entry raises EventPublishFailed."""

    def __init__(self, bus_name: str, client: Any = None) -> None:
        self.bus_name = bus_name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client("events")
        return self._client

    def publish(self, detail_type: str, detail: Mapping[str, Any]) -> None:
        if detail_type not in DETAIL_TYPES:
            raise ValueError(f"unknown detail-type {detail_type!r}")
        from botocore.exceptions import BotoCoreError, ClientError

        entry = {
            "Source": SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail), separators=(",", ":"), sort_keys=True),
            "EventBusName": self.bus_name,
        }
        try:
            answer = self.client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
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
