"""The Amazon S3 path's AEP side: what the product creates in AEP for a connection, where it records
it, how AEP's dataflow runs are judged, and the batch budget they must fit.

Per connection: one S3 base connection (``{prefix} {connection} s3``) holding the reader's key and
the connection's export folder. Per exported module: a field group, a schema and a dataset
(``Zoho CRM {Module} ({connection})``), a source connection on the module's folder, a target
connection to the dataset, a mapping set and a dataflow (``{prefix} {connection} {Module}``). Their
ids live in the export bucket, ``state/{connection}/_aep.json``, so a re-run updates instead of
creating, and a crash between a create and its record is healed by a lookup by name.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import AepStateInvalid
from .export import STATE_PREFIX

AEP_STATE_SCHEMA = 1

# Adobe's ids for the Amazon S3 source (verified in Adobe's Flow Service tutorials and spec).
S3_CONNECTION_SPEC = "ecadc60c-7455-4d87-84dc-2a0e293d997b"
DATA_LAKE_CONNECTION_SPEC = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
CLOUD_STORAGE_FLOW_SPEC = "9753525b-82c7-4dce-8a9b-5ccfce2b9876"  # CloudStorageToAEP
S3_AUTH_SPEC = "Access Key"

DAILY_BATCH_GUARDRAIL = 90  # AEP: Profile and ExperienceEvent batches a day per sandbox (soft limit)
MIN_FLOW_INTERVAL_MINUTES = 15  # AEP: the shortest "minute" schedule
FLOW_START_DELAY_SECONDS = 300  # a flow's start time may not be in the past when AEP receives it

# How the product judges a run (AEP's status values compared case-insensitively; unknown = not over).
RUN_OK, RUN_FAILED, RUN_RUNNING = "ok", "failed", "running"
_RUN_DONE_OK = frozenset({"success", "completed"})
_RUN_DONE_FAILED = frozenset({"failed", "failure", "partial_failure", "cancelled"})
_RUN_DONE_PARTIAL = frozenset({"partial_success"})


AEP_STATE_FILE = "_aep.json"


def aep_state_key(connection: str) -> str:
    return f"{STATE_PREFIX}/{connection}/{AEP_STATE_FILE}"


def s3_base_connection_name(prefix: str, connection: str) -> str:
    return f"{prefix} {connection} s3"


def module_object_name(prefix: str, connection: str, module: str) -> str:
    """Source connection, target connection and dataflow of a module."""
    return f"{prefix} {connection} {module}"


def dataset_name(connection: str, module: str) -> str:
    """The schema's title and the dataset's name."""
    return f"Zoho CRM {module} ({connection})"


def field_group_title(connection: str, module: str) -> str:
    # Schema Registry titles are unique across every resource kind of a sandbox (XDM-1521-400).
    return f"Zoho CRM {module} ({connection}) fields"


RECORD_CLASS_TITLE = "Zoho CRM record (zoho-aep)"  # one per sandbox, shared by every schema


def runs_per_day(interval_minutes: int) -> int:
    """Scheduled runs a dataflow makes in a day at ``interval_minutes``."""
    return math.ceil(24 * 60 / max(MIN_FLOW_INTERVAL_MINUTES, interval_minutes))


def flow_schedule(interval_minutes: int, now: float) -> dict[str, Any]:
    """``scheduleParams`` of a module's dataflow: every export interval, files already there included."""
    return {
        "startTime": str(int(now) + FLOW_START_DELAY_SECONDS),
        "frequency": "minute",
        "interval": str(max(MIN_FLOW_INTERVAL_MINUTES, interval_minutes)),
        "backfill": True,
    }


def judge_run(status: object, failed_records: int, input_records: int, threshold: float) -> str:
    """``ok``, ``failed`` (the run failed, or its row errors passed ``threshold``, a share 0-1) or ``running``."""
    # Adobe spells statuses in camelCase (``partialSuccess``) and, in places, with dashes or spaces.
    value = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", str(status or "").strip()).lower().replace("-", "_").replace(" ", "_")
    if value in _RUN_DONE_FAILED:
        return RUN_FAILED
    if value in _RUN_DONE_OK or value in _RUN_DONE_PARTIAL:
        if failed_records > 0 and failed_records > threshold * max(1, input_records):
            return RUN_FAILED
        return RUN_OK
    return RUN_RUNNING


