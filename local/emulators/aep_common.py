"""What every AEP service of the Adobe emulator shares: who is calling, and the services' error shapes.

Flow Service answers ``{"type": ".../FLOW-NNNN-HTTP", "title", "status", "report", "errorMessage",
"errorDetails"}``; the Schema Registry, Catalog and Data Prep answer ``{"type":
".../{SERVICE}-NNNN-HTTP", "title", "status", "detail", "report"}`` (the registry's troubleshooting
guide's shape; the product reads the code from the tail of ``type`` in both).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from local.emulators.base import Request, Response

__all__ = ["Context", "FlowError", "PlatformError", "visible"]

_TITLES = {
    400: "Invalid request",
    403: "Forbidden",
    404: "Resource not found",
    406: "Not acceptable",
    412: "Version not matching",
}


@dataclass
class Context:
    """Who is calling, once the gateway let the request through."""

    client_id: str
    org_id: str
    sandbox: str


class FlowError(Exception):
    """A Flow Service error answer, raised from deep inside a handler."""

    def __init__(self, code: str, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = int(code.rsplit("-", 1)[1])
        self.message = message
        self.title = title or _TITLES.get(self.status, "Invalid request")

    def response(self, request: Request) -> Response:
        """The body of the labels tutorial's example: type, title, status, report, errorMessage, errorDetails."""
        request_id = request.header("x-request-id") or str(uuid.uuid4())
        body = {
            "type": f"https://ns.adobe.com/aep/errors/FLOW-{self.code}",
            "title": self.title,
            "status": self.status,
            "report": {"detailed-message": self.message, "request-id": request_id},
            "errorMessage": self.message,
            "errorDetails": self.message,
        }
        return Response.json(body, self.status, {"x-request-id": request_id})


class PlatformError(Exception):
    """A Schema Registry, Catalog or Data Prep error: ``code`` is the whole ``XDM-1521-400``."""

    def __init__(self, code: str, detail: str, title: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.status = int(code.rsplit("-", 1)[1])
        self.detail = detail
        self.title = title or _TITLES.get(self.status, "Invalid request")

    def response(self, request: Request) -> Response:
        request_id = request.header("x-request-id") or str(uuid.uuid4())
        body = {
            "type": f"http://ns.adobe.com/aep/errors/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "report": {"registryRequestId": request_id, "timestamp": "", "detailed-message": self.detail},
        }
        return Response.json(body, self.status, {"x-request-id": request_id})


def visible(record: dict[str, Any] | None, ctx: Context) -> bool:
    """Whether ``record`` lives in the caller's org and sandbox (every object is scoped to both)."""
    return record is not None and record.get("sandboxName") == ctx.sandbox and record.get("imsOrgId") == ctx.org_id
