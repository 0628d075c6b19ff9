"""AWS faults: answer chosen API calls of a boto3 client with throttling, errors or timeouts.

Each fault is answered in the protocol the service's client parses: JSON (``__type``) for Secrets
Manager, EventBridge and SQS, REST-XML (``<Error><Code>``, with S3's own statuses) for S3, the query
protocol's XML (``<ErrorResponse><Error><Code>``) for IAM. Calls are aimed at by operation and,
optionally, by their target: a secret id, an S3 key (a list's prefix), an IAM user or access key id.

The fault is played from botocore's ``before-send`` hook, the point where the request would go on the
wire (moto in-process answers from the same hook, later; a faulted request is kept from it, so a
throttled call has no effect, as in AWS). So everything above it runs as in production: the
product's client configuration, botocore's standard-mode retries and its error parsing. Backoff
sleeps are recorded, not slept (``no_backoff``), to keep the suites fast.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse
from moto.core.models import botocore_stubber

# kind -> (HTTP status, error code) as AWS's JSON protocols answer them. Two kinds raise instead:
# "timeout" (the request never got through) and "lost" (AWS did it, but the answer never came back).
KINDS = {
    "throttle": (400, "ThrottlingException"),
    "error": (500, "InternalServiceError"),
    "denied": (400, "AccessDeniedException"),
}
# SQS speaks JSON too (awsJson1_0, this botocore), with its own codes.
SQS_KINDS = {
    "throttle": (400, "ThrottlingException"),
    "error": (500, "InternalError"),
    "denied": (400, "AccessDeniedException"),
}
# S3 answers in XML, with its own statuses (a HEAD's answer has no body: botocore reads the status).
S3_KINDS = {
    "throttle": (503, "SlowDown"),
    "error": (500, "InternalError"),
    "denied": (403, "AccessDenied"),
}
# IAM speaks the query protocol: form-encoded requests, XML errors, its own codes.
IAM_KINDS = {
    "throttle": (400, "Throttling"),
    "error": (500, "ServiceFailure"),
    "denied": (403, "AccessDenied"),
}


@dataclass
class AwsFault:
    """Fail ``operation`` (optionally only for targets containing ``secret``: a secret id, an S3 key).

    ``skip`` matching calls pass first; then ``times`` calls fail (None: every one after).
    """

    operation: str
    kind: str = "throttle"
    secret: str | None = None
    skip: int = 0
    times: int | None = None
    failed_entries: bool = False  # PutEvents, SendMessageBatch: answer 200 with one entry failed


class AwsFaults:
    """Plays :class:`AwsFault` s on one client and counts every attempt of every operation."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.service = client.meta.service_model.service_id.hyphenize()
        self.calls: Counter[str] = Counter()  # attempts as sent (botocore retries included)
        self.sent: list[tuple[str, str]] = []  # (operation, target) of each attempt
        self.carried: list[tuple[str, str]] = []  # (operation, target) of each attempt moto got
        self.injected = 0  # attempts answered with a fault
        self._faults: list[AwsFault] = []
        self._seen: Counter[int] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register(f"before-send.{self.service}", self._before_send)

    def close(self) -> None:
        self.client.meta.events.unregister(f"before-send.{self.service}", self._before_send)

    def add(self, fault: AwsFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        secret = {"s3": _s3_target, "iam": _query_target}.get(self.service, _json_target)(request)
        with self._lock:
            self.calls[operation] += 1
            self.sent.append((operation, secret))
            fault = self._due(operation, secret)
            if fault is None or fault.kind == "lost":
                self.carried.append((operation, secret))
            if fault is None:
                return None
            self.injected += 1
        if fault.kind == "lost":
            botocore_stubber(event_name, request)  # moto carries the request out...
            raise ReadTimeoutError(endpoint_url=request.url)  # ...and the answer is lost
        url, request.url = request.url, "https://fault.invalid/"  # nothing further handles it
        if fault.kind == "timeout":
            raise ReadTimeoutError(endpoint_url=url)
        if fault.failed_entries and self.service == "sqs":
            failed = {"Id": "0", "SenderFault": False, "Code": "InternalError", "Message": "injected"}
            return _response(url, 200, {"Successful": [], "Failed": [failed]}, _json_type("sqs"))
        if fault.failed_entries:
            body = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}]}
            return _response(url, 200, body)
        if self.service == "s3":
            status, code = S3_KINDS[fault.kind]
            return _xml_response(url, status, code, head=request.method == "HEAD")
        if self.service == "iam":
            status, code = IAM_KINDS[fault.kind]
            return _query_error(url, status, code)
        status, code = (SQS_KINDS if self.service == "sqs" else KINDS)[fault.kind]
        return _response(url, status, {"__type": code, "message": f"injected {code}"}, _json_type(self.service))

    def calls_for(self, fault: AwsFault) -> int:
        """Attempts of the calls ``fault`` is aimed at (faulted or not)."""
        with self._lock:
            return sum(1 for op, secret in self.sent if _aimed(fault, op, secret))

    def _due(self, operation: str, secret: str) -> AwsFault | None:
        due: AwsFault | None = None
        for index, fault in enumerate(self._faults):
            if not _aimed(fault, operation, secret):
                continue
            self._seen[index] += 1  # every fault counts every call it is aimed at
            seen = self._seen[index]
            if due is None and seen > fault.skip and (fault.times is None or seen <= fault.skip + fault.times):
                due = fault
        return due