# ---- the recorded state -------------------------------------------------------------------------
@dataclass
class RunSeen:
    """The last dataflow run the watch looked at (what ``zoho-aep status`` shows)."""

    id: str
    status: str
    verdict: str  # ok | failed | running
    records_in: int = 0
    records_out: int = 0
    records_failed: int = 0
    files: int = 0
    at: int | None = None  # epoch seconds, when it started
    reason_code: str | None = None


@dataclass
class ModuleObjects:
    """A module's AEP objects, by id; ``fields`` are the columns mapped, with their XDM kinds."""

    module: str
    field_group_id: str | None = None
    schema_id: str | None = None
    dataset_id: str | None = None
    descriptor_id: str | None = None
    source_id: str | None = None
    target_id: str | None = None
    mapping_id: str | None = None
    mapping_version: int | None = None
    flow_id: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # column -> XDM kind, in the mapped order
    last_run: RunSeen | None = None
    failing_since: int | None = None

    @property
    def complete(self) -> bool:
        return all(
            (self.field_group_id, self.schema_id, self.dataset_id, self.source_id, self.target_id,
             self.mapping_id, self.flow_id)
        ) and self.mapping_version is not None  # fmt: skip


@dataclass
class AepState:
    """Everything the product created in AEP for one connection on the S3 path."""

    connection: str
    sandbox: str
    tenant_id: str | None = None
    class_id: str | None = None
    base_connection_id: str | None = None
    reader_key_id: str | None = None  # the access key id the base connection holds (never the secret)
    modules: dict[str, ModuleObjects] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # fields a newer version wrote: kept as they are

    def module(self, name: str) -> ModuleObjects:
        return self.modules.setdefault(name, ModuleObjects(name))

    def to_value(self) -> dict[str, Any]:
        modules = {}
        for name, item in sorted(self.modules.items()):
            data = dict(vars(item))
            data["last_run"] = dict(vars(item.last_run)) if item.last_run else None
            data["fields"] = [[k, v] for k, v in item.fields.items()]  # a list keeps the order in any JSON
            modules[name] = data
        return copy.deepcopy(
            {
                **self.extra,
                "schema": AEP_STATE_SCHEMA,
                "connection": self.connection,
                "sandbox": self.sandbox,
                "tenant_id": self.tenant_id,
                "class_id": self.class_id,
                "base_connection_id": self.base_connection_id,
                "reader_key_id": self.reader_key_id,
                "modules": modules,
            }
        )

    @classmethod
    def from_value(cls, connection: str, value: object) -> AepState:
        if not isinstance(value, dict):
            raise AepStateInvalid(f"The AEP state of {connection} is not a JSON object.")
        schema = value.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool) or schema > AEP_STATE_SCHEMA:
            raise AepStateInvalid(f"The AEP state of {connection} has an unknown schema; upgrade this stack.")
        if value.get("connection") != connection:
            raise AepStateInvalid(f"The AEP state at {aep_state_key(connection)} belongs to another connection.")
        known = {"schema", "connection", "sandbox", "tenant_id", "class_id", "base_connection_id", "reader_key_id",
                 "modules"}  # fmt: skip
        try:
            modules = {}
            for name, raw in dict(value.get("modules") or {}).items():
                item = copy.deepcopy(raw)
                last = item.pop("last_run", None)
                pairs = item.pop("fields", [])
                modules[str(name)] = ModuleObjects(
                    **item,
                    fields={str(k): str(v) for k, v in pairs},
                    last_run=RunSeen(**last) if isinstance(last, dict) else None,
                )
            return cls(
                connection=connection,
                sandbox=str(value.get("sandbox") or ""),
                tenant_id=_optional_str(value.get("tenant_id")),
                class_id=_optional_str(value.get("class_id")),
                base_connection_id=_optional_str(value.get("base_connection_id")),
                reader_key_id=_optional_str(value.get("reader_key_id")),
                modules=modules,
                extra={k: v for k, v in value.items() if k not in known},
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise AepStateInvalid(f"The AEP state of {connection} cannot be read.") from exc


def _optional_str(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError("not a string")
    return raw


def flows_in_use(states: Iterable[AepState], sandbox: str, *, but: str | None = None) -> int:
    """Dataflows the product runs in ``sandbox`` (every connection but ``but``)."""
    return sum(
        1
        for state in states
        if state.sandbox == sandbox and state.connection != but
        for item in state.modules.values()
        if item.flow_id
    )
