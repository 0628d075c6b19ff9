"""The fault matrix: every dependency call of every function, failed in every way that call can fail.

Each function registers the calls it makes (:func:`register`, in ``test_fault_matrix.py``): an
emulator path (Zoho, Adobe) or an AWS operation (Secrets Manager, EventBridge), and the set-up that
makes the function reach it. The matrix then crosses each call with every fault kind of its
dependency:

- HTTP (the emulators): a 5xx on every attempt, a hang past the read timeout, a dropped connection,
  a slow answer, a garbage body, a huge body;
- AWS (botocore's hooks): throttling, a 500, access denied, a timeout, and an answer lost after AWS
  carried the call out; EventBridge also a failed entry in a 200.

``make proof-full`` (``PROOF_SIZE=full``) runs every cell; ``make test`` one kind per call, rotating,
so the whole matrix stays exercised. A new function is picked up by registering its calls and adding
its runner (a test parametrized with ``cases("<function>")``), both in ``test_fault_matrix.py``;
under ``PROOF_SIZE=full`` a function in ``functions/`` without registered calls fails the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from local.emulators.base import Fault
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


@dataclass(frozen=True)
class AwsCall:
    service: str  # "secretsmanager" | "events"
    operation: str
    secret: str | None = None  # only calls on secrets whose id contains this


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
        return EVENT_KINDS if self.call.service == "events" else AWS_KINDS


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
            fault = {
                "status": Fault(call.path, status=503, method=call.method),
                "hang": Fault(call.path, "hang", seconds=HANG, method=call.method),
                "reset": Fault(call.path, "reset", method=call.method),
                "delay": Fault(call.path, "delay", seconds=SLOW, method=call.method),
                "garbage": Fault(call.path, "garbage", status=200, method=call.method),
                "huge": Fault(call.path, "huge", method=call.method),
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
