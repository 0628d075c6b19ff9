"""The Amazon S3 path's values: export units, their state, the file layout AEP reads, and the rules on them.

A **unit** is one connection and one Zoho module. Its state lives in the export bucket, outside what
AEP reads (``state/{connection}/{Module}.json``), never in the token secret: an export never races a
token write. The state records the columns in their fixed order, the watermark (the end of the last
window whose files are all in the bucket), the run in progress (its window, Bulk Read job, pages done,
files staged and published) and the last outcome. Files AEP reads are
``zoho/{connection}/{Module}/{window_end}-{seq:05d}.csv.gz`` (``design.md``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ExportStateInvalid

STATE_SCHEMA = 1
EXPORT_PREFIX = "zoho"  # what AEP's reader may read, and nothing else
STAGING_PREFIX = "staging"  # files being written: never watched by AEP
STATE_PREFIX = "state"
DELETED_COLUMN = "zoho_deleted"
ID_COLUMN = "id"
MODIFIED_COLUMN = "Modified_Time"

PATH_ZOHO_CRM = "zoho-crm"
PATH_AMAZON_S3 = "amazon-s3"

EXPORT_OK = "ok"
EXPORT_FAILING = "failing"
EXPORT_NEEDS_CONSENT = "needs-consent"

COMPLETED = "completed"
FAILED = "failed"

# Zoho data types a CSV column can carry as one value (Bulk Read exports lookups as their id). Others
# (subforms, multi-record lookups, files, images, composite address fields) are left out of the export.
EXPORTABLE_TYPES = frozenset(
    {
        "text",
        "textarea",
        "mediumtext",
        "email",
        "phone",
        "website",
        "picklist",
        "multiselectpicklist",
        "autonumber",
        "integer",
        "long",
        "bigint",
        "double",
        "decimal",
        "currency",
        "percent",
        "boolean",
        "date",
        "datetime",
        "lookup",
        "ownerlookup",
        "userlookup",
        "formula",
        "rollup_summary",
    }
)
_COLUMN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}")  # what AEP takes as a CSV header


# ---- where things are -----------------------------------------------------------------------------
def stamp(epoch: int) -> str:
    """A window end as it appears in file names: ``20261122T150405Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%SZ")


def zoho_time(epoch: int) -> str:
    """Epoch seconds as Zoho's criteria take them: ISO 8601, seconds, explicit offset (no milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def iso(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, order=True)
class ExportUnit:
    """One connection's one Zoho module: what one export run works on."""

    connection: str
    module: str

    @property
    def folder(self) -> str:
        """The folder AEP reads this module's files from."""
        return f"{EXPORT_PREFIX}/{self.connection}/{self.module}"

    @property
    def state_key(self) -> str:
        return f"{STATE_PREFIX}/{self.connection}/{self.module}.json"

    def file_key(self, window_end: int, seq: int) -> str:
        """A file's final name: never repeats (a window ends once, its files are numbered)."""
        return f"{self.folder}/{stamp(window_end)}-{seq:05d}.csv.gz"

    def staging_key(self, run_id: str, seq: int) -> str:
        return f"{STAGING_PREFIX}/{self.connection}/{self.module}/{run_id}/{seq:05d}.csv.gz"

    def __str__(self) -> str:
        return f"{self.connection}/{self.module}"


def org_state_key(connection: str) -> str:
    """The per-org gate: how many units run at once, recent downloads (one Zoho org per connection)."""
    return f"{STATE_PREFIX}/{connection}/_org.json"


# ---- columns ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ZohoField:
    """One field of a module, as Zoho's field metadata describes it."""

    api_name: str
    data_type: str
    label: str = ""
    return_type: str | None = None  # formula and rollup fields: the type they compute

    @property
    def exportable(self) -> bool:
        kind = self.return_type if self.data_type in ("formula", "rollup_summary") and self.return_type else None
        return (
            self.data_type in EXPORTABLE_TYPES
            and (kind is None or kind in EXPORTABLE_TYPES)
            and bool(_COLUMN.fullmatch(self.api_name))
            and self.api_name.lower() not in (ID_COLUMN, DELETED_COLUMN)
        )


def evolve_columns(recorded: Iterable[str], fields: Iterable[ZohoField], skipped: Iterable[str] = ()) -> list[str]:
    """The unit's columns: ``id``, what was recorded (in its order), then new exportable fields appended.

    A field Zoho removed stays (its column is empty from then on), so a schema built from the columns
    only ever grows. ``skipped`` are fields Zoho refused to export; they are not added.
    """
    columns = [ID_COLUMN] + [c for c in recorded if c != ID_COLUMN]
    refused = set(skipped)
    for item in fields:
        if item.exportable and item.api_name not in columns and item.api_name not in refused:
            columns.append(item.api_name)
    return columns


