"""Zoho CRM's record export APIs: field metadata, Bulk Read jobs and their results, deleted records.

Zoho's quirks handled here, once:
- errors come bare (``{"code", "details", "message", "status": "error"}``) or wrapped in ``data[]``;
- a missing scope is HTTP 401 ``OAUTH_SCOPE_MISMATCH``: not a token problem (a refresh adds no scope);
- a job's ``result`` exists only once it is ``COMPLETED`` (or ``FAILURE``), ``next_page_token`` only
  when ``more_records``; the state is ``FAILURE`` (not "FAILED");
- a result download is a zip holding ``{job_id}.csv``; 10 downloads a minute per org, then 429;
  results expire after about a day (``RESOURCE_NOT_FOUND``, as 404 or 400);
- past 200,000 records the next page is a new job created with the previous one's ``page_token`` alone;
- ``/deleted`` answers 204 when there is nothing, 200 records per page at most, no page token;
- datetimes in criteria take seconds and an explicit offset, never milliseconds.
Tokens travel only in the ``Authorization`` header, only to the connection's own API host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

from ...domain.errors import (
    UpstreamUnavailable,
    ZohoBulkResultExpired,
    ZohoDownloadThrottled,
    ZohoModuleUnsupported,
    ZohoRequestRefused,
    ZohoResponseInvalid,
    ZohoScopeMissing,
    ZohoThrottled,
    ZohoTokenInvalid,
    ZohoUnavailable,
)
from ...domain.export import ZohoField, zoho_time
from ..http import HttpClient, HttpResponse

BULK_PATH = "/crm/bulk/v8/read"
MAX_RESULT_BYTES = 2 * 1024**3  # a 200,000-record page zipped is far smaller; a bigger answer is not Zoho's
DELETED_PER_PAGE = 200  # Zoho's maximum

# Job states (Zoho's spelling); ADDED and QUEUED wait, IN PROGRESS runs.
JOB_COMPLETED = "COMPLETED"
JOB_FAILURE = "FAILURE"
JOB_WAITING = frozenset({"ADDED", "QUEUED", "IN PROGRESS"})

_SCOPE = frozenset({"OAUTH_SCOPE_MISMATCH"})
_TOKEN = frozenset({"INVALID_TOKEN", "INVALID_OAUTHTOKEN", "AUTHENTICATION_FAILURE"})
_MODULE = frozenset({"INVALID_MODULE", "MODULE_NOT_AVAILABLE", "MODULE_NOT_SUPPORTED", "NO_PERMISSION"})
_FIELD = frozenset({"FIELD_NOT_SUPPORTED", "FIELD_NOT_AVAILABLE"})
_THROTTLED = frozenset({"TOO_MANY_REQUESTS", "LIMIT_REACHED"})


class ZohoFieldUnsupported(ZohoRequestRefused):
    """Bulk Read refused a field (``FIELD_NOT_SUPPORTED``): the export drops it and asks again."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class BulkJob:
    """A Bulk Read job as its status read says it."""

    id: str
    state: str
    count: int = 0
    more_records: bool = False
    next_page_token: str | None = None
    download_url: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class DeletedRecord:
    id: str
    deleted_time: str  # ISO 8601 with Zoho's offset


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _error_body(body: Any) -> Mapping[str, Any]:
    """Zoho's error object, bare or the first of ``data[]``."""
    if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
        first = body["data"][0]
        return first if isinstance(first, dict) else {}
    return body if isinstance(body, dict) else {}


