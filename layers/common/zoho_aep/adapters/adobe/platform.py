"""Calls to Adobe Experience Platform's APIs in one sandbox: authentication, retries, typed errors.

Every Platform API (Flow Service, Schema Registry, Catalog, Data Prep) is reached through the same
gateway with ``Authorization``, ``x-api-key``, ``x-gw-ims-org-id`` and ``x-sandbox-name``. The sandbox
is bound when a client is made and is required: without the header Adobe silently uses ``prod``.
Passing failures (429, 5xx, timeouts) are retried by the HTTP client with capped, jittered backoff
that honours ``Retry-After``; a gateway ``401013`` re-mints the IMS token once and retries once.

Adobe answers errors in three shapes: the gateway's ``{"error_code", "message"}``, Flow Service's
``{"type": ".../FLOW-1404-412", "report": {"request-id"}}`` and the Schema Registry's (and Catalog's,
Data Prep's) ``{"type": ".../XDM-1521-400", "title", "status", "detail"}``. Each becomes a typed
error carrying Adobe's code and request id. Classification is by the whole code, never its number
alone: Adobe's catalogues reuse numbers with other meanings (``1101-404`` "not found" in the Flow
Service catalogue, ``1101-500`` "internal error" in the sources catalogue), so a code counts only with
its HTTP part, and only when that part is the answer's status. Anything else is typed by the status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

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
    AdobeSandboxNotFound,
    AdobeSpecInvalid,
    AdobeThrottled,
    AdobeTitleTaken,
    AdobeTokenRejected,
    AdobeUnavailable,
    UpstreamUnavailable,
)
from ...domain.names import check_sandbox_name
from ..http import HttpClient, HttpResponse, RetryPolicy
from .ims import ImsTokenProvider

TOKEN_INVALID = "401013"  # noqa: S105  # nosec B105  # a gateway error code, not a secret

# Codes Adobe documents. Gateway codes are six digits whose first three are the HTTP status;
# Flow codes are "NNNN-HTTP", keyed here by the whole code; other services' keep their prefix.
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
    # Schema Registry (troubleshooting guide): titles are unique across every kind of a sandbox
    "XDM-1521-400": AdobeTitleTaken,
}
# Only meaningful as an answer to PATCH: "this connector cannot be updated in place".
_PATCH_REFUSED = frozenset({"1300-400", "1445-400"})

_SAFE_CODE = re.compile(r"[A-Za-z0-9_-]{1,32}")  # matched whole (fullmatch), like every pattern here
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_TYPED_CODE = re.compile(r"(?:FLOW-)?([A-Z]{2,10}-\d{3,5}-\d{3}|\d{3,5}-\d{3})")  # the tail of "type"


def segment(value: str) -> str:
    """An id as one URL path segment: ids come from state and answers, never trusted to be plain."""
    return quote(value, safe="")


def _safe(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _code_of_type(type_uri: str) -> str | None:
    """``.../FLOW-1404-412`` -> ``1404-412``; ``.../XDM-1521-400`` -> ``XDM-1521-400``."""
    match = _TYPED_CODE.fullmatch(type_uri.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def adobe_error(response: HttpResponse, method: str, what: str) -> AdobeError:
    """The typed error an Adobe error answer stands for (any of its shapes, or none)."""
    body = response.json_or_none()
    adobe_code: str | None = None
    request_id = _safe(response.header("x-request-id"), _SAFE_REQUEST_ID)
    kind: type[AdobeError] | None = None
    if isinstance(body, dict):
        if "error_code" in body:  # the API gateway's shape
            adobe_code = _safe(str(body["error_code"]), _SAFE_CODE)
            if adobe_code and adobe_code[:3] == str(response.status):
                kind = _GATEWAY_ERRORS.get(adobe_code)
        else:  # the services' shapes: the code is the tail of "type"
            type_uri = body.get("type")
            if isinstance(type_uri, str):
                adobe_code = _safe(_code_of_type(type_uri), _SAFE_CODE)
            adobe_code = adobe_code or _safe(body.get("errorCode"), _SAFE_CODE)
            report = body.get("report")
            if isinstance(report, dict):
                request_id = _safe(report.get("request-id"), _SAFE_REQUEST_ID) or request_id
                request_id = _safe(report.get("registryRequestId"), _SAFE_REQUEST_ID) or request_id
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
    return kind(
        f"Adobe refused {what} ({label}).", adobe_code=adobe_code, request_id=request_id, status=response.status
    )


class PlatformApi:
    """One Platform API (``service_path`` below the Platform host) in one sandbox."""

    service_path: ClassVar[str]
    service_name: ClassVar[str] = "Adobe"

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
        self.base_url = f"{self.origin}{self.service_path}"
        self.ims = ims
        self._credentials = credentials
        self.sandbox = check_sandbox_name(sandbox)

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

    def _once(self) -> RetryPolicy:
        """A create is sent once, never retried by the client: none of these APIs takes an idempotency
        key, so a retry after a lost answer could create a duplicate. Callers look the name up instead."""
        return self.http.policy.with_(attempts=1)