def requested_fields(columns: Iterable[str], fields: Iterable[ZohoField], skipped: Iterable[str] = ()) -> list[str]:
    """The fields to ask Bulk Read for: the columns that still exist in Zoho (``id`` comes anyway)."""
    present = {f.api_name for f in fields if f.exportable}
    refused = set(skipped)
    return [c for c in columns if c != ID_COLUMN and c in present and c not in refused]


def header(columns: Iterable[str]) -> list[str]:
    """A file's header: the columns, then ``zoho_deleted``."""
    return [*columns, DELETED_COLUMN]


# ---- state ------------------------------------------------------------------------------------------
@dataclass
class StagedFile:
    """A file written to staging, waiting to be copied into the folder AEP reads."""

    seq: int
    key: str
    records: int
    deleted: int = 0


@dataclass
class ExportRun:
    """A window being exported. Nothing of it counts until every file is in place and the watermark moves."""

    id: str
    kind: str  # "full" (first export, or asked for) | "delta"
    window_end: int  # epoch seconds: records modified before it
    window_start: int | None = None  # None: from the beginning
    deleted_since: int | None = None  # deletions from this time on become tombstones (None: none)
    started_at: int = 0
    phase: str = "bulk"  # "bulk" -> "deleted" -> "publish"
    fields: list[str] = field(default_factory=list)  # the fields asked for, fixed for the run
    job_id: str | None = None
    job_at: int = 0  # when the current job was created (polls back off from it)
    page_token: str | None = None  # for the next page's job
    pages: int = 0  # Bulk Read pages done (their rows staged)
    job_attempts: int = 0  # failed, expired or refused attempts at the current page
    deleted_page: int = 0  # deleted-records pages done
    seq: int = 0  # the last file number handed out
    staged: list[StagedFile] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # final keys, in place
    records: int = 0
    deleted: int = 0
    not_before: int | None = None  # a throttled download: not again before


@dataclass
class Lease:
    owner: str
    until: int


@dataclass
class LastExport:
    """How the unit's last run ended (what ``zoho-aep status`` shows)."""

    outcome: str  # "completed" | "failed"
    at: int
    records: int = 0
    deleted: int = 0
    files: int = 0
    window_start: int | None = None
    window_end: int | None = None
    reason_code: str | None = None
    retryable: bool = False
    announced: bool = False  # its event was published (a crash before it is made up on the next run)


@dataclass
class ExportState:
    """The state object of one unit."""

    connection: str
    module: str
    columns: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # fields Bulk Read refused: never asked for again
    watermark: int | None = None  # window_end of the last completed window
    run: ExportRun | None = None
    lease: Lease | None = None
    last: LastExport | None = None
    failures: int = 0  # consecutive failed runs
    # When the export first held new Zoho fields back until AEP maps them (the S3 path's schema evolution).
    columns_waiting: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys a newer version wrote, kept as found

    @property
    def unit(self) -> ExportUnit:
        return ExportUnit(self.connection, self.module)

    def leased(self, now: float) -> bool:
        return self.lease is not None and self.lease.until > now

    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = copy.deepcopy(self.extra)
        value.update(
            {
                "schema": STATE_SCHEMA,
                "connection": self.connection,
                "module": self.module,
                "columns": list(self.columns),
                "skipped": list(self.skipped),
                "watermark": self.watermark,
                "run": _plain(self.run),
                "lease": _plain(self.lease),
                "last": _plain(self.last),
                "failures": self.failures,
                "columns_waiting": self.columns_waiting,
            }
        )
        return value

    @classmethod
    def from_value(cls, unit: ExportUnit, value: object) -> ExportState:
        """Parse a state object; anything unreadable raises ExportStateInvalid (never guessed at)."""
        if not isinstance(value, dict):
            raise ExportStateInvalid(f"The export state of {unit} is not a JSON object.")
        schema = value.get("schema")
        if not isinstance(schema, int) or isinstance(schema, bool) or schema > STATE_SCHEMA:
            raise ExportStateInvalid(f"The export state of {unit} has an unknown schema; upgrade this stack.")
        if value.get("connection") != unit.connection or value.get("module") != unit.module:
            raise ExportStateInvalid(f"The export state at {unit.state_key} belongs to another unit.")
        known = {
            "schema",
            "connection",
            "module",
            "columns",
            "skipped",
            "watermark",
            "run",
            "lease",
            "last",
            "failures",
            "columns_waiting",
        }
        try:
            run = copy.deepcopy(value.get("run"))  # never change the caller's value
            staged = [StagedFile(**f) for f in run.pop("staged", [])] if isinstance(run, dict) else []
            return cls(
                connection=unit.connection,
                module=unit.module,
                columns=_strings(value.get("columns", [])),
                skipped=_strings(value.get("skipped", [])),
                watermark=_optional_int(value.get("watermark")),
                run=ExportRun(**run, staged=staged) if isinstance(run, dict) else None,
                lease=Lease(**value["lease"]) if isinstance(value.get("lease"), dict) else None,
                last=LastExport(**value["last"]) if isinstance(value.get("last"), dict) else None,
                failures=int(value.get("failures") or 0),
                columns_waiting=_optional_int(value.get("columns_waiting")),
                extra={k: v for k, v in value.items() if k not in known},
            )
        except (TypeError, ValueError) as exc:
            raise ExportStateInvalid(f"The export state of {unit} cannot be read.") from exc