def _error(response: HttpResponse, what: str) -> Exception:
    """The typed error a CRM error answer stands for."""
    body = _error_body(response.json_or_none())
    code = body.get("code") if isinstance(body.get("code"), str) else ""
    details = _obj(body.get("details"))
    if code in _SCOPE:
        return ZohoScopeMissing(f"The connection's Zoho consent does not cover {what}; a new consent is needed.")
    if code in _TOKEN:
        return ZohoTokenInvalid(f"Zoho CRM refused the access token for {what}.")
    if code in _MODULE:
        return ZohoModuleUnsupported(f"Zoho CRM will not export this module ({code}).")
    if code in _FIELD:
        name = details.get("api_name")
        return ZohoFieldUnsupported(f"Bulk Read refused a field ({code}).", name if isinstance(name, str) else None)
    if code in _THROTTLED or response.status == 429:
        return ZohoThrottled(f"Zoho CRM is throttling {what}.")
    if response.status >= 500:
        return ZohoUnavailable(f"Zoho CRM answered {what} with HTTP {response.status}.")
    label = code[:40] if code and code.replace("_", "").isalnum() else f"HTTP {response.status}"
    return ZohoRequestRefused(f"Zoho CRM refused {what} ({label}).")


class ZohoCrmClient:
    """The CRM calls of the export, at one connection's API host."""

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def _call(
        self,
        method: str,
        url: str,
        token: str,
        what: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        sent = {"Authorization": f"Zoho-oauthtoken {token}", **(headers or {})}
        try:
            return self.http.request(method, url, headers=sent, params=params, json_body=json_body)
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable(f"Zoho CRM did not answer {what}.") from exc

    # ---- field metadata ---------------------------------------------------------------------
    def fields(self, api_domain: str, token: str, module: str) -> list[ZohoField]:
        """``GET /crm/v8/settings/fields?module=``: the module's fields (empty: 204)."""
        response = self._call(
            "GET", f"{api_domain}/crm/v8/settings/fields", token, "the field list", params=[("module", module)]
        )
        if response.status == 204:
            return []
        body = response.json_or_none()
        if response.status != 200:
            raise _error(response, "the field list")
        items = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ZohoResponseInvalid("Zoho CRM answered the field list without fields.")
        fields: list[ZohoField] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("api_name"), str):
                continue
            formula = _obj(item.get("formula"))
            rollup = _obj(item.get("rollup_summary"))
            returns = formula.get("return_type") or rollup.get("return_type")
            fields.append(
                ZohoField(
                    api_name=item["api_name"],
                    data_type=str(item.get("data_type") or ""),
                    label=str(item.get("field_label") or ""),
                    return_type=returns if isinstance(returns, str) else None,
                )
            )
        return fields

    # ---- Bulk Read --------------------------------------------------------------------------
    def create_bulk_read(
        self,
        api_domain: str,
        token: str,
        *,
        module: str,
        fields: list[str],
        window_start: int | None,
        window_end: int,
        page_token: str | None = None,
        callback_url: str | None = None,
    ) -> str:
        """``POST /crm/bulk/v8/read``: a job for the records modified in [start, end); returns its id.

        The first page names the module, fields and criteria; later pages only the previous
        answer's page token, as Zoho documents.
        """
        body: dict[str, Any]
        if page_token:
            body = {"query": {"page_token": page_token}}
        else:
            group: list[dict[str, Any]] = [
                {"field": {"api_name": "Modified_Time"}, "comparator": "less_than", "value": zoho_time(window_end)}
            ]
            if window_start is not None:
                group.insert(
                    0,
                    {
                        "field": {"api_name": "Modified_Time"},
                        "comparator": "greater_equal",
                        "value": zoho_time(window_start),
                    },
                )
            criteria: dict[str, Any] = group[0] if len(group) == 1 else {"group_operator": "and", "group": group}
            body = {"query": {"module": {"api_name": module}, "fields": fields, "criteria": criteria, "page": 1}}
        body["file_type"] = "csv"
        if callback_url:
            body["callback"] = {"url": callback_url, "method": "post"}
        # One attempt: a create retried after a lost answer would start a second job (Zoho has no
        # idempotency key). A job whose answer was lost is never used: the next run creates another.
        try:
            response = self.http.request(
                "POST",
                f"{api_domain}{BULK_PATH}",
                headers={"Authorization": f"Zoho-oauthtoken {token}"},
                json_body=body,
                policy=self.http.policy.with_(attempts=1),
            )
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable("Zoho CRM did not answer the Bulk Read job.") from exc
        if response.status not in (200, 201):
            raise _error(response, "the Bulk Read job")
        details = _error_body(response.json_or_none()).get("details")
        job_id = details.get("id") if isinstance(details, dict) else None
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            job_id = str(job_id)
        if not isinstance(job_id, str) or not job_id.isdigit():
            raise ZohoResponseInvalid("Zoho CRM created a Bulk Read job without an id.")
        return job_id

    def bulk_read_job(self, api_domain: str, token: str, job_id: str) -> BulkJob:
        """``GET /crm/bulk/v8/read/{id}``: the job's state and, once done, its result."""
        response = self._call("GET", f"{api_domain}{BULK_PATH}/{quote(job_id, safe='')}", token, "the job status")
        if response.status == 404 or _error_body(response.json_or_none()).get("code") == "RESOURCE_NOT_FOUND":
            raise ZohoBulkResultExpired("Zoho CRM no longer knows the Bulk Read job.")
        if response.status != 200:
            raise _error(response, "the job status")
        data = _error_body(response.json_or_none())
        state = data.get("state")
        if not isinstance(state, str):
            raise ZohoResponseInvalid("Zoho CRM answered the job status without a state.")
        result = _obj(data.get("result"))
        error = _obj(result.get("error_message"))
        count = result.get("count")
        token_next = result.get("next_page_token")
        url = result.get("download_url")
        return BulkJob(
            id=job_id,
            state=state,
            count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
            more_records=result.get("more_records") is True,
            next_page_token=token_next if isinstance(token_next, str) and token_next else None,
            download_url=url if isinstance(url, str) and url.startswith("/crm/bulk/") else None,
            error_code=str(error.get("code"))[:64] if error.get("code") else None,
        )

    def download_result(self, api_domain: str, token: str, job: BulkJob, sink: IO[bytes]) -> None:
        """Stream a completed job's zip into ``sink`` (a file: it is never held in memory)."""
        # Only a path below Zoho's bulk API on the connection's own host: never a URL from the answer.
        path = job.download_url or f"{BULK_PATH}/{quote(job.id, safe='')}/result"
        try:
            response = self.http.request(
                "GET",
                f"{api_domain}{path}",
                headers={"Authorization": f"Zoho-oauthtoken {token}"},
                sink=sink,
                sink_limit=MAX_RESULT_BYTES,
            )
        except UpstreamUnavailable as exc:
            raise ZohoUnavailable("Zoho CRM did not answer the result download.") from exc
        if response.status == 429:
            raise ZohoDownloadThrottled("Zoho allows 10 Bulk Read downloads a minute per org; this one must wait.")
        code = _error_body(response.json_or_none()).get("code") if response.status >= 300 else None
        if response.status == 404 or code == "RESOURCE_NOT_FOUND":
            raise ZohoBulkResultExpired("The Bulk Read result is no longer downloadable.")
        if response.status != 200:
            raise _error(response, "the result download")

    # ---- deleted records ----------------------------------------------------------------------
    def deleted_records(
        self, api_domain: str, token: str, module: str, *, since: int, page: int
    ) -> tuple[list[DeletedRecord], bool]:
        """``GET /crm/v8/{module}/deleted`` since a time: one page of records and whether more follow."""
        response = self._call(
            "GET",
            f"{api_domain}/crm/v8/{quote(module, safe='')}/deleted",
            token,
            "the deleted records",
            params=[("type", "all"), ("page", str(page)), ("per_page", str(DELETED_PER_PAGE))],
            headers={"If-Modified-Since": zoho_time(since)},
        )
        if response.status in (204, 304):
            return [], False
        if response.status != 200:
            raise _error(response, "the deleted records")
        body = response.json_or_none()
        items = body.get("data") if isinstance(body, dict) else None
        info = _obj(_obj(body).get("info"))
        if not isinstance(items, list):
            raise ZohoResponseInvalid("Zoho CRM answered the deleted records without data.")
        records = [
            DeletedRecord(str(item["id"]), item["deleted_time"])
            for item in items
            if isinstance(item, dict) and item.get("id") is not None and isinstance(item.get("deleted_time"), str)
        ]
        return records, info.get("more_records") is True
