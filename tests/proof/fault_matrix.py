"""The fault matrix: every dependency call of every function, failed in every way that call can fail.

Each function registers the calls it makes (:func:`register`, in ``test_fault_matrix.py``): an
emulator path (Zoho, Adobe) or an AWS operation (Secrets Manager, EventBridge), and the set-up that
makes the function reach it. The matrix then crosses each call with every fault kind of its
dependency:

- HTTP (the emulators): a 5xx on every attempt, a hang past the read timeout, a dropped connection,
  a slow answer, a garbage body, a huge body;
- AWS (botocore's hooks, each in its service's protocol: JSON for Secrets Manager, EventBridge and
  SQS, REST-XML for S3): throttling, a 500, access denied, a timeout, and an answer lost after AWS
  carried the call out; EventBridge's PutEvents and SQS's SendMessageBatch also a failed entry in a 200.

``make proof-full`` (``PROOF_SIZE=full``) runs every cell; ``make test`` one kind per call, rotating,
so the whole matrix stays exercised. A new function is picked up by registering its calls and adding
its runner (a test parametrized with ``cases("<function>")``), both in ``test_fault_matrix.py``;
under ``PROOF_SIZE=full`` a function in ``functions/`` without registered calls fails the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from local.emulators.base import Fault, Request
from tests.proof.sizes import SIZE
from tests.support.aws_faults import AwsFault

HTTP_KINDS = ("status", "hang", "reset", "delay", "garbage", "huge")
AWS_KINDS = ("throttle", "error", "denied", "timeout", "lost")
EVENT_KINDS = (*AWS_KINDS, "failed-entry")
HANG, SLOW = 0.6, 0.05  # past the shortened read timeout of the runners; well within it


@dataclass(frozen=True)
class HttpCall:
    service: str  # "zoho" | "adobe"
    path: str  # a prefix of the request path
    method: str | None = None
    suffix: str | None = None  # and the end of it (a path with an id inside)


@dataclass
class SuffixFault(Fault):
    """An emulator fault for requests whose path also ends in ``suffix``."""

    suffix: str = ""

    def matches(self, request: Request) -> bool:
        return super().matches(request) and request.path.endswith(self.suffix)


@dataclass(frozen=True)
class AwsCall:
    service: str  # "secretsmanager" | "events" | "s3" | "sqs"
    operation: str
    secret: str | None = None  # only calls on targets containing this: a secret id, an S3 key or prefix


@dataclass(frozen=True)
class DependencyCall:
    """One call a function makes, and the set-up (runner-specific) under which it makes it."""

    id: str
    call: HttpCall | AwsCall
    setup: str = ""

    @property
    def kinds(self) -> tuple[str, ...]:
        if isinstance(self.call, HttpCall):
            return HTTP_KINDS
        entries = self.call.service == "events" or self.call.operation == "SendMessageBatch"
        return EVENT_KINDS if entries else AWS_KINDS


@dataclass(frozen=True)
class MatrixCase:
    function: str
    call: DependencyCall
    kind: str

    @property
    def id(self) -> str:
        return f"{self.call.id}-{self.kind}"

    @property
    def setup(self) -> str:
        return self.call.setup

    def injection(self) -> tuple[str, Fault | AwsFault]:
        """(dependency, fault) to play: an emulator fault for every matching request, or an AWS one."""
        call = self.call.call
        if isinstance(call, HttpCall):
            make = partial(SuffixFault, suffix=call.suffix) if call.suffix else Fault
            fault = {
                "status": make(call.path, status=503, method=call.method),
                "hang": make(call.path, "hang", seconds=HANG, method=call.method),
                "reset": make(call.path, "reset", method=call.method),
                "delay": make(call.path, "delay", seconds=SLOW, method=call.method),
                "garbage": make(call.path, "garbage", status=200, method=call.method),
                "huge": make(call.path, "huge", method=call.method),
            }[self.kind]
            return call.service, fault
        if self.kind == "failed-entry":
            return call.service, AwsFault(call.operation, failed_entries=True, secret=call.secret)
        if self.kind == "lost":
            return call.service, AwsFault(call.operation, "lost", secret=call.secret, times=1)
        return call.service, AwsFault(call.operation, self.kind, secret=call.secret)


CALLS: dict[str, list[DependencyCall]] = {}


def register(function: str, calls: list[DependencyCall]) -> None:
    """Declare ``function``'s dependency calls (``function``: its folder under ``functions/``)."""
    CALLS[function] = list(calls)


def cases(function: str) -> list[MatrixCase]:
    """The matrix rows of one function at this run's size."""
    rows: list[MatrixCase] = []
    for index, call in enumerate(CALLS.get(function, [])):
        kinds = call.kinds if SIZE.every_fault else (call.kinds[index % len(call.kinds)],)
        rows.extend(MatrixCase(function, call, kind) for kind in kinds)
    return rows


Runner = Callable[[MatrixCase], None]
