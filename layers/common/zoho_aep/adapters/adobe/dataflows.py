"""Flow Service dataflows: source connections, target connections, flows and their runs.

What the Amazon S3 path creates in AEP besides its base connection. Creates are sent once (no
idempotency key exists: the caller looks the name up after a lost answer); reads unwrap Flow
Service's ``items``; updates carry ``If-Match`` with the etag exactly as Adobe returned it. Run
statuses are passed on as Adobe spells them (the domain judges them, case-insensitively).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...domain.errors import AdobeNotFound, AdobeResponseInvalid
from .flow import FlowServiceClient
from .platform import segment

MAX_RUNS = 20  # the newest runs of a flow the watch reads per look


@dataclass(frozen=True)
class FlowObject:
    """A source connection, target connection or flow as a read returns it."""

    id: str
    name: str
    etag: str | None
    record: dict[str, Any]

    @classmethod
    def from_record(cls, record: Any, what: str) -> FlowObject:
        if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not record["id"]:
            raise AdobeResponseInvalid(f"Flow Service returned {what} without an id.")
        etag = record.get("etag")
        return cls(record["id"], str(record.get("name") or ""), etag if isinstance(etag, str) else None, record)


@dataclass(frozen=True)
class Run:
    """One dataflow run: its status as Adobe says it, and its counts."""

    id: str
    status: str | None
    created_at: int | None  # epoch milliseconds
    records_in: int
    records_out: int
    records_failed: int
    files: int
    error_codes: tuple[str, ...]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Run:
        if not isinstance(record.get("id"), str) or not record["id"]:
            raise AdobeResponseInvalid("Flow Service returned a run without an id.")
        metrics = _obj(record.get("metrics"))
        records, files, status = (_obj(metrics.get(k)) for k in ("recordSummary", "fileSummary", "statusSummary"))
        errors = list(_items(status.get("errors")))
        for activity in _items(record.get("activities")):  # where Adobe's run docs put row errors
            errors += _items(_obj(_obj(activity.get("statusSummary")).get("extensions")).get("errors"))
        codes = tuple(dict.fromkeys(str(e.get("code"))[:40] for e in errors if e.get("code")))
        created = record.get("createdAt")
        return cls(
            id=record["id"],
            status=status.get("status") if isinstance(status.get("status"), str) else None,
            created_at=created if isinstance(created, int) and not isinstance(created, bool) else None,
            records_in=_count(records.get("inputRecordCount")),
            records_out=_count(records.get("outputRecordCount")),
            records_failed=_count(records.get("failedRecordCount")),
            files=_count(files.get("inputFileCount")),
            error_codes=codes,
        )


def _items(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


class DataflowClient(FlowServiceClient):
    """Source and target connections, flows and runs in one sandbox."""

    # ---- specs ------------------------------------------------------------------------------
    def get_flow_spec(self, spec_id: str) -> dict[str, Any]:
        body = self._call("GET", f"/flowSpecs/{segment(spec_id)}", what="the flow spec read").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise AdobeResponseInvalid("Flow Service answered the flow spec read without the spec.")
        return items[0]

    # ---- source and target connections, flows: the same four calls each ------------------------
    def create(self, kind: str, body: Mapping[str, Any]) -> FlowObject:
        """``POST /{kind}`` (``sourceConnections``, ``targetConnections``, ``flows``): id and etag."""
        answer = self._call("POST", f"/{kind}", json_body=dict(body), policy=self._once(), what=f"the {kind} create")
        created = answer.json_or_none()
        return FlowObject.from_record(created, f"the {kind} create's answer")

    def get(self, kind: str, object_id: str) -> FlowObject:
        body = self._call("GET", f"/{kind}/{segment(object_id)}", what=f"the {kind} read").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise AdobeResponseInvalid(f"Flow Service answered the {kind} read without items.")
        if not items:
            raise AdobeNotFound(f"Flow Service has no such object in {kind}.")
        return FlowObject.from_record(items[0], f"the {kind} read")

    def find(self, kind: str, name: str, properties: Sequence[str] = ()) -> list[FlowObject]:
        """The objects of ``kind`` called ``name`` (and matching ``properties``), oldest first."""
        listed = [FlowObject.from_record(r, f"the {kind} list") for r in self._list(f"/{kind}", properties, kind)]
        matches = [o for o in listed if o.name == name]
        return sorted(
            matches, key=lambda o: (not isinstance(o.record.get("createdAt"), int), o.record.get("createdAt") or 0)
        )

    def delete(self, kind: str, object_id: str) -> None:
        self._call("DELETE", f"/{kind}/{segment(object_id)}", what=f"the {kind} delete")

    def patch_flow(self, flow_id: str, etag: str, operations: Sequence[Mapping[str, Any]]) -> FlowObject:
        """``PATCH /flows/{id}`` with ``If-Match``: a new mapping version, a new schedule."""
        answer = self._call(
            "PATCH",
            f"/flows/{segment(flow_id)}",
            json_body=[dict(op) for op in operations],
            headers={"If-Match": etag},
            what="the flow update",
        ).json_or_none()
        return FlowObject.from_record(answer, "the flow update's answer")

    def set_flow_state(self, flow_id: str, enabled: bool) -> None:
        op = "enable" if enabled else "disable"
        self._call("POST", f"/flows/{segment(flow_id)}/action", params=[("op", op.upper())], what=f"the flow {op}")

    # ---- runs -------------------------------------------------------------------------------
    def runs(self, flow_id: str, limit: int = MAX_RUNS) -> list[Run]:
        """The newest runs of a flow, newest first (one page: the watch looks often)."""
        params = [("property", f"flowId=={flow_id}"), ("orderby", "-createdAt"), ("limit", str(limit))]
        body = self._call("GET", "/runs", params=params, what="the run list").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise AdobeResponseInvalid("Flow Service answered the run list without items.")
        runs = [Run.from_record(item) for item in items]
        return sorted(runs, key=lambda r: r.created_at or 0, reverse=True)
