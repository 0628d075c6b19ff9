"""The Zoho emulator's CRM records: field metadata, Bulk Read jobs, their zipped CSV results, deleted records.

Each org holds modules with fields and records. The behaviour follows Zoho's v8 documents (see
``shared/reference/aep-s3-continuity.md`` section 5), quirks included:

- ``POST /crm/bulk/v8/read`` answers 201 with the job in ``data[0].details``; the job goes ADDED ->
  IN PROGRESS -> COMPLETED (or FAILURE) as the emulator's clock passes ``job_seconds``; ``result``
  exists only once it ended, ``next_page_token`` only with ``more_records``;
- a page holds at most ``page_size`` records (Zoho: 200,000); the next page is a new job created with
  ``{"query": {"page_token": ...}}`` alone; a token belongs to one user and lives 24 hours;
- ``GET .../result`` is a zip holding ``{job_id}.csv`` (``id`` first, then the fields asked for, in
  their order; datetimes ISO 8601 with the org's offset; booleans ``true``/``false``; multi-select
  values joined with ``;``; lookups as ids); 10 downloads a minute per org, then 429 for a minute;
  a result expires ``result_ttl`` seconds after the job completed (RESOURCE_NOT_FOUND, 404);
- criteria on datetime fields take seconds and an explicit offset; milliseconds are refused;
- ``GET /crm/v8/{module}/deleted`` pages 200 at most, filters by ``If-Modified-Since``, answers 204 when
  there is nothing, and shows ``null`` for who deleted a permanently deleted record;
- ``GET /crm/v8/settings/fields?module=`` lists every field, the ones Bulk Read cannot export too;
- missing scopes answer 401 ``OAUTH_SCOPE_MISMATCH``.
Knobs: ``page_size``, ``job_seconds``, ``result_ttl``, ``downloads_per_minute``, :meth:`fail_next_jobs`,
``refused_fields`` (a field Bulk Read rejects although the metadata lists it), ``callbacks_sent``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import threading
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import Request, Response

# (api_name, data_type) per module; the last ones of each are types Bulk Read cannot put in a CSV column.
DEFAULT_FIELDS: dict[str, list[tuple[str, str]]] = {
    "Leads": [
        ("Last_Name", "text"),
        ("First_Name", "text"),
        ("Email", "email"),
        ("Company", "text"),
        ("Phone", "phone"),
        ("Lead_Status", "picklist"),
        ("Annual_Revenue", "currency"),
        ("No_of_Employees", "integer"),
        ("Email_Opt_Out", "boolean"),
        ("Interests", "multiselectpicklist"),
        ("Owner", "ownerlookup"),
        ("Created_Time", "datetime"),
        ("Modified_Time", "datetime"),
        ("Record_Image", "profileimage"),
        ("Attachments_Files", "fileupload"),
    ],
    "Contacts": [
        ("Last_Name", "text"),
        ("First_Name", "text"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Date_of_Birth", "date"),
        ("Account_Name", "lookup"),
        ("Owner", "ownerlookup"),
        ("Created_Time", "datetime"),
        ("Modified_Time", "datetime"),
        ("Reporting_To", "multiselectlookup"),
    ],
    "Accounts": [
        ("Account_Name", "text"),
        ("Website", "website"),
        ("Industry", "picklist"),
        ("Employees", "integer"),
        ("Annual_Revenue", "currency"),
        ("Owner", "ownerlookup"),
        ("Created_Time", "datetime"),
        ("Modified_Time", "datetime"),
    ],
    "Deals": [
        ("Deal_Name", "text"),
        ("Stage", "picklist"),
        ("Amount", "currency"),
        ("Probability", "percent"),
        ("Closing_Date", "date"),
        ("Account_Name", "lookup"),
        ("Contact_Name", "lookup"),
        ("Owner", "ownerlookup"),
        ("Created_Time", "datetime"),
        ("Modified_Time", "datetime"),
        ("Products", "subform"),
    ],
    "Campaigns": [
        ("Campaign_Name", "text"),
        ("Status", "picklist"),
        ("Owner", "ownerlookup"),
        ("Modified_Time", "datetime"),
    ],
    "Tasks": [("Subject", "text"), ("Due_Date", "date"), ("Owner", "ownerlookup"), ("Modified_Time", "datetime")],
}
NOT_BULK_READABLE = frozenset({"Notes", "Attachments", "Emails"})
COLUMN_TYPES = frozenset(
    {
        "text",
        "textarea",
        "email",
        "phone",
        "website",
        "picklist",
        "multiselectpicklist",
        "autonumber",
        "integer",
        "bigint",
        "long",
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
    }
)
PAGE_TOKEN_TTL = 24 * 3600
_ZOHO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")


def crm_error(code: str, message: str, status: int, details: dict[str, Any] | None = None) -> Response:
    return Response.json({"code": code, "details": details or {}, "message": message, "status": "error"}, status)


def zoho_datetime(epoch: float, offset: str) -> str:
    """Zoho's datetime: ISO 8601, seconds, the org's offset (``2024-07-20T00:51:23+05:30``)."""
    sign = 1 if offset[0] == "+" else -1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    delta = timedelta(hours=hours, minutes=minutes) * sign
    local = datetime.fromtimestamp(int(epoch), UTC) + delta
    return local.strftime("%Y-%m-%dT%H:%M:%S") + offset


def parse_zoho_datetime(text: str) -> float | None:
    if not isinstance(text, str) or not _ZOHO_TIME.match(text):
        return None
    return datetime.fromisoformat(text).timestamp()


@dataclass
class Module:
    name: str
    fields: list[dict[str, Any]]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> values (datetimes as epoch)
    deleted: list[dict[str, Any]] = field(default_factory=list)  # {id, deleted_time (epoch), type, by}


@dataclass
class Job:
    id: str
    org_id: str
    user: str
    module: str
    fields: list[str]
    criteria: Any
    offset: int
    created_at: float
    completes_at: float
    callback: str | None
    fail: bool = False
    state: str = "ADDED"
    completed_at: float | None = None
    result: dict[str, Any] | None = None
    csv: bytes | None = None
    callback_sent: bool = False


@dataclass
class PageToken:
    user: str
    org_id: str
    module: str
    fields: list[str]
    criteria: Any
    offset: int
    expires_at: float


class CrmRecords:
    """Every org's records and the Bulk Read machinery, behind the emulator's CRM routes."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.modules: dict[str, dict[str, Module]] = {}  # org id -> module name -> Module
        self.offsets: dict[str, str] = {}  # org id -> its time zone's offset
        self.jobs: dict[str, Job] = {}
        self.tokens: dict[str, PageToken] = {}
        self.downloads: dict[str, list[float]] = {}  # org id -> download times
        self.blocked_until: dict[str, float] = {}
        self._next_id = 4_876_000_000_001_000_000
        # knobs
        self.page_size = 200_000
        self.job_seconds = 0.0
        self.result_ttl = 24 * 3600.0
        self.downloads_per_minute = 10
        self.refused_fields: set[str] = set()
        self._fail_next = 0
        self.callbacks_sent: list[dict[str, Any]] = []

    # ---- set-up (tests, the sandbox) ----------------------------------------------------------
    def add_org(self, org_id: str, offset: str = "+05:30") -> None:
        with self.lock:
            if org_id in self.modules:
                return
            self.offsets[org_id] = offset
            self.modules[org_id] = {
                name: Module(name, [_field(api, kind) for api, kind in fields])
                for name, fields in DEFAULT_FIELDS.items()
            }

    def module(self, org_id: str, name: str) -> Module:
        return self.modules[org_id][name]

    def new_id(self) -> str:
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    def put(self, org_id: str, module: str, values: dict[str, Any], record_id: str | None = None) -> str:
        """Create or update a record; its ``Modified_Time`` is now (epoch seconds)."""
        with self.lock:
            target = self.module(org_id, module)
            record_id = record_id or self.new_id()
            record = target.records.setdefault(record_id, {"Created_Time": self.clock()})
            record.update(values)
            record["Modified_Time"] = values.get("Modified_Time", self.clock())
            return record_id

    def add_many(self, org_id: str, module: str, count: int, *, modified_at: float | None = None) -> list[str]:
        """``count`` synthetic records (fast: a backfill test needs more than one Bulk Read page)."""
        at = self.clock() if modified_at is None else modified_at
        ids = []
        with self.lock:
            target = self.module(org_id, module)
            for i in range(count):
                record_id = self.new_id()
                target.records[record_id] = _synthetic(module, i, record_id, at)
                ids.append(record_id)
        return ids

    def delete(self, org_id: str, module: str, record_id: str, *, permanent: bool = False, by: str = "") -> None:
        with self.lock:
            target = self.module(org_id, module)
            del target.records[record_id]
            target.deleted.append(
                {
                    "id": record_id,
                    "deleted_time": self.clock(),
                    "type": "permanent" if permanent else "recycle",
                    "by": by,
                }
            )

    def add_field(self, org_id: str, module: str, api_name: str, data_type: str) -> None:
        with self.lock:
            self.module(org_id, module).fields.append(_field(api_name, data_type))

    def remove_field(self, org_id: str, module: str, api_name: str) -> None:
        with self.lock:
            target = self.module(org_id, module)
            target.fields = [f for f in target.fields if f["api_name"] != api_name]
            for record in target.records.values():
                record.pop(api_name, None)

    def fail_next_jobs(self, count: int = 1) -> None:
        """The next ``count`` jobs end in FAILURE."""
        with self.lock:
            self._fail_next += count

    def expire_results(self) -> None:
        """Every completed result is gone (as a day after completion)."""
        with self.lock:
            for job in self.jobs.values():
                if job.completed_at is not None:
                    job.completed_at -= self.result_ttl + 1

    def complete_jobs(self) -> list[Job]:
        """End every job whose time has come and post its callback (what Zoho does on its own)."""
        with self.lock:
            done = [job for job in self.jobs.values() if self._settle(job) and job.callback and not job.callback_sent]
            for job in done:
                job.callback_sent = True
        for job in done:
            self._post_callback(job)
        return done

    # ---- the routes ----------------------------------------------------------------------------
    def fields(self, request: Request, org_id: str) -> Response:
        module = request.query.get("module", "")
        with self.lock:
            target = self.modules.get(org_id, {}).get(module)
            if target is None:
                return crm_error(
                    "INVALID_MODULE", "the module name given seems to be invalid", 400, {"resource_path_index": 0}
                )
            return Response.json({"fields": [dict(f) for f in target.fields]})

    def create_job(self, request: Request, org_id: str, user: str) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return crm_error("REQUEST_BODY_NOT_READABLE", "the request body could not be read", 400)
        if not isinstance(body, dict):
            return crm_error("INVALID_REQUEST", "the request body must be an object", 400)
        query = _obj(body.get("query"))
        callback = body.get("callback") if isinstance(body.get("callback"), dict) else None
        if callback is not None and (
            callback.get("method") != "post" or not str(callback.get("url", "")).startswith("http")
        ):
            return crm_error("INVALID_CALLBACK_URL", "the callback is not valid", 400)
        now = self.clock()
        with self.lock:
            token_value = query.get("page_token")
            if token_value:
                token = self.tokens.get(str(token_value))
                if token is None or token.expires_at <= now or token.org_id != org_id:
                    return crm_error("INVALID_REQUEST", "the page token is not valid", 400)
                if token.user != user:
                    return crm_error("INVALID_REQUEST", "the page token belongs to another user", 400)
                module, fields, criteria, offset = token.module, token.fields, token.criteria, token.offset
            else:
                module_spec = _obj(query.get("module"))
                module = str(module_spec.get("api_name") or "")
                target = self.modules.get(org_id, {}).get(module)
                if target is None or module in NOT_BULK_READABLE:
                    return crm_error("MODULE_NOT_SUPPORTED", "the module is not supported", 400, {"api_name": module})
                fields = query.get("fields") or []
                if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                    return crm_error("INVALID_REQUEST", "fields must be a list of API names", 400)
                known = {f["api_name"]: f for f in target.fields}
                for name in fields:
                    spec = known.get(name)
                    if spec is None:
                        return crm_error("FIELD_NOT_AVAILABLE", "the field is not available", 400, {"api_name": name})
                    if name in self.refused_fields or spec["data_type"] not in COLUMN_TYPES:
                        return crm_error("FIELD_NOT_SUPPORTED", "the field is not supported", 400, {"api_name": name})
                criteria = query.get("criteria")
                problem = _check_criteria(criteria, known)
                if problem is not None:
                    return problem
                offset = 0
            job = Job(
                id=self.new_id(),
                org_id=org_id,
                user=user,
                module=module,
                fields=list(fields),
                criteria=criteria,
                offset=offset,
                created_at=now,
                completes_at=now + self.job_seconds,
                callback=str(callback["url"]) if callback else None,
                fail=self._fail_next > 0,
            )
            self._fail_next = max(0, self._fail_next - 1)
            self.jobs[job.id] = job
        created = zoho_datetime(now, self.offsets.get(org_id, "+00:00"))
        details = {
            "id": job.id,
            "operation": "read",
            "state": "ADDED",
            "created_by": {"id": "1", "name": user},
            "created_time": created,
        }
        answer = {
            "status": "success",
            "code": "ADDED_SUCCESSFULLY",
            "message": "Added successfully.",
            "details": details,
        }
        return Response.json({"data": [answer], "info": {}}, 201)

    def job_status(self, job_id: str, org_id: str) -> Response:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.org_id != org_id:
                return crm_error("RESOURCE_NOT_FOUND", "The job ID specified is invalid", 404, {"resource": job_id})
            self._settle(job)
            data: dict[str, Any] = {
                "id": job.id,
                "operation": "read",
                "state": job.state,
                "query": {"module": {"api_name": job.module}, "page": 1, "fields": job.fields},
                "created_by": {"id": "1", "name": job.user},
                "created_time": zoho_datetime(job.created_at, self.offsets.get(org_id, "+00:00")),
                "file_type": "csv",
            }
            if job.result is not None:
                data["result"] = dict(job.result)
        return Response.json({"data": [data]})

    def download(self, job_id: str, org_id: str) -> Response:
        now = self.clock()
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.org_id != org_id:
                return crm_error("RESOURCE_NOT_FOUND", "The job ID specified is invalid", 404, {"resource": job_id})
            self._settle(job)
            if job.state != "COMPLETED" or job.csv is None:
                return crm_error("RESOURCE_NOT_FOUND", "the result is not available", 404, {"resource": job_id})
            if job.completed_at is not None and now - job.completed_at > self.result_ttl:
                return crm_error("RESOURCE_NOT_FOUND", "the result has expired", 404, {"resource": job_id})
            recent = [t for t in self.downloads.get(org_id, []) if now - t < 60]
            if now < self.blocked_until.get(org_id, 0.0) or len(recent) >= self.downloads_per_minute:
                if now >= self.blocked_until.get(org_id, 0.0):
                    self.blocked_until[org_id] = now + 60
                return crm_error("TOO_MANY_REQUESTS", "Only 10 downloads are allowed in a minute", 429)
            self.downloads[org_id] = [*recent, now]
            payload = io.BytesIO()
            with zipfile.ZipFile(payload, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(f"{job.id}.csv", job.csv)
        headers = {
            "Content-Type": "application/x-download",
            "Content-Disposition": f'attachment; filename="{job.id}.zip"',
        }
        return Response(200, payload.getvalue(), headers)

    def deleted_records(self, request: Request, org_id: str, module: str) -> Response:
        kind = request.query.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            return crm_error("PATTERN_NOT_MATCHED", "type is not valid", 400, {"param": "type"})
        try:
            page = int(request.query.get("page", "1"))
            per_page = min(200, int(request.query.get("per_page", "200")))
        except ValueError:
            return crm_error("INVALID_DATA", "page and per_page are numbers", 400)
        since_text = request.header("if-modified-since")
        since = parse_zoho_datetime(since_text) if since_text else None
        if since_text and since is None:
            return crm_error("INVALID_DATA", "If-Modified-Since is not a datetime", 400)
        with self.lock:
            target = self.modules.get(org_id, {}).get(module)
            if target is None:
                return crm_error("INVALID_MODULE", "the module name given seems to be invalid", 400)
            offset = self.offsets.get(org_id, "+00:00")
            rows = [
                d
                for d in target.deleted
                if (kind == "all" or d["type"] == kind) and (since is None or d["deleted_time"] >= since)
            ]
        if page < 1 or per_page < 1:
            return crm_error("INVALID_DATA", "page and per_page are positive", 400)
        chunk = rows[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(204, b"")
        data = []
        for d in chunk:
            permanent = d["type"] == "permanent"
            who = None if permanent else {"name": d["by"] or "Admin", "id": "1"}
            data.append(
                {
                    "deleted_by": who,
                    "id": d["id"],
                    "display_name": None if permanent else f"record {d['id'][-4:]}",
                    "type": d["type"],
                    "created_by": who,
                    "deleted_time": zoho_datetime(d["deleted_time"], offset),
                }
            )
        info = {"per_page": per_page, "count": len(chunk), "page": page, "more_records": page * per_page < len(rows)}
        return Response.json({"data": data, "info": info})

    # ---- jobs ----------------------------------------------------------------------------------
    def _settle(self, job: Job) -> bool:
        """Move a job on by the clock; True when it has ended."""
        now = self.clock()
        if job.state in ("COMPLETED", "FAILURE"):
            return True
        if now < job.completes_at:
            job.state = "IN PROGRESS" if now > job.created_at else "ADDED"
            return False
        job.completed_at = now
        if job.fail:
            job.state = "FAILURE"
            job.result = {
                "error_message": {
                    "status": "error",
                    "code": "INTERNAL_SERVER_ERROR",
                    "message": "Something went wrong",
                    "details": {},
                }
            }
            return True
        records = self._matching(job)
        page = records[job.offset : job.offset + self.page_size]
        more = job.offset + len(page) < len(records)
        job.csv = self._csv(job, page)
        result: dict[str, Any] = {
            "page": 1 + job.offset // self.page_size,
            "per_page": self.page_size,
            "count": len(page),
            "download_url": f"/crm/bulk/v8/read/{job.id}/result",
            "more_records": more,
        }
        if more:
            token = secrets.token_hex(18)
            self.tokens[token] = PageToken(
                job.user, job.org_id, job.module, job.fields, job.criteria, job.offset + len(page), now + PAGE_TOKEN_TTL
            )
            result["next_page_token"] = token
        job.result = result
        job.state = "COMPLETED"
        return True

    def _matching(self, job: Job) -> list[tuple[str, dict[str, Any]]]:
        target = self.module(job.org_id, job.module)
        return sorted(
            ((rid, rec) for rid, rec in target.records.items() if _matches(job.criteria, rec)), key=lambda item: item[0]
        )

    def _csv(self, job: Job, rows: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
        target = self.module(job.org_id, job.module)
        types = {f["api_name"]: f["data_type"] for f in target.fields}
        columns = job.fields or [f["api_name"] for f in target.fields if f["data_type"] in COLUMN_TYPES]
        offset = self.offsets.get(job.org_id, "+00:00")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", *columns])
        for record_id, record in rows:
            writer.writerow([record_id, *(_render(record.get(c), types.get(c, "text"), offset) for c in columns)])
        return out.getvalue().encode("utf-8")

    def _post_callback(self, job: Job) -> None:
        body = {
            "job_id": job.id,
            "operation": "read",
            "state": job.state,
            "query": {"module": {"api_name": job.module}},
            "result": job.result or {},
        }
        self.callbacks_sent.append({"url": job.callback, "body": body})
        request = urllib.request.Request(  # noqa: S310  # the test's own loopback callback URL
            str(job.callback),
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # nosec B310  # loopback only
                answer.read()
        except OSError:
            pass  # Zoho does not retry a callback either (CALLBACK_FAILURE)


# ---- helpers -----------------------------------------------------------------------------------
def _field(api_name: str, data_type: str) -> dict[str, Any]:
    json_type = {
        "integer": "integer",
        "bigint": "integer",
        "currency": "double",
        "percent": "double",
        "double": "double",
        "boolean": "boolean",
        "lookup": "jsonobject",
        "ownerlookup": "jsonobject",
        "multiselectpicklist": "jsonarray",
        "subform": "jsonarray",
        "multiselectlookup": "jsonarray",
        "fileupload": "jsonarray",
    }.get(data_type, "string")
    return {
        "api_name": api_name,
        "field_label": api_name.replace("_", " "),
        "display_label": api_name.replace("_", " "),
        "data_type": data_type,
        "json_type": json_type,
        "id": str(abs(hash(api_name)) % 10**18),
        "system_mandatory": api_name in ("Last_Name", "Deal_Name", "Account_Name"),
        "read_only": api_name in ("Created_Time", "Modified_Time"),
        "custom_field": False,
        "visible": True,
        "length": 255,
    }


def _synthetic(module: str, index: int, record_id: str, at: float) -> dict[str, Any]:
    base: dict[str, Any] = {"Created_Time": at, "Modified_Time": at, "Owner": "4876000000000000001"}
    if module in ("Leads", "Contacts"):
        base.update(
            {
                "Last_Name": f"Doe {index}",
                "First_Name": "Jane",
                "Email": f"jane.doe.{index}@example.com",
                "Phone": f"+1 555 {index % 10000:04d}",
                "Email_Opt_Out": index % 7 == 0,
                "Company": f"Company {index % 500}",
                "Annual_Revenue": 1000.5 * (index % 97),
                "No_of_Employees": index % 250,
                "Lead_Status": "Contacted",
                "Interests": ["CRM", "Analytics"] if index % 2 else [],
            }
        )
    elif module == "Accounts":
        base.update(
            {
                "Account_Name": f"Account {index}",
                "Industry": "Retail",
                "Employees": index % 900,
                "Website": f"https://a{index}.example.com",
                "Annual_Revenue": 25000.0,
            }
        )
    elif module == "Deals":
        base.update(
            {
                "Deal_Name": f"Deal {index}",
                "Stage": "Qualification",
                "Amount": 1200.0 + index,
                "Probability": 10,
                "Closing_Date": "2027-01-31",
            }
        )
    else:
        base.update({"Subject": f"Item {index}", "Campaign_Name": f"Item {index}"})
    return base


def _render(value: Any, data_type: str, offset: str) -> str:
    if value is None or value == "" or value == []:
        return ""
    if data_type == "datetime" and isinstance(value, (int, float)):
        return zoho_datetime(value, offset)
    if data_type == "boolean":
        return "true" if value else "false"
    if data_type == "multiselectpicklist" and isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


_COMPARATORS = {"equal", "not_equal", "greater_than", "greater_equal", "less_than", "less_equal", "between"}


def _check_criteria(criteria: Any, fields: dict[str, dict[str, Any]]) -> Response | None:
    if criteria is None:
        return None
    if not isinstance(criteria, dict):
        return crm_error("INVALID_CRITERIA", "criteria is not valid", 400)
    if "group" in criteria:
        if criteria.get("group_operator") not in ("and", "or") or not isinstance(criteria["group"], list):
            return crm_error("GROUP_OPERATOR_NOT_SUPPORTED", "the group operator is not supported", 400)
        if len(criteria["group"]) > 25:
            return crm_error("CRITERIA_LIMIT_EXCEEDED", "at most 25 criteria", 400)
        for leaf in criteria["group"]:
            problem = _check_criteria(leaf, fields)
            if problem is not None:
                return problem
        return None
    spec = _obj(criteria.get("field"))
    name = spec.get("api_name") or criteria.get("api_name")
    comparator = criteria.get("comparator")
    if name not in fields:
        return crm_error(
            "FIELD_IN_CRITERIA_NOT_AVAILABLE", "the field in the criteria is not available", 400, {"api_name": name}
        )
    if fields[name]["data_type"] not in ("datetime", "date") or comparator not in _COMPARATORS:
        return crm_error(
            "FIELD_COMPARATOR_IN_CRITERIA_NOT_SUPPORTED",
            "the comparator is not supported",
            400,
            {"api_name": name, "comparator": comparator},
        )
    values = criteria.get("value") if comparator == "between" else [criteria.get("value")]
    if not isinstance(values, list) or not all(parse_zoho_datetime(v) is not None for v in values):
        # Zoho takes seconds and an explicit offset; milliseconds are not supported.
        return crm_error(
            "COMPARATOR_AND_VALUE_IN_CRITERIA_NOT_COMPATIBLE", "the value is not a datetime", 400, {"api_name": name}
        )
    return None


def _matches(criteria: Any, record: dict[str, Any]) -> bool:
    if criteria is None:
        return True
    if "group" in criteria:
        results = [_matches(leaf, record) for leaf in criteria["group"]]
        return all(results) if criteria.get("group_operator") == "and" else any(results)
    spec = _obj(criteria.get("field"))
    name = spec.get("api_name") or criteria.get("api_name")
    value = record.get(name)
    if not isinstance(value, (int, float)):
        return False
    comparator = criteria["comparator"]
    if comparator == "between":
        low, high = (parse_zoho_datetime(v) or 0 for v in criteria["value"])
        return low <= value <= high
    bound = parse_zoho_datetime(criteria["value"]) or 0
    return {
        "equal": value == bound,
        "not_equal": value != bound,
        "greater_than": value > bound,
        "greater_equal": value >= bound,
        "less_than": value < bound,
        "less_equal": value <= bound,
    }[comparator]


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}
