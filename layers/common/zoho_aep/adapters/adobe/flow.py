"""Adobe Experience Platform Flow Service API: base connections (create, find, read, patch, delete, explore).

Every call carries ``Authorization``, ``x-api-key``, ``x-gw-ims-org-id`` and ``x-sandbox-name``. The
sandbox is bound when the client is made and is required: without the header Adobe silently uses
``prod``, which would put a connection in the wrong sandbox. Passing failures (429, 500, 502, 503,
504, timeouts) are retried by the HTTP client with capped, jittered backoff that honours
``Retry-After``; a gateway ``401013`` re-mints the IMS token once and retries once. Both of Adobe's
error shapes, the gateway's ``{"error_code", "message"}`` and Flow Service's
``{"type": ".../FLOW-1404-412", "report": {"request-id"}}``, become typed errors carrying Adobe's
code and request id.

Classification is by the whole code, never its number alone: Adobe's two error catalogues reuse
numbers with other meanings (``1101-404`` "not found" in the Flow Service catalogue, ``1101-500``
"internal error" in the sources catalogue; ``1102`` the other way round), so a code counts only
with its HTTP part, and only when that part is the answer's status. Anything else is typed by the
status alone.

Where Adobe's OpenAPI spec and its tutorials disagree, the client sends what the tutorials show
(they are what Adobe's own examples and users run); :data:`SPEC_VS_TUTORIALS` lists each case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from ...domain.credentials import AdobeCredentials
from ...domain.errors import (
    AdobeApiKeyInvalid,
    AdobeConnectionInUse,
    AdobeError,
    AdobeEtagMismatch,
    AdobeNotFound,
    AdobeOrgNotEntitled,
    AdobePatchRefused,
    AdobePermissionMissing,
    AdobeRequestRefused,
    AdobeResponseInvalid,
    AdobeSandboxNotFound,
    AdobeSpecInvalid,
    AdobeThrottled,
    AdobeTokenRejected,
    AdobeUnavailable,
    UpstreamUnavailable,
)
from ...domain.names import check_sandbox_name
from ..http import HttpClient, HttpResponse, RetryPolicy
from .ims import ImsTokenProvider

FLOW_PATH = "/data/foundation/flowservice"
ZOHO_CRM_SPEC_ID = "929e4450-0237-4ed2-9404-b7e1e0a00309"
TOKEN_INVALID = "401013"  # noqa: S105  # nosec B105  # a gateway error code, not a secret
MAX_LIST_PAGES = 50
# Ids per ``property=...==a,b`` filter (values in one filter are ORed): keeps every URL short.
IDS_PER_FILTER = 20

# Where the spec (flow-service.yaml) and the tutorials disagree, and what this client sends.
PATCH_OP = "replace"  # the JSON-Patch op of a connection update
EXPLORE_ROOT = "root"  # explore's objectType for the top level
SPEC_VS_TUTORIALS: dict[str, tuple[str, str, str]] = {
    # what: (the spec says, the tutorials show, the client sends)
    "PATCH body op": ("PatchInstruction.op enum ADD|REPLACE|REMOVE", 'lower case: "op": "replace"', PATCH_OP),
    "explore objectType": ("enum ROOT|TABLE|FILE|FOLDER|REST", "objectType=root", EXPLORE_ROOT),
    "trailing slash": (
        "DELETE is declared on /connections/{id}/ (with a slash), GET and PATCH on /connections/{id}",
        "DELETE /connections/{id}",
        "/connections/{id}",
    ),
}

# Codes Adobe documents. Gateway codes are six digits whose first three are the HTTP status;
# Flow codes are "NNNN-HTTP", keyed here by the whole code.
_GATEWAY_ERRORS: dict[str, type[AdobeError]] = {
    TOKEN_INVALID: AdobeTokenRejected,
    "403010": AdobeTokenRejected,
    "403000": AdobeApiKeyInvalid,
    "403003": AdobeApiKeyInvalid,
    "403025": AdobeOrgNotEntitled,
    "403027": AdobeOrgNotEntitled,
}
_FLOW_ERRORS: dict[str, type[AdobeError]] = {
    # flow-service-errors.md
    "1101-404": AdobeNotFound,
    "1102-500": AdobeUnavailable,
    "1103-503": AdobeUnavailable,
    "1104-504": AdobeUnavailable,
    "1404-412": AdobeEtagMismatch,
    "1413-400": AdobeSpecInvalid,
    "1418-400": AdobeConnectionInUse,
    "2100-404": AdobeSandboxNotFound,
    "2101-404": AdobeSandboxNotFound,
    "2118-403": AdobePermissionMissing,
    "2120-403": AdobePermissionMissing,
    "2121-403": AdobePermissionMissing,
    # sources-errors.md: the same numbers, other meanings
    "1101-500": AdobeUnavailable,
    "1102-404": AdobeNotFound,
    "1402-500": AdobeUnavailable,
    "1400-500": AdobeUnavailable,
}
# Only meaningful as an answer to PATCH: "this connector cannot be updated in place".
_PATCH_REFUSED = frozenset({"1300-400", "1445-400"})

_SAFE_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")  # matched whole (fullmatch), like every pattern here
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True)
class BaseConnection:
    """A base connection as Flow Service reads return it (``auth.params`` is partial there)."""

    id: str
    name: str
    etag: str
    state: str | None = None
    spec_id: str | None = None
    created_at: int | None = None

    @classmethod
    def from_record(cls, record: Any) -> BaseConnection:
        """Parse one item of a read; raises AdobeResponseInvalid when id or etag is missing."""
        if not isinstance(record, dict):
            raise AdobeResponseInvalid("Flow Service returned a connection that is not an object.")
        conn_id, etag = record.get("id"), record.get("etag")
        if not isinstance(conn_id, str) or not conn_id or not isinstance(etag, str) or not etag:
            raise AdobeResponseInvalid("Flow Service returned a connection without id or etag.")
        spec = record.get("connectionSpec")
        spec_id = spec.get("id") if isinstance(spec, dict) else None
        created = record.get("createdAt")
        return cls(
            id=conn_id,
            name=str(record.get("name") or ""),
            etag=etag,
            state=record.get("state") if isinstance(record.get("state"), str) else None,
            spec_id=spec_id if isinstance(spec_id, str) else None,
            created_at=created if isinstance(created, int) and not isinstance(created, bool) else None,
        )


@dataclass(frozen=True)
class ConnectionRef:
    """What create and patch answer: the id and the new etag (literal quotes included)."""

    id: str
    etag: str


def _segment(value: str) -> str:
    """An id as one URL path segment: ids come from tags and answers, never trusted to be plain."""
    return quote(value, safe="")


def _safe(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def adobe_error(response: HttpResponse, method: str, what: str) -> AdobeError:
    """The typed error an Adobe error answer stands for (either shape, or neither)."""
    body = response.json_or_none()
    adobe_code: str | None = None
    request_id = _safe(response.header("x-request-id"), _SAFE_REQUEST_ID)
    kind: type[AdobeError] | None = None
    if isinstance(body, dict):
        if "error_code" in body:  # the API gateway's shape
            adobe_code = _safe(str(body["error_code"]), _SAFE_CODE)
            if adobe_code and adobe_code[:3] == str(response.status):
                kind = _GATEWAY_ERRORS.get(adobe_code)
        else:  # Flow Service's shape: the code is the tail of "type" (".../FLOW-1404-412")
            type_uri = body.get("type")
            if isinstance(type_uri, str) and "FLOW-" in type_uri:
                adobe_code = _safe(type_uri.rsplit("FLOW-", 1)[1], _SAFE_CODE)
            adobe_code = adobe_code or _safe(body.get("errorCode"), _SAFE_CODE)
            report = body.get("report")
            if isinstance(report, dict):
                request_id = _safe(report.get("request-id"), _SAFE_REQUEST_ID) or request_id
            # A code counts only with the HTTP part that is the answer's status (see the module doc).
            known = adobe_code if adobe_code and adobe_code.rsplit("-", 1)[-1] == str(response.status) else ""
            patch_refused = method == "PATCH" and known in _PATCH_REFUSED
            kind = AdobePatchRefused if patch_refused else _FLOW_ERRORS.get(known)
    if kind is None:
        if response.status == 429:
            kind = AdobeThrottled
        elif response.status >= 500:
            kind = AdobeUnavailable
        elif response.status == 404:
            kind = AdobeNotFound
        else:
            kind = AdobeRequestRefused
    label = adobe_code or f"HTTP {response.status}"
    # Adobe's 1418 text names only the base connection, never the dataflows: disconnect looks them
    # up itself (FlowServiceClient.flows_using).
    return kind(
        f"Adobe refused {what} ({label}).", adobe_code=adobe_code, request_id=request_id, status=response.status
    )


class FlowServiceClient:
    """Flow Service calls in one AEP sandbox, authenticated with the ``{prefix}/adobe`` credential."""

    def __init__(
        self,
        http: HttpClient,
        platform_url: str,
        ims: ImsTokenProvider,
        credentials: Callable[[], AdobeCredentials],
        sandbox: str,
    ) -> None:
        self.http = http
        self.origin = platform_url.rstrip("/")
        self.base_url = f"{self.origin}{FLOW_PATH}"
        self.ims = ims
        self._credentials = credentials
        self.sandbox = check_sandbox_name(sandbox)

    # ---- the API ----------------------------------------------------------------------------
    def get_connection_spec(self, spec_id: str) -> dict[str, Any]:
        """``GET /connectionSpecs/{id}``: the spec (the answer's single item)."""
        path = f"/connectionSpecs/{_segment(spec_id)}"
        body = self._call("GET", path, what="the connection spec read").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise AdobeResponseInvalid("Flow Service answered the connection spec read without the spec.")
        return items[0]

    def list_connections(self, properties: Sequence[str] = ()) -> list[BaseConnection]:
        """``GET /connections`` filtered by ``property`` expressions (ANDed), following every page."""
        items = self._list("/connections", properties, "the connection list")
        return [BaseConnection.from_record(item) for item in items]

    def list_source_connections(self, properties: Sequence[str] = ()) -> list[dict[str, Any]]:
        """``GET /sourceConnections`` filtered by ``property`` expressions, every page."""
        return self._list("/sourceConnections", properties, "the source connection list")

    def list_flows(self, properties: Sequence[str] = ()) -> list[dict[str, Any]]:
        """``GET /flows`` filtered by ``property`` expressions, every page."""
        return self._list("/flows", properties, "the dataflow list")

    def flows_using(self, base_connection_id: str) -> list[str]:
        """The ids of the dataflows that use ``base_connection_id`` (what blocks its delete, ``1418``).

        Adobe's ``1418`` message names only the base connection, so they are looked up, in the two
        steps Adobe documents (sort-and-filter.md): the source connections on the base connection
        (``baseConnectionId`` is filterable there), then the flows that read any of them. The flow
        filter needs the array form ``sourceConnectionIds[]==a,b``; a flow has no
        ``baseConnectionId`` of its own to filter on, and the one-call filter on
        ``inheritedAttributes.sourceConnections[].baseConnection.id`` is not documented.
        """
        sources = self.list_source_connections([f"baseConnectionId=={base_connection_id}"])
        source_ids = sorted({str(s["id"]) for s in sources if isinstance(s.get("id"), str) and s["id"]})
        flows: set[str] = set()
        for start in range(0, len(source_ids), IDS_PER_FILTER):
            chunk = ",".join(source_ids[start : start + IDS_PER_FILTER])
            for flow in self.list_flows([f"sourceConnectionIds[]=={chunk}"]):
                if isinstance(flow.get("id"), str) and flow["id"]:
                    flows.add(flow["id"])
        return sorted(flows)

    def check_sandbox(self) -> None:
        """One cheap read in this sandbox: raises :class:`AdobeSandboxNotFound` when Adobe does not know it."""
        self._call("GET", "/connections", params=[("limit", "1")], what="the sandbox check")

    def find_connections(self, spec_id: str, name: str) -> list[BaseConnection]:
        """The base connections of ``spec_id`` called ``name`` in this sandbox, oldest first."""
        listed = self.list_connections([f"connectionSpec.id=={spec_id}"])
        matches = [c for c in listed if c.name == name and c.spec_id in (None, spec_id)]
        return sorted(matches, key=lambda c: (c.created_at is None, c.created_at or 0))

    def get_connection(self, connection_id: str) -> BaseConnection:
        """``GET /connections/{id}``; the answer is wrapped in ``items`` even for one id."""
        path = f"/connections/{_segment(connection_id)}"
        body = self._call("GET", path, what="the connection read").json_or_none()
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise AdobeResponseInvalid("Flow Service answered the connection read without items.")
        if not items:
            raise AdobeNotFound("Flow Service has no such connection.")
        return BaseConnection.from_record(items[0])

    def create_connection(self, body: Mapping[str, Any]) -> ConnectionRef:
        """``POST /connections``. Sent once, never retried here: Flow Service has no idempotency key,
        so a retry after a lost answer could create a duplicate. Callers look the name up instead."""
        policy = self.http.policy.with_(attempts=1)
        answer = self._call("POST", "/connections", json_body=dict(body), policy=policy, what="the connection create")
        return self._ref(answer, "create")

    def patch_connection(self, connection_id: str, etag: str, operations: Sequence[Mapping[str, Any]]) -> ConnectionRef:
        """``PATCH /connections/{id}`` with a JSON-Patch list and ``If-Match`` exactly as Adobe gave it."""
        answer = self._call(
            "PATCH",
            f"/connections/{_segment(connection_id)}",
            json_body=[dict(op) for op in operations],
            headers={"If-Match": etag},
            what="the connection update",
        )
        return self._ref(answer, "update")

    def delete_connection(self, connection_id: str) -> None:
        """``DELETE /connections/{id}``."""
        self._call("DELETE", f"/connections/{_segment(connection_id)}", what="the connection delete")

    def explore_root(self, connection_id: str) -> list[dict[str, Any]]:
        """``GET /connections/{id}/explore?objectType=root``: the tables (for Zoho, its modules)."""
        body = self._call(
            "GET",
            f"/connections/{_segment(connection_id)}/explore",
            params=[("objectType", EXPLORE_ROOT)],
            what="the connection explore",
        ).json_or_none()
        if not isinstance(body, list):
            raise AdobeResponseInvalid("Flow Service answered explore with something other than a list.")
        return [item for item in body if isinstance(item, dict)]

    # ---- plumbing ---------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: list[tuple[str, str]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
    ) -> HttpResponse:
        creds = self._credentials()
        url = self.base_url + path
        for attempt in (1, 2):
            token = self.ims.token()
            sent = {
                "Authorization": f"Bearer {token}",
                "x-api-key": creds.client_id,
                "x-gw-ims-org-id": creds.org_id,
                "x-sandbox-name": self.sandbox,
                "Accept": "application/json",
                **(headers or {}),
            }
            try:
                response = self.http.request(
                    method, url, headers=sent, params=params, json_body=json_body, policy=policy
                )
            except UpstreamUnavailable as exc:
                if exc.status == 429:
                    raise AdobeThrottled(f"Adobe kept throttling {what}.", status=429) from exc
                raise AdobeUnavailable(f"Adobe did not answer {what}.", status=exc.status) from exc
            if response.status < 300:
                return response
            error = adobe_error(response, method, what)
            if error.adobe_code == TOKEN_INVALID and attempt == 1:
                # The gateway no longer accepts this token (revoked, or IMS rotated keys): drop it,
                # mint exactly one new one and try once more.
                self.ims.invalidate(token)
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _list(self, path: str, properties: Sequence[str], what: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following ``_links.next`` (the filters ride in the link)."""
        params: list[tuple[str, str]] | None = [("property", p) for p in properties]
        page: tuple[str, list[tuple[str, str]] | None] | None = (path, params)
        found: list[dict[str, Any]] = []
        pages = 0
        while page is not None:
            if pages == MAX_LIST_PAGES:
                raise AdobeResponseInvalid(f"Flow Service's list ran past {MAX_LIST_PAGES} pages ({what}).")
            pages += 1
            body = self._call("GET", page[0], params=page[1], what=what).json_or_none()
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise AdobeResponseInvalid(f"Flow Service answered {what} without items.")
            if not all(isinstance(item, dict) for item in items):
                raise AdobeResponseInvalid(f"Flow Service answered {what} with an item that is not an object.")
            found.extend(items)
            page = self._next_page(body, path)
        return found

    def _next_page(self, body: Mapping[str, Any], listed: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The next page of the list at ``listed``: its path below the Flow Service base and its query.

        Adobe documents three forms of ``_links.next.href``: relative to the service, as the spec
        shows (``/connections?continuationToken=...``), the full path
        (``/data/foundation/flowservice/connections?...``), and an absolute URL on the Platform
        host. Each must name the same list; any other host, or another path, is refused.
        """
        links = body.get("_links")
        nxt = links.get("next") if isinstance(links, dict) else None
        href = nxt.get("href") if isinstance(nxt, dict) else None
        if not isinstance(href, str) or not href:
            return None
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            if f"{parts.scheme}://{parts.netloc}".lower() != self.origin.lower():
                raise AdobeResponseInvalid("Flow Service's next page points to another host.")
            if not parts.path.startswith(FLOW_PATH + "/"):
                raise AdobeResponseInvalid("Flow Service's next page points outside the Flow Service API.")
        path = parts.path[len(FLOW_PATH) :] if parts.path.startswith(FLOW_PATH + "/") else parts.path
        if path.rstrip("/") != listed or parts.fragment:
            raise AdobeResponseInvalid("Flow Service's next page points outside the list being read.")
        return listed, parse_qsl(parts.query, keep_blank_values=True)

    def _ref(self, response: HttpResponse, what: str) -> ConnectionRef:
        body = response.json_or_none()
        conn_id = body.get("id") if isinstance(body, dict) else None
        etag = body.get("etag") if isinstance(body, dict) else None
        if not isinstance(conn_id, str) or not conn_id or not isinstance(etag, str) or not etag:
            raise AdobeResponseInvalid(f"Flow Service answered the connection {what} without id or etag.")
        return ConnectionRef(conn_id, etag)