def _aimed(fault: AwsFault, operation: str, secret: str) -> bool:
    return fault.operation == operation and (fault.secret is None or fault.secret in secret)


def _json_target(request: Any) -> str:
    """The secret id(s) a JSON request names ("" for anything else)."""
    try:
        params = json.loads(request.body or b"{}")
    except (ValueError, TypeError):
        return ""
    if not isinstance(params, dict):
        return ""
    ids = params.get("SecretIdList")
    return str(params.get("SecretId") or params.get("Name") or (" ".join(ids) if isinstance(ids, list) else ""))


def _query_target(request: Any) -> str:
    """The user name and access key id a query-protocol (IAM) request names ("" for neither)."""
    body = request.body or b""
    params = parse_qs(body.decode() if isinstance(body, bytes) else str(body))
    return " ".join(params.get(k, [""])[0] for k in ("UserName", "AccessKeyId") if params.get(k))


def _s3_target(request: Any) -> str:
    """The object key an S3 request names (path or virtual-hosted style), or a list's prefix."""
    parts = urlsplit(request.url)
    path = unquote(parts.path.lstrip("/"))
    if parts.netloc.split(".", 1)[0] in ("s3", "localhost") or parts.netloc.startswith("s3-"):
        path = path.split("/", 1)[1] if "/" in path else ""  # path style: the bucket first
    if not path:
        return parse_qs(parts.query).get("prefix", [""])[0]
    return path


def _json_type(service: str) -> str:
    return "application/x-amz-json-1.0" if service == "sqs" else "application/x-amz-json-1.1"


def _response(url: str, status: int, body: dict[str, Any], content_type: str = _json_type("")) -> AWSResponse:
    raw = MockRawResponse(json.dumps(body).encode())
    headers = HTTPHeaders()
    headers["Content-Type"] = content_type
    return AWSResponse(url, status, headers, raw)


def _xml_response(url: str, status: int, code: str, *, head: bool = False) -> AWSResponse:
    """S3's error answer: ``<Error><Code>..</Code><Message>..</Message></Error>`` (none to a HEAD)."""
    body = (
        b""
        if head
        else (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>injected {code}</Message>"
            "<RequestId>INJECTED</RequestId></Error>"
        ).encode()
    )
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/xml"
    headers["x-amz-request-id"] = "INJECTED"
    return AWSResponse(url, status, headers, MockRawResponse(body))


def _query_error(url: str, status: int, code: str) -> AWSResponse:
    """The query protocol's error answer (IAM): ``<ErrorResponse><Error><Code>..</Code>..``."""
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>injected {code}</Message></Error>"
        "<RequestId>INJECTED</RequestId></ErrorResponse>"
    ).encode()
    headers = HTTPHeaders()
    headers["Content-Type"] = "text/xml"
    return AWSResponse(url, status, headers, MockRawResponse(body))


@contextmanager
def no_backoff() -> Iterator[list[float]]:
    """botocore's retry backoff, recorded instead of slept (yields the delays it asked for)."""
    from botocore.retries import standard

    original = standard.ExponentialBackoff.delay_amount
    delays: list[float] = []

    def delay_amount(self: Any, context: Any) -> float:
        delays.append(original(self, context))
        return 0.0

    standard.ExponentialBackoff.delay_amount = delay_amount  # type: ignore[method-assign]
    try:
        yield delays
    finally:
        standard.ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]