def _plain(item: Any) -> Any:
    if item is None:
        return None
    data = dict(vars(item))
    if "staged" in data:
        data["staged"] = [dict(vars(f)) for f in data["staged"]]
    return copy.deepcopy(data)


def _strings(raw: object) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ValueError("not a list of strings")
    return list(raw)


def _optional_int(raw: object) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValueError("not a whole number")
    return raw


# ---- windows ----------------------------------------------------------------------------------------
def next_window(state: ExportState, *, now: int, full: bool, overlap: int) -> tuple[str, int | None, int, int | None]:
    """(kind, window_start, window_end, deleted_since) of the next run of ``state``'s unit.

    The first export of a module (or a forced ``full``) is a backfill of everything modified before
    now, with no tombstones (nothing was exported before). A delta takes what was modified since the
    last window's end, reaching back ``overlap`` seconds: delivery is at least once, never at most
    once. A window always ends after the last one, so file names never repeat.
    """
    end = max(now, (state.watermark or 0) + 1)
    if full or state.watermark is None:
        return "full", None, end, None
    since = max(0, state.watermark - overlap)
    return "delta", since, end, since


# ---- the per-org gate ------------------------------------------------------------------------------
@dataclass
class OrgGate:
    """The units of one Zoho org running now, and its recent Bulk Read downloads."""

    connection: str
    leases: dict[str, Lease] = field(default_factory=dict)  # unit (module) -> lease
    downloads: list[int] = field(default_factory=list)  # epoch seconds

    def running(self, now: float) -> int:
        return sum(1 for lease in self.leases.values() if lease.until > now)

    def recent_downloads(self, now: float) -> list[int]:
        return [t for t in self.downloads if now - t < 60]

    def to_value(self) -> dict[str, Any]:
        return {
            "schema": STATE_SCHEMA,
            "connection": self.connection,
            "leases": {k: _plain(v) for k, v in self.leases.items()},
            "downloads": list(self.downloads),
        }

    @classmethod
    def from_value(cls, connection: str, value: object) -> OrgGate:
        if not isinstance(value, Mapping) or value.get("connection") != connection:
            raise ExportStateInvalid(f"The export gate of {connection} cannot be read.")
        try:
            leases = {str(k): Lease(**v) for k, v in dict(value.get("leases") or {}).items()}
            downloads = [int(t) for t in value.get("downloads") or []]
        except (TypeError, ValueError) as exc:
            raise ExportStateInvalid(f"The export gate of {connection} cannot be read.") from exc
        return cls(connection, leases, downloads)


# ---- scopes -----------------------------------------------------------------------------------------
def missing_scopes(granted: str | None, module: str) -> list[str]:
    """The scopes exporting ``module`` needs that the consent ``granted`` lacks.

    Empty when ``granted`` is unknown (Zoho does not always say): Zoho's own refusal then tells.
    """
    have = {s.strip().lower() for s in (granted or "").replace(",", " ").split() if s.strip()}
    if not have:
        return []
    needs = {
        "ZohoCRM.bulk.READ": ("zohocrm.bulk.read", "zohocrm.bulk.all"),
        "ZohoCRM.settings.fields.READ": (
            "zohocrm.settings.fields.read",
            "zohocrm.settings.fields.all",
            "zohocrm.settings.read",
            "zohocrm.settings.all",
        ),
        f"ZohoCRM.modules.{module}.READ": (
            "zohocrm.modules.read",
            "zohocrm.modules.all",
            f"zohocrm.modules.{module.lower()}.read",
            f"zohocrm.modules.{module.lower()}.all",
        ),
    }
    return [scope for scope, any_of in needs.items() if not have.intersection(any_of)]
